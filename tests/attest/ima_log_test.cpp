// attest/ima_log: entries laid out as the kernel writes them (checked against template hashes real kernels
// computed), the SHA-1 and SHA-256 folds, violations, and every malformed list refused with its offset.
#include "attest/ima_log.hpp"

#include <gtest/gtest.h>

#include "attest/le_reader.hpp"

namespace custos::attest {
namespace {

bytes hex(std::string_view h) { return *from_hex(h); }

// An entry built byte by byte, independently of make_ima_entry/serialize_ima_log.
bytes raw_entry(std::uint32_t pcr, byte_view template_hash, const std::string& name, byte_view data) {
    bytes out;
    put_u32le(out, pcr);
    append(out, template_hash);
    put_u32le(out, static_cast<std::uint32_t>(name.size()));
    append(out, as_bytes(name));
    put_u32le(out, static_cast<std::uint32_t>(data.size()));
    append(out, data);
    return out;
}
bytes ng_data(const std::string& alg, byte_view file_hash, const std::string& path) {
    bytes d(alg.begin(), alg.end());
    d.push_back(':');
    d.push_back(0);
    append(d, file_hash);
    bytes out;
    put_u32le(out, static_cast<std::uint32_t>(d.size()));
    append(out, d);
    put_u32le(out, static_cast<std::uint32_t>(path.size() + 1));
    append(out, as_bytes(path));
    out.push_back(0);
    return out;
}

// Lines of ascii_runtime_measurements from real kernels (a linux-security-module posting and a public
// attestation guide): PCR, the template hash the kernel computed, the file's SHA-256, the path.
struct kernel_line {
    std::uint32_t pcr;
    const char* template_hash;
    const char* file_sha256;
    const char* path;
};
const kernel_line kernel_lines[] = {
    {11, "50b5a68bea0776a84eef6725f17ce474756e51c0", "15e1efee080fe54f5d7404af7e913de01671e745ce55215d89f3d6521d3884f0", "/root/cat"},
    {10, "bb24b135e1c911c97aad8f1c1863efc08cd44c11", "d41dd4adacf5a35df426461dd8a92d7bdd5ba29bb61a1c3531bec0ada386f8dd",
     "/usr/lib/x86_64-linux-gnu/libresolv.so.2"},
};

TEST(ImaLog, TemplateDataIsLaidOutAsTheKernelHashesIt) {
    for (const auto& k : kernel_lines) {
        const bytes data = ng_data("sha256", hex(k.file_sha256), k.path);
        EXPECT_EQ(to_hex(digest(hash_alg::sha1, data)), k.template_hash) << k.path;
        const ima_entry e = make_ima_entry(k.pcr, k.path, hex(k.file_sha256));
        EXPECT_EQ(e.template_data, data);
        EXPECT_EQ(to_hex(e.template_hash), k.template_hash);
        auto parsed = parse_ima_log(raw_entry(k.pcr, hex(k.template_hash), "ima-ng", data));
        ASSERT_TRUE(parsed.ok()) << parsed.err().message;
        ASSERT_EQ(parsed->size(), 1u);
        EXPECT_EQ((*parsed)[0].path, k.path);
        EXPECT_EQ((*parsed)[0].file_hash_alg, "sha256");
        EXPECT_EQ(to_hex((*parsed)[0].file_hash), k.file_sha256);
        EXPECT_EQ((*parsed)[0].pcr, k.pcr);
    }
}

TEST(ImaLog, Sha1FoldsTemplateHashesSha256FoldsTheDataAndViolationsExtendAllOnes) {
    std::vector<ima_entry> es;
    es.push_back(make_ima_entry(10, "boot_aggregate", digest(hash_alg::sha256, as_bytes("aggregate"))));
    es.push_back(make_ima_entry(10, "/usr/bin/custos-agent", digest(hash_alg::sha256, as_bytes("agent"))));
    ima_entry violation = make_ima_entry(10, "/var/log/syslog", bytes(32, 0));
    violation.template_hash.assign(20, 0);
    es.push_back(violation);
    es.push_back(make_ima_entry(10, "/usr/bin/bash", digest(hash_alg::sha256, as_bytes("bash")), true, hex("030204aabbccdd")));
    auto parsed = parse_ima_log(serialize_ima_log(es));
    ASSERT_TRUE(parsed.ok()) << parsed.err().message;
    ASSERT_EQ(parsed->size(), 4u);
    EXPECT_TRUE((*parsed)[2].violation());
    EXPECT_EQ((*parsed)[3].template_name, "ima-sig");
    EXPECT_EQ((*parsed)[3].signature, hex("030204aabbccdd"));

    bytes s1(20, 0), s256(32, 0);
    for (const auto& e : es) {
        const bool v = e.template_hash == bytes(20, 0);
        s1 = digest(hash_alg::sha1, [&] { bytes b = s1; append(b, v ? bytes(20, 0xff) : e.template_hash); return b; }());
        s256 = digest(hash_alg::sha256, [&] { bytes b = s256; append(b, v ? bytes(32, 0xff) : digest(hash_alg::sha256, e.template_data)); return b; }());
    }
    const auto banks = replay_ima_log(*parsed);
    EXPECT_EQ(banks.at(hash_alg::sha1).at(10), s1);
    EXPECT_EQ(banks.at(hash_alg::sha256).at(10), s256);
    EXPECT_EQ(banks.at(hash_alg::sha1).size(), 1u);

    // Incremental: the last two entries replayed from the values after the first two give the same result.
    const std::vector<ima_entry> head(parsed->begin(), parsed->begin() + 2), tail(parsed->begin() + 2, parsed->end());
    EXPECT_EQ(replay_ima_log(tail, replay_ima_log(head)), banks);
}

TEST(ImaLog, EveryTruncationIsRefusedWithTheEntryAndOffset) {
    bytes data = serialize_ima_log({make_ima_entry(10, "/a", bytes(32, 1)), make_ima_entry(10, "/bb", bytes(32, 2), true)});
    const std::size_t first_len = serialize_ima_log({make_ima_entry(10, "/a", bytes(32, 1))}).size();
    ASSERT_TRUE(parse_ima_log(data).ok());
    for (std::size_t n = 1; n < data.size(); ++n) {
        auto r = parse_ima_log(byte_view(data).first(n));
        if (n == first_len) {
            ASSERT_TRUE(r.ok());
            EXPECT_EQ(r->size(), 1u);
            continue;
        }
        ASSERT_FALSE(r.ok()) << n;
        EXPECT_EQ(r.err().code, errc::parse);
        EXPECT_NE(r.err().message.find("IMA "), std::string::npos) << r.err().message;
        EXPECT_NE(r.err().message.find(n < first_len ? "entry 0" : "entry 1"), std::string::npos) << n << ": " << r.err().message;
        EXPECT_NE(r.err().message.find("truncated"), std::string::npos) << n << ": " << r.err().message;
    }
    EXPECT_TRUE(parse_ima_log({}).ok());  // an empty list: nothing measured yet
}

TEST(ImaLog, AnEntryEditedAfterItWasMeasuredHasATemplateHashThatIsNotItsDatas) {
    auto es = std::vector<ima_entry>{make_ima_entry(10, "boot_aggregate", bytes(32, 1)), make_ima_entry(10, "/usr/bin/x", bytes(32, 2))};
    EXPECT_FALSE(first_template_hash_mismatch(es).has_value());
    ima_entry violation = make_ima_entry(10, "/v", bytes(32, 3));
    violation.template_hash.assign(20, 0);
    es.push_back(violation);
    EXPECT_FALSE(first_template_hash_mismatch(es).has_value()) << "a violation's zero hash is not a mismatch";
    es[1].template_data[12] ^= 1;  // a byte of the file digest
    auto parsed = parse_ima_log(serialize_ima_log(es));
    ASSERT_TRUE(parsed.ok()) << "structurally sound";
    EXPECT_EQ(first_template_hash_mismatch(*parsed), std::optional<std::size_t>(1));
}

TEST(ImaLog, MalformedEntriesAreRefusedSayingWhy) {
    const bytes h32(32, 7);
    const bytes good_data = ng_data("sha256", h32, "/usr/bin/x");
    const bytes th = digest(hash_alg::sha1, good_data);
    struct c {
        const char* what;
        bytes list;
        const char* expect;
    };
    auto with_data = [&](const bytes& d) { return raw_entry(10, digest(hash_alg::sha1, d), "ima-ng", d); };
    bytes sig_missing = raw_entry(10, th, "ima-sig", good_data);
    bytes extra = good_data;
    extra.push_back(0);
    const std::vector<c> cases = {
        {"template", raw_entry(10, th, "ima", good_data), "template \"ima\" (only ima-ng and ima-sig are read)"},
        {"empty name", raw_entry(10, th, "", good_data), "template name of 0 bytes"},
        {"PCR 24", raw_entry(24, th, "ima-ng", good_data), "PCR 24 (0..23)"},
        {"digest size", with_data(ng_data("sha256", bytes(20, 7), "/x")), "sha256 digest of 20 bytes (32 expected)"},
        {"unknown algorithm", with_data(ng_data("crc32", bytes(4, 7), "/x")), "unknown file digest algorithm \"crc32\""},
        {"no colon", with_data([] { bytes d; put_u32le(d, 3); d.insert(d.end(), {'a', 'b', 'c'}); put_u32le(d, 2); d.insert(d.end(), {'/', 0}); return d; }()),
         "the d-ng field is not \"ALG:\" NUL DIGEST"},
        {"path without NUL", with_data([&] { bytes d = ng_data("sha256", h32, "/x"); d.back() = 'y'; return d; }()),
         "the path (n-ng) is not NUL-terminated"},
        {"NUL in path", with_data(ng_data("sha256", h32, std::string("/a\0b", 4))), "the path (n-ng) holds a NUL"},
        {"sig field missing", sig_missing, "sig field needs 4 bytes"},
        {"bytes after the fields", with_data(extra), "1 bytes after the last field of ima-ng"},
        {"huge data", [&] { bytes e = raw_entry(10, th, "ima-ng", good_data); e[20 + 4 + 4 + 6] = 0xff; e[20 + 4 + 4 + 6 + 3] = 0x7f; return e; }(),
         "template data of"},
    };
    for (const auto& k : cases) {
        bytes list = serialize_ima_log({make_ima_entry(10, "boot_aggregate", h32)});
        const std::size_t at = list.size();
        append(list, k.list);
        auto r = parse_ima_log(list);
        ASSERT_FALSE(r.ok()) << k.what;
        EXPECT_EQ(r.err().code, errc::parse) << k.what;
        EXPECT_NE(r.err().message.find(k.expect), std::string::npos) << k.what << ": " << r.err().message;
        EXPECT_NE(r.err().message.find("entry 1"), std::string::npos) << k.what << ": " << r.err().message;
        (void)at;
    }
}

}  // namespace
}  // namespace custos::attest
