// The transparency log's tables (schema version 7) and statements: the queue entries wait in until the
// sequencer numbers them, the numbered entries, the tree's stored hashes, the signed checkpoints, and the
// round evidence kept beside each appraisal. Internal to verifier/ (sql_tx.cpp forwards to it).
#pragma once

#include "verifier/sql_stmt.hpp"
#include "verifier/store.hpp"

namespace custos::verifier::sql {

extern const char* const log_migration_v7;

class log_tx {
public:
    explicit log_tx(statements& s) : s_(s) {}

    result<void> append(const log_entry& e);
    result<std::vector<pending_log_entry>> pending(std::size_t limit);
    result<std::vector<tlog::hash>> hashes(std::span<const std::int64_t> indexes);
    result<void> put_entries(std::int64_t first_index, std::span<const log_entry> es);
    result<void> put_hashes(std::int64_t first_index, std::span<const tlog::hash> hashes);
    result<void> remove_pending(std::span<const std::int64_t> ids);
    result<void> set_size(std::int64_t size);
    result<std::int64_t> size(bool lock = false);  // lock: the row locked for the sequencer
    result<std::size_t> count_pending();
    result<std::vector<sequenced_log_entry>> entries(std::int64_t start, std::int64_t end);
    result<std::vector<sequenced_log_entry>> entries_about(const std::string& host, const std::string& subject,
                                                           const std::string& type, std::int64_t from, std::size_t limit);
    result<void> put_checkpoint(const log_checkpoint& c);
    result<std::optional<log_checkpoint>> latest_checkpoint();

private:
    statements& s_;
};

}  // namespace custos::verifier::sql
