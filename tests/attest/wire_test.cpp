// attest/wire: report and evidence codecs, report signatures, the qualification byte strings, PCR JSON.
#include "attest/wire.hpp"

#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <sodium.h>

#include <boost/json.hpp>

namespace custos::attest {
namespace {

struct keypair {
    bytes pk = bytes(crypto_sign_PUBLICKEYBYTES);
    secret_bytes sk{crypto_sign_SECRETKEYBYTES};
    keypair() { crypto_sign_keypair(pk.data(), sk.data()); }
};

report sample(const keypair& k) {
    report r;
    r.host = "gpu-7";
    r.seq = 42;
    r.prev = bytes(32, 0xab);
    r.time = 1764000000;
    r.clock = 987654321;
    r.key = k.pk;
    r.ext = R"({"gpus":[{"uuid":"GPU-1"}]})";
    return r;
}

std::string text(const bytes& b) { return std::string(b.begin(), b.end()); }

TEST(WireReport, EncodesTheDocumentedFieldsInOrderAndParsesBack) {
    keypair k;
    const bytes body = encode_report(sample(k));
    const std::string t = text(body);
    EXPECT_EQ(t.rfind(R"({"v":1,"host":"gpu-7","seq":42,"prev":"abababab)", 0), 0u) << t;
    EXPECT_NE(t.find(R"("seq":42)"), std::string::npos);
    EXPECT_NE(t.find(R"("clock":987654321)"), std::string::npos);
    EXPECT_NE(t.find(R"("ext":{"gpus":[{"uuid":"GPU-1"}]})"), std::string::npos);
    auto r = parse_report(body);
    ASSERT_TRUE(r.ok()) << r.err().message;
    EXPECT_EQ(r->host, "gpu-7");
    EXPECT_EQ(r->seq, 42u);
    EXPECT_EQ(r->prev, bytes(32, 0xab));
    EXPECT_EQ(r->time, 1764000000);
    EXPECT_EQ(r->clock, 987654321u);
    EXPECT_EQ(r->key, k.pk);
    EXPECT_EQ(r->ext, R"({"gpus":[{"uuid":"GPU-1"}]})");
    EXPECT_EQ(encode_report(*r), body);
}

TEST(WireReport, SignatureCoversTheTaggedBytesAndNothingElse) {
    keypair k, other;
    const bytes body = encode_report(sample(k));
    const bytes sig = sign_report(body, k.sk);
    ASSERT_EQ(sig.size(), 64u);
    EXPECT_TRUE(verify_report_signature(body, sig, k.pk).ok());
    // Independently: Ed25519 over "custos-report-v1\0" || body.
    bytes in{'c', 'u', 's', 't', 'o', 's', '-', 'r', 'e', 'p', 'o', 'r', 't', '-', 'v', '1', 0};
    in.insert(in.end(), body.begin(), body.end());
    EXPECT_EQ(crypto_sign_verify_detached(sig.data(), in.data(), in.size(), k.pk.data()), 0);
    bytes flipped = body;
    flipped[10] ^= 1;
    auto bad = verify_report_signature(flipped, sig, k.pk);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.err().code, errc::signature);
    EXPECT_FALSE(verify_report_signature(body, sig, other.pk).ok());
    EXPECT_EQ(verify_report_signature(body, bytes(63), k.pk).err().code, errc::structure);
}

TEST(WireReport, ParserRefusesWhatIsNotExactlyAReport) {
    keypair k;
    const std::string good = text(encode_report(sample(k)));
    auto refuse = [](const std::string& t, const std::string& needle) {
        auto r = parse_report(as_bytes(t));
        ASSERT_FALSE(r.ok()) << t;
        EXPECT_NE(r.err().message.find(needle), std::string::npos) << r.err().message;
    };
    std::string extra = good;
    extra.insert(1, R"("x":1,)");
    refuse(extra, "unknown field \"x\"");
    std::string v2 = good;
    v2.replace(v2.find(R"("v":1)"), 5, R"("v":2)");
    refuse(v2, "version 2");
    std::string seq0 = good;
    seq0.replace(seq0.find(R"("seq":42)"), 8, R"("seq":0)");
    refuse(seq0, "\"seq\" must be 1 or more");
    std::string shortprev = good;
    shortprev.replace(shortprev.find("abab"), 4, "");
    refuse(shortprev, "\"prev\" must be 32 bytes");
    std::string dup = good;
    dup.insert(good.size() - 1, R"(,"seq":43)");
    refuse(dup, "duplicate");
    refuse(good.substr(0, good.size() - 1), "not valid JSON");
    refuse(std::string(max_report_size + 1, ' '), "limit");
}

TEST(WireQualification, MatchesTheDocumentedConstructions) {
    const bytes nonce(32, 1), evidence{'{', '}'}, key(32, 2), prev(32, 3);
    unsigned char inner[32], outer[32];
    SHA256(evidence.data(), evidence.size(), inner);
    bytes cat = nonce;
    cat.insert(cat.end(), inner, inner + 32);
    SHA256(cat.data(), cat.size(), outer);
    EXPECT_EQ(evidence_qualification(nonce, evidence), bytes(outer, outer + 32));
    const std::string tag = "custos-report-key-v2";
    bytes kb(tag.begin(), tag.end());
    kb.insert(kb.end(), nonce.begin(), nonce.end());
    kb.insert(kb.end(), key.begin(), key.end());
    for (unsigned char b : {0, 0, 0, 0, 0, 0, 0x01, 0x02}) kb.push_back(b);  // prev_seq 258, big-endian
    kb.insert(kb.end(), prev.begin(), prev.end());
    SHA256(kb.data(), kb.size(), outer);
    EXPECT_EQ(report_key_qualification(nonce, key, 258, prev), bytes(outer, outer + 32));
    EXPECT_NE(report_key_qualification(nonce, key, 258, prev), report_key_qualification(nonce, prev, 258, key));
    EXPECT_NE(report_key_qualification(nonce, key, 258, prev), report_key_qualification(nonce, key, 259, prev));
    EXPECT_NE(report_key_qualification(nonce, key, 258, prev), report_key_qualification(key, key, 258, prev));
}

// fuzz_evidence found it: an ext nested eleven objects deep parsed, was re-encoded as {} and no longer
// matched. Whatever parses must survive encode → parse unchanged; deeper is refused with a reason.
TEST(WireEvidence, AnExtThatParsesSurvivesItsOwnEncodingAndADeeperOneIsRefused) {
    auto with_depth = [](int depth) {
        std::string ext;
        for (int i = 0; i < depth; ++i) ext += R"({"a":)";
        ext += "1";
        for (int i = 0; i < depth; ++i) ext += "}";
        const std::string text = R"({"v":1,"host":"h1","time":5,"report_key":")" + std::string(43, 'A') +
                                 R"(=","report_head":{"seq":0,"hash":")" + std::string(64, '0') + R"("},"ext":)" + ext + "}";
        return parse_evidence(as_bytes(text));
    };
    int deepest = 0;
    for (int depth = 1; depth <= 15; ++depth) {
        auto e = with_depth(depth);
        if (!e) {
            EXPECT_NE(e.err().message.find("ext"), std::string::npos) << e.err().message;
            continue;
        }
        deepest = depth;
        auto again = parse_evidence(encode_evidence(*e));
        ASSERT_TRUE(again.ok()) << depth << ": " << again.err().message;
        EXPECT_EQ(again->ext, e->ext) << depth;
    }
    EXPECT_GE(deepest, 8);
    EXPECT_LT(deepest, 15);
}

TEST(WireEvidence, RoundTripsAndRefusesBadHeads) {
    evidence e;
    e.host = "h1";
    e.time = 5;
    e.report_key = bytes(32, 4);
    e.head_seq = 9;
    e.head_hash = bytes(32, 5);
    const bytes b = encode_evidence(e);
    auto p = parse_evidence(b);
    ASSERT_TRUE(p.ok()) << p.err().message;
    EXPECT_EQ(p->host, "h1");
    EXPECT_EQ(p->head_seq, 9u);
    EXPECT_EQ(p->head_hash, bytes(32, 5));
    EXPECT_EQ(p->report_key, bytes(32, 4));
    std::string t = text(b);
    t.replace(t.find(R"("seq":9)"), 7, R"("seq":-1)");
    auto bad = parse_evidence(as_bytes(t));
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.err().message.find("report_head"), std::string::npos) << bad.err().message;
}

TEST(WirePcrs, JsonHoldsExactlyTheSelectedPcrs) {
    auto sel = parse_pcr_selection("sha256:0,7+sha1:1");
    ASSERT_TRUE(sel.ok());
    pcr_values v{{TPM2_ALG_SHA256, 0, bytes(32, 1)}, {TPM2_ALG_SHA256, 7, bytes(32, 2)}, {TPM2_ALG_SHA1, 1, bytes(20, 3)}};
    const auto j = pcrs_to_json(v);
    auto back = pcrs_from_json(j, *sel);
    ASSERT_TRUE(back.ok()) << back.err().message;
    ASSERT_EQ(back->size(), 3u);
    EXPECT_EQ((*back)[1].index, 7u);
    EXPECT_EQ((*back)[2].digest, bytes(20, 3));
    auto missing = parse_pcr_selection("sha256:0,7,8+sha1:1");
    auto m = pcrs_from_json(j, *missing);
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.err().message.find("PCR 8 is selected"), std::string::npos) << m.err().message;
    auto fewer = parse_pcr_selection("sha256:0+sha1:1");
    auto f = pcrs_from_json(j, *fewer);
    ASSERT_FALSE(f.ok());
    EXPECT_NE(f.err().message.find("not in the selection"), std::string::npos) << f.err().message;
    boost::json::object shortv = j;
    shortv["sha1"].as_object()["1"] = "0011";
    auto s = pcrs_from_json(shortv, *sel);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.err().message.find("20 bytes"), std::string::npos) << s.err().message;
}

}  // namespace
}  // namespace custos::attest
