// A whole file as a string, for tests that compare or search file contents ("" when unreadable).
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace custos::test {

inline std::string read_text(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace custos::test
