#include "attest/boot_appraisal.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>
#include <map>

#include "attest/tpm_alg.hpp"
#include "crypto/strict_json.hpp"

namespace custos::attest {
namespace {

namespace json = boost::json;

}  // namespace

std::string event_type_name(std::uint32_t type) {
    static const std::map<std::uint32_t, const char*> names = {
        {0x0, "EV_PREBOOT_CERT"}, {0x1, "EV_POST_CODE"}, {0x3, "EV_NO_ACTION"}, {0x4, "EV_SEPARATOR"}, {0x5, "EV_ACTION"},
        {0x6, "EV_EVENT_TAG"}, {0x7, "EV_S_CRTM_CONTENTS"}, {0x8, "EV_S_CRTM_VERSION"}, {0x9, "EV_CPU_MICROCODE"},
        {0xa, "EV_PLATFORM_CONFIG_FLAGS"}, {0xb, "EV_TABLE_OF_DEVICES"}, {0xc, "EV_COMPACT_HASH"}, {0xd, "EV_IPL"},
        {0xe, "EV_IPL_PARTITION_DATA"}, {0xf, "EV_NONHOST_CODE"}, {0x10, "EV_NONHOST_CONFIG"}, {0x11, "EV_NONHOST_INFO"},
        {0x12, "EV_OMIT_BOOT_DEVICE_EVENTS"}, {0x80000001, "EV_EFI_VARIABLE_DRIVER_CONFIG"},
        {0x80000002, "EV_EFI_VARIABLE_BOOT"}, {0x80000003, "EV_EFI_BOOT_SERVICES_APPLICATION"},
        {0x80000004, "EV_EFI_BOOT_SERVICES_DRIVER"}, {0x80000005, "EV_EFI_RUNTIME_SERVICES_DRIVER"},
        {0x80000006, "EV_EFI_GPT_EVENT"}, {0x80000007, "EV_EFI_ACTION"}, {0x80000008, "EV_EFI_PLATFORM_FIRMWARE_BLOB"},
        {0x80000009, "EV_EFI_HANDOFF_TABLES"}, {0x8000000a, "EV_EFI_PLATFORM_FIRMWARE_BLOB2"},
        {0x8000000b, "EV_EFI_HANDOFF_TABLES2"}, {0x8000000c, "EV_EFI_VARIABLE_BOOT2"}, {0x800000e0, "EV_EFI_VARIABLE_AUTHORITY"},
        {0x800000e1, "EV_EFI_SPDM_FIRMWARE_BLOB"}, {0x800000e2, "EV_EFI_SPDM_FIRMWARE_CONFIG"}};
    if (auto it = names.find(type); it != names.end()) return it->second;
    char b[16];
    std::snprintf(b, sizeof b, "0x%08x", type);
    return b;
}

std::vector<replay_mismatch> compare_replay(const pcr_values& quoted, const pcr_banks& replayed,
                                            const std::set<std::uint32_t>& pcrs, std::uint8_t locality) {
    std::vector<replay_mismatch> out;
    for (const auto& q : quoted) {
        if (!pcrs.count(q.index)) continue;
        const auto alg = to_hash_alg(q.bank);
        if (!alg) continue;
        const auto bank = replayed.find(*alg);
        if (bank == replayed.end()) continue;  // the logs do not carry this bank: nothing to compare
        bytes expected(digest_size(*alg), 0);
        if (q.index == 0) expected.back() = locality;
        if (auto it = bank->second.find(q.index); it != bank->second.end()) expected = it->second;
        if (expected != q.digest) out.push_back({*alg, q.index, q.digest, expected});
    }
    return out;
}

std::string describe(const replay_mismatch& m) {
    return std::string(hash_name(m.bank)) + " PCR " + std::to_string(m.pcr) + " is " + short_hex(m.quoted) +
           " in the quote but the logs replay to " + short_hex(m.replayed);
}

boot_reference boot_components(const boot_log& log) {
    boot_reference out;
    const hash_alg bank = std::find(log.algorithms.begin(), log.algorithms.end(), hash_alg::sha256) != log.algorithms.end()
                              ? hash_alg::sha256
                              : log.algorithms.front();
    for (const auto& e : log.events) {
        if (e.type == ev_no_action || e.pcr > 7) continue;
        out.push_back({e.pcr, e.type, e.digests.at(bank)});
    }
    return out;
}

std::string boot_reference_to_json(const boot_reference& r) {
    json::array a;
    for (const auto& c : r) a.push_back(json::object{{"pcr", c.pcr}, {"type", c.type}, {"digest", to_hex(c.digest)}});
    return json::serialize(json::object{{"components", std::move(a)}});
}

result<boot_reference> parse_boot_reference(std::string_view json_text) {
    CUSTOS_TRY(v, sjson::parse(json_text, "boot reference", 6));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "boot reference"));
    CUSTOS_TRY_VOID(o.only({"components"}));
    CUSTOS_TRY(arr, o.arr("components"));
    boot_reference out;
    for (std::size_t i = 0; i < arr->size(); ++i) {
        CUSTOS_TRY(c, sjson::object_reader::of((*arr)[i], "boot reference component " + std::to_string(i)));
        CUSTOS_TRY_VOID(c.only({"pcr", "type", "digest"}));
        CUSTOS_TRY(pcr, c.u64("pcr"));
        CUSTOS_TRY(type, c.u64("type"));
        CUSTOS_TRY(d, c.hex("digest"));
        if (pcr > 7) return c.bad("pcr", "must be 0..7");
        if (type > 0xffffffffu) return c.bad("type", "must be a 32-bit event type");
        if (d.size() != 20 && d.size() != 32 && d.size() != 48 && d.size() != 64) return c.bad("digest", "must be a SHA-1/256/384/512 digest");
        out.push_back({static_cast<std::uint32_t>(pcr), static_cast<std::uint32_t>(type), std::move(d)});
    }
    return out;
}

std::vector<std::string> diff_boot(const boot_reference& reference, const boot_reference& current) {
    std::map<std::uint32_t, std::vector<const boot_component*>> ref, cur;
    for (const auto& c : reference) ref[c.pcr].push_back(&c);
    for (const auto& c : current) cur[c.pcr].push_back(&c);
    std::vector<std::string> out;
    for (std::uint32_t pcr = 0; pcr <= 7; ++pcr) {
        const auto& a = ref[pcr];
        const auto& b = cur[pcr];
        const std::size_t common = std::min(a.size(), b.size());
        for (std::size_t i = 0; i < common; ++i) {
            if (a[i]->type != b[i]->type)
                out.push_back("PCR " + std::to_string(pcr) + " event " + std::to_string(i) + ": " + event_type_name(a[i]->type) +
                              " now " + event_type_name(b[i]->type));
            else if (a[i]->digest != b[i]->digest)
                out.push_back("PCR " + std::to_string(pcr) + " event " + std::to_string(i) + " (" + event_type_name(b[i]->type) +
                              "): digest " + short_hex(a[i]->digest) + " now " + short_hex(b[i]->digest));
        }
        if (b.size() > a.size()) {
            std::string types;
            for (std::size_t i = common; i < b.size(); ++i) types += (i > common ? ", " : "") + event_type_name(b[i]->type);
            out.push_back("PCR " + std::to_string(pcr) + ": " + std::to_string(b.size() - a.size()) + " event(s) more (" + types + ")");
        } else if (a.size() > b.size()) {
            std::string types;
            for (std::size_t i = common; i < a.size(); ++i) types += (i > common ? ", " : "") + event_type_name(a[i]->type);
            out.push_back("PCR " + std::to_string(pcr) + ": " + std::to_string(a.size() - b.size()) + " event(s) fewer (" + types + ")");
        }
    }
    return out;
}

}  // namespace custos::attest
