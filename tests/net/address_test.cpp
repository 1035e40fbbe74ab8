// net/address: the one HOST:PORT parser behind the verifier's listen address, landmarks and relays.
#include "net/address.hpp"

#include <gtest/gtest.h>

namespace custos::net {
namespace {

TEST(Address, NamesIpv4AndBracketedIpv6SplitIntoHostAndPort) {
    struct case_t {
        const char* in;
        const char* host;
        std::uint16_t port;
    };
    for (const auto& c : {case_t{"127.0.0.1:8443", "127.0.0.1", 8443}, case_t{"localhost:0", "localhost", 0},
                          case_t{"verifier.example:65535", "verifier.example", 65535}, case_t{"[::1]:443", "::1", 443},
                          case_t{"[fe80::1]:9000", "fe80::1", 9000}, case_t{"[::]:1", "::", 1},
                          case_t{"lm-1.sgp:00080", "lm-1.sgp", 80}}) {
        auto r = split_host_port(c.in);
        ASSERT_TRUE(r.ok()) << c.in << ": " << r.err().message;
        EXPECT_EQ(r->host, c.host) << c.in;
        EXPECT_EQ(r->port, c.port) << c.in;
    }
}

TEST(Address, EachMalformedPartIsNamed) {
    struct case_t {
        const char* in;
        const char* why;
    };
    for (const auto& c : {case_t{"", "is not HOST:PORT"}, case_t{"localhost", "is not HOST:PORT"},
                          case_t{":8443", "has no host"}, case_t{"::1:8443", "bare IPv6"},
                          case_t{"[::1]8443", "is not [IPv6]:PORT"}, case_t{"[::1]", "is not [IPv6]:PORT"},
                          case_t{"[::1:8443", "is not [IPv6]:PORT"}, case_t{"[nothost]:1", "no IPv6 address"},
                          case_t{"[]:1", "no IPv6 address"}, case_t{"a b:80", "characters other than"},
                          case_t{"h_1:80", "characters other than"}, case_t{"127.0.0.1:", "no port 0..65535"},
                          case_t{"127.0.0.1:65536", "no port 0..65535"}, case_t{"127.0.0.1:999999", "no port 0..65535"},
                          case_t{"127.0.0.1:+80", "no port 0..65535"}, case_t{"127.0.0.1:-1", "no port 0..65535"},
                          case_t{"127.0.0.1:8a", "no port 0..65535"}, case_t{"127.0.0.1: 80", "no port 0..65535"}}) {
        auto r = split_host_port(c.in);
        ASSERT_FALSE(r.ok()) << c.in;
        EXPECT_EQ(r.err().code, errc::invalid_argument) << c.in;
        EXPECT_NE(r.err().message.find("address \"" + std::string(c.in) + "\""), std::string::npos) << r.err().message;
        EXPECT_NE(r.err().message.find(c.why), std::string::npos) << c.in << ": " << r.err().message;
    }
}

}  // namespace
}  // namespace custos::net
