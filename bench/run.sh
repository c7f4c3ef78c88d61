#!/usr/bin/env bash
# nde beside the Python peers on the shared problems, in one run.
#
#   bash ../shared/bench/peers/setup.sh     # once: the peers' virtualenv
#   bash bench/run.sh                       # default: P1 P3, threads 1 and default
#   PROBLEMS="P1" THREADS=1 bash bench/run.sh
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
out="$(mktemp)"
bash "$peers/run_all.sh" | tee "$out"
"${PEERS_VENV:-$HOME/peers-venv}/bin/python" "$peers/summarize.py" "$out"
