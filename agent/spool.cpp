#include "agent/spool.hpp"

#include <boost/json.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "attest/messages.hpp"
#include "attest/wire.hpp"
#include "crypto/base64.hpp"
#include "crypto/file_io.hpp"
#include "crypto/strict_json.hpp"

namespace custos::agent {
namespace fs = std::filesystem;
namespace json = boost::json;
namespace {

std::string seq_name(char kind, std::uint64_t seq, const std::string& suffix = {}) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%c-%020llu%s.json", kind, static_cast<unsigned long long>(seq), suffix.c_str());
    return buf;
}

result<void> sync_dir(const fs::path& dir) {
    fd_guard d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (d.fd < 0 || ::fsync(d.fd) != 0) return make_error(errc::io, "fsync " + dir.string());
    return {};
}

// A spooled report: {"report":"b64","sig":"b64"} → its seq and hash.
result<std::pair<std::uint64_t, bytes>> report_of(const std::string& text, const fs::path& p) {
    CUSTOS_TRY(v, sjson::parse(text, p.string()));
    CUSTOS_TRY(sr, attest::signed_report_from_json(v, p.string()));
    CUSTOS_TRY(r, attest::parse_report(sr.body));
    return std::make_pair(r.seq, attest::report_hash(sr.body));
}

}  // namespace

result<spool> spool::open(const fs::path& state_dir) {
    spool s(state_dir / "spool");
    std::error_code ec;
    fs::create_directories(s.dir_, ec);
    if (ec) return make_error(errc::io, "creating " + s.dir_.string() + ": " + ec.message());
    s.head_file_ = state_dir / "chain.json";
    if (fs::exists(s.head_file_)) {
        CUSTOS_TRY(b, read_file(s.head_file_, 4096));
        CUSTOS_TRY(v, sjson::parse(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()), s.head_file_.string()));
        CUSTOS_TRY(o, sjson::object_reader::of(v, s.head_file_.string()));
        CUSTOS_TRY(seq, o.u64("seq"));
        CUSTOS_TRY(hash, o.hex("hash", 32));
        s.head_ = {seq, std::move(hash)};
    }
    // A crash between writing a report and writing chain.json: the spooled report is the truth.
    CUSTOS_TRY(entries, s.pending());
    for (const auto& e : entries) {
        if (e.binding || e.seq <= s.head_.seq) continue;
        // A damaged file does not stop the agent: flushing sets it aside, and a later report takes its place.
        auto r = report_of(e.json, e.path);
        if (!r) continue;
        s.head_ = {r->first, r->second};
    }
    return s;
}

result<void> spool::write_head() {
    json::object o{{"seq", head_.seq}, {"hash", to_hex(head_.hash)}};
    return write_file_atomic(head_file_, json::serialize(o), 0600);
}

result<void> spool::add_report(std::uint64_t seq, byte_view body, byte_view sig) {
    if (seq != head_.seq + 1)
        return make_error(errc::invalid_argument, "report " + std::to_string(seq) + " does not follow " + std::to_string(head_.seq));
    if (body.size() > attest::max_report_size)
        return make_error(errc::invalid_argument, "report " + std::to_string(seq) + " would be " + std::to_string(body.size()) +
                                                      " bytes (at most " + std::to_string(attest::max_report_size) + ")");
    const auto o = attest::signed_report_json({bytes(body.begin(), body.end()), bytes(sig.begin(), sig.end())});
    CUSTOS_TRY_VOID(write_file_atomic(dir_ / seq_name('r', seq), json::serialize(o), 0600));
    head_ = {seq, attest::report_hash(body)};
    return write_head();
}

result<void> spool::add_binding(const std::string& request_json) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
    return write_file_atomic(dir_ / seq_name('b', head_.seq, "-" + std::to_string(ns)), request_json, 0600);
}

result<std::vector<spool_entry>> spool::pending() const {
    std::vector<spool_entry> out;
    std::error_code ec;
    for (const auto& d : fs::directory_iterator(dir_, ec)) {
        const std::string name = d.path().filename().string();
        if (name.size() < 27 || (name[0] != 'r' && name[0] != 'b') || name[1] != '-' || d.path().extension() != ".json")
            continue;  // temp files of an interrupted write, or foreign files
        spool_entry e;
        e.path = d.path();
        e.binding = name[0] == 'b';
        e.seq = std::strtoull(name.substr(2, 20).c_str(), nullptr, 10);
        CUSTOS_TRY(b, read_file(e.path, 1 << 20));
        e.json.assign(b.begin(), b.end());
        out.push_back(std::move(e));
    }
    if (ec) return make_error(errc::io, "listing " + dir_.string() + ": " + ec.message());
    std::sort(out.begin(), out.end(), [](const spool_entry& a, const spool_entry& b) {
        if (a.binding != b.binding) return a.binding;
        return a.path.filename() < b.path.filename();
    });
    return out;
}

result<void> spool::remove(const spool_entry& e) {
    std::error_code ec;
    fs::remove(e.path, ec);
    if (ec) return make_error(errc::io, "removing " + e.path.string() + ": " + ec.message());
    return sync_dir(dir_);
}

result<void> spool::set_aside(const spool_entry& e) {
    const fs::path aside = dir_ / "unreadable";
    std::error_code ec;
    fs::create_directories(aside, ec);
    if (!ec) fs::rename(e.path, aside / e.path.filename(), ec);
    if (ec) return make_error(errc::io, "moving " + e.path.string() + " to " + aside.string() + ": " + ec.message());
    return sync_dir(dir_);
}

result<void> spool::adopt(const chain_head& h) {
    if (h.seq <= head_.seq) return {};
    head_ = h;
    return write_head();
}

}  // namespace custos::agent
