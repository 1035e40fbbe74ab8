// custos tpm identity: verify the EK certificate chain, create an AK, and prove both share one TPM.
#include <sodium.h>

#include <iostream>
#include <memory>

#include "attest/credential.hpp"
#include "attest/ek_cert.hpp"
#include "attest/tcti.hpp"
#include "attest/tpm_device.hpp"
#include "attest/tpm_public.hpp"
#include "tools/custos/cli.hpp"
#include "tools/custos/cli_support.hpp"

namespace custos::cli {

namespace {

struct identity_opts {
    std::string tcti;
    std::string ek_ca;
    std::string ek = "auto";
    std::string key_alg = "ecc";
    bool json = false;
};

// Says what each step established, for people reading the terminal; silent with --json.
struct narrator {
    bool quiet;
    void step(const std::string& s) const {
        if (!quiet) std::cout << "  ok  " << s << "\n";
    }
};

int tpm_identity(const identity_opts& o) {
    const narrator say{o.json};
    auto ca_pem = read_input("--ek-ca", o.ek_ca, 4u << 20);
    if (!ca_pem.ok()) return fail("reading the EK CA bundle", ca_pem.err());
    auto store = attest::load_ca_bundle(*ca_pem);
    if (!store.ok()) return fail("--ek-ca " + o.ek_ca, store.err());
    auto alg = attest::parse_ak_alg(o.key_alg);
    if (!alg) return fail_usage("--key-alg must be ecc or rsa, not \"" + o.key_alg + "\"");

    attest::tpm_device tpm(attest::choose_tcti(o.tcti.empty() ? std::nullopt : std::optional(o.tcti), std::nullopt));
    auto vendor = tpm.vendor();
    if (!vendor.ok()) return fail("reading TPM properties", vendor.err());
    say.step("TPM reachable at " + tpm.tcti() + " (manufacturer " + vendor->manufacturer +
             (vendor->software ? ", software TPM" : "") + ")");

    // Which EK: the one asked for, or the first with a certificate in the TCG order.
    std::vector<attest::ek_kind> kinds;
    if (o.ek == "auto") {
        kinds.assign(std::begin(attest::all_ek_kinds), std::end(attest::all_ek_kinds));
    } else if (auto k = attest::parse_ek_kind(o.ek)) {
        kinds.push_back(*k);
    } else {
        return fail_usage("--ek must be auto, rsa2048, ecc-p256 or ecc-p384, not \"" + o.ek + "\"");
    }
    std::optional<attest::ek_kind> kind;
    bytes cert_der;
    for (auto k : kinds) {
        auto c = tpm.read_ek_certificate(k);
        if (!c.ok()) return fail("reading the EK certificate", c.err());
        if (*c) {
            kind = k;
            cert_der = std::move(**c);
            break;
        }
    }
    if (!kind)
        return fail("reading the EK certificate",
                    make_error(errc::structure, "the TPM holds no EK certificate at the TCG NV indices for " + o.ek));
    say.step(std::string("read the ") + attest::ek_kind_name(*kind) + " EK certificate from NV index 0x0" +
             [&] { char b[16]; std::snprintf(b, sizeof b, "%x", attest::ek_cert_nv_index(*kind)); return std::string(b); }());

    auto cert = attest::parse_certificate(cert_der);
    if (!cert.ok()) return fail("parsing the EK certificate", cert.err());
    if (auto v = attest::verify_certificate_chain(cert->get(), store->get()); !v.ok())
        return fail("EK certificate chain does not verify against " + o.ek_ca, v.err());
    say.step("EK certificate chain verifies against " + o.ek_ca + " (issuer " +
             attest::certificate_issuer(cert->get()) + ")");

    auto ek_pub = tpm.ek_public(*kind);
    if (!ek_pub.ok()) return fail("recreating the EK", ek_pub.err());
    if (auto m = attest::check_certificate_key(cert->get(), ek_pub->publicArea); !m.ok())
        return fail("the EK certificate does not certify this TPM's EK", m.err());
    say.step("the certificate's key is the EK the TPM recreated from the TCG template");

    auto ak = tpm.create_ak(*kind, *alg);
    if (!ak.ok()) return fail("creating the AK", ak.err());
    if (auto chk = attest::check_ak_attributes(ak->pub.publicArea); !chk.ok())
        return fail("the AK is not a valid attestation key", chk.err());
    auto ak_name = attest::object_name(ak->pub.publicArea);
    if (!ak_name.ok()) return fail("computing the AK name", ak_name.err());
    say.step("created an AK under the EK: restricted signing, fixedTPM, fixedParent, name " + to_hex(*ak_name));

    secret_bytes secret(32);
    randombytes_buf(secret.data(), secret.size());
    auto blob = attest::make_credential(ek_pub->publicArea, *ak_name, secret.view());
    if (!blob.ok()) return fail("MakeCredential", blob.err());
    auto recovered = tpm.activate_credential(*ak, *blob);
    if (!recovered.ok()) return fail("ActivateCredential", recovered.err());
    if (!equal_ct(recovered->view(), secret.view()))
        return fail("ActivateCredential", make_error(errc::mismatch, "the TPM returned a different secret"));
    say.step("MakeCredential (in software) / ActivateCredential (in the TPM): AK and EK share this TPM");

    auto ek_key = attest::public_to_pkey(ek_pub->publicArea);
    if (!ek_key.ok()) return fail("converting the EK", ek_key.err());
    auto ek_der = ossl::public_to_der(ek_key->get());
    if (!ek_der.ok()) return fail("converting the EK", ek_der.err());

    if (o.json) {
        boost::json::object j;
        j["ek_cert_subject"] = attest::certificate_subject(cert->get());
        j["ek_cert_issuer"] = attest::certificate_issuer(cert->get());
        j["ek_public_sha256"] = to_hex(sha256(*ek_der));
        j["ak_name"] = to_hex(*ak_name);
        j["activated"] = true;
        j["ek_kind"] = attest::ek_kind_name(*kind);
        j["software_tpm"] = vendor->software;
        print_json(j);
    } else {
        std::cout << "TPM identity verified\n"
                  << "  EK certificate subject  " << attest::certificate_subject(cert->get()) << "\n"
                  << "  EK public key SHA-256   " << to_hex(sha256(*ek_der)) << "\n"
                  << "  AK name                 " << to_hex(*ak_name) << "\n";
    }
    return exit_ok;
}

}  // namespace

void register_tpm_commands(CLI::App& app, command_list& cmds) {
    auto* tpm = app.add_subcommand("tpm", "Inspect and prove a TPM's identity");
    tpm->require_subcommand(1);
    auto io = std::make_shared<identity_opts>();
    auto* identity = tpm->add_subcommand(
        "identity", "Verify the EK certificate chain, create an AK, and prove AK and EK share the TPM");
    identity->add_option("--tcti", io->tcti, "TPM connection (default: $CUSTOS_TCTI, then device:/dev/tpmrm0)");
    identity->add_option("--ek-ca", io->ek_ca, "PEM bundle of EK CA certificates (roots and intermediates)")
        ->required();
    identity->add_option("--ek", io->ek, "EK to use: auto, rsa2048, ecc-p256 or ecc-p384")->capture_default_str();
    identity->add_option("--key-alg", io->key_alg, "AK algorithm: ecc or rsa")->capture_default_str();
    identity->add_flag("--json", io->json, "Print the result as JSON");
    cmds.push_back({identity, [io] { return tpm_identity(*io); }});
}

}  // namespace custos::cli
