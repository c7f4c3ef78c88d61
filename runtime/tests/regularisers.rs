//! The solver-heuristic regularisers (ALGORITHMS.md §2): their forward
//! values against golden numbers and exact stiffness estimates, their
//! discrete-adjoint gradients against central differences at frozen step
//! sizes, the sampled regulariser's gradient through all three adjoints,
//! and batches with per-trajectory times against single gradients, bit for
//! bit.

mod adjoint_support;

use adjoint_support::{central, rel_err, Linear, LotkaVolterra};
use nde_runtime::solve::solve_fixed;
use nde_runtime::term::{DiffField, FnField, VectorField};
use nde_runtime::{
    gradient, gradient_batch, gradient_fixed, solve, Adjoint, BatchCotangent, BatchTimes, Controller, Cotangent,
    Gradient, Method, Sampling, SamplingStrategy, Solution, SolveError, SolveOptions,
};

const ADJOINTS: [Adjoint; 3] = [Adjoint::Discrete { checkpoints: None }, Adjoint::Backsolve, Adjoint::Interpolated];

/// `y' = −a y + b sin(y)`, params `[a, b]`.
struct Scalar {
    p: [f64; 2],
}

impl VectorField for Scalar {
    fn dim(&self) -> usize {
        1
    }
    fn eval(&self, _t: f64, y: &[f64], dy: &mut [f64], _s: &mut [f64]) {
        dy[0] = -self.p[0] * y[0] + self.p[1] * y[0].sin();
    }
}

impl DiffField for Scalar {
    fn n_params(&self) -> usize {
        2
    }
    fn vjp(&self, _t: f64, y: &[f64], a: &[f64], gy: &mut [f64], gp: &mut [f64], _s: &mut [f64]) {
        gy[0] = a[0] * (-self.p[0] + self.p[1] * y[0].cos());
        gp[0] = -a[0] * y[0];
        gp[1] = a[0] * y[0].sin();
    }
}

/// `u' = −p0 u + p1 u v`, `v' = p2 sin(u) − p3 v²` (non-autonomous through
/// `p4 t` in the first component).
struct Pair {
    p: [f64; 5],
}

impl VectorField for Pair {
    fn dim(&self) -> usize {
        2
    }
    fn eval(&self, t: f64, y: &[f64], dy: &mut [f64], _s: &mut [f64]) {
        let [p0, p1, p2, p3, p4] = self.p;
        dy[0] = -p0 * y[0] + p1 * y[0] * y[1] + p4 * t;
        dy[1] = p2 * y[0].sin() - p3 * y[1] * y[1];
    }
}

impl DiffField for Pair {
    fn n_params(&self) -> usize {
        5
    }
    fn vjp(&self, t: f64, y: &[f64], a: &[f64], gy: &mut [f64], gp: &mut [f64], _s: &mut [f64]) {
        let [p0, p1, p2, p3, _] = self.p;
        gy[0] = a[0] * (-p0 + p1 * y[1]) + a[1] * p2 * y[0].cos();
        gy[1] = a[0] * p1 * y[0] - 2.0 * a[1] * p3 * y[1];
        gp[0] = -a[0] * y[0];
        gp[1] = a[0] * y[0] * y[1];
        gp[2] = a[1] * y[0].sin();
        gp[3] = -a[1] * y[1] * y[1];
        gp[4] = a[0] * t;
    }
}

const SCALAR: [f64; 2] = [0.7, 0.4];
const SCALAR_Y0: [f64; 1] = [1.3];
const PAIR: [f64; 5] = [0.6, 0.5, 1.2, 0.8, 0.3];
const PAIR_Y0: [f64; 2] = [1.1, -0.4];

fn scalar(p: &[f64]) -> Scalar {
    Scalar { p: [p[0], p[1]] }
}

fn pair(p: &[f64]) -> Pair {
    Pair { p: [p[0], p[1], p[2], p[3], p[4]] }
}

fn one_step(method: Method, f: &dyn VectorField, y0: &[f64], h: f64, rtol: f64, atol: f64) -> Solution {
    let o = SolveOptions { method, rtol, atol, dt: Some(h), ..Default::default() };
    solve_fixed(f, 0.0, y0, &[h], &o).unwrap()
}

fn decay(lambda: f64) -> FnField<impl Fn(f64, &[f64], &mut [f64]) + Sync> {
    FnField::new(1, move |_t, y: &[f64], dy: &mut [f64]| dy[0] = lambda * y[0])
}

#[test]
fn golden_local_error_of_one_step() {
    // ALGORITHMS.md §2.4 (c): EEst·h for y' = −y, y0 = 1, rtol 1e-3, atol 1e-6.
    let f = decay(-1.0);
    let goldens =
        [(Method::Tsit5, 1.0, 0.6035263328), (Method::Tsit5, 0.1, 4.418468547e-7), (Method::Dopri5, 1.0, 0.7825507826)];
    let goldens = goldens.into_iter().chain([(Method::Dopri5, 0.1, 5.602730602e-7)]);
    for (m, h, want) in goldens {
        let got = one_step(m, &f, &[1.0], h, 1e-3, 1e-6).stats.local_error;
        assert!(((got - want) / want).abs() < 1e-9, "{m} h = {h}: EEst·h = {got:.10e}, golden {want:.10e}");
    }
}

#[test]
fn stiffness_of_a_linear_problem_is_its_eigenvalue() {
    // §2.4 (b): S = |λ| for y' = λy, one step and summed over an adaptive solve.
    for m in [Method::Tsit5, Method::Dopri5] {
        for lambda in [-1.0, -3.0, 0.5] {
            let f = decay(lambda);
            let s = one_step(m, &f, &[1.0], 0.5, 1e-3, 1e-6).stats;
            assert!((s.stiffness / 0.5 - lambda.abs()).abs() < 1e-12, "{m} λ = {lambda}: S = {}", s.stiffness / 0.5);
            let o = SolveOptions { method: m, rtol: 1e-6, atol: 1e-9, ..Default::default() };
            let sol = solve(&f, 0.0, &[1.0], &[0.3, 2.0], &o).unwrap();
            let (rs, t) = (sol.stats.stiffness, 2.0);
            assert!((rs - lambda.abs() * t).abs() < 1e-11, "{m} λ = {lambda}: R_S = {rs}");
            assert!(sol.stats.local_error > 0.0);
        }
        // diag(−1, −100): between the two.
        let f = FnField::new(2, |_t, y: &[f64], dy: &mut [f64]| {
            dy[0] = -y[0];
            dy[1] = -100.0 * y[1];
        });
        let s = one_step(m, &f, &[1.0, 1.0], 0.01, 1e-3, 1e-6).stats.stiffness / 0.01;
        assert!((1.0..=100.0).contains(&s) && s > 1.5, "{m}: diag(−1, −100) one step S = {s}");
        let o = SolveOptions { method: m, rtol: 1e-6, atol: 1e-9, ..Default::default() };
        let sol = solve(&f, 0.0, &[1.0, 1.0], &[1.0], &o).unwrap();
        let mean = sol.stats.stiffness / 1.0;
        assert!((1.0..=100.0).contains(&mean), "{m}: diag(−1, −100) mean S = {mean}");
    }
}

#[test]
fn methods_without_an_estimate_or_a_stage_pair_report_zero() {
    let f = decay(-2.0);
    let bosh3 = one_step(Method::Bosh3, &f, &[1.0], 0.1, 1e-3, 1e-6).stats;
    assert_eq!(bosh3.stiffness, 0.0);
    assert!(bosh3.local_error > 0.0);
    for m in [Method::Euler, Method::Midpoint, Method::Heun, Method::Rk4] {
        let s = one_step(m, &f, &[1.0], 0.1, 1e-3, 1e-6).stats;
        assert_eq!((s.local_error, s.stiffness), (0.0, 0.0), "{m}");
    }
    // Nothing integrated: nothing measured.
    let o = SolveOptions::default();
    let s = solve(&f, 1.0, &[1.0], &[1.0], &o).unwrap().stats;
    assert_eq!((s.local_error, s.stiffness, s.nfe), (0.0, 0.0, 0));
}

#[test]
fn local_error_grows_with_the_rate() {
    // §2.4 (a): R_E for y' = a y at fixed steps is monotone in |a|.
    for m in [Method::Tsit5, Method::Dopri5, Method::Bosh3] {
        for sign in [-1.0, 1.0] {
            let r: Vec<f64> = [0.25, 0.5, 1.0, 2.0, 4.0]
                .iter()
                .map(|a| {
                    let o = SolveOptions { method: m, rtol: 1e-3, atol: 1e-6, dt: Some(0.1), ..Default::default() };
                    solve_fixed(&decay(sign * a), 0.0, &[1.0], &[1.0], &o).unwrap().stats.local_error
                })
                .collect();
            assert!(r.windows(2).all(|w| w[0] < w[1]), "{m} sign {sign}: {r:?}");
        }
    }
}

/// `L = Σ y(ts)² + we R_E + ws R_S` from a solution.
fn reg_loss(sol: &Solution, we: f64, ws: f64) -> f64 {
    sol.y.iter().map(|v| v * v).sum::<f64>() + we * sol.stats.local_error + ws * sol.stats.stiffness
}

fn reg_cotangent(sol: &Solution, we: f64, ws: f64) -> Cotangent {
    Cotangent { y: sol.y.iter().map(|v| 2.0 * v).collect(), local_error: we, stiffness: ws, ..Default::default() }
}

/// Checks the discrete gradient of [`reg_loss`] against central
/// differences in the parameters and `y0`, with `fixed` choosing
/// `gradient_fixed` (else `gradient`, whose steps `o` must freeze).
#[allow(clippy::too_many_arguments)]
fn check_global<F: DiffField>(
    what: &str,
    make: &dyn Fn(&[f64]) -> F,
    p: &[f64],
    y0: &[f64],
    ts: &[f64],
    o: &SolveOptions,
    fixed: bool,
    (we, ws): (f64, f64),
) -> Gradient {
    let run = |p: &[f64], y0: &[f64]| -> Solution {
        let f = make(p);
        if fixed {
            solve_fixed(&f, 0.0, y0, ts, o).unwrap()
        } else {
            solve(&f, 0.0, y0, ts, o).unwrap()
        }
    };
    let grad = if fixed { gradient_fixed } else { gradient };
    let f = make(p);
    let (sol, g) = grad(&f, 0.0, y0, ts, o, Adjoint::default(), None, &mut |s| reg_cotangent(s, we, ws)).unwrap();
    assert_eq!(sol.stats.rejected, 0, "{what}: steps must be frozen");
    let fd_p = central(&|q: &[f64]| reg_loss(&run(q, y0), we, ws), p, 1e-3);
    let fd_y0 = central(&|y: &[f64]| reg_loss(&run(p, y), we, ws), y0, 1e-3);
    let (ep, ey) = (rel_err(&g.params, &fd_p), rel_err(&g.y0, &fd_y0));
    assert!(ep < 1e-6 && ey < 1e-6, "{what}: params rel {ep:e} ({:?} vs {fd_p:?}), y0 rel {ey:e}", g.params);
    // The regulariser part is not negligible: without it the gradient differs.
    let (_, plain) = grad(&f, 0.0, y0, ts, o, Adjoint::default(), None, &mut |s| reg_cotangent(s, 0.0, 0.0)).unwrap();
    assert!(rel_err(&plain.params, &fd_p) > 1e-3, "{what}: the regularisers barely matter");
    g
}

#[test]
fn global_regulariser_gradients_match_differences_at_fixed_steps() {
    // rtol = 0 keeps the error scale constant, as the gradient assumes.
    let ts = [0.7, 2.0];
    for m in [Method::Tsit5, Method::Dopri5] {
        let o = SolveOptions { method: m, rtol: 0.0, atol: 1e-6, dt: Some(0.25), ..Default::default() };
        for w in [(3.0, 0.0), (0.0, 0.4), (3.0, 0.4)] {
            check_global(&format!("{m} scalar {w:?}"), &scalar, &SCALAR, &SCALAR_Y0, &ts, &o, true, w);
            check_global(&format!("{m} pair {w:?}"), &pair, &PAIR, &PAIR_Y0, &ts, &o, true, w);
        }
    }
}

#[test]
fn global_regulariser_gradients_match_differences_with_frozen_adaptive_steps() {
    // factormax = 1 and every step accepted: the adaptive driver keeps the
    // first step `dt`, so the step sequence does not move under the
    // differences (the extra cotangent and end-slot machinery is the same).
    let ts = [0.9, 2.0];
    for m in [Method::Tsit5, Method::Dopri5] {
        let controller = Controller { factormax: 1.0, ..Controller::default() };
        let o = SolveOptions { method: m, rtol: 0.0, atol: 1e-5, dt: Some(0.2), controller, ..Default::default() };
        for (c, w) in [(None, (3.0, 0.4)), (Some(2), (3.0, 0.4)), (Some(1000), (0.0, 0.4))] {
            let g = check_global(&format!("{m} adaptive pair {w:?}"), &pair, &PAIR, &PAIR_Y0, &ts, &o, false, w);
            assert_eq!(g.forward.accepted, 10);
            // Every checkpoint budget gives the same bits.
            let f = pair(&PAIR);
            let adjoint = Adjoint::Discrete { checkpoints: c };
            let (_, h) =
                gradient(&f, 0.0, &PAIR_Y0, &ts, &o, adjoint, None, &mut |s| reg_cotangent(s, w.0, w.1)).unwrap();
            assert_eq!((&h.params, &h.y0), (&g.params, &g.y0), "{m} checkpoints {c:?}");
        }
    }
}

#[test]
fn the_regulariser_gradient_costs_one_evaluation_more() {
    let ts = [0.9, 2.0];
    let o = SolveOptions { method: Method::Tsit5, rtol: 1e-6, atol: 1e-8, ..Default::default() };
    let f = pair(&PAIR);
    let d = Adjoint::default();
    let (_, plain) = gradient(&f, 0.0, &PAIR_Y0, &ts, &o, d, None, &mut |s| reg_cotangent(s, 0.0, 0.0)).unwrap();
    let (_, reg) = gradient(&f, 0.0, &PAIR_Y0, &ts, &o, d, None, &mut |s| reg_cotangent(s, 1.0, 1.0)).unwrap();
    assert_eq!(reg.recomputed, plain.recomputed + 1);
    assert_eq!(reg.forward, plain.forward);
    assert_eq!((reg.regulariser_nfe, reg.regulariser_vjps), (0, 0));
    assert!(reg.backward.nfe >= plain.backward.nfe);
}

/// `f_p` up to `t_switch`, `f_q` after it: the parameters `q` reach only
/// the stages of the sampled step after its first (the sampled state and
/// first stage are constants of the gradient).
struct Switch<F> {
    before: F,
    after: F,
    t_switch: f64,
}

impl<F: DiffField> VectorField for Switch<F> {
    fn dim(&self) -> usize {
        self.before.dim()
    }
    fn eval(&self, t: f64, y: &[f64], dy: &mut [f64], s: &mut [f64]) {
        if t <= self.t_switch {
            self.before.eval(t, y, dy, s)
        } else {
            self.after.eval(t, y, dy, s)
        }
    }
}

impl<F: DiffField> DiffField for Switch<F> {
    fn n_params(&self) -> usize {
        self.before.n_params()
    }
    fn vjp(&self, t: f64, y: &[f64], a: &[f64], gy: &mut [f64], gp: &mut [f64], s: &mut [f64]) {
        if t <= self.t_switch {
            self.before.vjp(t, y, a, gy, gp, s)
        } else {
            self.after.vjp(t, y, a, gy, gp, s)
        }
    }
}

/// Forward steps of exactly `STEP` = 0.5 to t = 1; both strategies sample
/// `t_reg = 0.5` (unbiased: `u (1 − 0)`, a step end; biased: step ⌊0.9·2⌋
/// = 1's start), and the heuristic's step (> 0.5 at atol 5) is clipped to
/// the 0.5 left, so `dt` is frozen too. (A long step: its error estimate
/// must not cancel to round-off for the differences.)
fn sampled_opts(m: Method) -> SolveOptions {
    let controller = Controller { factormax: 1.0, ..Controller::default() };
    SolveOptions { method: m, rtol: 0.0, atol: 5.0, dt: Some(STEP), controller, ..Default::default() }
}

const STEP: f64 = 0.5;
const T_REG: f64 = 0.5;

fn sampling(strategy: SamplingStrategy) -> Sampling {
    Sampling { strategy, u: if strategy == SamplingStrategy::Unbiased { 0.5 } else { 0.9 } }
}

fn sampled_grad(
    f: &dyn DiffField,
    m: Method,
    adjoint: Adjoint,
    strategy: SamplingStrategy,
    (we, ws): (f64, f64),
) -> (Solution, Gradient) {
    let o = sampled_opts(m);
    let ts = [0.3, T_REG, 1.0];
    let cot = |s: &Solution| Cotangent {
        y: vec![0.0; s.y.len()],
        sampled_local_error: we,
        sampled_stiffness: ws,
        ..Default::default()
    };
    let (sol, g) = gradient(f, 0.0, &PAIR_Y0, &ts, &o, adjoint, Some(sampling(strategy)), &mut |s| cot(s)).unwrap();
    assert_eq!((sol.stats.accepted, sol.stats.rejected), (2, 0));
    (sol, g)
}

#[test]
fn sampled_regulariser_gradients_match_differences_by_every_adjoint() {
    for m in [Method::Tsit5, Method::Dopri5] {
        for strategy in [SamplingStrategy::Unbiased, SamplingStrategy::Biased] {
            for (we, ws) in [(1.0, 0.0), (0.0, 1.0)] {
                let value = |q: &[f64]| -> f64 {
                    let f = Switch { before: pair(&PAIR), after: pair(q), t_switch: T_REG };
                    let (sol, _) = sampled_grad(&f, m, Adjoint::default(), strategy, (0.0, 0.0));
                    we * sol.stats.sampled_local_error + ws * sol.stats.sampled_stiffness
                };
                let fd = central(&value, &PAIR, 1e-4);
                let mut first: Option<Gradient> = None;
                for adjoint in ADJOINTS {
                    let what = format!("{m} {strategy:?} {} ({we}, {ws})", adjoint.name());
                    let (_, g) = sampled_grad(&pair(&PAIR), m, adjoint, strategy, (we, ws));
                    let e = rel_err(&g.params, &fd);
                    assert!(e < 1e-6, "{what}: rel {e:e}: {:?} vs {fd:?}", g.params);
                    // x and k_1 are constants: no gradient reaches y0.
                    assert!(g.y0.iter().all(|v| *v == 0.0), "{what}: {:?}", g.y0);
                    // The same sampled step, bit for bit, whatever the adjoint.
                    match &first {
                        None => first = Some(g),
                        Some(f) => assert_eq!(g.params, f.params, "{what}"),
                    }
                }
            }
        }
    }
}

#[test]
fn the_sampled_step_is_one_step_from_the_sampled_state() {
    let f = pair(&PAIR);
    for m in [Method::Tsit5, Method::Dopri5] {
        let (sol, g) = sampled_grad(&f, m, Adjoint::default(), SamplingStrategy::Unbiased, (1.0, 1.0));
        let x = sol.row(1);
        // The heuristic's step is clipped to the 0.5 left: one fixed step.
        let o = sampled_opts(m);
        let step = solve_fixed(&f, T_REG, x, &[1.0], &o).unwrap().stats;
        let s = sol.stats;
        assert!((s.sampled_local_error - step.local_error).abs() <= 1e-14 * step.local_error, "{m}: {s:?} {step:?}");
        let stiff = step.stiffness / STEP;
        assert!((s.sampled_stiffness - stiff).abs() <= 1e-12 * stiff, "{m}: {s:?} {step:?}");
        // The forward solve is untouched; the extra work is counted apart:
        // f(x), the heuristic, 5 more stages and the end slot, then the step
        // again (6 stages + end slot) for the gradient.
        let plain = solve(&f, 0.0, &PAIR_Y0, &[0.3, T_REG, 1.0], &o).unwrap();
        assert_eq!(sol.y, plain.y);
        assert_eq!((s.nfe, s.accepted, s.local_error), (plain.stats.nfe, 2, plain.stats.local_error));
        assert_eq!(g.regulariser_nfe, 8 + 7, "{m}");
        assert!(g.regulariser_vjps > 0 && g.regulariser_vjps <= 7, "{m}: {}", g.regulariser_vjps);
        // Both strategies sample the same point here.
        for adjoint in ADJOINTS {
            let (b, _) = sampled_grad(&f, m, adjoint, SamplingStrategy::Biased, (1.0, 1.0));
            let bs = b.stats;
            assert_eq!((bs.sampled_local_error, bs.sampled_stiffness), (s.sampled_local_error, s.sampled_stiffness));
        }
    }
}

#[test]
fn biased_samples_agree_across_adjoints_on_adaptive_steps() {
    // Many uneven steps, a few checkpoints: the replayed state is the
    // forward pass's, so every adjoint measures the same bits.
    let f = LotkaVolterra { p: [1.5, 1.0, 1.0, 3.0] };
    let o = SolveOptions { method: Method::Tsit5, rtol: 1e-7, atol: 1e-9, ..Default::default() };
    let ts = [2.0, 7.0];
    for u in [0.0, 0.37, 0.61, 0.999] {
        let s = Sampling { strategy: SamplingStrategy::Biased, u };
        let mut seen = Vec::new();
        for adjoint in ADJOINTS.into_iter().chain([Adjoint::Discrete { checkpoints: Some(3) }]) {
            let cot = |sol: &Solution| Cotangent { y: vec![0.0; sol.y.len()], ..Default::default() };
            let (sol, _) = gradient(&f, 0.0, &[1.0, 1.2], &ts, &o, adjoint, Some(s), &mut |x| cot(x)).unwrap();
            assert!(sol.stats.accepted > 20);
            assert!(sol.stats.sampled_local_error > 0.0 && sol.stats.sampled_stiffness > 0.0);
            seen.push((sol.stats.sampled_local_error, sol.stats.sampled_stiffness));
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "u = {u}: {seen:?}");
    }
}

#[test]
fn batches_with_their_own_times_are_single_gradients_bit_for_bit() {
    let f = pair(&PAIR);
    let batch = 5;
    let y0s: Vec<f64> = (0..batch).flat_map(|b| [1.0 + 0.1 * b as f64, -0.4 + 0.07 * b as f64]).collect();
    let t0: Vec<f64> = (0..batch).map(|b| 0.3 * b as f64).collect();
    let saveat: Vec<f64> = t0.iter().flat_map(|&t| [t + 0.5, t + 1.1, t + 1.7 + 0.1 * t]).collect();
    let u: Vec<f64> = (0..batch).map(|b| (0.13 + 0.29 * b as f64).fract()).collect();
    let o = SolveOptions { method: Method::Tsit5, rtol: 1e-6, atol: 1e-8, ..Default::default() };
    let weights = |b: usize| (0.1 * b as f64, 0.05, 1.0 + b as f64, 0.3);
    for strategy in [SamplingStrategy::Unbiased, SamplingStrategy::Biased] {
        for adjoint in ADJOINTS {
            let discrete = matches!(adjoint, Adjoint::Discrete { .. });
            let global = |b: usize| if discrete { (weights(b).0, weights(b).1) } else { (0.0, 0.0) };
            // One by one, parameter gradients summed in order.
            let mut singles = Vec::new();
            let mut params = vec![0.0; f.n_params()];
            for b in 0..batch {
                let s = Sampling { strategy, u: u[b] };
                let ts = &saveat[3 * b..3 * b + 3];
                let cot = |sol: &Solution| Cotangent {
                    y: sol.y.iter().map(|v| 2.0 * v).collect(),
                    local_error: global(b).0,
                    stiffness: global(b).1,
                    sampled_local_error: weights(b).2,
                    sampled_stiffness: weights(b).3,
                };
                let (sol, g) =
                    gradient(&f, t0[b], &y0s[2 * b..2 * b + 2], ts, &o, adjoint, Some(s), &mut |x| cot(x)).unwrap();
                for (p, v) in params.iter_mut().zip(&g.params) {
                    *p += v;
                }
                singles.push((sol, g));
            }
            for threads in [1, 3, 0] {
                let what = format!("{strategy:?} {} threads {threads}", adjoint.name());
                let times = BatchTimes::PerTrajectory { t0: &t0, saveat: &saveat };
                let (sol, g) = gradient_batch(&f, times, &y0s, &o, adjoint, threads, Some((strategy, &u)), &mut |s| {
                    assert_eq!((s.batch, s.n_save(), s.times(2)), (batch, 3, &saveat[6..9]));
                    BatchCotangent {
                        y: s.y.iter().map(|v| 2.0 * v).collect(),
                        local_error: (0..batch).map(|b| global(b).0).collect(),
                        stiffness: (0..batch).map(|b| global(b).1).collect(),
                        sampled_local_error: (0..batch).map(|b| weights(b).2).collect(),
                        sampled_stiffness: (0..batch).map(|b| weights(b).3).collect(),
                    }
                })
                .unwrap();
                assert_eq!(g.params, params, "{what}");
                assert!(sol.t.is_empty() && sol.t_each == saveat, "{what}");
                for (b, (one, og)) in singles.iter().enumerate() {
                    assert_eq!(sol.trajectory(b), &one.y[..], "{what} #{b}");
                    assert_eq!(sol.stats[b], one.stats, "{what} #{b}");
                    assert_eq!(&g.y0[2 * b..2 * b + 2], &og.y0[..], "{what} #{b}");
                    assert_eq!(g.backward[b], og.backward, "{what} #{b}");
                    assert_eq!(g.recomputed[b], og.recomputed, "{what} #{b}");
                    assert_eq!(g.regulariser_nfe[b], og.regulariser_nfe, "{what} #{b}");
                    assert_eq!(g.regulariser_vjps[b], og.regulariser_vjps, "{what} #{b}");
                }
            }
        }
    }
}

#[test]
fn shared_times_without_regularisers_are_unchanged() {
    // BatchTimes::Shared and per-trajectory copies of the same times agree.
    let f = Linear { theta: -0.8 };
    let y0s = [1.0, 2.0, -0.5];
    let ts = [0.5, 1.0];
    let o = SolveOptions::default();
    let shared = BatchTimes::Shared { t0: 0.0, saveat: &ts };
    let each_ts = [ts, ts, ts].concat();
    let each = BatchTimes::PerTrajectory { t0: &[0.0; 3], saveat: &each_ts };
    let run = |times| {
        gradient_batch(&f, times, &y0s, &o, Adjoint::default(), 2, None, &mut |s| {
            BatchCotangent::states(vec![1.0; s.y.len()])
        })
        .unwrap()
    };
    let ((a, ga), (b, gb)) = (run(shared), run(each));
    assert_eq!((&a.y, &a.stats, &ga), (&b.y, &b.stats, &gb));
    assert_eq!((a.t.as_slice(), a.t_each.len(), a.n_save()), (&ts[..], 0, 2));
    assert_eq!((a.times(1), b.times(1)), (&ts[..], &ts[..]));
}

fn invalid(err: SolveError, words: &[&str]) {
    let text = err.to_string();
    let inner = match &err {
        SolveError::InBatch { error, .. } => error.as_ref(),
        e => e,
    };
    assert!(matches!(inner, SolveError::InvalidOptions { .. } | SolveError::InvalidTimes { .. }), "{err:?}");
    for w in words {
        assert!(text.contains(w), "`{w}` not in: {text}");
    }
}

#[test]
fn regulariser_requests_that_cannot_be_met_are_errors() {
    let f = Linear { theta: -0.5 };
    let o = SolveOptions::default();
    let y = |s: &Solution| vec![1.0; s.y.len()];
    let with = |c: Cotangent| move |s: &Solution| Cotangent { y: y(s), ..c.clone() };
    let global = Cotangent { local_error: 1.0, ..Default::default() };
    for adjoint in [Adjoint::Backsolve, Adjoint::Interpolated] {
        let err = gradient(&f, 0.0, &[1.0], &[1.0], &o, adjoint, None, &mut with(global.clone())).unwrap_err();
        invalid(err, &["discrete adjoint", "sampled", adjoint.name()]);
    }
    let sampled = Cotangent { sampled_stiffness: 1.0, ..Default::default() };
    let err = gradient(&f, 0.0, &[1.0], &[1.0], &o, Adjoint::default(), None, &mut with(sampled)).unwrap_err();
    invalid(err, &["Sampling"]);
    let nan = Cotangent { stiffness: f64::NAN, ..Default::default() };
    let err = gradient(&f, 0.0, &[1.0], &[1.0], &o, Adjoint::default(), None, &mut with(nan)).unwrap_err();
    invalid(err, &["stiffness", "NaN"]);
    let s = Some(Sampling { strategy: SamplingStrategy::Unbiased, u: 0.5 });
    let rk4 = SolveOptions { method: Method::Rk4, dt: Some(0.1), ..o };
    let err =
        gradient(&f, 0.0, &[1.0], &[1.0], &rk4, Adjoint::default(), s, &mut with(Cotangent::default())).unwrap_err();
    invalid(err, &["rk4", "error estimate"]);
    let zero_tol = SolveOptions { rtol: 0.0, atol: 0.0, dt: Some(0.1), ..o };
    let err = gradient_fixed(&f, 0.0, &[1.0], &[1.0], &zero_tol, Adjoint::default(), None, &mut with(global.clone()))
        .unwrap_err();
    invalid(err, &["rtol and atol"]);
    for u in [1.0, -0.1, f64::NAN] {
        let s = Some(Sampling { strategy: SamplingStrategy::Biased, u });
        let err =
            gradient(&f, 0.0, &[1.0], &[1.0], &o, Adjoint::default(), s, &mut with(Cotangent::default())).unwrap_err();
        invalid(err, &["[0, 1)"]);
    }
    // Batches: times, draws and weights of the wrong shape.
    let y0s = [1.0, 2.0];
    let cot = |s: &nde_runtime::BatchSolution| BatchCotangent::states(vec![1.0; s.y.len()]);
    let d = Adjoint::default();
    let times = BatchTimes::PerTrajectory { t0: &[0.0], saveat: &[1.0, 1.0] };
    invalid(gradient_batch(&f, times, &y0s, &o, d, 1, None, &mut |s| cot(s)).unwrap_err(), &["1 start times", "2"]);
    let times = BatchTimes::PerTrajectory { t0: &[0.0, 0.0], saveat: &[1.0, 1.0, 2.0] };
    invalid(gradient_batch(&f, times, &y0s, &o, d, 1, None, &mut |s| cot(s)).unwrap_err(), &["3 save times"]);
    let times = BatchTimes::PerTrajectory { t0: &[0.0, 2.0], saveat: &[1.0, 1.0] };
    let err = gradient_batch(&f, times, &y0s, &o, d, 1, None, &mut |s| cot(s)).unwrap_err();
    assert!(matches!(err, SolveError::InBatch { index: 1, .. }), "{err:?}");
    let times = BatchTimes::Shared { t0: 0.0, saveat: &[1.0] };
    let sampling = Some((SamplingStrategy::Unbiased, &[0.5][..]));
    invalid(gradient_batch(&f, times, &y0s, &o, d, 1, sampling, &mut |s| cot(s)).unwrap_err(), &["draws"]);
    let weights = |s: &nde_runtime::BatchSolution| BatchCotangent { local_error: vec![1.0; 3], ..cot(s) };
    invalid(gradient_batch(&f, times, &y0s, &o, d, 1, None, &mut |s| weights(s)).unwrap_err(), &["local_error"]);
}
