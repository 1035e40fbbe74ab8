// custos-verifier: the attestation service. Everything happens in custos::verifier::run_cli.
#include "verifier/cli.hpp"

int main(int argc, char** argv) { return custos::verifier::run_cli(argc, argv); }
