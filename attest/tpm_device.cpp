#include "attest/tpm_device.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>

#include <algorithm>
#include <cstring>

#include "attest/esys.hpp"
#include "attest/tpm_alg.hpp"
#include "attest/tpm_public.hpp"

namespace custos::attest {

namespace {

// A policy session satisfying PolicySecret(TPM_RH_ENDORSEMENT), as the low-range EK templates require.
result<esys_handle> endorsement_policy_session(ESYS_CONTEXT* ctx) {
    TPMT_SYM_DEF sym{};
    sym.algorithm = TPM2_ALG_NULL;
    ESYS_TR session = ESYS_TR_NONE;
    TSS2_RC rc = Esys_StartAuthSession(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                       nullptr, TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256, &session);
    if (rc != TSS2_RC_SUCCESS) return tpm_error("Esys_StartAuthSession", rc);
    esys_handle h(ctx, session);
    rc = Esys_PolicySecret(ctx, ESYS_TR_RH_ENDORSEMENT, session, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                           nullptr, nullptr, nullptr, 0, nullptr, nullptr);
    if (rc != TSS2_RC_SUCCESS) return tpm_error("Esys_PolicySecret(endorsement)", rc);
    return h;
}

// Authorisation for using the EK: a fresh policy session (flushed by the holder) or the empty password.
struct ek_auth {
    esys_handle session;
    ESYS_TR tr() const noexcept { return session.get() == ESYS_TR_NONE ? ESYS_TR_PASSWORD : session.get(); }
};

result<ek_auth> authorize_ek(ESYS_CONTEXT* ctx, ek_kind kind) {
    if (!ek_needs_policy_session(kind)) return ek_auth{};
    CUSTOS_TRY(s, endorsement_policy_session(ctx));
    return ek_auth{std::move(s)};
}

struct loaded_ek {
    esys_handle handle;
    TPM2B_PUBLIC pub{};
};

result<loaded_ek> create_ek(ESYS_CONTEXT* ctx, ek_kind kind) {
    TPM2B_PUBLIC tmpl = ek_template(kind);
    TPM2B_SENSITIVE_CREATE sens{};
    TPM2B_DATA outside{};
    TPML_PCR_SELECTION creation_pcr{};
    ESYS_TR handle = ESYS_TR_NONE;
    esys_out<TPM2B_PUBLIC> out_pub;
    esys_out<TPM2B_CREATION_DATA> creation_data;
    esys_out<TPM2B_DIGEST> creation_hash;
    esys_out<TPMT_TK_CREATION> creation_ticket;
    TSS2_RC rc = Esys_CreatePrimary(ctx, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens,
                                    &tmpl, &outside, &creation_pcr, &handle, &out_pub, &creation_data,
                                    &creation_hash, &creation_ticket);
    if (rc != TSS2_RC_SUCCESS)
        return with_context(tpm_error("Esys_CreatePrimary", rc), std::string("creating the ") + ek_kind_name(kind) + " EK");
    return loaded_ek{esys_handle(ctx, handle), *out_pub};
}

// Loads a key made under the EK of kind `parent` (which `ek` must be); `what` names it in errors.
result<esys_handle> load_child(ESYS_CONTEXT* ctx, ESYS_TR ek, ek_kind parent, const TPM2B_PRIVATE& priv,
                               const TPM2B_PUBLIC& pub, const char* what) {
    CUSTOS_TRY(auth, authorize_ek(ctx, parent));
    ESYS_TR handle = ESYS_TR_NONE;
    TSS2_RC rc = Esys_Load(ctx, ek, auth.tr(), ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub, &handle);
    if (rc != TSS2_RC_SUCCESS)
        return with_context(tpm_error("Esys_Load", rc), std::string("loading ") + what + " under the EK");
    return esys_handle(ctx, handle);
}

result<esys_handle> load_ak(ESYS_CONTEXT* ctx, ESYS_TR ek, const ak_key& ak) {
    return load_child(ctx, ek, ak.parent, ak.priv, ak.pub, "the AK");
}

// Loads a bound key and flushes its EK at once: a loaded key does not need its parent loaded.
result<esys_handle> load_bound_key_only(ESYS_CONTEXT* ctx, const bound_key& key) {
    CUSTOS_TRY(ek, create_ek(ctx, key.parent));
    return load_child(ctx, ek.handle.get(), key.parent, key.priv, key.pub, "the bound key");
}

// Loads the AK and flushes the EK at once, so a quote holds one transient slot.
result<esys_handle> load_ak_only(ESYS_CONTEXT* ctx, const ak_key& ak) {
    CUSTOS_TRY(ek, create_ek(ctx, ak.parent));
    return load_ak(ctx, ek.handle.get(), ak);
}

// Reads PCRs in as many TPM2_PCR_Read calls as needed (a TPM returns at most 8 digests per call).
result<pcr_values> read_pcrs(ESYS_CONTEXT* ctx, const TPML_PCR_SELECTION& want) {
    TPML_PCR_SELECTION remaining = want;
    std::vector<pcr_value> got;
    for (int round = 0; round < 64 && selection_count(remaining) > 0; ++round) {
        UINT32 counter = 0;
        esys_out<TPML_PCR_SELECTION> sel_out;
        esys_out<TPML_DIGEST> digests;
        TSS2_RC rc = Esys_PCR_Read(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &remaining, &counter, &sel_out,
                                   &digests);
        if (rc != TSS2_RC_SUCCESS) return tpm_error("Esys_PCR_Read", rc);
        std::size_t d = 0;
        bool progress = false;
        for (UINT32 b = 0; b < sel_out->count; ++b) {
            const auto& bank = sel_out->pcrSelections[b];
            for (unsigned i = 0; i < bank.sizeofSelect * 8u; ++i) {
                if (!(bank.pcrSelect[i / 8] & (1u << (i % 8)))) continue;
                if (d >= digests->count)
                    return make_error(errc::tpm, "TPM2_PCR_Read returned fewer digests than PCRs it selected");
                const auto& dg = digests->digests[d++];
                got.push_back({bank.hash, i, bytes(dg.buffer, dg.buffer + dg.size)});
                progress = true;
                for (UINT32 r = 0; r < remaining.count; ++r)
                    if (remaining.pcrSelections[r].hash == bank.hash)
                        remaining.pcrSelections[r].pcrSelect[i / 8] &= static_cast<BYTE>(~(1u << (i % 8)));
            }
        }
        if (!progress) {
            // The TPM selected nothing more: those banks or PCRs are not allocated.
            return make_error(errc::tpm, "the TPM has no values for PCRs " + format_pcr_selection(remaining) +
                                             " (bank not allocated?)");
        }
    }
    // Order as the selection lists them: banks in order, indices ascending.
    pcr_values ordered;
    for (UINT32 b = 0; b < want.count; ++b) {
        const auto& bank = want.pcrSelections[b];
        for (unsigned i = 0; i < bank.sizeofSelect * 8u; ++i) {
            if (!(bank.pcrSelect[i / 8] & (1u << (i % 8)))) continue;
            auto it = std::find_if(got.begin(), got.end(),
                                   [&](const pcr_value& v) { return v.bank == bank.hash && v.index == i; });
            if (it == got.end()) return make_error(errc::tpm, "PCR " + std::to_string(i) + " was not read");
            ordered.push_back(*it);
        }
    }
    return ordered;
}

bool from_tpm(TSS2_RC rc) { return (rc >> 16) == 0 || (rc & 0xff0000) == TSS2_RESMGR_TPM_RC_LAYER; }

// A format-one TPM response code (`code` is e.g. TPM2_RC_HANDLE), whatever handle, session or parameter it names.
bool is_fmt1_error(TSS2_RC rc, TSS2_RC code) {
    const TSS2_RC base = rc & 0xffff;
    return from_tpm(rc) && (base & TPM2_RC_FMT1) && (base & 0x3f) == (code & 0x3f);
}

// TPM_RC_HANDLE from the TPM layer (any handle number): the object or NV index does not exist.
bool is_handle_error(TSS2_RC rc) { return is_fmt1_error(rc, TPM2_RC_HANDLE); }

result<bytes> marshal_signature(const TPMT_SIGNATURE& sig) {
    bytes out(sizeof(TPMT_SIGNATURE));
    size_t off = 0;
    TSS2_RC rc = Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, out.data(), out.size(), &off);
    if (rc != TSS2_RC_SUCCESS) return tpm_error("Tss2_MU_TPMT_SIGNATURE_Marshal", rc);
    out.resize(off);
    return out;
}

template <class T>
void fill_tpm2b(T& dst, byte_view src) {
    dst.size = static_cast<UINT16>(src.size());
    std::copy(src.begin(), src.end(), dst.buffer);
}

// A policy session over `sel` (PolicyPCR with the TPM's current values), salted with `salt_key` and set to
// encrypt the response: a secret the authorised command returns does not cross the TPM bus in the clear.
result<esys_handle> pcr_policy_session(ESYS_CONTEXT* ctx, ESYS_TR salt_key, const TPML_PCR_SELECTION& sel) {
    TPMT_SYM_DEF sym{};
    sym.algorithm = TPM2_ALG_AES;
    sym.keyBits.aes = 128;
    sym.mode.aes = TPM2_ALG_CFB;
    ESYS_TR session = ESYS_TR_NONE;
    TSS2_RC rc = Esys_StartAuthSession(ctx, salt_key, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                       nullptr, TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256, &session);
    if (rc != TSS2_RC_SUCCESS) return tpm_error("Esys_StartAuthSession(policy, salted)", rc);
    esys_handle h(ctx, session);
    const TPMA_SESSION attrs = TPMA_SESSION_CONTINUESESSION | TPMA_SESSION_ENCRYPT;
    rc = Esys_TRSess_SetAttributes(ctx, session, attrs, 0xff);
    if (rc != TSS2_RC_SUCCESS) return tpm_error("Esys_TRSess_SetAttributes", rc);
    TPM2B_DIGEST empty{};  // the TPM hashes the PCRs' current values
    rc = Esys_PolicyPCR(ctx, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &empty, &sel);
    if (rc != TSS2_RC_SUCCESS) return tpm_error("Esys_PolicyPCR", rc);
    return h;
}

std::string four_chars(UINT32 v) {
    std::string s;
    for (int shift = 24; shift >= 0; shift -= 8) {
        char c = static_cast<char>((v >> shift) & 0xff);
        if (c != 0) s.push_back(c);
    }
    return s;
}

}  // namespace

result<std::uint64_t> tpm_device::read_clock() const {
    CUSTOS_TRY(ctx, esys_context::open(tcti_));
    esys_out<TPMS_TIME_INFO> t;
    TSS2_RC rc = Esys_ReadClock(ctx.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &t);
    if (rc != TSS2_RC_SUCCESS) return tpm_error("Esys_ReadClock", rc);
    return static_cast<std::uint64_t>(t->clockInfo.clock);
}

result<tpm_vendor> tpm_device::vendor() const {
    CUSTOS_TRY(ctx, esys_context::open(tcti_));
    TPMI_YES_NO more = TPM2_NO;
    esys_out<TPMS_CAPABILITY_DATA> cap;
    TSS2_RC rc = Esys_GetCapability(ctx.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES,
                                    TPM2_PT_MANUFACTURER, 8, &more, &cap);
    if (rc != TSS2_RC_SUCCESS) return tpm_error("Esys_GetCapability(properties)", rc);
    tpm_vendor v;
    std::uint32_t fw1 = 0, fw2 = 0;
    const auto& props = cap->data.tpmProperties;
    for (UINT32 i = 0; i < props.count; ++i) {
        const auto& p = props.tpmProperty[i];
        switch (p.property) {
            case TPM2_PT_MANUFACTURER: v.manufacturer = four_chars(p.value); break;
            case TPM2_PT_VENDOR_STRING_1:
            case TPM2_PT_VENDOR_STRING_2:
            case TPM2_PT_VENDOR_STRING_3:
            case TPM2_PT_VENDOR_STRING_4: v.vendor_string += four_chars(p.value); break;
            case TPM2_PT_FIRMWARE_VERSION_1: fw1 = p.value; break;
            case TPM2_PT_FIRMWARE_VERSION_2: fw2 = p.value; break;
            default: break;
        }
    }
    while (!v.vendor_string.empty() && v.vendor_string.back() == ' ') v.vendor_string.pop_back();
    while (!v.manufacturer.empty() && v.manufacturer.back() == ' ') v.manufacturer.pop_back();
    v.firmware_version = (std::uint64_t{fw1} << 32) | fw2;
    // libtpms (swtpm) reports manufacturer "IBM" and vendor "SW   TPM"; Microsoft's simulator "MSFT"/"Xeon".
    v.software = v.vendor_string.rfind("SW", 0) == 0 || v.manufacturer == "IBM" || v.manufacturer == "MSFT";
    if (v.software)
        spdlog::warn("the TPM at \"{}\" is a software TPM (manufacturer \"{}\", vendor \"{}\"): its keys have no "
                     "hardware protection; use it for tests only",
                     tcti_, v.manufacturer, v.vendor_string);
    return v;
}

result<std::optional<bytes>> tpm_device::read_ek_certificate(ek_kind kind) const {
    CUSTOS_TRY(ctx, esys_context::open(tcti_));
    const TPM2_HANDLE index = ek_cert_nv_index(kind);
    ESYS_TR nv = ESYS_TR_NONE;
    TSS2_RC rc = Esys_TR_FromTPMPublic(ctx.get(), index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv);
    if (is_handle_error(rc)) return std::optional<bytes>{};
    if (rc != TSS2_RC_SUCCESS) return tpm_error("Esys_TR_FromTPMPublic(EK certificate index)", rc);
    esys_tr_ref nv_ref(ctx.get(), nv);
    esys_out<TPM2B_NV_PUBLIC> nv_pub;
    esys_out<TPM2B_NAME> nv_name;
    rc = Esys_NV_ReadPublic(ctx.get(), nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv_pub, &nv_name);
    if (rc != TSS2_RC_SUCCESS) return tpm_error("Esys_NV_ReadPublic", rc);
    const UINT16 size = nv_pub->nvPublic.dataSize;
    const TPMA_NV attrs = nv_pub->nvPublic.attributes;
    ESYS_TR auth = nv;
    if (!(attrs & TPMA_NV_AUTHREAD)) {
        if (attrs & TPMA_NV_OWNERREAD)
            auth = ESYS_TR_RH_OWNER;
        else
            return make_error(errc::tpm, "EK certificate NV index is readable neither with its own nor owner auth");
    }
    bytes out;
    out.reserve(size);
    constexpr UINT16 chunk = 512;  // below every TPM's TPM2_PT_NV_BUFFER_MAX
    for (UINT16 off = 0; off < size;) {
        UINT16 n = std::min<UINT16>(chunk, static_cast<UINT16>(size - off));
        esys_out<TPM2B_MAX_NV_BUFFER> data;
        rc = Esys_NV_Read(ctx.get(), auth, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, n, off, &data);
        if (rc != TSS2_RC_SUCCESS) return tpm_error("Esys_NV_Read(EK certificate)", rc);
        out.insert(out.end(), data->buffer, data->buffer + data->size);
        off = static_cast<UINT16>(off + n);
    }
    return std::optional<bytes>{std::move(out)};
}

result<TPM2B_PUBLIC> tpm_device::ek_public(ek_kind kind) const {
    CUSTOS_TRY(ctx, esys_context::open(tcti_));
    CUSTOS_TRY(ek, create_ek(ctx.get(), kind));
    return ek.pub;
}

result<ak_key> tpm_device::create_ak(ek_kind parent, ak_alg alg) const {
    CUSTOS_TRY(ctx, esys_context::open(tcti_));
    CUSTOS_TRY(ek, create_ek(ctx.get(), parent));
    CUSTOS_TRY(auth, authorize_ek(ctx.get(), parent));
    TPM2B_PUBLIC tmpl = ak_template(alg);
    TPM2B_SENSITIVE_CREATE sens{};
    TPM2B_DATA outside{};
    TPML_PCR_SELECTION creation_pcr{};
    esys_out<TPM2B_PRIVATE> priv;
    esys_out<TPM2B_PUBLIC> pub;
    esys_out<TPM2B_CREATION_DATA> creation_data;
    esys_out<TPM2B_DIGEST> creation_hash;
    esys_out<TPMT_TK_CREATION> creation_ticket;
    TSS2_RC rc = Esys_Create(ctx.get(), ek.handle.get(), auth.tr(), ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl,
                             &outside, &creation_pcr, &priv, &pub, &creation_data, &creation_hash,
                             &creation_ticket);
    if (rc != TSS2_RC_SUCCESS) return with_context(tpm_error("Esys_Create", rc), "creating the AK");
    return ak_key{parent, *pub, *priv};
}

result<pcr_values> tpm_device::pcr_read(const TPML_PCR_SELECTION& sel) const {
    CUSTOS_TRY(ctx, esys_context::open(tcti_));
    return read_pcrs(ctx.get(), sel);
}

result<void> tpm_device::pcr_extend(unsigned index, const std::vector<std::pair<hash_alg, bytes>>& digests) const {
    if (index > 23) return make_error(errc::invalid_argument, "PCR " + std::to_string(index) + " (0..23)");
    if (digests.empty() || digests.size() > TPM2_NUM_PCR_BANKS)
        return make_error(errc::invalid_argument, "pcr_extend: 1.." + std::to_string(TPM2_NUM_PCR_BANKS) + " digests");
    TPML_DIGEST_VALUES values{};
    values.count = static_cast<UINT32>(digests.size());
    for (std::size_t i = 0; i < digests.size(); ++i) {
        const auto& [alg, d] = digests[i];
        if (d.size() != digest_size(alg))
            return make_error(errc::invalid_argument, std::string("pcr_extend: a ") + hash_name(alg) + " digest of " +
                                                          std::to_string(d.size()) + " bytes");
        values.digests[i].hashAlg = to_tpm_alg(alg);
        std::copy(d.begin(), d.end(), reinterpret_cast<std::uint8_t*>(&values.digests[i].digest));
    }
    CUSTOS_TRY(ctx, esys_context::open(tcti_));
    const TSS2_RC rc = Esys_PCR_Extend(ctx.get(), static_cast<ESYS_TR>(ESYS_TR_PCR0 + index), ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                       ESYS_TR_NONE, &values);
    if (rc != TSS2_RC_SUCCESS) return tpm_error("Esys_PCR_Extend", rc);
    return {};
}

result<quote_output> tpm_device::quote(const ak_key& ak, byte_view qualification,
                                       const TPML_PCR_SELECTION& sel) const {
    if (qualification.size() > sizeof(TPM2B_DATA::buffer))
        return make_error(errc::invalid_argument, "qualification is " + std::to_string(qualification.size()) +
                                                      " bytes; a TPM accepts at most " +
                                                      std::to_string(sizeof(TPM2B_DATA::buffer)));
    CUSTOS_TRY(ctx, esys_context::open(tcti_));
    CUSTOS_TRY(ak_handle, load_ak_only(ctx.get(), ak));
    TPM2B_DATA qual{};
    qual.size = static_cast<UINT16>(qualification.size());
    std::copy(qualification.begin(), qualification.end(), qual.buffer);
    TPMT_SIG_SCHEME scheme{};
    scheme.scheme = TPM2_ALG_NULL;  // the AK's own scheme

    for (int attempt = 0; attempt < 3; ++attempt) {
        esys_out<TPM2B_ATTEST> quoted;
        esys_out<TPMT_SIGNATURE> sig;
        TSS2_RC rc = Esys_Quote(ctx.get(), ak_handle.get(), ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &qual,
                                &scheme, &sel, &quoted, &sig);
        if (rc != TSS2_RC_SUCCESS) return tpm_error("Esys_Quote", rc);
        CUSTOS_TRY(values, read_pcrs(ctx.get(), sel));

        TPMS_ATTEST attest{};
        size_t off = 0;
        rc = Tss2_MU_TPMS_ATTEST_Unmarshal(quoted->attestationData, quoted->size, &off, &attest);
        if (rc != TSS2_RC_SUCCESS) return tpm_error("Tss2_MU_TPMS_ATTEST_Unmarshal(quote from TPM)", rc);
        TPMI_ALG_HASH h = sig->signature.any.hashAlg;
        CUSTOS_TRY(digest, pcr_composite_digest(h, attest.attested.quote.pcrSelect, values));
        const auto& quoted_digest = attest.attested.quote.pcrDigest;
        if (!equal_ct(digest, byte_view(quoted_digest.buffer, quoted_digest.size))) {
            spdlog::debug("PCRs changed between quote and read, retrying");
            continue;
        }
        quote_output out;
        out.attest.assign(quoted->attestationData, quoted->attestationData + quoted->size);
        CUSTOS_TRY(sig_bytes, marshal_signature(*sig));
        out.signature = std::move(sig_bytes);
        out.selection = attest.attested.quote.pcrSelect;
        out.pcrs = std::move(values);
        return out;
    }
    return make_error(errc::tpm, "PCRs kept changing between quote and read (3 attempts)");
}

result<secret_bytes> tpm_device::activate_credential(const ak_key& ak, const credential_blob& blob) const {
    TPM2B_ID_OBJECT id{};
    size_t off = 0;
    TSS2_RC rc = Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(blob.id_object.data(), blob.id_object.size(), &off, &id);
    if (rc != TSS2_RC_SUCCESS || off != blob.id_object.size())
        return make_error(errc::parse, "credential blob: malformed TPM2B_ID_OBJECT");
    TPM2B_ENCRYPTED_SECRET secret{};
    off = 0;
    rc = Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(blob.encrypted_secret.data(), blob.encrypted_secret.size(), &off,
                                                  &secret);
    if (rc != TSS2_RC_SUCCESS || off != blob.encrypted_secret.size())
        return make_error(errc::parse, "credential blob: malformed TPM2B_ENCRYPTED_SECRET");

    CUSTOS_TRY(ctx, esys_context::open(tcti_));
    CUSTOS_TRY(ek, create_ek(ctx.get(), ak.parent));
    CUSTOS_TRY(ak_handle, load_ak(ctx.get(), ek.handle.get(), ak));
    CUSTOS_TRY(auth, authorize_ek(ctx.get(), ak.parent));
    esys_out<TPM2B_DIGEST> cert_info;
    rc = Esys_ActivateCredential(ctx.get(), ak_handle.get(), ek.handle.get(), ESYS_TR_PASSWORD, auth.tr(),
                                 ESYS_TR_NONE, &id, &secret, &cert_info);
    if (rc != TSS2_RC_SUCCESS) return tpm_error("Esys_ActivateCredential", rc);
    secret_bytes out(byte_view(cert_info->buffer, cert_info->size));
    sodium_memzero(cert_info->buffer, sizeof cert_info->buffer);
    return out;
}

result<bound_key> tpm_device::create_bound_key(ek_kind parent, const TPML_PCR_SELECTION& sel) const {
    CUSTOS_TRY(ctx, esys_context::open(tcti_));
    CUSTOS_TRY(ek, create_ek(ctx.get(), parent));
    for (int attempt = 0; attempt < 3; ++attempt) {
        CUSTOS_TRY(values, read_pcrs(ctx.get(), sel));
        CUSTOS_TRY(policy, policy_pcr_digest(sel, values));
        CUSTOS_TRY(auth, authorize_ek(ctx.get(), parent));
        TPM2B_PUBLIC tmpl = bound_key_template(policy);
        TPM2B_SENSITIVE_CREATE sens{};
        TPM2B_DATA outside{};
        esys_out<TPM2B_PRIVATE> priv;
        esys_out<TPM2B_PUBLIC> pub;
        esys_out<TPM2B_CREATION_DATA> creation_data;
        esys_out<TPM2B_DIGEST> creation_hash;
        esys_out<TPMT_TK_CREATION> creation_ticket;
        TSS2_RC rc = Esys_Create(ctx.get(), ek.handle.get(), auth.tr(), ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl,
                                 &outside, &sel, &priv, &pub, &creation_data, &creation_hash, &creation_ticket);
        if (rc != TSS2_RC_SUCCESS) return with_context(tpm_error("Esys_Create", rc), "creating the bound key");
        // The creation data's PCR digest (nameAlg sha256) is of the values at creation: if they are not the ones
        // read above, the key's policy names a state that is already gone.
        CUSTOS_TRY(read_digest, pcr_composite_digest(TPM2_ALG_SHA256, sel, values));
        const auto& at_creation = creation_data->creationData.pcrDigest;
        if (!equal_ct(read_digest, byte_view(at_creation.buffer, at_creation.size))) {
            spdlog::debug("PCRs changed between read and key creation, retrying");
            continue;
        }
        return bound_key{parent, *pub, *priv, *creation_data, *creation_hash, *creation_ticket, sel};
    }
    return make_error(errc::tpm, "PCRs kept changing while the bound key was created (3 attempts)");
}

result<creation_proof> tpm_device::certify_creation(const ak_key& ak, const bound_key& key, byte_view nonce) const {
    if (nonce.size() > sizeof(TPM2B_DATA::buffer))
        return make_error(errc::invalid_argument, "the nonce is " + std::to_string(nonce.size()) +
                                                      " bytes; a TPM accepts at most " +
                                                      std::to_string(sizeof(TPM2B_DATA::buffer)));
    CUSTOS_TRY(ctx, esys_context::open(tcti_));
    // Three transient slots: EK, AK and key fit, but the EK goes as soon as its children are loaded.
    esys_handle ak_handle, key_handle;
    {
        CUSTOS_TRY(ek, create_ek(ctx.get(), ak.parent));
        CUSTOS_TRY(a, load_ak(ctx.get(), ek.handle.get(), ak));
        ak_handle = std::move(a);
        if (key.parent == ak.parent) {
            CUSTOS_TRY(k, load_child(ctx.get(), ek.handle.get(), key.parent, key.priv, key.pub, "the bound key"));
            key_handle = std::move(k);
        }
    }
    if (key_handle.get() == ESYS_TR_NONE) {
        CUSTOS_TRY(k, load_bound_key_only(ctx.get(), key));
        key_handle = std::move(k);
    }
    TPM2B_DATA qual{};
    fill_tpm2b(qual, nonce);
    TPMT_SIG_SCHEME scheme{};
    scheme.scheme = TPM2_ALG_NULL;  // the AK's own scheme
    esys_out<TPM2B_ATTEST> certify_info;
    esys_out<TPMT_SIGNATURE> sig;
    TSS2_RC rc = Esys_CertifyCreation(ctx.get(), ak_handle.get(), key_handle.get(), ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                      ESYS_TR_NONE, &qual, &key.creation_hash, &scheme, &key.ticket, &certify_info,
                                      &sig);
    if (rc != TSS2_RC_SUCCESS) return tpm_error("Esys_CertifyCreation", rc);
    creation_proof out;
    out.key_public = marshal_public(key.pub);
    out.creation_data = marshal_creation_data(key.creation_data);
    if (out.key_public.empty() || out.creation_data.empty())
        return make_error(errc::structure, "the bound key's public area or creation data cannot be marshalled");
    out.attest.assign(certify_info->attestationData, certify_info->attestationData + certify_info->size);
    CUSTOS_TRY(sig_bytes, marshal_signature(*sig));
    out.signature = std::move(sig_bytes);
    return out;
}

result<secret_bytes> tpm_device::unwrap_with_bound_key(const bound_key& key, byte_view wrapped) const {
    if (wrapped.empty() || wrapped.size() > sizeof(TPM2B_PUBLIC_KEY_RSA::buffer))
        return make_error(errc::invalid_argument,
                          "a wrapped key of " + std::to_string(wrapped.size()) + " bytes is no RSA ciphertext");
    TPM2B_PUBLIC_KEY_RSA cipher{};
    fill_tpm2b(cipher, wrapped);
    TPMT_RSA_DECRYPT scheme{};
    scheme.scheme = TPM2_ALG_OAEP;
    scheme.details.oaep.hashAlg = TPM2_ALG_SHA256;
    TPM2B_DATA label{};
    fill_tpm2b(label, bound_key_label());

    CUSTOS_TRY(ctx, esys_context::open(tcti_));
    CUSTOS_TRY(ek, create_ek(ctx.get(), key.parent));
    CUSTOS_TRY(key_handle, load_child(ctx.get(), ek.handle.get(), key.parent, key.priv, key.pub, "the bound key"));
    // TPM_RC_PCR_CHANGED: a PCR was extended between PolicyPCR and the decryption (IMA does so all the time).
    for (int attempt = 0; attempt < 3; ++attempt) {
        CUSTOS_TRY(session, pcr_policy_session(ctx.get(), ek.handle.get(), key.selection));
        esys_out<TPM2B_PUBLIC_KEY_RSA> message;
        TSS2_RC rc = Esys_RSA_Decrypt(ctx.get(), key_handle.get(), session.get(), ESYS_TR_NONE, ESYS_TR_NONE,
                                      &cipher, &scheme, &label, &message);
        if (from_tpm(rc) && (rc & 0xffff) == TPM2_RC_PCR_CHANGED) continue;
        if (is_fmt1_error(rc, TPM2_RC_POLICY_FAIL))
            return make_error(errc::mismatch,
                              "the host's boot state no longer matches the key's PCR policy: PCRs " +
                                  format_pcr_selection(key.selection) +
                                  " differ from their values when the key was made, so the TPM refuses to use it (" +
                                  rc_text(rc) + ")");
        if (rc != TSS2_RC_SUCCESS) return tpm_error("Esys_RSA_Decrypt", rc);
        const std::size_t n = std::min<std::size_t>(message->size, sizeof message->buffer);
        secret_bytes out(byte_view(message->buffer, n));
        sodium_memzero(message->buffer, sizeof message->buffer);
        return out;
    }
    return make_error(errc::tpm, "PCRs kept changing while the bound key was used (3 attempts)");
}

bytes serialize_ak_key(const ak_key& ak) {
    bytes out{'C', 'A', 'K', '1', static_cast<std::uint8_t>(ak.parent)};
    append(out, marshal_public(ak.pub));
    std::size_t base = out.size();
    out.resize(base + sizeof(TPM2B_PRIVATE));
    size_t off = base;
    (void)Tss2_MU_TPM2B_PRIVATE_Marshal(&ak.priv, out.data(), out.size(), &off);
    out.resize(off);
    return out;
}

result<ak_key> parse_ak_key(byte_view data) {
    if (data.size() < 5 || std::memcmp(data.data(), "CAK1", 4) != 0)
        return make_error(errc::parse, "not a custos AK key file (missing CAK1 header)");
    if (data[4] > static_cast<std::uint8_t>(ek_kind::ecc_p384))
        return make_error(errc::parse, "AK key file names an unknown parent EK kind");
    ak_key ak;
    ak.parent = static_cast<ek_kind>(data[4]);
    if (data.size() < 7) return make_error(errc::parse, "AK key file: truncated before the public area");
    // unmarshal_public works on an exact slice (tss2-mu's TPM2B_PUBLIC unmarshaller may overrun its size).
    const std::size_t pub_len = 2 + (static_cast<std::size_t>(data[5]) << 8 | data[6]);
    if (data.size() < 5 + pub_len) return make_error(errc::parse, "AK key file: truncated public area");
    auto pub = unmarshal_public(data.subspan(5, pub_len));
    if (!pub.ok()) return with_context(std::move(pub).err(), "AK key file");
    ak.pub = *pub;
    size_t off = 5 + pub_len;
    if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(data.data(), data.size(), &off, &ak.priv) != TSS2_RC_SUCCESS)
        return make_error(errc::parse, "AK key file: malformed TPM2B_PRIVATE");
    if (off != data.size()) return make_error(errc::parse, "AK key file: trailing bytes");
    return ak;
}

}  // namespace custos::attest
