// Signed notes (C2SP signed-note, the format of Go's golang.org/x/mod/sumdb/note) with Ed25519 keys, and
// the transparency log's checkpoint (C2SP tlog-checkpoint) they carry: origin, tree size, root.
//
// A note is UTF-8 text ending in a newline, a blank line, then one line per signature:
// "— <key name> <base64(4-byte key hash || signature)>". The key hash is the first four bytes of
// SHA-256(name || "\n" || 0x01 || public key), so a verifier picks its signature out of several. Keys are
// written as Go writes them: "<name>+<hash hex>+<base64(0x01 || public key)>" for verifiers and
// "PRIVATE+KEY+<name>+<hash hex>+<base64(0x01 || seed)>" for signers.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/bytes.hpp"
#include "crypto/result.hpp"
#include "tlog/merkle.hpp"

namespace custos::tlog {

// A key name: not empty, valid UTF-8, no whitespace and no '+'.
bool valid_key_name(std::string_view name) noexcept;

struct note_verifier {
    std::string name;
    std::uint32_t key_hash = 0;
    std::array<std::uint8_t, 32> public_key{};
    std::string to_string() const;  // the verifier key text
};
// Parses a verifier key; a hash that does not match the name and key is refused.
result<note_verifier> parse_verifier_key(std::string_view vkey);
// A verifier key file (the verifier's keys/log.pub): one key, trailing newlines allowed; errors name the file.
result<note_verifier> read_verifier_key(const std::filesystem::path& file);

class note_signer {
public:
    // Parses a signer key; the secret is kept in locked memory, zeroed when the signer goes.
    static result<note_signer> parse(std::string_view skey);
    // A new key pair: the signer key's text (a secret: write it 0600, never log it) and the signer.
    static result<std::pair<secret_bytes, note_signer>> generate(std::string_view name);
    const note_verifier& verifier() const { return v_; }
    // The signed note: `text` (ending in a newline, no blank line), a blank line, this key's signature line.
    result<std::string> sign(std::string_view text) const;

private:
    note_verifier v_;
    secret_bytes sk_;  // libsodium's 64-byte secret key (seed || public key)
};

// The text of a note signed by `v` (its other signatures are ignored, as Go does). Errors say whether the
// note is malformed, carries no signature by this key, or carries a bad one.
result<std::string> open_note(std::string_view note, const note_verifier& v);

// A C2SP tlog-checkpoint body: "<origin>\n<size>\n<base64 root>\n" then optional extension lines.
struct checkpoint {
    std::string origin;
    std::int64_t size = 0;
    hash root{};
    std::vector<std::string> extensions;
};
std::string format_checkpoint(const checkpoint& c);
// Strict: a decimal size without leading zeros, a 32-byte root, no empty line.
result<checkpoint> parse_checkpoint(std::string_view text);

}  // namespace custos::tlog
