// The verifier's transparency log: every event is queued in the transaction that records it
// (verifier/log_events.hpp); the sequencer, run by the replica leading the background work, numbers queued
// entries, stores the Merkle tree's hashes (tlog/merkle.hpp) and signs C2SP checkpoints with the log key.
// Readers (the /v1/log endpoints, export) get entries and proofs against any size up to the current one.
#pragma once

#include <boost/json/array.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "tlog/merkle.hpp"
#include "tlog/note.hpp"
#include "verifier/store.hpp"

namespace custos::verifier {

// The log key: read from `key_file`, or — when it does not exist — created there (0600) with `name`, and
// its verifier key written to `pub_file` (0644). Replicas starting together on one directory all end up
// with the one key that was written first. A key that does not match an existing pub_file is refused.
result<tlog::note_signer> load_or_create_log_key(const std::filesystem::path& key_file,
                                                 const std::filesystem::path& pub_file, const std::string& name);

// Numbers up to `limit` queued entries in one transaction; returns how many.
result<std::size_t> sequence_log(store& db, std::size_t limit = 1000);

// Signs a checkpoint of the current tree when it is larger than the latest one; returns it, or nullopt
// when there was nothing new.
result<std::optional<log_checkpoint>> sign_checkpoint(store& db, const tlog::note_signer& key, std::int64_t now);

// Recomputes the log from its stored entries (`custos-verifier check-log`): every entry present and in
// order, every stored hash, and the latest checkpoint's signature (with `key`) and root. The first
// difference is an error naming the entry, hash or checkpoint; otherwise the log's size.
struct log_check {
    std::int64_t size = 0;
    std::int64_t checkpoint_size = 0;  // 0: none signed yet
    std::size_t pending = 0;           // queued, not sequenced yet
};
result<log_check> check_log(store& db, const tlog::note_verifier& key);

// The hash reader over a transaction's stored hashes.
tlog::hash_reader log_hash_reader(store_tx& tx);
// A proof as the log endpoints and bundles carry it: an array of base64 hashes.
boost::json::array hashes_json(const std::vector<tlog::hash>& proof);

}  // namespace custos::verifier
