#include "attest/report_ext.hpp"

#include <boost/json.hpp>

#include <cmath>
#include <cstdio>
#include <set>

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

bool lower_hex(std::string_view s, std::size_t n) {
    if (s.size() != n) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

result<std::string> hex_field(const sjson::object_reader& o, std::string_view key, std::size_t n) {
    CUSTOS_TRY(s, o.str(key));
    if (!lower_hex(s, n)) return o.bad(key, "must be " + std::to_string(n) + " lowercase hex digits");
    return s;
}

}  // namespace

std::optional<std::string> canonical_pci_bus(std::string_view s) {
    // domain ":" bus ":" device "." function
    const auto c1 = s.find(':');
    if (c1 == std::string_view::npos || c1 == 0 || c1 > 8) return std::nullopt;
    const std::string_view rest = s.substr(c1 + 1);
    if (rest.size() != 7 || rest[2] != ':' || rest[5] != '.') return std::nullopt;
    auto hexval = [](std::string_view h, unsigned& out) {
        out = 0;
        for (char c : h) {
            unsigned d;
            if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
            else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
            else return false;
            out = out * 16 + d;
        }
        return true;
    };
    unsigned dom, bus, dev, fn;
    if (!hexval(s.substr(0, c1), dom) || !hexval(rest.substr(0, 2), bus) || !hexval(rest.substr(3, 2), dev) ||
        !hexval(rest.substr(6, 1), fn) || dev > 0x1f || fn > 7)
        return std::nullopt;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
    return std::string(buf);
}

json::object pci_function_json(const pci_function& f) {
    json::object j{{"bus", f.bus},
                   {"vendor", f.vendor},
                   {"device", f.device},
                   {"subsystem_vendor", f.subsystem_vendor},
                   {"subsystem_device", f.subsystem_device},
                   {"class", f.class_code}};
    if (f.numa_node) j["numa_node"] = *f.numa_node;
    return j;
}

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
        if (e.pci) {
            json::array pci;
            for (const auto& f : *e.pci) pci.push_back(pci_function_json(f));
            o["pci"] = std::move(pci);
        }
        if (!e.pci_error.empty()) o["pci_error"] = e.pci_error;
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
    CUSTOS_TRY_VOID(o.only({"inventory", "gpus", "pci", "pci_error", "models", "events"}));
    report_ext e;
    if (o.has("inventory") != o.has("gpus"))
        return make_error(errc::structure, "report ext: inventory and gpus go together");
    if ((o.has("pci") || o.has("pci_error")) && !o.has("inventory"))
        return make_error(errc::structure, "report ext: pci goes with an inventory");
    if (o.has("pci")) {
        CUSTOS_TRY(pci, o.arr("pci"));
        if (pci->size() > max_ext_pci) return o.bad("pci", "lists more than 256 PCI functions");
        std::vector<pci_function> list;
        std::set<std::string> buses;
        for (std::size_t i = 0; i < pci->size(); ++i) {
            CUSTOS_TRY(f, sjson::object_reader::of((*pci)[i], "report ext: pci[" + std::to_string(i) + "]"));
            CUSTOS_TRY_VOID(f.only({"bus", "vendor", "device", "subsystem_vendor", "subsystem_device", "class", "numa_node"}));
            pci_function x;
            CUSTOS_TRY(bus, f.str("bus"));
            const auto canon = canonical_pci_bus(bus);
            if (!canon || *canon != bus) return f.bad("bus", "is not a PCI address in canonical form (\"0000:18:00.0\")");
            if (!buses.insert(bus).second) return f.bad("bus", "names a PCI address listed twice");
            x.bus = bus;
            CUSTOS_TRY(vendor, hex_field(f, "vendor", 4));
            CUSTOS_TRY(device, hex_field(f, "device", 4));
            CUSTOS_TRY(sv, hex_field(f, "subsystem_vendor", 4));
            CUSTOS_TRY(sd, hex_field(f, "subsystem_device", 4));
            CUSTOS_TRY(cls, hex_field(f, "class", 6));
            if (!cls.starts_with("03") && !cls.starts_with("12"))
                return f.bad("class", "is not a display controller (03xxxx) or processing accelerator (12xxxx)");
            x.vendor = vendor;
            x.device = device;
            x.subsystem_vendor = sv;
            x.subsystem_device = sd;
            x.class_code = cls;
            if (f.has("numa_node")) {
                CUSTOS_TRY(n, f.u64("numa_node"));
                if (n > 4095) return f.bad("numa_node", "must be a NUMA node number (0..4095)");
                x.numa_node = static_cast<int>(n);
            }
            list.push_back(std::move(x));
        }
        e.pci = std::move(list);
    }
    if (o.has("pci_error")) {
        CUSTOS_TRY(pe, text(o, "pci_error", true));
        if (pe.empty()) return o.bad("pci_error", "is empty");
        e.pci_error = pe;
    }
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
