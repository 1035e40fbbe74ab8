#include "policy/profile.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>
#include <utility>

#include "crypto/file_io.hpp"
#include "policy/chips.hpp"
#include "policy/countries.hpp"

namespace custos::policy {
namespace detail {
extern const std::vector<std::pair<std::string_view, std::string_view>> builtin_profiles;
}

namespace {

constexpr std::size_t max_profile_size = 1u << 20;
constexpr int max_extends_depth = 8;

// A profile's TOML with its `extends` chain already merged in, and the ids along that chain.
struct merged_profile {
    toml::table table;
    std::vector<std::string> lineage;
};

// Resolves an `extends` value (from the file `from`) to its merged profile.
using resolver = std::function<result<merged_profile>(const std::string& name, const std::string& from, int depth)>;

// "file:line: " for a node; copies of nodes lose their source, so fall back on the name given.
std::string at(const toml::node& n, const std::string& fallback) {
    const auto& s = n.source();
    const std::string file = s.path ? *s.path : fallback;
    return file + ":" + std::to_string(s.begin.line) + ": ";
}

std::string table_label(const std::string& path) { return path.empty() ? "the top level" : "[" + path + "]"; }

result<toml::table> parse_toml(std::string_view text, const std::string& source_name) {
    try {
        return toml::parse(text, source_name);
    } catch (const toml::parse_error& e) {
        std::ostringstream m;
        m << source_name << ":" << e.source().begin.line << ": " << e.description();
        return make_error(errc::parse, m.str());
    }
}

bool is_array_of_tables(const toml::node& n) {
    const toml::array* a = n.as_array();
    return a && !a->empty() && a->is_array_of_tables();
}

// Every table that sets a value must say where the value comes from: checked on each file before merging,
// so an override cannot change a figure under its base's citation.
result<void> check_sources(const toml::table& t, const std::string& path, const std::string& file) {
    bool has_value = false;
    for (const auto& [k, v] : t) {
        const std::string key(k.str());
        const std::string sub = path.empty() ? key : path + "." + key;
        if (const toml::table* st = v.as_table()) {
            CUSTOS_TRY_VOID(check_sources(*st, sub, file));
        } else if (is_array_of_tables(v)) {
            std::size_t i = 0;
            for (const auto& e : *v.as_array())
                CUSTOS_TRY_VOID(check_sources(*e.as_table(), sub + "[" + std::to_string(i++) + "]", file));
        } else if (key != "extends") {
            has_value = true;
        }
    }
    if (!has_value) return {};
    const toml::node* s = t.get("source");
    if (!s || !s->is_string() || s->value<std::string>()->empty())
        return make_error(errc::parse, at(s ? *s : static_cast<const toml::node&>(t), file) + table_label(path) +
                                           " has no source: every table of a profile cites where its figures come "
                                           "from (source = \"...\")");
    return {};
}

// Tables merge key by key; anything else (values, arrays, arrays of tables) replaces. Moves keep source
// positions, so errors on a merged profile still name the file and line each value came from.
void merge_into(toml::table& base, toml::table&& over) {
    for (auto&& [k, v] : over) {
        if (toml::table* ot = v.as_table()) {
            if (toml::table* bt = base.get_as<toml::table>(k.str())) {
                merge_into(*bt, std::move(*ot));
                continue;
            }
        }
        v.visit([&, key = k](auto&& n) { base.insert_or_assign(key, std::move(n)); });
    }
}

result<merged_profile> resolve(std::string_view text, const std::string& source_name, const resolver& res, int depth) {
    CUSTOS_TRY(t, parse_toml(text, source_name));
    CUSTOS_TRY_VOID(check_sources(t, "", source_name));
    const toml::node* ext = t.get("extends");
    if (!ext) {
        merged_profile m{std::move(t), {}};
        if (const auto id = m.table["id"].value<std::string>()) m.lineage.push_back(*id);
        return m;
    }
    const auto name = ext->value<std::string>();
    if (!ext->is_string() || name->empty())
        return make_error(errc::parse, at(*ext, source_name) + "extends must be the name of a profile or a file");
    if (depth >= max_extends_depth)
        return make_error(errc::parse, at(*ext, source_name) + "extends \"" + *name + "\": more than " +
                                           std::to_string(max_extends_depth) + " profiles deep (a cycle?)");
    auto base = res(*name, source_name, depth + 1);
    if (!base) return with_context(std::move(base).err(), at(*ext, source_name) + "extends \"" + *name + "\"");
    t.erase("extends");
    merged_profile m = std::move(base).value();
    merge_into(m.table, std::move(t));
    if (const auto id = m.table["id"].value<std::string>())
        if (m.lineage.empty() || m.lineage.front() != *id) {
            std::erase(m.lineage, *id);
            m.lineage.insert(m.lineage.begin(), *id);
        }
    return m;
}

result<merged_profile> resolve_builtin(const std::string& name, const resolver& res, int depth) {
    const std::string_view* text = builtin_profile_text(name);
    if (!text) {
        std::string known;
        for (const auto& n : builtin_profile_names()) known += (known.empty() ? "" : ", ") + n;
        return make_error(errc::invalid_argument, "no built-in profile \"" + name + "\" (built in: " + known + ")");
    }
    return resolve(*text, "policy/profiles/" + name + ".toml (built in)", res, depth);
}

// ---- The strict reading of a merged profile

class reader {
public:
    explicit reader(std::string fallback) : fallback_(std::move(fallback)) {}

    error bad(const toml::node& n, const std::string& why) const { return make_error(errc::parse, at(n, fallback_) + why); }

    result<const toml::table*> table(const toml::node& n, const std::string& path) const {
        const toml::table* t = n.as_table();
        if (!t) return bad(n, path + " must be a table ([" + path + "])");
        return t;
    }

    result<void> keys(const toml::table& t, const std::string& path, std::initializer_list<std::string_view> allowed) const {
        for (const auto& [k, v] : t) {
            if (std::find(allowed.begin(), allowed.end(), k.str()) != allowed.end()) continue;
            std::string list;
            for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
            const std::string what = path.empty() ? "top-level key" : "[" + path + "] field";
            return bad(v, "\"" + std::string(k.str()) + "\" is not a " + what + " (" + list + ")");
        }
        return {};
    }

    result<std::string> string(const toml::node& n, const std::string& key) const {
        const auto s = n.value<std::string>();
        if (!n.is_string() || s->empty()) return bad(n, key + " must be a non-empty string");
        return *s;
    }

    // Records the table's source under `path`.
    result<void> source(const toml::table& t, const std::string& path, profile& p) const {
        const toml::node* s = t.get("source");
        if (!s) return bad(t, table_label(path) + " has no source: every table of a profile cites where its figures come from");
        CUSTOS_TRY(v, string(*s, "source"));
        p.sources[path] = v;
        return {};
    }

    result<double> number(const toml::node& n, const std::string& key, bool share = false) const {
        double d;
        if (const auto* i = n.as_integer()) d = static_cast<double>(i->get());
        else if (const auto* f = n.as_floating_point()) d = f->get();
        else return bad(n, key + " must be a number");
        if (!std::isfinite(d)) return bad(n, key + " must be a finite number");
        if (d < 0) return bad(n, key + " must not be negative");
        if (share && d > 1) return bad(n, key + " is a share: it must be between 0 and 1 (0.07 for 7 %)");
        return d;
    }

    result<std::set<std::string>> countries(const toml::node& n, const std::string& key) const {
        const toml::array* a = n.as_array();
        if (!a) return bad(n, key + " must be an array of ISO 3166-1 alpha-2 country codes");
        std::set<std::string> out;
        for (const auto& e : *a) {
            const auto s = e.value<std::string>();
            if (!e.is_string()) return bad(e, key + " must hold country codes (strings)");
            if (!is_iso3166_alpha2(*s))
                return bad(e, key + ": \"" + *s + "\" is not an ISO 3166-1 alpha-2 country code (two capital letters, assigned)");
            if (!out.insert(*s).second) return bad(e, key + ": " + *s + " appears twice");
        }
        return out;
    }

private:
    std::string fallback_;
};

result<profile> build(const merged_profile& m, const std::string& fallback) {
    const reader r(fallback);
    const toml::table& root = m.table;
    profile p;
    p.lineage = m.lineage;
    CUSTOS_TRY_VOID(r.keys(root, "", {"id", "title", "source", "extends", "rules", "tiers", "tier2", "lpp", "uveu", "nveu",
                                      "closed_weights"}));
    CUSTOS_TRY_VOID(r.source(root, "", p));
    const toml::node* id = root.get("id");
    if (!id) return r.bad(root, "the profile has no id");
    CUSTOS_TRY(idv, r.string(*id, "id"));
    p.id = idv;
    if (const toml::node* t = root.get("title")) {
        CUSTOS_TRY(tv, r.string(*t, "title"));
        p.title = tv;
    }
    if (p.lineage.empty() || p.lineage.front() != p.id) p.lineage.insert(p.lineage.begin(), p.id);

    // [rules]
    const toml::node* rules_node = root.get("rules");
    if (!rules_node) return r.bad(root, "the profile has no [rules] table");
    CUSTOS_TRY(rules, r.table(*rules_node, "rules"));
    CUSTOS_TRY_VOID(r.keys(*rules, "rules", {"enabled", "source"}));
    CUSTOS_TRY_VOID(r.source(*rules, "rules", p));
    const toml::node* enabled = rules->get("enabled");
    if (!enabled) return r.bad(*rules, "[rules] has no enabled = [...] list");
    const toml::array* ea = enabled->as_array();
    if (!ea) return r.bad(*enabled, "enabled must be an array of rule ids");
    for (const auto& e : *ea) {
        const auto s = e.value<std::string>();
        if (!e.is_string()) return r.bad(e, "enabled must hold rule ids (strings)");
        const auto& known = known_rules();
        if (std::find(known.begin(), known.end(), *s) == known.end()) {
            std::string list;
            for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
            return r.bad(e, "\"" + *s + "\" is not a rule (" + list + ")");
        }
        if (p.enabled(*s)) return r.bad(e, "rule \"" + *s + "\" is enabled twice");
        p.rules.push_back(*s);
    }

    bool has_tier1 = false, has_tier3 = false;
    for (const auto& [k, v] : root) {
        const std::string key(k.str());
        if (key == "tiers") {
            CUSTOS_TRY(t, r.table(v, key));
            CUSTOS_TRY_VOID(r.keys(*t, key, {"tier1", "tier3", "source"}));
            CUSTOS_TRY_VOID(r.source(*t, key, p));
            if (const toml::node* n = t->get("tier1")) {
                CUSTOS_TRY(c, r.countries(*n, "tier1"));
                p.tier1 = std::move(c);
                has_tier1 = true;
            }
            if (const toml::node* n = t->get("tier3")) {
                CUSTOS_TRY(c, r.countries(*n, "tier3"));
                p.tier3 = std::move(c);
                has_tier3 = true;
            }
            for (const auto& c : p.tier1)
                if (p.tier3.count(c)) return r.bad(*t, c + " is in both tier1 and tier3");
        } else if (key == "tier2") {
            CUSTOS_TRY(t, r.table(v, key));
            CUSTOS_TRY_VOID(r.keys(*t, key, {"country_cap_tpp", "source"}));
            CUSTOS_TRY_VOID(r.source(*t, key, p));
            if (const toml::node* n = t->get("country_cap_tpp")) {
                CUSTOS_TRY(d, r.number(*n, "country_cap_tpp"));
                p.tier2_country_cap_tpp = d;
            }
        } else if (key == "lpp") {
            CUSTOS_TRY(t, r.table(v, key));
            CUSTOS_TRY_VOID(r.keys(*t, key, {"allowance_tpp_per_entity", "source"}));
            CUSTOS_TRY_VOID(r.source(*t, key, p));
            if (const toml::node* n = t->get("allowance_tpp_per_entity")) {
                CUSTOS_TRY(d, r.number(*n, "allowance_tpp_per_entity"));
                p.lpp_allowance_tpp = d;
            }
        } else if (key == "uveu") {
            CUSTOS_TRY(t, r.table(v, key));
            CUSTOS_TRY_VOID(r.keys(*t, key, {"min_tier1_share", "max_tier2_country_share", "min_us_share_if_us_hq", "source"}));
            CUSTOS_TRY_VOID(r.source(*t, key, p));
            const std::pair<const char*, std::optional<double>*> shares[] = {
                {"min_tier1_share", &p.uveu_min_tier1_share},
                {"max_tier2_country_share", &p.uveu_max_tier2_country_share},
                {"min_us_share_if_us_hq", &p.uveu_min_us_share}};
            for (const auto& [name, field] : shares)
                if (const toml::node* n = t->get(name)) {
                    CUSTOS_TRY(d, r.number(*n, name, true));
                    *field = d;
                }
        } else if (key == "nveu") {
            CUSTOS_TRY(t, r.table(v, key));
            CUSTOS_TRY_VOID(r.keys(*t, key, {"h100e_tpp", "in_force", "phase", "source"}));
            CUSTOS_TRY_VOID(r.source(*t, key, p));
            if (const toml::node* n = t->get("h100e_tpp")) {
                CUSTOS_TRY(d, r.number(*n, "h100e_tpp"));
                if (d <= 0) return r.bad(*n, "h100e_tpp must be positive");
                p.h100e_tpp = d;
            }
            if (const toml::node* n = t->get("phase")) {
                const toml::array* a = n->as_array();
                if (!a || !a->is_array_of_tables() || a->empty())
                    return r.bad(*n, "phase must be [[nveu.phase]] tables (name, cap_h100e, source)");
                for (const auto& e : *a) {
                    const std::string path = "nveu.phase[" + std::to_string(p.nveu_phases.size()) + "]";
                    const toml::table& pt = *e.as_table();
                    CUSTOS_TRY_VOID(r.keys(pt, "nveu.phase", {"name", "cap_h100e", "source"}));
                    CUSTOS_TRY_VOID(r.source(pt, path, p));
                    nveu_phase ph;
                    ph.source = p.sources[path];
                    const toml::node* nm = pt.get("name");
                    if (!nm) return r.bad(pt, path + " has no name");
                    CUSTOS_TRY(nv, r.string(*nm, "name"));
                    ph.name = nv;
                    for (const auto& other : p.nveu_phases)
                        if (other.name == ph.name) return r.bad(*nm, "NVEU phase \"" + ph.name + "\" appears twice");
                    const toml::node* cap = pt.get("cap_h100e");
                    if (!cap) return r.bad(pt, path + " has no cap_h100e");
                    CUSTOS_TRY(cv, r.number(*cap, "cap_h100e"));
                    ph.cap_h100e = cv;
                    p.nveu_phases.push_back(std::move(ph));
                }
            }
            if (!p.nveu_phases.empty()) p.nveu_phase_in_force = p.nveu_phases.size() - 1;
            if (const toml::node* n = t->get("in_force")) {
                CUSTOS_TRY(name, r.string(*n, "in_force"));
                auto it = std::find_if(p.nveu_phases.begin(), p.nveu_phases.end(), [&](const nveu_phase& ph) { return ph.name == name; });
                if (it == p.nveu_phases.end()) return r.bad(*n, "in_force \"" + name + "\" is not one of the [[nveu.phase]] names");
                p.nveu_phase_in_force = static_cast<std::size_t>(it - p.nveu_phases.begin());
            }
        } else if (key == "closed_weights") {
            CUSTOS_TRY(t, r.table(v, key));
            CUSTOS_TRY_VOID(r.keys(*t, key, {"threshold_ops", "source"}));
            CUSTOS_TRY_VOID(r.source(*t, key, p));
            if (const toml::node* n = t->get("threshold_ops")) {
                CUSTOS_TRY(d, r.number(*n, "threshold_ops"));
                p.closed_weights_threshold_ops = d;
            }
        }
    }

    // An enabled rule runs on figures the profile carries, never on a default in code.
    auto need = [&](std::string_view rule, bool present, const std::string& what) -> result<void> {
        if (p.enabled(rule) && !present)
            return r.bad(*enabled, "rule \"" + std::string(rule) + "\" is enabled but the profile has no " + what);
        return {};
    };
    CUSTOS_TRY_VOID(need("tier3-destination", has_tier3, "[tiers] tier3"));
    CUSTOS_TRY_VOID(need("uveu-hq-not-tier1", has_tier1, "[tiers] tier1"));
    CUSTOS_TRY_VOID(need("uveu-tier1-share", has_tier1, "[tiers] tier1"));
    CUSTOS_TRY_VOID(need("uveu-tier1-share", p.uveu_min_tier1_share.has_value(), "[uveu] min_tier1_share"));
    CUSTOS_TRY_VOID(need("uveu-tier2-country-share", has_tier1 && has_tier3, "[tiers] tier1 and tier3 (Tier 2 is every other country)"));
    CUSTOS_TRY_VOID(need("uveu-tier2-country-share", p.uveu_max_tier2_country_share.has_value(), "[uveu] max_tier2_country_share"));
    CUSTOS_TRY_VOID(need("uveu-us-share", p.uveu_min_us_share.has_value(), "[uveu] min_us_share_if_us_hq"));
    CUSTOS_TRY_VOID(need("tier2-country-cap", has_tier1 && has_tier3, "[tiers] tier1 and tier3 (Tier 2 is every other country)"));
    CUSTOS_TRY_VOID(need("tier2-country-cap", p.tier2_country_cap_tpp.has_value(), "[tier2] country_cap_tpp"));
    CUSTOS_TRY_VOID(need("tier2-country-cap", p.lpp_allowance_tpp.has_value(), "[lpp] allowance_tpp_per_entity"));
    CUSTOS_TRY_VOID(need("nveu-cap", p.h100e_tpp.has_value(), "[nveu] h100e_tpp"));
    CUSTOS_TRY_VOID(need("nveu-cap", !p.nveu_phases.empty(), "[[nveu.phase]] schedule"));
    CUSTOS_TRY_VOID(need("closed-weights-unapproved-site", p.closed_weights_threshold_ops.has_value(), "[closed_weights] threshold_ops"));
    return p;
}

const resolver& builtin_resolver() {
    static const resolver res = [](const std::string& name, const std::string&, int depth) {
        return resolve_builtin(name, builtin_resolver(), depth);
    };
    return res;
}

const resolver& file_resolver() {
    // A built-in name wins; anything else is a file, relative to the file that names it.
    static const resolver res = [](const std::string& name, const std::string& from, int depth) -> result<merged_profile> {
        if (builtin_profile_text(name)) return resolve_builtin(name, file_resolver(), depth);
        std::filesystem::path path(name);
        if (path.is_relative() && !from.empty() && from.find("(built in)") == std::string::npos)
            path = std::filesystem::path(from).parent_path() / path;
        auto data = read_file(path, max_profile_size);
        if (!data) return make_error(errc::io, "profile " + path.string() + ": " + data.err().message);
        return resolve(std::string_view(reinterpret_cast<const char*>(data->data()), data->size()), path.string(), file_resolver(), depth);
    };
    return res;
}

}  // namespace

const std::vector<std::string_view>& known_rules() {
    static const std::vector<std::string_view> rules = {
        "tier3-destination",        "prohibited-chip", "uveu-hq-not-tier1", "uveu-tier1-share",
        "uveu-tier2-country-share", "uveu-us-share",   "tier2-country-cap", "nveu-cap",
        "closed-weights-unapproved-site"};
    return rules;
}

bool profile::enabled(std::string_view rule) const { return std::find(rules.begin(), rules.end(), rule) != rules.end(); }

int profile::tier_of(std::string_view country) const {
    const std::string c(country);
    if (tier1.count(c)) return 1;
    if (tier3.count(c)) return 3;
    return 2;
}

std::optional<double> profile::nveu_cap_tpp() const {
    if (!h100e_tpp || nveu_phases.empty() || nveu_phase_in_force >= nveu_phases.size()) return std::nullopt;
    return nveu_phases[nveu_phase_in_force].cap_h100e * *h100e_tpp;
}

bool profile::prohibits(const chip& c) const {
    for (const auto& id : c.prohibited_in)
        if (std::find(lineage.begin(), lineage.end(), id) != lineage.end()) return true;
    return false;
}

result<profile> parse_profile(std::string_view toml_text, const std::string& source_name) {
    CUSTOS_TRY(m, resolve(toml_text, source_name, builtin_resolver(), 0));
    return build(m, source_name);
}

result<profile> load_profile(const std::string& name_or_path) {
    if (builtin_profile_text(name_or_path)) {
        CUSTOS_TRY(m, resolve_builtin(name_or_path, builtin_resolver(), 0));
        return build(m, name_or_path);
    }
    const bool looks_like_file = name_or_path.find('/') != std::string::npos || name_or_path.ends_with(".toml");
    auto data = read_file(name_or_path, max_profile_size);
    if (!data) {
        if (!looks_like_file) {
            std::string known;
            for (const auto& n : builtin_profile_names()) known += (known.empty() ? "" : ", ") + n;
            return make_error(errc::invalid_argument, "\"" + name_or_path + "\" is neither a built-in profile (" + known +
                                                          ") nor a readable file");
        }
        return make_error(errc::io, "profile " + name_or_path + ": " + data.err().message);
    }
    CUSTOS_TRY(m, resolve(std::string_view(reinterpret_cast<const char*>(data->data()), data->size()), name_or_path,
                          file_resolver(), 0));
    return build(m, name_or_path);
}

std::vector<std::string> builtin_profile_names() {
    std::vector<std::string> out;
    for (const auto& [name, text] : detail::builtin_profiles) out.emplace_back(name);
    std::sort(out.begin(), out.end());
    return out;
}

const std::string_view* builtin_profile_text(std::string_view name) {
    for (const auto& e : detail::builtin_profiles)
        if (e.first == name) return &e.second;
    return nullptr;
}

}  // namespace custos::policy
