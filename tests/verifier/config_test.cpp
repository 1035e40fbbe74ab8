// verifier/config: verifier.toml round trip, unknown keys, ranges, and `init`'s files.
#include "verifier/config.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "tests/support/process.hpp"
#include "verifier/init.hpp"

namespace custos::verifier {
namespace {

using custos::test::temp_dir;

std::string write(const temp_dir& d, const std::string& text) {
    const auto p = d.path() / "verifier.toml";
    std::ofstream(p) << text;
    return p.string();
}

TEST(VerifierConfig, RenderedConfigLoadsBackTheSameValues) {
    temp_dir d("custos-cfg");
    verifier_config c;
    c.listen = "[::1]:9443";
    c.threads = 8;
    c.report_interval_s = 7;
    c.webhooks = {"https://alerts.example/hook"};
    c.pcr_selection = "sha256:0,7";
    auto back = load_verifier_config(write(d, render_verifier_config(c)));
    ASSERT_TRUE(back.ok()) << back.err().message;
    EXPECT_EQ(back->listen, "[::1]:9443");
    EXPECT_EQ(back->threads, 8u);
    EXPECT_EQ(back->report_interval_s, 7u);
    EXPECT_EQ(back->webhooks, c.webhooks);
    EXPECT_EQ(back->pcr_selection, "sha256:0,7");
    EXPECT_EQ(back->dir, d.path());
    EXPECT_EQ(back->resolve("verifier.db"), d.path() / "verifier.db");
    EXPECT_EQ(back->resolve("/abs/x"), "/abs/x");
}

TEST(VerifierConfig, ErrorsNameTheKeyAndTheLine) {
    temp_dir d("custos-cfg");
    auto e = load_verifier_config(write(d, "listen = \"127.0.0.1:1\"\n[attest]\nreport_intervals = 3\n"));
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.err().message.find("attest.report_intervals is not a known setting"), std::string::npos) << e.err().message;
    EXPECT_NE(e.err().message.find(":3:"), std::string::npos) << e.err().message;
    e = load_verifier_config(write(d, "threads = \"four\"\n"));
    EXPECT_NE(e.err().message.find("threads must be an integer"), std::string::npos) << e.err().message;
    e = load_verifier_config(write(d, "threads = 0\n"));
    EXPECT_NE(e.err().message.find("threads = 0 is outside 1..256"), std::string::npos) << e.err().message;
    e = load_verifier_config(write(d, "listen = \"localhost\"\n"));
    EXPECT_NE(e.err().message.find("is not HOST:PORT"), std::string::npos) << e.err().message;
    e = load_verifier_config(write(d, "[attest]\npcr_selection = \"sha256:99\"\n"));
    EXPECT_NE(e.err().message.find("pcr_selection"), std::string::npos) << e.err().message;
    e = load_verifier_config(write(d, "[alerts]\nwebhooks = [\"http://plain\"]\n"));
    EXPECT_NE(e.err().message.find("https://"), std::string::npos) << e.err().message;
    e = load_verifier_config(write(d, "listen = \n"));
    EXPECT_FALSE(e.ok());
    EXPECT_EQ(load_verifier_config(d.path() / "absent.toml").err().code, errc::io);
}

TEST(VerifierInit, WritesEveryFilePrivateKeysPrivate) {
    temp_dir d("custos-init");
    init_options o;
    o.dir = d.path() / "v";
    ASSERT_TRUE(init_verifier_dir(o).ok());
    for (const char* f : {"ca/ca.key", "tls/server.key", "keys/result.key", "keys/recipient.key", "operator/key.pem", "verifier.toml"}) {
        struct stat st{};
        ASSERT_EQ(::stat((o.dir / f).c_str(), &st), 0) << f;
        EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
    }
    for (const char* f : {"ca/ca.pem", "tls/server.pem", "keys/result.pub.pem", "keys/recipient.pub", "operator/cert.pem",
                          "operator/ca.pem", "verifier.db"})
        EXPECT_TRUE(std::filesystem::exists(o.dir / f)) << f;
    auto cfg = load_verifier_config(o.dir / "verifier.toml");
    ASSERT_TRUE(cfg.ok()) << cfg.err().message;
    auto again = init_verifier_dir(o);
    ASSERT_FALSE(again.ok());
    EXPECT_NE(again.err().message.find("already initialised"), std::string::npos);
    o.ek_ca_file = d.path() / "missing.pem";
    o.force = true;
    EXPECT_FALSE(init_verifier_dir(o).ok());  // a bad EK CA bundle stops it before anything is written
}

}  // namespace
}  // namespace custos::verifier
