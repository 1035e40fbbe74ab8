#include "attest/pcr_selection.hpp"

#include <gtest/gtest.h>

#include "crypto/digest.hpp"
#include "tests/attest/soft_quote.hpp"

namespace custos::attest {
namespace {

TPML_PCR_SELECTION sel(std::string_view text) {
    auto s = parse_pcr_selection(text);
    EXPECT_TRUE(s.ok()) << text << ": " << (s.ok() ? "" : s.err().message);
    return s.ok() ? *s : TPML_PCR_SELECTION{};
}

TEST(PcrSelection, ParsesOneBankAsTpm2ToolsDoes) {
    auto s = sel("sha256:0,1,2,3,4,5,6,7,16");
    ASSERT_EQ(s.count, 1u);
    EXPECT_EQ(s.pcrSelections[0].hash, TPM2_ALG_SHA256);
    EXPECT_EQ(s.pcrSelections[0].sizeofSelect, 3);
    EXPECT_EQ(s.pcrSelections[0].pcrSelect[0], 0xff);
    EXPECT_EQ(s.pcrSelections[0].pcrSelect[1], 0x00);
    EXPECT_EQ(s.pcrSelections[0].pcrSelect[2], 0x01);
    EXPECT_EQ(selection_count(s), 9u);
}

TEST(PcrSelection, ParsesBanksInOrderAllAndHexIds) {
    auto s = sel("sha1:0+sha256:0,1");
    ASSERT_EQ(s.count, 2u);
    EXPECT_EQ(s.pcrSelections[0].hash, TPM2_ALG_SHA1);
    EXPECT_EQ(s.pcrSelections[1].hash, TPM2_ALG_SHA256);
    EXPECT_EQ(s.pcrSelections[1].pcrSelect[0], 0x03);

    auto all = sel("sha256:all");
    EXPECT_EQ(selection_count(all), 24u);
    EXPECT_EQ(format_pcr_selection(all),
              "sha256:0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23");

    EXPECT_TRUE(same_selection(sel("0x000b:3+0x4:23"), sel("sha256:3+sha1:23")));
    EXPECT_TRUE(same_selection(sel("sha384:1+sha512:2"), sel("0x000C:1+0x000d:2")));
}

TEST(PcrSelection, FormatsCanonicallyAndRoundTrips) {
    EXPECT_EQ(format_pcr_selection(sel("sha256:16,2,0+sha1:7")), "sha256:0,2,16+sha1:7");
    for (const char* text : {"sha256:0,1,2,3,4,5,6,7,16", "sha1:0+sha256:0,1", "sha384:23+sha512:0,8,15"}) {
        EXPECT_EQ(format_pcr_selection(sel(text)), text);
        EXPECT_TRUE(same_selection(sel(format_pcr_selection(sel(text))), sel(text)));
    }
}

TEST(PcrSelection, FormatsWhatItCannotParse) {
    TPML_PCR_SELECTION s{};
    s.count = 2;
    s.pcrSelections[0].hash = TPM2_ALG_SHA256;
    s.pcrSelections[0].sizeofSelect = 3;
    s.pcrSelections[1].hash = 0x0099;
    s.pcrSelections[1].sizeofSelect = 4;
    s.pcrSelections[1].pcrSelect[3] = 0x80;
    EXPECT_EQ(format_pcr_selection(s), "sha256:none+0x0099:31");
}

TEST(PcrSelection, RejectsBadSyntaxSayingWhy) {
    struct bad {
        const char* text;
        const char* why;
    };
    const bad cases[] = {
        {"", "empty"},
        {"sha256", "no ':'"},
        {"sha256:", "lists no PCRs"},
        {"md5:0", "unknown PCR bank \"md5\""},
        {"0x0099:0", "unknown PCR bank"},
        {"0xzz:0", "unknown PCR bank"},
        {"sha256:0,", "\"\" is not a PCR index"},
        {"sha256:,0", "\"\" is not a PCR index"},
        {"sha256:24", "PCR 24 is out of range"},
        {"sha256:99", "PCR 99 is out of range"},
        {"sha256:100", "\"100\" is not a PCR index"},
        {"sha256:-1", "not a PCR index"},
        {"sha256:+1", "lists no PCRs"},
        {"sha256:a", "not a PCR index"},
        {"sha256: 1", "not a PCR index"},
        {"sha256:1,1", "PCR 1 appears twice"},
        {"sha256:all,1", "not a PCR index"},
        {"sha256:0+sha256:1", "bank sha256 appears twice"},
        {"sha256:0+0x000b:1", "bank sha256 appears twice"},
        {"sha256:0+", "no ':'"},
        {"+sha256:0", "no ':'"},
    };
    for (const auto& c : cases) {
        auto r = parse_pcr_selection(c.text);
        ASSERT_FALSE(r.ok()) << c.text;
        EXPECT_EQ(r.err().code, errc::invalid_argument) << c.text;
        EXPECT_NE(r.err().message.find(c.why), std::string::npos) << c.text << " -> " << r.err().message;
    }
}

TEST(SameSelection, IgnoresSizeofSelectPaddingOnly) {
    auto a = sel("sha256:0,16");
    auto b = a;
    b.pcrSelections[0].sizeofSelect = 4;  // a zero fourth byte adds nothing
    EXPECT_TRUE(same_selection(a, b));
    b.pcrSelections[0].pcrSelect[3] = 0x01;  // PCR 24 now selected
    EXPECT_FALSE(same_selection(a, b));

    auto c = a;
    c.pcrSelections[0].pcrSelect[3] = 0xff;  // beyond sizeofSelect: not part of the selection
    EXPECT_TRUE(same_selection(a, c));
    c.pcrSelections[0].sizeofSelect = 2;  // drops PCR 16
    EXPECT_FALSE(same_selection(a, c));
}

TEST(SameSelection, ComparesBanksOrderAndBits) {
    EXPECT_TRUE(same_selection(sel("sha1:0+sha256:1"), sel("sha1:0+sha256:1")));
    EXPECT_FALSE(same_selection(sel("sha1:0+sha256:1"), sel("sha256:1+sha1:0")));
    EXPECT_FALSE(same_selection(sel("sha256:1"), sel("sha1:1")));
    EXPECT_FALSE(same_selection(sel("sha256:1"), sel("sha256:2")));
    EXPECT_FALSE(same_selection(sel("sha256:1"), sel("sha256:1+sha1:1")));
    auto huge = sel("sha256:1");
    auto huge2 = huge;
    huge.count = huge2.count = 17;
    EXPECT_FALSE(same_selection(huge, huge2));
}

TEST(SelectionCount, CountsAllBanksWithinSizeofSelect) {
    EXPECT_EQ(selection_count(sel("sha1:0,1,2+sha256:all")), 27u);
    auto s = sel("sha256:0,23");
    s.pcrSelections[0].sizeofSelect = 2;
    EXPECT_EQ(selection_count(s), 1u);
    TPML_PCR_SELECTION bogus{};
    bogus.count = 1000;  // bounded by the array, not trusted
    EXPECT_EQ(selection_count(bogus), 0u);
}

TEST(PcrCompositeDigest, HashesValuesInSelectionOrder) {
    auto s = sel("sha1:7+sha256:0,16");
    auto values = test::sample_pcr_values(s);
    ASSERT_EQ(values.size(), 3u);
    bytes concat;
    for (const auto& v : values) append(concat, v.digest);
    for (auto h : {hash_alg::sha256, hash_alg::sha1, hash_alg::sha384}) {
        auto d = pcr_composite_digest(to_tpm_alg(h), s, values);
        ASSERT_TRUE(d.ok()) << d.err().message;
        EXPECT_EQ(*d, digest(h, concat));
    }
}

TEST(PcrCompositeDigest, MatchesATpmQuoteOfTpm2Tools) {
    // tpm2_checkquote's output for tests/data/tpm2-tools/ecc/quote.pcrs: PCR 0 and 16 extended once.
    auto s = sel("sha256:0,1,2,3,4,5,6,7,16");
    pcr_values v;
    for (unsigned i : {0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u, 16u}) v.push_back({TPM2_ALG_SHA256, i, bytes(32, 0)});
    v[0].digest = *from_hex("51beab2769a47b52acbf5702aadfa6234d8ec47be019b146b1214b45bf859616");
    v[8].digest = *from_hex("05d64123a47ee7baf336dcd0e6f12e32b5d0ba78e10fad9be39b30864fb96a02");
    auto d = pcr_composite_digest(TPM2_ALG_SHA256, s, v);
    ASSERT_TRUE(d.ok()) << d.err().message;
    EXPECT_EQ(to_hex(*d), "3b4114d00e0600347fc77c7b7b148050c0e91ac70b68a81c7e55f2c26d59d84d");
}

TEST(PcrCompositeDigest, RejectsValuesThatDoNotFitTheSelection) {
    auto s = sel("sha1:7+sha256:0,16");
    const auto good = test::sample_pcr_values(s);
    struct bad {
        const char* what;
        pcr_values values;
        const char* why;
    };
    std::vector<bad> cases;
    {
        auto v = good;
        v.pop_back();
        cases.push_back({"one missing", v, "no value for selected PCR sha256:16"});
    }
    {
        auto v = good;
        v.push_back(v.back());
        cases.push_back({"one extra", v, "4 PCR values for 3 selected PCRs"});
    }
    {
        auto v = good;
        std::swap(v[1], v[2]);
        cases.push_back({"out of order", v, "is for PCR sha256:16, the selection needs sha256:0"});
    }
    {
        auto v = good;
        v[0].bank = TPM2_ALG_SHA256;
        cases.push_back({"wrong bank", v, "is for PCR sha256:7, the selection needs sha1:7"});
    }
    {
        auto v = good;
        v[2].digest.pop_back();
        cases.push_back({"short digest", v, "has 31 bytes, the bank's digest has 32"});
    }
    cases.push_back({"empty", {}, "no value for selected PCR sha1:7"});
    for (const auto& c : cases) {
        auto d = pcr_composite_digest(TPM2_ALG_SHA256, s, c.values);
        ASSERT_FALSE(d.ok()) << c.what;
        EXPECT_EQ(d.err().code, errc::mismatch) << c.what;
        EXPECT_NE(d.err().message.find(c.why), std::string::npos) << c.what << " -> " << d.err().message;
    }
}

TEST(PcrCompositeDigest, RejectsUnknownHashesAndBanks) {
    auto s = sel("sha256:0");
    auto v = test::sample_pcr_values(s);
    auto d = pcr_composite_digest(TPM2_ALG_SM3_256, s, v);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.err().code, errc::unsupported);

    s.pcrSelections[0].hash = TPM2_ALG_SM3_256;
    v[0].bank = TPM2_ALG_SM3_256;
    d = pcr_composite_digest(TPM2_ALG_SHA256, s, v);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.err().code, errc::unsupported);

    auto big = sel("sha256:0");
    big.pcrSelections[0].sizeofSelect = 5;
    d = pcr_composite_digest(TPM2_ALG_SHA256, big, test::sample_pcr_values(sel("sha256:0")));
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.err().code, errc::structure);
}

}  // namespace
}  // namespace custos::attest
