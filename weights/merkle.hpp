// RFC 6962-style Merkle trees over SHA-256: leaf = H(0x00 || data), node = H(0x01 || left || right),
// split at the largest power of two strictly below n, no duplicated last node.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "crypto/bytes.hpp"

namespace custos::weights {

using digest = std::array<std::uint8_t, 32>;

digest sha256_digest(byte_view data);
digest leaf_hash(byte_view data);                      // H(0x00 || data)
digest node_hash(const digest& left, const digest& right);  // H(0x01 || left || right)
// Root over leaf hashes already computed with leaf_hash. n >= 1 (an empty list is a caller error: the
// formats never need it, an empty file has one empty chunk).
digest merkle_root(std::span<const digest> leaf_hashes);

}  // namespace custos::weights
