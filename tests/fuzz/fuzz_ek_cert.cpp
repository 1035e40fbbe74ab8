// Fuzz target: EK certificate parsing (DER with NV padding, or PEM) and CA bundle loading, then the read-only
// operations on whatever parsed.
#include <cstdint>
#include <cstdlib>

#include "attest/ek_cert.hpp"
#include "attest/templates.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace custos::attest;
    const custos::byte_view in(data, size);
    auto cert = parse_certificate(in);
    if (cert.ok()) {
        (void)certificate_subject(cert->get());
        (void)certificate_issuer(cert->get());
        (void)check_certificate_key(cert->get(), ek_template(ek_kind::ecc_p256).publicArea);
    }
    auto store = load_ca_bundle(in);
    // A self-signed PEM certificate is both: check it against itself.
    if (store.ok() && cert.ok()) (void)verify_certificate_chain(cert->get(), store->get());
    return 0;
}
