// custos-agent: the host daemon. Everything happens in custos::agent::run_cli.
#include "agent/cli.hpp"

int main(int argc, char** argv) { return custos::agent::run_cli(argc, argv); }
