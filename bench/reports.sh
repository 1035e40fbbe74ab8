#!/usr/bin/env bash
# Report ingestion: custos-loadgen's simulated agents (software Ed25519 keys, keep-alive mutual TLS, one
# report per request unless said) against custos-verifier on this machine, on each store, in one run:
#   sqlite           the embedded default (synchronous=NORMAL: durable against a crash of the process)
#   sqlite-full      [database] sqlite_synchronous_full = true (every acknowledged report survives power loss)
#   postgresql x1    one replica on a private PostgreSQL cluster with its durable defaults (fsync, synchronous_commit)
#   postgresql x2    two replicas on that cluster, the connections split between them
#   *-nolog          SQLite and PostgreSQL x1 again with [log] enabled = false: what the transparency log costs
#                    ingestion (reports have no entries of their own: the results of rounds name chain heads; a
#                    report request logs only the findings and GPU placements it raises)
# beside `openssl speed ed25519` (one core's verify rate: every report's signature is checked once), with
# reports/s, request p50/p99 and each figure's ratio to SQLite's. All of it shares this machine's cores
# with the load generator.
# Usage: bench/reports.sh [BUILD_DIR]   (default build/default; builds nothing). CONNECTIONS=32, THREADS (the
# verifier's HTTPS workers; default its own, 4), PG_DURABLE=0 (PostgreSQL without fsync, to see its CPU cost alone).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${1:-build/default}
connections=${CONNECTIONS:-32}
threads=${THREADS:-}
verifier=$build/tools/custos-verifier/custos-verifier
loadgen=$build/tools/custos-loadgen/custos-loadgen
[[ -x $verifier && -x $loadgen ]] || { echo "reports.sh: build custos-verifier and custos-loadgen first" >&2; exit 2; }
# shellcheck source=scripts/lib/postgres.sh
. scripts/lib/postgres.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/custos-bench.XXXXXX")
pgdir=$(mktemp -d "${TMPDIR:-/tmp}/custos-bench-pg.XXXXXX")
pids=()
stop_verifiers() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    pids=()
}
cleanup() { stop_verifiers; pg_down "$pgdir" 2>/dev/null || true; rm -rf "$work" "$pgdir"; }
trap cleanup EXIT

# serve DIR N: start N replicas of DIR's verifier; their URLs in $urls.
serve() {
    local dir=$1 n=$2 i log port
    urls=()
    for ((i = 1; i <= n; i++)); do
        log="$dir/serve$i.log"
        "$verifier" serve --config "$dir/verifier.toml" --listen 127.0.0.1:0 >"$log" 2>&1 &
        pids+=($!)
        for _ in $(seq 200); do grep -q "listening on port" "$log" && break; sleep 0.1; done
        port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$log" | head -1)
        [[ -n $port ]] || { cat "$log" >&2; exit 1; }
        urls+=(--verifier "https://127.0.0.1:$port")
    done
}

declare -A rate=()
# run NAME DIR REPLICAS BATCH: one loadgen run, one line of results.
run() {
    local name=$1 dir=$2 n=$3 batch=$4 out
    serve "$dir" "$n"
    out=$("$loadgen" --config "$dir/verifier.toml" "${urls[@]}" --hosts 64 --connections "$connections" \
        --reports-per-host $((batch == 1 ? 150 : 480)) --batch "$batch" --prefix "$name-$batch-" --json)
    stop_verifiers
    rate[$name-$batch]=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["reports_per_s"])' "$out")
    python3 - "$out" "$name" "$batch" "${rate[sqlite-$batch]:-0}" <<'PY'
import json, sys
r, name, batch, base = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
ratio = f"{r['reports_per_s'] / base:5.2f}" if base else " 1.00"
print(f"{name:<16} batch {batch:>2}: {r['reports_per_s']:8.0f} reports/s (x{ratio} SQLite)  p50 {r['p50_ms']:6.2f} ms  "
      f"p99 {r['p99_ms']:7.2f} ms  {r['accepted']} accepted, {r['errors']} errors")
PY
}

ed=$(openssl speed -seconds 3 ed25519 2>/dev/null | awk '/Ed25519/ { v = $NF } END { print v }')
printf 'openssl speed ed25519 (one core): %.0f verifies/s; %s cores; %s connections\n' "$ed" "$(nproc)" "$connections"

"$verifier" init --dir "$work/lite" >/dev/null
"$verifier" init --dir "$work/full" >/dev/null
"$verifier" init --dir "$work/pg" >/dev/null
"$verifier" init --dir "$work/lite-nolog" >/dev/null
"$verifier" init --dir "$work/pg-nolog" >/dev/null
if [[ -n $threads ]]; then sed -i "s/^threads = [0-9]*/threads = $threads/" "$work"/{lite,full,pg,lite-nolog,pg-nolog}/verifier.toml; fi
sed -i 's/^enabled = true/enabled = false/' "$work"/{lite-nolog,pg-nolog}/verifier.toml
grep -q '^enabled = false' "$work/lite-nolog/verifier.toml" || { echo "reports.sh: cannot turn the log off" >&2; exit 1; }
sed -i 's/^sqlite_synchronous_full = false/sqlite_synchronous_full = true/' "$work/full/verifier.toml"
grep -q '^sqlite_synchronous_full = true' "$work/full/verifier.toml" || { echo "reports.sh: cannot set sqlite_synchronous_full" >&2; exit 1; }
dsn=$(CUSTOS_PG_DURABLE=${PG_DURABLE:-1} pg_up "$pgdir" "$work/pg/db-password")
pg_store "$work/pg/verifier.toml" "$dsn" db-password
sed -i 's|^pool_size = [0-9]*|pool_size = 16|' "$work/pg/verifier.toml"
# The same database (each run's hosts have their own prefix, as the x1 and x2 runs share it too).
cp "$work/pg/db-password" "$work/pg-nolog/db-password"
pg_store "$work/pg-nolog/verifier.toml" "$dsn" db-password
sed -i 's|^pool_size = [0-9]*|pool_size = 16|' "$work/pg-nolog/verifier.toml"

# Each log-off run right after its log-on run, so that both see the machine in the same state.
for batch in 1 16; do
    run sqlite "$work/lite" 1 "$batch"
    run sqlite-nolog "$work/lite-nolog" 1 "$batch"
    run sqlite-full "$work/full" 1 "$batch"
    run "postgresql-x1" "$work/pg" 1 "$batch"
    run "postgresql-nolog" "$work/pg-nolog" 1 "$batch"
    run "postgresql-x2" "$work/pg" 2 "$batch"
done
for batch in 1 16; do
    python3 -c 'import sys; on, off = map(float, sys.argv[2:]); print(f"transparency log on/off, batch {sys.argv[1]:>2}: SQLite x{on and off and on / off:.2f}", end="")' \
        "$batch" "${rate[sqlite-$batch]}" "${rate[sqlite-nolog-$batch]}"
    python3 -c 'import sys; on, off = map(float, sys.argv[1:]); print(f", PostgreSQL x1 x{on / off:.2f}")' \
        "${rate[postgresql-x1-$batch]}" "${rate[postgresql-nolog-$batch]}"
done
