#include "verifier/rounds/key_release.hpp"

#include <boost/json.hpp>

#include <algorithm>

#include "attest/bound_key.hpp"
#include "attest/wire.hpp"

namespace custos::verifier {
namespace json = boost::json;

namespace {

// An open violation about the host, its site, its entity or its country, as a sentence: the host's own
// before the others (they explain a failing status), the earliest first (the cause, rather than what
// followed from it, such as key-held-by-failing-host).
std::optional<std::string> standing_violation(const release_facts& f) {
    const host_record& h = *f.host;
    const finding_record* first = nullptr;
    for (const auto& x : f.open_findings) {
        if (!x.open || x.severity != "violation") continue;
        const bool hit = x.host == h.id || (f.site && x.subject_kind == "site" && x.subject == f.site->id) ||
                         (x.subject_kind == "entity" && f.entity && x.subject == f.entity->id) ||
                         (f.site && x.subject_kind == "country" && x.subject == f.site->country) ||
                         (f.model && x.subject_kind == "model" && x.host.empty() && x.subject == f.model->id);
        if (!hit) continue;
        const bool own = x.host == h.id;
        if (!first || (own && first->host != h.id) || (own == (first->host == h.id) && x.id < first->id)) first = &x;
    }
    if (!first) return std::nullopt;
    const std::string about = first->host == h.id ? "host " + h.id : first->subject_kind + " " + first->subject;
    return "a violation stands for " + about + ": " + first->rule + " (finding " + std::to_string(first->id) + ")";
}

}  // namespace

std::optional<std::string> release_denial(const release_facts& f) {
    const host_record& h = *f.host;
    if (h.state != "approved") return "host " + h.id + " is " + h.state + ", not approved to a site";
    if (!f.model) return "no such model is registered";
    if (!f.latest) return "host " + h.id + " has not been appraised yet";
    // A failing status is named with the violation behind it, where one stands (a policy rule, a PCR change).
    auto because = [&] {
        const auto v = standing_violation(f);
        return v ? " (" + *v + ")" : std::string();
    };
    if (f.latest->status != "affirming" && f.latest->status != "warning")
        return "host " + h.id + "'s latest appraisal is " + f.latest->status + because();
    if (h.status != "affirming" && h.status != "warning") return "host " + h.id + " is " + h.status + " now" + because();
    if (f.now - f.latest->time > f.max_appraisal_age_s)
        return "host " + h.id + "'s latest appraisal is " + std::to_string(f.now - f.latest->time) + " s old (at most " +
               std::to_string(f.max_appraisal_age_s) + " s): attest again first";
    // Only a round's quote over a fresh challenge shows the boot state, agent and location now; appraisal
    // rows of other kinds (a location proof) never stand in for it.
    if (f.now - h.last_quote_at > f.max_appraisal_age_s)
        return "host " + h.id + "'s last challenged quote is " +
               (h.last_quote_at ? std::to_string(f.now - h.last_quote_at) + " s old" : std::string("missing")) +
               " (at most " + std::to_string(f.max_appraisal_age_s) + " s): attest again first";
    if (std::find(f.model_sites.begin(), f.model_sites.end(), h.site) == f.model_sites.end())
        return "model " + f.model->id + " is not approved for site " + h.site;
    if (!f.site) return "host " + h.id + "'s site " + h.site + " is not on record";
    if (auto v = standing_violation(f)) return v;
    if (f.location_required) {
        if (!f.location) return "host " + h.id + " has not proved its location at site " + h.site + " yet";
        if (f.location->verdict != "within")
            return "host " + h.id + "'s latest location proof is " + f.location->verdict + ", not within site " + h.site;
        if (f.now - f.location->time > f.max_location_age_s)
            return "host " + h.id + "'s latest location proof is " + std::to_string(f.now - f.location->time) +
                   " s old (at most " + std::to_string(f.max_location_age_s) + " s): answer a location round first";
    }
    if (f.attested_gpus_required && !f.unattested.empty())
        return "host " + h.id + "'s GPUs must be attested here and are not all: " + f.unattested;
    return std::nullopt;
}

result<bytes> expected_bound_key_policy(const host_record& h) {
    CUSTOS_TRY(sel, attest::parse_pcr_selection(bound_key_pcrs));
    if (h.golden_pcrs.empty())
        return make_error(errc::structure, "host " + h.id + " has no appraised PCR values yet (no quote since approval)");
    boost::system::error_code ec;
    json::value v = json::parse(h.golden_pcrs, ec);
    if (ec || !v.is_object() || !v.as_object().contains("sha256") || !v.as_object().at("sha256").is_object())
        return make_error(errc::structure, "host " + h.id + "'s appraised PCR values have no sha256 bank");
    json::object bank;
    for (int i = 0; i < 8; ++i) {
        const std::string k = std::to_string(i);
        const auto* x = v.as_object().at("sha256").as_object().if_contains(k);
        if (!x) return make_error(errc::structure, "host " + h.id + "'s appraised PCR values lack sha256:" + k);
        bank[k] = *x;
    }
    CUSTOS_TRY(vals, attest::pcrs_from_json(json::object{{"sha256", std::move(bank)}}, sel));
    return attest::policy_pcr_digest(sel, vals);
}

}  // namespace custos::verifier
