#!/usr/bin/env bash
# Soak: the replicas kill -9 test (tests/int/kill9_test.cpp, ReplicasKillNine) with many more kills than
# ctest runs: two custos-verifier replicas on one private PostgreSQL cluster behind HAProxy, the real agent
# reporting through it, replicas killed with SIGKILL at random moments (the agent every third time, the
# host rebooted every sixth), then the exact checks: every report stored once and chained, no open finding
# twice, every finding delivered to the webhook once.
# Usage: tests/soak/replicas.sh [KILLS] [BUILD_DIR]   (default 100 kills, build/default; builds nothing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
kills=${1:-100}
build=${2:-build/default}
tests=$build/tests/custos_int_tests
[[ -x $tests ]] || { echo "replicas.sh: build custos_int_tests first" >&2; exit 2; }
start=$(date +%s)
CUSTOS_SOAK_KILLS=$kills "$tests" --gtest_filter='ReplicasKillNine.*'
echo "soak: $kills replica kills in $(( $(date +%s) - start )) s"
