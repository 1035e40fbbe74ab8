// Makes one host's evidence bundle the size of a day (bench/audit_verify.sh): an in-process verifier over
// real HTTPS and SQLite, a host on swtpm answering ROUNDS challenged rounds with PER_ROUND signed reports
// after each (a day at 60 s rounds and 5 s reports: 1440 and 12), then GET /v1/export once the log's
// checkpoint covers every round. Writes OUT/bundle.json, OUT/ek-ca.pem and OUT/log.pub.
// Usage: audit_bundle OUT [ROUNDS] [PER_ROUND]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "crypto/strict_json.hpp"
#include "tests/int/verifier_harness.hpp"

int main(int argc, char** argv) {
    using namespace custos::test;
    if (argc < 2) {
        std::fprintf(stderr, "usage: audit_bundle OUT [ROUNDS] [PER_ROUND]\n");
        return 2;
    }
    const fs::path out = argv[1];
    const int rounds = argc > 2 ? std::atoi(argv[2]) : 1440;
    const int per_round = argc > 3 ? std::atoi(argv[3]) : 12;
    try {
        fs::create_directories(out);
        auto tpm = swtpm::start();
        const fs::path ca = tpm->ca_cert();
        verifier_instance v({tpm.get()});
        sim_host h("bench-host", std::move(tpm));
        if (h.enroll(v, v.token("bench-host")) != 200) throw std::runtime_error("enrollment failed");
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < rounds; ++i) {
            unsigned st = 0;
            h.round(&st);
            if (st != 200) throw std::runtime_error("round " + std::to_string(i) + " answered " + std::to_string(st));
            std::vector<std::pair<custos::bytes, custos::bytes>> reports;
            for (int k = 0; k < per_round; ++k) reports.push_back(h.make_report());
            h.send_reports(reports, &st);
            if (st != 200) throw std::runtime_error("reports after round " + std::to_string(i) + " answered " + std::to_string(st));
        }
        std::fprintf(stderr, "audit_bundle: %d rounds and %d reports in %.1f s\n", rounds, rounds * per_round,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        custos::net::https_client_options co;
        co.ca_file = (v.dir() / "operator/ca.pem").string();
        co.cert_file = (v.dir() / "operator/cert.pem").string();
        co.key_file = (v.dir() / "operator/key.pem").string();
        co.body_limit = std::size_t(1) << 30;
        co.timeout = std::chrono::seconds(120);
        auto c = std::move(custos::net::https_client::create(v.url(), co)).value();
        std::string body;
        for (int tries = 0;; ++tries) {
            auto r = c->request("GET", "/v1/export?host=bench-host");
            if (r && r->status == 200) {
                auto b = custos::sjson::parse(r->body, "bundle", 16);
                if (b && b->at("rounds").as_array().size() == static_cast<std::size_t>(rounds)) {
                    body = r->body;
                    break;
                }
            }
            if (tries > 120)
                throw std::runtime_error("the log's checkpoint never covered every round: " +
                                         (r ? std::to_string(r->status) + " " + r->body.substr(0, 200) : r.err().message));
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
        std::ofstream(out / "bundle.json") << body;
        fs::copy_file(ca, out / "ek-ca.pem", fs::copy_options::overwrite_existing);
        fs::copy_file(v.dir() / "keys/log.pub", out / "log.pub", fs::copy_options::overwrite_existing);
        std::printf("%s %zu\n", (out / "bundle.json").c_str(), body.size());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "audit_bundle: %s\n", e.what());
        return 1;
    }
    return 0;
}
