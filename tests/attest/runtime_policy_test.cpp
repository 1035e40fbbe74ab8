// attest/runtime_policy: the allow-list format, the appraisal of IMA entries against it (agent-modified,
// ima-unknown-file, excludes, violations) and building a list from a directory tree.
#include "attest/runtime_policy.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/process.hpp"

namespace custos::attest {
namespace {

namespace fs = std::filesystem;

bytes h(const std::string& s) { return digest(hash_alg::sha256, as_bytes(s)); }

runtime_policy sample_policy() {
    runtime_policy p;
    p.entries.push_back({"/usr/bin/custos-agent", {h("agent v1"), h("agent v2")}, true});
    p.entries.push_back({"/usr/lib/x86_64-linux-gnu/libcustos*.so*", {h("libcustos")}, true});
    p.entries.push_back({"/usr/bin/bash", {h("bash")}, false});
    p.entries.push_back({"/usr/lib/*", {h("libc"), h("libssl")}, false});
    p.excludes = {"/var/log/*", "/tmp/*"};
    return p;
}

TEST(RuntimePolicy, RoundTripsThroughItsJson) {
    const runtime_policy p = sample_policy();
    auto back = parse_runtime_policy(runtime_policy_to_json(p));
    ASSERT_TRUE(back.ok()) << back.err().message;
    ASSERT_EQ(back->entries.size(), p.entries.size());
    for (std::size_t i = 0; i < p.entries.size(); ++i) {
        EXPECT_EQ(back->entries[i].path, p.entries[i].path);
        EXPECT_EQ(back->entries[i].sha256, p.entries[i].sha256);
        EXPECT_EQ(back->entries[i].agent, p.entries[i].agent);
    }
    EXPECT_EQ(back->excludes, p.excludes);
}

TEST(RuntimePolicy, MalformedPoliciesAreRefusedNamingTheField) {
    const std::string d = std::string(64, 'a');
    const std::pair<std::string, std::string> cases[] = {
        {"{", "runtime policy"},
        {R"({"version":2,"entries":[]})", "\"version\""},
        {R"({"version":1,"entries":[],"extra":1})", "extra"},
        {R"({"version":1,"entries":[{"path":"usr/bin/x","sha256":[")" + d + R"("],"agent":true}]})", "absolute"},
        {R"({"version":1,"entries":[{"path":"/x","sha256":["abc"],"agent":true}]})", "64-character hex"},
        {R"({"version":1,"entries":[{"path":"/x","sha256":[")" + std::string(64, 'z') + R"("],"agent":true}]})", "64-character hex"},
        {R"({"version":1,"entries":[{"path":"/x","sha256":[],"agent":true}]})", "at least one digest"},
        {R"({"version":1,"entries":[{"path":"/x","sha256":["0x)" + std::string(62, 'a') + R"("],"agent":true}]})", "64-character hex"},
        {R"({"version":1,"entries":[{"path":"/x","sha256":[")" + d + R"("],"agent":"yes"}]})", "\"agent\""},
        {R"({"version":1,"entries":[{"path":"/x","sha256":[")" + d + R"("]}]})", "custos-agent's own binaries"},
        {R"({"version":1,"entries":[{"path":"/x","sha256":[")" + d + R"("],"agent":true}],"excludes":["tmp"]})", "excludes"},
    };
    for (const auto& [text, expect] : cases) {
        auto r = parse_runtime_policy(text);
        ASSERT_FALSE(r.ok()) << text;
        EXPECT_NE(r.err().message.find(expect), std::string::npos) << text << ": " << r.err().message;
    }
}

TEST(RuntimePolicy, AgentFilesOutsideTheListAreAgentModifiedOtherUnknownFilesAWarning) {
    const runtime_policy p = sample_policy();
    std::vector<ima_entry> es = {
        make_ima_entry(10, "boot_aggregate", h("aggregate")),
        make_ima_entry(10, "/usr/bin/custos-agent", h("agent v2")),                  // allowed
        make_ima_entry(10, "/usr/lib/x86_64-linux-gnu/libcustos.so.1", h("libcustos")),  // allowed (agent glob)
        make_ima_entry(10, "/usr/lib/x86_64-linux-gnu/libc.so.6", h("libc")),        // allowed by /usr/lib/*
        make_ima_entry(10, "/var/log/syslog", h("anything")),                          // excluded
        make_ima_entry(10, "/usr/bin/bash", h("bash")),                                // allowed
    };
    EXPECT_TRUE(appraise_runtime(p, es).empty());

    es.push_back(make_ima_entry(10, "/usr/bin/custos-agent", h("agent patched")));   // 6
    es.push_back(make_ima_entry(10, "/usr/bin/custos-agent", h("agent patched 2")));  // same path: one finding
    es.push_back(make_ima_entry(10, "/usr/bin/bash", h("bash trojan")));              // 8: known path, unknown digest
    es.push_back(make_ima_entry(10, "/opt/miner/xmrig", h("miner")));                 // 9: in no entry
    ima_entry violation = make_ima_entry(10, "/usr/bin/custos-agent", bytes(32, 0));
    violation.template_hash.assign(20, 0);
    es.push_back(violation);  // a measurement violation is folded, not appraised
    const auto f = appraise_runtime(p, es, 100);
    ASSERT_EQ(f.size(), 3u);
    EXPECT_EQ(f[0].rule, "agent-modified");
    EXPECT_EQ(f[0].path, "/usr/bin/custos-agent");
    EXPECT_EQ(f[0].entry, 106u);
    EXPECT_NE(f[0].detail.find("sha256:" + to_hex(h("agent patched")).substr(0, 16)), std::string::npos) << f[0].detail;
    EXPECT_NE(f[0].detail.find("IMA entry 106"), std::string::npos) << f[0].detail;
    EXPECT_EQ(f[1].rule, "ima-unknown-file");
    EXPECT_EQ(f[1].path, "/usr/bin/bash");
    EXPECT_NE(f[1].detail.find("a digest its runtime policy entry does not list"), std::string::npos) << f[1].detail;
    EXPECT_EQ(f[2].rule, "ima-unknown-file");
    EXPECT_EQ(f[2].path, "/opt/miner/xmrig");
    EXPECT_NE(f[2].detail.find("is in no runtime policy entry"), std::string::npos) << f[2].detail;
}

TEST(RuntimePolicy, AFileMeasuredWithAnotherAlgorithmCannotBeAllowed) {
    ima_entry e = make_ima_entry(10, "/usr/bin/custos-agent", h("agent v1"));
    e.file_hash_alg = "sha1";
    e.file_hash = digest(hash_alg::sha1, as_bytes("agent v1"));
    const auto f = appraise_runtime(sample_policy(), {e});
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].rule, "agent-modified");
    EXPECT_NE(f[0].detail.find("measured with sha1:"), std::string::npos) << f[0].detail;
}

TEST(RuntimePolicy, BuiltFromATreeItAllowsExactlyWhatIsThere) {
    test::temp_dir d("custos-rtpol");
    const fs::path root = d.path() / "root";
    fs::create_directories(root / "usr/bin");
    fs::create_directories(root / "var/log");
    std::ofstream(root / "usr/bin/custos-agent") << "agent build 42";
    std::ofstream(root / "usr/bin/bash") << "bash";
    std::ofstream(root / "var/log/syslog") << "changes all the time";
    fs::create_symlink("bash", root / "usr/bin/sh");
    auto p = build_runtime_policy(root, {"/var/log/*"}, {"*/custos-agent"});
    ASSERT_TRUE(p.ok()) << p.err().message;
    ASSERT_EQ(p->entries.size(), 2u) << "the symlink and the excluded file are left out";
    EXPECT_EQ(p->entries[0].path, "/usr/bin/bash");
    EXPECT_FALSE(p->entries[0].agent);
    EXPECT_EQ(p->entries[1].path, "/usr/bin/custos-agent");
    EXPECT_TRUE(p->entries[1].agent);
    EXPECT_EQ(p->entries[1].sha256, std::vector<bytes>{h("agent build 42")});
    EXPECT_EQ(p->excludes, std::vector<std::string>{"/var/log/*"});
    EXPECT_TRUE(appraise_runtime(*p, {make_ima_entry(10, "/usr/bin/custos-agent", h("agent build 42"))}).empty());
    EXPECT_EQ(appraise_runtime(*p, {make_ima_entry(10, "/usr/bin/custos-agent", h("agent build 43"))}).at(0).rule, "agent-modified");

    auto none = build_runtime_policy(root, {}, {"*/not-there"});
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.err().message.find("matches the agent globs"), std::string::npos);
    EXPECT_FALSE(build_runtime_policy(root / "missing", {}, {"*"}).ok());
}

}  // namespace
}  // namespace custos::attest
