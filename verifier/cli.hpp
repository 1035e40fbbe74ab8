// custos-verifier's command line: init, serve, enroll-token.
#pragma once

namespace custos::verifier {

int run_cli(int argc, char** argv);

}  // namespace custos::verifier
