// The export-control rule engine: a profile (policy/profiles/*.toml) and a fleet (entities, sites, hosts
// with their GPUs, models) in, findings and TPP tables out. Pure and deterministic: no I/O, no clock, the
// same input gives the same findings in the same order. Shared by `custos policy evaluate` (offline, an
// auditor's fleet file) and the verifier (the fleet as it sees it: attested GPUs, approved sites).
#pragma once

#include <boost/json/object.hpp>

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/result.hpp"
#include "policy/chips.hpp"
#include "policy/profile.hpp"

namespace custos::policy {

// ---- The fleet file (`custos fleet snapshot --json` writes it, `custos policy evaluate --fleet` reads it)

struct fleet_entity {
    std::string id;
    std::string hq_country;  // ISO 3166-1 alpha-2
    std::string status;      // "uveu", "nveu" or "none"
};

struct fleet_site {
    std::string id;
    std::string entity;   // an entity id of the same fleet
    std::string country;  // ISO 3166-1 alpha-2
    double lat = 0, lon = 0;
};

struct fleet_gpu {
    std::string serial;
    std::string chip;  // a chip table id, or the literal "unknown"
};

struct fleet_host {
    std::string id;
    std::string site;  // a site id of the same fleet
    std::vector<fleet_gpu> gpus;
};

struct fleet_model {
    std::string id;
    bool closed_weights = false;
    double training_ops = 0;
    std::vector<std::string> approved_sites;  // site ids
    std::vector<std::string> hosts;           // host ids where the model (its key, its weights) is
};

struct fleet {
    std::vector<fleet_entity> entities;
    std::vector<fleet_site> sites;
    std::vector<fleet_host> hosts;
    std::vector<fleet_model> models;
};

// Strict: unknown keys, duplicate ids, a missing field, a status other than uveu/nveu/none, a country that
// is not ISO 3166-1 alpha-2, a site of an unknown entity, a host on an unknown site, a model on an unknown
// host or approved for an unknown site, a chip id not in `chips` (other than "unknown"), malformed JSON:
// each is an error naming the record and the field.
result<fleet> parse_fleet(std::string_view json_text, const chip_table& chips);
// The same format parse_fleet reads (round-trips).
boost::json::object fleet_to_json(const fleet& f);

// ---- Findings

struct policy_finding {
    std::string rule;
    std::string severity;      // "violation" for every rule of the profiles; "warning" for gpu-unknown
    std::string subject_kind;  // "entity", "country", "site", "host", "model", "gpu"
    std::string subject;
    std::string host;          // the host concerned, "" when the finding is about an entity, country or site
    std::string detail;        // a sentence a person can read, with the numbers behind it
    // What tells apart findings of one rule about one subject and host: uveu-tier2-country-share sets the
    // country code; every other rule leaves it empty. (The verifier keys stored findings on it; not printed.)
    std::string ref;
};

struct evaluation {
    std::vector<policy_finding> findings;       // in a deterministic order (rule order of the profile, then subject)
    std::map<std::string, double> tpp_by_country;  // controlled chips only; every country with a site
    std::map<std::string, double> tpp_by_entity;   // controlled chips only; every entity
    std::size_t unknown_tpp_gpus = 0;              // GPUs whose TPP the chip table does not know ("unknown" included)
    std::size_t violations = 0;
    std::size_t warnings = 0;
};

// Rules run: those `p` enables, plus gpu-unknown (a warning per GPU whose chip is "unknown").
evaluation evaluate(const profile& p, const fleet& f, const chip_table& chips);

// {"findings":[{rule,severity,subject_kind,subject,host,detail}…],
//  "summary":{"tpp_by_country":{…},"tpp_by_entity":{…},"unknown_tpp_gpus":N,"violations":N,"warnings":N}}
// TPP figures are JSON integers when they are whole numbers.
boost::json::object evaluation_to_json(const evaluation& e);

}  // namespace custos::policy
