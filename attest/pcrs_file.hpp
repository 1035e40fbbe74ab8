// The quote.pcrs layout tpm2-tools 5.4 writes with `tpm2_quote -o` and reads with `tpm2_checkquote -f`.
//
// A little-endian dump of TSS structs with their padding: TPML_PCR_SELECTION (132 bytes), UINT32 count,
// then count x TPML_DIGEST (532 bytes each, at most 8 digests per block), digests in selection order.
#pragma once

#include "attest/pcr_selection.hpp"

namespace custos::attest {

struct pcrs_file {
    TPML_PCR_SELECTION selection{};
    pcr_values values;
};

// Strict: exact size, 1..16 distinct sha1/sha256/sha384/sha512 banks selecting at least one PCR, 1..32
// blocks of 1..8 digests each holding exactly the selected PCRs, digest sizes matching each bank, no
// trailing bytes. Struct padding, banks past the count and unused digest slots are not read (tpm2-tools
// does not read them either); errors are errc::parse.
result<pcrs_file> parse_pcrs_file(byte_view data);
// Errors if values do not match the selection (order, count, digest sizes). Writes 8 digests per block
// and zeroes every unused byte, which is byte for byte what tpm2_quote -o writes for a TPM that returns
// 8 digests per PCR_Read.
result<bytes> serialize_pcrs_file(const TPML_PCR_SELECTION& sel, const pcr_values& values);

}  // namespace custos::attest
