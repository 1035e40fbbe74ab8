// custos weights keygen | seal | unseal | inspect: recipient keys and sealed (encrypted) models.
#include <iostream>
#include <memory>

#include "crypto/file_io.hpp"
#include "tools/custos/cli.hpp"
#include "tools/custos/cli_support.hpp"
#include "weights/recipient_key.hpp"
#include "weights/sealed.hpp"

namespace custos::cli {

namespace {

namespace w = custos::weights;

int weights_keygen(const std::string& out_dir) {
    if (auto r = w::write_recipient_keypair(out_dir); !r.ok()) return fail("keygen", r.err());
    std::cout << "recipient key pair written: " << (std::filesystem::path(out_dir) / "recipient.pub").string()
              << " (public), " << (std::filesystem::path(out_dir) / "recipient.key").string()
              << " (private, mode 0600)\n";
    return exit_ok;
}

struct seal_opts {
    std::string path;
    std::string model_id;
    std::string recipient;
    std::string out;
    std::string manifest_out;
    std::uint64_t chunk_size = w::default_chunk_size;
    unsigned threads = 0;
};

int weights_seal(const seal_opts& o) {
    const std::filesystem::path out(o.out);
    if (!o.manifest_out.empty()) {
        // The plaintext manifest never goes inside the sealed directory.
        auto m = std::filesystem::absolute(o.manifest_out).lexically_normal();
        auto d = std::filesystem::absolute(out).lexically_normal();
        auto rel = m.lexically_relative(d);
        if (!rel.empty() && *rel.begin() != "..")
            return fail_usage("--manifest-out must not be inside the sealed directory " + o.out);
    }
    auto pub = w::load_recipient_public(o.recipient);
    if (!pub.ok()) return fail("--recipient", pub.err());
    auto m = w::seal_model(o.path, o.model_id, *pub, out, {o.chunk_size, o.threads});
    if (!m.ok()) return fail("seal", m.err());
    if (!o.manifest_out.empty())
        if (auto wr = write_file_atomic(o.manifest_out, w::manifest_to_json(*m)); !wr.ok())
            return fail("--manifest-out", wr.err());
    std::cout << to_hex(m->model_root) << "\n";
    return exit_ok;
}

struct unseal_opts {
    std::string dir;
    std::string key;
    std::string out;
    unsigned threads = 0;
};

int weights_unseal(const unseal_opts& o) {
    auto key = w::load_recipient_private(o.key);
    if (!key.ok()) return fail("--recipient-key", key.err());
    if (auto r = w::unseal_model(o.dir, *key, o.out, o.threads); !r.ok()) return fail("unseal " + o.dir, r.err());
    return exit_ok;
}

int weights_inspect(const std::string& dir, bool as_json) {
    auto idx = w::inspect_sealed(dir);
    if (!idx.ok()) return fail("inspect " + dir, idx.err());
    std::uint64_t chunks = 0, bytes_total = 0;
    for (const auto& f : idx->files) {
        chunks += f.chunks;
        bytes_total += f.size;
    }
    if (as_json) {
        boost::json::object j;
        j["format"] = w::sealed_format;
        j["version"] = idx->version;
        j["model_id"] = idx->model_id;
        j["model_root"] = to_hex(idx->model_root);
        j["chunk_size"] = idx->chunk_size;
        j["chunk_count"] = chunks;
        j["total_size"] = bytes_total;
        j["source"] = idx->single_file ? "file" : "directory";
        boost::json::array files;
        for (const auto& f : idx->files)
            files.push_back(boost::json::object{{"path", f.path}, {"size", f.size}, {"chunks", f.chunks}});
        j["files"] = std::move(files);
        print_json(j);
        return exit_ok;
    }
    std::cout << "sealed model (" << w::sealed_format << " version " << idx->version << ", " << w::sealed_cipher << ")\n"
              << "  model id     " << idx->model_id << "\n"
              << "  model root   " << to_hex(idx->model_root) << "\n"
              << "  chunk size   " << idx->chunk_size << "\n"
              << "  chunk count  " << chunks << "\n"
              << "  files        " << idx->files.size() << " (" << bytes_total << " bytes)\n";
    for (const auto& f : idx->files) std::cout << "    " << f.size << "\t" << f.chunks << "\t" << f.path << "\n";
    return exit_ok;
}

}  // namespace

void register_weights_seal_commands(CLI::App& weights, command_list& cmds) {
    auto keygen_dir = std::make_shared<std::string>();
    auto* keygen = weights.add_subcommand("keygen", "Create an X25519 recipient key pair (recipient.pub, recipient.key)");
    keygen->add_option("--out-dir", *keygen_dir, "Directory for recipient.pub and recipient.key")->required();
    cmds.push_back({keygen, [keygen_dir] { return weights_keygen(*keygen_dir); }});

    auto so = std::make_shared<seal_opts>();
    auto* seal = weights.add_subcommand("seal", "Encrypt a model to a recipient's key; prints the model root");
    seal->add_option("PATH", so->path, "Model file or directory")->required();
    seal->add_option("--model-id", so->model_id, "Model id (1-128 of A-Z a-z 0-9 . _ : / @ + -)")->required();
    seal->add_option("--recipient", so->recipient, "Recipient X25519 public key (PEM)")->required();
    seal->add_option("--out", so->out, "Sealed directory to create (must not exist)")->required();
    seal->add_option("--manifest-out", so->manifest_out, "Write the plaintext manifest here (never inside --out)");
    seal->add_option("--chunk-size", so->chunk_size, "Chunk size in bytes, a power of two, 64 KiB-64 MiB")->capture_default_str();
    seal->add_option("--threads", so->threads, "Worker threads (default: all cores)");
    cmds.push_back({seal, [so] { return weights_seal(*so); }});

    auto uo = std::make_shared<unseal_opts>();
    auto* unseal = weights.add_subcommand("unseal", "Authenticate and decrypt a sealed model");
    unseal->add_option("DIR", uo->dir, "Sealed directory")->required();
    unseal->add_option("--recipient-key", uo->key, "Recipient X25519 private key (PEM, PKCS#8)")->required();
    unseal->add_option("--out", uo->out, "Output file or directory to create (must not exist)")->required();
    unseal->add_option("--threads", uo->threads, "Worker threads (default: all cores)");
    cmds.push_back({unseal, [uo] { return weights_unseal(*uo); }});

    auto inspect_dir = std::make_shared<std::string>();
    auto inspect_json = std::make_shared<bool>(false);
    auto* inspect = weights.add_subcommand("inspect", "Describe a sealed model (no key needed)");
    inspect->add_option("DIR", *inspect_dir, "Sealed directory")->required();
    inspect->add_flag("--json", *inspect_json, "Print as JSON");
    cmds.push_back({inspect, [inspect_dir, inspect_json] { return weights_inspect(*inspect_dir, *inspect_json); }});
}

}  // namespace custos::cli
