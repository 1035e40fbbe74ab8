// ESAPI plumbing: a TPM connection opened per operation, return codes decoded to text, and RAII for
// every transient object and session so nothing outlives the operation (swtpm has 3 transient slots).
#pragma once

#include <tss2/tss2_esys.h>

#include <string>

#include "crypto/result.hpp"

namespace custos::attest {

// "Esys_Quote: tpm:parameter(2):value is out of range or is not correct for the context (0x000002c4)".
error tpm_error(const char* call, TSS2_RC rc);
std::string rc_text(TSS2_RC rc);

// An ESAPI context over a TCTI loaded with Tss2_TctiLdr. Closing it closes the TPM connection.
class esys_context {
public:
    static result<esys_context> open(const std::string& tcti);
    esys_context(esys_context&& o) noexcept;
    esys_context& operator=(esys_context&& o) noexcept;
    esys_context(const esys_context&) = delete;
    esys_context& operator=(const esys_context&) = delete;
    ~esys_context();

    ESYS_CONTEXT* get() const noexcept { return ctx_; }
    const std::string& tcti() const noexcept { return tcti_; }

private:
    esys_context(ESYS_CONTEXT* ctx, TSS2_TCTI_CONTEXT* tcti, std::string conf)
        : ctx_(ctx), tcti_ctx_(tcti), tcti_(std::move(conf)) {}
    void close() noexcept;
    ESYS_CONTEXT* ctx_ = nullptr;
    TSS2_TCTI_CONTEXT* tcti_ctx_ = nullptr;
    std::string tcti_;
};

// A transient object or session handle flushed when it goes out of scope; release() hands it on.
class esys_handle {
public:
    esys_handle() = default;
    esys_handle(ESYS_CONTEXT* ctx, ESYS_TR h) : ctx_(ctx), h_(h) {}
    esys_handle(esys_handle&& o) noexcept : ctx_(o.ctx_), h_(o.h_) { o.h_ = ESYS_TR_NONE; }
    esys_handle& operator=(esys_handle&& o) noexcept;
    esys_handle(const esys_handle&) = delete;
    esys_handle& operator=(const esys_handle&) = delete;
    ~esys_handle() { reset(); }

    ESYS_TR get() const noexcept { return h_; }
    void reset() noexcept;  // flushes now

private:
    ESYS_CONTEXT* ctx_ = nullptr;
    ESYS_TR h_ = ESYS_TR_NONE;
};

// An ESYS_TR for a persistent object or NV index: closed (not flushed) on scope exit.
class esys_tr_ref {
public:
    esys_tr_ref(ESYS_CONTEXT* ctx, ESYS_TR h) : ctx_(ctx), h_(h) {}
    esys_tr_ref(const esys_tr_ref&) = delete;
    esys_tr_ref& operator=(const esys_tr_ref&) = delete;
    ~esys_tr_ref() {
        if (h_ != ESYS_TR_NONE) (void)Esys_TR_Close(ctx_, &h_);
    }
    ESYS_TR get() const noexcept { return h_; }

private:
    ESYS_CONTEXT* ctx_;
    ESYS_TR h_;
};

// Frees memory ESAPI returned (Esys_Free) on scope exit.
template <class T>
struct esys_out {
    T* p = nullptr;
    esys_out() = default;
    esys_out(const esys_out&) = delete;
    esys_out& operator=(const esys_out&) = delete;
    ~esys_out() { Esys_Free(p); }
    T** operator&() noexcept { return &p; }  // NOLINT: pass as an ESAPI out-parameter
    T* operator->() const noexcept { return p; }
    T& operator*() const noexcept { return *p; }
};

}  // namespace custos::attest
