#include "crypto/bytes.hpp"

#include <openssl/crypto.h>
#include <sodium.h>

#include <cstring>
#include <new>

namespace custos {

std::string to_hex(byte_view b) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(b.size() * 2);
    for (auto c : b) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 0x0f]);
    }
    return out;
}

std::string short_hex(byte_view b) { return to_hex(b).substr(0, 16) + "…"; }

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

result<bytes> from_hex(std::string_view hex) {
    if (hex.size() >= 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) hex.remove_prefix(2);
    if (hex.size() % 2 != 0)
        return make_error(errc::invalid_argument, "hex string has an odd number of digits (" +
                                                      std::to_string(hex.size()) + ")");
    bytes out(hex.size() / 2);
    for (std::size_t i = 0; i < out.size(); ++i) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return make_error(errc::invalid_argument,
                              "not a hex digit at position " + std::to_string(hi < 0 ? 2 * i : 2 * i + 1));
        out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return out;
}

bool equal_ct(byte_view a, byte_view b) noexcept {
    if (a.size() != b.size()) return false;
    if (a.empty()) return true;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void append_u16_be(bytes& out, std::uint16_t v) {
    out.push_back(static_cast<std::uint8_t>(v >> 8));
    out.push_back(static_cast<std::uint8_t>(v));
}
void append_u32_be(bytes& out, std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}
void append_u64_be(bytes& out, std::uint64_t v) {
    for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}

secret_bytes::secret_bytes(std::size_t n) : size_(n) {
    if (n == 0) return;
    data_ = static_cast<std::uint8_t*>(::operator new(n));
    std::memset(data_, 0, n);
    (void)sodium_mlock(data_, n);  // best effort: RLIMIT_MEMLOCK may refuse; zeroing still happens
}

secret_bytes::secret_bytes(byte_view b) : secret_bytes(b.size()) {
    if (!b.empty()) std::memcpy(data_, b.data(), b.size());
}

secret_bytes::~secret_bytes() { release(); }

secret_bytes::secret_bytes(secret_bytes&& o) noexcept : data_(o.data_), size_(o.size_) {
    o.data_ = nullptr;
    o.size_ = 0;
}

secret_bytes& secret_bytes::operator=(secret_bytes&& o) noexcept {
    if (this != &o) {
        release();
        data_ = o.data_;
        size_ = o.size_;
        o.data_ = nullptr;
        o.size_ = 0;
    }
    return *this;
}

void secret_bytes::release() noexcept {
    if (!data_) return;
    sodium_memzero(data_, size_);
    (void)sodium_munlock(data_, size_);  // munlock zeroes too; harmless twice
    ::operator delete(data_);
    data_ = nullptr;
    size_ = 0;
}

}  // namespace custos
