#include "tools/custos/audit_mirror.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

#include "crypto/base64.hpp"
#include "crypto/file_io.hpp"
#include "crypto/strict_json.hpp"

namespace custos::cli {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

std::string text_of(const bytes& b) { return std::string(b.begin(), b.end()); }

struct saved_state {
    std::int64_t size = 0;
    std::int64_t entries_bytes = 0;
    std::string note;  // empty before the first fetch
    tlog::checkpoint cp;
};

result<tlog::note_verifier> read_key(const fs::path& state) { return tlog::read_verifier_key(state / "log.pub"); }

result<saved_state> read_state(const fs::path& state, const tlog::note_verifier& key) {
    saved_state s;
    std::error_code ec;
    if (!fs::exists(state / "state.json", ec)) return s;
    CUSTOS_TRY(b, read_file(state / "state.json", 1u << 20));
    CUSTOS_TRY(v, sjson::parse(text_of(b), "state.json"));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "state.json"));
    CUSTOS_TRY(size, o.i64("size"));
    CUSTOS_TRY(eb, o.i64("entries_bytes"));
    CUSTOS_TRY(note, o.str("checkpoint"));
    // The saved checkpoint is checked again: a mirror edited on disk is not trusted either.
    auto text = tlog::open_note(note, key);
    if (!text) return with_context(std::move(text).err(), state.string() + "/state.json");
    CUSTOS_TRY(cp, tlog::parse_checkpoint(*text));
    if (cp.size != size) return make_error(errc::mismatch, state.string() + "/state.json: its size is not its checkpoint's");
    s.size = size;
    s.entries_bytes = eb;
    s.note = std::move(note);
    s.cp = std::move(cp);
    return s;
}

// Opens `path` for appending after cutting it back to `keep` bytes (what state.json covers).
result<int> open_cut(const fs::path& path, std::int64_t keep) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return make_error(errc::io, "opening " + path.string() + ": " + std::strerror(errno));
    const off_t end = ::lseek(fd, 0, SEEK_END);
    if (end < keep) {
        ::close(fd);
        return make_error(errc::structure, path.string() + " is shorter than state.json says: the mirror is damaged");
    }
    if (end > keep && ::ftruncate(fd, keep) != 0) {
        ::close(fd);
        return make_error(errc::io, "truncating " + path.string() + ": " + std::strerror(errno));
    }
    ::lseek(fd, keep, SEEK_SET);
    return fd;
}

result<void> write_all(int fd, byte_view data, const fs::path& path) {
    std::size_t off = 0;
    while (off < data.size()) {
        const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return make_error(errc::io, "writing " + path.string() + ": " + std::strerror(errno));
        off += static_cast<std::size_t>(n);
    }
    return {};
}

std::string hashes_json(const std::vector<tlog::hash>& p) {
    json::array a;
    for (const auto& h : p) a.push_back(json::string(to_base64(h)));
    return json::serialize(a);
}

// Saves what shows the log lied: the checkpoint the mirror holds, the one served, and `extra` files.
fs::path save_evidence(const fs::path& state, const std::string& problem, const std::string& saved_note,
                       const std::string& served_note, const std::vector<std::pair<std::string, std::string>>& extra) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    fs::path dir;
    for (int i = 0;; ++i) {
        dir = state / "evidence" / (std::to_string(now) + "-" + std::to_string(i));
        std::error_code ec;
        if (!fs::exists(dir, ec)) break;
    }
    std::error_code ec;
    fs::create_directories(dir, ec);
    (void)write_file_atomic(dir / "problem.txt", problem + "\n");
    if (!saved_note.empty()) (void)write_file_atomic(dir / "checkpoint.saved", saved_note);
    (void)write_file_atomic(dir / "checkpoint.served", served_note);
    for (const auto& [name, body] : extra) (void)write_file_atomic(dir / name, body);
    return dir;
}

}  // namespace

result<std::vector<tlog::hash>> proof_from_json(const json::array& a, const std::string& what) {
    std::vector<tlog::hash> out;
    for (const auto& h : a) {
        auto b = h.is_string() ? from_base64(h.as_string()) : result<bytes>(make_error(errc::parse, ""));
        if (!b || b->size() != 32)
            return make_error(errc::structure, what + ": its proof holds something that is not a base64 SHA-256 hash");
        tlog::hash x;
        std::copy(b->begin(), b->end(), x.begin());
        out.push_back(x);
    }
    return out;
}

result<mirror_info> open_mirror(const fs::path& state) {
    auto key = read_key(state);
    if (!key) return with_context(std::move(key).err(), state.string() + "/log.pub (run custos audit fetch first)");
    CUSTOS_TRY(s, read_state(state, *key));
    if (s.note.empty()) return make_error(errc::invalid_argument, state.string() + " holds no verified checkpoint yet: run custos audit fetch");
    return mirror_info{*key, s.cp, s.note};
}

result<tlog::hash> mirror_tree_hash(const fs::path& state, std::int64_t size) {
    CUSTOS_TRY(key, read_key(state));
    CUSTOS_TRY(s, read_state(state, key));
    if (size > s.size) return make_error(errc::invalid_argument, "the mirror holds " + std::to_string(s.size) + " entries, not " + std::to_string(size));
    const fs::path hashes_path = state / "hashes.bin";
    const int hfd = ::open(hashes_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (hfd < 0) return make_error(errc::io, "reading " + hashes_path.string() + ": " + std::strerror(errno));
    fd_guard guard(hfd);
    return tlog::tree_hash(size, [&](std::span<const std::int64_t> idx) -> result<std::vector<tlog::hash>> {
        std::vector<tlog::hash> r(idx.size());
        for (std::size_t k = 0; k < idx.size(); ++k)
            if (::pread(hfd, r[k].data(), 32, static_cast<off_t>(idx[k] * 32)) != 32)
                return make_error(errc::io, "reading " + hashes_path.string());
        return r;
    });
}

result<void> for_each_entry(const fs::path& state, const std::function<bool(std::int64_t, const std::string&)>& fn) {
    CUSTOS_TRY(key, read_key(state));
    CUSTOS_TRY(s, read_state(state, key));
    std::ifstream in(state / "entries.jsonl", std::ios::binary);
    if (!in && s.size > 0) return make_error(errc::io, "reading " + (state / "entries.jsonl").string());
    const fs::path hashes_path = state / "hashes.bin";
    const int hfd = ::open(hashes_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (hfd < 0 && s.size > 0) return make_error(errc::io, "reading " + hashes_path.string() + ": " + std::strerror(errno));
    fd_guard guard(hfd);
    std::string line;
    for (std::int64_t i = 0; i < s.size; ++i) {
        if (!std::getline(in, line))
            return make_error(errc::structure, (state / "entries.jsonl").string() + " ends before entry " + std::to_string(i));
        // The mirror on disk is checked too: each entry against the leaf hash the verified tree holds.
        tlog::hash stored;
        if (::pread(hfd, stored.data(), 32, static_cast<off_t>(tlog::stored_hash_index(0, i) * 32)) != 32 ||
            stored != tlog::leaf_hash(as_bytes(line)))
            return make_error(errc::mismatch, "the mirror's entry " + std::to_string(i) + " is not the one verified (" +
                                                  (state / "entries.jsonl").string() + " was changed on disk)");
        if (!fn(i, line)) break;
    }
    return {};
}

result<fetch_outcome> fetch_log(const fs::path& state, const log_reader& log, const std::string& log_key) {
    std::error_code ec;
    fs::create_directories(state, ec);
    if (ec) return make_error(errc::io, "creating " + state.string() + ": " + ec.message());
    // The key: saved once from --log-key; a different key later is refused, never adopted.
    tlog::note_verifier key;
    if (fs::exists(state / "log.pub", ec)) {
        CUSTOS_TRY(k, read_key(state));
        if (!log_key.empty()) {
            CUSTOS_TRY(given, tlog::parse_verifier_key(log_key));
            if (given.to_string() != k.to_string())
                return make_error(errc::mismatch, "--log-key is not the key " + state.string() +
                                                      "/log.pub was made with; a log's key never changes");
        }
        key = std::move(k);
    } else {
        if (log_key.empty()) return make_error(errc::invalid_argument, "--log-key: the log's public key is needed for the first fetch");
        CUSTOS_TRY(k, tlog::parse_verifier_key(log_key));
        CUSTOS_TRY_VOID(write_file_atomic(state / "log.pub", k.to_string() + "\n"));
        key = std::move(k);
    }
    CUSTOS_TRY(saved, read_state(state, key));
    fetch_outcome out;
    out.old_size = out.new_size = saved.size;
    out.origin = key.name;

    CUSTOS_TRY(served, log.checkpoint());
    const auto lied = [&](std::string problem, std::vector<std::pair<std::string, std::string>> extra) {
        out.problem = std::move(problem);
        out.evidence = save_evidence(state, out.problem, saved.note, served, extra);
        return out;
    };
    auto text = tlog::open_note(served, key);
    if (!text) return lied("the served checkpoint is not signed by the log key: " + text.err().message, {});
    auto cp = tlog::parse_checkpoint(*text);
    if (!cp) return lied("the served checkpoint is malformed: " + cp.err().message, {});
    if (cp->origin != key.name) return lied("the served checkpoint is for the log \"" + cp->origin + "\", not \"" + key.name + "\"", {});
    out.new_size = cp->size;
    if (cp->size < saved.size)
        return lied("the log shrank: the saved checkpoint has " + std::to_string(saved.size) + " entries, the served one " +
                        std::to_string(cp->size),
                    {});
    if (cp->size == saved.size) {
        if (cp->root != saved.cp.root) return lied("two checkpoints of size " + std::to_string(cp->size) + " with different roots", {});
        return out;
    }
    // Consistency with what was verified before, as the log proves it.
    if (saved.size > 0) {
        auto proof = log.consistency(saved.size, cp->size);
        if (!proof) return proof.err();
        if (!tlog::check_tree(*proof, cp->size, cp->root, saved.size, saved.cp.root))
            return lied("the log's consistency proof from size " + std::to_string(saved.size) + " to " + std::to_string(cp->size) +
                            " does not verify: the log was rewritten",
                        {{"consistency.json", hashes_json(*proof)}});
    }
    // Then every new entry, hashed here: the tree they make must have the served root.
    const fs::path hashes_path = state / "hashes.bin", entries_path = state / "entries.jsonl";
    CUSTOS_TRY(hfd, open_cut(hashes_path, tlog::stored_hash_count(saved.size) * 32));
    fd_guard hguard(hfd);
    CUSTOS_TRY(efd, open_cut(entries_path, saved.entries_bytes));
    fd_guard eguard(efd);
    const std::int64_t first_new = tlog::stored_hash_count(saved.size);
    std::vector<tlog::hash> fresh;
    const tlog::hash_reader read = [&](std::span<const std::int64_t> idx) -> result<std::vector<tlog::hash>> {
        std::vector<tlog::hash> r(idx.size());
        for (std::size_t k = 0; k < idx.size(); ++k) {
            if (idx[k] >= first_new) {
                const auto at = static_cast<std::size_t>(idx[k] - first_new);
                if (at >= fresh.size()) return make_error(errc::structure, "a hash the mirror does not have yet");
                r[k] = fresh[at];
            } else if (::pread(hfd, r[k].data(), 32, static_cast<off_t>(idx[k] * 32)) != 32) {
                return make_error(errc::io, "reading " + hashes_path.string());
            }
        }
        return r;
    };
    std::string new_entries;
    for (std::int64_t n = saved.size; n < cp->size;) {
        CUSTOS_TRY(batch, log.entries(n, cp->size));
        if (batch.empty()) return make_error(errc::io, "the log served no entries from " + std::to_string(n));
        for (const auto& body : batch) {
            if (n >= cp->size) return make_error(errc::structure, "the log served more entries than asked");
            if (body.find('\n') != std::string::npos)
                return lied("entry " + std::to_string(n) + " holds a newline: not a custos log entry", {{"entry", body}});
            CUSTOS_TRY(hs, tlog::stored_hashes_for(n, tlog::leaf_hash(as_bytes(body)), read));
            fresh.insert(fresh.end(), hs.begin(), hs.end());
            new_entries += body;
            new_entries += '\n';
            ++n;
        }
    }
    CUSTOS_TRY(root, tlog::tree_hash(cp->size, read));
    if (root != cp->root)
        return lied("the entries served from " + std::to_string(saved.size) + " to " + std::to_string(cp->size) +
                        " do not hash to the checkpoint's root: an entry was changed, removed or reordered",
                    {{"entries.jsonl", new_entries}});
    // Verified: append, sync, then move state.json on.
    bytes hb;
    hb.reserve(fresh.size() * 32);
    for (const auto& h : fresh) hb.insert(hb.end(), h.begin(), h.end());
    CUSTOS_TRY_VOID(write_all(hfd, hb, hashes_path));
    CUSTOS_TRY_VOID(write_all(efd, as_bytes(new_entries), entries_path));
    if (::fsync(hfd) != 0 || ::fsync(efd) != 0) return make_error(errc::io, "syncing the mirror in " + state.string());
    const json::object st{{"size", cp->size},
                          {"entries_bytes", saved.entries_bytes + static_cast<std::int64_t>(new_entries.size())},
                          {"checkpoint", served}};
    CUSTOS_TRY_VOID(write_file_atomic(state / "state.json", json::serialize(st) + "\n"));
    return out;
}

}  // namespace custos::cli
