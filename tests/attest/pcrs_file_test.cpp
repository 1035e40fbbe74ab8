#include "attest/pcrs_file.hpp"

#include <gtest/gtest.h>

#include <functional>

#include "crypto/file_io.hpp"
#include "tests/attest/soft_quote.hpp"
#include "tests/attest/test_data.hpp"

namespace custos::attest {
namespace {

void put_u32_le(bytes& b, std::size_t off, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b[off + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
}

// Offsets in the tpm2-tools layout.
constexpr std::size_t block_count_at = 132;
constexpr std::size_t first_block_at = 136;
constexpr std::size_t block_size = 532;

TEST(PcrsFile, ParsesTpm2ToolsOutputWithTwoDigestBlocks) {
    for (const char* alg : {"ecc", "rsa"}) {
        const bytes file = load(data_dir / alg / "quote.pcrs");
        ASSERT_EQ(file.size(), 132u + 4u + 2u * 532u);
        auto p = parse_pcrs_file(file);
        ASSERT_TRUE(p.ok()) << p.err().message;
        EXPECT_EQ(format_pcr_selection(p->selection), "sha256:0,1,2,3,4,5,6,7,16");
        ASSERT_EQ(p->values.size(), 9u);
        EXPECT_EQ(p->values[0].index, 0u);
        EXPECT_EQ(to_hex(p->values[0].digest), "51beab2769a47b52acbf5702aadfa6234d8ec47be019b146b1214b45bf859616");
        EXPECT_EQ(p->values[1].digest, bytes(32, 0));
        EXPECT_EQ(p->values[8].index, 16u);
        EXPECT_EQ(p->values[8].bank, TPM2_ALG_SHA256);
        EXPECT_EQ(to_hex(p->values[8].digest), "05d64123a47ee7baf336dcd0e6f12e32b5d0ba78e10fad9be39b30864fb96a02");
        EXPECT_TRUE(check_pcr_values(p->selection, p->values).ok());
    }
}

TEST(PcrsFile, ParsesTwoBanksInOneBlock) {
    const bytes file = load(data_dir / "ecc" / "quote2.pcrs");
    ASSERT_EQ(file.size(), 132u + 4u + 532u);
    auto p = parse_pcrs_file(file);
    ASSERT_TRUE(p.ok()) << p.err().message;
    EXPECT_EQ(format_pcr_selection(p->selection), "sha1:7+sha256:0,16");
    ASSERT_EQ(p->values.size(), 3u);
    EXPECT_EQ(p->values[0].bank, TPM2_ALG_SHA1);
    EXPECT_EQ(p->values[0].digest.size(), 20u);
    EXPECT_EQ(to_hex(p->values[0].digest), "08dfff849faafc4fd7654c9954bdb4bb87f42d3b");
}

TEST(PcrsFile, SerializesByteForByteWhatTpm2ToolsWrites) {
    for (const char* f : {"ecc/quote.pcrs", "ecc/quote2.pcrs", "rsa/quote.pcrs", "rsa/quote2.pcrs"}) {
        const bytes file = load(data_dir / f);
        auto p = parse_pcrs_file(file);
        ASSERT_TRUE(p.ok()) << f << ": " << p.err().message;
        auto again = serialize_pcrs_file(p->selection, p->values);
        ASSERT_TRUE(again.ok()) << f << ": " << again.err().message;
        EXPECT_EQ(*again, file) << f;
    }
}

TEST(PcrsFile, RoundTripsManyBanksAcrossBlocks) {
    auto s = sel("sha1:0,1,2,3+sha256:all+sha384:0,23+sha512:10");
    auto values = test::sample_pcr_values(s);
    ASSERT_EQ(values.size(), 31u);
    auto file = serialize_pcrs_file(s, values);
    ASSERT_TRUE(file.ok()) << file.err().message;
    EXPECT_EQ(file->size(), 136u + 4u * 532u);
    auto p = parse_pcrs_file(*file);
    ASSERT_TRUE(p.ok()) << p.err().message;
    EXPECT_TRUE(same_selection(p->selection, s));
    ASSERT_EQ(p->values.size(), values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
        EXPECT_EQ(p->values[i].bank, values[i].bank);
        EXPECT_EQ(p->values[i].index, values[i].index);
        EXPECT_EQ(p->values[i].digest, values[i].digest);
    }
}

TEST(PcrsFile, AcceptsBlocksAnyTpmMightReturnUpToEight) {
    // A TPM may answer PCR_Read with fewer than 8 digests: 9 PCRs as 5 + 4.
    const bytes file = load(data_dir / "ecc" / "quote.pcrs");
    auto p = parse_pcrs_file(file);
    ASSERT_TRUE(p.ok());
    bytes split(file.size(), 0);
    std::copy_n(file.begin(), first_block_at, split.begin());
    auto digest_at = [](std::size_t block, std::size_t k) { return first_block_at + block * block_size + 4 + k * 66; };
    put_u32_le(split, first_block_at, 5);
    put_u32_le(split, first_block_at + block_size, 4);
    for (std::size_t v = 0; v < 9; ++v) {
        std::size_t at = v < 5 ? digest_at(0, v) : digest_at(1, v - 5);
        split[at] = 32;
        std::copy(p->values[v].digest.begin(), p->values[v].digest.end(), split.begin() + static_cast<std::ptrdiff_t>(at + 2));
    }
    auto q = parse_pcrs_file(split);
    ASSERT_TRUE(q.ok()) << q.err().message;
    for (std::size_t v = 0; v < 9; ++v) EXPECT_EQ(q->values[v].digest, p->values[v].digest);
}

TEST(PcrsFile, RejectsEveryTruncationAndTrailingBytes) {
    const bytes file = load(data_dir / "ecc" / "quote.pcrs");
    for (std::size_t n = 0; n < file.size(); ++n) {
        auto p = parse_pcrs_file(byte_view(file.data(), n));
        ASSERT_FALSE(p.ok()) << n;
        EXPECT_EQ(p.err().code, errc::parse);
    }
    bytes longer = file;
    longer.push_back(0);
    auto p = parse_pcrs_file(longer);
    ASSERT_FALSE(p.ok());
    EXPECT_NE(p.err().message.find("trailing"), std::string::npos) << p.err().message;
}

TEST(PcrsFile, RejectsBadHeadersAndCounts) {
    const bytes good = load(data_dir / "ecc" / "quote.pcrs");
    struct bad {
        const char* what;
        std::function<void(bytes&)> edit;
        const char* why;
    };
    const bad cases[] = {
        {"no banks", [](bytes& b) { put_u32_le(b, 0, 0); }, "0 banks"},
        {"17 banks", [](bytes& b) { put_u32_le(b, 0, 17); }, "17 banks"},
        {"unknown bank hash", [](bytes& b) { b[4] = 0x12; }, "hash 0x0012"},
        {"sizeofSelect 5", [](bytes& b) { b[6] = 5; }, "sizeofSelect 5"},
        {"nothing selected", [](bytes& b) { b[7] = b[8] = b[9] = 0; }, "selects no PCRs"},
        {"duplicate bank",
         [](bytes& b) {
             put_u32_le(b, 0, 2);
             std::copy_n(b.begin() + 4, 8, b.begin() + 12);
         },
         "twice"},
        {"zero blocks", [](bytes& b) { put_u32_le(b, block_count_at, 0); }, "0 digest blocks"},
        {"33 blocks", [](bytes& b) { put_u32_le(b, block_count_at, 33); }, "33 digest blocks"},
        {"3 blocks in a 2-block file", [](bytes& b) { put_u32_le(b, block_count_at, 3); }, "truncated"},
        {"1 block in a 2-block file", [](bytes& b) { put_u32_le(b, block_count_at, 1); }, "trailing bytes"},
        {"9 digests in a block", [](bytes& b) { put_u32_le(b, first_block_at, 9); }, "holds 9 digests"},
        {"empty block", [](bytes& b) { put_u32_le(b, first_block_at + block_size, 0); }, "holds 0 digests"},
        {"digest size 20 in sha256", [](bytes& b) { b[first_block_at + 4] = 20; }, "has 20 bytes"},
        {"digest size 64+", [](bytes& b) { b[first_block_at + 4 + 66 + 1] = 1; }, "has 288 bytes"},
        {"one more PCR selected", [](bytes& b) { b[9] |= 0x02; }, "fewer digests than the 10"},
        {"one PCR fewer selected", [](bytes& b) { b[9] = 0; }, "more digests than the 8"},
        {"second block holds 2", [](bytes& b) {
             put_u32_le(b, first_block_at + block_size, 2);
             b[first_block_at + block_size + 4 + 66] = 32;
         }, "more digests than the 9"},
    };
    for (const auto& c : cases) {
        bytes b = good;
        c.edit(b);
        auto p = parse_pcrs_file(b);
        ASSERT_FALSE(p.ok()) << c.what;
        EXPECT_EQ(p.err().code, errc::parse) << c.what;
        EXPECT_NE(p.err().message.find(c.why), std::string::npos) << c.what << " -> " << p.err().message;
    }
}

TEST(PcrsFile, SerializeRejectsValuesThatDoNotFit) {
    auto s = sel("sha256:0,1");
    auto v = test::sample_pcr_values(s);
    v.pop_back();
    auto r = serialize_pcrs_file(s, v);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::mismatch);

    v = test::sample_pcr_values(s);
    v[1].digest.resize(20);
    EXPECT_FALSE(serialize_pcrs_file(s, v).ok());
    EXPECT_FALSE(serialize_pcrs_file(TPML_PCR_SELECTION{}, {}).ok());
    auto none = s;
    none.pcrSelections[0].pcrSelect[0] = 0;
    EXPECT_FALSE(serialize_pcrs_file(none, {}).ok());
}

}  // namespace
}  // namespace custos::attest
