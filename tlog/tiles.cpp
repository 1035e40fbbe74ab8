#include "tlog/tiles.hpp"

#include <charconv>
#include <cstdio>
#include <vector>

namespace custos::tlog {
namespace {

error bad(std::string_view path, const std::string& why) {
    return make_error(errc::invalid_argument, "tile path \"" + std::string(path.substr(0, 80)) + "\": " + why);
}

// A decimal without a sign or leading zeros (a lone "0" allowed), at most `max`.
bool plain_number(std::string_view s, std::int64_t max, std::int64_t& out) {
    if (s.empty() || s.size() > 19 || (s.size() > 1 && s[0] == '0')) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && out <= max;
}

}  // namespace

result<tile> parse_tile_path(std::string_view path) {
    std::vector<std::string_view> parts;
    for (std::size_t at = 0;;) {
        const auto slash = path.find('/', at);
        parts.push_back(path.substr(at, slash == std::string_view::npos ? std::string_view::npos : slash - at));
        if (slash == std::string_view::npos) break;
        at = slash + 1;
    }
    if (parts.size() < 2) return bad(path, "expected <L>/<N> or entries/<N>");
    tile t;
    if (parts[0] == "entries") {
        t.entries = true;
    } else {
        std::int64_t l = 0;
        if (!plain_number(parts[0], 63, l)) return bad(path, "the level is not a number 0-63");
        t.level = static_cast<int>(l);
    }
    parts.erase(parts.begin());
    // A partial tile: "<last group>.p/<W>".
    if (parts.size() >= 2 && parts[parts.size() - 2].ends_with(".p")) {
        std::int64_t w = 0;
        if (!plain_number(parts.back(), tile_width - 1, w) || w == 0) return bad(path, "the partial width is not 1-255");
        t.width = static_cast<int>(w);
        parts.pop_back();
        parts.back().remove_suffix(2);
    }
    if (parts.size() > 7) return bad(path, "the index has too many groups");
    std::int64_t n = 0;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        std::string_view g = parts[i];
        const bool last = i + 1 == parts.size();
        if (!last) {
            if (!g.starts_with("x")) return bad(path, "every index group but the last starts with \"x\"");
            g.remove_prefix(1);
        }
        if (g.size() != 3 || g.find_first_not_of("0123456789") != std::string_view::npos)
            return bad(path, "an index group is not three digits");
        if (i == 0 && !last && g == "000") return bad(path, "the index has a leading zero group");
        if (n > (INT64_MAX - 999) / 1000) return bad(path, "the index is too large");
        n = n * 1000 + (g[0] - '0') * 100 + (g[1] - '0') * 10 + (g[2] - '0');
    }
    t.n = n;
    return t;
}

std::string tile_path(const tile& t) {
    std::string groups;
    std::int64_t n = t.n;
    char b[8];
    std::snprintf(b, sizeof b, "%03d", static_cast<int>(n % 1000));
    groups = b;
    while (n >= 1000) {
        n /= 1000;
        std::snprintf(b, sizeof b, "x%03d/", static_cast<int>(n % 1000));
        groups = b + groups;
    }
    std::string out = (t.entries ? std::string("entries") : std::to_string(t.level)) + "/" + groups;
    if (t.width != tile_width) out += ".p/" + std::to_string(t.width);
    return out;
}

bool tile_within(const tile& t, std::int64_t size) {
    // The last node (or entry) covered ends at leaf (N·256 + W) · 256^L.
    const int shift = t.entries ? 0 : tile_height * t.level;
    if (shift >= 62) return false;
    if (t.n < 0 || t.n >= (INT64_MAX >> tile_height)) return false;
    const std::int64_t end = t.n * tile_width + t.width;  // nodes at this level
    return end <= (size >> shift);
}

result<bytes> hash_tile(const tile& t, const hash_reader& read) {
    std::vector<std::int64_t> idx;
    idx.reserve(static_cast<std::size_t>(t.width));
    for (int i = 0; i < t.width; ++i) idx.push_back(stored_hash_index(tile_height * t.level, t.n * tile_width + i));
    CUSTOS_TRY(hs, read(idx));
    bytes out;
    out.reserve(hs.size() * 32);
    for (const auto& h : hs) out.insert(out.end(), h.begin(), h.end());
    return out;
}

result<void> append_bundle_entry(bytes& bundle, byte_view entry) {
    if (entry.size() > 0xffff) return make_error(errc::invalid_argument, "an entry of " + std::to_string(entry.size()) +
                                                                            " bytes does not fit an entry bundle (65,535 at most)");
    bundle.push_back(static_cast<std::uint8_t>(entry.size() >> 8));
    bundle.push_back(static_cast<std::uint8_t>(entry.size() & 0xff));
    bundle.insert(bundle.end(), entry.begin(), entry.end());
    return {};
}

}  // namespace custos::tlog
