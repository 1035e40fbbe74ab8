#!/usr/bin/env bash
# `custos audit verify` on one host's evidence bundle the size of a day (60 s rounds, 5 s reports: 1440
# rounds, 17,280 reports; bench/audit_bundle makes it through the real verifier on swtpm), pinned to one
# core, against the time its signature checks alone take at `openssl speed` rates on that core, in the
# same run: one ECDSA P-256 verify per quote (the AK, and the quote binding the report key) and per signed
# result (ES256), one Ed25519 verify per report. Target: at most 1.5 x.
# Usage: bench/audit_verify.sh [BUILD_DIR]   (default build/default; builds nothing). ROUNDS=1440, PER_ROUND=12.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${1:-build/default}
rounds=${ROUNDS:-1440}
per_round=${PER_ROUND:-12}
custos=$build/tools/custos/custos
maker=$build/bench/audit_bundle
[[ -x $custos && -x $maker ]] || { echo "audit_verify.sh: build custos and audit_bundle first" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/custos-audit-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$maker" "$work" "$rounds" "$per_round" 2>"$work/maker.log" >/dev/null || { cat "$work/maker.log" >&2; exit 1; }
size=$(stat -c %s "$work/bundle.json")
verify=(taskset -c 0 "$custos" audit verify "$work/bundle.json" --ek-ca "$work/ek-ca.pem" --log-key "$work/log.pub" --json)
"${verify[@]}" >"$work/verdict.json" || { cat "$work/verdict.json" >&2; exit 1; }
best=
for _ in 1 2 3; do
    t=$( { /usr/bin/time -f %e "${verify[@]}" >/dev/null; } 2>&1 | tail -1)
    best=$(python3 -c 'import sys; a, b = sys.argv[1], sys.argv[2]; print(min(float(a), float(b)) if b else a)' "$t" "$best")
done
ecdsa=$(taskset -c 0 openssl speed -seconds 3 ecdsap256 2>/dev/null | awk '/256 bits ecdsa \(nistp256\)/ { v = $NF } END { print v }')
ed=$(taskset -c 0 openssl speed -seconds 3 ed25519 2>/dev/null | awk '/Ed25519/ { v = $NF } END { print v }')
python3 - "$work/verdict.json" "$best" "$ecdsa" "$ed" "$size" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
took, ecdsa, ed, size = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
p256 = v["rounds"] + v["results"] + 1          # quotes, results, the report key's binding quote
sigs = p256 / ecdsa + v["reports"] / ed
print(f"bundle: {v['rounds']} rounds, {v['results']} results, {v['reports']} reports, {v['entries']} log entries, "
      f"{size / 1e6:.1f} MB")
print(f"openssl speed, one core: {ecdsa:.0f} ECDSA P-256 verifies/s, {ed:.0f} Ed25519 verifies/s")
print(f"signature checks alone at those rates: {sigs:.2f} s")
print(f"custos audit verify, one core (best of 3): {took:.2f} s = x{took / sigs:.2f} the signatures alone (target <= 1.5)")
PY
