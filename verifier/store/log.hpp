// The transparency log (schema version 7): entries queued in the transaction of the event they record,
// then given their index by the sequencer (verifier/transparency_log.hpp), which stores the tree's hashes
// and the signed checkpoints.
// One aggregate of the store's transaction interface (store.hpp: store_tx is every aggregate at once).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "crypto/result.hpp"
#include "tlog/merkle.hpp"

namespace custos::verifier {

// One entry as appended: its canonical bytes (tlog/entry.hpp) and the columns it is found by.
struct log_entry {
    std::string type;     // "finding.raised", "result", ...
    std::string host;     // the host it concerns, or empty
    std::string subject;  // a model, GPU serial, site, ... it concerns, or empty
    std::int64_t time = 0;
    std::string body;  // the exact bytes the leaf hash covers
};

struct pending_log_entry {
    std::int64_t id = 0;  // queue order
    log_entry entry;
};

struct sequenced_log_entry {
    std::int64_t index = 0;
    log_entry entry;
};

struct log_checkpoint {
    std::int64_t size = 0;
    std::string note;  // the signed C2SP checkpoint
    std::int64_t time = 0;
};

class log_store {
public:
    // Queues an entry in this transaction (nothing when the store's log is off: store::set_log_enabled).
    virtual result<void> append_log(const log_entry& e) = 0;

    // The sequencer's steps, in one read-write transaction: the tree size (its row locked, so two
    // sequencers take turns), the oldest queued entries, the stored hashes it reads, then the new entries,
    // their hashes and the new size written and the queued rows removed (by id: on PostgreSQL a smaller id
    // can commit after a larger one was sequenced).
    virtual result<std::int64_t> lock_log_size() = 0;
    virtual result<std::vector<pending_log_entry>> pending_log(std::size_t limit) = 0;
    virtual result<std::vector<tlog::hash>> log_hashes(std::span<const std::int64_t> indexes) = 0;
    virtual result<void> put_log_entries(std::int64_t first_index, std::span<const log_entry> es) = 0;
    virtual result<void> put_log_hashes(std::int64_t first_index, std::span<const tlog::hash> hashes) = 0;
    virtual result<void> remove_pending_log(std::span<const std::int64_t> ids) = 0;
    virtual result<void> set_log_size(std::int64_t size) = 0;

    // Reads: the size, entries [start, end), a host's or subject's entries (index order, from index `from`,
    // at most `limit`), and checkpoints.
    virtual result<std::int64_t> log_size() = 0;
    virtual result<std::size_t> count_pending_log() = 0;
    virtual result<std::vector<sequenced_log_entry>> log_entries(std::int64_t start, std::int64_t end) = 0;
    // The entries about `host` (or, when it is empty, about `subject`), of `type` when it is not empty.
    virtual result<std::vector<sequenced_log_entry>> log_entries_about(const std::string& host, const std::string& subject,
                                                                       const std::string& type, std::int64_t from,
                                                                       std::size_t limit) = 0;
    virtual result<void> put_checkpoint(const log_checkpoint& c) = 0;
    virtual result<std::optional<log_checkpoint>> latest_checkpoint() = 0;

protected:
    ~log_store() = default;
};

}  // namespace custos::verifier
