// Runs the custos CLI in-process (custos::cli::run) and captures what it printed, for CLI unit tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tools/custos/cli.hpp"

namespace custos::test {

struct cli_outcome {
    int rc;
    std::string out, err;
};

// args without the program name: {"weights", "verify", …}.
inline cli_outcome run_cli(std::vector<std::string> args) {
    args.insert(args.begin(), "custos");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    const int rc = custos::cli::run(static_cast<int>(argv.size()), argv.data());
    std::string out = ::testing::internal::GetCapturedStdout();
    std::string err = ::testing::internal::GetCapturedStderr();
    return {rc, out, err};
}

}  // namespace custos::test
