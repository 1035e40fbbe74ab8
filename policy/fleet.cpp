// The fleet file of policy/engine.hpp: strict reading (every reference resolved, every field checked)
// and the writer it round-trips with.
#include <boost/json.hpp>

#include <cmath>
#include <set>

#include "crypto/strict_json.hpp"
#include "policy/countries.hpp"
#include "policy/engine.hpp"

namespace custos::policy {
namespace {

namespace json = boost::json;
using sjson::object_reader;

result<std::string> id_field(const object_reader& r, std::string_view key) {
    CUSTOS_TRY(s, r.str(key));
    if (s.empty()) return r.bad(key, "must not be empty");
    return s;
}

result<std::string> country_field(const object_reader& r, std::string_view key) {
    CUSTOS_TRY(s, r.str(key));
    if (!is_iso3166_alpha2(s)) return r.bad(key, "is \"" + s + "\", not an ISO 3166-1 alpha-2 country code (\"DE\", \"US\")");
    return s;
}

result<double> number_field(const object_reader& r, std::string_view key) {
    CUSTOS_TRY(v, r.value(key));
    double d;
    if (const auto* x = v->if_double()) d = *x;
    else if (const auto* i = v->if_int64()) d = static_cast<double>(*i);
    else if (const auto* u = v->if_uint64()) d = static_cast<double>(*u);
    else return r.bad(key, "must be a number");
    if (!std::isfinite(d)) return r.bad(key, "must be a finite number");
    return d;
}

// The array `key` of `r`, each element an object read with a reader named "<what> #i".
template <class F>
result<void> each_object(const object_reader& r, std::string_view key, const std::string& what, F&& f) {
    CUSTOS_TRY(a, r.arr(key));
    std::size_t i = 0;
    for (const auto& e : *a) {
        CUSTOS_TRY(er, object_reader::of(e, r.where() + ": " + what + " #" + std::to_string(i++)));
        CUSTOS_TRY_VOID(f(er, e));
    }
    return {};
}

// A reader for the same object, named by its id now that the id is known.
result<object_reader> named(const json::value& v, const std::string& where, const std::string& kind, const std::string& id) {
    return object_reader::of(v, where + ": " + kind + " \"" + id + "\"");
}

result<std::vector<std::string>> id_list(const object_reader& r, std::string_view key, const std::set<std::string>& known,
                                         const std::string& kind) {
    CUSTOS_TRY(a, r.arr(key));
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (const auto& e : *a) {
        const auto* s = e.if_string();
        if (!s) return r.bad(key, "must hold " + kind + " ids (strings)");
        std::string id(s->data(), s->size());
        if (!known.count(id)) return r.bad(key, "names " + kind + " \"" + id + "\", which the fleet does not have");
        if (!seen.insert(id).second) return r.bad(key, "names " + kind + " \"" + id + "\" twice");
        out.push_back(std::move(id));
    }
    return out;
}

error duplicate(const std::string& where, const std::string& kind, const std::string& id) {
    return make_error(errc::structure, where + ": the " + kind + " id \"" + id + "\" appears twice");
}

}  // namespace

result<fleet> parse_fleet(std::string_view json_text, const chip_table& chips) {
    const std::string where = "fleet file";
    CUSTOS_TRY(v, sjson::parse(json_text, where));
    CUSTOS_TRY(root, object_reader::of(v, where));
    CUSTOS_TRY_VOID(root.only({"entities", "sites", "hosts", "models"}));
    fleet f;
    std::set<std::string> entity_ids, site_ids, host_ids, model_ids, serials;

    CUSTOS_TRY_VOID(each_object(root, "entities", "entity", [&](const object_reader& r0, const json::value& e) -> result<void> {
        CUSTOS_TRY(id, id_field(r0, "id"));
        CUSTOS_TRY(r, named(e, where, "entity", id));
        CUSTOS_TRY_VOID(r.only({"id", "hq_country", "status"}));
        fleet_entity x{id, {}, {}};
        CUSTOS_TRY(hq, country_field(r, "hq_country"));
        x.hq_country = hq;
        CUSTOS_TRY(status, r.str("status"));
        if (status != "uveu" && status != "nveu" && status != "none")
            return r.bad("status", "is \"" + status + "\", not one of uveu, nveu, none");
        x.status = status;
        if (!entity_ids.insert(id).second) return duplicate(where, "entity", id);
        f.entities.push_back(std::move(x));
        return {};
    }));

    CUSTOS_TRY_VOID(each_object(root, "sites", "site", [&](const object_reader& r0, const json::value& e) -> result<void> {
        CUSTOS_TRY(id, id_field(r0, "id"));
        CUSTOS_TRY(r, named(e, where, "site", id));
        CUSTOS_TRY_VOID(r.only({"id", "entity", "country", "lat", "lon"}));
        fleet_site x;
        x.id = id;
        CUSTOS_TRY(entity, id_field(r, "entity"));
        if (!entity_ids.count(entity)) return r.bad("entity", "names entity \"" + entity + "\", which the fleet does not have");
        x.entity = entity;
        CUSTOS_TRY(country, country_field(r, "country"));
        x.country = country;
        CUSTOS_TRY(lat, number_field(r, "lat"));
        if (lat < -90 || lat > 90) return r.bad("lat", "must be a latitude between -90 and 90");
        CUSTOS_TRY(lon, number_field(r, "lon"));
        if (lon < -180 || lon > 180) return r.bad("lon", "must be a longitude between -180 and 180");
        x.lat = lat;
        x.lon = lon;
        if (!site_ids.insert(id).second) return duplicate(where, "site", id);
        f.sites.push_back(std::move(x));
        return {};
    }));

    CUSTOS_TRY_VOID(each_object(root, "hosts", "host", [&](const object_reader& r0, const json::value& e) -> result<void> {
        CUSTOS_TRY(id, id_field(r0, "id"));
        CUSTOS_TRY(r, named(e, where, "host", id));
        CUSTOS_TRY_VOID(r.only({"id", "site", "gpus"}));
        fleet_host x;
        x.id = id;
        CUSTOS_TRY(site, id_field(r, "site"));
        if (!site_ids.count(site)) return r.bad("site", "names site \"" + site + "\", which the fleet does not have");
        x.site = site;
        CUSTOS_TRY_VOID(each_object(r, "gpus", "gpu", [&](const object_reader& g, const json::value&) -> result<void> {
            CUSTOS_TRY_VOID(g.only({"serial", "chip"}));
            fleet_gpu gpu;
            CUSTOS_TRY(serial, id_field(g, "serial"));
            CUSTOS_TRY(chip_id, id_field(g, "chip"));
            if (chip_id != "unknown" && !chips.by_id(chip_id))
                return g.bad("chip", "is \"" + chip_id + "\", which is not in the chip table (use \"unknown\" for a GPU it does not know)");
            if (!serials.insert(serial).second)
                return make_error(errc::structure, r.where() + ": GPU serial \"" + serial + "\" appears twice in the fleet");
            gpu.serial = serial;
            gpu.chip = chip_id;
            x.gpus.push_back(std::move(gpu));
            return {};
        }));
        if (!host_ids.insert(id).second) return duplicate(where, "host", id);
        f.hosts.push_back(std::move(x));
        return {};
    }));

    CUSTOS_TRY_VOID(each_object(root, "models", "model", [&](const object_reader& r0, const json::value& e) -> result<void> {
        CUSTOS_TRY(id, id_field(r0, "id"));
        CUSTOS_TRY(r, named(e, where, "model", id));
        CUSTOS_TRY_VOID(r.only({"id", "closed_weights", "training_ops", "approved_sites", "hosts"}));
        fleet_model x;
        x.id = id;
        CUSTOS_TRY(closed, r.boolean("closed_weights"));
        x.closed_weights = closed;
        CUSTOS_TRY(ops, number_field(r, "training_ops"));
        if (ops < 0) return r.bad("training_ops", "must not be negative");
        x.training_ops = ops;
        CUSTOS_TRY(approved, id_list(r, "approved_sites", site_ids, "site"));
        x.approved_sites = std::move(approved);
        CUSTOS_TRY(hosts, id_list(r, "hosts", host_ids, "host"));
        x.hosts = std::move(hosts);
        if (!model_ids.insert(id).second) return duplicate(where, "model", id);
        f.models.push_back(std::move(x));
        return {};
    }));
    return f;
}

boost::json::object fleet_to_json(const fleet& f) {
    json::object o;
    json::array entities, sites, hosts, models;
    for (const auto& e : f.entities) entities.push_back(json::object{{"id", e.id}, {"hq_country", e.hq_country}, {"status", e.status}});
    for (const auto& s : f.sites)
        sites.push_back(json::object{{"id", s.id}, {"entity", s.entity}, {"country", s.country}, {"lat", s.lat}, {"lon", s.lon}});
    for (const auto& h : f.hosts) {
        json::array gpus;
        for (const auto& g : h.gpus) gpus.push_back(json::object{{"serial", g.serial}, {"chip", g.chip}});
        hosts.push_back(json::object{{"id", h.id}, {"site", h.site}, {"gpus", std::move(gpus)}});
    }
    for (const auto& m : f.models) {
        json::array approved(m.approved_sites.begin(), m.approved_sites.end());
        json::array on(m.hosts.begin(), m.hosts.end());
        models.push_back(json::object{{"id", m.id},
                                      {"closed_weights", m.closed_weights},
                                      {"training_ops", m.training_ops},
                                      {"approved_sites", std::move(approved)},
                                      {"hosts", std::move(on)}});
    }
    o["entities"] = std::move(entities);
    o["sites"] = std::move(sites);
    o["hosts"] = std::move(hosts);
    o["models"] = std::move(models);
    return o;
}

}  // namespace custos::policy
