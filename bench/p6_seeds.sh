#!/usr/bin/env bash
# The spiral demo (examples/spiral.nde) over several seeds: nde's side of the
# loss comparison in bench/README.md (torchdiffeq's side: bench/p6_seeds.py).
# For each seed s: the window seed is s, and the run starts either from
# spiral.nde's own initialisers or from the peers' numpy default_rng(s)
# weights. Prints: seed, init, full-trajectory MAE, NFE of that solve.
#
#   bash bench/p6_seeds.sh            # seeds 0..9, 2000 steps each (~30 s)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PEERS_VENV:-$HOME/peers-venv}/bin/python"
cargo build --release -q --bin nde --manifest-path "$repo/Cargo.toml"
nde="$repo/target/release/nde"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for s in ${SEEDS:-0 1 2 3 4 5 6 7 8 9}; do
    sed "s/^  seed      = 0$/  seed      = $s/" "$repo/examples/spiral.nde" > "$tmp/spiral.nde"
    "$PY" - "$tmp/init.npz" "$s" <<'PYEOF'
import sys, numpy as np
rng = np.random.default_rng(int(sys.argv[2]))
w1 = rng.normal(0.0, 0.1, size=(50, 2)).astype(np.float32).astype(np.float64)
w2 = rng.normal(0.0, 0.1, size=(2, 50)).astype(np.float32).astype(np.float64)
np.savez(sys.argv[1], **{"f.W1": w1, "f.b1": np.zeros(50), "f.W2": w2, "f.b2": np.zeros(2)})
PYEOF
    for init in own numpy; do
        extra=()
        [ "$init" = numpy ] && extra=(--params "$tmp/init.npz")
        line="$("$nde" train "$tmp/spiral.nde" -q --threads 1 --out "$tmp/p.npz" "${extra[@]}" | sed -n 2p)"
        echo "seed $s init $init: ${line#*on the whole data: }"
    done
done
