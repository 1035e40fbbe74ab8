// crypto/base64: RFC 4648 vectors in both alphabets, and the strictness protocol fields rely on.
#include "crypto/base64.hpp"

#include <gtest/gtest.h>

namespace custos {
namespace {

bytes b(std::string_view s) { return bytes(s.begin(), s.end()); }

TEST(Base64, Rfc4648TestVectors) {
    // RFC 4648 §10.
    const std::pair<const char*, const char*> vectors[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                           {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                           {"foobar", "Zm9vYmFy"}};
    for (const auto& [plain, encoded] : vectors) {
        EXPECT_EQ(to_base64(as_bytes(plain)), encoded) << plain;
        auto back = from_base64(encoded);
        ASSERT_TRUE(back.ok()) << encoded;
        EXPECT_EQ(*back, b(plain));
        // base64url: the same without padding.
        std::string url = encoded;
        url.erase(url.find_last_not_of('=') + 1);
        EXPECT_EQ(to_base64url(as_bytes(plain)), url) << plain;
        auto url_back = from_base64url(url);
        ASSERT_TRUE(url_back.ok()) << url;
        EXPECT_EQ(*url_back, b(plain));
    }
}

TEST(Base64, TheAlphabetsDifferInTwoCharacters) {
    const bytes all_ones = {0xfb, 0xff, 0xbf};  // 111110 111111 111110 111111
    EXPECT_EQ(to_base64(all_ones), "+/+/");
    EXPECT_EQ(to_base64url(all_ones), "-_-_");
    EXPECT_EQ(*from_base64("+/+/"), all_ones);
    EXPECT_EQ(*from_base64url("-_-_"), all_ones);
    EXPECT_FALSE(from_base64("-_-_").ok());
    EXPECT_FALSE(from_base64url("+/+/").ok());
}

TEST(Base64, StandardIsStrict) {
    for (const char* bad : {"Zg", "Zg=", "Zm8", "Zg===", "Zm9v ", " Zm9v", "Zm\n9v", "Zm9v\n", "Zh==", "Zm9=",
                            "Zm9v=", "=Zm9", "Z", "Zm9vY", "Zm9v!A==", "Zg==Zg=="}) {
        auto r = from_base64(bad);
        ASSERT_FALSE(r.ok()) << '"' << bad << '"';
        EXPECT_EQ(r.err().code, errc::parse);
        EXPECT_EQ(r.err().message, "not valid base64");
    }
}

TEST(Base64, UrlIsStrictAndUnpadded) {
    for (const char* bad : {"Zg==", "Zm8=", "Z", "Zh", "Zm9", "Zm9v Zg", "Zm9v\n", "Zm9v.", "Zm+v", "Zm/v"}) {
        auto r = from_base64url(bad);
        ASSERT_FALSE(r.ok()) << '"' << bad << '"';
        EXPECT_EQ(r.err().code, errc::parse);
        EXPECT_EQ(r.err().message, "not valid base64url");
    }
}

// Found by fuzz_tlog_note: libsodium's arithmetic took a byte past 0x7f for an alphabet character, so
// "…t\xC2o=" decoded and a checkpoint's root had two spellings.
TEST(Base64, NoByteOutsideAsciiIsTakenForAnAlphabetCharacter) {
    const std::string good = to_base64(bytes(32, 0xAB));
    for (int c = 0x80; c <= 0xFF; ++c) {
        std::string bad = good;
        bad[good.size() - 3] = static_cast<char>(c);
        EXPECT_FALSE(from_base64(bad)) << "byte 0x" << std::hex << c;
        std::string bad_url = to_base64url(bytes(32, 0xAB));
        bad_url[5] = static_cast<char>(c);
        EXPECT_FALSE(from_base64url(bad_url)) << "byte 0x" << std::hex << c;
    }
    EXPECT_FALSE(from_base64("sj/xrGRs7xDoJGkVYVFON9AlsCtisMuZe8YePxymt\xC2o="));
}

TEST(Base64, EveryByteValueRoundTrips) {
    bytes all(256);
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::uint8_t>(i);
    for (std::size_t n = 0; n <= all.size(); n += 37) {
        const byte_view part(all.data(), n);
        EXPECT_EQ(*from_base64(to_base64(part)), bytes(part.begin(), part.end())) << n;
        EXPECT_EQ(*from_base64url(to_base64url(part)), bytes(part.begin(), part.end())) << n;
    }
    EXPECT_EQ(to_base64(all).size(), 344u);    // 4 * ceil(256 / 3)
    EXPECT_EQ(to_base64url(all).size(), 342u);  // the two '=' dropped
}

}  // namespace
}  // namespace custos
