// Shared by the attest unit tests: the committed tpm2-tools fixtures and small parsing shorthands.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string_view>

#include "attest/pcr_selection.hpp"
#include "crypto/file_io.hpp"

namespace custos::attest {

// Real tpm2-tools 5.4 output made against swtpm (tests/data/tpm2-tools/generate.sh).
inline const std::filesystem::path data_dir = std::filesystem::path(CUSTOS_TEST_DATA_DIR) / "tpm2-tools";

inline bytes load(const std::filesystem::path& p) {
    auto b = read_file(p);
    EXPECT_TRUE(b.ok()) << p << ": " << (b.ok() ? "" : b.err().message);
    return b.ok() ? *b : bytes{};
}

inline TPML_PCR_SELECTION sel(std::string_view text) { return *parse_pcr_selection(text); }

}  // namespace custos::attest
