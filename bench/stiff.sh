#!/usr/bin/env bash
# Issue 6's stiff benchmark: nde (rodas5, kvaerno5, bdf, radau5, auto) beside scipy (Radau, BDF,
# LSODA with analytic Jacobians) and Diffrax (Kvaerno5, PID controller) on ROBER, HIRES and
# POLLU of the IVP test set, rtol 1e-4 .. 1e-10, one thread each, then the work-precision
# tables (bench/stiff_table.py).
#
#   bash bench/stiff.sh                      # ~5 min on 2 cores
#   OUT=bench/results-DATE-stiff.jsonl bash bench/stiff.sh
#   PEERS=scipy RTOLS=4-8 bash bench/stiff.sh
#
# Needs the peers' virtualenv (bash ../shared/bench/peers/setup.sh). The raw JSON lines go
# to $OUT (default $HOME/peers-results/stiff-<UTC time>.jsonl); the tables to stdout.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
PY="${PEERS_VENV:-$HOME/peers-venv}/bin/python"
PEERS="${PEERS:-scipy,diffrax}"
RTOLS="${RTOLS:-4-10}"
mkdir -p "${PEERS_RESULTS:-$HOME/peers-results}"
OUT="${OUT:-${PEERS_RESULTS:-$HOME/peers-results}/stiff-$(date -u +%Y%m%dT%H%M%SZ).jsonl}"

machine_line() { # $1: when
    "$PY" - "$1" <<'PYEOF'
import json, os, platform, sys, time
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(json.dumps({"peer": "machine", "when": sys.argv[1], "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "cpu": cpu, "cpus": os.cpu_count(), "loadavg_1_5_15": list(os.getloadavg()),
                  "python": platform.python_version()}))
PYEOF
}

cargo build --release -p nde-bench --manifest-path "$repo/Cargo.toml" >&2
: > "$OUT"
machine_line start >> "$OUT"
echo "nde ..." >&2
# one thread on the CPU the peers pin themselves to (common.setup_threads: the first allowed)
cpu0="$("$PY" -c 'import os; print(min(os.sched_getaffinity(0)))')"
pin=()
command -v taskset >/dev/null && pin=(taskset -c "$cpu0")
"${pin[@]}" "$repo/target/release/nde-bench" --problem P4 --threads 1 | tee -a "$OUT" >/dev/null
machine_line "after nde" >> "$OUT"
echo "peers ($PEERS) ..." >&2
"$PY" "$here/stiff_peers.py" --threads 1 --peers "$PEERS" --rtols "$RTOLS" | tee -a "$OUT" >/dev/null
machine_line end >> "$OUT"
echo "raw lines: $OUT" >&2
"$PY" "$here/stiff_table.py" "$OUT" "$@"
