#include "attest/pcr_selection.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <optional>

#include "attest/tpm_alg.hpp"
#include "crypto/digest.hpp"
#include "crypto/ossl.hpp"

namespace custos::attest {

namespace {

// tpm2-tools selections cover PCRs 0..23 (three select bytes): the PC Client platform's PCR count.
constexpr unsigned max_pcr_index = 23;
constexpr std::uint8_t parsed_select_size = 3;

std::optional<TPMI_ALG_HASH> parse_bank(std::string_view name) {
    struct bank_name {
        std::string_view name;
        TPMI_ALG_HASH alg;
    };
    static constexpr bank_name banks[] = {
        {"sha1", TPM2_ALG_SHA1}, {"sha256", TPM2_ALG_SHA256}, {"sha384", TPM2_ALG_SHA384}, {"sha512", TPM2_ALG_SHA512}};
    for (const auto& b : banks)
        if (name == b.name) return b.alg;
    if (name.size() > 2 && name[0] == '0' && (name[1] == 'x' || name[1] == 'X')) {
        unsigned id = 0;
        auto digits = name.substr(2);
        auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id, 16);
        if (ec != std::errc() || p != digits.data() + digits.size() || id > 0xffff) return std::nullopt;
        if (to_hash_alg(static_cast<TPMI_ALG_HASH>(id))) return static_cast<TPMI_ALG_HASH>(id);
    }
    return std::nullopt;
}

error syntax_error(std::string_view text, const std::string& why) {
    return make_error(errc::invalid_argument, "PCR selection \"" + std::string(text) + "\": " + why +
                                                  " (expected e.g. \"sha256:0,1,2,3\" or \"sha1:0+sha256:all\")");
}

// Bytes of a bank's select array that count: sizeofSelect, bounded by the array.
unsigned select_bytes(const TPMS_PCR_SELECTION& s) noexcept {
    return std::min<unsigned>(s.sizeofSelect, sizeof s.pcrSelect);
}

unsigned bank_count(const TPML_PCR_SELECTION& sel) noexcept {
    return std::min<unsigned>(sel.count, TPM2_NUM_PCR_BANKS);
}

bool is_selected(const TPMS_PCR_SELECTION& s, unsigned i) noexcept {
    return i / 8 < select_bytes(s) && (s.pcrSelect[i / 8] & (1u << (i % 8))) != 0;
}

}  // namespace

result<TPML_PCR_SELECTION> parse_pcr_selection(std::string_view text) {
    TPML_PCR_SELECTION sel{};
    if (text.empty()) return syntax_error(text, "empty");
    std::string_view rest = text;
    while (true) {
        auto plus = rest.find('+');
        std::string_view part = rest.substr(0, plus);
        auto colon = part.find(':');
        if (colon == std::string_view::npos) return syntax_error(text, "\"" + std::string(part) + "\" has no ':'");
        auto bank_name = part.substr(0, colon);
        auto list = part.substr(colon + 1);
        auto alg = parse_bank(bank_name);
        if (!alg)
            return syntax_error(text, "unknown PCR bank \"" + std::string(bank_name) +
                                          "\" (sha1, sha256, sha384, sha512)");
        if (sel.count == TPM2_NUM_PCR_BANKS) return syntax_error(text, "more than 16 banks");
        for (UINT32 b = 0; b < sel.count; ++b)
            if (sel.pcrSelections[b].hash == *alg)
                return syntax_error(text, "bank " + tpm_alg_name(*alg) + " appears twice");
        TPMS_PCR_SELECTION& bank = sel.pcrSelections[sel.count++];
        bank.hash = *alg;
        bank.sizeofSelect = parsed_select_size;
        if (list.empty()) return syntax_error(text, "bank " + tpm_alg_name(*alg) + " lists no PCRs");
        if (list == "all") {
            std::fill_n(bank.pcrSelect, parsed_select_size, 0xff);
        } else {
            std::string_view items = list;
            while (true) {
                auto comma = items.find(',');
                std::string_view item = items.substr(0, comma);
                unsigned idx = 0;
                auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), idx, 10);
                if (item.empty() || item.size() > 2 || ec != std::errc() || p != item.data() + item.size())
                    return syntax_error(text, "\"" + std::string(item) + "\" is not a PCR index");
                if (idx > max_pcr_index)
                    return syntax_error(text, "PCR " + std::to_string(idx) + " is out of range 0..23");
                if (bank.pcrSelect[idx / 8] & (1u << (idx % 8)))
                    return syntax_error(text, "PCR " + std::to_string(idx) + " appears twice in bank " +
                                                  tpm_alg_name(*alg));
                bank.pcrSelect[idx / 8] |= static_cast<BYTE>(1u << (idx % 8));
                if (comma == std::string_view::npos) break;
                items.remove_prefix(comma + 1);
            }
        }
        if (plus == std::string_view::npos) break;
        rest.remove_prefix(plus + 1);
    }
    return sel;
}

std::string format_pcr_selection(const TPML_PCR_SELECTION& sel) {
    std::string out;
    for (unsigned b = 0; b < bank_count(sel); ++b) {
        const auto& bank = sel.pcrSelections[b];
        if (b) out += '+';
        out += tpm_alg_name(bank.hash);
        out += ':';
        bool first = true;
        for (unsigned i = 0; i < select_bytes(bank) * 8; ++i) {
            if (!is_selected(bank, i)) continue;
            if (!first) out += ',';
            out += std::to_string(i);
            first = false;
        }
        if (first) out += "none";
    }
    return out;
}

bool same_selection(const TPML_PCR_SELECTION& a, const TPML_PCR_SELECTION& b) noexcept {
    if (a.count != b.count || a.count > TPM2_NUM_PCR_BANKS) return false;
    for (UINT32 k = 0; k < a.count; ++k) {
        const auto& x = a.pcrSelections[k];
        const auto& y = b.pcrSelections[k];
        if (x.hash != y.hash) return false;
        for (unsigned i = 0; i < sizeof x.pcrSelect; ++i) {
            BYTE bx = i < select_bytes(x) ? x.pcrSelect[i] : 0;
            BYTE by = i < select_bytes(y) ? y.pcrSelect[i] : 0;
            if (bx != by) return false;
        }
    }
    return true;
}

std::size_t selection_count(const TPML_PCR_SELECTION& sel) noexcept {
    std::size_t n = 0;
    for (unsigned b = 0; b < bank_count(sel); ++b) {
        const auto& bank = sel.pcrSelections[b];
        for (unsigned i = 0; i < select_bytes(bank); ++i) n += static_cast<std::size_t>(std::popcount(bank.pcrSelect[i]));
    }
    return n;
}

result<void> check_pcr_values(const TPML_PCR_SELECTION& sel, const pcr_values& values) {
    if (sel.count > TPM2_NUM_PCR_BANKS)
        return make_error(errc::structure, "PCR selection has " + std::to_string(sel.count) + " banks; at most 16");
    std::size_t v = 0;
    for (UINT32 b = 0; b < sel.count; ++b) {
        const auto& bank = sel.pcrSelections[b];
        if (bank.sizeofSelect > sizeof bank.pcrSelect)
            return make_error(errc::structure, "PCR selection bank " + tpm_alg_name(bank.hash) + " has sizeofSelect " +
                                                   std::to_string(bank.sizeofSelect) + "; at most 4");
        auto h = to_hash_alg(bank.hash);
        if (!h) return make_error(errc::unsupported, "PCR bank " + tpm_alg_name(bank.hash) + " is not supported");
        for (unsigned i = 0; i < select_bytes(bank) * 8u; ++i) {
            if (!is_selected(bank, i)) continue;
            const std::string pcr = tpm_alg_name(bank.hash) + ":" + std::to_string(i);
            if (v >= values.size())
                return make_error(errc::mismatch, "no value for selected PCR " + pcr + " (" +
                                                      std::to_string(values.size()) + " values for " +
                                                      std::to_string(selection_count(sel)) + " selected PCRs)");
            const auto& val = values[v++];
            if (val.bank != bank.hash || val.index != i)
                return make_error(errc::mismatch, "value " + std::to_string(v - 1) + " is for PCR " +
                                                      tpm_alg_name(val.bank) + ":" + std::to_string(val.index) +
                                                      ", the selection needs " + pcr + " there");
            if (val.digest.size() != digest_size(*h))
                return make_error(errc::mismatch, "value of PCR " + pcr + " has " + std::to_string(val.digest.size()) +
                                                      " bytes, the bank's digest has " +
                                                      std::to_string(digest_size(*h)));
        }
    }
    if (v != values.size())
        return make_error(errc::mismatch, std::to_string(values.size()) + " PCR values for " + std::to_string(v) +
                                              " selected PCRs (" + format_pcr_selection(sel) + ")");
    return {};
}

result<bytes> pcr_composite_digest(TPMI_ALG_HASH hash, const TPML_PCR_SELECTION& sel, const pcr_values& values) {
    auto h = to_hash_alg(hash);
    if (!h) return make_error(errc::unsupported, "PCR digest hash " + tpm_alg_name(hash) + " is not supported");
    CUSTOS_TRY_VOID(check_pcr_values(sel, values));
    // One context, no intermediate buffer: this runs once per appraised quote.
    ossl::md_ctx_ptr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestInit_ex(ctx.get(), evp_md(*h), nullptr) != 1) return ossl::crypto_error("EVP_DigestInit_ex");
    for (const auto& v : values)
        if (EVP_DigestUpdate(ctx.get(), v.digest.data(), v.digest.size()) != 1)
            return ossl::crypto_error("EVP_DigestUpdate");
    bytes out(digest_size(*h));
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(ctx.get(), out.data(), &n) != 1 || n != out.size())
        return ossl::crypto_error("EVP_DigestFinal_ex");
    return out;
}

}  // namespace custos::attest
