// custos quote create | verify: make a quote with a fresh AK, and check one offline (tpm2-tools compatible).
#include <iostream>
#include <memory>

#include "attest/pcrs_file.hpp"
#include "attest/quote_verify.hpp"
#include "attest/tcti.hpp"
#include "attest/tpm_device.hpp"
#include "attest/tpm_public.hpp"
#include "crypto/file_io.hpp"
#include "tools/custos/cli.hpp"
#include "tools/custos/cli_support.hpp"

namespace custos::cli {

namespace {

struct create_opts {
    std::string tcti;
    std::string qualification;
    std::string pcr_list;
    std::string out_dir;
    std::string key_alg = "ecc";
    std::string ek = "rsa2048";
};

int quote_create(const create_opts& o) {
    auto qual = from_hex(o.qualification);
    if (!qual.ok()) return fail("--qualification", qual.err());
    auto sel = attest::parse_pcr_selection(o.pcr_list);
    if (!sel.ok()) return fail("--pcr-list", sel.err());
    auto alg = attest::parse_ak_alg(o.key_alg);
    if (!alg) return fail_usage("--key-alg must be ecc or rsa, not \"" + o.key_alg + "\"");
    auto ek = attest::parse_ek_kind(o.ek);
    if (!ek) return fail_usage("--ek must be rsa2048, ecc-p256 or ecc-p384, not \"" + o.ek + "\"");

    std::error_code ec;
    std::filesystem::create_directories(o.out_dir, ec);
    if (ec) return fail_usage("--out-dir " + o.out_dir + ": " + ec.message());

    attest::tpm_device tpm(attest::choose_tcti(o.tcti.empty() ? std::nullopt : std::optional(o.tcti), std::nullopt));
    auto vendor = tpm.vendor();  // warns about software TPMs
    if (!vendor.ok()) return fail("reading TPM properties", vendor.err());
    auto ak = tpm.create_ak(*ek, *alg);
    if (!ak.ok()) return fail("creating an AK under the EK", ak.err());
    if (auto chk = attest::check_ak_attributes(ak->pub.publicArea); !chk.ok())
        return fail("the TPM returned an AK that is not a valid attestation key", chk.err());
    auto q = tpm.quote(*ak, *qual, *sel);
    if (!q.ok()) return fail("quoting", q.err());
    auto pcrs = attest::serialize_pcrs_file(q->selection, q->pcrs);
    if (!pcrs.ok()) return fail("writing quote.pcrs", pcrs.err());
    auto key = attest::public_to_pkey(ak->pub.publicArea);
    if (!key.ok()) return fail("converting the AK public key", key.err());
    auto pem = ossl::public_to_pem(key->get());
    if (!pem.ok()) return fail("converting the AK public key", pem.err());
    auto name = attest::object_name(ak->pub.publicArea);
    if (!name.ok()) return fail("computing the AK name", name.err());

    const std::filesystem::path dir(o.out_dir);
    const std::pair<const char*, bytes> files[] = {
        {"quote.msg", q->attest},
        {"quote.sig", q->signature},
        {"quote.pcrs", *pcrs},
        {"ak.pub.pem", bytes(pem->begin(), pem->end())},
        {"ak.pub", attest::marshal_public(ak->pub)},
        {"ak.name", *name},
    };
    for (const auto& [fname, data] : files)
        if (auto w = write_file_atomic(dir / fname, data); !w.ok()) return fail("writing output", w.err());
    std::cout << "quote over " << attest::format_pcr_selection(q->selection) << " with a fresh "
              << (*alg == attest::ak_alg::ecc_p256 ? "ECC P-256" : "RSA-2048") << " AK (name "
              << to_hex(*name) << ") written to " << dir.string() << "\n";
    return exit_ok;
}

struct verify_opts {
    std::string public_key;
    std::string message;
    std::string signature;
    std::string pcrs;
    std::string pcr_list;
    std::string qualification;
    bool json = false;
};

std::string hex16(std::uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

int quote_verify(const verify_opts& o) {
    auto qual = from_hex(o.qualification);
    if (!qual.ok()) return fail("--qualification", qual.err());
    std::optional<TPML_PCR_SELECTION> expected;
    if (!o.pcr_list.empty()) {
        auto sel = attest::parse_pcr_selection(o.pcr_list);
        if (!sel.ok()) return fail("--pcr-list", sel.err());
        expected = *sel;
    }
    auto key = load_public_key(o.public_key);
    if (!key.ok()) return fail("--public", key.err());
    auto msg = read_input("--message", o.message, 64u << 10);
    if (!msg.ok()) return fail("reading the quote", msg.err());
    auto sig = read_input("--signature", o.signature, 64u << 10);
    if (!sig.ok()) return fail("reading the signature", sig.err());
    std::optional<attest::pcrs_file> pcrs;
    if (!o.pcrs.empty()) {
        auto data = read_input("--pcrs", o.pcrs, 1u << 20);
        if (!data.ok()) return fail("reading PCR values", data.err());
        auto parsed = attest::parse_pcrs_file(*data);
        if (!parsed.ok()) return fail("--pcrs " + o.pcrs, parsed.err());
        pcrs = std::move(*parsed);
    }

    attest::quote_input in;
    in.attest = *msg;
    in.signature = *sig;
    in.ak = key->get();
    in.qualification = *qual;
    in.expected_selection = expected ? &*expected : nullptr;
    in.pcrs = pcrs ? &pcrs->values : nullptr;
    auto r = attest::verify_quote(in);
    if (!r.ok()) {
        std::cerr << "custos: quote invalid: " << r.err().message << "\n";
        return exit_failed;
    }
    const auto& i = r.info();
    if (o.json) {
        boost::json::object j;
        j["valid"] = true;
        j["clock"] = i.clock;
        j["reset_count"] = i.reset_count;
        j["restart_count"] = i.restart_count;
        j["safe"] = i.safe;
        j["firmware_version"] = hex16(i.firmware_version);
        j["pcr_digest"] = to_hex(i.pcr_digest);
        j["pcrs_checked"] = i.pcrs_checked;
        print_json(j);
    } else {
        std::cout << "quote valid: signed by the given AK over qualification " << to_hex(*qual) << "\n"
                  << "  pcr selection  " << attest::format_pcr_selection(i.selection) << "\n"
                  << "  pcr digest     " << to_hex(i.pcr_digest)
                  << (i.pcrs_checked ? " (matches the PCR values given)" : " (PCR values not checked: no --pcrs)")
                  << "\n"
                  << "  clock          " << i.clock << " ms, reset count " << i.reset_count << ", restart count "
                  << i.restart_count << ", safe " << (i.safe ? "yes" : "no") << "\n"
                  << "  firmware       " << hex16(i.firmware_version) << "\n";
    }
    return exit_ok;
}

}  // namespace

void register_quote_commands(CLI::App& app, command_list& cmds) {
    auto* quote = app.add_subcommand("quote", "Create a TPM quote, or verify one offline");
    quote->require_subcommand(1);

    auto co = std::make_shared<create_opts>();
    auto* create = quote->add_subcommand("create", "Create a fresh AK under the EK and quote PCRs with it");
    create->add_option("--tcti", co->tcti, "TPM connection (default: $CUSTOS_TCTI, then device:/dev/tpmrm0)");
    create->add_option("--qualification", co->qualification, "Qualifying data (extraData), hex")->required();
    create->add_option("--pcr-list", co->pcr_list, "PCR selection, tpm2-tools syntax (sha256:0,1,2,3)")->required();
    create->add_option("--out-dir", co->out_dir, "Where quote.msg, quote.sig, quote.pcrs, ak.pub.pem go")->required();
    create->add_option("--key-alg", co->key_alg, "AK algorithm: ecc (P-256, ECDSA) or rsa (2048, RSASSA)")
        ->capture_default_str();
    create->add_option("--ek", co->ek, "Parent EK: rsa2048, ecc-p256 or ecc-p384")->capture_default_str();
    cmds.push_back({create, [co] { return quote_create(*co); }});

    auto vo = std::make_shared<verify_opts>();
    auto* verify = quote->add_subcommand("verify", "Verify a quote offline (accepts tpm2_quote output)");
    verify->add_option("--public", vo->public_key, "AK public key: PEM, or TPM2B_PUBLIC")->required();
    verify->add_option("--message", vo->message, "Marshalled TPMS_ATTEST (quote.msg)")->required();
    verify->add_option("--signature", vo->signature, "Marshalled TPMT_SIGNATURE (quote.sig)")->required();
    verify->add_option("--pcrs", vo->pcrs, "PCR values in tpm2-tools quote.pcrs layout");
    verify->add_option("--pcr-list", vo->pcr_list, "Expected PCR selection; the quote must cover exactly this");
    verify->add_option("--qualification", vo->qualification, "Expected qualifying data, hex")->required();
    verify->add_flag("--json", vo->json, "Print the result as JSON");
    cmds.push_back({verify, [vo] { return quote_verify(*vo); }});
}

}  // namespace custos::cli
