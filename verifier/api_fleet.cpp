#include "verifier/api_fleet.hpp"

#include "crypto/base64.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "attest/boot_appraisal.hpp"
#include "attest/pcr_selection.hpp"
#include "attest/wire.hpp"
#include "crypto/strict_json.hpp"
#include "policy/borders.hpp"
#include "policy/countries.hpp"
#include "verifier/alerts.hpp"
#include "verifier/api_common.hpp"
#include "verifier/findings.hpp"
#include "verifier/log_events.hpp"

namespace custos::verifier {
namespace json = boost::json;
namespace {

json::object host_summary(const host_record& h, std::size_t open_findings) {
    json::object o;
    o["id"] = h.id;
    o["state"] = h.state;
    o["site"] = h.site.empty() ? json::value(nullptr) : json::value(h.site);
    o["status"] = h.status;
    o["status_at"] = h.status_at;
    o["enrolled_at"] = h.enrolled_at;
    o["approved_at"] = h.approved_at;
    o["last_seen"] = h.last_seen;
    o["ak_name"] = h.ak_name;
    o["ek_sha256"] = h.ek_sha256;
    o["chain_seq"] = h.chain_seq;
    o["open_findings"] = open_findings;
    return o;
}

result<std::vector<finding_record>> open_findings_of(store_tx& tx, const std::string& host) {
    finding_filter f;
    f.host = host;
    f.open_only = true;
    return tx.list_findings(f);
}

// Splits "/v1/hosts/<id>[/<action>]"; the answer to send when the id is not a valid host id.
std::optional<net::http_response> host_path(std::string_view target, std::string& id, std::string& action) {
    std::string_view path = target.substr(0, target.find('?'));
    constexpr std::string_view prefix = "/v1/hosts/";
    path.remove_prefix(std::min(prefix.size(), path.size()));
    const auto slash = path.find('/');
    id = std::string(path.substr(0, slash));
    action = slash == std::string_view::npos ? "" : std::string(path.substr(slash + 1));
    if (valid_id(id)) return std::nullopt;
    return net::json_error(400, "bad-request",
                           "\"" + id.substr(0, 64) + "\" is not a host id ([A-Za-z0-9][A-Za-z0-9._-]{0,62})");
}

result<std::int64_t> to_int(const std::string& s, const char* what) {
    if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos)
        return make_error(errc::invalid_argument, std::string("query parameter ") + what + " must be a non-negative integer");
    return std::stoll(s);
}

bool rule_name(const std::string& r) {
    return !r.empty() && r.size() <= 64 && r.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos;
}

net::http_response list_hosts(store& db) {
    auto tx = db.begin_read();
    if (!tx) return error_reply(tx.err());
    auto hosts = (*tx)->list_hosts();
    if (!hosts) return error_reply(hosts.err());
    json::array a;
    for (const auto& h : *hosts) {
        auto open = open_findings_of(**tx, h.id);
        if (!open) return error_reply(open.err());
        a.push_back(host_summary(h, open->size()));
    }
    return json_reply(200, json::object{{"hosts", std::move(a)}});
}

net::http_response get_host(store& db, const std::string& id) {
    auto tx = db.begin_read();
    if (!tx) return error_reply(tx.err());
    auto h = (*tx)->get_host(id);
    if (!h) return error_reply(h.err());
    if (!h.value()) return net::json_error(404, "not-found", "no host \"" + id + "\"");
    auto open = open_findings_of(**tx, id);
    if (!open) return error_reply(open.err());
    auto count = (*tx)->count_reports(id);
    if (!count) return error_reply(count.err());
    auto latest = (*tx)->latest_appraisal(id);
    if (!latest) return error_reply(latest.err());
    json::object o = host_summary(**h, open->size());
    boost::system::error_code ec;
    o["golden_pcrs"] = (*h)->golden_pcrs.empty() ? json::value(nullptr) : json::parse((*h)->golden_pcrs, ec);
    o["golden_from_operator"] = (*h)->golden_from_operator;
    o["clock"] = json::object{{"have_clock", (*h)->have_clock}, {"clock", (*h)->clock},
                              {"reset_count", (*h)->reset_count}, {"restart_count", (*h)->restart_count}};
    o["reports"] = *count;
    o["latest_appraisal"] = latest->has_value()
                                ? json::value(json::object{{"time", (*latest)->time}, {"status", (*latest)->status},
                                                           {"token", (*latest)->token}})
                                : json::value(nullptr);
    auto loc = (*tx)->get_host_location(id);
    if (!loc) return error_reply(loc.err());
    if (loc->has_value()) {
        const auto& l = **loc;
        json::object lo{{"time", l.time}, {"verdict", l.verdict}};
        lo["max_km_from_site"] = l.max_km ? json::value(*l.max_km) : json::value(nullptr);
        lo["min_km_from_site"] = l.min_km ? json::value(*l.min_km) : json::value(nullptr);
        lo["detail"] = json::parse(l.detail_json, ec);
        if (ec) lo["detail"] = nullptr;
        o["location"] = std::move(lo);
    } else {
        o["location"] = nullptr;
    }
    json::array fs;
    for (const auto& f : *open) fs.push_back(finding_to_json(f));
    o["findings"] = std::move(fs);
    return json_reply(200, o);
}

net::http_response approve(store& db, const actor& who, const std::string& id, const std::string& body) {
    auto v = sjson::parse(body, "approve request");
    if (!v) return error_reply(v.err());
    auto o = sjson::object_reader::of(*v, "approve request");
    if (!o) return error_reply(o.err());
    if (auto x = o->only({"site", "golden_pcrs", "boot_reference"}); !x) return error_reply(x.err());
    std::string boot_reference;  // empty: taken from the next consistent boot log
    if (o->has("boot_reference")) {
        auto g = o->value("boot_reference");
        auto r = attest::parse_boot_reference(json::serialize(**g));
        if (!r) return error_reply(o->bad("boot_reference", r.err().message));
        boot_reference = attest::boot_reference_to_json(*r);
    }
    auto site = o->str("site");
    if (!site) return error_reply(site.err());
    if (!valid_id(*site)) return error_reply(o->bad("site", "is not a valid site id"));
    std::string golden;
    if (o->has("golden_pcrs")) {
        auto g = o->value("golden_pcrs");
        // Check it decodes as PCR values: every bank/index known, digests of the bank's size.
        std::string sel_text;
        const auto* go = (*g)->if_object();
        if (!go || go->empty()) return error_reply(o->bad("golden_pcrs", "must be an object {\"sha256\":{\"0\":\"hex\"}}"));
        for (const auto& [bank, vals] : *go) {
            if (!vals.is_object() || vals.as_object().empty())
                return error_reply(o->bad("golden_pcrs", "bank \"" + std::string(bank) + "\" must map PCR indices to hex"));
            std::string list;
            for (const auto& [idx, hex] : vals.as_object()) list += (list.empty() ? "" : ",") + std::string(idx);
            sel_text += (sel_text.empty() ? "" : "+") + std::string(bank) + ":" + list;
        }
        auto sel = attest::parse_pcr_selection(sel_text);
        if (!sel) return error_reply(o->bad("golden_pcrs", sel.err().message));
        auto vals = attest::pcrs_from_json(**g, *sel);
        if (!vals) return error_reply(o->bad("golden_pcrs", vals.err().message));
        golden = json::serialize(attest::pcrs_to_json(*vals));
    }
    const std::int64_t now = unix_now();
    auto tx = db.begin();
    if (!tx) return error_reply(tx.err());
    auto h = (*tx)->get_host(id);
    if (!h) return error_reply(h.err());
    if (!h.value()) return net::json_error(404, "not-found", "no host \"" + id + "\"");
    if ((*h)->state == "decommissioned")
        return net::json_error(409, "conflict", "host \"" + id + "\" is decommissioned; it must enroll again first");
    auto s = (*tx)->get_site(*site);
    if (!s) return error_reply(s.err());
    if (!s.value()) return net::json_error(404, "not-found", "no site \"" + *site + "\"; add it with custos fleet site add");
    host_record rec = **h;
    rec.state = "approved";
    rec.site = *site;
    rec.approved_at = now;
    rec.golden_pcrs = golden;
    rec.golden_from_operator = !golden.empty();
    // Approving again also sets the boot reference: the operator's, or the next consistent boot log's.
    auto m = (*tx)->get_host_measurements(id);
    if (!m) return error_reply(m.err());
    if (m->has_value() || !boot_reference.empty()) {
        host_measurement_record r = m->has_value() ? **m : host_measurement_record{};
        r.host_id = id;
        r.boot_reference = boot_reference;
        r.updated_at = now;
        if (auto x = (*tx)->put_host_measurements(r); !x) return error_reply(x.err());
    }
    auto closed = (*tx)->resolve_findings(id, std::nullopt, now);
    if (!closed) return error_reply(closed.err());
    auto open = refresh_status(**tx, rec, now);
    if (!open) return error_reply(open.err());
    if (auto x = (*tx)->put_host(rec); !x) return error_reply(x.err());
    if (auto x = (*tx)->append_log(operator_entry(who, "host.approve", id, *site, *v, now)); !x) return error_reply(x.err());
    if (auto c = (*tx)->commit(); !c) return error_reply(c.err());
    return json_reply(200, host_summary(rec, open->size()));
}

// Idempotent: decommissioning a decommissioned host answers 200 and changes nothing.
net::http_response decommission(store& db, const actor& who, const std::string& id, const std::string& body) {
    auto v = parse_body(body, "decommission request", {});
    if (!v) return error_reply(v.err());
    auto tx = db.begin();
    if (!tx) return error_reply(tx.err());
    auto h = (*tx)->get_host(id);
    if (!h) return error_reply(h.err());
    if (!h.value()) return net::json_error(404, "not-found", "no host \"" + id + "\"");
    auto open = open_findings_of(**tx, id);
    if (!open) return error_reply(open.err());
    host_record rec = **h;
    if (rec.state != "decommissioned") {
        rec.state = "decommissioned";
        if (auto x = (*tx)->put_host(rec); !x) return error_reply(x.err());
        if (auto x = (*tx)->append_log(operator_entry(who, "host.decommission", id, "", *v, unix_now())); !x)
            return error_reply(x.err());
        if (auto c = (*tx)->commit(); !c) return error_reply(c.err());
    }
    return json_reply(200, host_summary(rec, open->size()));
}

net::http_response add_entity(store& db, const actor& who, const std::string& body) {
    auto v = sjson::parse(body, "entity");
    if (!v) return error_reply(v.err());
    auto o = sjson::object_reader::of(*v, "entity");
    if (!o) return error_reply(o.err());
    if (auto x = o->only({"id", "hq", "status"}); !x) return error_reply(x.err());
    entity_record e;
    auto id = o->str("id");
    auto hq = o->str("hq");
    auto st = o->str("status");
    if (!id) return error_reply(id.err());
    if (!hq) return error_reply(hq.err());
    if (!st) return error_reply(st.err());
    if (!valid_id(*id)) return error_reply(o->bad("id", "is not a valid id"));
    if (!policy::is_iso3166_alpha2(*hq)) return error_reply(o->bad("hq", "must be an ISO 3166-1 alpha-2 code such as \"US\""));
    if (*st != "uveu" && *st != "nveu" && *st != "none") return error_reply(o->bad("status", "must be uveu, nveu or none"));
    e = {*id, *hq, *st};
    auto tx = db.begin();
    if (!tx) return error_reply(tx.err());
    auto existing = (*tx)->get_entity(e.id);
    if (!existing) return error_reply(existing.err());
    if (auto x = (*tx)->put_entity(e); !x) return error_reply(x.err());
    if (auto x = (*tx)->append_log(operator_entry(who, "entity.put", "", e.id, *v, unix_now())); !x) return error_reply(x.err());
    if (auto c = (*tx)->commit(); !c) return error_reply(c.err());
    return json_reply(existing->has_value() ? 200 : 201, json::object{{"id", e.id}, {"hq", e.hq}, {"status", e.status}});
}

json::object site_json(const site_record& s) {
    return json::object{{"id", s.id},   {"entity", s.entity}, {"country", s.country},
                        {"lat", s.lat}, {"lon", s.lon},       {"max_km", s.max_km}};
}

// How far outside its declared country's borders a site may be: 1:50m coasts are up to a few km off, and a
// site on a border line is fine.
constexpr double site_country_tolerance_km = 25;

net::http_response add_site(store& db, const actor& who, const std::string& body) {
    auto v = sjson::parse(body, "site");
    if (!v) return error_reply(v.err());
    auto o = sjson::object_reader::of(*v, "site");
    if (!o) return error_reply(o.err());
    if (auto x = o->only({"id", "entity", "country", "lat", "lon", "max_km"}); !x) return error_reply(x.err());
    auto id = o->str("id");
    auto entity = o->str("entity");
    auto country = o->str("country");
    auto lat = o->number("lat");
    auto lon = o->number("lon");
    auto km = o->number("max_km");
    if (!id) return error_reply(id.err());
    if (!entity) return error_reply(entity.err());
    if (!country) return error_reply(country.err());
    if (!lat) return error_reply(lat.err());
    if (!lon) return error_reply(lon.err());
    if (!km) return error_reply(km.err());
    if (!valid_id(*id)) return error_reply(o->bad("id", "is not a valid id"));
    if (!policy::is_iso3166_alpha2(*country)) return error_reply(o->bad("country", "must be an ISO 3166-1 alpha-2 code such as \"KR\""));
    if (!(*lat >= -90 && *lat <= 90)) return error_reply(o->bad("lat", "must be within -90..90"));
    if (!(*lon >= -180 && *lon <= 180)) return error_reply(o->bad("lon", "must be within -180..180"));
    if (!(*km > 0 && std::isfinite(*km))) return error_reply(o->bad("max_km", "must be a positive distance in km"));
    site_record s{*id, *entity, *country, *lat, *lon, *km};
    auto tx = db.begin();
    if (!tx) return error_reply(tx.err());
    auto ent = (*tx)->get_entity(s.entity);
    if (!ent) return error_reply(ent.err());
    if (!ent.value()) return net::json_error(404, "not-found", "no entity \"" + s.entity + "\"; add it with custos fleet entity add");
    // The position must lie in the declared country (Natural Earth 1:50m borders, with room for coarse
    // coasts and border lines); a country the border data has no shape for cannot be checked.
    if (const policy::border_country* c = policy::border_map::builtin().by_code(*country)) {
        const double off = policy::border_map::distance_km(*c, *lat, *lon);
        if (off > site_country_tolerance_km) {
            const policy::border_country* there = policy::border_map::builtin().country_at(*lat, *lon);
            return error_reply(o->bad("country", "is " + *country + ", but (" + std::to_string(*lat) + ", " + std::to_string(*lon) +
                                                     ") lies " + std::to_string(static_cast<long long>(off)) + " km outside it" +
                                                     (there ? " (in " + there->code + ", " + there->name + ")" : "") +
                                                     ": the country or the position is wrong"));
        }
    }
    auto existing = (*tx)->get_site(s.id);
    if (!existing) return error_reply(existing.err());
    if (auto x = (*tx)->put_site(s); !x) return error_reply(x.err());
    if (auto x = (*tx)->append_log(operator_entry(who, "site.put", "", s.id, *v, unix_now())); !x) return error_reply(x.err());
    if (auto c = (*tx)->commit(); !c) return error_reply(c.err());
    return json_reply(existing->has_value() ? 200 : 201, site_json(s));
}

net::http_response list_findings(store& db, const std::string& target) {
    auto q = query_params(target, {"host", "rule", "open", "since", "limit"});
    if (!q) return error_reply(q.err());
    finding_filter f;
    if (q->count("host")) {
        if (!valid_id((*q)["host"])) return net::json_error(400, "bad-request", "query parameter host is not a host id");
        f.host = (*q)["host"];
    }
    if (q->count("rule")) {
        if (!rule_name((*q)["rule"]))
            return net::json_error(400, "bad-request", "query parameter rule is not a rule name such as pcr-changed");
        f.rule = (*q)["rule"];
    }
    if (q->count("open")) {
        const std::string& v = (*q)["open"];
        if (v != "0" && v != "1" && v != "true" && v != "false")
            return net::json_error(400, "bad-request", "query parameter open must be 1 or 0");
        f.open_only = v == "1" || v == "true";
    }
    if (q->count("since")) {
        auto s = to_int((*q)["since"], "since");
        if (!s) return error_reply(s.err());
        f.since = *s;
    }
    if (q->count("limit")) {
        auto l = to_int((*q)["limit"], "limit");
        if (!l) return error_reply(l.err());
        if (*l < 1 || *l > 10'000) return net::json_error(400, "bad-request", "query parameter limit must be within 1..10000");
        f.limit = static_cast<std::size_t>(*l);
    }
    auto tx = db.begin_read();
    if (!tx) return error_reply(tx.err());
    auto fs = (*tx)->list_findings(f);
    if (!fs) return error_reply(fs.err());
    json::array a;
    for (const auto& x : *fs) a.push_back(finding_to_json(x));
    return json_reply(200, json::object{{"findings", std::move(a)}});
}

// GET /v1/hosts/<id>/reports?from_seq=N&limit=M: the host's stored report chain, a page at a time, with every
// report key the host ever had (its window and the quote that bound it) and the AK that signed those
// quotes: what `custos report verify` re-checks offline.
net::http_response host_reports(store& db, const std::string& id, const std::string& target) {
    auto q = query_params(target, {"from_seq", "limit"});
    if (!q) return error_reply(q.err());
    std::uint64_t from = 1;
    std::size_t limit = 1000;
    if (q->count("from_seq")) {
        auto f = to_int((*q)["from_seq"], "from_seq");
        if (!f) return error_reply(f.err());
        if (*f < 1) return net::json_error(400, "bad-request", "query parameter from_seq must be at least 1");
        from = static_cast<std::uint64_t>(*f);
    }
    if (q->count("limit")) {
        auto l = to_int((*q)["limit"], "limit");
        if (!l) return error_reply(l.err());
        if (*l < 1 || *l > 10'000) return net::json_error(400, "bad-request", "query parameter limit must be within 1..10000");
        limit = static_cast<std::size_t>(*l);
    }
    auto tx = db.begin_read();
    if (!tx) return error_reply(tx.err());
    auto h = (*tx)->get_host(id);
    if (!h) return error_reply(h.err());
    if (!h.value()) return net::json_error(404, "not-found", "no host \"" + id + "\"");
    auto out = report_chain_json(**tx, **h, from, limit);
    if (!out) return error_reply(out.err());
    return json_reply(200, *out);
}

}  // namespace

result<json::object> report_chain_json(store_tx& tx, const host_record& h, std::uint64_t from, std::size_t limit) {
    // One more than asked says whether a next page exists, without a count over the whole chain.
    CUSTOS_TRY(rs, tx.list_reports(h.id, from, limit + 1));
    const bool more = rs.size() > limit;
    if (more) rs.pop_back();
    CUSTOS_TRY(keys, tx.list_report_keys(h.id));
    json::array reports;
    for (const auto& r : rs)
        reports.push_back(json::object{{"seq", r.seq},
                                       {"report", to_base64(r.body)},
                                       {"sig", to_base64(r.signature)},
                                       {"received_at", r.received_at}});
    json::array ks;
    for (const auto& k : keys)
        ks.push_back(json::object{{"key", to_base64(k.key)},
                                  {"from_seq", k.from_seq},
                                  {"until_seq", k.current() ? json::value(nullptr) : json::value(k.until_seq)},
                                  {"bound_at", k.bound_at},
                                  {"reset_count", k.reset_count},
                                  {"retired_at", k.retired_at},
                                  {"retire_reason", k.retire_reason},
                                  {"binding", k.binding}});
    return json::object{{"host", h.id},
                        {"ak_public", to_base64(h.ak_public)},
                        {"ek_sha256", h.ek_sha256},
                        {"chain_seq", h.chain_seq},
                        {"from_seq", from},
                        {"reports", std::move(reports)},
                        {"keys", std::move(ks)},
                        {"next_from_seq", more ? json::value(rs.back().seq + 1) : json::value(nullptr)}};
}

void register_fleet_routes(net::https_server& srv, store& db) {
    auto op = [](auto fn) {
        return [fn](const net::http_request& req, const net::request_context& rc) {
            if (auto deny = require_operator(rc)) return *deny;
            return fn(req);
        };
    };
    srv.route("GET", "/v1/hosts", net::auth::client_cert, op([&db](const net::http_request&) { return list_hosts(db); }));
    srv.route_prefix("GET", "/v1/hosts/", net::auth::client_cert, op([&db](const net::http_request& req) {
                         std::string id, action;
                         if (auto bad = host_path(req.target, id, action)) return *bad;
                         if (action == "reports") return host_reports(db, id, req.target);
                         if (!action.empty())
                             return net::json_error(404, "not-found", "expected /v1/hosts/<host id>[/reports]");
                         return get_host(db, id);
                     }));
    srv.route_prefix("POST", "/v1/hosts/", net::auth::client_cert, operator_write([&db](const net::http_request& req, const actor& who) {
                         std::string id, action;
                         if (auto bad = host_path(req.target, id, action)) return *bad;
                         if (action == "approve") return approve(db, who, id, req.body);
                         if (action == "decommission") return decommission(db, who, id, req.body);
                         return net::json_error(404, "not-found", "hosts have the actions approve and decommission");
                     }));
    srv.route("POST", "/v1/entities", net::auth::client_cert, operator_write([&db](const net::http_request& req, const actor& who) { return add_entity(db, who, req.body); }));
    srv.route("GET", "/v1/entities", net::auth::client_cert, op([&db](const net::http_request&) {
                  auto tx = db.begin_read();
                  if (!tx) return error_reply(tx.err());
                  auto es = (*tx)->list_entities();
                  if (!es) return error_reply(es.err());
                  json::array a;
                  for (const auto& e : *es) a.push_back(json::object{{"id", e.id}, {"hq", e.hq}, {"status", e.status}});
                  return json_reply(200, json::object{{"entities", std::move(a)}});
              }));
    srv.route("POST", "/v1/sites", net::auth::client_cert, operator_write([&db](const net::http_request& req, const actor& who) { return add_site(db, who, req.body); }));
    srv.route("GET", "/v1/sites", net::auth::client_cert, op([&db](const net::http_request&) {
                  auto tx = db.begin_read();
                  if (!tx) return error_reply(tx.err());
                  auto ss = (*tx)->list_sites();
                  if (!ss) return error_reply(ss.err());
                  json::array a;
                  for (const auto& s : *ss) a.push_back(site_json(s));
                  return json_reply(200, json::object{{"sites", std::move(a)}});
              }));
    srv.route("GET", "/v1/findings", net::auth::client_cert, op([&db](const net::http_request& req) { return list_findings(db, req.target); }));
}

}  // namespace custos::verifier
