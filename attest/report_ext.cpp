#include "attest/report_ext.hpp"

#include <boost/json.hpp>

#include <cmath>

#include "crypto/strict_json.hpp"

namespace custos::attest {
namespace json = boost::json;
namespace {

constexpr std::size_t max_text = 256;

result<std::string> text(const sjson::object_reader& o, std::string_view key, bool required) {
    if (!o.has(key)) {
        if (required) return o.bad(key, "is missing");
        return std::string();
    }
    CUSTOS_TRY(s, o.str(key));
    if (s.size() > max_text) return o.bad(key, "is longer than 256 characters");
    for (unsigned char c : s)
        if (c < 0x20) return o.bad(key, "holds a control character");
    return s;
}

result<double> counter(const sjson::object_reader& o, std::string_view key) {
    CUSTOS_TRY(v, o.value(key));
    if (!v->is_number()) return o.bad(key, "must be a number");
    const double d = v->to_number<double>();
    if (!std::isfinite(d) || d < 0 || d > 1e40) return o.bad(key, "must be a finite number ≥ 0");
    return d;
}

}  // namespace

std::string encode_report_ext(const report_ext& e) {
    json::object o;
    if (!e.inventory_source.empty() || !e.inventory_error.empty()) {
        json::object inv;
        inv["source"] = e.inventory_source;
        inv["driver_version"] = e.driver_version;
        if (!e.inventory_error.empty()) inv["error"] = e.inventory_error;
        o["inventory"] = std::move(inv);
        json::array gpus;
        for (const auto& g : e.gpus) {
            json::object j;
            j["serial"] = g.serial;
            j["uuid"] = g.uuid;
            j["name"] = g.name;
            j["chip"] = g.chip;
            j["pci_bus_id"] = g.pci_bus_id;
            if (g.util) j["util"] = *g.util;
            j["busy_s"] = g.busy_s;
            j["tpp_s"] = g.tpp_s;
            j["ops"] = g.ops;
            j["energy_mj"] = g.energy_mj;
            gpus.push_back(std::move(j));
        }
        o["gpus"] = std::move(gpus);
    }
    if (!e.models.empty()) {
        json::array m;
        for (const auto& id : e.models) m.push_back(json::value(id));
        o["models"] = std::move(m);
    }
    if (!e.events.empty()) {
        json::array ev;
        for (const auto& x : e.events)
            ev.push_back(json::object{{"kind", x.kind}, {"model", x.model}, {"detail", x.detail}, {"time", x.time}});
        o["events"] = std::move(ev);
    }
    return json::serialize(o);
}

result<report_ext> parse_report_ext(std::string_view text_in) {
    CUSTOS_TRY(v, sjson::parse(text_in, "report ext", 8));
    CUSTOS_TRY(o, sjson::object_reader::of(v, "report ext"));
    CUSTOS_TRY_VOID(o.only({"inventory", "gpus", "models", "events"}));
    report_ext e;
    if (o.has("inventory") != o.has("gpus"))
        return make_error(errc::structure, "report ext: inventory and gpus go together");
    if (o.has("inventory")) {
        CUSTOS_TRY(inv, o.obj("inventory"));
        CUSTOS_TRY_VOID(inv.only({"source", "driver_version", "error"}));
        CUSTOS_TRY(src, text(inv, "source", true));
        if (src != "nvml" && src != "sysfs" && src != "")
            return inv.bad("source", "must be \"nvml\" or \"sysfs\"");
        e.inventory_source = src;
        CUSTOS_TRY(dv, text(inv, "driver_version", false));
        e.driver_version = dv;
        CUSTOS_TRY(err, text(inv, "error", false));
        e.inventory_error = err;
        if (e.inventory_source.empty() && e.inventory_error.empty())
            return inv.bad("source", "is empty without an error saying why");
        CUSTOS_TRY(gpus, o.arr("gpus"));
        if (gpus->size() > max_ext_gpus) return o.bad("gpus", "lists more than 256 GPUs");
        for (std::size_t i = 0; i < gpus->size(); ++i) {
            CUSTOS_TRY(g, sjson::object_reader::of((*gpus)[i], "report ext: gpus[" + std::to_string(i) + "]"));
            CUSTOS_TRY_VOID(g.only({"serial", "uuid", "name", "chip", "pci_bus_id", "util", "busy_s", "tpp_s", "ops", "energy_mj"}));
            gpu_report r;
            CUSTOS_TRY(serial, text(g, "serial", true));
            CUSTOS_TRY(uuid, text(g, "uuid", true));
            CUSTOS_TRY(name, text(g, "name", true));
            CUSTOS_TRY(chip, text(g, "chip", true));
            CUSTOS_TRY(bus, text(g, "pci_bus_id", true));
            r.serial = serial;
            r.uuid = uuid;
            r.name = name;
            r.chip = chip;
            r.pci_bus_id = bus;
            if (g.has("util")) {
                CUSTOS_TRY(u, g.u64("util"));
                if (u > 100) return g.bad("util", "must be a percentage");
                r.util = static_cast<unsigned>(u);
            }
            CUSTOS_TRY(busy, counter(g, "busy_s"));
            CUSTOS_TRY(tpp, counter(g, "tpp_s"));
            CUSTOS_TRY(ops, counter(g, "ops"));
            CUSTOS_TRY(mj, g.u64("energy_mj"));
            r.busy_s = busy;
            r.tpp_s = tpp;
            r.ops = ops;
            r.energy_mj = mj;
            e.gpus.push_back(std::move(r));
        }
    }
    if (o.has("models")) {
        CUSTOS_TRY(models, o.arr("models"));
        if (models->size() > max_ext_models) return o.bad("models", "lists more than 256 models");
        for (const auto& m : *models) {
            if (!m.is_string() || m.as_string().empty() || m.as_string().size() > max_text)
                return o.bad("models", "must hold model ids (non-empty strings of at most 256 characters)");
            // The same rule as every other string here: a verifier prints these to people.
            for (unsigned char c : m.as_string())
                if (c < 0x20) return o.bad("models", "holds a model id with a control character");
            e.models.emplace_back(m.as_string());
        }
    }
    if (o.has("events")) {
        CUSTOS_TRY(events, o.arr("events"));
        if (events->size() > max_ext_events) return o.bad("events", "lists more than 256 events");
        for (std::size_t i = 0; i < events->size(); ++i) {
            CUSTOS_TRY(x, sjson::object_reader::of((*events)[i], "report ext: events[" + std::to_string(i) + "]"));
            CUSTOS_TRY_VOID(x.only({"kind", "model", "detail", "time"}));
            report_event ev;
            CUSTOS_TRY(kind, text(x, "kind", true));
            CUSTOS_TRY(model, text(x, "model", true));
            CUSTOS_TRY(detail, text(x, "detail", true));
            CUSTOS_TRY(t, x.i64("time"));
            ev.kind = kind;
            ev.model = model;
            ev.detail = detail;
            ev.time = t;
            e.events.push_back(std::move(ev));
        }
    }
    return e;
}

}  // namespace custos::attest
