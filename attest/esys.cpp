#include "attest/esys.hpp"

#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <cstdio>

namespace custos::attest {

std::string rc_text(TSS2_RC rc) {
    char code[16];
    std::snprintf(code, sizeof code, "0x%08x", rc);
    const char* decoded = Tss2_RC_Decode(rc);
    return std::string(decoded ? decoded : "unknown error") + " (" + code + ")";
}

error tpm_error(const char* call, TSS2_RC rc) {
    return make_error(errc::tpm, std::string(call) + ": " + rc_text(rc));
}

result<esys_context> esys_context::open(const std::string& tcti) {
    TSS2_TCTI_CONTEXT* tcti_ctx = nullptr;
    TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti.c_str(), &tcti_ctx);
    if (rc != TSS2_RC_SUCCESS)
        return make_error(errc::tpm, "cannot open the TPM through TCTI \"" + tcti + "\": " + rc_text(rc) +
                                         " (set --tcti or CUSTOS_TCTI, e.g. swtpm:host=127.0.0.1,port=2321)");
    ESYS_CONTEXT* ctx = nullptr;
    rc = Esys_Initialize(&ctx, tcti_ctx, nullptr);
    if (rc != TSS2_RC_SUCCESS) {
        Tss2_TctiLdr_Finalize(&tcti_ctx);
        return make_error(errc::tpm, "cannot start ESAPI on TCTI \"" + tcti + "\": " + rc_text(rc));
    }
    return esys_context(ctx, tcti_ctx, tcti);
}

esys_context::esys_context(esys_context&& o) noexcept
    : ctx_(o.ctx_), tcti_ctx_(o.tcti_ctx_), tcti_(std::move(o.tcti_)) {
    o.ctx_ = nullptr;
    o.tcti_ctx_ = nullptr;
}

esys_context& esys_context::operator=(esys_context&& o) noexcept {
    if (this != &o) {
        close();
        ctx_ = o.ctx_;
        tcti_ctx_ = o.tcti_ctx_;
        tcti_ = std::move(o.tcti_);
        o.ctx_ = nullptr;
        o.tcti_ctx_ = nullptr;
    }
    return *this;
}

esys_context::~esys_context() { close(); }

void esys_context::close() noexcept {
    if (ctx_) Esys_Finalize(&ctx_);
    if (tcti_ctx_) Tss2_TctiLdr_Finalize(&tcti_ctx_);
    ctx_ = nullptr;
    tcti_ctx_ = nullptr;
}

esys_handle& esys_handle::operator=(esys_handle&& o) noexcept {
    if (this != &o) {
        reset();
        ctx_ = o.ctx_;
        h_ = o.h_;
        o.h_ = ESYS_TR_NONE;
    }
    return *this;
}

void esys_handle::reset() noexcept {
    if (h_ != ESYS_TR_NONE && ctx_) (void)Esys_FlushContext(ctx_, h_);
    h_ = ESYS_TR_NONE;
}

}  // namespace custos::attest
