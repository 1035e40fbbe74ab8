// X25519 recipient keys for sealed models: standard PEM (SubjectPublicKeyInfo / PKCS#8), as `openssl pkey` reads.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

#include "crypto/bytes.hpp"

namespace custos::weights {

inline constexpr std::size_t x25519_key_size = 32;
using x25519_public = std::array<std::uint8_t, x25519_key_size>;

struct recipient_private_key {
    secret_bytes secret;  // 32 raw X25519 bytes, as libsodium's crypto_box takes them
    x25519_public pub{};
};

// A fresh key pair.
result<recipient_private_key> generate_recipient_key();

// PEM text of each half. The private PEM is secret: it comes back in secret_bytes.
result<std::string> recipient_public_pem(const x25519_public& pub);
result<secret_bytes> recipient_private_pem(const recipient_private_key& key);

// Parsing PEM held in memory; `name` (a file name) prefixes every error.
result<x25519_public> parse_recipient_public(byte_view pem, const std::string& name);
result<recipient_private_key> parse_recipient_private(byte_view pem, const std::string& name);

// Reading the files; errors name the file and what is wrong with it (not PEM, not X25519, unreadable).
result<x25519_public> load_recipient_public(const std::filesystem::path& path);
result<recipient_private_key> load_recipient_private(const std::filesystem::path& path);

// Writes DIR/recipient.pub (0644) and DIR/recipient.key (0600), creating DIR if needed; refuses to replace
// either file (neither is written when one already exists).
result<void> write_recipient_keypair(const std::filesystem::path& dir);

}  // namespace custos::weights
