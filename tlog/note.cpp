#include "tlog/note.hpp"

#include <sodium.h>

#include <charconv>
#include <cstdio>

#include "crypto/base64.hpp"
#include "crypto/digest.hpp"
#include "crypto/file_io.hpp"

namespace custos::tlog {
namespace {

constexpr std::uint8_t alg_ed25519 = 0x01;
constexpr std::string_view sig_prefix = "\xE2\x80\x94 ";  // "— " (U+2014 and a space)

bool valid_utf8(std::string_view s) noexcept {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
        if (len == 0 || i + len > s.size()) return false;
        std::uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
        for (std::size_t k = 1; k < len; ++k) {
            const auto d = static_cast<unsigned char>(s[i + k]);
            if ((d >> 6) != 0x2) return false;
            cp = (cp << 6) | (d & 0x3F);
        }
        // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

std::uint32_t key_hash(std::string_view name, byte_view key) {
    hasher h(hash_alg::sha256);
    h.update(as_bytes(name)).update(as_bytes("\n")).update(key);
    const bytes d = h.finish();
    return (std::uint32_t{d[0]} << 24) | (std::uint32_t{d[1]} << 16) | (std::uint32_t{d[2]} << 8) | d[3];
}

std::string hex8(std::uint32_t v) {
    char b[9];
    std::snprintf(b, sizeof b, "%08x", v);
    return b;
}

// "<name>+<hash>+<key>" split, with the hash checked for 8 hex digits.
struct key_parts {
    std::string name;
    std::uint32_t hash = 0;
    bytes key;
};
result<key_parts> split_key(std::string_view text, const char* what) {
    const auto p1 = text.find('+');
    const auto p2 = p1 == std::string_view::npos ? p1 : text.find('+', p1 + 1);
    if (p2 == std::string_view::npos)
        return make_error(errc::parse, std::string(what) + " is not of the form <name>+<hash>+<key>");
    key_parts k;
    k.name = std::string(text.substr(0, p1));
    const std::string_view h = text.substr(p1 + 1, p2 - p1 - 1);
    if (!valid_key_name(k.name)) return make_error(errc::parse, std::string(what) + ": the key name is not valid");
    if (h.size() != 8 || std::from_chars(h.data(), h.data() + 8, k.hash, 16).ptr != h.data() + 8)
        return make_error(errc::parse, std::string(what) + ": the key hash is not 8 hex digits");
    for (char c : h)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return make_error(errc::parse, std::string(what) + ": the key hash is not 8 lowercase hex digits");
    auto key = from_base64(text.substr(p2 + 1));
    if (!key) return make_error(errc::parse, std::string(what) + ": the key is not base64");
    if (key->size() != 33 || (*key)[0] != alg_ed25519)
        return make_error(errc::parse, std::string(what) + ": not an Ed25519 key (algorithm 1, 32 bytes)");
    k.key = std::move(key).value();
    return k;
}

result<void> sodium_ready() {
    if (sodium_init() < 0) return make_error(errc::crypto, "libsodium failed to initialise");
    return {};
}

}  // namespace

bool valid_key_name(std::string_view name) noexcept {
    if (name.empty() || !valid_utf8(name)) return false;
    for (char c : name) {
        const auto u = static_cast<unsigned char>(c);
        // Go refuses unicode.IsSpace; the ASCII ones and the Latin-1 ones written in UTF-8 (U+0085, U+00A0).
        if (c == '+' || c == ' ' || (u >= 0x09 && u <= 0x0D)) return false;
    }
    if (name.find("\xC2\x85") != std::string_view::npos || name.find("\xC2\xA0") != std::string_view::npos) return false;
    return true;
}

std::string note_verifier::to_string() const {
    bytes k{alg_ed25519};
    k.insert(k.end(), public_key.begin(), public_key.end());
    return name + "+" + hex8(key_hash) + "+" + to_base64(k);
}

result<note_verifier> parse_verifier_key(std::string_view vkey) {
    CUSTOS_TRY(k, split_key(vkey, "the log's verifier key"));
    if (k.hash != key_hash(k.name, k.key))
        return make_error(errc::mismatch, "the log's verifier key: its hash does not match its name and key");
    note_verifier v;
    v.name = std::move(k.name);
    v.key_hash = k.hash;
    std::copy(k.key.begin() + 1, k.key.end(), v.public_key.begin());
    return v;
}

result<note_verifier> read_verifier_key(const std::filesystem::path& file) {
    auto b = read_file(file, 4096);
    if (!b) return std::move(b).err();
    std::string_view k(reinterpret_cast<const char*>(b->data()), b->size());
    while (!k.empty() && (k.back() == '\n' || k.back() == '\r')) k.remove_suffix(1);
    auto v = parse_verifier_key(k);
    if (!v) return with_context(std::move(v).err(), file.string());
    return v;
}

result<note_signer> note_signer::parse(std::string_view skey) {
    constexpr std::string_view prefix = "PRIVATE+KEY+";
    if (skey.substr(0, prefix.size()) != prefix)
        return make_error(errc::parse, "the log's signing key does not start with PRIVATE+KEY+");
    while (!skey.empty() && (skey.back() == '\n' || skey.back() == '\r')) skey.remove_suffix(1);
    CUSTOS_TRY(k, split_key(skey.substr(prefix.size()), "the log's signing key"));
    CUSTOS_TRY_VOID(sodium_ready());
    note_signer s;
    s.sk_ = secret_bytes(crypto_sign_SECRETKEYBYTES);
    std::array<std::uint8_t, 32> pub{};
    crypto_sign_seed_keypair(pub.data(), s.sk_.data(), k.key.data() + 1);
    sodium_memzero(k.key.data(), k.key.size());
    bytes pk{alg_ed25519};
    pk.insert(pk.end(), pub.begin(), pub.end());
    if (k.hash != key_hash(k.name, pk))
        return make_error(errc::mismatch, "the log's signing key: its hash does not match its name and key");
    s.v_ = note_verifier{std::move(k.name), k.hash, pub};
    return s;
}

result<std::pair<secret_bytes, note_signer>> note_signer::generate(std::string_view name) {
    if (!valid_key_name(name))
        return make_error(errc::invalid_argument, "a log key name must be non-empty UTF-8 without spaces or '+': \"" +
                                                      std::string(name) + "\"");
    CUSTOS_TRY_VOID(sodium_ready());
    note_signer s;
    s.sk_ = secret_bytes(crypto_sign_SECRETKEYBYTES);
    std::array<std::uint8_t, 32> pub{};
    crypto_sign_keypair(pub.data(), s.sk_.data());
    bytes pk{alg_ed25519};
    pk.insert(pk.end(), pub.begin(), pub.end());
    s.v_ = note_verifier{std::string(name), key_hash(name, pk), pub};
    // The seed is the first half of libsodium's secret key.
    secret_bytes seed(33);
    seed.data()[0] = alg_ed25519;
    std::copy(s.sk_.data(), s.sk_.data() + 32, seed.data() + 1);
    const std::string head = "PRIVATE+KEY+" + std::string(name) + "+" + hex8(s.v_.key_hash) + "+";
    const std::size_t b64_len = sodium_base64_ENCODED_LEN(33, sodium_base64_VARIANT_ORIGINAL);
    secret_bytes text(head.size() + b64_len);  // b64_len counts the terminating NUL: it becomes the newline
    std::copy(head.begin(), head.end(), text.data());
    sodium_bin2base64(reinterpret_cast<char*>(text.data() + head.size()), b64_len, seed.data(), seed.size(),
                      sodium_base64_VARIANT_ORIGINAL);
    text.data()[text.size() - 1] = '\n';
    return std::pair<secret_bytes, note_signer>(std::move(text), std::move(s));
}

result<std::string> note_signer::sign(std::string_view text) const {
    if (text.empty() || text.back() != '\n' || !valid_utf8(text))
        return make_error(errc::invalid_argument, "a note's text must be UTF-8 ending in a newline");
    if (text.find("\n\n") != std::string_view::npos)
        return make_error(errc::invalid_argument, "a note's text must not hold a blank line");
    // What open_note would refuse is not signed either.
    for (char c : text)
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n')
            return make_error(errc::invalid_argument, "a note's text must not hold control characters");
    std::uint8_t sig[4 + crypto_sign_BYTES];
    sig[0] = static_cast<std::uint8_t>(v_.key_hash >> 24);
    sig[1] = static_cast<std::uint8_t>(v_.key_hash >> 16);
    sig[2] = static_cast<std::uint8_t>(v_.key_hash >> 8);
    sig[3] = static_cast<std::uint8_t>(v_.key_hash);
    if (crypto_sign_detached(sig + 4, nullptr, reinterpret_cast<const unsigned char*>(text.data()), text.size(),
                             sk_.data()) != 0)
        return make_error(errc::crypto, "signing a note failed");
    std::string out(text);
    out += "\n";
    out += sig_prefix;
    out += v_.name + " " + to_base64(byte_view(sig, sizeof sig)) + "\n";
    return out;
}

result<std::string> open_note(std::string_view msg, const note_verifier& v) {
    if (!valid_utf8(msg)) return make_error(errc::parse, "the signed note is not UTF-8");
    for (char c : msg)
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n')
            return make_error(errc::parse, "the signed note holds a control character");
    const auto split = msg.rfind("\n\n");
    if (split == std::string_view::npos) return make_error(errc::parse, "the signed note has no signature block");
    const std::string_view text = msg.substr(0, split + 1);
    std::string_view sigs = msg.substr(split + 2);
    if (sigs.empty() || sigs.back() != '\n') return make_error(errc::parse, "the signed note's signature block does not end in a newline");
    bool verified = false;
    for (int count = 0; !sigs.empty(); ++count) {
        if (count == 100) return make_error(errc::parse, "the signed note carries more than 100 signatures");
        const auto nl = sigs.find('\n');
        std::string_view line = sigs.substr(0, nl);
        sigs.remove_prefix(nl + 1);
        if (line.substr(0, sig_prefix.size()) != sig_prefix)
            return make_error(errc::parse, "the signed note has a signature line not starting with \"— \"");
        line.remove_prefix(sig_prefix.size());
        const auto sp = line.find(' ');
        if (sp == std::string_view::npos) return make_error(errc::parse, "the signed note has a signature line without a key name");
        const std::string_view name = line.substr(0, sp);
        auto sig = from_base64(line.substr(sp + 1));
        if (!valid_key_name(name) || !sig || sig->size() < 5)
            return make_error(errc::parse, "the signed note has a malformed signature line");
        const std::uint32_t h = (std::uint32_t{(*sig)[0]} << 24) | (std::uint32_t{(*sig)[1]} << 16) |
                                (std::uint32_t{(*sig)[2]} << 8) | (*sig)[3];
        if (name != v.name || h != v.key_hash) continue;  // another signer's
        if (sig->size() != 4 + crypto_sign_BYTES ||
            crypto_sign_verify_detached(sig->data() + 4, reinterpret_cast<const unsigned char*>(text.data()), text.size(),
                                        v.public_key.data()) != 0)
            return make_error(errc::signature, "the signed note's signature by " + v.name + " does not verify");
        verified = true;
    }
    if (!verified) return make_error(errc::signature, "the signed note carries no signature by the key " + v.name);
    return std::string(text);
}

std::string format_checkpoint(const checkpoint& c) {
    std::string out = c.origin + "\n" + std::to_string(c.size) + "\n" + to_base64(c.root) + "\n";
    for (const auto& e : c.extensions) out += e + "\n";
    return out;
}

result<checkpoint> parse_checkpoint(std::string_view text) {
    if (text.empty() || text.back() != '\n') return make_error(errc::parse, "the checkpoint does not end in a newline");
    std::vector<std::string_view> lines;
    for (std::string_view rest = text; !rest.empty();) {
        const auto nl = rest.find('\n');
        lines.push_back(rest.substr(0, nl));
        rest.remove_prefix(nl + 1);
    }
    if (lines.size() < 3) return make_error(errc::parse, "the checkpoint has fewer than three lines (origin, size, root)");
    checkpoint c;
    if (lines[0].empty()) return make_error(errc::parse, "the checkpoint's origin line is empty");
    c.origin = std::string(lines[0]);
    const auto s = lines[1];
    if (s.empty() || s.size() > 19 || (s.size() > 1 && s[0] == '0') ||
        std::from_chars(s.data(), s.data() + s.size(), c.size).ptr != s.data() + s.size() || c.size < 0)
        return make_error(errc::parse, "the checkpoint's size line is not a decimal number");
    auto root = from_base64(lines[2]);
    if (!root || root->size() != 32) return make_error(errc::parse, "the checkpoint's root line is not a base64 SHA-256 hash");
    std::copy(root->begin(), root->end(), c.root.begin());
    for (std::size_t i = 3; i < lines.size(); ++i) {
        if (lines[i].empty()) return make_error(errc::parse, "the checkpoint holds an empty line");
        c.extensions.emplace_back(lines[i]);
    }
    return c;
}

}  // namespace custos::tlog
