// Fuzz target: the offline report-chain check (attest/report_chain.hpp) over a chain built from the input:
// it never crashes, and an accepted chain is exactly as long as what was given and ends at its last hash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "attest/report_chain.hpp"
#include "attest/wire.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace custos;
    // Records split at 0xff bytes: even ones are report bodies, odd ones their signatures; the last record, if
    // any is left, is a key binding's JSON.
    std::vector<bytes> parts(1);
    for (std::size_t i = 0; i < size; ++i) {
        if (data[i] == 0xff) parts.emplace_back();
        else parts.back().push_back(data[i]);
    }
    std::vector<attest::signed_report> reports;
    for (std::size_t i = 0; i + 1 < parts.size(); i += 2) reports.push_back({parts[i], parts[i + 1]});
    attest::chain_key k;
    k.key = bytes(32, 7);
    k.from_seq = size % 5;
    k.until_seq = size % 3 ? attest::key_window_open : size;
    if (parts.size() % 2) k.binding.assign(parts.back().begin(), parts.back().end());
    auto c = attest::verify_report_chain("h1", 0, bytes(32, 0), reports, {k});
    if (c && (c->reports != reports.size() || (!reports.empty() && c->head != attest::report_hash(reports.back().body))))
        __builtin_trap();
    (void)attest::verify_key_binding(k, nullptr);
    return 0;
}
