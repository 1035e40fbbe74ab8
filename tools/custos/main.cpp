#include <exception>
#include <iostream>

#include "tools/custos/cli.hpp"

int main(int argc, char** argv) {
    try {
        return custos::cli::run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "custos: " << e.what() << "\n";
        return custos::cli::exit_failed;
    }
}
