#!/usr/bin/env python3
"""Stiff work-precision peers for issue 6: scipy Radau/BDF/LSODA and Diffrax Kvaerno5
on ROBER, HIRES and POLLU of the IVP test set (Mazzia & Iavernaro).

The same problems, end times, tolerances (rtol 1e-4 .. 1e-10, atol = rtol * the test
set's ratio) and reference solutions as nde's side (`nde-bench --problem P4`, which
reads the same tests/data/stiff_reference.txt). One JSON line per (peer, method,
problem, rtol) in the shared peers' schema (../shared/bench/peers/README.md) with
scd/mescd digits, nfe, njev, nlu, steps and time.

Timing follows ../shared/bench/peers/common.py (`common.bench`): the first call timed
alone (for jax: trace + compile + one run), one untimed warm-up, then at least 5 timed
calls, continuing up to --target-s seconds or 100 calls; medians.

  $HOME/peers-venv/bin/python bench/stiff_peers.py --threads 1 [--peers scipy,diffrax]
      [--problems rober,hires,pollu] [--rtols 4-10]

scipy gets analytic Jacobians (checked against central differences at start-up).
Diffrax: Kvaerno5 (its root finder VeryChord takes the controller's tolerances),
PIDController with the default (pure I) coefficients and with pcoeff=0.3, icoeff=0.4;
its Jacobian is jax's forward-mode one. Diffrax's nfe is counted with a host callback in
a separate untimed run; one vector-field call per attempted step is its Jacobian (jacfwd
evaluates the primal once), so nfe = calls - steps and njev = nlu = steps (Kvaerno5 is an
ESDIRK: one Jacobian and one factorisation per attempted step), as peer_jax.py's P4.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "..", "shared", "bench", "peers"))

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402

import common  # noqa: E402  (before numpy/jax: thread setup)

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--threads", default="1", choices=["1", "default"])
ap.add_argument("--peers", default="scipy,diffrax")
ap.add_argument("--problems", default="rober,hires,pollu")
ap.add_argument("--rtols", default="4-10", help="exponents k of rtol = 1e-k: 'a-b' or a comma list")
ap.add_argument("--min-reps", type=int, default=5)
ap.add_argument("--target-s", type=float, default=1.0)
ap.add_argument("--max-reps", type=int, default=100)
ap.add_argument("--skip-counts", action="store_true", help="diffrax: skip the nfe-counting runs")
args = ap.parse_args()
common.setup_threads(args.threads)

import numpy as np  # noqa: E402

if "-" in args.rtols:
    _a, _b = (int(x) for x in args.rtols.split("-"))
    RTOL_EXPONENTS = list(range(_a, _b + 1))
else:
    RTOL_EXPONENTS = [int(x) for x in args.rtols.split(",")]

# ----------------------------------------------------------------------------- reference
FILES = {"rober": "robertson.nde", "hires": "hires.nde", "pollu": "pollution.nde"}


def load_references():
    """tests/data/stiff_reference.txt: file | t_end | atol/rtol | y0 | y_end."""
    out = {}
    with open(os.path.join(REPO, "tests", "data", "stiff_reference.txt")) as fh:
        for line in fh:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            f = [x.strip() for x in line.split("|")]
            out[f[0]] = {"t_end": float(f[1]), "ratio": float(f[2]),
                         "y0": np.array([float(x) for x in f[3].split()]),
                         "y_end": np.array([float(x) for x in f[4].split()])}
    return out


def digits(y, ref, ratio):
    """(scd, mescd) as the IVP test set defines them."""
    e = np.abs(np.asarray(y, dtype=float) - ref)
    with np.errstate(divide="ignore"):
        return float(-np.log10(np.max(e / np.abs(ref)))), float(-np.log10(np.max(e / (ratio + np.abs(ref)))))


# ----------------------------------------------------------------------------- problems
def rober_f(t, y):
    y1, y2, y3 = y
    return np.array([-0.04 * y1 + 1e4 * y2 * y3,
                     0.04 * y1 - 1e4 * y2 * y3 - 3e7 * y2 * y2,
                     3e7 * y2 * y2])


def rober_jac(t, y):
    y1, y2, y3 = y
    return np.array([[-0.04, 1e4 * y3, 1e4 * y2],
                     [0.04, -1e4 * y3 - 6e7 * y2, -1e4 * y2],
                     [0.0, 6e7 * y2, 0.0]])


HIRES_A = np.array([
    [-1.71, 0.43, 8.32, 0, 0, 0, 0, 0],
    [1.71, -8.75, 0, 0, 0, 0, 0, 0],
    [0, 0, -10.03, 0.43, 0.035, 0, 0, 0],
    [0, 8.32, 1.71, -1.12, 0, 0, 0, 0],
    [0, 0, 0, 0, -1.745, 0.43, 0.43, 0],
    [0, 0, 0, 0.69, 1.71, -0.43, 0.69, 0],
    [0, 0, 0, 0, 0, 0, -1.81, 0],
    [0, 0, 0, 0, 0, 0, 1.81, 0]], dtype=float)
HIRES_C = np.array([0.0007, 0, 0, 0, 0, 0, 0, 0])
# the bilinear term 280 * y6 * y8 (1-based) enters rows 6, 7, 8 with signs -, +, -
HIRES_S = np.array([0, 0, 0, 0, 0, -1.0, 1.0, -1.0])


def hires_f(t, y):
    return HIRES_A @ y + HIRES_C + HIRES_S * (280.0 * y[5] * y[7])


def hires_jac(t, y):
    j = HIRES_A.copy()
    j[:, 5] += HIRES_S * 280.0 * y[7]
    j[:, 7] += HIRES_S * 280.0 * y[5]
    return j


# POLLU: rate r_j = k_j * y[a_j] (* y[b_j] when b_j >= 0); dy/dt = S @ r, transcribed
# from examples/pollution.nde (0-based species and reactions).
POLLU_K = np.array([0.35, 26.6, 1.23e4, 8.6e-4, 8.2e-4, 1.5e4, 1.3e-4, 2.4e4, 1.65e4, 9.0e3, 2.2e-2,
                    1.2e4, 1.88, 1.63e4, 4.8e6, 3.5e-4, 1.75e-2, 1.0e8, 4.44e11, 1.24e3, 2.1, 5.78,
                    4.74e-2, 1.78e3, 3.12])
POLLU_AB = [(0, -1), (1, 3), (4, 1), (6, -1), (6, -1), (6, 5), (8, -1), (8, 5), (10, 1), (10, 0),
            (12, -1), (9, 1), (13, -1), (0, 5), (2, -1), (3, -1), (3, -1), (15, -1), (15, -1),
            (16, 5), (18, -1), (18, -1), (0, 3), (18, 0), (19, -1)]
POLLU_ROWS = [
    "-r[0] - r[9] - r[13] - r[22] - r[23] + r[1] + r[2] + r[8] + r[10] + r[11] + r[21] + r[24]",
    "-r[1] - r[2] - r[8] - r[11] + r[0] + r[20]",
    "-r[14] + r[0] + r[16] + r[18] + r[21]",
    "-r[1] - r[15] - r[16] - r[22] + r[14]",
    "-r[2] + 2 * r[3] + r[5] + r[6] + r[12] + r[19]",
    "-r[5] - r[7] - r[13] - r[19] + r[2] + 2 * r[17]",
    "-r[3] - r[4] - r[5] + r[12]",
    "r[3] + r[4] + r[5] + r[6]",
    "-r[6] - r[7]",
    "-r[11] + r[6] + r[8]",
    "-r[8] - r[9] + r[7] + r[10]",
    "r[8]",
    "-r[10] + r[9]",
    "-r[12] + r[11]",
    "r[13]",
    "-r[17] - r[18] + r[15]",
    "-r[19]",
    "r[19]",
    "-r[20] - r[21] - r[23] + r[22] + r[24]",
    "-r[24] + r[23]",
]


def stoichiometry(rows, n_reactions):
    s = np.zeros((len(rows), n_reactions))
    for i, row in enumerate(rows):
        for sign, coeff, j in re.findall(r"([+-]?)\s*(?:(\d+)\s*\*\s*)?r\[(\d+)\]", row):
            s[i, int(j)] += (-1.0 if sign == "-" else 1.0) * (float(coeff) if coeff else 1.0)
    return s


POLLU_S = stoichiometry(POLLU_ROWS, len(POLLU_K))
POLLU_A = np.array([a for a, _ in POLLU_AB])
POLLU_B = np.array([b for _, b in POLLU_AB])
POLLU_HAS_B = POLLU_B >= 0
POLLU_BI = np.where(POLLU_HAS_B, POLLU_B, 0)
POLLU_J = np.arange(len(POLLU_K))


def pollu_f(t, y):
    r = POLLU_K * y[POLLU_A] * np.where(POLLU_HAS_B, y[POLLU_BI], 1.0)
    return POLLU_S @ r


def pollu_jac(t, y):
    dr = np.zeros((len(POLLU_K), len(y)))
    np.add.at(dr, (POLLU_J, POLLU_A), POLLU_K * np.where(POLLU_HAS_B, y[POLLU_BI], 1.0))
    jb = POLLU_J[POLLU_HAS_B]
    np.add.at(dr, (jb, POLLU_B[POLLU_HAS_B]), POLLU_K[jb] * y[POLLU_A[jb]])
    return POLLU_S @ dr


NUMPY_PROBLEMS = {"rober": (rober_f, rober_jac), "hires": (hires_f, hires_jac), "pollu": (pollu_f, pollu_jac)}


def check_jacobians(refs):
    """Analytic Jacobians against complex-step derivatives (exact to rounding for these
    polynomial right-hand sides) at two points near y0."""
    rng = np.random.default_rng(0)
    for name, (f, jac) in NUMPY_PROBLEMS.items():
        y0 = refs[FILES[name]]["y0"]
        for y in (y0 + 0.01, (y0 + 0.05) * (1 + 0.1 * rng.random(len(y0)))):
            cs = np.empty((len(y), len(y)))
            for j in range(len(y)):
                e = np.zeros(len(y), dtype=complex)
                e[j] = 1e-30j
                cs[:, j] = f(0.0, y + e).imag / 1e-30
            j_an = jac(0.0, y)
            err = np.max(np.abs(cs - j_an) / (1e-12 + np.abs(j_an)))
            if err > 1e-10:
                raise AssertionError("%s: analytic Jacobian differs from the complex step by %g" % (name, err))


def emit(peer, name, variant, timing=None, **fields):
    rec = {"peer": peer, "problem": "P4-" + name, "variant": variant, "batch": 1, "threads": common.threads()}
    if timing is not None:
        for k in ("wall_s_median", "wall_s_min", "reps", "first_call_s", "cpu_per_wall", "other_load_cores"):
            rec[k] = timing[k]
    rec.update(fields)
    rec["thread_ctl"] = common._STATE["thread_ctl"]
    print(json.dumps(common._clean(rec)), flush=True)


# ----------------------------------------------------------------------------- scipy
def run_scipy(refs):
    import scipy
    from scipy.integrate import solve_ivp
    ver = "scipy %s, numpy %s" % (scipy.__version__, np.__version__)
    for name in args.problems.split(","):
        ref = refs[FILES[name]]
        f, jac = NUMPY_PROBLEMS[name]
        for method in ("Radau", "BDF", "LSODA"):
            for k in RTOL_EXPONENTS:
                rtol = 10.0 ** -k
                atol = rtol * ref["ratio"]
                variant = "%s/analytic-jac rtol=1e-%d" % (method, k)
                # LSODA fails on POLLU from its own first step ("repeated convergence failures"
                # after 21 evaluations); a failed solve is retried once from first_step = 1e-10.
                first_step = None
                try:
                    for first_step in (None, 1e-10):
                        def solve(first_step=first_step):
                            return solve_ivp(f, (0.0, ref["t_end"]), ref["y0"], method=method, rtol=rtol,
                                             atol=atol, jac=jac, first_step=first_step)
                        sol = solve()
                        if sol.status == 0:
                            break
                    if sol.status != 0:
                        raise RuntimeError(sol.message)
                    tm = common.bench(solve, args)
                except Exception as e:  # a failed solve is a result, not the end of the run
                    emit("scipy", name, variant, method=method, rtol=rtol, atol=atol,
                         error="%s: %s" % (type(e).__name__, str(e)[:300]), version=ver)
                    continue
                if first_step is not None:
                    variant += " first_step=%g" % first_step
                y = sol.y[:, -1]
                scd, mescd = digits(y, ref["y_end"], ref["ratio"])
                emit("scipy", name, variant, tm, method=method, rtol=rtol, atol=atol, t_end=ref["t_end"],
                     scd=scd, mescd=mescd, nfe=int(sol.nfev), njev=int(sol.njev), nlu=int(sol.nlu),
                     steps_accepted=len(sol.t) - 1, final=y, version=ver, dtype="float64")
                common.log("scipy %s %s: mescd %.2f, %.3g s" % (name, variant, mescd, tm["wall_s_median"]))


# ----------------------------------------------------------------------------- diffrax
def run_diffrax(refs):
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import diffrax
    import equinox as eqx
    ver = "diffrax %s, equinox %s, jax %s" % (diffrax.__version__, eqx.__version__, jax.__version__)

    s_pollu = jnp.asarray(POLLU_S)
    k_pollu, a_pollu, bi_pollu = jnp.asarray(POLLU_K), jnp.asarray(POLLU_A), jnp.asarray(POLLU_BI)
    has_b = jnp.asarray(POLLU_HAS_B)
    hires_a, hires_c, hires_s = jnp.asarray(HIRES_A), jnp.asarray(HIRES_C), jnp.asarray(HIRES_S)

    def rober(t, y, a):
        y1, y2, y3 = y[0], y[1], y[2]
        return jnp.stack([-0.04 * y1 + 1e4 * y2 * y3, 0.04 * y1 - 1e4 * y2 * y3 - 3e7 * y2 ** 2, 3e7 * y2 ** 2])

    def hires(t, y, a):
        return hires_a @ y + hires_c + hires_s * (280.0 * y[5] * y[7])

    def pollu(t, y, a):
        r = k_pollu * y[a_pollu] * jnp.where(has_b, y[bi_pollu], 1.0)
        return s_pollu @ r

    fields = {"rober": rober, "hires": hires, "pollu": pollu}
    count = [0]

    def incr():
        count[0] += 1

    def counted(vf):
        def g(t, y, a):
            jax.debug.callback(incr)
            return vf(t, y, a)
        return g

    controllers = (("PID(I)", {}), ("PID(p=0.3,i=0.4)", {"pcoeff": 0.3, "icoeff": 0.4}))
    for name in args.problems.split(","):
        ref = refs[FILES[name]]
        y0 = jnp.asarray(ref["y0"])
        for cname, coeffs in controllers:
            def solve(y0, rtol, atol, vf=fields[name], coeffs=coeffs):
                ctrl = diffrax.PIDController(rtol=rtol, atol=atol, **coeffs)
                return diffrax.diffeqsolve(
                    diffrax.ODETerm(vf), diffrax.Kvaerno5(), t0=0.0, t1=ref["t_end"], dt0=None, y0=y0,
                    saveat=diffrax.SaveAt(t1=True), stepsize_controller=ctrl, max_steps=1_000_000,
                    throw=False)
            f = jax.jit(solve)
            fc = jax.jit(lambda y0, rtol, atol, solve=solve, vf=fields[name]: solve(y0, rtol, atol,
                                                                                     vf=counted(vf)))
            for i, k in enumerate(RTOL_EXPONENTS):
                rtol = 10.0 ** -k
                atol = rtol * ref["ratio"]
                variant = "Kvaerno5+%s rtol=1e-%d" % (cname, k)
                r, a = jnp.asarray(rtol), jnp.asarray(atol)
                try:
                    tm = common.bench(lambda: jax.block_until_ready(f(y0, r, a)), args)
                except Exception as e:
                    emit("diffrax", name, variant, method="Kvaerno5", rtol=rtol, atol=atol,
                         error="%s: %s" % (type(e).__name__, str(e)[:300]), version=ver)
                    continue
                sol = tm["last_result"]
                result = int(np.asarray(sol.result._value)) if hasattr(sol.result, "_value") else None
                y = np.asarray(sol.ys[-1])
                steps = int(sol.stats["num_steps"])
                extra = {"steps": steps, "accepted": int(sol.stats["num_accepted_steps"]),
                         "rejected": int(sol.stats["num_rejected_steps"]), "njev": steps, "nlu": steps}
                if not args.skip_counts:
                    count[0] = 0
                    jax.block_until_ready(fc(y0, r, a))
                    jax.effects_barrier()
                    extra.update(vf_calls=count[0], nfe=count[0] - steps)
                ok = sol.result == diffrax.RESULTS.successful
                if not bool(ok):
                    emit("diffrax", name, variant, tm, method="Kvaerno5", rtol=rtol, atol=atol,
                         error="diffrax result: %s" % (sol.result,), version=ver, **extra)
                    continue
                scd, mescd = digits(y, ref["y_end"], ref["ratio"])
                if i > 0:  # the compile happened at the first tolerance (rtol, atol are traced)
                    extra["note"] = "first_call_s: already compiled at the first tolerance"
                emit("diffrax", name, variant, tm, method="Kvaerno5", rtol=rtol, atol=atol, t_end=ref["t_end"],
                     scd=scd, mescd=mescd, final=y, version=ver, dtype="float64", result_code=result,
                     jacobian="jax forward mode (exact)", **extra)
                common.log("diffrax %s %s: mescd %.2f, %.3g s" % (name, variant, mescd, tm["wall_s_median"]))


def main():
    refs = load_references()
    check_jacobians(refs)
    peers = args.peers.split(",")
    if "scipy" in peers:
        run_scipy(refs)
    if "diffrax" in peers:
        run_diffrax(refs)


if __name__ == "__main__":
    main()
