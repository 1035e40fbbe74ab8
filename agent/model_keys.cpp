#include "agent/model_keys.hpp"

#include "agent/answers.hpp"

#include <boost/json.hpp>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <ctime>

#include "attest/messages.hpp"
#include "crypto/base64.hpp"
#include "crypto/strict_json.hpp"

namespace custos::agent {
namespace fs = std::filesystem;
namespace json = boost::json;
namespace {

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

model_keys::model_keys(const attest::tpm_device& dev, fs::path model_dir) : dev_(dev), model_dir_(std::move(model_dir)) {}

std::vector<std::string> model_keys::models_on_disk() const {
    std::vector<std::string> out;
    if (model_dir_.empty()) return out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(model_dir_, ec))
        if (e.is_directory() && fs::is_regular_file(e.path() / "index.json")) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

result<void> model_keys::ensure_bound_key(attest::ek_kind parent) {
    if (bound_) return {};
    CUSTOS_TRY(sel, attest::parse_pcr_selection("sha256:0,1,2,3,4,5,6,7"));
    CUSTOS_TRY(k, dev_.create_bound_key(parent, sel));
    bound_ = std::move(k);
    spdlog::info("made a TPM key bound to PCRs 0-7 of this boot for model keys");
    return {};
}

result<void> model_keys::request(net::https_client& c, const attest::ak_key& ak, const std::string& model) {
    if (!bound_) return make_error(errc::invalid_argument, "no bound key (ensure_bound_key first)");
    CUSTOS_TRY(challenge, fetch_challenge(c));
    const bytes& nonce = challenge.nonce;
    CUSTOS_TRY(proof, dev_.certify_creation(ak, *bound_, nonce));
    CUSTOS_TRY(r2, c.request("POST", "/v1/keys", attest::encode_key_request({model, nonce, std::move(proof)})));
    if (r2.status == 403) return make_error(errc::mismatch, "the verifier refused the key of model " + model + ": " + net::reply_detail(r2));
    if (r2.status != 200) return make_error(errc::io, "key request: HTTP " + std::to_string(r2.status) + ": " + net::reply_detail(r2));
    CUSTOS_TRY(ans, parse_key_answer(r2.body));
    const std::string& lease_id = ans.lease;
    const bytes& root_bytes = ans.model_root;
    const bytes& wrapped = ans.wrapped_key;
    const std::uint64_t ttl = ans.expires_in_s;
    // Only this TPM, in the boot state the key is bound to, turns the wrapped key back into the data key.
    CUSTOS_TRY(dek, dev_.unwrap_with_bound_key(*bound_, wrapped));
    weights::digest root{};
    std::copy(root_bytes.begin(), root_bytes.end(), root.begin());
    CUSTOS_TRY(sealed, weights::sealed_model::open(model_dir_ / model, dek, model, root));
    std::lock_guard lock(mu_);
    lease& l = leases_[model];
    l.id = lease_id;
    l.model.emplace(std::move(sealed));
    const auto now = clock::now();
    l.expires = now + std::chrono::seconds(ttl);
    l.renew_at = now + std::chrono::seconds(std::max<std::uint64_t>(1, ttl / 3));
    l.handed_out = false;
    event("key-release", model, "lease " + lease_id + " for " + std::to_string(ttl) + " s");
    spdlog::info("model {}: key released (lease {}, {} s)", model, lease_id, ttl);
    return {};
}

std::vector<std::string> model_keys::maintain(net::https_client* c) {
    std::vector<std::pair<std::string, std::string>> due;  // model, lease id
    std::vector<std::string> dropped;
    {
        std::lock_guard lock(mu_);
        const auto now = clock::now();
        for (auto it = leases_.begin(); it != leases_.end();) {
            auto next = std::next(it);
            if (now >= it->second.expires) {
                dropped.push_back(it->first);
                drop_locked(it->first, "lease " + it->second.id + " lapsed without renewal");
            } else if (now >= it->second.renew_at) {
                due.emplace_back(it->first, it->second.id);
            }
            it = next;
        }
    }
    if (!c) return dropped;
    for (const auto& [model, id] : due) {
        auto r = c->request("POST", "/v1/leases/renew", attest::encode_lease_renewal({id}));
        if (!r) {
            spdlog::warn("model {}: renewing lease {}: {} (kept until it lapses)", model, id, r.err().message);
            continue;
        }
        std::lock_guard lock(mu_);
        auto it = leases_.find(model);
        if (it == leases_.end() || it->second.id != id) continue;
        if (r->status == 200) {
            // An answer without a TTL in range renews nothing: the lease keeps its old expiry.
            auto parsed = parse_renew_answer(r->body);
            if (!parsed) {
                spdlog::warn("model {}: renewing lease {}: {}", model, id, parsed.err().message);
                continue;
            }
            const std::uint64_t ttl = *parsed;
            const auto now = clock::now();
            it->second.expires = now + std::chrono::seconds(ttl);
            it->second.renew_at = now + std::chrono::seconds(std::max<std::uint64_t>(1, ttl / 3));
        } else if (r->status == 403 || r->status == 404) {
            dropped.push_back(model);
            drop_locked(model, "the verifier ended lease " + id + ": " + net::reply_detail(*r));
        }
    }
    return dropped;
}

void model_keys::drop(const std::string& model, const std::string& why) {
    std::lock_guard lock(mu_);
    drop_locked(model, why);
}

void model_keys::drop_locked(const std::string& model, const std::string& why) {
    auto it = leases_.find(model);
    if (it == leases_.end()) return;
    const std::string id = it->second.id;
    leases_.erase(it);  // the sealed_model's data key lives in secret_bytes: zeroed and unlocked here
    event("key-drop", model, "lease " + id + ": " + why);
    spdlog::warn("model {}: key dropped: {}", model, why);
}

bool model_keys::holding(const std::string& model) {
    std::lock_guard lock(mu_);
    return leases_.count(model) > 0;
}

bool model_keys::holds_lease(const std::string& model) {
    std::lock_guard lock(mu_);
    auto it = leases_.find(model);
    return it != leases_.end() && clock::now() < it->second.expires;
}

source_answer model_keys::open_file(const std::string& model, const std::string& rel, unsigned) {
    std::unique_lock lock(mu_);
    auto it = leases_.find(model);
    if (it == leases_.end() || !it->second.model) return source_answer::refuse(weights_refusal::no_lease, "no key is held for model " + model);
    if (!it->second.model->find(rel)) return source_answer::refuse(weights_refusal::no_such_file, "model " + model + " has no file " + rel);
    // Decrypting under the lock keeps the data key alive while it is in use; a drop waits for it.
    auto fd = weights::decrypt_to_sealed_memfd(*it->second.model, rel);
    if (!fd) return source_answer::refuse(weights_refusal::decrypt_failed, fd.err().message);
    return source_answer::file(std::move(fd).value());
}

void model_keys::record_hand_out(const hand_out& h) {
    std::lock_guard lock(mu_);
    handed_out_.insert(h.model);
    if (auto it = leases_.find(h.model); it != leases_.end()) it->second.handed_out = true;
    event("weights-handout", h.model,
          h.file + " (" + std::to_string(h.size) + " bytes) to uid " + std::to_string(h.uid) + " pid " + std::to_string(h.pid));
}

void model_keys::drain(std::vector<attest::report_event>& events, std::vector<std::string>& models) {
    std::lock_guard lock(mu_);
    const std::size_t n = std::min(events_.size(), attest::max_ext_events);
    events.assign(events_.begin(), events_.begin() + static_cast<std::ptrdiff_t>(n));
    events_.erase(events_.begin(), events_.begin() + static_cast<std::ptrdiff_t>(n));
    std::set<std::string> m = std::move(handed_out_);
    handed_out_.clear();
    for (const auto& [id, l] : leases_)
        if (l.handed_out) m.insert(id);
    models.assign(m.begin(), m.end());
}

void model_keys::event(const std::string& kind, const std::string& model, const std::string& detail) {
    events_.push_back({kind, model, detail.substr(0, 256), unix_now()});
    if (events_.size() > 4 * attest::max_ext_events) events_.erase(events_.begin());  // never grows without bound
}

}  // namespace custos::agent
