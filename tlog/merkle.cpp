#include "tlog/merkle.hpp"

#include <openssl/sha.h>

#include "crypto/digest.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <string>

namespace custos::tlog {

hash sha256_digest(byte_view data) {
    hash d;
    SHA256(data.data(), data.size(), d.data());
    return d;
}

hash leaf_hash(byte_view data) {
    const std::uint8_t prefix = 0x00;
    const bytes h = hasher(hash_alg::sha256).update(byte_view(&prefix, 1)).update(data).finish();
    hash d;
    std::copy(h.begin(), h.end(), d.begin());
    return d;
}

hash node_hash(const hash& left, const hash& right) {
    std::uint8_t buf[65];
    buf[0] = 0x01;
    std::copy(left.begin(), left.end(), buf + 1);
    std::copy(right.begin(), right.end(), buf + 33);
    return sha256_digest(byte_view(buf, sizeof buf));
}

namespace {

// The largest power of two strictly below n (n >= 2), and its log2.
std::int64_t maxpow2(std::int64_t n, int* level = nullptr) {
    int l = 0;
    while ((std::int64_t{1} << (l + 1)) < n) ++l;
    if (level) *level = l;
    return std::int64_t{1} << l;
}

}  // namespace

hash merkle_root(std::span<const hash> leaves) {
    if (leaves.empty()) return sha256_digest({});
    if (leaves.size() == 1) return leaves[0];
    const auto k = static_cast<std::size_t>(maxpow2(static_cast<std::int64_t>(leaves.size())));
    return node_hash(merkle_root(leaves.first(k)), merkle_root(leaves.subspan(k)));
}

std::int64_t stored_hash_index(int level, std::int64_t n) {
    // Level L's n-th hash is stored right after level L+1's (2n+1)-th... i.e. when its last leaf is written:
    // walk down to that leaf, count the hashes stored before it, then add the levels completed above it.
    for (int l = level; l > 0; --l) n = 2 * n + 1;
    std::int64_t i = 0;
    for (; n > 0; n >>= 1) i += n;
    return i + level;
}

std::int64_t stored_hash_count(std::int64_t n) {
    if (n <= 0) return 0;
    std::int64_t count = stored_hash_index(0, n - 1) + 1;
    for (auto i = static_cast<std::uint64_t>(n - 1); (i & 1) != 0; i >>= 1) ++count;
    return count;
}

namespace {

result<std::vector<hash>> read_exact(const hash_reader& read, const std::vector<std::int64_t>& idx) {
    if (idx.empty()) return std::vector<hash>{};
    CUSTOS_TRY(h, read(idx));
    if (h.size() != idx.size())
        return make_error(errc::io, "the log's hash store returned " + std::to_string(h.size()) + " hashes for " +
                                        std::to_string(idx.size()) + " asked");
    return h;
}

// The stored indexes whose hashes make up the subtree of records [lo, hi), largest complete subtree first.
void subtree_index(std::int64_t lo, std::int64_t hi, std::vector<std::int64_t>& need) {
    while (lo < hi) {
        int level = 0;
        const std::int64_t k = maxpow2(hi - lo + 1, &level);
        assert((lo & (k - 1)) == 0);
        need.push_back(stored_hash_index(level, lo >> level));
        lo += k;
    }
}

// The hash of records [lo, hi) from the hashes subtree_index asked for, consumed from `at`.
hash subtree_hash(std::int64_t lo, std::int64_t hi, const std::vector<hash>& hashes, std::size_t& at) {
    std::size_t count = 0;
    for (; lo < hi; ++count) lo += maxpow2(hi - lo + 1);
    const std::size_t first = at;
    at += count;
    hash h = hashes[first + count - 1];
    for (std::size_t i = count - 1; i-- > 0;) h = node_hash(hashes[first + i], h);
    return h;
}

void leaf_proof_index(std::int64_t lo, std::int64_t hi, std::int64_t n, std::vector<std::int64_t>& need) {
    if (lo + 1 == hi) return;
    const std::int64_t k = maxpow2(hi - lo);
    if (n < lo + k) {
        leaf_proof_index(lo, lo + k, n, need);
        subtree_index(lo + k, hi, need);
    } else {
        subtree_index(lo, lo + k, need);
        leaf_proof_index(lo + k, hi, n, need);
    }
}

void leaf_proof(std::int64_t lo, std::int64_t hi, std::int64_t n, const std::vector<hash>& hashes, std::size_t& at,
                std::vector<hash>& proof) {
    if (lo + 1 == hi) return;
    const std::int64_t k = maxpow2(hi - lo);
    if (n < lo + k) {
        leaf_proof(lo, lo + k, n, hashes, at, proof);
        proof.push_back(subtree_hash(lo + k, hi, hashes, at));
    } else {
        const hash left = subtree_hash(lo, lo + k, hashes, at);
        leaf_proof(lo + k, hi, n, hashes, at, proof);
        proof.push_back(left);
    }
}

void tree_proof_index(std::int64_t lo, std::int64_t hi, std::int64_t n, std::vector<std::int64_t>& need) {
    if (n == hi) {
        if (lo != 0) subtree_index(lo, hi, need);
        return;
    }
    const std::int64_t k = maxpow2(hi - lo);
    if (n <= lo + k) {
        tree_proof_index(lo, lo + k, n, need);
        subtree_index(lo + k, hi, need);
    } else {
        subtree_index(lo, lo + k, need);
        tree_proof_index(lo + k, hi, n, need);
    }
}

void tree_proof(std::int64_t lo, std::int64_t hi, std::int64_t n, const std::vector<hash>& hashes, std::size_t& at,
                std::vector<hash>& proof) {
    if (n == hi) {
        if (lo != 0) proof.push_back(subtree_hash(lo, hi, hashes, at));
        return;
    }
    const std::int64_t k = maxpow2(hi - lo);
    if (n <= lo + k) {
        tree_proof(lo, lo + k, n, hashes, at, proof);
        proof.push_back(subtree_hash(lo + k, hi, hashes, at));
    } else {
        const hash left = subtree_hash(lo, lo + k, hashes, at);
        tree_proof(lo + k, hi, n, hashes, at, proof);
        proof.push_back(left);
    }
}

// The root of [lo, hi) from a proof consumed from its end (the top of the tree), or false when the proof
// has too few or too many hashes.
bool run_record_proof(std::span<const hash> p, std::int64_t lo, std::int64_t hi, std::int64_t n, const hash& leaf,
                      hash& out) {
    if (lo + 1 == hi) {
        if (!p.empty()) return false;
        out = leaf;
        return true;
    }
    if (p.empty()) return false;
    const std::int64_t k = maxpow2(hi - lo);
    hash sub;
    if (n < lo + k) {
        if (!run_record_proof(p.first(p.size() - 1), lo, lo + k, n, leaf, sub)) return false;
        out = node_hash(sub, p.back());
    } else {
        if (!run_record_proof(p.first(p.size() - 1), lo + k, hi, n, leaf, sub)) return false;
        out = node_hash(p.back(), sub);
    }
    return true;
}

bool run_tree_proof(std::span<const hash> p, std::int64_t lo, std::int64_t hi, std::int64_t n, const hash& old,
                    hash& old_out, hash& new_out) {
    if (n == hi) {
        if (lo == 0) {
            if (!p.empty()) return false;
            old_out = new_out = old;
            return true;
        }
        if (p.size() != 1) return false;
        old_out = new_out = p[0];
        return true;
    }
    if (p.empty()) return false;
    const std::int64_t k = maxpow2(hi - lo);
    hash oh, th;
    if (n <= lo + k) {
        if (!run_tree_proof(p.first(p.size() - 1), lo, lo + k, n, old, oh, th)) return false;
        old_out = oh;
        new_out = node_hash(th, p.back());
    } else {
        if (!run_tree_proof(p.first(p.size() - 1), lo + k, hi, n, old, oh, th)) return false;
        old_out = node_hash(p.back(), oh);
        new_out = node_hash(p.back(), th);
    }
    return true;
}

}  // namespace

result<std::vector<hash>> stored_hashes_for(std::int64_t n, const hash& leaf, const hash_reader& read) {
    if (n < 0) return make_error(errc::invalid_argument, "a record index is negative");
    // Each trailing 1 bit of n completes a subtree, whose left sibling is already stored.
    const int m = std::countr_zero(static_cast<std::uint64_t>(n + 1));
    std::vector<std::int64_t> idx(static_cast<std::size_t>(m));
    for (int i = 0; i < m; ++i) idx[static_cast<std::size_t>(m - 1 - i)] = stored_hash_index(i, (n >> i) - 1);
    CUSTOS_TRY(old, read_exact(read, idx));
    std::vector<hash> out{leaf};
    hash h = leaf;
    for (int i = 0; i < m; ++i) {
        h = node_hash(old[static_cast<std::size_t>(m - 1 - i)], h);
        out.push_back(h);
    }
    return out;
}

result<hash> tree_hash(std::int64_t n, const hash_reader& read) {
    if (n < 0) return make_error(errc::invalid_argument, "a tree size is negative");
    if (n == 0) return sha256_digest({});
    std::vector<std::int64_t> idx;
    subtree_index(0, n, idx);
    CUSTOS_TRY(h, read_exact(read, idx));
    std::size_t at = 0;
    return subtree_hash(0, n, h, at);
}

result<std::vector<hash>> prove_record(std::int64_t t, std::int64_t n, const hash_reader& read) {
    if (t < 0 || n < 0 || n >= t)
        return make_error(errc::invalid_argument, "record " + std::to_string(n) + " is not in a tree of size " + std::to_string(t));
    std::vector<std::int64_t> idx;
    leaf_proof_index(0, t, n, idx);
    CUSTOS_TRY(h, read_exact(read, idx));
    std::vector<hash> proof;
    std::size_t at = 0;
    leaf_proof(0, t, n, h, at, proof);
    return proof;
}

result<std::vector<hash>> prove_tree(std::int64_t t, std::int64_t n, const hash_reader& read) {
    if (t < 1 || n < 1 || n > t)
        return make_error(errc::invalid_argument, "no consistency proof from size " + std::to_string(n) + " to size " +
                                                      std::to_string(t) + " (both must be >= 1, the first <= the second)");
    std::vector<std::int64_t> idx;
    tree_proof_index(0, t, n, idx);
    CUSTOS_TRY(h, read_exact(read, idx));
    std::vector<hash> proof;
    std::size_t at = 0;
    tree_proof(0, t, n, h, at, proof);
    return proof;
}

bool check_record(std::span<const hash> proof, std::int64_t t, const hash& root, std::int64_t n, const hash& leaf) {
    if (t < 0 || n < 0 || n >= t || proof.size() > 64) return false;
    hash got;
    return run_record_proof(proof, 0, t, n, leaf, got) && got == root;
}

bool check_tree(std::span<const hash> proof, std::int64_t t, const hash& root, std::int64_t n, const hash& old_root) {
    if (t < 1 || n < 1 || n > t || proof.size() > 128) return false;
    hash old_got, new_got;
    return run_tree_proof(proof, 0, t, n, old_root, old_got, new_got) && old_got == old_root && new_got == root;
}

}  // namespace custos::tlog
