// custos-agent's command line: runs the daemon (and one-shot helpers for operators and tests).
#pragma once

namespace custos::agent {

int run_cli(int argc, char** argv);

}  // namespace custos::agent
