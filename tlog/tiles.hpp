// C2SP tlog-tiles (https://c2sp.org/tlog-tiles), height 8: the log's hashes and entries as static,
// cacheable files. A hash tile at level L, index N holds the hashes of the tree's nodes at height 8·L
// numbered N·256 … N·256+W−1 (W = 256 for a full tile, 1…255 for a partial one at the right edge); an entry
// bundle at index N holds entries N·256 … N·256+W−1, each as a big-endian uint16 length and its bytes.
// Paths: "tile/<L>/<N>[.p/<W>]" and "tile/entries/<N>[.p/<W>]", N written in groups of three digits, every
// group but the last prefixed with "x" (1234067 → "x001/x234/067"). Go's sumdb/tlog uses the same N and
// the same hashes under "tile/8/<L>/…", which the interop test reads through Go's TileHashReader.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "crypto/bytes.hpp"
#include "crypto/result.hpp"
#include "tlog/merkle.hpp"

namespace custos::tlog {

inline constexpr int tile_height = 8;
inline constexpr int tile_width = 1 << tile_height;

struct tile {
    int level = 0;         // 0…63; ignored for an entry bundle
    std::int64_t n = 0;    // index along the level
    int width = tile_width;  // 1…256
    bool entries = false;  // an entry bundle, not a hash tile
};

// The path after "tile/": "<L>/<N>[.p/<W>]" or "entries/<N>[.p/<W>]". Strict (one spelling per tile: no
// leading zeros in L or W, three digits per group, W < 256 after ".p"); errc::invalid_argument naming what
// is wrong.
result<tile> parse_tile_path(std::string_view path);
std::string tile_path(const tile& t);  // the inverse, without "tile/"

// Whether a tree of `size` records holds every node (or entry) the tile covers.
bool tile_within(const tile& t, std::int64_t size);

// A hash tile's data: W hashes of 32 bytes, read from the stored hashes (the tile must be within the tree).
result<bytes> hash_tile(const tile& t, const hash_reader& read);

// Appends one entry to an entry bundle (errc::invalid_argument past 65,535 bytes).
result<void> append_bundle_entry(bytes& bundle, byte_view entry);

}  // namespace custos::tlog
