// HOST:PORT parsing shared by every listener and client (verifier listen address, landmarks, relays).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "crypto/result.hpp"

namespace custos::net {

struct host_port {
    std::string host;  // a name or IPv4 address, or an IPv6 address without its brackets
    std::uint16_t port = 0;
};

// "name:443", "10.0.0.1:0", "[::1]:8443" → host and port. The host is non-empty: letters, digits, '.' and
// '-', or an IPv6 address in brackets (a bare one is ambiguous: which colon starts the port?); the port is
// 0..65535 in decimal digits only. errc::invalid_argument says which part is wrong.
result<host_port> split_host_port(std::string_view address);

}  // namespace custos::net
