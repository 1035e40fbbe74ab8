#include "tools/custos/chain_check.hpp"

#include <boost/json.hpp>

#include "attest/tpm_public.hpp"
#include "attest/wire.hpp"
#include "crypto/strict_json.hpp"

namespace custos::cli {

result<chain_check> check_chain_export(const boost::json::value& v, const std::string& where, const chain_anchor* anchor) {
    CUSTOS_TRY(o, sjson::object_reader::of(v, where));
    CUSTOS_TRY(host, o.str("host"));
    CUSTOS_TRY(ak_b, o.b64("ak_public"));
    CUSTOS_TRY(from, o.u64("from_seq"));
    CUSTOS_TRY(rs, o.arr("reports"));
    CUSTOS_TRY(ks, o.arr("keys"));
    if (anchor && from != anchor->seq + 1)
        return make_error(errc::mismatch, where + " starts at report " + std::to_string(from) + ", not after report " +
                                              std::to_string(anchor->seq) + " the log recorded before the window");
    if (!anchor && from != 1)
        return make_error(errc::invalid_argument, where + " starts at report " + std::to_string(from) +
                                                      "; export the whole chain (custos fleet reports HOST --out FILE)");
    auto ak_pub = attest::unmarshal_public(ak_b);
    if (!ak_pub) return with_context(std::move(ak_pub).err(), where + ": ak_public");
    CUSTOS_TRY(ak, attest::public_to_pkey(ak_pub->publicArea));

    std::vector<attest::chain_key> keys;
    for (std::size_t i = 0; i < ks->size(); ++i) {
        CUSTOS_TRY(k, sjson::object_reader::of((*ks)[i], where + ": keys[" + std::to_string(i) + "]"));
        attest::chain_key c;
        CUSTOS_TRY(key, k.b64("key"));
        CUSTOS_TRY(f, k.u64("from_seq"));
        CUSTOS_TRY(b, k.str("binding"));
        c.key = std::move(key);
        c.from_seq = f;
        c.binding = std::move(b);
        if (const auto* u = k.raw().if_contains("until_seq"); u && !u->is_null()) {
            CUSTOS_TRY(until, k.u64("until_seq"));
            c.until_seq = until;
        }
        keys.push_back(std::move(c));
    }
    // Each key once: a key listed twice could carry two windows.
    for (std::size_t i = 0; i < keys.size(); ++i)
        for (std::size_t j = i + 1; j < keys.size(); ++j)
            if (equal_ct(keys[i].key, keys[j].key))
                return make_error(errc::mismatch, where + ": report key " + to_hex(keys[i].key).substr(0, 16) + " is listed twice");
    std::vector<attest::signed_report> reports;
    for (std::size_t i = 0; i < rs->size(); ++i) {
        CUSTOS_TRY(r, sjson::object_reader::of((*rs)[i], where + ": reports[" + std::to_string(i) + "]"));
        CUSTOS_TRY(body, r.b64("report"));
        CUSTOS_TRY(sig, r.b64("sig"));
        reports.push_back({std::move(body), std::move(sig)});
    }
    // Keys first: a report signed by a key whose binding does not verify proves nothing. A key bound before
    // bindings were recorded has nothing to check: its reports would rest on the verifier's word, so it fails.
    for (const auto& k : keys)
        if (auto b = attest::verify_key_binding(k, ak.get()); !b)
            return make_error(b.err().code == errc::structure ? errc::mismatch : b.err().code, "binding: " + b.err().message);
    auto chain = anchor ? attest::verify_report_chain(host, anchor->seq, anchor->hash, reports, keys)
                        : attest::verify_report_chain(host, 0, bytes(32, 0), reports, keys);
    // A signed report that does not even parse is a report that fails, not a malformed export.
    if (!chain)
        return make_error(chain.err().code == errc::structure || chain.err().code == errc::parse ? errc::mismatch : chain.err().code,
                          "chain: " + chain.err().message);
    chain_check out{host, std::move(chain).value(), keys.size(), {}, from, std::move(keys)};
    out.hashes.reserve(reports.size());
    for (const auto& r : reports) out.hashes.push_back(attest::report_hash(r.body));
    return out;
}

}  // namespace custos::cli
