// custos::result<T>: a value or an error a person can act on; the return type of everything that can fail.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace custos {

// Error codes group failures by the step that failed (parse, structure, signature, policy, I/O, TPM).
enum class errc {
    invalid_argument,  // caller passed something unusable (bad hex, bad selection syntax)
    parse,             // bytes could not be decoded (truncated, trailing data, bad lengths)
    structure,         // decoded, but fields are not what they must be (magic, type, attributes)
    mismatch,          // a value differs from the expected one (qualification, PCR digest, key)
    signature,         // a signature does not verify
    chain,             // a certificate chain does not verify
    io,                // a file or socket operation failed
    tpm,               // the TPM returned an error
    crypto,            // a crypto library call failed for a reason other than a bad signature
    unsupported,       // an algorithm or feature custos does not handle
};

const char* errc_name(errc c) noexcept;

struct error {
    errc code;
    std::string message;
};

template <class T>
class [[nodiscard]] result {
public:
    result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
    result(error e) : v_(std::in_place_index<1>, std::move(e)) {}      // NOLINT

    bool ok() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }

    T& value() & { assert(ok()); return std::get<0>(v_); }
    const T& value() const& { assert(ok()); return std::get<0>(v_); }
    T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const error& err() const& { assert(!ok()); return std::get<1>(v_); }
    error&& err() && { assert(!ok()); return std::get<1>(std::move(v_)); }

private:
    std::variant<T, error> v_;
};

template <>
class [[nodiscard]] result<void> {
public:
    result() = default;
    result(error e) : e_(std::move(e)), ok_(false) {}  // NOLINT
    bool ok() const noexcept { return ok_; }
    explicit operator bool() const noexcept { return ok_; }
    const error& err() const& { assert(!ok_); return e_; }
    error&& err() && { assert(!ok_); return std::move(e_); }

private:
    error e_{errc::invalid_argument, {}};
    bool ok_ = true;
};

inline error make_error(errc code, std::string message) { return error{code, std::move(message)}; }

// Prefix an error's message with context ("reading quote.msg: ...") keeping its code.
inline error with_context(error e, const std::string& context) {
    e.message = context + ": " + e.message;
    return e;
}

}  // namespace custos

// Propagate an error from an expression returning result<T>; binds the value to `var`.
#define CUSTOS_TRY_CAT2(a, b) a##b
#define CUSTOS_TRY_CAT(a, b) CUSTOS_TRY_CAT2(a, b)
#define CUSTOS_TRY(var, expr)                                             \
    auto CUSTOS_TRY_CAT(custos_try_, __LINE__) = (expr);                  \
    if (!CUSTOS_TRY_CAT(custos_try_, __LINE__).ok())                      \
        return std::move(CUSTOS_TRY_CAT(custos_try_, __LINE__)).err();    \
    auto var = std::move(CUSTOS_TRY_CAT(custos_try_, __LINE__)).value()
#define CUSTOS_TRY_VOID(expr)                                             \
    do {                                                                  \
        auto custos_try_v = (expr);                                       \
        if (!custos_try_v.ok()) return std::move(custos_try_v).err();     \
    } while (0)
