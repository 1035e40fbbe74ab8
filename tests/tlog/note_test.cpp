#include "tlog/note.hpp"

#include <gtest/gtest.h>

#include <string>

namespace custos::tlog {
namespace {

// golang.org/x/mod/sumdb/note's own test key and message (note_test.go, TestSign): Ed25519 is deterministic,
// so the same key must give the same note byte for byte.
constexpr const char* go_skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
constexpr const char* go_vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
constexpr const char* go_text =
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
constexpr const char* go_note =
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n"
    "\xE2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

TEST(TlogNote, SignsAndOpensExactlyAsGoDoes) {
    auto s = note_signer::parse(go_skey);
    ASSERT_TRUE(s) << s.err().message;
    EXPECT_EQ(s->verifier().to_string(), go_vkey);
    auto n = s->sign(go_text);
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, go_note);
    auto v = parse_verifier_key(go_vkey);
    ASSERT_TRUE(v);
    auto text = open_note(go_note, *v);
    ASSERT_TRUE(text) << text.err().message;
    EXPECT_EQ(*text, go_text);
}

TEST(TlogNote, RefusesAlteredNotesOtherKeysAndBadKeys) {
    auto v = *parse_verifier_key(go_vkey);
    std::string altered = go_note;
    altered[3] = 'X';
    auto r = open_note(altered, v);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().code, errc::signature);
    auto other = note_signer::generate("custos.test/log");
    ASSERT_TRUE(other);
    EXPECT_FALSE(open_note(go_note, other->second.verifier())) << "no signature by this key";
    EXPECT_FALSE(open_note(go_text, v)) << "no signature block";
    EXPECT_FALSE(open_note(std::string(go_note) + "trailing", v));
    // The same name with another key hash: Go's own bad keys.
    EXPECT_FALSE(parse_verifier_key("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="));
    EXPECT_FALSE(parse_verifier_key("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"));
    EXPECT_FALSE(parse_verifier_key("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"));
    EXPECT_FALSE(note_signer::generate("has space"));
    EXPECT_FALSE(note_signer::generate("has+plus"));
}

TEST(TlogNote, AGeneratedKeyRoundTripsThroughItsText) {
    auto gen = note_signer::generate("verifier.example/custos-log");
    ASSERT_TRUE(gen);
    const auto& [skey, signer] = *gen;
    const std::string text(reinterpret_cast<const char*>(skey.data()), skey.size());
    ASSERT_EQ(text.substr(0, 12), "PRIVATE+KEY+");
    auto again = note_signer::parse(text);
    ASSERT_TRUE(again) << again.err().message;
    EXPECT_EQ(again->verifier().to_string(), signer.verifier().to_string());
    auto note = again->sign("a\n");
    ASSERT_TRUE(note);
    EXPECT_TRUE(open_note(*note, *parse_verifier_key(signer.verifier().to_string())));
}

TEST(TlogCheckpoint, FormatsAndParsesStrictly) {
    checkpoint c{"verifier.example/custos-log", 42, {}, {}};
    c.root[0] = 0xAB;
    const std::string t = format_checkpoint(c);
    auto p = parse_checkpoint(t);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->origin, c.origin);
    EXPECT_EQ(p->size, 42);
    EXPECT_EQ(p->root, c.root);
    EXPECT_FALSE(parse_checkpoint("o\n042\n" + t.substr(t.find('\n', t.find('\n') + 1) + 1)));
    EXPECT_FALSE(parse_checkpoint("o\n-1\nAAAA\n"));
    EXPECT_FALSE(parse_checkpoint("o\n1\nAAAA\n")) << "a root that is not 32 bytes";
    EXPECT_FALSE(parse_checkpoint("o\n1\n"));
    EXPECT_FALSE(parse_checkpoint(t.substr(0, t.size() - 1)));
}

}  // namespace
}  // namespace custos::tlog
