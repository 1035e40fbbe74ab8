#include "net/address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

namespace custos::net {

result<host_port> split_host_port(std::string_view address) {
    const std::string a(address);
    auto bad = [&](const std::string& why) {
        return make_error(errc::invalid_argument, "address \"" + a + "\" " + why);
    };
    std::string host, port;
    if (!a.empty() && a.front() == '[') {
        const auto close = a.find(']');
        if (close == std::string::npos || close + 1 >= a.size() || a[close + 1] != ':')
            return bad("is not [IPv6]:PORT");
        host = a.substr(1, close - 1);
        port = a.substr(close + 2);
        in6_addr a6{};
        if (::inet_pton(AF_INET6, host.c_str(), &a6) != 1) return bad("has no IPv6 address in its brackets");
    } else {
        const auto colon = a.rfind(':');
        if (colon == std::string::npos) return bad("is not HOST:PORT");
        host = a.substr(0, colon);
        port = a.substr(colon + 1);
        if (host.empty()) return bad("has no host");
        if (host.find(':') != std::string::npos) return bad("holds a bare IPv6 address: write it [ADDR]:PORT");
        if (host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != std::string::npos)
            return bad("has a host with characters other than letters, digits, '.' and '-'");
    }
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(port) > 65535)
        return bad("has no port 0..65535");
    return host_port{host, static_cast<std::uint16_t>(std::stoul(port))};
}

}  // namespace custos::net
