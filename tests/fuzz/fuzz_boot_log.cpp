// Fuzz target: the crypto-agile boot event log parser (attest::parse_boot_log), its replay and writer.
#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "attest/event_log.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto log = custos::attest::parse_boot_log(custos::byte_view(data, size));
    if (!log.ok()) {
        // Every refusal names where it happened.
        if (log.err().code != custos::errc::parse || log.err().message.find("boot event log") == std::string::npos)
            std::abort();
        return 0;
    }
    // What parses replays into exactly its banks, and re-serialises (vendor info and platform fields aside)
    // to a log that parses to the same events and the same PCR values.
    const auto banks = custos::attest::replay_boot_log(*log);
    for (const auto& [alg, bank] : banks) {
        if (std::find(log->algorithms.begin(), log->algorithms.end(), alg) == log->algorithms.end()) std::abort();
        for (const auto& [pcr, value] : bank)
            if (pcr > custos::attest::max_event_pcr || value.size() != custos::digest_size(alg)) std::abort();
    }
    const auto again = custos::attest::parse_boot_log(custos::attest::serialize_boot_log(log->algorithms, log->events));
    if (!again.ok() || again->events.size() != log->events.size() || again->startup_locality != log->startup_locality)
        std::abort();
    if (custos::attest::replay_boot_log(*again) != banks) std::abort();
    return 0;
}
