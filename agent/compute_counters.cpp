#include "agent/compute_counters.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>

#include "crypto/file_io.hpp"
#include "crypto/strict_json.hpp"

namespace custos::agent {
namespace json = boost::json;

std::string gpu_key(const gpu_info& g) {
    if (!g.serial.empty()) return g.serial;
    if (!g.uuid.empty()) return "uuid:" + g.uuid;
    return "pci:" + g.pci_bus_id;
}

result<compute_counters> compute_counters::open(const std::filesystem::path& state_dir) {
    const auto file = state_dir / "counters.json";
    if (!std::filesystem::exists(file)) {
        compute_counters c;
        c.file_ = file;
        return c;
    }
    CUSTOS_TRY(data, read_file(file, 8u << 20));
    return parse(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()), file);
}

result<compute_counters> compute_counters::parse(std::string_view text, const std::filesystem::path& file) {
    compute_counters c;
    c.file_ = file;
    const std::string where = c.file_.string();
    auto fail = [&](const error& e) {
        return make_error(errc::parse, where + ": " + e.message +
                                           " (compute counters must never restart silently; restore the file, or move it "
                                           "away to start from zero, which the verifier records)");
    };
    auto v = sjson::parse(text, where);
    if (!v) return fail(v.err());
    auto o = sjson::object_reader::of(*v, where);
    if (!o) return fail(o.err());
    if (auto only = o->only({"v", "gpus"}); !only) return fail(only.err());
    // A format this agent does not know (a newer agent's file, after a downgrade) is not read as this one.
    auto version = o->u64("v");
    if (!version) return fail(version.err());
    if (*version != 1) return fail(o->bad("v", "is " + std::to_string(*version) + "; this agent reads version 1"));
    auto gpus = o->obj("gpus");
    if (!gpus) return fail(gpus.err());
    for (const auto& [key, val] : gpus->raw()) {
        auto g = sjson::object_reader::of(val, where + ": gpu " + std::string(key));
        if (!g) return fail(g.err());
        gpu_counter k;
        for (auto [name, target] : {std::pair<const char*, double*>{"busy_s", &k.busy_s}, {"tpp_s", &k.tpp_s}, {"ops", &k.ops}}) {
            auto x = g->value(name);
            if (!x) return fail(x.err());
            if (!(*x)->is_number() || !std::isfinite((*x)->to_number<double>()) || (*x)->to_number<double>() < 0)
                return fail(g->bad(name, "must be a number ≥ 0"));
            *target = (*x)->to_number<double>();
        }
        auto mj = g->u64("energy_mj");
        if (!mj) return fail(mj.err());
        k.energy_mj = *mj;
        auto raw = g->opt_u64("energy_raw");
        if (!raw) return fail(raw.err());
        k.energy_raw = *raw;
        c.counters_[std::string(key)] = k;
    }
    return c;
}

result<void> compute_counters::sample(const gpu_inventory& inv, const policy::chip_table& chips, double dt_s, double max_dt_s) {
    // Written so that NaN (and a limit that is not positive) counts nothing: std::clamp would pass NaN
    // through, and one NaN persisted makes counters.json unreadable at the next start.
    const double dt = dt_s > 0 && max_dt_s > 0 ? std::min(dt_s, max_dt_s) : 0.0;
    for (const auto& g : inv.gpus) {
        gpu_counter& k = counters_[gpu_key(g)];
        const double busy = dt * (g.utilization_gpu ? *g.utilization_gpu / 100.0 : 1.0);
        k.busy_s += busy;
        if (const policy::chip* c = chip_of(g, chips)) {
            if (c->tpp) k.tpp_s += busy * *c->tpp;
            if (auto peak = c->peak_ops_per_s()) k.ops += busy * *peak;
        }
        if (g.energy_mj) {
            // The driver's counter restarts at zero when the driver reloads: count what it shows since.
            if (k.energy_raw) k.energy_mj += *g.energy_mj >= *k.energy_raw ? *g.energy_mj - *k.energy_raw : *g.energy_mj;
            k.energy_raw = *g.energy_mj;
        }
    }
    json::object gpus;
    for (const auto& [key, k] : counters_) {
        json::object o{{"busy_s", k.busy_s}, {"tpp_s", k.tpp_s}, {"ops", k.ops}, {"energy_mj", k.energy_mj}};
        if (k.energy_raw) o["energy_raw"] = *k.energy_raw;
        gpus[key] = std::move(o);
    }
    return write_file_atomic(file_, json::serialize(json::object{{"v", 1}, {"gpus", std::move(gpus)}}), 0600);
}

attest::report_ext compute_counters::to_ext(const gpu_inventory& inv, const policy::chip_table& chips) const {
    attest::report_ext e;
    e.inventory_source = inv.source;
    e.driver_version = inv.driver_version;
    for (const auto& g : inv.gpus) {
        attest::gpu_report r;
        r.serial = g.serial;
        r.uuid = g.uuid;
        r.name = g.name;
        const policy::chip* c = chip_of(g, chips);
        r.chip = c ? c->id : "unknown";
        r.pci_bus_id = g.pci_bus_id;
        r.util = g.utilization_gpu;
        if (auto it = counters_.find(gpu_key(g)); it != counters_.end()) {
            r.busy_s = it->second.busy_s;
            r.tpp_s = it->second.tpp_s;
            r.ops = it->second.ops;
            r.energy_mj = it->second.energy_mj;
        }
        e.gpus.push_back(std::move(r));
    }
    if (inv.pci_error.empty()) e.pci = inv.pci;
    else e.pci_error = inv.pci_error;
    return e;
}

}  // namespace custos::agent
