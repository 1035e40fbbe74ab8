// RFC 6962 / RFC 9162 Merkle trees over SHA-256 — leaf = H(0x00 || data), node = H(0x01 || left || right),
// split at the largest power of two strictly below n — for the sealed-weights formats (a root over chunk
// hashes) and for the verifier's transparency log (a tree that only grows, kept as stored hashes).
//
// The log keeps one hash per complete subtree, numbered in the order they are completed (the layout of Go's
// golang.org/x/mod/sumdb/tlog, which the interop test checks us against): appending record n stores its
// leaf hash and the hash of every subtree it completes — O(log n) reads and writes. Any tree size up to
// the current one, and proofs against it, are computed from those stored hashes alone.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

namespace custos::tlog {

using hash = std::array<std::uint8_t, 32>;

hash sha256_digest(byte_view data);
hash leaf_hash(byte_view data);                      // H(0x00 || data)
hash node_hash(const hash& left, const hash& right);  // H(0x01 || left || right)
// Root over leaf hashes already computed with leaf_hash; the empty tree's root is SHA-256("").
hash merkle_root(std::span<const hash> leaf_hashes);

// Where the hash of the complete subtree at `level` (2^level records), n-th from the left, is stored.
std::int64_t stored_hash_index(int level, std::int64_t n);
// How many hashes a tree of n records stores.
std::int64_t stored_hash_count(std::int64_t n);

// Reads stored hashes by index, in the order asked; an index the store lacks is an error.
using hash_reader = std::function<result<std::vector<hash>>(std::span<const std::int64_t> indexes)>;

// The hashes to store, at stored_hash_index order starting at stored_hash_count(n), when record n (0-based)
// with this leaf hash is appended to a tree of n records.
result<std::vector<hash>> stored_hashes_for(std::int64_t n, const hash& leaf, const hash_reader& read);

// The root of the tree of the first n records.
result<hash> tree_hash(std::int64_t n, const hash_reader& read);

// Inclusion proof of record n in the tree of size t (RFC 9162 §2.1.3 order: from the leaf up).
result<std::vector<hash>> prove_record(std::int64_t t, std::int64_t n, const hash_reader& read);
// Consistency proof that the tree of size n is a prefix of the tree of size t (RFC 9162 §2.1.4).
result<std::vector<hash>> prove_tree(std::int64_t t, std::int64_t n, const hash_reader& read);

// Checks that the tree of size t with root `root` holds `leaf` at index n.
bool check_record(std::span<const hash> proof, std::int64_t t, const hash& root, std::int64_t n, const hash& leaf);
// Checks that the tree of size n with root `old_root` is a prefix of the tree of size t with root `root`.
bool check_tree(std::span<const hash> proof, std::int64_t t, const hash& root, std::int64_t n, const hash& old_root);

}  // namespace custos::tlog
