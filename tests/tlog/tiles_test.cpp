// C2SP tlog-tiles: paths spelled as Go's sumdb/tlog spells them (without its height element), one spelling
// per tile, and tile data checked against RFC 9162's tree hash computed directly over the leaves — for
// level 0 and for a level-1 tile, which needs a tree of 65,536 leaves and more.
#include "tlog/tiles.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace custos::tlog {
namespace {

TEST(TlogTiles, PathsAreSpelledAsGoSpellsThemAndParseBack) {
    // Go's Tile{H: 8, L, N, W}.Path() is "tile/8/" + these.
    const std::vector<std::pair<tile, std::string>> cases{
        {tile{0, 0, 256, false}, "0/000"},
        {tile{0, 5, 3, false}, "0/005.p/3"},
        {tile{1, 1234067, 256, false}, "1/x001/x234/067"},
        {tile{2, 1000, 255, false}, "2/x001/000.p/255"},
        {tile{0, 999, 256, true}, "entries/999"},
        {tile{0, 1000, 1, true}, "entries/x001/000.p/1"},
    };
    for (const auto& [t, path] : cases) {
        EXPECT_EQ(tile_path(t), path);
        auto p = parse_tile_path(path);
        ASSERT_TRUE(p.ok()) << path << ": " << p.err().message;
        EXPECT_EQ(p->level, t.level) << path;
        EXPECT_EQ(p->n, t.n) << path;
        EXPECT_EQ(p->width, t.width) << path;
        EXPECT_EQ(p->entries, t.entries) << path;
    }
}

TEST(TlogTiles, EveryOtherSpellingIsRefused) {
    for (const char* bad : {"", "0", "0/", "00/000", "64/000", "-1/000", "0/5", "0/0005", "0/x000/005", "0/001/005", "0/x01/005",
                            "0/000.p/0", "0/000.p/256", "0/000.p/07", "0/000.p/", "0/000.p", "entries", "data/000", "0/000/",
                            "0/x999/x999/x999/x999/x999/x999/x999/999", "0/00a", "0/+12"}) {
        auto p = parse_tile_path(bad);
        EXPECT_FALSE(p.ok()) << "\"" << bad << "\" parsed";
        if (!p.ok()) {
            EXPECT_EQ(p.err().code, errc::invalid_argument);
        }
    }
}

// A tree of n leaves kept as stored hashes, as the log keeps it.
struct stored_tree {
    std::vector<hash> leaves, stored;
    explicit stored_tree(std::int64_t n) {
        for (std::int64_t i = 0; i < n; ++i) {
            const std::string rec = "record " + std::to_string(i);
            leaves.push_back(leaf_hash(as_bytes(rec)));
            auto hs = stored_hashes_for(i, leaves.back(), reader());
            EXPECT_TRUE(hs.ok());
            stored.insert(stored.end(), hs->begin(), hs->end());
        }
    }
    hash_reader reader() const {
        return [this](std::span<const std::int64_t> idx) -> result<std::vector<hash>> {
            std::vector<hash> out;
            for (auto i : idx) {
                if (i < 0 || i >= static_cast<std::int64_t>(stored.size())) return make_error(errc::invalid_argument, "no such hash");
                out.push_back(stored[static_cast<std::size_t>(i)]);
            }
            return out;
        };
    }
};

hash at(const bytes& data, std::size_t i) {
    hash h;
    std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(i * 32), 32, h.begin());
    return h;
}

TEST(TlogTiles, HashTilesHoldTheTreesNodesAtTheirHeight) {
    const std::int64_t n = 65536 + 300;
    stored_tree t(n);
    // Level 0: leaf hashes. Tile 1 is full (leaves 256…511); tile 256 is the partial right edge (44 leaves).
    auto full = hash_tile(tile{0, 1, 256, false}, t.reader());
    ASSERT_TRUE(full.ok()) << full.err().message;
    ASSERT_EQ(full->size(), 256u * 32);
    for (std::size_t i = 0; i < 256; ++i) EXPECT_EQ(at(*full, i), t.leaves[256 + i]);
    EXPECT_TRUE(tile_within(tile{0, 257, 44, false}, n));
    EXPECT_FALSE(tile_within(tile{0, 257, 45, false}, n));
    EXPECT_FALSE(tile_within(tile{0, 257, 256, false}, n));
    // Level 1: the roots of each 256-leaf subtree. 256 of them complete a full tile 0; the 257th (the
    // subtree of leaves 65,536…65,791) starts tile 1.
    auto l1 = hash_tile(tile{1, 0, 256, false}, t.reader());
    ASSERT_TRUE(l1.ok()) << l1.err().message;
    for (std::size_t i : {std::size_t{0}, std::size_t{17}, std::size_t{255}})
        EXPECT_EQ(at(*l1, i), merkle_root(std::span<const hash>(t.leaves).subspan(i * 256, 256))) << i;
    ASSERT_TRUE(tile_within(tile{1, 1, 1, false}, n));
    auto edge = hash_tile(tile{1, 1, 1, false}, t.reader());
    ASSERT_TRUE(edge.ok());
    EXPECT_EQ(at(*edge, 0), merkle_root(std::span<const hash>(t.leaves).subspan(65536, 256)));
    EXPECT_FALSE(tile_within(tile{1, 1, 2, false}, n));
    // Level 2: a node at height 16 covers 65,536 leaves; the tree holds one.
    auto root = tree_hash(65536, t.reader());
    ASSERT_TRUE(root.ok());
    ASSERT_TRUE(tile_within(tile{2, 0, 1, false}, n));
    EXPECT_FALSE(tile_within(tile{2, 0, 2, false}, n));
    auto l2 = hash_tile(tile{2, 0, 1, false}, t.reader());
    ASSERT_TRUE(l2.ok());
    EXPECT_EQ(at(*l2, 0), *root);
    // The level-1 tile 0 hashes up to the tree's first 65,536 leaves.
    std::vector<hash> nodes;
    for (std::size_t i = 0; i < 256; ++i) nodes.push_back(at(*l1, i));
    std::vector<hash> level = nodes;
    while (level.size() > 1) {
        std::vector<hash> up;
        for (std::size_t i = 0; i < level.size(); i += 2) up.push_back(node_hash(level[i], level[i + 1]));
        level = up;
    }
    EXPECT_EQ(level[0], *root);
}

TEST(TlogTiles, EntryBundlesAreLengthPrefixedAndRefuseWhatDoesNotFit) {
    bytes b;
    ASSERT_TRUE(append_bundle_entry(b, as_bytes(std::string("ab"))).ok());
    ASSERT_TRUE(append_bundle_entry(b, as_bytes(std::string(300, 'z'))).ok());
    ASSERT_EQ(b.size(), 2u + 2 + 2 + 300);
    EXPECT_EQ(b[0], 0);
    EXPECT_EQ(b[1], 2);
    EXPECT_EQ(b[4], 1);
    EXPECT_EQ(b[5], 44);
    const std::size_t before = b.size();
    EXPECT_FALSE(append_bundle_entry(b, bytes(65536, 1)).ok());
    EXPECT_EQ(b.size(), before) << "nothing is written for an entry that does not fit";
    EXPECT_TRUE(tile_within(tile{0, 0, 5, true}, 5));
    // An index whose first entry would not fit in 64 bits is past any tree, not an overflow.
    auto huge = parse_tile_path("entries/x072/x057/x594/x037/x927/936");
    ASSERT_TRUE(huge.ok());
    EXPECT_FALSE(tile_within(*huge, INT64_MAX));
    EXPECT_FALSE(tile_within(tile{0, 0, 6, true}, 5));
}

}  // namespace
}  // namespace custos::tlog
