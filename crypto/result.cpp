#include "crypto/result.hpp"

namespace custos {

const char* errc_name(errc c) noexcept {
    switch (c) {
        case errc::invalid_argument: return "invalid-argument";
        case errc::parse: return "parse";
        case errc::structure: return "structure";
        case errc::mismatch: return "mismatch";
        case errc::signature: return "signature";
        case errc::chain: return "chain";
        case errc::io: return "io";
        case errc::tpm: return "tpm";
        case errc::crypto: return "crypto";
        case errc::unsupported: return "unsupported";
    }
    return "unknown";
}

}  // namespace custos
