#include "weights/merkle.hpp"

#include <openssl/sha.h>

#include "crypto/digest.hpp"

#include <cassert>
#include <vector>

namespace custos::weights {

digest sha256_digest(byte_view data) {
    digest d;
    SHA256(data.data(), data.size(), d.data());
    return d;
}

digest leaf_hash(byte_view data) {
    const std::uint8_t prefix = 0x00;
    const bytes h = hasher(hash_alg::sha256).update(byte_view(&prefix, 1)).update(data).finish();
    digest d;
    std::copy(h.begin(), h.end(), d.begin());
    return d;
}

digest node_hash(const digest& left, const digest& right) {
    std::uint8_t buf[65];
    buf[0] = 0x01;
    std::copy(left.begin(), left.end(), buf + 1);
    std::copy(right.begin(), right.end(), buf + 33);
    return sha256_digest(byte_view(buf, sizeof buf));
}

namespace {
// Largest power of two strictly below n (n >= 2).
std::size_t split_point(std::size_t n) {
    std::size_t k = 1;
    while (k * 2 < n) k *= 2;
    return k;
}
}  // namespace

digest merkle_root(std::span<const digest> leaves) {
    assert(!leaves.empty());
    if (leaves.size() == 1) return leaves[0];
    const std::size_t k = split_point(leaves.size());
    return node_hash(merkle_root(leaves.first(k)), merkle_root(leaves.subspan(k)));
}

}  // namespace custos::weights
