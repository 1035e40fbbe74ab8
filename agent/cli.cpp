#include "agent/cli.hpp"

#include <cstdio>

namespace custos::agent {

int run_cli(int, char**) {
    std::fputs("custos-agent: not built yet\n", stderr);
    return 2;
}

}  // namespace custos::agent
