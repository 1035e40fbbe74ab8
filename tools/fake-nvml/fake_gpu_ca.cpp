// fake-gpu-ca: the test GPU identity PKI on disk, for the demo and tests that run the real agent against
// the fake NVML. `fake-gpu-ca --out DIR SERIAL...` writes DIR/root.pem (what the verifier's [gpu]
// attestation_root names) and, per serial, DIR/SERIAL.key (the attestation key, PEM), DIR/SERIAL.chain.pem
// (leaf, DeviceID, root) and DIR/SERIAL.fwid (hex). Test-only: never installed.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "crypto/digest.hpp"
#include "tools/fake-nvml/gpu_test_ca.hpp"

int main(int argc, char** argv) {
    if (argc < 4 || std::strcmp(argv[1], "--out") != 0) {
        std::fprintf(stderr, "usage: fake-gpu-ca --out DIR SERIAL...\n");
        return 2;
    }
    const std::filesystem::path out = argv[2];
    std::filesystem::create_directories(out);
    auto root = custos::gpu_test_ca::make_root();
    if (!root) {
        std::fprintf(stderr, "fake-gpu-ca: %s\n", root.err().message.c_str());
        return 1;
    }
    std::ofstream(out / "root.pem") << custos::gpu_test_ca::cert_pem(root->cert.get());
    for (int i = 3; i < argc; ++i) {
        const std::string serial = argv[i];
        const std::string tag = "fwid " + serial;
        const custos::bytes fwid = custos::digest(custos::hash_alg::sha384, custos::byte_view(reinterpret_cast<const std::uint8_t*>(tag.data()), tag.size()));
        auto g = custos::gpu_test_ca::make_gpu(*root, serial, fwid);
        if (!g) {
            std::fprintf(stderr, "fake-gpu-ca: %s\n", g.err().message.c_str());
            return 1;
        }
        std::ofstream(out / (serial + ".key")) << custos::gpu_test_ca::key_pem(g->leaf_key.get());
        std::ofstream(out / (serial + ".chain.pem")) << *custos::gpu_test_ca::chain_pem(*g, *root);
        std::ofstream(out / (serial + ".fwid")) << custos::to_hex(fwid) << "\n";
    }
    return 0;
}
