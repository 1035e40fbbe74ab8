// agent/spool and agent/config: crash-consistent chain head, send order, removal; agent.toml parsing.
#include "agent/spool.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include <fstream>

#include "agent/config.hpp"
#include "attest/wire.hpp"
#include "tests/support/process.hpp"

namespace custos::agent {
namespace {

using custos::test::temp_dir;

struct signer {
    bytes pk = bytes(crypto_sign_PUBLICKEYBYTES);
    secret_bytes sk{crypto_sign_SECRETKEYBYTES};
    signer() { crypto_sign_keypair(pk.data(), sk.data()); }
    std::pair<bytes, bytes> report(std::uint64_t seq, const bytes& prev) const {
        attest::report r;
        r.host = "h";
        r.seq = seq;
        r.prev = prev;
        r.key = pk;
        bytes body = attest::encode_report(r);
        return {body, attest::sign_report(body, sk)};
    }
};

TEST(AgentSpool, HeadAdvancesAndSurvivesReopening) {
    temp_dir d("custos-spool");
    signer s;
    {
        auto sp = spool::open(d.path());
        ASSERT_TRUE(sp.ok()) << sp.err().message;
        EXPECT_EQ(sp->head().seq, 0u);
        auto [b1, s1] = s.report(1, bytes(32, 0));
        ASSERT_TRUE(sp->add_report(1, b1, s1).ok());
        EXPECT_EQ(sp->head().hash, attest::report_hash(b1));
        EXPECT_FALSE(sp->add_report(3, b1, s1).ok());  // never skips a number
    }
    auto sp = spool::open(d.path());
    EXPECT_EQ(sp->head().seq, 1u);
}

TEST(AgentSpool, AReportSpooledBeforeACrashWinsOverAnOlderHeadFile) {
    temp_dir d("custos-spool");
    signer s;
    auto sp = spool::open(d.path());
    auto [b1, s1] = s.report(1, bytes(32, 0));
    ASSERT_TRUE(sp->add_report(1, b1, s1).ok());
    // Simulate a crash after report 2 reached the spool but before chain.json was rewritten.
    const auto head_before = std::filesystem::path(d.path() / "chain.json");
    std::ifstream in(head_before);
    const std::string saved((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto [b2, s2] = s.report(2, attest::report_hash(b1));
    ASSERT_TRUE(sp->add_report(2, b2, s2).ok());
    std::ofstream(head_before) << saved;
    auto again = spool::open(d.path());
    ASSERT_TRUE(again.ok()) << again.err().message;
    EXPECT_EQ(again->head().seq, 2u);
    EXPECT_EQ(again->head().hash, attest::report_hash(b2));
}

TEST(AgentSpool, BindingsComeFirstThenReportsInOrderAndRemovalSticks) {
    temp_dir d("custos-spool");
    signer s;
    auto sp = spool::open(d.path());
    bytes prev(32, 0);
    for (std::uint64_t i = 1; i <= 3; ++i) {
        auto [b, g] = s.report(i, prev);
        ASSERT_TRUE(sp->add_report(i, b, g).ok());
        prev = attest::report_hash(b);
    }
    ASSERT_TRUE(sp->add_binding(R"({"binding":1})").ok());
    std::ofstream(d.path() / "spool" / ".tmp-junk") << "x";  // an interrupted write's temp file is ignored
    auto p = sp->pending();
    ASSERT_TRUE(p.ok());
    ASSERT_EQ(p->size(), 4u);
    EXPECT_TRUE((*p)[0].binding);
    EXPECT_EQ((*p)[0].json, R"({"binding":1})");
    EXPECT_EQ((*p)[1].seq, 1u);
    EXPECT_EQ((*p)[3].seq, 3u);
    ASSERT_TRUE(sp->remove((*p)[1]).ok());
    EXPECT_EQ(spool::open(d.path())->pending()->size(), 3u);
    EXPECT_EQ(spool::open(d.path())->head().seq, 3u);
    ASSERT_TRUE(sp->adopt({9, bytes(32, 7)}).ok());
    EXPECT_EQ(spool::open(d.path())->head().seq, 9u);
    ASSERT_TRUE(sp->adopt({4, bytes(32, 1)}).ok());  // never goes back
    EXPECT_EQ(spool::open(d.path())->head().seq, 9u);
}

TEST(AgentSpool, ADamagedReportNeitherStopsTheAgentNorIsLostAndAnOversizedOneIsNeverWritten) {
    temp_dir d("custos-spool");
    signer s;
    auto sp = spool::open(d.path());
    auto [b1, s1] = s.report(1, bytes(32, 0));
    ASSERT_TRUE(sp->add_report(1, b1, s1).ok());
    // Report 2's file damaged on disk (a torn sector, a root with an editor): the spool still opens at 1.
    std::ofstream(d.path() / "spool" / "r-00000000000000000002.json") << "{\"report\":\"not base64";
    auto again = spool::open(d.path());
    ASSERT_TRUE(again.ok()) << again.err().message;
    EXPECT_EQ(again->head().seq, 1u);
    auto p = again->pending();
    ASSERT_TRUE(p.ok());
    ASSERT_EQ(p->size(), 2u);
    ASSERT_TRUE(again->set_aside((*p)[1]).ok());
    EXPECT_EQ(again->pending()->size(), 1u);
    EXPECT_TRUE(std::filesystem::exists(d.path() / "spool" / "unreadable" / "r-00000000000000000002.json"));
    // Larger than the verifier reads: refused here, before it can block the spool.
    attest::report big;
    big.host = "h";
    big.seq = 2;
    big.prev = attest::report_hash(b1);
    big.key = s.pk;
    big.ext = "{\"pad\":\"" + std::string(attest::max_report_size, 'x') + "\"}";
    const bytes body = attest::encode_report(big);
    auto r = again->add_report(2, body, attest::sign_report(body, s.sk));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("at most 65536"), std::string::npos) << r.err().message;
    EXPECT_EQ(again->head().seq, 1u);
}

TEST(AgentConfig, KnownKeysUnknownKeysAndRequiredSettings) {
    temp_dir d("custos-agentcfg");
    const auto p = d.path() / "agent.toml";
    std::ofstream(p) << "host_id = \"gpu-1\"\nverifier_url = \"https://v:8443\"\nca_file = \"/ca.pem\"\nreport_interval_s = 5\n";
    agent_config c;
    ASSERT_TRUE(load_agent_config(p, c).ok());
    EXPECT_EQ(c.host_id, "gpu-1");
    EXPECT_EQ(c.report_interval_s, 5u);
    EXPECT_TRUE(check_agent_config(c).ok());
    std::ofstream(p) << "host_id = \"gpu-1\"\nverifer_url = \"x\"\n";
    auto e = load_agent_config(p, c);
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.err().message.find("verifer_url is not a known setting"), std::string::npos) << e.err().message;
    agent_config empty;
    auto m = check_agent_config(empty);
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.err().message.find("host_id is not set"), std::string::npos);
    c.verifier_url = "http://v";
    EXPECT_NE(check_agent_config(c).err().message.find("https://"), std::string::npos);
}

}  // namespace
}  // namespace custos::agent
