// Fuzz target: the IMA measurement list parser (attest::parse_ima_log), its replay and writer.
#include <cstdint>
#include <cstdlib>

#include "attest/ima_log.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto entries = custos::attest::parse_ima_log(custos::byte_view(data, size));
    if (!entries.ok()) {
        if (entries.err().code != custos::errc::parse || entries.err().message.find("IMA measurement list") == std::string::npos)
            std::abort();
        return 0;
    }
    // What parses re-serialises byte for byte, and replaying it in two halves equals replaying it whole.
    if (custos::attest::serialize_ima_log(*entries) != custos::bytes(data, data + size)) std::abort();
    const auto whole = custos::attest::replay_ima_log(*entries);
    const std::size_t half = entries->size() / 2;
    const std::vector<custos::attest::ima_entry> a(entries->begin(), entries->begin() + static_cast<std::ptrdiff_t>(half)),
        b(entries->begin() + static_cast<std::ptrdiff_t>(half), entries->end());
    if (custos::attest::replay_ima_log(b, custos::attest::replay_ima_log(a)) != whole) std::abort();
    return 0;
}
