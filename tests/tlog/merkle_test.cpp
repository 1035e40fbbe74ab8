#include "tlog/merkle.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace custos::tlog {
namespace {

// RFC 9162's definitions written directly (MTH, PATH, PROOF/SUBPROOF over a list of leaf hashes), as the
// independent reference the stored-hash algorithms are checked against.
std::size_t split(std::size_t n) {
    std::size_t k = 1;
    while (k * 2 < n) k *= 2;
    return k;
}
hash mth(std::span<const hash> d) { return merkle_root(d); }
std::vector<hash> path(std::size_t m, std::span<const hash> d) {
    if (d.size() <= 1) return {};
    const std::size_t k = split(d.size());
    std::vector<hash> out;
    if (m < k) {
        out = path(m, d.first(k));
        out.push_back(mth(d.subspan(k)));
    } else {
        out = path(m - k, d.subspan(k));
        out.push_back(mth(d.first(k)));
    }
    return out;
}
std::vector<hash> subproof(std::size_t m, std::span<const hash> d, bool b) {
    const std::size_t n = d.size();
    if (m == n) return b ? std::vector<hash>{} : std::vector<hash>{mth(d)};
    const std::size_t k = split(n);
    std::vector<hash> out;
    if (m <= k) {
        out = subproof(m, d.first(k), b);
        out.push_back(mth(d.subspan(k)));
    } else {
        out = subproof(m - k, d.subspan(k), false);
        out.push_back(mth(d.first(k)));
    }
    return out;
}

// An in-memory log: stored hashes appended as the log appends them.
struct memory_log {
    std::vector<hash> stored;
    std::vector<hash> leaves;
    hash_reader reader() {
        return [this](std::span<const std::int64_t> idx) -> result<std::vector<hash>> {
            std::vector<hash> out;
            for (auto i : idx) {
                if (i < 0 || static_cast<std::size_t>(i) >= stored.size()) return make_error(errc::io, "no hash " + std::to_string(i));
                out.push_back(stored[static_cast<std::size_t>(i)]);
            }
            return out;
        };
    }
    void append(const std::string& data) {
        const hash l = leaf_hash(as_bytes(data));
        const auto n = static_cast<std::int64_t>(leaves.size());
        ASSERT_EQ(stored_hash_count(n), static_cast<std::int64_t>(stored.size()));
        auto hs = stored_hashes_for(n, l, reader());
        ASSERT_TRUE(hs) << hs.err().message;
        stored.insert(stored.end(), hs->begin(), hs->end());
        leaves.push_back(l);
        ASSERT_EQ(stored_hash_count(n + 1), static_cast<std::int64_t>(stored.size()));
    }
};

TEST(TlogMerkle, StoredHashesGiveEveryPrefixRootAndProofsMatchRfc9162) {
    memory_log log;
    for (int i = 0; i < 70; ++i) log.append("entry " + std::to_string(i));
    const auto read = log.reader();
    for (std::size_t t = 1; t <= log.leaves.size(); ++t) {
        const std::span<const hash> d(log.leaves.data(), t);
        auto root = tree_hash(static_cast<std::int64_t>(t), read);
        ASSERT_TRUE(root);
        ASSERT_EQ(*root, mth(d)) << "size " << t;
        for (std::size_t m = 0; m < t; ++m) {
            auto p = prove_record(static_cast<std::int64_t>(t), static_cast<std::int64_t>(m), read);
            ASSERT_TRUE(p);
            ASSERT_EQ(*p, path(m, d)) << "inclusion of " << m << " in " << t;
            EXPECT_TRUE(check_record(*p, static_cast<std::int64_t>(t), *root, static_cast<std::int64_t>(m), d[m]));
        }
        for (std::size_t m = 1; m <= t; ++m) {
            auto p = prove_tree(static_cast<std::int64_t>(t), static_cast<std::int64_t>(m), read);
            ASSERT_TRUE(p);
            ASSERT_EQ(*p, subproof(m, d, true)) << "consistency " << m << " -> " << t;
            EXPECT_TRUE(check_tree(*p, static_cast<std::int64_t>(t), *root, static_cast<std::int64_t>(m), mth(d.first(m))));
        }
    }
}

TEST(TlogMerkle, AlteredProofsAndWrongRootsAreRefused) {
    memory_log log;
    for (int i = 0; i < 13; ++i) log.append("e" + std::to_string(i));
    const auto read = log.reader();
    const hash root = *tree_hash(13, read);
    const hash old_root = *tree_hash(6, read);
    auto inc = *prove_record(13, 5, read);
    ASSERT_TRUE(check_record(inc, 13, root, 5, log.leaves[5]));
    EXPECT_FALSE(check_record(inc, 13, root, 4, log.leaves[5])) << "another index";
    EXPECT_FALSE(check_record(inc, 13, root, 5, log.leaves[4])) << "another leaf";
    EXPECT_FALSE(check_record(inc, 8, root, 5, log.leaves[5])) << "another size";
    auto bad = inc;
    bad[1][0] ^= 1;
    EXPECT_FALSE(check_record(bad, 13, root, 5, log.leaves[5])) << "a flipped bit";
    bad = inc;
    bad.pop_back();
    EXPECT_FALSE(check_record(bad, 13, root, 5, log.leaves[5])) << "a hash short";
    bad = inc;
    bad.push_back(root);
    EXPECT_FALSE(check_record(bad, 13, root, 5, log.leaves[5])) << "a hash too many";

    auto con = *prove_tree(13, 6, read);
    ASSERT_TRUE(check_tree(con, 13, root, 6, old_root));
    EXPECT_FALSE(check_tree(con, 13, root, 6, root)) << "another old root";
    EXPECT_FALSE(check_tree(con, 13, old_root, 6, old_root)) << "another new root";
    EXPECT_FALSE(check_tree(con, 13, root, 7, old_root)) << "another old size";
    bad = con;
    bad.back()[31] ^= 0x80;
    EXPECT_FALSE(check_tree(bad, 13, root, 6, old_root));
    // A log that rewrote entry 3 after size 6 was seen cannot prove consistency with it.
    memory_log forked;
    for (int i = 0; i < 13; ++i) forked.append(i == 3 ? std::string("rewritten") : "e" + std::to_string(i));
    const hash forked_root = *tree_hash(13, forked.reader());
    EXPECT_FALSE(check_tree(*prove_tree(13, 6, forked.reader()), 13, forked_root, 6, old_root));
}

TEST(TlogMerkle, BadRequestsAndMissingHashesAreErrors) {
    memory_log log;
    for (int i = 0; i < 5; ++i) log.append(std::to_string(i));
    EXPECT_FALSE(prove_record(5, 5, log.reader()));
    EXPECT_FALSE(prove_record(5, -1, log.reader()));
    EXPECT_FALSE(prove_tree(5, 0, log.reader()));
    EXPECT_FALSE(prove_tree(5, 6, log.reader()));
    EXPECT_FALSE(tree_hash(9, log.reader())) << "hashes the store does not have";
    EXPECT_EQ(to_hex(*tree_hash(0, log.reader())), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(TlogMerkle, StoredHashIndexMatchesGoLayout) {
    // golang.org/x/mod/sumdb/tlog: level 0 record n at n + n/2 + n/4 + ...; level 1's first hash right after
    // record 1, level 2's after record 3 and level 1's second.
    EXPECT_EQ(stored_hash_index(0, 0), 0);
    EXPECT_EQ(stored_hash_index(0, 1), 1);
    EXPECT_EQ(stored_hash_index(1, 0), 2);
    EXPECT_EQ(stored_hash_index(0, 2), 3);
    EXPECT_EQ(stored_hash_index(0, 3), 4);
    EXPECT_EQ(stored_hash_index(1, 1), 5);
    EXPECT_EQ(stored_hash_index(2, 0), 6);
    EXPECT_EQ(stored_hash_count(4), 7);
    EXPECT_EQ(stored_hash_count(5), 8);
}

}  // namespace
}  // namespace custos::tlog
