#include "verifier/transparency_log.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "crypto/base64.hpp"
#include "crypto/file_io.hpp"

namespace custos::verifier {

namespace fs = std::filesystem;

namespace {

// Writes `data` to `path` only when nothing is there yet (a temporary file linked into place: link(2)
// fails rather than replaces), so two processes creating the key at once keep one.
result<bool> create_exclusive(const fs::path& path, byte_view data, unsigned mode) {
    bytes r(8);
    RAND_bytes(r.data(), static_cast<int>(r.size()));
    const fs::path tmp = path.string() + ".tmp." + to_hex(r);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return make_error(errc::io, "creating " + tmp.string() + ": " + std::strerror(errno));
    std::size_t off = 0;
    while (off < data.size()) {
        const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int e = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            return make_error(errc::io, "writing " + tmp.string() + ": " + std::strerror(e));
        }
        off += static_cast<std::size_t>(n);
    }
    const bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (!synced) {
        ::unlink(tmp.c_str());
        return make_error(errc::io, "syncing " + tmp.string());
    }
    const int linked = ::link(tmp.c_str(), path.c_str());
    const int e = errno;
    ::unlink(tmp.c_str());
    if (linked == 0) return true;
    if (e == EEXIST) return false;
    return make_error(errc::io, "creating " + path.string() + ": " + std::strerror(e));
}

}  // namespace

result<tlog::note_signer> load_or_create_log_key(const fs::path& key_file, const fs::path& pub_file, const std::string& name) {
    std::error_code ec;
    if (!fs::exists(key_file, ec)) {
        CUSTOS_TRY(gen, tlog::note_signer::generate(name));
        CUSTOS_TRY(created, create_exclusive(key_file, gen.first.view(), 0600));
        if (created) {
            CUSTOS_TRY_VOID(write_file_atomic(pub_file, gen.second.verifier().to_string() + "\n", 0644));
            return std::move(gen.second);
        }
    }
    auto text = read_file(key_file, 4096);
    if (!text) return with_context(std::move(text).err(), "the log key");
    secret_bytes held(*text);
    std::fill(text->begin(), text->end(), std::uint8_t{0});
    auto signer = tlog::note_signer::parse(std::string_view(reinterpret_cast<const char*>(held.data()), held.size()));
    if (!signer) return with_context(std::move(signer).err(), key_file.string());
    if (fs::exists(pub_file, ec)) {
        CUSTOS_TRY(pub, tlog::read_verifier_key(pub_file));
        if (pub.to_string() != signer->verifier().to_string())
            return make_error(errc::mismatch, pub_file.string() + " is not the public half of " + key_file.string());
    } else {
        CUSTOS_TRY_VOID(write_file_atomic(pub_file, signer->verifier().to_string() + "\n", 0644));
    }
    return std::move(signer).value();
}

tlog::hash_reader log_hash_reader(store_tx& tx) {
    return [&tx](std::span<const std::int64_t> idx) { return tx.log_hashes(idx); };
}

result<std::size_t> sequence_log(store& db, std::size_t limit) {
    CUSTOS_TRY(tx, db.begin());
    CUSTOS_TRY(size, tx->lock_log_size());
    CUSTOS_TRY(pending, tx->pending_log(limit));
    if (pending.empty()) return std::size_t{0};
    // New hashes are read back from memory as the batch builds on them; older ones from the store.
    std::int64_t first_hash = tlog::stored_hash_count(size);
    std::vector<tlog::hash> fresh;
    const tlog::hash_reader read = [&](std::span<const std::int64_t> idx) -> result<std::vector<tlog::hash>> {
        std::vector<tlog::hash> out(idx.size());
        std::vector<std::int64_t> old;
        for (auto i : idx)
            if (i < first_hash) old.push_back(i);
        CUSTOS_TRY(got, tx->log_hashes(old));
        std::size_t o = 0;
        for (std::size_t k = 0; k < idx.size(); ++k) {
            if (idx[k] < first_hash) out[k] = got[o++];
            else if (static_cast<std::size_t>(idx[k] - first_hash) < fresh.size()) out[k] = fresh[static_cast<std::size_t>(idx[k] - first_hash)];
            else return make_error(errc::structure, "the log's hash " + std::to_string(idx[k]) + " is not written yet");
        }
        return out;
    };
    std::vector<std::int64_t> ids;
    std::vector<log_entry> entries;
    std::int64_t n = size;
    for (auto& p : pending) {
        CUSTOS_TRY(hs, tlog::stored_hashes_for(n, tlog::leaf_hash(as_bytes(p.entry.body)), read));
        fresh.insert(fresh.end(), hs.begin(), hs.end());
        ids.push_back(p.id);
        entries.push_back(std::move(p.entry));
        ++n;
    }
    CUSTOS_TRY_VOID(tx->put_log_entries(size, entries));
    if (first_hash + static_cast<std::int64_t>(fresh.size()) != tlog::stored_hash_count(n))
        return make_error(errc::structure, "the log's stored hashes do not add up after sequencing");
    CUSTOS_TRY_VOID(tx->put_log_hashes(first_hash, fresh));
    CUSTOS_TRY_VOID(tx->remove_pending_log(ids));
    CUSTOS_TRY_VOID(tx->set_log_size(n));
    CUSTOS_TRY_VOID(tx->commit());
    return pending.size();
}

result<log_check> check_log(store& db, const tlog::note_verifier& key) {
    CUSTOS_TRY(tx, db.begin_read());
    log_check out;
    CUSTOS_TRY(size, tx->log_size());
    CUSTOS_TRY(pending, tx->count_pending_log());
    out.size = size;
    out.pending = pending;
    // The whole tree again, from the entries alone.
    std::vector<tlog::hash> rebuilt;
    const tlog::hash_reader mem = [&](std::span<const std::int64_t> idx) -> result<std::vector<tlog::hash>> {
        std::vector<tlog::hash> r;
        for (auto i : idx) r.push_back(rebuilt.at(static_cast<std::size_t>(i)));
        return r;
    };
    constexpr std::int64_t batch = 10'000;
    for (std::int64_t start = 0; start < size; start += batch) {
        CUSTOS_TRY(es, tx->log_entries(start, std::min(size, start + batch)));
        std::int64_t want = start;
        for (const auto& e : es) {
            if (e.index != want) return make_error(errc::structure, "log entry " + std::to_string(want) + " is missing");
            CUSTOS_TRY(hs, tlog::stored_hashes_for(want, tlog::leaf_hash(as_bytes(e.entry.body)), mem));
            rebuilt.insert(rebuilt.end(), hs.begin(), hs.end());
            ++want;
        }
        if (want != std::min(size, start + batch))
            return make_error(errc::structure, "log entry " + std::to_string(want) + " is missing");
    }
    constexpr std::int64_t chunk = 4096;
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(rebuilt.size()); i += chunk) {
        std::vector<std::int64_t> idx;
        for (std::int64_t k = i; k < std::min<std::int64_t>(i + chunk, static_cast<std::int64_t>(rebuilt.size())); ++k) idx.push_back(k);
        CUSTOS_TRY(stored, tx->log_hashes(idx));
        for (std::size_t k = 0; k < idx.size(); ++k)
            if (stored[k] != rebuilt[static_cast<std::size_t>(idx[k])])
                return make_error(errc::mismatch, "the log's stored hash " + std::to_string(idx[k]) +
                                                      " is not what its entries hash to: an entry was edited, removed or reordered");
    }
    CUSTOS_TRY(latest, tx->latest_checkpoint());
    if (latest) {
        auto text = tlog::open_note(latest->note, key);
        if (!text) return with_context(std::move(text).err(), "the latest checkpoint (size " + std::to_string(latest->size) + ")");
        CUSTOS_TRY(cp, tlog::parse_checkpoint(*text));
        if (cp.size != latest->size || cp.size > size)
            return make_error(errc::mismatch, "the latest checkpoint's size " + std::to_string(cp.size) + " does not fit the log's " +
                                                  std::to_string(size));
        CUSTOS_TRY(root, tlog::tree_hash(cp.size, mem));
        if (root != cp.root)
            return make_error(errc::mismatch, "the latest checkpoint (size " + std::to_string(cp.size) +
                                                  ") does not sign the root of the stored entries");
        out.checkpoint_size = cp.size;
    }
    return out;
}

result<std::optional<log_checkpoint>> sign_checkpoint(store& db, const tlog::note_signer& key, std::int64_t now) {
    CUSTOS_TRY(tx, db.begin());
    CUSTOS_TRY(size, tx->lock_log_size());
    CUSTOS_TRY(latest, tx->latest_checkpoint());
    if (size == 0 || (latest && latest->size >= size)) return std::optional<log_checkpoint>{};
    CUSTOS_TRY(root, tlog::tree_hash(size, log_hash_reader(*tx)));
    CUSTOS_TRY(note, key.sign(tlog::format_checkpoint({key.verifier().name, size, root, {}})));
    log_checkpoint c{size, std::move(note), now};
    CUSTOS_TRY_VOID(tx->put_checkpoint(c));
    CUSTOS_TRY_VOID(tx->commit());
    return std::optional<log_checkpoint>(std::move(c));
}

boost::json::array hashes_json(const std::vector<tlog::hash>& proof) {
    boost::json::array a;
    for (const auto& h : proof) a.push_back(boost::json::string(to_base64(h)));
    return a;
}

}  // namespace custos::verifier
