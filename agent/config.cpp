#include "agent/config.hpp"

#include <toml++/toml.h>

#include <fstream>
#include <sstream>

namespace custos::agent {

result<void> load_agent_config(const std::filesystem::path& file, agent_config& c) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return make_error(errc::io, file.string() + ": cannot read the config file");
    std::ostringstream text;
    text << in.rdbuf();
    return parse_agent_config(text.str(), file, c);
}

result<void> parse_agent_config(std::string_view text, const std::filesystem::path& file, agent_config& c) {
    toml::table t;
    try {
        t = toml::parse(text, file.string());
    } catch (const toml::parse_error& e) {
        std::ostringstream m;
        m << file.string() << ":" << e.source().begin.line << ": " << e.description();
        return make_error(errc::invalid_argument, m.str());
    }
    auto bad = [&](const std::string& key, const char* why, const toml::node& n) {
        return make_error(errc::invalid_argument, file.string() + ":" + std::to_string(n.source().begin.line) + ": " +
                                                      key + " " + why);
    };
    for (const auto& [k, v] : t) {
        const std::string key(k.str());
        if (key == "report_interval_s") {
            if (!v.is_integer() || *v.value<std::int64_t>() < 1 || *v.value<std::int64_t>() > 86400)
                return bad(key, "must be an integer from 1 to 86400", v);
            c.report_interval_s = static_cast<unsigned>(*v.value<std::int64_t>());
            continue;
        }
        std::string* target = key == "host_id"        ? &c.host_id
                              : key == "verifier_url" ? &c.verifier_url
                              : key == "ca_file"      ? &c.ca_file
                              : key == "tcti"         ? &c.tcti
                              : key == "enroll_token" ? &c.enroll_token
                                                      : nullptr;
        if (key == "nvml_library") {
            if (!v.is_string() || v.value<std::string>()->empty()) return bad(key, "must be a non-empty string", v);
            c.nvml_library = *v.value<std::string>();
            continue;
        }
        if (key == "chip_table") {
            if (!v.is_string()) return bad(key, "must be a string", v);
            c.chip_table = *v.value<std::string>();
            continue;
        }
        if (key == "model_dir" || key == "weights_socket") {
            if (!v.is_string()) return bad(key, "must be a string", v);
            (key == "model_dir" ? c.model_dir : c.weights_socket) = *v.value<std::string>();
            continue;
        }
        if (key == "weights_allowed_uids") {
            const toml::array* a = v.as_array();
            if (!a) return bad(key, "must be an array of uids", v);
            c.weights_allowed_uids.clear();
            for (const auto& u : *a) {
                if (!u.is_integer() || *u.value<std::int64_t>() < 0 || *u.value<std::int64_t>() > 0xfffffffe)
                    return bad(key, "must hold uids (integers 0..4294967294)", u);
                c.weights_allowed_uids.push_back(static_cast<unsigned>(*u.value<std::int64_t>()));
            }
            continue;
        }
        if (key == "boot_log" || key == "ima_log") {
            if (!v.is_string()) return bad(key, "must be a string (empty: not sent)", v);
            (key == "boot_log" ? c.boot_log : c.ima_log) = *v.value<std::string>();
            continue;
        }
        if (key == "state_dir" || key == "sysfs_root") {
            if (!v.is_string() || v.value<std::string>()->empty()) return bad(key, "must be a non-empty string", v);
            (key == "state_dir" ? c.state_dir : c.sysfs_root) = *v.value<std::string>();
            continue;
        }
        if (!target) return bad(key, "is not a known setting (host_id, verifier_url, ca_file, tcti, state_dir, enroll_token, report_interval_s, nvml_library, chip_table, sysfs_root, model_dir, weights_socket, weights_allowed_uids, boot_log, ima_log)", v);
        if (!v.is_string()) return bad(key, "must be a string", v);
        *target = *v.value<std::string>();
    }
    return {};
}

result<void> check_agent_config(const agent_config& c) {
    auto missing = [](const char* k) {
        return make_error(errc::invalid_argument, std::string("agent configuration: ") + k +
                                                      " is not set (config file or --" + k + " flag)");
    };
    if (c.host_id.empty()) return missing("host_id");
    if (c.verifier_url.empty()) return missing("verifier_url");
    if (c.verifier_url.rfind("https://", 0) != 0)
        return make_error(errc::invalid_argument, "agent configuration: verifier_url must start with https://");
    if (c.ca_file.empty()) return missing("ca_file");
    if (c.state_dir.empty()) return missing("state_dir");
    return {};
}

}  // namespace custos::agent
