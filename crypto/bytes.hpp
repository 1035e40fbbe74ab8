// Byte strings, hex codecs, constant-time comparison and secret_bytes (locked, zeroed on destruction).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/result.hpp"

namespace custos {

using bytes = std::vector<std::uint8_t>;
using byte_view = std::span<const std::uint8_t>;

inline byte_view as_bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Lowercase hex.
std::string to_hex(byte_view b);
// The first 16 hex characters and "…": enough to tell digests apart in a finding's detail.
std::string short_hex(byte_view b);
// Accepts upper or lower case, optional "0x" prefix; an odd length or a non-hex character is an error.
result<bytes> from_hex(std::string_view hex);

// Constant-time equality (CRYPTO_memcmp); different lengths compare unequal without early exit on content.
bool equal_ct(byte_view a, byte_view b) noexcept;

// Big-endian integer append/read helpers for the byte strings custos builds itself.
void append_u16_be(bytes& out, std::uint16_t v);
void append_u32_be(bytes& out, std::uint32_t v);
void append_u64_be(bytes& out, std::uint64_t v);
inline void append(bytes& out, byte_view b) { out.insert(out.end(), b.begin(), b.end()); }

// Memory for keys and seeds: locked with sodium_mlock where allowed, zeroed on every release.
class secret_bytes {
public:
    secret_bytes() = default;
    explicit secret_bytes(std::size_t n);
    explicit secret_bytes(byte_view b);
    ~secret_bytes();
    secret_bytes(const secret_bytes&) = delete;
    secret_bytes& operator=(const secret_bytes&) = delete;
    secret_bytes(secret_bytes&& o) noexcept;
    secret_bytes& operator=(secret_bytes&& o) noexcept;

    std::uint8_t* data() noexcept { return data_; }
    const std::uint8_t* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    byte_view view() const noexcept { return {data_, size_}; }
    std::span<std::uint8_t> span() noexcept { return {data_, size_}; }

private:
    void release() noexcept;
    std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace custos
