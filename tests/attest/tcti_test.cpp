#include "attest/tcti.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

namespace custos::attest {
namespace {

class TctiChoice : public ::testing::Test {
protected:
    void SetUp() override {
        if (const char* v = std::getenv(tcti_env_var)) saved_ = v;
        ::unsetenv(tcti_env_var);
    }
    void TearDown() override {
        if (saved_)
            ::setenv(tcti_env_var, saved_->c_str(), 1);
        else
            ::unsetenv(tcti_env_var);
    }
    std::optional<std::string> saved_;
};

TEST_F(TctiChoice, FlagThenConfigThenEnvThenDevice) {
    EXPECT_EQ(choose_tcti(std::nullopt, std::nullopt), "device:/dev/tpmrm0");
    ::setenv(tcti_env_var, "swtpm:port=2321", 1);
    EXPECT_EQ(choose_tcti(std::nullopt, std::nullopt), "swtpm:port=2321");
    EXPECT_EQ(choose_tcti(std::nullopt, std::string("mssim:port=1")), "mssim:port=1");
    EXPECT_EQ(choose_tcti(std::string("device:/dev/tpm0"), std::string("mssim:port=1")), "device:/dev/tpm0");
}

TEST_F(TctiChoice, EmptyValuesCountAsUnset) {
    ::setenv(tcti_env_var, "", 1);
    EXPECT_EQ(choose_tcti(std::string(""), std::string("")), "device:/dev/tpmrm0");
}

}  // namespace
}  // namespace custos::attest
