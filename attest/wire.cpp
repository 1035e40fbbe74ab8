#include "attest/wire.hpp"

#include <boost/json.hpp>
#include <sodium.h>

#include <algorithm>
#include <charconv>
#include <map>

#include "attest/tpm_alg.hpp"
#include "crypto/base64.hpp"
#include "crypto/digest.hpp"
#include "crypto/strict_json.hpp"

namespace custos::attest {
namespace json = boost::json;
namespace {

constexpr std::size_t hash_size = 32;

json::string_view sv(const std::string& s) { return {s.data(), s.size()}; }

// `ext` must itself be a JSON object; it is embedded as parsed (so it re-serialises canonically).
result<json::value> parse_ext(std::string_view ext, std::string_view what) {
    CUSTOS_TRY(v, sjson::parse(ext, what, 12));
    if (!v.is_object()) return make_error(errc::structure, std::string(what) + " must be a JSON object");
    return v;
}

bytes to_bytes(const std::string& s) { return bytes(s.begin(), s.end()); }

}  // namespace

bytes encode_report(const report& r) {
    json::object o;
    o["v"] = 1;
    o["host"] = sv(r.host);
    o["seq"] = r.seq;
    o["prev"] = to_hex(r.prev);
    o["time"] = r.time;
    o["clock"] = r.clock;
    o["key"] = to_base64(r.key);
    auto ext = parse_ext(r.ext, "report ext");
    o["ext"] = ext ? std::move(ext).value() : json::value(json::object{});
    return to_bytes(json::serialize(o));
}

result<report> parse_report(byte_view body) {
    if (body.size() > max_report_size)
        return make_error(errc::parse, "report is " + std::to_string(body.size()) + " bytes; the limit is " +
                                           std::to_string(max_report_size));
    std::string_view text(reinterpret_cast<const char*>(body.data()), body.size());
    CUSTOS_TRY(v, sjson::parse(text, "report", 12));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "report"));
    CUSTOS_TRY_VOID(o.only({"v", "host", "seq", "prev", "time", "clock", "key", "ext"}));
    CUSTOS_TRY(version, o.u64("v"));
    if (version != 1) return make_error(errc::unsupported, "report version " + std::to_string(version) + " is not 1");
    report r;
    CUSTOS_TRY(host, o.str("host"));
    r.host = std::move(host);
    CUSTOS_TRY(seq, o.u64("seq"));
    if (seq == 0) return o.bad("seq", "must be 1 or more");
    r.seq = seq;
    CUSTOS_TRY(prev, o.hex("prev", hash_size));
    r.prev = std::move(prev);
    CUSTOS_TRY(time, o.i64("time"));
    r.time = time;
    CUSTOS_TRY(clock, o.u64("clock"));
    r.clock = clock;
    CUSTOS_TRY(key, o.b64("key"));
    if (key.size() != report_key_size) return o.bad("key", "must be a 32-byte Ed25519 public key");
    r.key = std::move(key);
    CUSTOS_TRY(ext, o.value("ext"));
    if (!ext->is_object()) return o.bad("ext", "must be an object");
    r.ext = json::serialize(*ext);
    return r;
}

bytes report_hash(byte_view body) { return sha256(body); }

namespace {
bytes signing_input(byte_view body) {
    bytes in(report_signature_tag.begin(), report_signature_tag.end());
    in.push_back(0);
    append(in, body);
    return in;
}
}  // namespace

bytes sign_report(byte_view body, const secret_bytes& secret_key) {
    bytes sig(crypto_sign_BYTES);
    if (secret_key.size() != crypto_sign_SECRETKEYBYTES) return {};
    const bytes in = signing_input(body);
    crypto_sign_detached(sig.data(), nullptr, in.data(), in.size(), secret_key.data());
    return sig;
}

result<void> verify_report_signature(byte_view body, byte_view signature, byte_view key) {
    if (key.size() != crypto_sign_PUBLICKEYBYTES)
        return make_error(errc::structure, "report key is " + std::to_string(key.size()) + " bytes, not 32");
    if (signature.size() != crypto_sign_BYTES)
        return make_error(errc::structure, "report signature is " + std::to_string(signature.size()) + " bytes, not 64");
    const bytes in = signing_input(body);
    if (crypto_sign_verify_detached(signature.data(), in.data(), in.size(), key.data()) != 0)
        return make_error(errc::signature, "report signature does not verify with the report key");
    return {};
}

bytes report_key_qualification(byte_view nonce, byte_view key, std::uint64_t prev_seq, byte_view prev_hash) {
    hasher h(hash_alg::sha256);
    h.update(as_bytes(report_key_binding_tag));
    h.update(nonce);
    h.update(key);
    unsigned char seq[8];
    for (int i = 0; i < 8; ++i) seq[i] = static_cast<unsigned char>(prev_seq >> (56 - 8 * i));
    h.update(byte_view(seq, 8));
    h.update(prev_hash);
    return h.finish();
}

bytes evidence_qualification(byte_view nonce, byte_view evidence) {
    const bytes inner = sha256(evidence);
    hasher h(hash_alg::sha256);
    h.update(nonce);
    h.update(inner);
    return h.finish();
}

bytes encode_evidence(const evidence& e) {
    json::object o;
    o["v"] = 1;
    o["host"] = sv(e.host);
    o["time"] = e.time;
    o["report_key"] = to_base64(e.report_key);
    json::object head;
    head["seq"] = e.head_seq;
    head["hash"] = to_hex(e.head_hash);
    o["report_head"] = std::move(head);
    auto ext = parse_ext(e.ext, "evidence ext");
    o["ext"] = ext ? std::move(ext).value() : json::value(json::object{});
    return to_bytes(json::serialize(o));
}

result<evidence> parse_evidence(byte_view body) {
    if (body.size() > max_evidence_size)
        return make_error(errc::parse, "evidence is " + std::to_string(body.size()) + " bytes; the limit is " +
                                           std::to_string(max_evidence_size));
    std::string_view text(reinterpret_cast<const char*>(body.data()), body.size());
    CUSTOS_TRY(v, sjson::parse(text, "evidence", 16));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "evidence"));
    CUSTOS_TRY_VOID(o.only({"v", "host", "time", "report_key", "report_head", "ext"}));
    CUSTOS_TRY(version, o.u64("v"));
    if (version != 1) return make_error(errc::unsupported, "evidence version " + std::to_string(version) + " is not 1");
    evidence e;
    CUSTOS_TRY(host, o.str("host"));
    e.host = std::move(host);
    CUSTOS_TRY(time, o.i64("time"));
    e.time = time;
    CUSTOS_TRY(key, o.b64("report_key"));
    if (key.size() != report_key_size) return o.bad("report_key", "must be a 32-byte Ed25519 public key");
    e.report_key = std::move(key);
    CUSTOS_TRY(head, o.obj("report_head"));
    CUSTOS_TRY_VOID(head.only({"seq", "hash"}));
    CUSTOS_TRY(seq, head.u64("seq"));
    e.head_seq = seq;
    CUSTOS_TRY(hash, head.hex("hash", hash_size));
    e.head_hash = std::move(hash);
    CUSTOS_TRY(ext, o.value("ext"));
    if (!ext->is_object()) return o.bad("ext", "must be an object");
    e.ext = json::serialize(*ext);
    // The ext must read back under the same limits encode_evidence applies (depth 12), or what was
    // accepted here would not survive being written again (found by fuzz_evidence).
    if (auto again = parse_ext(e.ext, "evidence ext"); !again) return o.bad("ext", again.err().message);
    return e;
}

json::object pcrs_to_json(const pcr_values& values) {
    json::object out;
    for (const auto& v : values) {
        const std::string bank = tpm_alg_name(v.bank);
        auto& b = out[sv(bank)];
        if (!b.is_object()) b = json::object{};
        b.as_object()[sv(std::to_string(v.index))] = to_hex(v.digest);
    }
    return out;
}

result<pcr_values> pcrs_from_json(const json::value& v, const TPML_PCR_SELECTION& sel) {
    CUSTOS_TRY(o, sjson::object_reader::of(v, "pcrs"));
    pcr_values out;
    std::size_t banks_seen = 0;
    for (std::uint32_t b = 0; b < std::min<std::uint32_t>(sel.count, TPM2_NUM_PCR_BANKS); ++b) {
        const auto& s = sel.pcrSelections[b];
        const auto alg = to_hash_alg(s.hash);
        if (!alg) return make_error(errc::unsupported, "PCR bank " + tpm_alg_name(s.hash) + " is not supported");
        const std::string bank = tpm_alg_name(s.hash);
        if (!o.has(bank)) return o.bad(bank, "is missing: the selection includes this bank");
        CUSTOS_TRY(bo, o.obj(bank));
        ++banks_seen;
        std::size_t selected = 0;
        for (unsigned i = 0; i < std::min<unsigned>(s.sizeofSelect, sizeof s.pcrSelect) * 8u; ++i) {
            if (!(s.pcrSelect[i / 8] & (1u << (i % 8)))) continue;
            ++selected;
            const std::string idx = std::to_string(i);
            if (!bo.has(idx)) return bo.bad(idx, "is missing: PCR " + idx + " is selected");
            CUSTOS_TRY(d, bo.hex(idx, digest_size(*alg)));
            out.push_back(pcr_value{s.hash, i, std::move(d)});
        }
        if (bo.raw().size() != selected)
            return make_error(errc::structure, "pcrs." + bank + ": holds PCRs that are not in the selection");
    }
    if (o.raw().size() != banks_seen)
        return make_error(errc::structure, "pcrs: holds a bank that is not in the selection");
    return out;
}

json::object quote_to_json(byte_view attest, byte_view signature, const pcr_values& values) {
    json::object o;
    o["attest"] = to_base64(attest);
    o["signature"] = to_base64(signature);
    o["pcrs"] = pcrs_to_json(values);
    return o;
}

result<wire_quote> quote_from_json(const json::value& v, std::string_view where) {
    CUSTOS_TRY(o, sjson::object_reader::of(v, std::string(where)));
    CUSTOS_TRY_VOID(o.only({"attest", "signature", "pcrs"}));
    wire_quote q;
    CUSTOS_TRY(a, o.b64("attest"));
    q.attest = std::move(a);
    CUSTOS_TRY(s, o.b64("signature"));
    q.signature = std::move(s);
    CUSTOS_TRY(p, o.value("pcrs"));
    q.pcrs = *p;
    return q;
}

}  // namespace custos::attest
