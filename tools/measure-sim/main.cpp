// measure-sim: measures a simulated boot and files into a (software) TPM and writes the logs that match,
// in the formats real hosts have (crypto-agile TCG boot event log, ima-ng binary measurement list).
//   measure-sim boot --tcti T --out LOG [--kernel TEXT]      a firmware boot into PCRs 0-7
//   measure-sim ima --tcti T --log LIST --file PATH [--as HOSTPATH] [--sig HEX]
//                                                           one IMA measurement into PCR 10, appended
// Exit 0 on success, 1 when the TPM or a file fails, 2 for usage errors.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "attest/event_log.hpp"
#include "attest/ima_log.hpp"
#include "attest/le_reader.hpp"
#include "attest/tpm_device.hpp"
#include "crypto/file_io.hpp"

using namespace custos;
namespace fs = std::filesystem;

namespace {

const std::vector<hash_alg> banks = {hash_alg::sha1, hash_alg::sha256};

int fail(const std::string& what, const error& e) {
    std::fprintf(stderr, "measure-sim: %s: %s\n", what.c_str(), e.message.c_str());
    return 1;
}

result<void> extend(const attest::tpm_device& tpm, unsigned pcr, const std::map<hash_alg, bytes>& digests) {
    std::vector<std::pair<hash_alg, bytes>> d(digests.begin(), digests.end());
    return tpm.pcr_extend(pcr, d);
}

// EV_EFI_VARIABLE_DRIVER_CONFIG for the SecureBoot variable: a UEFI_VARIABLE_DATA (EFI_GLOBAL_VARIABLE GUID,
// name and data lengths, UTF-16LE name, data), measured whole.
attest::boot_event secure_boot_event(std::uint8_t enabled) {
    static const std::uint8_t efi_global_variable[16] = {0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11,
                                                         0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c};
    const std::string name = "SecureBoot";
    bytes d(efi_global_variable, efi_global_variable + 16);
    attest::put_u64le(d, name.size());
    attest::put_u64le(d, 1);
    for (char c : name) {
        d.push_back(static_cast<std::uint8_t>(c));
        d.push_back(0);
    }
    d.push_back(enabled);
    return attest::measured_event(7, 0x80000001, d, banks);
}

// EV_EFI_BOOT_SERVICES_APPLICATION: a UEFI_IMAGE_LOAD_EVENT (location, length, link address, no device
// path) whose digest is the image's (Authenticode) hash; here the hash of a text standing for the image.
attest::boot_event image_event(const std::string& image, std::uint64_t address) {
    bytes d;
    attest::put_u64le(d, address);
    attest::put_u64le(d, image.size());
    attest::put_u64le(d, 0);
    attest::put_u64le(d, 0);
    attest::boot_event e = attest::measured_event(4, 0x80000003, d, banks);
    for (const auto a : banks) e.digests[a] = digest(a, as_bytes(image));
    return e;
}

// The events of a UEFI boot with Secure Boot on: CRTM and POST code into PCR 0, the Secure Boot variable
// into 7, separators into 0-7, shim and the kernel (the text given stands for its image) into 4.
std::vector<attest::boot_event> boot_events(const std::string& kernel) {
    using namespace attest;
    std::vector<boot_event> ev;
    ev.push_back(measured_event(0, ev_s_crtm_version, as_bytes("measure-sim firmware 1.0"), banks));
    ev.push_back(measured_event(0, ev_post_code, as_bytes("POST CODE"), banks));
    ev.push_back(secure_boot_event(1));
    for (std::uint32_t pcr = 0; pcr < 8; ++pcr) ev.push_back(measured_event(pcr, ev_separator, bytes(4, 0), banks));
    ev.push_back(image_event("shimx64.efi 15.7", 0x7e000000));
    ev.push_back(image_event(kernel, 0x7c000000));
    return ev;
}

int boot(const std::string& tcti, const fs::path& out, const std::string& kernel) {
    const attest::tpm_device tpm(tcti);
    const auto ev = boot_events(kernel);
    for (const auto& e : ev)
        if (auto x = extend(tpm, e.pcr, e.digests); !x) return fail("extend PCR " + std::to_string(e.pcr), x.err());
    if (auto w = write_file_atomic(out, attest::serialize_boot_log(banks, ev)); !w) return fail(out.string(), w.err());
    return 0;
}

int ima(const std::string& tcti, const fs::path& list, const fs::path& file, std::string as, const std::string& sig_hex) {
    const attest::tpm_device tpm(tcti);
    std::vector<attest::ima_entry> entries;
    std::error_code ec;
    if (fs::exists(list, ec)) {
        auto data = read_file(list, std::size_t(1) << 30);
        if (!data) return fail(list.string(), data.err());
        auto parsed = attest::parse_ima_log(*data);
        if (!parsed) return fail(list.string(), parsed.err());
        entries = std::move(*parsed);
    }
    std::vector<attest::ima_entry> added;
    if (entries.empty()) {
        // The kernel's first entry: boot_aggregate, the digest of PCRs 0-7 (here of the SHA-256 bank).
        auto sel = attest::parse_pcr_selection("sha256:0,1,2,3,4,5,6,7");
        auto pcrs = tpm.pcr_read(*sel);
        if (!pcrs) return fail("read PCRs 0-7", pcrs.err());
        hasher h(hash_alg::sha256);
        for (const auto& v : *pcrs) h.update(v.digest);
        added.push_back(attest::make_ima_entry(10, "boot_aggregate", h.finish()));
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) return fail(file.string(), make_error(errc::io, "cannot open"));
    const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (as.empty()) as = fs::absolute(file).string();
    bytes sig;
    if (!sig_hex.empty()) {
        auto s = from_hex(sig_hex);
        if (!s) return fail("--sig", s.err());
        sig = *s;
    }
    added.push_back(attest::make_ima_entry(10, as, sha256(as_bytes(content)), !sig_hex.empty(), sig));
    for (const auto& e : added) {
        // As the kernel does: the SHA-1 bank gets the template hash, the SHA-256 bank the template data's SHA-256.
        if (auto x = extend(tpm, e.pcr, {{hash_alg::sha1, e.template_hash}, {hash_alg::sha256, sha256(e.template_data)}}); !x)
            return fail("extend PCR 10", x.err());
        entries.push_back(e);
    }
    if (auto w = write_file_atomic(list, attest::serialize_ima_log(entries)); !w) return fail(list.string(), w.err());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"measure-sim: measure a simulated boot or file into a TPM and write the matching log"};
    app.require_subcommand(1);
    std::string tcti, out, kernel = "vmlinuz-6.1.0-custos", list, file, as, sig;
    auto* b = app.add_subcommand("boot", "Measure a UEFI boot into PCRs 0-7 and write its crypto-agile event log");
    b->add_option("--tcti", tcti, "The TPM (e.g. swtpm:host=127.0.0.1,port=2321)")->required();
    b->add_option("--out", out, "The boot event log to write")->required();
    b->add_option("--kernel", kernel, "Text standing for the kernel image (another text: another kernel)")->capture_default_str();
    auto* i = app.add_subcommand("ima", "Measure one file into PCR 10 as IMA does and append it to an ima-ng list");
    i->add_option("--tcti", tcti, "The TPM")->required();
    i->add_option("--log", list, "The binary measurement list (created with boot_aggregate first)")->required();
    i->add_option("--file", file, "The file whose content is measured")->required();
    i->add_option("--as", as, "The path the entry records (default: the file's absolute path)");
    i->add_option("--sig", sig, "Hex signature: record an ima-sig entry");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    if (b->parsed()) return boot(tcti, out, kernel);
    return ima(tcti, list, file, as, sig);
}
