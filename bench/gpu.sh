#!/usr/bin/env bash
# GPU ensembles (issue 9): trajectories per second of `nde run --device gpu`
# against the CPU path (`--device cpu`, all cores), and Diffrax /
# torchdiffeq on the same GPU when they import (bench/gpu_peers.py).
#
#   P1: the bench MLP (2 -> 64 -> 64 -> 2 tanh), dopri5, rtol 1e-6, atol 1e-8,
#       saves at 0:10:11, batch sizes $SIZES (default 10^4 10^5 10^6);
#   P5: the bench neural SDE (same drift, additive noise 0.2), Euler–Maruyama
#       dt 0.01 on [0, 1], saves at 0:1:11, the same batch sizes.
#
# Usage: bench/gpu.sh [--precision f32|f64] [--adapter N]
# Env:   SIZES="1000 10000" to change the batch sizes (a software driver such
#        as lavapipe wants small ones); SKIP_CPU=1 to time only the GPU;
#        NDE=path/to/nde (default: builds target/release/nde with --features gpu).
# Output: one JSON line per (problem, device, batch) on stdout:
#   {"problem": "P1", "device": "gpu", "adapter": "...", "precision": "f32",
#    "batch": 10000, "seconds": 1.23, "traj_per_s": 8130.1}
set -euo pipefail
cd "$(dirname "$0")/.."

PRECISION=f32
EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --precision) PRECISION="$2"; shift 2 ;;
    --adapter) EXTRA+=(--adapter "$2"); shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
SIZES=${SIZES:-"10000 100000 1000000"}
if [[ -z "${NDE:-}" ]]; then
  cargo build --release -q -p nde-compiler --features gpu >&2
  NDE=target/release/nde
fi
WEIGHTS=../shared/bench/mlp_weights.npz
PARAMS=()
[[ -f $WEIGHTS ]] && PARAMS=(--params "$WEIGHTS")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

ADAPTER=$("$NDE" devices 2>/dev/null | head -1 | sed 's/^0: //; s/  \[.*//')
echo "adapter: ${ADAPTER:-none}" >&2

y0() { # batch file: initial states uniform in [-1.5, 1.5]^2, seeded
  python3 -c "import numpy as np, sys; np.savez(sys.argv[2], y0=np.random.default_rng(0).uniform(-1.5, 1.5, (int(sys.argv[1]), 2)))" "$1" "$2"
}

# time_run PROBLEM DEVICE BATCH ARGS... : one JSON line.
time_run() {
  local problem=$1 device=$2 batch=$3; shift 3
  local start end
  start=$(date +%s.%N)
  "$NDE" run "$@" --device "$device" -o "$TMP/out.npz" 2>"$TMP/err" || { cat "$TMP/err" >&2; return 1; }
  end=$(date +%s.%N)
  python3 - "$problem" "$device" "$batch" "$start" "$end" "$PRECISION" "$ADAPTER" <<'PY'
import json, sys
p, d, b, s, e, prec, adapter = sys.argv[1:8]
sec = float(e) - float(s)
row = {"problem": p, "device": d, "batch": int(b), "seconds": round(sec, 4), "traj_per_s": round(int(b) / sec, 1)}
if d == "gpu":
    row.update(adapter=adapter, precision=prec)
print(json.dumps(row))
PY
}

for B in $SIZES; do
  y0 "$B" "$TMP/y0.npz"
  P1=(examples/bench_mlp.nde "${PARAMS[@]}" --y0 "$TMP/y0.npz" --solver dopri5 --rtol 1e-6 --atol 1e-8 --at 0:10:11)
  P5=(examples/bench_mlp_sde.nde "${PARAMS[@]}" --y0 "$TMP/y0.npz" --solver euler_maruyama --dt 0.01 --at 0:1:11)
  time_run P1 gpu "$B" "${P1[@]}" --precision "$PRECISION" "${EXTRA[@]}"
  time_run P5 gpu "$B" "${P5[@]}" --precision "$PRECISION" "${EXTRA[@]}"
  if [[ "${SKIP_CPU:-0}" != 1 ]]; then
    time_run P1 cpu "$B" "${P1[@]}"
    time_run P5 cpu "$B" "${P5[@]}"
  fi
  python3 bench/gpu_peers.py --batch "$B" ${WEIGHTS:+--weights "$WEIGHTS"} || true
done
