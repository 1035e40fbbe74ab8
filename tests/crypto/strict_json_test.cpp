// crypto/strict_json: duplicate keys anywhere, depth, strict grammar, and an object reader whose errors
// name the message and the field.
#include "crypto/strict_json.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include <cmath>
#include <memory>
#include <random>
#include <optional>

namespace custos {
namespace {

// A parsed message and a reader over it (the reader points into the value, which lives on the heap).
struct parsed {
    std::unique_ptr<boost::json::value> value;
    std::optional<sjson::object_reader> r;
    const sjson::object_reader* operator->() const { return &*r; }
};

parsed reader(const std::string& text, const std::string& where = "msg") {
    auto v = sjson::parse(text, where);
    EXPECT_TRUE(v.ok()) << text;
    parsed p{std::make_unique<boost::json::value>(std::move(v).value()), std::nullopt};
    p.r.emplace(std::move(sjson::object_reader::of(*p.value, where)).value());
    return p;
}

TEST(StrictJson, RefusesDuplicateKeysAtAnyDepth) {
    for (const char* dup : {R"({"a":1,"a":2})", R"({"a":1,"b":{"c":1,"c":2}})", R"([{"x":1},{"y":2,"y":2}])",
                            R"({"a":[{"b":[{"c":0,"c":0}]}]})", R"({"a":1,"a":1})"}) {
        auto r = sjson::parse(dup, "msg");
        ASSERT_FALSE(r.ok()) << dup;
        EXPECT_EQ(r.err().code, errc::structure) << dup;
        EXPECT_EQ(r.err().message, "msg: an object has a duplicate field");
    }
    // Colons, quotes and backslashes inside strings do not confuse the count.
    for (const char* ok : {R"({"a":"x:y","b":[{"c":1},{"c":2}]})", R"({"a\":b":1,"a":2})", R"({"k":"\\","l":":"})",
                           R"({"u":"\u0022:"})", R"(["a:b",{"c":":"}])", R"({})", R"([])", R"("only:a string")"}) {
        EXPECT_TRUE(sjson::parse(ok, "msg").ok()) << ok;
    }
}

TEST(StrictJson, GrammarIsStrict) {
    for (const char* bad : {"", "{", R"({"a":1,})", "[1,]", R"({"a":1} x)", R"({"a":1}{"b":2})", "// c\n{}",
                            "{/* c */}", R"({'a':1})", R"({a:1})", "NaN", "[01]", "\"\xff\""}) {
        auto r = sjson::parse(bad, "request body");
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_EQ(r.err().code, errc::parse) << bad;
        EXPECT_EQ(r.err().message.rfind("request body is not valid JSON: ", 0), 0u) << r.err().message;
    }
}

TEST(StrictJson, DepthIsCapped) {
    auto nest = [](int n) { return std::string(static_cast<std::size_t>(n), '[') + std::string(static_cast<std::size_t>(n), ']'); };
    EXPECT_TRUE(sjson::parse(nest(16), "x").ok());
    EXPECT_EQ(sjson::parse(nest(17), "x").err().code, errc::parse);
    EXPECT_TRUE(sjson::parse(nest(3), "x", 3).ok());
    EXPECT_EQ(sjson::parse(nest(4), "x", 3).err().code, errc::parse);
    EXPECT_EQ(sjson::parse(nest(100000), "x").err().code, errc::parse);  // no stack exhaustion
}

TEST(StrictJson, ReaderNamesTheMessageAndTheField) {
    auto o = reader(R"({"n":-1,"s":"zz","h":"0011","big":18446744073709551615,"b":true,"in":{"x":"1"},"a":[1]})");
    EXPECT_EQ(o->u64("n").err().message, "msg: field \"n\" must be a non-negative integer");
    EXPECT_EQ(o->u64("n").err().code, errc::structure);
    EXPECT_EQ(*o->i64("n"), -1);
    EXPECT_EQ(*o->u64("big"), 18446744073709551615u);
    EXPECT_EQ(o->i64("big").err().message, "msg: field \"big\" must be an integer");
    EXPECT_EQ(o->hex("s").err().message, "msg: field \"s\" is not valid hex");
    EXPECT_EQ(*o->hex("h"), (bytes{0x00, 0x11}));
    EXPECT_EQ(o->hex("h", 3).err().message, "msg: field \"h\" must be 3 bytes (6 hex digits), not 2");
    EXPECT_EQ(o->str("missing").err().message, "msg: field \"missing\" is missing");
    EXPECT_EQ(o->str("n").err().message, "msg: field \"n\" must be a string");
    EXPECT_EQ(*o->boolean("b"), true);
    EXPECT_EQ(o->boolean("s").err().message, "msg: field \"s\" must be true or false");
    EXPECT_EQ(o->b64("s").err().message, "msg: field \"s\" is not valid base64");
    EXPECT_EQ(o->arr("a").value()->size(), 1u);
    EXPECT_EQ(o->arr("in").err().message, "msg: field \"in\" must be an array");
    EXPECT_EQ(o->obj("a").err().message, "msg: field \"a\" must be an object");
    auto in = o->obj("in");
    ASSERT_TRUE(in.ok());
    EXPECT_EQ(in->u64("x").err().message, "msg.in: field \"x\" must be a non-negative integer");
    EXPECT_EQ(o->only({"n", "s", "h", "big", "b", "in"}).err().message, "msg: unknown field \"a\"");
    EXPECT_TRUE(o->only({"n", "s", "h", "big", "b", "in", "a"}).ok());
}

TEST(StrictJson, NumbersAreNotStrings) {
    auto o = reader(R"({"f":1.0,"neg":-5,"str":"5","hex0x":"0x00"})");
    EXPECT_FALSE(o->u64("f").ok());  // a double is not an integer, even a whole one
    EXPECT_FALSE(o->i64("f").ok());
    EXPECT_FALSE(o->u64("str").ok());
    EXPECT_EQ(o->hex("hex0x").err().message, "msg: field \"hex0x\" must be hex without a 0x prefix");
}

TEST(StrictJson, OptionalFieldsAreAbsentOrRight) {
    auto o = reader(R"({"s":"x","n":2,"wrong":3})");
    EXPECT_EQ(*o->opt_str("s"), std::optional<std::string>("x"));
    EXPECT_EQ(*o->opt_str("absent"), std::nullopt);
    EXPECT_EQ(o->opt_str("wrong").err().message, "msg: field \"wrong\" must be a string");
    EXPECT_EQ(*o->opt_u64("n"), std::optional<std::uint64_t>(2));
    EXPECT_EQ(*o->opt_u64("absent"), std::nullopt);
    EXPECT_FALSE(o->opt_u64("s").ok());
    auto not_obj = sjson::parse("[1]", "x");
    auto r = sjson::object_reader::of(*not_obj, "report");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().message, "report: must be a JSON object");
}

// Boost.JSON 1.81's parser reads "9.999999999999999e25" as exactly 1e26 (and ~14 % of doubles between 1e20
// and 1e30 one ulp off), so a >= 10^26 verdict differed from any exact reader's. Every number reads exactly.
TEST(StrictJson, NumbersReadExactlyAndSurviveTheirOwnSerialisation) {
    auto one = [](const std::string& text) {
        auto v = sjson::parse(R"({"x":)" + text + "}", "n");
        EXPECT_TRUE(v.ok()) << text;
        return v.ok() ? v->as_object().at("x").to_number<double>() : -1.0;
    };
    EXPECT_LT(one("9.999999999999999e25"), 1e26);
    EXPECT_EQ(one("9.999999999999999e25"), std::nextafter(1e26, 0.0));
    EXPECT_EQ(one("1e26"), 1e26);
    EXPECT_EQ(one("100000000000000000000000000.0"), 1e26);
    EXPECT_EQ(one("-0.0"), 0.0);
    EXPECT_EQ(one("1e-400"), 0.0);  // below the smallest double: zero, as every reader has it
    // Beyond the largest double: refused (infinity would serialise as "Infinity", which is not JSON).
    auto big = sjson::parse(R"({"x":120000000000e000000001400})", "n");
    ASSERT_FALSE(big.ok());
    EXPECT_NE(big.err().message.find("beyond the range of a double"), std::string::npos) << big.err().message;
    std::mt19937_64 rng(26);
    std::uniform_real_distribution<double> exponent(20.0, 30.0);
    int differ = 0;
    for (int i = 0; i < 20'000; ++i) {
        const double d = std::pow(10.0, exponent(rng));
        const std::string text = boost::json::serialize(boost::json::value(d));
        if (one(text) != d) ++differ;
    }
    EXPECT_EQ(differ, 0);
}

TEST(StrictJson, DumpKeepsInsertionOrder) {
    auto v = sjson::parse(R"({"z":1,"a":[true,null,"s"],"m":{"k":-2}})", "x");
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(sjson::dump(*v), R"({"z":1,"a":[true,null,"s"],"m":{"k":-2}})");
}

}  // namespace
}  // namespace custos
