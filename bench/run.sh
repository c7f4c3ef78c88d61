#!/usr/bin/env bash
# nde beside the Python peers on the shared problems, in one run.
#
#   bash ../shared/bench/peers/setup.sh     # once: the peers' virtualenv
#   bash bench/run.sh                       # default: P1 P3, threads 1 and default
#   PROBLEMS="P1" THREADS=1 bash bench/run.sh
#   PROBLEMS="P6" THREADS=1 P6_ITERS=2000 PEERS="torch jax" bash bench/run.sh   # the spiral demo
#
# Prints JSON lines (peers' schema, nde's lines have "peer": "nde") and the
# summary tables; the raw lines are kept under $PEERS_RESULTS (default
# $HOME/peers-results).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
peers="$repo/../shared/bench/peers"
cargo build --release -p nde-bench --manifest-path "$repo/Cargo.toml" >&2
export PROBLEMS="${PROBLEMS:-P1 P3}"
export THREADS="${THREADS:-1 default}"
export EXTRA_BENCH="$repo/target/release/nde-bench"
# P6 starts from the peers' numpy-drawn weights (normal(0, 0.1), zero biases,
# cast to float32 as they use them), so all three train from the same numbers.
PY="${PEERS_VENV:-$HOME/peers-venv}/bin/python"
export NDE_P6_INIT="$(mktemp --suffix=.npz)"
"$PY" - "$NDE_P6_INIT" <<'PYEOF'
import sys, numpy as np
rng = np.random.default_rng(0)
w1 = rng.normal(0.0, 0.1, size=(50, 2)).astype(np.float32).astype(np.float64)
w2 = rng.normal(0.0, 0.1, size=(2, 50)).astype(np.float32).astype(np.float64)
np.savez(sys.argv[1], **{"f.W1": w1, "f.b1": np.zeros(50), "f.W2": w2, "f.b2": np.zeros(2)})
PYEOF
out="$(mktemp)"
bash "$peers/run_all.sh" | tee "$out"
"$PY" "$peers/summarize.py" "$out"
