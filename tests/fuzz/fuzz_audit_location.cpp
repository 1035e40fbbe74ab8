// Fuzz target: the auditor's parsers of what a bundle carries about location — a location round as the
// verifier keeps it (check_location_round, against a fixed site, landmark and report key), the auditor's
// landmark list — and the bundle reader up to its checkpoint. Nothing the fuzzer makes may pass a round
// with a statement counted: it cannot sign for the landmark or the agent.
#include <sodium.h>

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tlog/note.hpp"
#include "tools/custos/audit_location.hpp"
#include "tools/custos/audit_verify.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace custos;
    static const bool ready = sodium_init() >= 0;
    static const auto log_key = tlog::note_signer::generate("fuzz.example/custos-log");
    static const std::vector<attest::chain_key> keys{{bytes(32, 0xa5), 1, attest::key_window_open, "{}"}};
    if (!ready) std::abort();
    const std::string_view input(reinterpret_cast<const char*>(data), size);

    cli::location_round_input in;
    in.kept = input;
    in.site = cli::site_fact{"s1", 37.5665, 126.978, 50};
    in.logged["lm-1"] = cli::landmark_fact{37.56, 126.97, bytes(32, 0x11)};
    in.keys = &keys;
    in.chain_seq = 4;
    in.time = 1'800'000'000;
    if (auto r = cli::check_location_round(in); r.ok() && r->counted != 0) std::abort();

    (void)cli::parse_landmark_list(input);
    if (cli::verify_bundle(input, nullptr, log_key->second.verifier()).ok()) std::abort();
    return 0;
}
