// Fuzz target: attest::verify_quote over arbitrary attestation, signature and PCR-file bytes.
// Input: u16 LE attest length || u16 LE signature length || attest || signature || quote.pcrs (the rest,
// optional). Lengths are clamped to what is there. The AK is a fixed P-256 key (the tpm2-tools test AK in
// tests/data/tpm2-tools/ecc), so the seed corpus holds real, valid quotes.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "attest/pcrs_file.hpp"
#include "attest/quote_verify.hpp"
#include "attest/tpm_public.hpp"

namespace {

// TPM2B_PUBLIC of tests/data/tpm2-tools/ecc/ak.pub: restricted ECDSA-SHA256 P-256 AK.
constexpr const char* ak_public_hex =
    "00580023000b00050072000000100018000b000300100020724184335a895c080d6dbd9cd3bac5d7a8929aa57e9424f8e43f21af0e"
    "85014600200a9a1ab075e060b9c3bec2cd6bd50faa1289abbcab28b38d61f043904d22670b";
constexpr const char* qualification_hex = "00112233445566778899aabbccddeeff";

// tss2-mu logs every rejected structure to stderr; that output is noise here.
const int quiet_tss = (setenv("TSS2_LOG", "all+NONE", 0), 0);

struct fixture {
    custos::ossl::pkey_ptr ak;
    custos::bytes qualification;
    TPML_PCR_SELECTION selection{};
    fixture() {
        auto pub = custos::attest::unmarshal_public(*custos::from_hex(ak_public_hex));
        if (!pub.ok()) std::abort();
        auto key = custos::attest::public_to_pkey(pub->publicArea);
        if (!key.ok()) std::abort();
        ak = std::move(*key);
        qualification = *custos::from_hex(qualification_hex);
        selection = *custos::attest::parse_pcr_selection("sha256:0,1,2,3,4,5,6,7,16");
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const fixture fx;
    (void)quiet_tss;
    if (size < 4) return 0;
    std::size_t attest_len = data[0] | data[1] << 8;
    std::size_t sig_len = data[2] | data[3] << 8;
    custos::byte_view rest(data + 4, size - 4);
    attest_len = std::min(attest_len, rest.size());
    const auto attest = rest.first(attest_len);
    rest = rest.subspan(attest_len);
    sig_len = std::min(sig_len, rest.size());
    const auto signature = rest.first(sig_len);
    rest = rest.subspan(sig_len);

    std::optional<custos::attest::pcrs_file> pcrs;
    if (!rest.empty()) {
        auto p = custos::attest::parse_pcrs_file(rest);
        if (p.ok()) pcrs = std::move(*p);
    }
    for (const TPML_PCR_SELECTION* expected : {static_cast<const TPML_PCR_SELECTION*>(nullptr), &fx.selection}) {
        custos::attest::quote_input in;
        in.attest = attest;
        in.signature = signature;
        in.ak = fx.ak.get();
        in.qualification = fx.qualification;
        in.expected_selection = expected;
        in.pcrs = pcrs ? &pcrs->values : nullptr;
        auto r = custos::attest::verify_quote(in);
        if (r.ok()) {
            // Only a real quote by this AK gets here: what it reports must be what it was given.
            if (r.info().pcrs_checked != pcrs.has_value()) std::abort();
            if (expected && !custos::attest::same_selection(r.info().selection, *expected)) std::abort();
        } else {
            const std::string prefix = std::string(custos::attest::quote_step_name(r.err().step)) + ": ";
            if (r.err().message.compare(0, prefix.size(), prefix) != 0) std::abort();
        }
    }
    return 0;
}
