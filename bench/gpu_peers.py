"""Diffrax and torchdiffeq on the GPU for bench/gpu.sh: P1 (bench MLP,
dopri5, rtol 1e-6, atol 1e-8, saves 0:10:11) for a batch of initial states,
as one vmapped / batched solve. Prints one JSON line per peer that imports
and sees a GPU; prints a note to stderr and nothing else otherwise."""
import argparse
import json
import sys
import time

import numpy as np


def weights(path):
    if path:
        try:
            w = np.load(path)
            return [w[k] for k in ("f.W1", "f.b1", "f.W2", "f.b2", "f.W3", "f.b3")]
        except Exception:  # noqa: BLE001 - fall back to seeded weights
            pass
    rng = np.random.default_rng(0)
    shapes = [(64, 2), (64,), (64, 64), (64,), (2, 64), (2,)]
    return [rng.normal(0, 0.3, s) for s in shapes]


def diffrax_run(y0, w):
    import jax
    import jax.numpy as jnp
    import diffrax

    if jax.default_backend() != "gpu":
        raise RuntimeError("jax sees no GPU")
    jax.config.update("jax_enable_x64", False)
    W1, b1, W2, b2, W3, b3 = (jnp.asarray(a, jnp.float32) for a in w)

    def f(t, y, args):
        h = jnp.tanh(W1 @ y + b1)
        h = jnp.tanh(W2 @ h + b2)
        return W3 @ h + b3

    ts = jnp.linspace(0.0, 10.0, 11)

    @jax.jit
    def solve(y0s):
        def one(y):
            return diffrax.diffeqsolve(
                diffrax.ODETerm(f), diffrax.Dopri5(), 0.0, 10.0, None, y,
                saveat=diffrax.SaveAt(ts=ts),
                stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-8),
                max_steps=100000,
            ).ys
        return jax.vmap(one)(y0s)

    y = jnp.asarray(y0, jnp.float32)
    solve(y).block_until_ready()
    start = time.perf_counter()
    solve(y).block_until_ready()
    return time.perf_counter() - start


def torchdiffeq_run(y0, w):
    import torch
    from torchdiffeq import odeint

    if not torch.cuda.is_available():
        raise RuntimeError("torch sees no GPU")
    dev = torch.device("cuda")
    W1, b1, W2, b2, W3, b3 = (torch.tensor(a, dtype=torch.float32, device=dev) for a in w)

    def f(t, y):
        h = torch.tanh(y @ W1.T + b1)
        h = torch.tanh(h @ W2.T + b2)
        return h @ W3.T + b3

    y = torch.tensor(y0, dtype=torch.float32, device=dev)
    ts = torch.linspace(0.0, 10.0, 11, device=dev)
    odeint(f, y, ts, rtol=1e-6, atol=1e-8, method="dopri5")
    torch.cuda.synchronize()
    start = time.perf_counter()
    odeint(f, y, ts, rtol=1e-6, atol=1e-8, method="dopri5")
    torch.cuda.synchronize()
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--weights")
    args = ap.parse_args()
    y0 = np.random.default_rng(0).uniform(-1.5, 1.5, (args.batch, 2))
    w = weights(args.weights)
    for name, run in (("diffrax", diffrax_run), ("torchdiffeq", torchdiffeq_run)):
        try:
            sec = run(y0, w)
        except Exception as e:  # noqa: BLE001 - a missing peer is a note, not a failure
            print(f"{name}: skipped ({type(e).__name__}: {e})", file=sys.stderr)
            continue
        print(json.dumps({"problem": "P1", "device": name, "batch": args.batch,
                          "seconds": round(sec, 4), "traj_per_s": round(args.batch / sec, 1)}))


if __name__ == "__main__":
    main()
