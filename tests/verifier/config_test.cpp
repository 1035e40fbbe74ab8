// verifier/config: verifier.toml round trip, unknown keys, types, ranges, listen addresses.
#include "verifier/config.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include <fstream>

#include "tests/support/process.hpp"

namespace custos::verifier {
namespace {

using custos::test::temp_dir;

std::filesystem::path write(const temp_dir& d, const std::string& text) {
    const auto p = d.path() / "verifier.toml";
    std::ofstream(p, std::ios::trunc) << text;
    return p;
}

// The error for a file holding `text`; the test fails if it loads.
std::string error_for(const temp_dir& d, const std::string& text) {
    auto r = load_verifier_config(write(d, text));
    EXPECT_FALSE(r.ok()) << text;
    if (r.ok()) return {};
    EXPECT_EQ(r.err().code, errc::invalid_argument) << r.err().message;
    return r.err().message;
}

TEST(VerifierConfig, RenderedConfigLoadsBackEveryValue) {
    temp_dir d("custos-cfg");
    verifier_config c;
    c.listen = "[::1]:9443";
    c.threads = 8;
    c.body_limit = 4096;
    c.read_timeout_ms = 2500;
    c.tls_cert = "t/c.pem";
    c.tls_key = "/etc/custos/t.key";
    c.ca_cert = "x/ca.pem";
    c.ca_key = "x/ca.key";
    c.result_key = "k/r.key";
    c.result_pub = "k/r.pub";
    c.recipient_key = "k/x.key";
    c.recipient_pub = "k/x.pub";
    c.ek_ca_file = "vendors \"quoted\".pem";
    c.token_ttl_s = 600;
    c.database = "data/v.db";
    c.sqlite_synchronous_full = true;
    c.pcr_selection = "sha256:0,7";
    c.challenge_ttl_s = 11;
    c.attest_interval_s = 120;
    c.report_interval_s = 7;
    c.dark_after_intervals = 5;
    c.overdue_after_intervals = 4;
    c.chain_gap_grace_s = 45;
    c.max_connections = 77;
    c.resolved_findings_days = 30;
    c.appraisals_days = 0;
    c.location_miss_limit = 5;
    c.location_max_age_s = 600;
    c.model_ops_threshold = std::nextafter(1e26, 0.0);  // must stay under 10^26 through the file
    c.webhooks = {"https://alerts.example/hook", "https://b.example/x?y=1"};
    c.webhook_ca_file = "alerts-ca.pem";
    const std::string text = render_verifier_config(c);
    auto back = load_verifier_config(write(d, text));
    ASSERT_TRUE(back.ok()) << back.err().message << "\n" << text;
    EXPECT_EQ(back->dir, d.path());
    EXPECT_EQ(back->listen, c.listen);
    EXPECT_EQ(back->threads, c.threads);
    EXPECT_EQ(back->body_limit, c.body_limit);
    EXPECT_EQ(back->read_timeout_ms, c.read_timeout_ms);
    EXPECT_EQ(back->tls_cert, c.tls_cert);
    EXPECT_EQ(back->tls_key, c.tls_key);
    EXPECT_EQ(back->ca_cert, c.ca_cert);
    EXPECT_EQ(back->ca_key, c.ca_key);
    EXPECT_EQ(back->result_key, c.result_key);
    EXPECT_EQ(back->result_pub, c.result_pub);
    EXPECT_EQ(back->recipient_key, c.recipient_key);
    EXPECT_EQ(back->recipient_pub, c.recipient_pub);
    EXPECT_EQ(back->ek_ca_file, c.ek_ca_file);
    EXPECT_EQ(back->token_ttl_s, c.token_ttl_s);
    EXPECT_EQ(back->database, c.database);
    EXPECT_EQ(back->sqlite_synchronous_full, true);
    EXPECT_EQ(back->pcr_selection, c.pcr_selection);
    EXPECT_EQ(back->challenge_ttl_s, c.challenge_ttl_s);
    EXPECT_EQ(back->attest_interval_s, c.attest_interval_s);
    EXPECT_EQ(back->report_interval_s, c.report_interval_s);
    EXPECT_EQ(back->dark_after_intervals, c.dark_after_intervals);
    EXPECT_EQ(back->overdue_after_intervals, 4u);
    EXPECT_EQ(back->chain_gap_grace_s, 45u);
    EXPECT_EQ(back->max_connections, 77u);
    EXPECT_EQ(back->resolved_findings_days, 30u);
    EXPECT_EQ(back->appraisals_days, 0u);
    EXPECT_EQ(back->location_miss_limit, 5u);
    EXPECT_EQ(back->location_max_age_s, 600u);
    EXPECT_EQ(back->model_ops_threshold, c.model_ops_threshold);
    EXPECT_LT(back->model_ops_threshold, 1e26);
    EXPECT_EQ(back->webhooks, c.webhooks);
    EXPECT_EQ(back->webhook_ca_file, c.webhook_ca_file);
    // Rendering what was loaded gives the same text: nothing is lost or reinterpreted.
    EXPECT_EQ(render_verifier_config(*back), text);
    // Every key carries a comment or sits under a commented table.
    EXPECT_NE(text.find("# HOST:PORT"), std::string::npos);
    EXPECT_EQ(back->resolve("verifier.db"), d.path() / "verifier.db");
    EXPECT_EQ(back->resolve("/abs/x"), "/abs/x");
}

TEST(VerifierConfig, DefaultsRoundTripAndAnEmptyFileMeansDefaults) {
    temp_dir d("custos-cfg");
    const verifier_config defaults;
    auto back = load_verifier_config(write(d, render_verifier_config(defaults)));
    ASSERT_TRUE(back.ok()) << back.err().message;
    EXPECT_EQ(back->listen, "127.0.0.1:8443");
    EXPECT_TRUE(back->webhooks.empty());
    EXPECT_TRUE(back->webhook_ca_file.empty());
    auto empty = load_verifier_config(write(d, ""));
    ASSERT_TRUE(empty.ok()) << empty.err().message;
    EXPECT_EQ(empty->threads, defaults.threads);
    EXPECT_EQ(empty->database, defaults.database);
    // A relative path to the file still gives an absolute dir.
    const auto cwd = std::filesystem::current_path();
    std::filesystem::current_path(d.path());
    auto rel = load_verifier_config("verifier.toml");
    std::filesystem::current_path(cwd);
    ASSERT_TRUE(rel.ok());
    EXPECT_TRUE(rel->dir.is_absolute());
    EXPECT_EQ(rel->dir, d.path());
}

TEST(VerifierConfig, UnknownKeysAndTablesNameTheKeyTheFileAndTheLine) {
    temp_dir d("custos-cfg");
    const std::string file = (d.path() / "verifier.toml").string();
    EXPECT_EQ(error_for(d, "listen = \"127.0.0.1:1\"\n[attest]\nreport_intervals = 3\n"),
              file + ":3: attest.report_intervals is not a known setting");
    EXPECT_EQ(error_for(d, "thread = 4\n"), file + ":1: thread is not a known setting");
    EXPECT_EQ(error_for(d, "[tls]\ntls_cert = \"a\"\n\n[extra]\nx = 1\n"), file + ":4: extra is not a known setting");
    EXPECT_EQ(error_for(d, "[database]\nfile = \"x.db\"\n"), file + ":2: database.file is not a known setting");
    EXPECT_EQ(error_for(d, "tls = 3\n"), file + ":1: tls must be a table ([tls])");
}

TEST(VerifierConfig, WrongTypesNameTheKey) {
    temp_dir d("custos-cfg");
    const std::string file = (d.path() / "verifier.toml").string();
    EXPECT_EQ(error_for(d, "threads = \"four\"\n"), file + ":1: threads must be an integer");
    EXPECT_EQ(error_for(d, "threads = 4.0\n"), file + ":1: threads must be an integer");
    EXPECT_EQ(error_for(d, "listen = 8443\n"), file + ":1: listen must be a string");
    EXPECT_EQ(error_for(d, "[keys]\nresult_key = [\"a\"]\n"), file + ":2: keys.result_key must be a string");
    EXPECT_EQ(error_for(d, "[database]\nsqlite_synchronous_full = 1\n"),
              file + ":2: database.sqlite_synchronous_full must be true or false");
    EXPECT_EQ(error_for(d, "[alerts]\nwebhooks = \"https://a\"\n"), file + ":2: alerts.webhooks must be an array of https URLs");
    EXPECT_EQ(error_for(d, "[alerts]\nwebhooks = [\"http://plain\"]\n"), file + ":2: alerts.webhooks entries must be https:// URLs");
    EXPECT_EQ(error_for(d, "[alerts]\nwebhooks = [3]\n"), file + ":2: alerts.webhooks entries must be https:// URLs");
    EXPECT_EQ(error_for(d, "threads = -1\n"), file + ":1: threads is out of range");
    EXPECT_EQ(error_for(d, "[enroll]\ntoken_ttl_s = 99999999999\n"), file + ":2: enroll.token_ttl_s is out of range");
}

TEST(VerifierConfig, RangesAreChecked) {
    temp_dir d("custos-cfg");
    const std::string file = (d.path() / "verifier.toml").string();
    EXPECT_EQ(error_for(d, "threads = 0\n"), file + ": threads = 0 is outside 1..256");
    EXPECT_EQ(error_for(d, "threads = 257\n"), file + ": threads = 257 is outside 1..256");
    EXPECT_TRUE(load_verifier_config(write(d, "threads = 256\n")).ok());
    EXPECT_TRUE(load_verifier_config(write(d, "threads = 1\n")).ok());
    for (const char* key : {"challenge_ttl_s", "attest_interval_s", "report_interval_s", "dark_after_intervals"}) {
        EXPECT_EQ(error_for(d, std::string("[attest]\n") + key + " = 0\n"),
                  file + ": attest." + key + " = 0 is outside 1.." +
                      (std::string(key) == "challenge_ttl_s" ? "3600"
                       : std::string(key) == "dark_after_intervals" ? "1000"
                                                                    : "86400"));
        EXPECT_TRUE(load_verifier_config(write(d, std::string("[attest]\n") + key + " = 1\n")).ok()) << key;
    }
    EXPECT_EQ(error_for(d, "[enroll]\ntoken_ttl_s = 0\n"), file + ": enroll.token_ttl_s = 0 is outside 1..2592000");
    EXPECT_NE(error_for(d, "[attest]\npcr_selection = \"sha256:99\"\n").find(file + ": attest.pcr_selection: "),
              std::string::npos);
}

TEST(VerifierConfig, ListenIsHostColonPortWithIpv6InBrackets) {
    for (const char* ok : {"127.0.0.1:8443", "0.0.0.0:1", "localhost:65535", "[::1]:8443", "[::]:443",
                           "[fe80::1]:9000", "verifier.example:443"})
        EXPECT_TRUE(check_listen_address(ok).ok()) << ok;
    for (const char* bad : {"", "localhost", "127.0.0.1", "127.0.0.1:", ":8443", "127.0.0.1:0", "127.0.0.1:65536",
                            "127.0.0.1:99999999", "127.0.0.1:84a3", "127.0.0.1:-1", "::1:8443", "[::1]8443", "[::1]",
                            "[::1:8443", "[nothost]:8443", "[]:8443", "a b:80", "127.0.0.1:+80"}) {
        auto r = check_listen_address(bad);
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_EQ(r.err().message, "listen = \"" + std::string(bad) +
                                       "\" is not HOST:PORT with a port 1..65535 (e.g. 127.0.0.1:8443 or [::1]:8443)");
    }
    temp_dir d("custos-cfg");
    const std::string file = (d.path() / "verifier.toml").string();
    EXPECT_EQ(error_for(d, "listen = \"::1:8443\"\n"),
              file + ": listen = \"::1:8443\" is not HOST:PORT with a port 1..65535 (e.g. 127.0.0.1:8443 or [::1]:8443)");
}

TEST(VerifierConfig, SyntaxErrorsAndMissingFiles) {
    temp_dir d("custos-cfg");
    const std::string file = (d.path() / "verifier.toml").string();
    const std::string e = error_for(d, "threads = 4\nlisten = \n");
    EXPECT_EQ(e.rfind(file + ":2: ", 0), 0u) << e;
    const std::string dup = error_for(d, "threads = 4\nthreads = 5\n");
    EXPECT_EQ(dup.rfind(file + ":2: ", 0), 0u) << dup;
    auto absent = load_verifier_config(d.path() / "absent.toml");
    ASSERT_FALSE(absent.ok());
    EXPECT_EQ(absent.err().code, errc::io);
    EXPECT_EQ(absent.err().message, (d.path() / "absent.toml").string() + ": cannot read the config file");
}

}  // namespace
}  // namespace custos::verifier

namespace custos::verifier {
namespace {

TEST(VerifierConfig, GpuComputeAndReleaseSettingsRoundTrip) {
    temp_dir d("custos-cfg");
    verifier_config c;
    c.chip_table = "chips-2026.toml";
    c.duplicate_window_s = 45;
    c.model_ops_threshold = 2.5e25;
    c.host_ops_threshold = 1e21;
    c.entity_ops_threshold = 0;
    c.country_ops_threshold = 7e24;
    c.lease_ttl_s = 90;
    auto back = load_verifier_config(write(d, render_verifier_config(c)));
    ASSERT_TRUE(back.ok()) << back.err().message;
    EXPECT_EQ(back->chip_table, "chips-2026.toml");
    EXPECT_EQ(back->duplicate_window_s, 45u);
    EXPECT_DOUBLE_EQ(back->model_ops_threshold, 2.5e25);
    EXPECT_DOUBLE_EQ(back->host_ops_threshold, 1e21);
    EXPECT_DOUBLE_EQ(back->entity_ops_threshold, 0);
    EXPECT_DOUBLE_EQ(back->country_ops_threshold, 7e24);
    EXPECT_EQ(back->lease_ttl_s, 90u);
    // The defaults: 10^26 for a model, the others off, 300 s leases.
    verifier_config def;
    auto dflt = load_verifier_config(write(d, render_verifier_config(def)));
    ASSERT_TRUE(dflt.ok()) << dflt.err().message;
    EXPECT_DOUBLE_EQ(dflt->model_ops_threshold, 1e26);
    EXPECT_EQ(dflt->lease_ttl_s, 300u);
}

TEST(VerifierConfig, GpuComputeAndReleaseSettingsAreChecked) {
    temp_dir d("custos-cfg");
    EXPECT_NE(error_for(d, "[compute]\nmodel_ops_threshold = -1.0\n").find("compute.model_ops_threshold must be a finite number"),
              std::string::npos);
    EXPECT_NE(error_for(d, "[compute]\nhost_ops_threshold = \"big\"\n").find("must be a number"), std::string::npos);
    EXPECT_NE(error_for(d, "[compute]\nflops = 1\n").find("compute.flops is not a known setting"), std::string::npos);
    EXPECT_NE(error_for(d, "[release]\nlease_ttl_s = 1\n").find("release.lease_ttl_s = 1 is outside 5..86400"), std::string::npos);
    EXPECT_NE(error_for(d, "[gpu]\nduplicate_window_s = 100000\n").find("gpu.duplicate_window_s"), std::string::npos);
    EXPECT_NE(error_for(d, "[gpu]\nchip_table = 3\n").find("gpu.chip_table must be a string"), std::string::npos);
}

}  // namespace
}  // namespace custos::verifier
