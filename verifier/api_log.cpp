// GET /v1/log/checkpoint, /v1/log/entries, /v1/log/proof/inclusion, /v1/log/proof/consistency and
// /v1/log/tile/… (C2SP tlog-tiles): the transparency log as auditors and monitors read it (operator or
// auditor role). Every answer is computed
// from one read snapshot, so a proof always matches the tree it names.
#include <boost/json.hpp>

#include <charconv>

#include "crypto/base64.hpp"
#include "tlog/tiles.hpp"
#include "verifier/api_common.hpp"
#include "verifier/service.hpp"
#include "verifier/transparency_log.hpp"

namespace custos::verifier {
namespace json = boost::json;
namespace {

constexpr std::int64_t max_entries_per_request = 1000;

result<std::int64_t> param(const std::map<std::string, std::string>& q, const std::string& key) {
    const auto it = q.find(key);
    if (it == q.end()) return make_error(errc::invalid_argument, "query parameter \"" + key + "\" is missing");
    std::int64_t v = -1;
    const auto& s = it->second;
    if (s.empty() || s.size() > 18 || std::from_chars(s.data(), s.data() + s.size(), v).ptr != s.data() + s.size() || v < 0)
        return make_error(errc::invalid_argument, "query parameter \"" + key + "\" is not a non-negative integer");
    return v;
}

net::http_response checkpoint(service_context& ctx) {
    auto tx = ctx.db->begin_read();
    if (!tx) return error_reply(tx.err());
    auto c = (*tx)->latest_checkpoint();
    if (!c) return error_reply(c.err());
    if (!*c) return net::json_error(404, "no-checkpoint", "the log has no signed checkpoint yet");
    return net::http_response{200, "text/plain; charset=utf-8", (*c)->note};
}

net::http_response entries(service_context& ctx, const std::string& target) {
    auto q = query_params(target, {"start", "end"});
    if (!q) return error_reply(q.err());
    auto start = param(*q, "start");
    if (!start) return error_reply(start.err());
    auto end = param(*q, "end");
    if (!end) return error_reply(end.err());
    if (*end <= *start) return net::json_error(400, "bad-request", "\"end\" must be greater than \"start\"");
    auto tx = ctx.db->begin_read();
    if (!tx) return error_reply(tx.err());
    auto size = (*tx)->log_size();
    if (!size) return error_reply(size.err());
    if (*end > *size)
        return net::json_error(400, "bad-request", "\"end\" is past the log's size " + std::to_string(*size));
    const std::int64_t stop = std::min(*end, *start + max_entries_per_request);
    auto es = (*tx)->log_entries(*start, stop);
    if (!es) return error_reply(es.err());
    json::array a;
    for (const auto& e : *es) a.push_back(json::object{{"index", e.index}, {"body", to_base64(as_bytes(e.entry.body))}});
    return json_reply(200, json::object{{"start", *start}, {"entries", std::move(a)}});
}

// An inclusion proof (…/inclusion?index=I&size=N) or a consistency proof (…/consistency?from=M&size=N):
// both numbers checked against the log's size, and the proof, from one snapshot.
struct proof_kind {
    const char* first;  // "index" or "from"
    bool (*fits)(std::int64_t first, std::int64_t size);
    result<std::vector<tlog::hash>> (*prove)(std::int64_t size, std::int64_t first, const tlog::hash_reader&);
    const char* refusal;  // "no inclusion proof of entry", "no consistency proof from size"
};
constexpr proof_kind inclusion_proof{"index", [](std::int64_t i, std::int64_t n) { return i < n; }, tlog::prove_record,
                                     "no inclusion proof of entry"};
constexpr proof_kind consistency_proof{"from", [](std::int64_t m, std::int64_t n) { return m >= 1 && m <= n; }, tlog::prove_tree,
                                       "no consistency proof from size"};

net::http_response proof(service_context& ctx, const std::string& target, const proof_kind& k) {
    auto q = query_params(target, {k.first, "size"});
    if (!q) return error_reply(q.err());
    auto first = param(*q, k.first);
    if (!first) return error_reply(first.err());
    auto size = param(*q, "size");
    if (!size) return error_reply(size.err());
    auto tx = ctx.db->begin_read();
    if (!tx) return error_reply(tx.err());
    auto have = (*tx)->log_size();
    if (!have) return error_reply(have.err());
    if (*size > *have || !k.fits(*first, *size))
        return net::json_error(400, "bad-request", std::string(k.refusal) + " " + std::to_string(*first) + " in a tree of size " +
                                                       std::to_string(*size) + " (the log holds " + std::to_string(*have) + ")");
    auto p = k.prove(*size, *first, log_hash_reader(**tx));
    if (!p) return error_reply(p.err());
    return json_reply(200, json::object{{k.first, *first}, {"size", *size}, {"proof", hashes_json(*p)}});
}

// GET /v1/log/tile/<L>/<N>[.p/<W>] and /v1/log/tile/entries/<N>[.p/<W>] (C2SP tlog-tiles, tlog/tiles.hpp):
// any tile the log's current tree holds. A full tile never changes, so it may be cached for good.
net::http_response tile(service_context& ctx, const std::string& target) {
    const std::string_view path = std::string_view(target).substr(0, target.find('?')).substr(std::string_view("/v1/log/tile/").size());
    auto t = tlog::parse_tile_path(path);
    if (!t) return net::json_error(404, "not-found", t.err().message);
    auto tx = ctx.db->begin_read();
    if (!tx) return error_reply(tx.err());
    auto size = (*tx)->log_size();
    if (!size) return error_reply(size.err());
    if (!tlog::tile_within(*t, *size))
        return net::json_error(404, "not-found", "tile " + tlog::tile_path(*t) + " is past the log's size " + std::to_string(*size));
    bytes data;
    if (t->entries) {
        const std::int64_t first = t->n * tlog::tile_width;
        auto es = (*tx)->log_entries(first, first + t->width);
        if (!es) return error_reply(es.err());
        if (es->size() != static_cast<std::size_t>(t->width))
            return net::json_error(500, "internal", "the store lacks entries of tile " + tlog::tile_path(*t));
        for (const auto& e : *es)
            if (auto a = tlog::append_bundle_entry(data, as_bytes(e.entry.body)); !a) return net::json_error(500, "internal", a.err().message);
    } else {
        auto h = tlog::hash_tile(*t, log_hash_reader(**tx));
        if (!h) return error_reply(h.err());
        data = std::move(*h);
    }
    net::http_response r{200, "application/octet-stream", std::string(data.begin(), data.end())};
    // Authenticated, so never in a shared cache; a full tile is the same forever, a partial one grows.
    r.cache_control = t->width == tlog::tile_width ? "private, max-age=31536000, immutable" : "private, no-cache";
    return r;
}

}  // namespace

void register_log_routes(net::https_server& srv, service_context& ctx) {
    auto reader = [](auto fn) {
        return [fn](const net::http_request& req, const net::request_context& rc) {
            if (auto deny = require_operator_or_auditor(rc)) return *deny;
            return fn(req);
        };
    };
    srv.route("GET", "/v1/log/checkpoint", net::auth::client_cert, reader([&ctx](const net::http_request&) { return checkpoint(ctx); }));
    srv.route("GET", "/v1/log/entries", net::auth::client_cert,
              reader([&ctx](const net::http_request& r) { return entries(ctx, r.target); }));
    srv.route("GET", "/v1/log/proof/inclusion", net::auth::client_cert,
              reader([&ctx](const net::http_request& r) { return proof(ctx, r.target, inclusion_proof); }));
    srv.route("GET", "/v1/log/proof/consistency", net::auth::client_cert,
              reader([&ctx](const net::http_request& r) { return proof(ctx, r.target, consistency_proof); }));
    srv.route_prefix("GET", "/v1/log/tile/", net::auth::client_cert,
                     reader([&ctx](const net::http_request& r) { return tile(ctx, r.target); }));
}

}  // namespace custos::verifier
