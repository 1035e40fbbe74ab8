// custos-loadgen: provisions simulated hosts in a verifier's database (agent certificate from the
// verifier's CA, report key bound as a quote would bind it — no TPM involved) and then posts pre-signed
// report chains over keep-alive mutual TLS from several connections, measuring throughput and latency.
#include <CLI/CLI.hpp>
#include <sodium.h>

#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "attest/wire.hpp"
#include "crypto/base64.hpp"
#include "crypto/file_io.hpp"
#include "crypto/x509.hpp"
#include "net/https_client.hpp"
#include "verifier/api_common.hpp"
#include "verifier/config.hpp"
#include "verifier/store.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace custos;

namespace {

struct sim_host {
    std::string id;
    bytes pk = bytes(crypto_sign_PUBLICKEYBYTES);
    secret_bytes sk{crypto_sign_SECRETKEYBYTES};
    fs::path cert, key;
};

int die(const std::string& msg) {
    std::fprintf(stderr, "custos-loadgen: %s\n", msg.c_str());
    return 2;
}

result<std::vector<sim_host>> provision(const verifier::verifier_config& cfg, const fs::path& work, unsigned n,
                                        const std::string& prefix) {
    CUSTOS_TRY(ca_pem, read_file(cfg.resolve(cfg.ca_cert)));
    CUSTOS_TRY(ca, x509::load_pem(ca_pem));
    CUSTOS_TRY(ca_key_pem, read_file(cfg.resolve(cfg.ca_key)));
    CUSTOS_TRY(ca_key, x509::load_private_pem(ca_key_pem));
    CUSTOS_TRY(db, verifier::open_configured_store(cfg));
    std::vector<sim_host> hosts(n);
    const std::int64_t now = verifier::unix_now();
    CUSTOS_TRY(tx, db->begin());
    for (unsigned i = 0; i < n; ++i) {
        auto& h = hosts[i];
        char name[64];
        std::snprintf(name, sizeof name, "%s%05u", prefix.c_str(), i);
        h.id = name;
        crypto_sign_keypair(h.pk.data(), h.sk.data());
        CUSTOS_TRY(key, x509::generate_p256());
        x509::cert_request cr;
        cr.subject = {h.id, "agent", "custos"};
        cr.kind = x509::cert_kind::client;
        cr.uris = {"urn:custos:host:" + h.id};
        CUSTOS_TRY(cert, x509::issue(ca.get(), ca_key.get(), key.get(), cr));
        CUSTOS_TRY(cert_pem, x509::to_pem(cert.get()));
        CUSTOS_TRY(key_pem, x509::private_key_to_pem(key.get()));
        h.cert = work / (h.id + ".pem");
        h.key = work / (h.id + ".key");
        CUSTOS_TRY_VOID(write_file_atomic(h.cert, cert_pem, 0600));
        CUSTOS_TRY_VOID(write_file_atomic(h.key, key_pem, 0600));
        verifier::host_record rec;
        rec.id = h.id;
        rec.state = "enrolled";
        rec.ek_sha256 = "loadgen-" + h.id;  // not a real EK: these hosts never enroll through the API
        rec.cert_sha256 = x509::describe(cert.get()).sha256;
        rec.enrolled_at = now;
        rec.last_seen = now;
        CUSTOS_TRY_VOID(tx->delete_reports(h.id));
        CUSTOS_TRY_VOID(tx->put_host(rec));
        verifier::report_key_record k;
        k.key = h.pk;
        k.bound_at = now;
        CUSTOS_TRY_VOID(tx->bind_report_key(h.id, k));
    }
    CUSTOS_TRY_VOID(tx->commit());
    return hosts;
}

std::string batch_body(const sim_host& h, std::uint64_t first_seq, unsigned count, bytes& prev) {
    json::array a;
    for (unsigned i = 0; i < count; ++i) {
        attest::report r;
        r.host = h.id;
        r.seq = first_seq + i;
        r.prev = prev;
        r.time = verifier::unix_now();
        r.clock = r.seq * 1000;
        r.key = h.pk;
        const bytes body = attest::encode_report(r);
        const bytes sig = attest::sign_report(body, h.sk);
        prev = attest::report_hash(body);
        a.push_back(json::object{{"report", to_base64(body)}, {"sig", to_base64(sig)}});
    }
    return json::serialize(json::object{{"reports", a}});
}

double percentile(std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
    return v[i];
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"custos-loadgen: simulated agents posting signed reports to a running custos-verifier"};
    std::string config, prefix = "load-";
    std::vector<std::string> urls;
    unsigned hosts_n = 64, connections = 8, per_host = 100, batch = 1;
    bool as_json = false;
    app.add_option("--config", config, "The verifier's verifier.toml (its CA signs the simulated agents' certificates)")->required();
    app.add_option("--verifier", urls, "https://HOST:PORT of the running verifier (repeat for replicas: connections take them in turn)")->required();
    app.add_option("--hosts", hosts_n, "Simulated hosts");
    app.add_option("--connections", connections, "Concurrent keep-alive connections (hosts are split among them)");
    app.add_option("--reports-per-host", per_host, "Reports each host sends");
    app.add_option("--batch", batch, "Reports per request (1 = one request per report)");
    app.add_option("--prefix", prefix, "Host id prefix");
    app.add_flag("--json", as_json, "Print the results as JSON");
    CLI11_PARSE(app, argc, argv);
    if (sodium_init() < 0) return die("libsodium failed to initialise");
    if (connections == 0 || hosts_n < connections || batch == 0 || batch > 256 || per_host == 0)
        return die("need hosts >= connections >= 1, 1 <= batch <= 256, reports-per-host >= 1");

    auto cfg = verifier::load_verifier_config(config);
    if (!cfg) return die(cfg.err().message);
    const fs::path work = fs::temp_directory_path() / ("custos-loadgen-" + std::to_string(::getpid()));
    fs::create_directories(work);
    auto hosts = provision(*cfg, work, hosts_n, prefix);
    if (!hosts) return die("provisioning: " + hosts.err().message);

    // Pre-sign every request body so the clock measures the verifier, not the generator's signing.
    const unsigned batches_per_host = (per_host + batch - 1) / batch;
    std::vector<std::vector<std::string>> bodies(hosts_n);
    for (unsigned i = 0; i < hosts_n; ++i) {
        bytes prev(32, 0);
        for (unsigned b = 0; b < batches_per_host; ++b) {
            const unsigned count = std::min(batch, per_host - b * batch);
            bodies[i].push_back(batch_body((*hosts)[i], 1 + std::uint64_t(b) * batch, count, prev));
        }
    }

    std::atomic<std::uint64_t> accepted{0}, other{0}, errors{0};
    std::vector<std::vector<double>> latencies(connections);
    std::vector<std::thread> threads;
    const auto t0 = std::chrono::steady_clock::now();
    for (unsigned c = 0; c < connections; ++c) {
        threads.emplace_back([&, c] {
            // One connection per host (its certificate names the host), kept alive; hosts of this thread
            // take turns so requests interleave like real agents.
            std::vector<std::unique_ptr<net::https_client>> clients;
            std::vector<unsigned> mine;
            for (unsigned i = c; i < hosts_n; i += connections) {
                net::https_client_options o;
                o.ca_file = cfg->resolve(cfg->ca_cert).string();
                o.cert_file = (*hosts)[i].cert.string();
                o.key_file = (*hosts)[i].key.string();
                auto cl = net::https_client::create(urls[c % urls.size()], o);
                if (!cl) {
                    ++errors;
                    return;
                }
                clients.push_back(std::move(cl).value());
                mine.push_back(i);
            }
            for (unsigned b = 0; b < batches_per_host; ++b) {
                for (std::size_t k = 0; k < mine.size(); ++k) {
                    const auto s = std::chrono::steady_clock::now();
                    auto r = clients[k]->request("POST", "/v1/reports", bodies[mine[k]][b]);
                    latencies[c].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count());
                    if (!r || r->status != 200) {
                        ++errors;
                        continue;
                    }
                    std::size_t pos = 0;
                    while ((pos = r->body.find("\"status\":\"", pos)) != std::string::npos) {
                        pos += 10;
                        if (r->body.compare(pos, 8, "accepted") == 0) ++accepted;
                        else ++other;
                    }
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::vector<double> all;
    for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
    const std::size_t requests = all.size();
    const double p50 = percentile(all, 0.50), p99 = percentile(all, 0.99), max = all.empty() ? 0 : all.back();
    const double rate = static_cast<double>(accepted.load()) / secs;
    fs::remove_all(work);
    if (as_json) {
        json::object o{{"hosts", hosts_n},          {"connections", connections}, {"batch", batch},
                       {"requests", requests},      {"accepted", accepted.load()}, {"not_accepted", other.load()},
                       {"errors", errors.load()},   {"seconds", secs},             {"reports_per_s", rate},
                       {"p50_ms", p50},             {"p99_ms", p99},               {"max_ms", max}};
        std::printf("%s\n", json::serialize(o).c_str());
    } else {
        std::printf("hosts %u, connections %u, batch %u: %zu requests, %llu reports accepted, %llu not, %llu errors\n"
                    "%.2f s → %.0f reports/s; request latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
                    hosts_n, connections, batch, requests, static_cast<unsigned long long>(accepted.load()),
                    static_cast<unsigned long long>(other.load()), static_cast<unsigned long long>(errors.load()), secs,
                    rate, p50, p99, max);
    }
    return errors.load() == 0 && other.load() == 0 ? 0 : 1;
}
