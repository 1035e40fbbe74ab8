#include "crypto/bytes.hpp"

#include <gtest/gtest.h>

namespace custos {
namespace {

TEST(Hex, RoundTripsLowercase) {
    bytes b{0x00, 0x01, 0xab, 0xff};
    EXPECT_EQ(to_hex(b), "0001abff");
    auto back = from_hex("0001ABff");
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, b);
}

TEST(Hex, AcceptsPrefixRejectsOddAndNonHex) {
    EXPECT_TRUE(from_hex("0xdead").ok());
    auto odd = from_hex("abc");
    ASSERT_FALSE(odd.ok());
    EXPECT_EQ(odd.err().code, errc::invalid_argument);
    EXPECT_NE(odd.err().message.find("odd"), std::string::npos);
    auto bad = from_hex("zz");
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.err().message.find("position 0"), std::string::npos);
}

TEST(EqualCt, ComparesContentAndLength) {
    bytes a{1, 2, 3}, b{1, 2, 3}, c{1, 2, 4}, d{1, 2};
    EXPECT_TRUE(equal_ct(a, b));
    EXPECT_FALSE(equal_ct(a, c));
    EXPECT_FALSE(equal_ct(a, d));
    EXPECT_TRUE(equal_ct(bytes{}, bytes{}));
}

TEST(SecretBytes, HoldsCopyAndMovesOut) {
    bytes k{9, 8, 7};
    secret_bytes s(k);
    ASSERT_EQ(s.size(), 3u);
    EXPECT_TRUE(equal_ct(s.view(), k));
    secret_bytes t(std::move(s));
    EXPECT_EQ(s.size(), 0u);  // NOLINT(bugprone-use-after-move): moved-from state is specified
    EXPECT_TRUE(equal_ct(t.view(), k));
}

}  // namespace
}  // namespace custos
