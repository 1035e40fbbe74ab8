// The sealed-weights formats' Merkle trees are the RFC 6962 trees of tlog/merkle.hpp (shared with the
// verifier's transparency log); this header names them in the weights namespace.
#pragma once

#include "tlog/merkle.hpp"

namespace custos::weights {

using digest = tlog::hash;
using tlog::leaf_hash;
using tlog::merkle_root;
using tlog::node_hash;
using tlog::sha256_digest;

}  // namespace custos::weights
