#include "weights/merkle.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "weights/manifest.hpp"

namespace custos::weights {
namespace {

std::string hex(const digest& d) { return to_hex(d); }

// The RFC 6962 reference inputs used by Certificate Transparency's own tests, and their published roots
// for the first n leaves (certificate-transparency merkle_tree_test).
TEST(Merkle, Rfc6962ReferenceRoots) {
    const std::vector<bytes> inputs = {
        {}, {0x00}, {0x10}, {0x20, 0x21}, {0x30, 0x31}, {0x40, 0x41, 0x42, 0x43},
        {0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57},
        {0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f},
    };
    const char* roots[] = {
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    };
    std::vector<digest> leaves;
    for (std::size_t n = 1; n <= inputs.size(); ++n) {
        leaves.push_back(leaf_hash(inputs[n - 1]));
        EXPECT_EQ(hex(merkle_root(leaves)), roots[n - 1]) << n << " leaves";
    }
}

TEST(Merkle, LeafAndNodeAreDomainSeparated) {
    const digest a = sha256_digest(as_bytes("a"));
    const digest b = sha256_digest(as_bytes("b"));
    bytes ab(a.begin(), a.end());
    ab.insert(ab.end(), b.begin(), b.end());
    EXPECT_NE(leaf_hash(ab), node_hash(a, b));
    EXPECT_EQ(hex(sha256_digest({})), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Merkle, SplitIsLargestPowerOfTwoBelowN) {
    std::vector<digest> l;
    for (int i = 0; i < 7; ++i) l.push_back(leaf_hash(bytes{static_cast<std::uint8_t>(i)}));
    // 7 = 4 + 3, 3 = 2 + 1: no duplicated last node.
    const digest left = node_hash(node_hash(l[0], l[1]), node_hash(l[2], l[3]));
    const digest right = node_hash(node_hash(l[4], l[5]), l[6]);
    EXPECT_EQ(merkle_root(l), node_hash(left, right));
    std::vector<digest> l6(l.begin(), l.begin() + 6);
    EXPECT_EQ(merkle_root(l6), node_hash(left, node_hash(l[4], l[5])));
}

TEST(Merkle, FileRootOfEmptyFileIsOneEmptyChunk) {
    const digest empty_chunk = sha256_digest({});
    const std::vector<digest> chunks{empty_chunk};
    EXPECT_EQ(hex(file_root(chunks)), "4e59bf27372b1304bc0b137d1be9d566ad58b154b6a6b5778af7f414b1d4b84c");
    EXPECT_EQ(file_root(chunks), leaf_hash(empty_chunk));
}

TEST(Merkle, ModelLeafBindsPathSizeAndRoot) {
    file_entry f{"a/b.bin", 5, {sha256_digest(as_bytes("hello"))}, {}};
    f.root = file_root(f.chunks);
    bytes data;
    append(data, sha256_digest(as_bytes(f.path)));
    append_u64_be(data, 5);
    append(data, f.root);
    EXPECT_EQ(model_root({f}), leaf_hash(data));
    file_entry g = f;
    g.path = "a/c.bin";
    EXPECT_NE(model_root({g}), model_root({f}));
    g = f;
    g.size = 6;
    EXPECT_NE(model_root({g}), model_root({f}));
    EXPECT_NE(model_root({f, g}), model_root({g, f}));
}

}  // namespace
}  // namespace custos::weights
