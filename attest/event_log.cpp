#include "attest/event_log.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>

#include "attest/le_reader.hpp"

namespace custos::attest {
namespace {

constexpr char spec_id_signature[16] = "Spec ID Event03";    // with its NUL: 16 bytes
constexpr char startup_locality_signature[16] = "StartupLocality";  // with its NUL: 16 bytes
constexpr std::size_t max_algorithms = 8;
constexpr std::size_t max_event_data = 16u << 20;  // one event's data; firmware blobs stay far below

// TCG algorithm ids (TPM_ALG_ID) of the banks a replay can compute.
std::optional<hash_alg> tcg_hash(std::uint16_t id) {
    switch (id) {
        case 0x0004: return hash_alg::sha1;
        case 0x000b: return hash_alg::sha256;
        case 0x000c: return hash_alg::sha384;
        case 0x000d: return hash_alg::sha512;
        default: return std::nullopt;
    }
}
std::uint16_t tcg_id(hash_alg a) {
    switch (a) {
        case hash_alg::sha1: return 0x0004;
        case hash_alg::sha256: return 0x000b;
        case hash_alg::sha384: return 0x000c;
        case hash_alg::sha512: return 0x000d;
    }
    return 0;
}

std::string hex16(std::uint16_t v) {
    char b[8];
    std::snprintf(b, sizeof b, "0x%04x", v);
    return b;
}

// The Spec ID event's data (TCG_EfiSpecIdEvent), which must fill `data` exactly.
result<void> parse_spec_id(byte_view data, std::size_t base, boot_log& log) {
    le_reader r(data, "boot event log: Spec ID event");
    auto at = [&](std::size_t off) { return base + off; };
    CUSTOS_TRY(sig, r.take(16, "signature"));
    if (std::memcmp(sig.data(), spec_id_signature, 16) != 0)
        return make_error(errc::parse, "boot event log at offset " + std::to_string(at(0)) +
                                           ": the first event is not a \"Spec ID Event03\" (not a crypto-agile log)");
    CUSTOS_TRY(pc, r.u32("platformClass"));
    CUSTOS_TRY(minor, r.u8("specVersionMinor"));
    CUSTOS_TRY(major, r.u8("specVersionMajor"));
    CUSTOS_TRY(errata, r.u8("specErrata"));
    CUSTOS_TRY(uintn, r.u8("uintnSize"));
    log.platform_class = pc;
    log.spec_minor = minor;
    log.spec_major = major;
    log.spec_errata = errata;
    log.uintn_size = uintn;
    if (major != 2)
        return make_error(errc::parse, "boot event log at offset " + std::to_string(at(21)) + ": spec version " +
                                           std::to_string(major) + "." + std::to_string(minor) + " is not 2.x");
    const std::size_t count_at = r.offset();
    CUSTOS_TRY(n, r.u32("numberOfAlgorithms"));
    if (n == 0 || n > max_algorithms)
        return make_error(errc::parse, "boot event log at offset " + std::to_string(at(count_at)) + ": " +
                                           std::to_string(n) + " digest algorithms (1.." + std::to_string(max_algorithms) + " expected)");
    std::set<hash_alg> seen;
    for (std::uint32_t i = 0; i < n; ++i) {
        const std::size_t alg_at = r.offset();
        CUSTOS_TRY(id, r.u16("algorithmId"));
        CUSTOS_TRY(size, r.u16("digestSize"));
        const auto alg = tcg_hash(id);
        if (!alg)
            return make_error(errc::parse, "boot event log at offset " + std::to_string(at(alg_at)) + ": algorithm " +
                                               hex16(id) + " is not SHA-1, SHA-256, SHA-384 or SHA-512");
        if (size != digest_size(*alg))
            return make_error(errc::parse, "boot event log at offset " + std::to_string(at(alg_at)) + ": " +
                                               hash_name(*alg) + " digests are " + std::to_string(digest_size(*alg)) +
                                               " bytes, the header says " + std::to_string(size));
        if (!seen.insert(*alg).second)
            return make_error(errc::parse, "boot event log at offset " + std::to_string(at(alg_at)) + ": " +
                                               hash_name(*alg) + " is listed twice");
        log.algorithms.push_back(*alg);
    }
    CUSTOS_TRY(vsize, r.u8("vendorInfoSize"));
    CUSTOS_TRY(vendor, r.take(vsize, "vendorInfo"));
    (void)vendor;
    if (!r.done())
        return make_error(errc::parse, "boot event log at offset " + std::to_string(at(r.offset())) + ": " +
                                           std::to_string(r.left()) + " bytes after the Spec ID event's vendor info");
    return {};
}

}  // namespace

result<boot_log> parse_boot_log(byte_view data) {
    le_reader r(data, "boot event log");
    boot_log log;
    // The header: a TCG_PCR_EVENT in the SHA-1 log format.
    if (data.empty()) return r.fail(0, "the log is empty");
    CUSTOS_TRY(pcr0, r.u32("header pcrIndex"));
    CUSTOS_TRY(type0, r.u32("header eventType"));
    CUSTOS_TRY(digest0, r.take(20, "header digest"));
    (void)digest0;
    if (pcr0 != 0 || type0 != ev_no_action)
        return r.fail(0, "the first event is type " + std::to_string(type0) + " in PCR " + std::to_string(pcr0) +
                             ", not the Spec ID event (EV_NO_ACTION in PCR 0): a SHA-1-only (TPM 1.2 format) log, "
                             "or not an event log; only crypto-agile logs are read");
    const std::size_t size_at = r.offset();
    CUSTOS_TRY(size0, r.u32("header eventSize"));
    if (size0 > max_event_data) return r.fail(size_at, "the Spec ID event claims " + std::to_string(size0) + " bytes");
    const std::size_t spec_at = r.offset();
    CUSTOS_TRY(spec, r.take(size0, "Spec ID event data"));
    CUSTOS_TRY_VOID(parse_spec_id(spec, spec_at, log));

    bool seen_locality = false;
    while (!r.done()) {
        boot_event e;
        e.offset = r.offset();
        CUSTOS_TRY(pcr, r.u32("pcrIndex"));
        CUSTOS_TRY(type, r.u32("eventType"));
        if (pcr > max_event_pcr)
            return r.fail(e.offset, "event names PCR " + std::to_string(pcr) + " (0.." + std::to_string(max_event_pcr) + ")");
        e.pcr = pcr;
        e.type = type;
        const std::size_t count_at = r.offset();
        CUSTOS_TRY(count, r.u32("digest count"));
        if (count != log.algorithms.size())
            return r.fail(count_at, "event carries " + std::to_string(count) + " digests, the header lists " +
                                        std::to_string(log.algorithms.size()) + " algorithms");
        for (std::uint32_t i = 0; i < count; ++i) {
            const std::size_t alg_at = r.offset();
            CUSTOS_TRY(id, r.u16("digest algorithm"));
            const auto alg = tcg_hash(id);
            if (!alg || std::find(log.algorithms.begin(), log.algorithms.end(), *alg) == log.algorithms.end())
                return r.fail(alg_at, "digest algorithm " + hex16(id) + " is not one the header lists");
            if (e.digests.count(*alg)) return r.fail(alg_at, std::string(hash_name(*alg)) + " digest given twice");
            CUSTOS_TRY(d, r.take(digest_size(*alg), "digest"));
            e.digests[*alg] = bytes(d.begin(), d.end());
        }
        const std::size_t esize_at = r.offset();
        CUSTOS_TRY(esize, r.u32("eventSize"));
        if (esize > max_event_data)
            return r.fail(esize_at, "event claims " + std::to_string(esize) + " bytes of data (at most " +
                                        std::to_string(max_event_data) + ")");
        CUSTOS_TRY(ed, r.take(esize, "event data"));
        e.data.assign(ed.begin(), ed.end());
        if (type == ev_no_action && pcr == 0 && e.data.size() == 17 &&
            std::memcmp(e.data.data(), startup_locality_signature, 16) == 0) {
            if (seen_locality) return r.fail(e.offset, "a second StartupLocality event");
            if (std::any_of(log.events.begin(), log.events.end(), [](const boot_event& x) { return x.pcr == 0 && x.type != ev_no_action; }))
                return r.fail(e.offset, "StartupLocality after PCR 0 was extended");
            if (e.data[16] > 4) return r.fail(e.offset, "StartupLocality " + std::to_string(e.data[16]) + " (0..4)");
            log.startup_locality = e.data[16];
            seen_locality = true;
        }
        log.events.push_back(std::move(e));
    }
    return log;
}

pcr_banks replay_boot_log(const boot_log& log) {
    pcr_banks out;
    for (const auto alg : log.algorithms) {
        auto& bank = out[alg];
        for (const auto& e : log.events) {
            if (e.type == ev_no_action) continue;
            auto it = bank.find(e.pcr);
            if (it == bank.end()) {
                bytes init(digest_size(alg), 0);
                if (e.pcr == 0) init.back() = log.startup_locality;
                it = bank.emplace(e.pcr, std::move(init)).first;
            }
            hasher h(alg);
            h.update(it->second).update(e.digests.at(alg));
            it->second = h.finish();
        }
        if (bank.empty()) out.erase(alg);
    }
    return out;
}

bytes serialize_boot_log(const std::vector<hash_alg>& algorithms, const std::vector<boot_event>& events) {
    bytes spec(spec_id_signature, spec_id_signature + 16);
    put_u32le(spec, 0);  // platformClass: client
    spec.push_back(0);   // specVersionMinor
    spec.push_back(2);   // specVersionMajor
    spec.push_back(0);   // specErrata
    spec.push_back(2);   // uintnSize: 64-bit UINTN
    put_u32le(spec, static_cast<std::uint32_t>(algorithms.size()));
    for (const auto a : algorithms) {
        put_u16le(spec, tcg_id(a));
        put_u16le(spec, static_cast<std::uint16_t>(digest_size(a)));
    }
    spec.push_back(0);  // vendorInfoSize

    bytes out;
    put_u32le(out, 0);
    put_u32le(out, ev_no_action);
    out.insert(out.end(), 20, 0);
    put_u32le(out, static_cast<std::uint32_t>(spec.size()));
    append(out, spec);
    for (const auto& e : events) {
        put_u32le(out, e.pcr);
        put_u32le(out, e.type);
        put_u32le(out, static_cast<std::uint32_t>(algorithms.size()));
        for (const auto a : algorithms) {
            put_u16le(out, tcg_id(a));
            auto it = e.digests.find(a);
            if (it != e.digests.end()) append(out, it->second);
            else out.insert(out.end(), digest_size(a), 0);
        }
        put_u32le(out, static_cast<std::uint32_t>(e.data.size()));
        append(out, e.data);
    }
    return out;
}

boot_event measured_event(std::uint32_t pcr, std::uint32_t type, byte_view data, const std::vector<hash_alg>& algorithms) {
    boot_event e;
    e.pcr = pcr;
    e.type = type;
    e.data.assign(data.begin(), data.end());
    for (const auto a : algorithms) e.digests[a] = digest(a, data);
    return e;
}

std::string pcr_banks_to_json(const pcr_banks& banks) {
    boost::json::object o;
    for (const auto& [alg, bank] : banks) {
        boost::json::object b;
        for (const auto& [pcr, value] : bank) b[std::to_string(pcr)] = to_hex(value);
        o[hash_name(alg)] = std::move(b);
    }
    return boost::json::serialize(o);
}

result<pcr_banks> pcr_banks_from_json(std::string_view json_text) {
    auto bad = [](const std::string& why) { return make_error(errc::parse, "PCR values: " + why); };
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(json_text, ec);
    if (ec || !v.is_object()) return bad("not a JSON object");
    pcr_banks out;
    for (const auto& [name, bank] : v.as_object()) {
        std::optional<hash_alg> alg;
        for (const auto a : {hash_alg::sha1, hash_alg::sha256, hash_alg::sha384, hash_alg::sha512})
            if (name == hash_name(a)) alg = a;
        if (!alg) return bad("unknown bank \"" + std::string(name) + "\"");
        if (!bank.is_object()) return bad("bank " + std::string(name) + " is not an object");
        auto& b = out[*alg];
        for (const auto& [idx, hex] : bank.as_object()) {
            const std::string i(idx);
            if (i.empty() || i.size() > 2 || i.find_first_not_of("0123456789") != std::string::npos || std::stoul(i) > max_event_pcr)
                return bad("PCR index \"" + i + "\"");
            if (!hex.is_string()) return bad("PCR " + i + " is not a hex string");
            auto d = from_hex(std::string_view(hex.as_string()));
            if (!d || d->size() != digest_size(*alg)) return bad(std::string(name) + " PCR " + i + " is not a " + hash_name(*alg) + " digest");
            b[static_cast<std::uint32_t>(std::stoul(i))] = std::move(*d);
        }
    }
    return out;
}

}  // namespace custos::attest
