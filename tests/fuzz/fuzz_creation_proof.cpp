// Fuzz target: attest::verify_creation_proof over arbitrary blobs, and attest::parse_bound_key over the rest.
// Input: seven fields, each a u16 LE length and that many bytes (clamped to what is there): the AK's TPM2B_PUBLIC,
// the nonce, the expected policy, then the proof's key_public, creation_data, attest and signature; whatever
// follows is a bound key file. The seeds hold real proofs and key files from swtpm (tests/int/bound_key_test.cpp
// writes them when CUSTOS_WRITE_FUZZ_SEEDS names a directory), so the signature check is reached.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "attest/bound_key.hpp"
#include "attest/tpm_public.hpp"

namespace {

// tss2-mu logs every rejected structure to stderr; that output is noise here.
const int quiet_tss = (setenv("TSS2_LOG", "all+NONE", 0), 0);

custos::byte_view take(custos::byte_view& rest) {
    if (rest.size() < 2) {
        rest = {};
        return {};
    }
    std::size_t n = rest[0] | rest[1] << 8;
    rest = rest.subspan(2);
    n = std::min(n, rest.size());
    auto out = rest.first(n);
    rest = rest.subspan(n);
    return out;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    (void)quiet_tss;
    custos::byte_view rest(data, size);
    const auto ak_public = take(rest);
    const auto nonce = take(rest);
    const auto policy = take(rest);
    custos::attest::creation_proof proof;
    for (custos::bytes* field : {&proof.key_public, &proof.creation_data, &proof.attest, &proof.signature}) {
        const auto b = take(rest);
        field->assign(b.begin(), b.end());
    }

    custos::ossl::pkey_ptr ak;
    if (auto pub = custos::attest::unmarshal_public(ak_public); pub.ok())
        if (auto k = custos::attest::public_to_pkey(pub->publicArea); k.ok()) ak = std::move(*k);
    auto r = custos::attest::verify_creation_proof(proof, ak.get(), nonce, policy);
    if (r.ok()) {
        // Only a real proof gets here: the key it returns is the one sent, and a bound key for this policy.
        using custos::attest::marshal_public_area;
        auto sent = custos::attest::unmarshal_public(proof.key_public);
        if (!sent.ok() || marshal_public_area(*r) != marshal_public_area(sent->publicArea)) std::abort();
        if (!custos::attest::check_bound_key_public(*r, policy).ok()) std::abort();
    } else {
        const std::string& m = r.err().message;
        if (!starts_with(m, "creation proof: parse: ") && !starts_with(m, "creation proof: structure: ") &&
            !starts_with(m, "creation proof: signature: "))
            std::abort();
    }

    auto key = custos::attest::parse_bound_key(rest);
    if (key.ok()) {
        // A parsed key file re-serialises to the same bytes: the parser accepts exactly one encoding.
        auto again = custos::attest::serialize_bound_key(*key);
        if (again.size() != rest.size() || !std::equal(again.begin(), again.end(), rest.begin())) std::abort();
    }
    return 0;
}
