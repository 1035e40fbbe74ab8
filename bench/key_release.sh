#!/usr/bin/env bash
# Attested key release of a 1 GiB model: key request → first served byte, and serving throughput against
# `cat` of the plain file, in one run on this machine. Usage: bench/key_release.sh [BUILD_DIR] [SIZE_MIB]
set -euo pipefail
build=${1:-build/default}
size=${2:-1024}
exec "$build/bench/key_release" "$size"
