#!/usr/bin/env bash
# Report ingestion: custos-loadgen's simulated agents (software Ed25519 keys, keep-alive mutual TLS) against
# a fresh custos-verifier on this machine, beside `openssl speed ed25519` (the verify rate bounds appraisal).
# Usage: bench/reports.sh [BUILD_DIR]   (default build/default; builds nothing). Prints reports/s and p99
# for one report per request and for 16 per request (what an agent flushing its spool sends).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${1:-build/default}
verifier=$build/tools/custos-verifier/custos-verifier
loadgen=$build/tools/custos-loadgen/custos-loadgen
[[ -x $verifier && -x $loadgen ]] || { echo "reports.sh: build custos-verifier and custos-loadgen first" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/custos-bench.XXXXXX")
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
"$verifier" init --dir "$work/v" >/dev/null
"$verifier" serve --config "$work/v/verifier.toml" --listen 127.0.0.1:0 >"$work/v.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "listening on port" "$work/v.log" && break; sleep 0.1; done
port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$work/v.log" | head -1)
url="https://127.0.0.1:$port"

ed=$(openssl speed -seconds 3 ed25519 2>/dev/null | awk '/Ed25519/ { v = $NF } END { print v }')
printf 'openssl speed ed25519 (one core): %.0f verifies/s\n' "$ed"
for batch in 1 16; do
    out=$("$loadgen" --config "$work/v/verifier.toml" --verifier "$url" --hosts 64 --connections 8 \
        --reports-per-host $((batch == 1 ? 100 : 320)) --batch "$batch" --prefix "b$batch-" --json)
    python3 - "$out" "$ed" "$batch" <<'PY'
import json, sys
r, ed, batch = json.loads(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
print(f"batch {batch:>2}: {r['reports_per_s']:8.0f} reports/s appraised and stored "
      f"(ratio to openssl ed25519 verify {r['reports_per_s'] / ed:.2f}); request p50 {r['p50_ms']:.2f} ms, "
      f"p99 {r['p99_ms']:.2f} ms; {r['accepted']} accepted, {r['errors']} errors")
PY
done
