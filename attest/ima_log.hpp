// The IMA runtime measurement list (binary_runtime_measurements, `ima-ng` and `ima-sig` templates): a
// strict parser, and the PCR values it implies in the SHA-1 and SHA-256 banks.
//
// Each entry (little-endian, as x86 kernels and ima_canonical_fmt write it): u32 pcr, the 20-byte
// template hash, u32 name length and the template name, u32 data length and the template data, whose
// fields each carry a u32 length: d-ng ("sha256:" NUL digest), n-ng (the path, NUL-terminated) and, for
// ima-sig, the file signature (possibly empty). Pure functions over bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "attest/event_log.hpp"

namespace custos::attest {

struct ima_entry {
    std::size_t offset = 0;  // of the entry in the list
    std::uint32_t pcr = 0;
    bytes template_hash;   // 20 bytes: SHA-1 of the template data, all zero for a measurement violation
    std::string template_name;  // ima-ng or ima-sig
    bytes template_data;   // as recorded, field lengths included
    std::string file_hash_alg;  // from d-ng: sha1, sha256, sha384, sha512, md5, …
    bytes file_hash;
    std::string path;       // from n-ng, without its NUL
    bytes signature;        // ima-sig only; empty when the file carries none
    bool violation() const;  // the kernel's marker: template hash all zero
};

// Strict: known templates only (ima-ng, ima-sig); every length inside the entry and inside its template
// data must add up exactly; the path is NUL-terminated with no NUL inside; the digest's size matches its
// algorithm; PCR indices 0..23. Errors are errc::parse with the entry number, offset and reason.
result<std::vector<ima_entry>> parse_ima_log(byte_view data);

// The first entry whose recorded template hash is not the SHA-1 of its template data (the kernel computes
// one from the other; a violation's all-zero hash aside): an entry edited after it was measured. Separate
// from parsing because the SHA-1 bank folds the recorded hash as it is; appraisal refuses such a list.
std::optional<std::size_t> first_template_hash_mismatch(const std::vector<ima_entry>& entries);

// Folds the entries into the SHA-1 bank (each recorded template hash) and the SHA-256 bank (from 32 zero
// bytes, the SHA-256 of each entry's template data, as kernels since 5.8 extend non-SHA-1 banks); a
// violation extends all-0xFF of the bank's size. `start` continues from earlier values (an incremental
// list); an empty map starts every PCR at zero.
pcr_banks replay_ima_log(const std::vector<ima_entry>& entries, const pcr_banks& start = {});

// An ima-ng (or, with `signature`, ima-sig) entry measuring `path` with `file_hash` (SHA-256), for tests.
ima_entry make_ima_entry(std::uint32_t pcr, const std::string& path, byte_view file_hash, bool sig_template = false,
                         byte_view signature = {});
bytes serialize_ima_log(const std::vector<ima_entry>& entries);

}  // namespace custos::attest
