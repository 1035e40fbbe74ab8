#include "verifier/gpu_attestation_appraisal.hpp"

#include <algorithm>
#include <set>

#include "crypto/digest.hpp"
#include "verifier/findings.hpp"
#include "verifier/service.hpp"

namespace custos::verifier {
namespace {

constexpr std::int64_t chain_cache_ttl_s = 3600;
constexpr std::size_t chain_cache_max = 4096;

std::string short_id(const std::string& hex) { return hex.substr(0, 16); }

std::string when(std::int64_t t) { return "t=" + std::to_string(t); }

}  // namespace

result<attest::gpu_chain> gpu_chain_cache::get(const std::string& chain_pem, const std::string& root_pem, std::int64_t now) {
    hasher h(hash_alg::sha256);
    h.update(byte_view(reinterpret_cast<const std::uint8_t*>(root_pem.data()), root_pem.size()));
    static const std::uint8_t separator = 0;
    h.update(byte_view(&separator, 1));
    h.update(byte_view(reinterpret_cast<const std::uint8_t*>(chain_pem.data()), chain_pem.size()));
    const std::string key = to_hex(h.finish());
    {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = cache_.find(key);
        if (it != cache_.end() && now - it->second.at < chain_cache_ttl_s) return it->second.chain;
    }
    CUSTOS_TRY(chain, attest::gpu_chain::verify(chain_pem, root_pem));
    std::lock_guard<std::mutex> lock(mu_);
    if (cache_.size() >= chain_cache_max) cache_.clear();
    cache_[key] = entry{chain, now};
    return chain;
}

result<void> appraise_gpu_attestations(service_context& ctx, store_tx& tx, const host_record& h,
                                       const attest::attest_request& msg, std::int64_t now,
                                       std::vector<finding_record>& raised) {
    if (h.state != "approved") return {};
    CUSTOS_TRY(inv, tx.get_host_inventory(h.id));
    const std::vector<std::string> listed = inv ? inv->serials : std::vector<std::string>{};
    auto raise = [&](const std::string& rule, const std::string& serial, const std::string& detail) {
        return raise_finding(tx, subject_finding(rule, h.id, "gpu", serial, detail, now), raised);
    };
    // A round with no GPU evidence at all from a host whose listed GPUs attested before: the evidence was
    // left out (an agent that skips the call is the same as a GPU that stops answering).
    std::set<std::string> sent;
    for (const auto& e : msg.gpus) sent.insert(e.serial);
    CUSTOS_TRY(before, tx.list_gpu_attestations(h.id));
    for (const auto& b : before)
        if (b.status == "valid" && b.last_valid > 0 && !sent.count(b.serial) &&
            std::binary_search(listed.begin(), listed.end(), b.serial))
            CUSTOS_TRY_VOID(raise("gpu-attestation-invalid", b.serial,
                                  "GPU " + b.serial + " on host " + h.id + " gave valid attestation reports until " +
                                      when(b.last_valid) + " and the round carries no evidence for it"));
    for (const auto& e : msg.gpus) {
        const std::string& serial = e.serial;
        // Only serials the host's own inventory lists are bound (a round may come before the report that
        // lists a new GPU; that GPU's evidence counts from the next round). Others are not stored: a host
        // cannot fill the table with serials it does not hold.
        if (!std::binary_search(listed.begin(), listed.end(), serial)) continue;
        CUSTOS_TRY(prev, tx.get_gpu_attestation(serial));
        gpu_attestation_record rec = prev ? *prev : gpu_attestation_record{};
        rec.serial = serial;
        const bool same_host = prev && prev->host_id == h.id;
        rec.host_id = h.id;
        rec.time = now;
        if (!e.error.empty()) {
            // A GPU that proved itself and now cannot: its confidential-computing mode was turned off, or
            // something answers in its place.
            if (same_host && prev->last_valid > 0)
                CUSTOS_TRY_VOID(raise("gpu-attestation-invalid", serial,
                                      "GPU " + serial + " on host " + h.id + " gave valid attestation reports until " +
                                          when(prev->last_valid) + " and now gives none: " + e.error));
            rec.status = "unavailable";
            rec.error = e.error;
            CUSTOS_TRY_VOID(tx.put_gpu_attestation(rec));
            continue;
        }
        auto chain = ctx.gpu_chains->get(e.chain, ctx.gpu_root_pem, now);
        auto a = chain ? chain->check(e.report, attest::gpu_round_nonce(msg.nonce, serial))
                       : result<attest::gpu_attestation>(chain.err());
        if (!a) {
            rec.status = "invalid";
            rec.error = a.err().message;
            CUSTOS_TRY_VOID(raise("gpu-attestation-invalid", serial,
                                  "GPU " + serial + " on host " + h.id + ": " + a.err().message));
            CUSTOS_TRY_VOID(tx.put_gpu_attestation(rec));
            continue;
        }
        // The physical GPU behind the serial, from NVIDIA-certified keys rather than the driver's word.
        if (prev && !prev->device_id.empty() && prev->device_id != a->device_id)
            CUSTOS_TRY_VOID(raise("gpu-identity-mismatch", serial,
                                  "serial " + serial + " was attested as GPU device " + short_id(prev->device_id) + " (on host " +
                                      prev->host_id + ") and GPU device " + short_id(a->device_id) + " now answers for it on host " +
                                      h.id + ": another card carries this serial"));
        CUSTOS_TRY(others, tx.gpu_attestations_of_device(a->device_id));
        for (const auto& o : others)
            if (o.serial != serial)
                CUSTOS_TRY_VOID(raise("gpu-identity-mismatch", serial,
                                      "GPU device " + short_id(a->device_id) + " answers as serial " + serial + " on host " + h.id +
                                          " and was attested as serial " + o.serial + " on host " + o.host_id + " (" +
                                          when(o.last_valid) + "): one card, two serials"));
        if (rec.baseline_digest.empty()) {
            rec.baseline_digest = a->measurements_digest;
            rec.baseline_driver = a->driver_version;
            rec.baseline_vbios = a->vbios_version;
        } else if (rec.baseline_digest != a->measurements_digest) {
            CUSTOS_TRY_VOID(raise("gpu-measurements-changed", serial,
                                  "GPU " + serial + " on host " + h.id + " measures differently from its baseline: driver " +
                                      rec.baseline_driver + " → " + a->driver_version + ", VBIOS " + rec.baseline_vbios + " → " +
                                      a->vbios_version + ", measurements " + short_id(rec.baseline_digest) + " → " +
                                      short_id(a->measurements_digest) + " (approve the GPU again to take these as its baseline)"));
        }
        rec.status = "valid";
        rec.error.clear();
        rec.device_id = a->device_id;
        rec.hw_model = a->hw_model;
        rec.fwid = a->fwid;
        rec.driver_version = a->driver_version;
        rec.vbios_version = a->vbios_version;
        rec.mode = a->mode;
        rec.measurements_digest = a->measurements_digest;
        rec.last_valid = now;
        CUSTOS_TRY_VOID(tx.put_gpu_attestation(rec));
    }
    return {};
}

result<std::string> unattested_gpus(store_tx& tx, const std::string& host, std::int64_t now, std::int64_t max_age_s) {
    CUSTOS_TRY(inv, tx.get_host_inventory(host));
    if (!inv) return std::string();
    std::string why;
    for (const auto& serial : inv->serials) {
        CUSTOS_TRY(a, tx.get_gpu_attestation(serial));
        std::string gap;
        if (!a || a->host_id != host) gap = "no attestation report";
        else if (a->status != "valid") gap = a->status + (a->error.empty() ? "" : ": " + a->error.substr(0, 120));
        else if (now - a->last_valid > max_age_s) gap = "last valid report " + std::to_string(now - a->last_valid) + " s ago";
        if (!gap.empty()) why += (why.empty() ? "" : "; ") + serial + " (" + gap + ")";
    }
    if (!inv->pci_only.empty())
        why += std::string(why.empty() ? "" : "; ") + std::to_string(inv->pci_only.size()) +
               " accelerator(s) seen only on the PCI bus cannot attest";
    return why;
}

result<void> rebaseline_gpu_attestation(store_tx& tx, const std::string& host, const std::string& serial, std::int64_t now) {
    CUSTOS_TRY(a, tx.get_gpu_attestation(serial));
    if (!a || a->host_id != host || a->status != "valid") return {};
    a->baseline_digest = a->measurements_digest;
    a->baseline_driver = a->driver_version;
    a->baseline_vbios = a->vbios_version;
    CUSTOS_TRY_VOID(tx.put_gpu_attestation(*a));
    for (const char* rule : {"gpu-measurements-changed", "gpu-identity-mismatch"})
        CUSTOS_TRY_VOID(tx.resolve_subject_findings(host, rule, serial, now));
    return {};
}

}  // namespace custos::verifier
