#!/usr/bin/env bash
# One NVIDIA GPU attestation report check (a real H100 sample) against OpenSSL's own ECDSA P-384 verify rate,
# in the same run on one core. Usage: bench/gpu_report.sh [BUILD_DIR] (default build/default; builds nothing).
# Prints checks/s for a report under an already-verified chain (what the verifier does each round) and with
# the 5-certificate chain verified again, and each one's ratio to `openssl speed ecdsap384` verify/s.
# Exits 1 if the per-round check reaches less than 0.80 of OpenSSL's rate, 2 on usage or tool errors.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${1:-build/default}
bench=$build/bench/gpu_report_bench
threshold=0.80
[[ -x $bench ]] || { echo "gpu_report.sh: $bench not found; build it first (cmake --build $build --target gpu_report_bench)" >&2; exit 2; }
command -v openssl >/dev/null || { echo "gpu_report.sh: openssl not found" >&2; exit 2; }
pin=()
if command -v taskset >/dev/null && taskset -c 0 true 2>/dev/null; then pin=(taskset -c 0); fi
speed_out=$("${pin[@]}" openssl speed -seconds 3 ecdsap384 2>/dev/null)
openssl_vps=$(awk '/ecdsa \(nistp384\)/ { v = $NF } END { if (v != "") print v }' <<<"$speed_out")
[[ -n $openssl_vps ]] || { echo "gpu_report.sh: no nistp384 verify/s in openssl speed's output" >&2; exit 2; }
bench_out=$("${pin[@]}" "$bench" --benchmark_min_time=3 --benchmark_format=csv 2>/dev/null)
items() { awk -F, -v name="\"$1\"" '$1 == name { print $7 }' <<<"$bench_out"; }
check=$(items BM_gpu_report_check)
full=$(items BM_gpu_report_verify_with_chain)
[[ -n $check && -n $full ]] || { echo "gpu_report.sh: could not read $bench's output:" >&2; echo "$bench_out" >&2; exit 2; }
awk -v o="$openssl_vps" -v c="$check" -v f="$full" -v t="$threshold" 'BEGIN {
    printf "openssl speed ecdsap384 verify:             %9.1f /s\n", o
    printf "GPU report check (chain already verified):  %9.1f /s  ratio %.3f\n", c, c / o
    printf "GPU report check with its 5-cert chain:     %9.1f /s  ratio %.3f\n", f, f / o
    if (c / o < t) { printf "FAIL: the per-round check is below %.2f of OpenSSL'\''s rate\n", t; exit 1 }
    printf "ok\n"
}'
