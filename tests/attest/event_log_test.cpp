// attest/event_log: real firmware logs replay to the PCR values tpm2_eventlog computes; logs we write are
// read by tpm2_eventlog with the same values; every malformed log is refused with its offset.
#include "attest/event_log.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <fstream>
#include <sstream>

#include "attest/le_reader.hpp"
#include "tests/attest/test_data.hpp"
#include "tests/support/process.hpp"

namespace custos::attest {
namespace {

namespace fs = std::filesystem;
const fs::path log_dir = fs::path(CUSTOS_TEST_DATA_DIR) / "eventlog";
const std::vector<hash_alg> both = {hash_alg::sha1, hash_alg::sha256};

boost::json::value json_of(const std::string& s) {
    boost::system::error_code ec;
    auto v = boost::json::parse(s, ec);
    EXPECT_FALSE(ec) << s;
    return v;
}

std::string text_of(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The "pcrs:" section of tpm2_eventlog's YAML, as {"sha1":{"0":"hex"},…}.
boost::json::object tpm2_eventlog_pcrs(const std::string& yaml) {
    boost::json::object out;
    const auto at = yaml.find("\npcrs:\n");
    if (at == std::string::npos) return out;
    std::istringstream in(yaml.substr(at + 7));
    std::string line, bank;
    while (std::getline(in, line)) {
        if (line.rfind("    ", 0) == 0 && !bank.empty()) {
            const auto colon = line.find(':');
            std::string k = line.substr(0, colon), v = line.substr(colon + 1);
            k.erase(0, k.find_first_not_of(' '));
            k.erase(k.find_last_not_of(' ') + 1);
            v.erase(0, v.find_first_not_of(' '));
            if (v.rfind("0x", 0) == 0) v = v.substr(2);
            for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            out[bank].as_object()[k] = v;
        } else if (line.rfind("  ", 0) == 0 && line.back() == ':') {
            bank = line.substr(2, line.size() - 3);
            out[bank] = boost::json::object{};
        } else {
            break;
        }
    }
    return out;
}

// A small log: StartupLocality 3, CRTM version and POST code into PCR 0, a separator in 0-7, an IPL into 4.
std::vector<boot_event> sample_events() {
    std::vector<boot_event> ev;
    boot_event loc;
    loc.pcr = 0;
    loc.type = ev_no_action;
    loc.data.assign(reinterpret_cast<const std::uint8_t*>("StartupLocality"), reinterpret_cast<const std::uint8_t*>("StartupLocality") + 16);
    loc.data.push_back(3);
    for (const auto a : both) loc.digests[a] = bytes(digest_size(a), 0);
    ev.push_back(loc);
    ev.push_back(measured_event(0, ev_s_crtm_version, as_bytes("custos test firmware 1.0"), both));
    ev.push_back(measured_event(0, ev_post_code, as_bytes("POST CODE"), both));
    for (std::uint32_t pcr = 0; pcr < 8; ++pcr) ev.push_back(measured_event(pcr, ev_separator, bytes(4, 0), both));
    ev.push_back(measured_event(4, ev_ipl, as_bytes("grubx64.efi"), both));
    return ev;
}

TEST(EventLog, RealFirmwareLogsReplayToTheValuesTpm2EventlogComputes) {
    int checked = 0;
    for (const char* name : {"event-arch-linux", "event-bootorder", "event-gce-ubuntu-2104-log", "event-moklisttrusted",
                             "event-postcode", "event-sd-boot-fedora37"}) {
        const bytes data = load(log_dir / (std::string(name) + ".bin"));
        auto log = parse_boot_log(data);
        ASSERT_TRUE(log.ok()) << name << ": " << log.err().message;
        EXPECT_GT(log->events.size(), 10u) << name;
        const auto ours = json_of(pcr_banks_to_json(replay_boot_log(*log)));
        const auto theirs = json_of(text_of(log_dir / (std::string(name) + ".pcrs.json")));
        EXPECT_EQ(ours, theirs) << name;
        ++checked;
    }
    EXPECT_EQ(checked, 6);
    // The GCE log carries three banks, each with PCRs 0-9 and 14.
    auto gce = parse_boot_log(load(log_dir / "event-gce-ubuntu-2104-log.bin"));
    ASSERT_TRUE(gce.ok());
    EXPECT_EQ(gce->algorithms, (std::vector<hash_alg>{hash_alg::sha1, hash_alg::sha256, hash_alg::sha384}));
    EXPECT_EQ(replay_boot_log(*gce).at(hash_alg::sha384).size(), 11u);
}

TEST(EventLog, NonConformingLogsAreRefusedSayingWhy) {
    auto sha1_only = parse_boot_log(load(log_dir / "event-uefi-sha1-log.bin"));
    ASSERT_FALSE(sha1_only.ok());
    EXPECT_EQ(sha1_only.err().code, errc::parse);
    EXPECT_NE(sha1_only.err().message.find("at offset 0: the first event is type 8 in PCR 0"), std::string::npos)
        << sha1_only.err().message;
    EXPECT_NE(sha1_only.err().message.find("only crypto-agile logs are read"), std::string::npos);
    auto few_digests = parse_boot_log(load(log_dir / "event-uefivar.bin"));
    ASSERT_FALSE(few_digests.ok());
    EXPECT_EQ(few_digests.err().message,
              "boot event log at offset 85: event carries 2 digests, the header lists 4 algorithms");
}

TEST(EventLog, ReplayStartsPcr0AtTheStartupLocalityAndSkipsNoActionEvents) {
    const auto ev = sample_events();
    auto log = parse_boot_log(serialize_boot_log(both, ev));
    ASSERT_TRUE(log.ok()) << log.err().message;
    EXPECT_EQ(log->startup_locality, 3);
    EXPECT_EQ(log->events.size(), ev.size());
    const auto banks = replay_boot_log(*log);
    for (const auto a : both) {
        // By hand: PCR 0 = H(H(H(0..03 || crtm) || post) || sep), PCR 4 = H(H(0 || sep) || ipl).
        bytes p0(digest_size(a), 0);
        p0.back() = 3;
        for (const auto* e : {&ev[1], &ev[2], &ev[3]}) p0 = hasher(a).update(p0).update(e->digests.at(a)).finish();
        bytes p4(digest_size(a), 0);
        for (const auto* e : {&ev[7], &ev[11]}) p4 = hasher(a).update(p4).update(e->digests.at(a)).finish();
        EXPECT_EQ(banks.at(a).at(0), p0) << hash_name(a);
        EXPECT_EQ(banks.at(a).at(4), p4) << hash_name(a);
        EXPECT_EQ(banks.at(a).size(), 8u) << "PCRs 0-7, and only those";
    }
}

TEST(EventLog, Tpm2EventlogReadsTheLogsWeWriteAndComputesOurValues) {
    if (test::run_process({"tpm2_eventlog", "--help"}).exit_code == 127) GTEST_SKIP() << "tpm2_eventlog is not installed";
    test::temp_dir dir("custos-eventlog");
    for (const auto& algs : {both, std::vector<hash_alg>{hash_alg::sha256}, std::vector<hash_alg>{hash_alg::sha256, hash_alg::sha384}}) {
        // Without the StartupLocality event: tpm2-tools 5.4 (bookworm) starts PCR 0 at zero regardless; later
        // versions apply it as we do (lib/tpm2_eventlog.c), which ReplayStartsPcr0AtTheStartupLocality checks.
        std::vector<boot_event> ev;
        auto sample = sample_events();
        sample.erase(sample.begin());
        for (const auto& e : sample) {
            boot_event x = e;
            x.digests.clear();
            for (const auto a : algs) x.digests[a] = e.type == ev_no_action ? bytes(digest_size(a), 0) : digest(a, e.data);
            ev.push_back(x);
        }
        const bytes data = serialize_boot_log(algs, ev);
        const fs::path f = dir.path() / "log.bin";
        std::ofstream(f, std::ios::binary).write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
        auto r = test::run_process({"tpm2_eventlog", f.string()});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        auto log = parse_boot_log(data);
        ASSERT_TRUE(log.ok()) << log.err().message;
        const auto theirs = tpm2_eventlog_pcrs(r.out);
        EXPECT_EQ(theirs.size(), algs.size()) << r.out;
        EXPECT_EQ(json_of(pcr_banks_to_json(replay_boot_log(*log))), boost::json::value(theirs)) << r.out;
    }
}

TEST(EventLog, EveryTruncationIsRefusedWithItsOffset) {
    const bytes data = serialize_boot_log(both, sample_events());
    ASSERT_TRUE(parse_boot_log(data).ok());
    for (std::size_t n = 0; n < data.size(); ++n) {
        auto r = parse_boot_log(byte_view(data).first(n));
        // A cut exactly between two events is a shorter valid log; any other cut is refused.
        if (r.ok()) {
            EXPECT_LT(r->events.size(), sample_events().size()) << n;
            continue;
        }
        EXPECT_EQ(r.err().code, errc::parse) << n;
        EXPECT_NE(r.err().message.find("boot event log"), std::string::npos) << r.err().message;
        EXPECT_NE(r.err().message.find(n == 0 ? "empty" : "truncated"), std::string::npos) << n << ": " << r.err().message;
    }
}

TEST(EventLog, StructuralLiesAreRefusedWithOffsetAndReason) {
    const bytes good = serialize_boot_log(both, sample_events());
    auto parsed = parse_boot_log(good);
    ASSERT_TRUE(parsed.ok());
    const std::size_t first = parsed->events[0].offset;  // the StartupLocality event
    const std::size_t second = parsed->events[1].offset;
    auto patched = [&](std::size_t at, std::initializer_list<std::uint8_t> b) {
        bytes d = good;
        std::copy(b.begin(), b.end(), d.begin() + static_cast<std::ptrdiff_t>(at));
        return d;
    };
    struct c {
        const char* what;
        bytes data;
        std::string expect;
    };
    const std::vector<c> cases = {
        {"PCR 24", patched(second, {24, 0, 0, 0}), "offset " + std::to_string(second) + ": event names PCR 24"},
        {"digest count", patched(second + 8, {3, 0, 0, 0}), "event carries 3 digests, the header lists 2"},
        {"an algorithm not in the header", patched(second + 12, {0x0c, 0}), "digest algorithm 0x000c is not one the header lists"},
        {"an algorithm twice", patched(second + 12 + 22, {0x04, 0}), "sha1 digest given twice"},
        {"huge event size", patched(second + 12 + 22 + 34, {0xff, 0xff, 0xff, 0x7f}), "of data (at most"},
        {"event size past the end", patched(second + 12 + 22 + 34, {0xff, 0xff, 0, 0}), "truncated"},
        {"signature", patched(32, {'X'}), "is not a \"Spec ID Event03\""},
        {"spec major", patched(32 + 21, {1}), "spec version 1.0 is not 2.x"},
        {"no algorithms", patched(32 + 24, {0, 0, 0, 0}), "0 digest algorithms"},
        {"unknown algorithm", patched(32 + 28, {0x12, 0}), "algorithm 0x0012 is not SHA-1"},
        {"wrong digest size", patched(32 + 30, {32}), "sha1 digests are 20 bytes, the header says 32"},
        {"same algorithm twice", patched(32 + 32, {0x04, 0, 20, 0}), "sha1 is listed twice"},
        {"a second StartupLocality", [&] {
             auto ev = sample_events();
             ev.push_back(ev[0]);
             return serialize_boot_log(both, ev);
         }(), "a second StartupLocality event"},
        {"StartupLocality 5", patched(first + 12 + 22 + 34 + 4 + 16, {5}), "StartupLocality 5 (0..4)"},
    };
    for (const auto& k : cases) {
        auto r = parse_boot_log(k.data);
        ASSERT_FALSE(r.ok()) << k.what;
        EXPECT_EQ(r.err().code, errc::parse) << k.what;
        EXPECT_NE(r.err().message.find(k.expect), std::string::npos) << k.what << ": " << r.err().message;
        EXPECT_NE(r.err().message.find("at offset "), std::string::npos) << k.what << ": " << r.err().message;
    }
    // Bytes after the vendor info, inside the Spec ID event.
    bytes extra = good;
    extra[28] = static_cast<std::uint8_t>(extra[28] + 1);  // header eventSize + 1
    extra.insert(extra.begin() + static_cast<std::ptrdiff_t>(first), 0);
    auto r = parse_boot_log(extra);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().message.find("1 bytes after the Spec ID event's vendor info"), std::string::npos) << r.err().message;
}

TEST(EventLog, AnEditedDroppedOrReorderedEventChangesTheReplay) {
    const auto ev = sample_events();
    const auto base = replay_boot_log(*parse_boot_log(serialize_boot_log(both, ev)));
    auto edited = ev;
    edited[4].digests[hash_alg::sha256][0] ^= 1;  // PCR 1's separator
    auto dropped = ev;
    dropped.erase(dropped.begin() + 2);  // the POST code
    auto reordered = ev;
    std::swap(reordered[1], reordered[2]);
    for (const auto* v : {&edited, &dropped, &reordered}) {
        const auto b = replay_boot_log(*parse_boot_log(serialize_boot_log(both, *v)));
        EXPECT_NE(b.at(hash_alg::sha256), base.at(hash_alg::sha256));
    }
    EXPECT_EQ(replay_boot_log(*parse_boot_log(serialize_boot_log(both, edited))).at(hash_alg::sha1), base.at(hash_alg::sha1))
        << "only the edited bank moves";
}

}  // namespace
}  // namespace custos::attest
