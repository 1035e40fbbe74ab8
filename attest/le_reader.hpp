// A bounds-checked little-endian reader for the measurement logs, whose errors name the byte offset.
#pragma once

#include <cstdint>
#include <string>

#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

namespace custos::attest {

class le_reader {
public:
    le_reader(byte_view data, std::string what) : data_(data), what_(std::move(what)) {}

    std::size_t offset() const noexcept { return pos_; }
    void set_what(std::string what) { what_ = std::move(what); }  // e.g. to name the record being read
    std::size_t left() const noexcept { return data_.size() - pos_; }
    bool done() const noexcept { return pos_ == data_.size(); }

    // errc::parse: "<what> at offset N: <why>".
    error fail(std::size_t at, const std::string& why) const {
        return make_error(errc::parse, what_ + " at offset " + std::to_string(at) + ": " + why);
    }

    result<std::uint32_t> u32(const char* field) {
        CUSTOS_TRY(b, take(4, field));
        return static_cast<std::uint32_t>(b[0]) | static_cast<std::uint32_t>(b[1]) << 8 |
               static_cast<std::uint32_t>(b[2]) << 16 | static_cast<std::uint32_t>(b[3]) << 24;
    }
    result<std::uint16_t> u16(const char* field) {
        CUSTOS_TRY(b, take(2, field));
        return static_cast<std::uint16_t>(b[0] | b[1] << 8);
    }
    result<std::uint8_t> u8(const char* field) {
        CUSTOS_TRY(b, take(1, field));
        return b[0];
    }
    result<byte_view> take(std::size_t n, const char* field) {
        if (n > left())
            return fail(pos_, std::string(field) + " needs " + std::to_string(n) + " bytes, " + std::to_string(left()) +
                                  " left (truncated)");
        byte_view b = data_.subspan(pos_, n);
        pos_ += n;
        return b;
    }

private:
    byte_view data_;
    std::string what_;
    std::size_t pos_ = 0;
};

inline void put_u32le(bytes& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
inline void put_u64le(bytes& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
inline void put_u16le(bytes& out, std::uint16_t v) {
    out.push_back(static_cast<std::uint8_t>(v));
    out.push_back(static_cast<std::uint8_t>(v >> 8));
}

}  // namespace custos::attest
