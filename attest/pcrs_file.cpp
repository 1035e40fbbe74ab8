#include "attest/pcrs_file.hpp"

#include <algorithm>

#include "attest/tpm_alg.hpp"
#include "crypto/digest.hpp"

namespace custos::attest {

namespace {

// Sizes of the x86-64 structs tpm2-tools fwrite()s, padding included (see tpm2-tools lib/pcr.c
// pcr_fwrite_serialized and tpm2_checkquote.c parse_selection_data_from_file).
constexpr std::size_t selection_entry_size = 8;  // u16 hash, u8 sizeofSelect, u8 pcrSelect[4], 1 pad byte
constexpr std::size_t selection_size = 4 + TPM2_NUM_PCR_BANKS * selection_entry_size;  // 132
constexpr std::size_t digest_entry_size = 2 + sizeof(TPMU_HA);                       // 66: u16 size, u8[64]
constexpr std::size_t digests_per_block = 8;                                         // TPML_DIGEST holds 8
constexpr std::size_t block_size = 4 + digests_per_block * digest_entry_size;        // 532
constexpr std::size_t header_size = selection_size + 4;                              // 136
// tpm2-tools keeps the blocks in tpm2_pcrs.pcr_values[TPM2_MAX_PCRS] and refuses files with more.
constexpr std::size_t max_blocks = TPM2_MAX_PCRS;

static_assert(selection_size == 132 && block_size == 532, "tpm2-tools quote.pcrs layout");

std::uint16_t get_u16(byte_view b, std::size_t off) {
    return static_cast<std::uint16_t>(b[off] | b[off + 1] << 8);
}
std::uint32_t get_u32(byte_view b, std::size_t off) {
    return static_cast<std::uint32_t>(b[off]) | static_cast<std::uint32_t>(b[off + 1]) << 8 |
           static_cast<std::uint32_t>(b[off + 2]) << 16 | static_cast<std::uint32_t>(b[off + 3]) << 24;
}
void put_u16(bytes& b, std::size_t off, std::uint16_t v) {
    b[off] = static_cast<std::uint8_t>(v);
    b[off + 1] = static_cast<std::uint8_t>(v >> 8);
}
void put_u32(bytes& b, std::size_t off, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b[off + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
}

error bad_file(const std::string& why) { return make_error(errc::parse, "quote.pcrs: " + why); }

}  // namespace

result<pcrs_file> parse_pcrs_file(byte_view data) {
    if (data.size() < header_size)
        return bad_file(std::to_string(data.size()) + " bytes; a PCR file has at least " +
                        std::to_string(header_size + block_size));
    pcrs_file out;
    TPML_PCR_SELECTION& sel = out.selection;
    const std::uint32_t banks = get_u32(data, 0);
    if (banks == 0 || banks > TPM2_NUM_PCR_BANKS)
        return bad_file("selection has " + std::to_string(banks) + " banks; expected 1..16");
    sel.count = banks;
    for (std::uint32_t b = 0; b < banks; ++b) {
        const std::size_t off = 4 + b * selection_entry_size;
        auto& bank = sel.pcrSelections[b];
        bank.hash = get_u16(data, off);
        bank.sizeofSelect = data[off + 2];
        if (!to_hash_alg(bank.hash))
            return bad_file("selection bank " + std::to_string(b) + " has hash " + tpm_alg_name(bank.hash) +
                            " (sha1, sha256, sha384 or sha512 expected)");
        if (bank.sizeofSelect > sizeof bank.pcrSelect)
            return bad_file("selection bank " + tpm_alg_name(bank.hash) + " has sizeofSelect " +
                            std::to_string(bank.sizeofSelect) + "; at most 4");
        std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(off + 3), bank.sizeofSelect, bank.pcrSelect);
        for (std::uint32_t p = 0; p < b; ++p)
            if (sel.pcrSelections[p].hash == bank.hash)
                return bad_file("selection lists bank " + tpm_alg_name(bank.hash) + " twice");
    }
    const std::size_t selected = selection_count(sel);
    if (selected == 0) return bad_file("selection selects no PCRs");

    const std::uint32_t blocks = get_u32(data, selection_size);
    if (blocks == 0 || blocks > max_blocks)
        return bad_file(std::to_string(blocks) + " digest blocks; expected 1.." + std::to_string(max_blocks));
    const std::size_t want = header_size + blocks * block_size;
    if (data.size() != want)
        return bad_file(std::to_string(data.size()) + " bytes, but " + std::to_string(blocks) + " digest blocks need " +
                        std::to_string(want) + (data.size() < want ? " (truncated)" : " (trailing bytes)"));

    // Walk the selected PCRs in selection order while consuming digests block by block.
    out.values.reserve(selected);
    std::size_t block = 0, in_block = 0, block_count = 0;
    auto open_block = [&]() -> result<void> {
        block_count = get_u32(data, header_size + block * block_size);
        if (block_count == 0 || block_count > digests_per_block)
            return bad_file("digest block " + std::to_string(block) + " holds " + std::to_string(block_count) +
                            " digests; expected 1..8");
        in_block = 0;
        return {};
    };
    CUSTOS_TRY_VOID(open_block());
    for (std::uint32_t b = 0; b < banks; ++b) {
        const auto& bank = sel.pcrSelections[b];
        const std::size_t dsize = digest_size(*to_hash_alg(bank.hash));
        for (unsigned i = 0; i < bank.sizeofSelect * 8u; ++i) {
            if (!(bank.pcrSelect[i / 8] & (1u << (i % 8)))) continue;
            if (in_block == block_count) {
                if (++block == blocks)
                    return bad_file("the digest blocks hold fewer digests than the " + std::to_string(selected) +
                                    " selected PCRs");
                CUSTOS_TRY_VOID(open_block());
            }
            const std::size_t off = header_size + block * block_size + 4 + in_block * digest_entry_size;
            const std::uint16_t size = get_u16(data, off);
            if (size != dsize)
                return bad_file("digest of PCR " + tpm_alg_name(bank.hash) + ":" + std::to_string(i) + " has " +
                                std::to_string(size) + " bytes; the bank's digests have " + std::to_string(dsize));
            auto first = data.begin() + static_cast<std::ptrdiff_t>(off + 2);
            out.values.push_back({bank.hash, i, bytes(first, first + size)});
            ++in_block;
        }
    }
    if (in_block != block_count || block + 1 != blocks)
        return bad_file("the digest blocks hold more digests than the " + std::to_string(selected) + " selected PCRs");
    return out;
}

result<bytes> serialize_pcrs_file(const TPML_PCR_SELECTION& sel, const pcr_values& values) {
    if (sel.count == 0) return make_error(errc::invalid_argument, "quote.pcrs: the selection has no banks");
    CUSTOS_TRY_VOID(check_pcr_values(sel, values));
    if (values.empty()) return make_error(errc::invalid_argument, "quote.pcrs: the selection selects no PCRs");
    const std::size_t blocks = (values.size() + digests_per_block - 1) / digests_per_block;
    if (blocks > max_blocks)
        return make_error(errc::invalid_argument, "quote.pcrs: " + std::to_string(values.size()) +
                                                      " PCR values; tpm2-tools reads at most " +
                                                      std::to_string(max_blocks * digests_per_block));
    bytes out(header_size + blocks * block_size, 0);
    put_u32(out, 0, sel.count);
    for (UINT32 b = 0; b < sel.count; ++b) {
        const auto& bank = sel.pcrSelections[b];
        const std::size_t off = 4 + b * selection_entry_size;
        put_u16(out, off, bank.hash);
        out[off + 2] = bank.sizeofSelect;
        std::copy_n(bank.pcrSelect, bank.sizeofSelect, out.begin() + static_cast<std::ptrdiff_t>(off + 3));
    }
    put_u32(out, selection_size, static_cast<std::uint32_t>(blocks));
    for (std::size_t v = 0; v < values.size(); ++v) {
        const std::size_t block = v / digests_per_block, k = v % digests_per_block;
        const std::size_t base = header_size + block * block_size;
        const std::size_t in_this = std::min(digests_per_block, values.size() - block * digests_per_block);
        put_u32(out, base, static_cast<std::uint32_t>(in_this));
        const std::size_t off = base + 4 + k * digest_entry_size;
        put_u16(out, off, static_cast<std::uint16_t>(values[v].digest.size()));
        std::copy(values[v].digest.begin(), values[v].digest.end(), out.begin() + static_cast<std::ptrdiff_t>(off + 2));
    }
    return out;
}

}  // namespace custos::attest
