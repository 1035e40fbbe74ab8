#include "policy/chips.hpp"

#include <toml++/toml.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

#include "crypto/file_io.hpp"

namespace custos::policy {
namespace detail {
extern const std::string_view builtin_chips_toml;
}

namespace {
// "vvvv:dddd", lowercase hex.
bool valid_pci_id(std::string_view s) {
    if (s.size() != 9 || s[4] != ':') return false;
    for (std::size_t i = 0; i < s.size(); ++i)
        if (i != 4 && !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}
}  // namespace

std::optional<double> chip::peak_ops_per_s() const {
    if (!tpp || !tpp_bits) return std::nullopt;
    return *tpp / *tpp_bits * 1e12;
}

bool chip::controlled() const {
    if (!tpp) return false;
    if (*tpp >= 4800) return true;
    return *tpp >= 1600 && pd && *pd >= 5.92;
}

result<chip_table> chip_table::parse(std::string_view text, const std::string& source) {
    toml::table t;
    try {
        t = toml::parse(text, source);
    } catch (const toml::parse_error& e) {
        std::ostringstream m;
        m << source << ":" << e.source().begin.line << ": " << e.description();
        return make_error(errc::parse, m.str());
    }
    auto at = [&](const toml::node& n) { return source + ":" + std::to_string(n.source().begin.line) + ": "; };
    chip_table out;
    for (const auto& [k, v] : t)
        if (k.str() != "chip" && k.str() != "display")
            return make_error(errc::parse, at(v) + "\"" + std::string(k.str()) + "\" is not a known table ([[chip]] or [[display]])");
    const toml::node* chip_node = t.get("chip");
    if (!chip_node) return make_error(errc::parse, source + ": no [[chip]] entries");
    const toml::array* chips = chip_node->as_array();
    if (!chips) return make_error(errc::parse, at(*chip_node) + "chip must be [[chip]] tables");
    if (chips->empty()) return make_error(errc::parse, at(*chip_node) + "no [[chip]] entries");
    std::set<std::string> ids, names, pci;
    for (const auto& node : *chips) {
        const toml::table* c = node.as_table();
        if (!c) return make_error(errc::parse, at(node) + "chip must be a table");
        chip ch;
        auto number = [&](const toml::node& v, const std::string& key) -> result<double> {
            const auto d = v.value<double>();
            if (!d || !std::isfinite(*d) || *d <= 0)
                return make_error(errc::parse, at(v) + key + " must be a positive number");
            return *d;
        };
        auto strings = [&](const toml::node& v, const std::string& key) -> result<std::vector<std::string>> {
            const toml::array* a = v.as_array();
            if (!a) return make_error(errc::parse, at(v) + key + " must be an array of strings");
            std::vector<std::string> out;
            for (const auto& s : *a) {
                if (!s.is_string() || s.value<std::string>()->empty())
                    return make_error(errc::parse, at(s) + key + " must hold non-empty strings");
                out.push_back(*s.value<std::string>());
            }
            return out;
        };
        for (const auto& [k, v] : *c) {
            const std::string key(k.str());
            if (key == "id" || key == "vendor") {
                if (!v.is_string() || v.value<std::string>()->empty())
                    return make_error(errc::parse, at(v) + key + " must be a non-empty string");
                (key == "id" ? ch.id : ch.vendor) = *v.value<std::string>();
            } else if (key == "tpp") {
                CUSTOS_TRY(d, number(v, key));
                ch.tpp = d;
            } else if (key == "tpp_bits") {
                const auto b = v.value<std::int64_t>();
                if (!v.is_integer() || (*b != 4 && *b != 8 && *b != 16 && *b != 32 && *b != 64))
                    return make_error(errc::parse, at(v) + "tpp_bits must be 4, 8, 16, 32 or 64");
                ch.tpp_bits = static_cast<unsigned>(*b);
            } else if (key == "die_mm2") {
                CUSTOS_TRY(d, number(v, key));
                ch.die_mm2 = d;
            } else if (key == "pd") {
                CUSTOS_TRY(d, number(v, key));
                ch.pd = d;
            } else if (key == "names") {
                CUSTOS_TRY(n, strings(v, key));
                ch.names = std::move(n);
            } else if (key == "pci_ids") {
                CUSTOS_TRY(ids_, strings(v, key));
                for (const auto& id : ids_)
                    if (!valid_pci_id(id))
                        return make_error(errc::parse, at(v) + "pci_ids: \"" + id + "\" is not \"vvvv:dddd\" (lowercase hex)");
                ch.pci_ids = std::move(ids_);
            } else if (key == "prohibited_in") {
                CUSTOS_TRY(p, strings(v, key));
                ch.prohibited_in = std::move(p);
            } else {
                return make_error(errc::parse, at(v) + "\"" + key +
                                                   "\" is not a chip field (id, vendor, tpp, tpp_bits, die_mm2, pd, names, pci_ids, "
                                                   "prohibited_in)");
            }
        }
        if (ch.id.empty()) return make_error(errc::parse, at(node) + "chip has no id");
        if (ch.id == "unknown") return make_error(errc::parse, at(node) + "\"unknown\" is reserved for GPUs the table does not know");
        if (!ids.insert(ch.id).second) return make_error(errc::parse, at(node) + "chip id \"" + ch.id + "\" appears twice");
        if (ch.tpp.has_value() != ch.tpp_bits.has_value())
            return make_error(errc::parse, at(node) + "chip \"" + ch.id + "\": tpp and tpp_bits go together");
        for (const auto& n : ch.names)
            if (!names.insert(n).second)
                return make_error(errc::parse, at(node) + "the name \"" + n + "\" belongs to two chips");
        for (const auto& id : ch.pci_ids)
            if (!pci.insert(id).second) return make_error(errc::parse, at(node) + "the PCI id " + id + " belongs to two chips");
        out.chips_.push_back(std::move(ch));
    }
    // Display-only functions: known not to be accelerators, so a server's BMC VGA is not an unknown one.
    if (const toml::node* dn = t.get("display")) {
        const toml::array* displays = dn->as_array();
        if (!displays) return make_error(errc::parse, at(*dn) + "display must be [[display]] tables");
        for (const auto& node : *displays) {
            const toml::table* d = node.as_table();
            if (!d) return make_error(errc::parse, at(node) + "display must be a table");
            display_device dd;
            for (const auto& [k, v] : *d) {
                const std::string key(k.str());
                if (key == "id" || key == "vendor") {
                    if (!v.is_string() || v.value<std::string>()->empty())
                        return make_error(errc::parse, at(v) + key + " must be a non-empty string");
                    (key == "id" ? dd.id : dd.vendor) = *v.value<std::string>();
                } else if (key == "pci_ids") {
                    const toml::array* a = v.as_array();
                    if (!a || a->empty()) return make_error(errc::parse, at(v) + "pci_ids must be a non-empty array of strings");
                    for (const auto& s : *a) {
                        const auto id = s.value<std::string>();
                        if (!s.is_string() || !valid_pci_id(*id))
                            return make_error(errc::parse, at(s) + "pci_ids must hold \"vvvv:dddd\" (lowercase hex)");
                        dd.pci_ids.push_back(*id);
                    }
                } else {
                    return make_error(errc::parse, at(v) + "\"" + key + "\" is not a display field (id, vendor, pci_ids)");
                }
            }
            if (dd.id.empty() || dd.pci_ids.empty()) return make_error(errc::parse, at(node) + "display needs an id and pci_ids");
            if (!ids.insert("display:" + dd.id).second)
                return make_error(errc::parse, at(node) + "display id \"" + dd.id + "\" appears twice");
            for (const auto& id : dd.pci_ids)
                if (!pci.insert(id).second)
                    return make_error(errc::parse, at(node) + "the PCI id " + id + " belongs to two entries");
            out.displays_.push_back(std::move(dd));
        }
    }
    return out;
}

result<chip_table> chip_table::load(const std::filesystem::path& file) {
    CUSTOS_TRY(data, read_file(file, 1 << 20));
    return parse(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()), file.string());
}

const chip_table& chip_table::builtin() {
    static const chip_table t = [] {
        auto r = parse(detail::builtin_chips_toml, "policy/chips.toml (built in)");
        if (!r) std::abort();  // the build's own data: the chip table unit tests keep it parseable
        return std::move(r).value();
    }();
    return t;
}

const chip* chip_table::by_id(std::string_view id) const {
    for (const auto& c : chips_)
        if (c.id == id) return &c;
    return nullptr;
}

namespace {
// "0x10DE", "2330" → "10de:2330"; "" when either is not 4 hex digits.
std::string pci_key(std::string_view vendor, std::string_view device) {
    const auto norm = [](std::string_view s) {
        if (s.starts_with("0x") || s.starts_with("0X")) s.remove_prefix(2);
        std::string out(s);
        for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return out;
    };
    std::string key = norm(vendor) + ":" + norm(device);
    return valid_pci_id(key) ? key : std::string();
}
}  // namespace

const display_device* chip_table::display_only(std::string_view vendor, std::string_view device) const {
    const std::string key = pci_key(vendor, device);
    if (key.empty()) return nullptr;
    for (const auto& d : displays_)
        for (const auto& id : d.pci_ids)
            if (id == key) return &d;
    return nullptr;
}

const chip* chip_table::by_pci(std::string_view vendor, std::string_view device) const {
    const std::string key = pci_key(vendor, device);
    if (key.empty()) return nullptr;
    for (const auto& c : chips_)
        for (const auto& id : c.pci_ids)
            if (id == key) return &c;
    return nullptr;
}

const chip* chip_table::by_name(std::string_view name) const {
    for (const auto& c : chips_)
        for (const auto& n : c.names)
            if (n == name) return &c;
    return nullptr;
}

}  // namespace custos::policy
