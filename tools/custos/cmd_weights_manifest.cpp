// custos weights manifest | verify: record a model's chunk digests and Merkle roots, and check a tree
// against such a record (docs/weights-format.md).
#include <iostream>
#include <memory>

#include "crypto/file_io.hpp"
#include "tools/custos/cli.hpp"
#include "tools/custos/cli_support.hpp"
#include "weights/manifest.hpp"

namespace custos::cli {

namespace {

namespace fs = std::filesystem;

// Manifests list 32 bytes per chunk; this allows ~3 million chunks (12 TiB at the default chunk size).
constexpr std::size_t max_manifest_bytes = 256u << 20;

// Everything that is not a mismatch is an input that could not be used: exit 2.
int fail_input(const std::string& context, const error& e) {
    std::cerr << "custos: " << context << ": " << e.message << "\n";
    return e.code == errc::mismatch ? exit_failed : exit_usage;
}

// True when `inner` is `outer` or lies beneath it (both made absolute and normalised lexically).
bool is_within(const fs::path& inner, const fs::path& outer) {
    std::error_code ec;
    auto in = fs::weakly_canonical(fs::absolute(inner, ec), ec);
    auto out = fs::weakly_canonical(fs::absolute(outer, ec), ec);
    auto [oi, ii] = std::mismatch(out.begin(), out.end(), in.begin(), in.end());
    return oi == out.end();
}

struct manifest_opts {
    std::string path;
    std::string model_id;
    std::string out;
    std::uint64_t chunk_size = weights::default_chunk_size;
    unsigned threads = 0;
};

int weights_manifest(const manifest_opts& o) {
    if (auto c = weights::check_model_id(o.model_id); !c.ok()) return fail_input("--model-id", c.err());
    if (auto c = weights::check_chunk_size(o.chunk_size); !c.ok()) return fail_input("--chunk-size", c.err());
    std::error_code ec;
    if (fs::is_directory(fs::symlink_status(o.path, ec)) && is_within(o.out, o.path))
        return fail_usage("--out " + o.out + " lies inside " + o.path +
                          "; the manifest would be an extra file when the model is verified");
    auto m = weights::build_manifest(o.path, o.model_id, o.chunk_size, o.threads);
    if (!m.ok()) return fail_input("manifest of " + o.path, m.err());
    if (auto w = write_file_atomic(o.out, weights::manifest_to_json(*m)); !w.ok())
        return fail_input("writing the manifest", w.err());
    std::cout << to_hex(m->model_root) << "\n";
    return exit_ok;
}

struct verify_opts {
    std::string path;
    std::string manifest;
    unsigned threads = 0;
};

int weights_verify(const verify_opts& o) {
    auto text = read_input("--manifest", o.manifest, max_manifest_bytes);
    if (!text.ok()) return fail_input("reading the manifest", text.err());
    auto m = weights::parse_manifest(std::string_view(reinterpret_cast<const char*>(text->data()), text->size()));
    if (!m.ok()) {
        std::cerr << "custos: --manifest " << o.manifest << ": " << m.err().message << "\n";
        return exit_usage;
    }
    auto v = weights::verify_tree(o.path, *m, o.threads);
    if (!v.ok()) {
        if (v.err().code == errc::mismatch) {
            std::cerr << "custos: " << o.path << " does not match " << o.manifest << ": " << v.err().message << "\n";
            return exit_failed;
        }
        return fail_input("verifying " + o.path, v.err());
    }
    std::uint64_t bytes_total = 0;
    for (const auto& f : m->files) bytes_total += f.size;
    std::cout << o.path << " matches the manifest: model " << m->model_id << ", " << m->files.size()
              << " file(s), " << bytes_total << " bytes, model root " << to_hex(m->model_root) << "\n";
    return exit_ok;
}

}  // namespace

void register_weights_manifest_commands(CLI::App& weights, command_list& cmds) {
    auto mo = std::make_shared<manifest_opts>();
    auto* man = weights.add_subcommand("manifest", "Hash a model (file or directory) into a Merkle manifest");
    man->add_option("PATH", mo->path, "Model file or directory")->required();
    man->add_option("--model-id", mo->model_id, "Model identifier, [A-Za-z0-9._:/@+-], 1-128 characters")
        ->required();
    man->add_option("--out", mo->out, "Where to write the manifest (JSON)")->required();
    man->add_option("--chunk-size", mo->chunk_size, "Chunk size in bytes: a power of two, 65536-67108864")
        ->capture_default_str();
    man->add_option("--threads", mo->threads, "Hashing threads (default: all cores)")->check(CLI::Range(1u, 1024u));
    cmds.push_back({man, [mo] { return weights_manifest(*mo); }});

    auto vo = std::make_shared<verify_opts>();
    auto* ver = weights.add_subcommand("verify", "Check a model against its manifest");
    ver->add_option("PATH", vo->path, "Model file or directory")->required();
    ver->add_option("--manifest", vo->manifest, "Manifest written by `custos weights manifest`")->required();
    ver->add_option("--threads", vo->threads, "Hashing threads (default: all cores)")->check(CLI::Range(1u, 1024u));
    cmds.push_back({ver, [vo] { return weights_verify(*vo); }});
}

}  // namespace custos::cli
