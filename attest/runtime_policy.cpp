#include "attest/runtime_policy.hpp"

#include <fnmatch.h>

#include <boost/json.hpp>

#include <algorithm>
#include <fstream>
#include <optional>
#include <set>

#include "crypto/strict_json.hpp"

namespace custos::attest {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

bool any_match(const std::vector<std::string>& globs, const std::string& path) {
    return std::any_of(globs.begin(), globs.end(), [&](const std::string& g) { return glob_match(g, path); });
}

// Streams the file (model weights and libraries can be large) through SHA-256.
result<bytes> file_sha256(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return make_error(errc::io, "cannot open " + p.string());
    hasher h(hash_alg::sha256);
    std::vector<char> buf(1 << 16);
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        const auto n = in.gcount();
        if (n > 0) h.update(byte_view(reinterpret_cast<const std::uint8_t*>(buf.data()), static_cast<std::size_t>(n)));
    }
    if (in.bad()) return make_error(errc::io, "cannot read " + p.string());
    return h.finish();
}

}  // namespace

bool glob_match(const std::string& pattern, const std::string& path) {
    return ::fnmatch(pattern.c_str(), path.c_str(), 0) == 0;
}

void index_runtime_policy(runtime_policy& p) {
    p.exact.clear();
    p.globbed.clear();
    for (std::size_t i = 0; i < p.entries.size(); ++i) {
        if (p.entries[i].path.find_first_of("*?[\\") == std::string::npos) p.exact[p.entries[i].path].push_back(i);
        else p.globbed.push_back(i);
    }
    p.indexed = true;
}

result<runtime_policy> parse_runtime_policy(std::string_view json_text) {
    CUSTOS_TRY(v, sjson::parse(json_text, "runtime policy", 8));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "runtime policy"));
    CUSTOS_TRY_VOID(o.only({"version", "entries", "excludes"}));
    CUSTOS_TRY(version, o.u64("version"));
    if (version != 1) return o.bad("version", "must be 1");
    runtime_policy p;
    CUSTOS_TRY(entries, o.arr("entries"));
    for (std::size_t i = 0; i < entries->size(); ++i) {
        CUSTOS_TRY(e, sjson::object_reader::of((*entries)[i], "runtime policy entry " + std::to_string(i)));
        CUSTOS_TRY_VOID(e.only({"path", "sha256", "agent"}));
        runtime_rule r;
        CUSTOS_TRY(path, e.str("path"));
        if (path.empty() || path.front() != '/') return e.bad("path", "must be an absolute path or glob");
        r.path = path;
        CUSTOS_TRY(digests, e.arr("sha256"));
        if (digests->empty()) return e.bad("sha256", "must list at least one digest");
        for (const auto& d : *digests) {
            if (!d.is_string() || d.as_string().size() != 64) return e.bad("sha256", "must hold 64-character hex strings");
            auto b = from_hex(std::string_view(d.as_string()));  // also takes "0x…": the size check catches that
            if (!b || b->size() != 32) return e.bad("sha256", "must hold 64-character hex strings");
            r.sha256.push_back(std::move(*b));
        }
        if (e.has("agent")) {
            CUSTOS_TRY(agent, e.boolean("agent"));
            r.agent = agent;
        }
        p.entries.push_back(std::move(r));
    }
    if (o.has("excludes")) {
        CUSTOS_TRY(ex, o.arr("excludes"));
        for (const auto& x : *ex) {
            if (!x.is_string() || x.as_string().empty() || x.as_string()[0] != '/')
                return o.bad("excludes", "must hold absolute paths or globs");
            p.excludes.emplace_back(x.as_string());
        }
    }
    if (std::none_of(p.entries.begin(), p.entries.end(), [](const runtime_rule& r) { return r.agent; }))
        return make_error(errc::structure,
                          "runtime policy: no entry has \"agent\": true (custos-agent's own binaries and libraries are required)");
    index_runtime_policy(p);
    return p;
}

std::string runtime_policy_to_json(const runtime_policy& p) {
    json::array entries;
    for (const auto& r : p.entries) {
        json::array ds;
        for (const auto& d : r.sha256) ds.emplace_back(to_hex(d));
        json::object e{{"path", r.path}, {"sha256", std::move(ds)}};
        if (r.agent) e["agent"] = true;
        entries.push_back(std::move(e));
    }
    json::array ex;
    for (const auto& x : p.excludes) ex.emplace_back(x);
    return json::serialize(json::object{{"version", 1}, {"entries", std::move(entries)}, {"excludes", std::move(ex)}});
}

std::vector<runtime_finding> appraise_runtime(const runtime_policy& policy, const std::vector<ima_entry>& entries,
                                              std::size_t first_index) {
    std::optional<runtime_policy> local;
    if (!policy.indexed) {
        local = policy;
        index_runtime_policy(*local);
    }
    const runtime_policy& p = local ? *local : policy;
    std::vector<runtime_finding> out;
    std::set<std::pair<std::string, std::string>> seen;
    auto add = [&](const char* rule, const ima_entry& e, std::size_t i, std::string detail) {
        if (seen.insert({rule, e.path}).second) out.push_back({rule, e.path, std::move(detail), i});
    };
    for (std::size_t k = 0; k < entries.size(); ++k) {
        const ima_entry& e = entries[k];
        const std::size_t i = first_index + k;
        if (e.violation() || e.path == "boot_aggregate" || any_match(p.excludes, e.path)) continue;
        bool matched = false, allowed = false, agent = false;
        auto consider = [&](const runtime_rule& r) {
            matched = true;
            agent = agent || r.agent;
            if (e.file_hash_alg == "sha256" && std::find(r.sha256.begin(), r.sha256.end(), e.file_hash) != r.sha256.end())
                allowed = true;
        };
        if (auto it = p.exact.find(e.path); it != p.exact.end())
            for (const auto i : it->second) consider(p.entries[i]);
        for (const auto i : p.globbed)
            if (glob_match(p.entries[i].path, e.path)) consider(p.entries[i]);
        if (allowed) continue;
        const std::string measured = e.file_hash_alg + ":" + short_hex(e.file_hash);
        if (agent)
            add("agent-modified", e, i,
                "custos-agent file " + e.path + " was measured with " + measured +
                    ", which the runtime policy does not allow: the agent is not the approved build (IMA entry " +
                    std::to_string(i) + ")");
        else if (matched)
            add("ima-unknown-file", e, i,
                e.path + " was measured with " + measured + ", a digest its runtime policy entry does not list (IMA entry " +
                    std::to_string(i) + ")");
        else
            add("ima-unknown-file", e, i,
                e.path + " (" + measured + ") is in no runtime policy entry (IMA entry " + std::to_string(i) + ")");
    }
    return out;
}

result<runtime_policy> build_runtime_policy(const fs::path& root, const std::vector<std::string>& excludes,
                                            const std::vector<std::string>& agent_globs) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) return make_error(errc::io, root.string() + " is not a directory");
    runtime_policy p;
    p.excludes = excludes;
    std::vector<std::pair<std::string, fs::path>> files;
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
    if (ec) return make_error(errc::io, "cannot read " + root.string() + ": " + ec.message());
    for (; it != end; it.increment(ec)) {
        if (ec) return make_error(errc::io, "cannot read under " + root.string() + ": " + ec.message());
        const auto st = it->symlink_status(ec);
        if (ec || !fs::is_regular_file(st)) continue;
        const std::string rel = "/" + fs::relative(it->path(), root, ec).generic_string();
        if (ec) continue;
        if (any_match(excludes, rel)) continue;
        files.emplace_back(rel, it->path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& [rel, full] : files) {
        CUSTOS_TRY(d, file_sha256(full));
        runtime_rule r;
        r.path = rel;
        r.sha256.push_back(std::move(d));
        r.agent = any_match(agent_globs, rel);
        p.entries.push_back(std::move(r));
    }
    if (std::none_of(p.entries.begin(), p.entries.end(), [](const runtime_rule& r) { return r.agent; }))
        return make_error(errc::structure, "no file under " + root.string() +
                                               " matches the agent globs: the policy must hold custos-agent's own files");
    index_runtime_policy(p);
    return p;
}

}  // namespace custos::attest
