// Fuzz target: the transparency log's parsers — signed notes (open_note), checkpoint bodies, verifier
// keys, log entries and tile paths — on arbitrary bytes. A tile path that parses spells back the same. Nothing the fuzzer makes may open with a key it does not
// hold, and whatever parses as a checkpoint formats back to the same bytes.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tlog/entry.hpp"
#include "tlog/note.hpp"
#include "tlog/tiles.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto key = custos::tlog::note_signer::generate("fuzz.example/custos-log");
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    if (custos::tlog::open_note(input, key->second.verifier()).ok()) std::abort();
    if (auto c = custos::tlog::parse_checkpoint(input); c.ok()) {
        // Base64 is strict (one spelling per value) and the size has no leading zeros: one text per checkpoint.
        if (custos::tlog::format_checkpoint(*c) != input) std::abort();
    }
    (void)custos::tlog::parse_verifier_key(input);
    (void)custos::tlog::parse_entry(input);
    if (auto t = custos::tlog::parse_tile_path(input); t.ok() && custos::tlog::tile_path(*t) != input) std::abort();
    // What the key signs opens again with the same text.
    if (size <= 4096) {
        if (auto n = key->second.sign(input); n.ok()) {
            auto t = custos::tlog::open_note(*n, key->second.verifier());
            if (!t.ok() || *t != input) std::abort();
        }
    }
    return 0;
}
