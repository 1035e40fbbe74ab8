// The auditor's verified copy of a verifier's transparency log (`custos audit fetch`, read by `audit
// search` and `audit verify`). A state directory holds:
//   log.pub        the log's verifier key (given once, with --log-key; never replaced by what a log serves)
//   state.json     the latest verified checkpoint (the signed note), its size and the mirror's length
//   entries.jsonl  every entry, one per line, exactly as hashed (entries never hold a newline)
//   hashes.bin     the tree's stored hashes (tlog/merkle.hpp), 32 bytes each
//   evidence/      one folder per fork seen: both checkpoints, the failed proof or entries, and why
// state.json is written last, atomically: a fetch cut short leaves the mirror as it was (the longer files
// are cut back to what state.json covers on the next run).
#pragma once

#include <boost/json/array.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "crypto/result.hpp"
#include "tlog/merkle.hpp"
#include "tlog/note.hpp"

namespace custos::cli {

// A proof as the log endpoints and bundles carry it: an array of base64 SHA-256 hashes (errc::structure
// naming `what` for anything else).
result<std::vector<tlog::hash>> proof_from_json(const boost::json::array& a, const std::string& what);

// How the monitor reads a log: the latest signed checkpoint, entries from `start` (up to `end`, at least
// one when start < end), and a consistency proof between two sizes.
struct log_reader {
    std::function<result<std::string>()> checkpoint;
    std::function<result<std::vector<std::string>>(std::int64_t start, std::int64_t end)> entries;
    std::function<result<std::vector<tlog::hash>>(std::int64_t from, std::int64_t size)> consistency;
};

struct fetch_outcome {
    std::int64_t old_size = 0, new_size = 0;
    std::string origin;
    // Set when the log contradicts what the mirror verified before (or its own checkpoint): what failed,
    // and the folder the evidence was saved in. The mirror is left as it was.
    std::string problem;
    std::filesystem::path evidence;
};

// Brings the mirror in `state` up to the log's latest checkpoint. `log_key` (the text of a verifier key)
// is needed the first time and must match the saved one after. Errors are for what could not be done
// (unreachable log, unreadable state); a log caught lying is an outcome with `problem` set.
result<fetch_outcome> fetch_log(const std::filesystem::path& state, const log_reader& log, const std::string& log_key);

// The mirror as verified: the key, the checkpoint and its size.
struct mirror_info {
    tlog::note_verifier key;
    tlog::checkpoint checkpoint;
    std::string note;
};
result<mirror_info> open_mirror(const std::filesystem::path& state);

// The root of the mirror's tree at `size` (at most the verified size), from its stored hashes.
result<tlog::hash> mirror_tree_hash(const std::filesystem::path& state, std::int64_t size);

// Calls fn(index, body) for every verified entry in order; fn returns false to stop.
result<void> for_each_entry(const std::filesystem::path& state,
                            const std::function<bool(std::int64_t, const std::string&)>& fn);

}  // namespace custos::cli
