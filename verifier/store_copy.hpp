// Moving a fleet from one store to another (custos-verifier migrate-store): every table of a SQLite
// database copied into an empty PostgreSQL database, checked, and only then committed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "crypto/result.hpp"
#include "verifier/store.hpp"

namespace custos::verifier {

struct table_copy {
    std::string table;
    std::uint64_t rows = 0;  // in the source, and (checked) in the target
};

struct copy_summary {
    std::vector<table_copy> tables;  // in the source's creation order
    std::uint64_t rows = 0;
    std::uint64_t hosts = 0;        // hosts whose chain heads were compared
    std::uint64_t chain_heads = 0;  // of those, with a report chain (a last report) to compare
};

// Copies every table of `from` (SQLite) into `to` (PostgreSQL), whose fleet tables must be empty (a fresh
// database: the singleton rows its migrations made are replaced). The source's write lock is held
// throughout, so nothing changes under the copy; the target commits only after every table reads back
// the source's row count and contents (an order-independent digest of every row) and every host's chain
// head (chain_seq, chain_hash, its last stored report) reads back equal. On any error the target is left
// as it was. `progress` (may be empty) hears one line per table.
result<copy_summary> copy_store(store& from, store& to, const std::function<void(const std::string&)>& progress = {});

}  // namespace custos::verifier
