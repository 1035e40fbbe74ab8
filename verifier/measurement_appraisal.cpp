#include "verifier/measurement_appraisal.hpp"

#include "attest/tpm_alg.hpp"

namespace custos::verifier {
namespace {

const std::set<std::uint32_t> boot_pcrs = {0, 1, 2, 3, 4, 5, 6, 7};

std::string join(const std::vector<std::string>& parts, std::size_t max) {
    std::string out;
    for (std::size_t i = 0; i < parts.size() && i < max; ++i) out += (i ? "; " : "") + parts[i];
    if (parts.size() > max) out += "; and " + std::to_string(parts.size() - max) + " more";
    return out;
}

void appraise_boot(const measurement_state& state, const measurement_input& in, measurement_outcome& out) {
    for (const auto& q : *in.quoted)
        if (boot_pcrs.count(q.index)) out.replayed_pcrs.insert(q.index);
    auto log = attest::parse_boot_log(*in.boot_log);
    if (!log) {
        out.hits.push_back({"event-log-mismatch", "the boot event log is refused: " + log.err().message});
        return;
    }
    const auto mismatches = attest::compare_replay(*in.quoted, attest::replay_boot_log(*log), boot_pcrs, log->startup_locality);
    if (!mismatches.empty()) {
        std::vector<std::string> parts;
        for (const auto& m : mismatches) parts.push_back(attest::describe(m));
        out.hits.push_back({"event-log-mismatch", "the boot event log does not match the quote: " + join(parts, 4) +
                                                      " (an event edited, dropped, reordered, or a measurement it does not record)"});
        return;
    }
    const auto components = attest::boot_components(*log);
    if (state.boot_reference.empty()) {
        if (in.approved) out.next.boot_reference = attest::boot_reference_to_json(components);
        return;
    }
    auto reference = attest::parse_boot_reference(state.boot_reference);
    if (!reference) {
        out.hits.push_back({"boot-changed", "the stored boot reference cannot be read (" + reference.err().message +
                                                "): approve the host again to capture a new one"});
        return;
    }
    const auto diff = attest::diff_boot(*reference, components);
    if (!diff.empty())
        out.hits.push_back({"boot-changed", "the boot components differ from those recorded at approval: " + join(diff, 5) +
                                                "; if the change is intended, approve the host again"});
}

// Whether every quoted PCR of `pcrs` in the banks IMA extends equals the replay (a PCR no entry touched yet
// must still be zero).
bool meets(const attest::pcr_values& quoted, attest::pcr_banks replayed, const std::set<std::uint32_t>& pcrs) {
    replayed.try_emplace(hash_alg::sha1);
    replayed.try_emplace(hash_alg::sha256);
    return attest::compare_replay(quoted, replayed, pcrs).empty();
}

void appraise_ima(const measurement_state& state, const measurement_input& in, measurement_outcome& out) {
    const measurement_state base = in.rebooted ? measurement_state{} : state;
    const std::uint64_t expected = base.ima_count;
    out.next.ima_count = expected;
    out.next.ima_pcrs = base.ima_pcrs;
    out.ima_next = expected;
    auto parsed = attest::parse_ima_log(in.ima_entries);
    std::set<std::uint32_t> pcrs = {10};
    if (parsed)
        for (const auto& e : *parsed) pcrs.insert(e.pcr);
    for (const auto& q : *in.quoted)
        if (pcrs.count(q.index)) out.replayed_pcrs.insert(q.index);
    if (!parsed) {
        out.hits.push_back({"event-log-mismatch", "the IMA list is refused (entries from " + std::to_string(*in.ima_from) +
                                                      "): " + parsed.err().message});
        return;
    }
    std::vector<attest::ima_entry> entries = std::move(*parsed);
    if (const auto bad = attest::first_template_hash_mismatch(entries)) {
        out.hits.push_back({"event-log-mismatch", "IMA entry " + std::to_string(*in.ima_from + *bad) + " (" + entries[*bad].path +
                                                      "): its template hash is not the SHA-1 of its data, so it was edited after "
                                                      "it was measured"});
        return;
    }
    if (*in.ima_from > expected) {
        if (!meets(*in.quoted, base.ima_pcrs, pcrs))
            out.hits.push_back({"event-log-mismatch", "the host sent IMA entries from " + std::to_string(*in.ima_from) +
                                                          " but the verifier has accepted " + std::to_string(expected) +
                                                          ": the entries between were never shown, and PCR 10 moved"});
        return;
    }
    // Entries the verifier already accepted (an agent that lost its place) are skipped, not judged twice.
    const std::uint64_t skip = expected - *in.ima_from;
    if (skip > entries.size()) {
        if (!meets(*in.quoted, base.ima_pcrs, pcrs))
            out.hits.push_back({"event-log-mismatch", "the host sent " + std::to_string(entries.size()) + " IMA entries from " +
                                                          std::to_string(*in.ima_from) + ", fewer than the " +
                                                          std::to_string(expected) + " already accepted, and PCR 10 moved"});
        return;
    }
    entries.erase(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(skip));
    // The longest prefix whose replay meets the quote (hash chains: at most one prefix can).
    attest::pcr_banks running = base.ima_pcrs;
    std::optional<std::size_t> accepted;
    if (meets(*in.quoted, running, pcrs)) accepted = 0;
    for (std::size_t k = 0; k < entries.size(); ++k) {
        running = attest::replay_ima_log({entries[k]}, running);
        if (meets(*in.quoted, running, pcrs)) accepted = k + 1;
    }
    if (!accepted) {
        out.hits.push_back({"event-log-mismatch",
                            "the IMA list replays to the quoted PCR 10 after none of its " + std::to_string(entries.size()) +
                                " new entries (from " + std::to_string(expected) +
                                "): an entry was removed or edited, or PCR 10 was extended without one"});
        return;
    }
    entries.resize(*accepted);
    if (in.runtime)
        for (const auto& f : attest::appraise_runtime(*in.runtime, entries, expected)) out.hits.push_back({f.rule, f.detail});
    out.next.ima_count = expected + *accepted;
    out.next.ima_pcrs = attest::replay_ima_log(entries, base.ima_pcrs);
    out.ima_next = out.next.ima_count;
    out.ima_accepted = *accepted;
}

}  // namespace

measurement_outcome appraise_measurements(const measurement_state& state, const measurement_input& in) {
    measurement_outcome out;
    out.next = state;
    out.ima_next = state.ima_count;
    if (!in.quoted) return out;
    if (in.boot_log) appraise_boot(state, in, out);
    if (in.ima_from) appraise_ima(state, in, out);
    return out;
}

}  // namespace custos::verifier
