#include "verifier/pci_reconcile.hpp"

#include <map>
#include <set>

namespace custos::verifier {
namespace {

std::string ids_of(const attest::pci_function& f) { return f.vendor + ":" + f.device; }

std::string chip_name(const policy::chip* c) { return c ? c->id : std::string("unknown"); }

std::string gpu_subject(const attest::gpu_report& g) {
    if (!g.serial.empty()) return g.serial;
    if (!g.uuid.empty()) return g.uuid;
    const auto bus = attest::canonical_pci_bus(g.pci_bus_id);
    return "pci:" + (bus ? *bus : g.pci_bus_id);  // one spelling with the PCI view's subjects
}

}  // namespace

pci_reconciliation reconcile_pci(const attest::report_ext& ext, const policy::chip_table& chips) {
    pci_reconciliation r;
    const bool nvml = ext.inventory_source == "nvml";
    if (!ext.pci) {
        r.why = ext.pci_error.empty() ? "the agent sent no PCI view" : "the agent could not read its PCI view: " + ext.pci_error;
        for (const auto& g : ext.gpus) {
            const policy::chip* c = chips.by_name(g.name);
            r.gpu_chips.push_back(c);
            if (!c)
                r.issues.push_back({"gpu-unknown", gpu_subject(g),
                                    "GPU " + gpu_subject(g) + " reports the name \"" + g.name +
                                        "\", which is not in the chip table: its TPP and export class are unknown"});
        }
        return r;
    }
    r.pci_view = true;
    std::map<std::string, const attest::pci_function*> on_bus;
    for (const auto& f : *ext.pci) on_bus.emplace(f.bus, &f);
    // Set aside only as what it is: a display controller (class 03) with a display-only function's ids.
    auto display = [&](const attest::pci_function& f) {
        return f.class_code.starts_with("03") && !chips.by_pci(f.vendor, f.device) &&
               chips.display_only(f.vendor, f.device) != nullptr;
    };

    std::map<std::string, std::vector<std::string>> listed;  // bus → the NVML GPUs with a serial at it
    std::set<std::string> listed_any;                        // buses NVML lists a GPU at, serial or not
    for (const auto& g : ext.gpus) {
        const auto bus = attest::canonical_pci_bus(g.pci_bus_id);
        const auto it = bus ? on_bus.find(*bus) : on_bus.end();
        const attest::pci_function* f = it == on_bus.end() ? nullptr : it->second;
        const policy::chip* by_ids = f ? chips.by_pci(f->vendor, f->device) : nullptr;
        const policy::chip* by_name = chips.by_name(g.name);
        // A listing at another vendor's card keeps its own name's chip: the card counts once, by its ids.
        const policy::chip* c = f && f->vendor != "10de" && nvml ? by_name : by_ids ? by_ids : by_name;
        r.gpu_chips.push_back(c);
        const std::string who = gpu_subject(g);
        if (nvml) {
            if (!f || display(*f)) {
                r.issues.push_back({"accelerator-mismatch", who,
                                    "NVML lists GPU " + who + " (\"" + g.name + "\") at PCI address " + g.pci_bus_id +
                                        ", where the PCI bus shows no accelerator: a GPU the bus does not have"});
            } else if (f->vendor != "10de") {
                // NVML lists NVIDIA's GPUs only: a listing at another vendor's card claims that card away.
                r.issues.push_back({"accelerator-mismatch", who,
                                    "NVML lists GPU " + who + " (\"" + g.name + "\") at PCI address " + f->bus +
                                        ", where the bus has a card of vendor " + f->vendor + " (" + ids_of(*f) +
                                        "): NVML never lists another vendor's card"});
            } else {
                // Only a GPU with a serial stands for its card: one without cannot be tied to the host, so the
                // card stays counted by its PCI ids.
                listed_any.insert(f->bus);
                if (!g.serial.empty()) listed[f->bus].push_back(who);
                if (by_ids && by_name && by_ids != by_name)
                    r.issues.push_back({"accelerator-mismatch", who,
                                        "NVML names GPU " + who + " at " + f->bus + " \"" + g.name + "\" (" + by_name->id +
                                            "), but its PCI ids " + ids_of(*f) + " are those of " + by_ids->id +
                                            ": the verifier counts it as " + by_ids->id});
            }
            if (!c)
                r.issues.push_back({"gpu-unknown", who,
                                    "GPU " + who + " reports the name \"" + g.name + "\"" +
                                        (f ? " and the PCI ids " + ids_of(*f) + ", neither of which is" : ", which is not") +
                                        " in the chip table: its TPP and export class are unknown"});
        }
    }
    for (const auto& [bus, who] : listed) {
        if (who.size() < 2) continue;
        std::string names;
        for (const auto& w : who) names += (names.empty() ? "" : ", ") + w;
        r.issues.push_back({"accelerator-mismatch", "pci:" + bus,
                            "NVML lists " + std::to_string(who.size()) + " GPUs (" + names + ") at PCI address " + bus +
                                ", where the bus holds one card: a GPU listed twice, so one of those serials is not on this host"});
    }
    for (const auto& f : *ext.pci) {
        if (display(f) || listed.count(f.bus)) continue;
        const policy::chip* c = chips.by_pci(f.vendor, f.device);
        r.pci_only.push_back({f, c});
        const std::string what = "PCI function " + f.bus + " (" + ids_of(f) + ", class " + f.class_code + ", " +
                                 (c ? c->id : std::string("a chip the table does not know")) + ")";
        if (nvml && f.vendor == "10de" && !listed_any.count(f.bus))
            r.issues.push_back({"accelerator-unreported", "pci:" + f.bus,
                                what + " is an NVIDIA accelerator on the bus that NVML does not list: a card the agent or "
                                       "its driver hides"});
        if (!c)
            r.issues.push_back({"gpu-unknown", "pci:" + f.bus,
                                what + " is an accelerator on the bus whose PCI ids are not in the chip table: its TPP and "
                                       "export class are unknown"});
    }
    return r;
}

std::vector<std::string> pci_only_lines(const std::vector<pci_accelerator>& list) {
    std::vector<std::string> out;
    for (const auto& a : list) out.push_back(a.function.bus + " " + ids_of(a.function) + " " + chip_name(a.chip));
    return out;
}

std::vector<stored_pci_accelerator> parse_pci_only_lines(const std::vector<std::string>& lines) {
    std::vector<stored_pci_accelerator> out;
    for (const auto& l : lines) {
        // "bus ids chip": the chip id is the rest of the line (an operator's table may put spaces in one).
        const auto a = l.find(' ');
        const auto b = a == std::string::npos ? a : l.find(' ', a + 1);
        if (b == std::string::npos || b + 1 >= l.size()) {
            out.push_back({l.substr(0, a), "", "unknown"});  // never dropped: it still counts, as unknown
            continue;
        }
        out.push_back({l.substr(0, a), l.substr(a + 1, b - a - 1), l.substr(b + 1)});
    }
    return out;
}

}  // namespace custos::verifier
