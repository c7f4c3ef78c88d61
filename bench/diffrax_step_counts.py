"""Step counts of diffrax's Dopri5/Tsit5 (default PIDController) on the problems
whose counts nde's solver tests pin (runtime/tests): the bench MLP (P1, batch 1)
and Lorenz (P3). Run with the peers' virtualenv:

    $HOME/peers-venv/bin/python bench/diffrax_step_counts.py ../shared/bench/mlp_weights.npz
"""
import json
import sys

import jax

jax.config.update("jax_enable_x64", True)
import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

w = np.load(sys.argv[1] if len(sys.argv) > 1 else "../shared/bench/mlp_weights.npz")
W1, b1, W2, b2, W3, b3 = (jnp.asarray(w[k]) for k in ("W1", "b1", "W2", "b2", "W3", "b3"))


def mlp(t, y, args):
    return W3 @ jnp.tanh(W2 @ jnp.tanh(W1 @ y + b1) + b2) + b3


def lorenz(t, y, args):
    x, yy, z = y
    return jnp.stack([10.0 * (yy - x), x * (28.0 - z) - yy, x * yy - 8.0 / 3.0 * z])


problems = {
    "P1-mlp-forward": (mlp, jnp.asarray(w["y0"][0]), 10.0, 1e-6, 1e-8, jnp.linspace(0, 10, 11)),
    "P3-lorenz": (lorenz, jnp.ones(3), 100.0, 1e-8, 1e-10, jnp.array([100.0])),
}
for name, (f, y0, t1, rtol, atol, ts) in problems.items():
    for solver in (diffrax.Dopri5(), diffrax.Tsit5()):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(f), solver, 0.0, t1, None, y0,
            saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
            max_steps=1_000_000,
        )
        st = sol.stats
        print(json.dumps({
            "problem": name, "solver": type(solver).__name__,
            "accepted": int(st["num_accepted_steps"]), "rejected": int(st["num_rejected_steps"]),
            "steps": int(st["num_steps"]), "final": [float(v) for v in sol.ys[-1]],
        }))
