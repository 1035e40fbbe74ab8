// The runtime allow-list IMA measurements are appraised against: path globs → allowed SHA-256 digests, the
// agent's own files marked as such, and excludes for paths that change legitimately. Pure functions.
//
// File format (JSON):
//   {"version":1,
//    "entries":[{"path":"/usr/bin/custos-agent","sha256":["hex",…],"agent":true}, {"path":"/usr/lib/*/libssl.so.3",…}],
//    "excludes":["/var/log/*","/tmp/*"]}
// Globs are fnmatch(3) patterns without FNM_PATHNAME: `*` also matches '/'.
#pragma once

#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include "attest/ima_log.hpp"

namespace custos::attest {

struct runtime_rule {
    std::string path;             // a glob
    std::vector<bytes> sha256;    // allowed digests, each 32 bytes
    bool agent = false;           // one of custos-agent's own binaries or libraries
};

struct runtime_policy {
    std::vector<runtime_rule> entries;
    std::vector<std::string> excludes;
    // Built by index_runtime_policy (parse and build call it): rules whose path has no glob character, by
    // path, and the glob rules, so appraisal costs a lookup per entry rather than an fnmatch per rule.
    std::unordered_map<std::string, std::vector<std::size_t>> exact;
    std::vector<std::size_t> globbed;
    bool indexed = false;
};
void index_runtime_policy(runtime_policy& p);

// Strict: only the keys above; version 1; every path absolute and non-empty; digests 64 hex characters;
// at least one agent entry (the agent's own binaries are required: without them a modified agent could not
// be told from an unknown file). Errors name the entry and field.
result<runtime_policy> parse_runtime_policy(std::string_view json_text);
std::string runtime_policy_to_json(const runtime_policy& p);

// One finding of the appraisal: rule is "agent-modified" (violation) or "ima-unknown-file" (warning).
struct runtime_finding {
    std::string rule;
    std::string path;
    std::string detail;
    std::size_t entry = 0;  // index in the list appraised
};

// Appraises entries in order: excluded paths and measurement violations pass (a violation is the kernel's
// note that a file changed while measured, and the replay still folds it); a path under an agent rule with
// a digest that rule does not allow is agent-modified; any other path whose digest no matching rule allows
// (or that is not measured with SHA-256) is ima-unknown-file. `boot_aggregate` is not a file and passes.
// One finding per path and rule in the order first seen.
std::vector<runtime_finding> appraise_runtime(const runtime_policy& p, const std::vector<ima_entry>& entries,
                                              std::size_t first_index = 0);

// Builds a policy from a filesystem tree as the host sees it: every regular file under `root` (symlinks
// not followed), its path relative to root with a leading '/', its SHA-256; files matching an `agent_globs`
// pattern are agent entries; paths matching `excludes` are left out and kept as excludes.
result<runtime_policy> build_runtime_policy(const std::filesystem::path& root, const std::vector<std::string>& excludes,
                                            const std::vector<std::string>& agent_globs);

bool glob_match(const std::string& pattern, const std::string& path);

}  // namespace custos::attest
