// The agent's report spool: every report and key binding is written here (fsync'd, atomically) before it
// is sent, and removed only when the verifier has answered for it. The chain head (last seq and hash)
// survives any crash: it is the larger of chain.json and the newest spooled report.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "crypto/bytes.hpp"
#include "crypto/result.hpp"

namespace custos::agent {

struct chain_head {
    std::uint64_t seq = 0;
    bytes hash = bytes(32, 0);
};

struct spool_entry {
    std::filesystem::path path;
    bool binding = false;  // a report-key binding (sent to /v1/report-key) or a report (/v1/reports)
    std::uint64_t seq = 0;
    std::string json;  // the binding request body, or {"report":"b64","sig":"b64"}
};

class spool {
public:
    [[nodiscard]] static result<spool> open(const std::filesystem::path& state_dir);

    const chain_head& head() const { return head_; }
    // Writes the report, then advances the head. body must be the report with seq == head().seq + 1, and at
    // most attest::max_report_size bytes (the verifier reads no larger one).
    [[nodiscard]] result<void> add_report(std::uint64_t seq, byte_view body, byte_view sig);
    [[nodiscard]] result<void> add_binding(const std::string& request_json);
    // Bindings first (oldest first), then reports in seq order.
    [[nodiscard]] result<std::vector<spool_entry>> pending() const;
    [[nodiscard]] result<void> remove(const spool_entry& e);
    // An entry that no longer reads (a damaged file): moved to spool/unreadable/ so it neither blocks the
    // entries after it nor is lost; the verifier sees the missing report as a gap in the chain.
    [[nodiscard]] result<void> set_aside(const spool_entry& e);
    // The verifier's head after a re-enrollment, when it is ahead of ours (our state was lost).
    [[nodiscard]] result<void> adopt(const chain_head& h);

private:
    explicit spool(std::filesystem::path dir) : dir_(std::move(dir)) {}
    result<void> write_head();
    std::filesystem::path dir_;  // state_dir/spool
    std::filesystem::path head_file_;
    chain_head head_;
};

}  // namespace custos::agent
