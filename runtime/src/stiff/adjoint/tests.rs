//! Stiff adjoints against central finite differences of the whole stiff
//! solve, on Robertson (its three rates), a stiff non-autonomous linear
//! system and Van der Pol at μ = 1000; batches against single gradients.

use super::*;
use crate::adjoint::{Adjoint, BatchCotangent, BatchTimes, Cotangent};
use crate::stiff::solve_stiff;
use crate::term::VectorField;

/// A parameterised system: `f`, `∂f/∂y` (row-major), `∂f/∂p` (row-major
/// `n × np`) and `∂f/∂t`.
struct Sys {
    n: usize,
    np: usize,
    f: fn(&[f64], f64, &[f64], &mut [f64]),
    jac: fn(&[f64], f64, &[f64], &mut [f64]),
    dfdp: fn(&[f64], f64, &[f64], &mut [f64]),
    dfdt: fn(&[f64], f64, &[f64], &mut [f64]),
}

/// `Sys` with its parameters bound.
struct Bound<'a> {
    sys: &'a Sys,
    p: &'a [f64],
}

impl VectorField for Bound<'_> {
    fn dim(&self) -> usize {
        self.sys.n
    }
    fn eval(&self, t: f64, y: &[f64], dy: &mut [f64], _scratch: &mut [f64]) {
        (self.sys.f)(self.p, t, y, dy)
    }
}

impl JacField for Bound<'_> {
    fn jac_scratch_len(&self) -> usize {
        0
    }
    fn jacobian(&self, t: f64, y: &[f64], jac: &mut [f64], _scratch: &mut [f64]) {
        (self.sys.jac)(self.p, t, y, jac)
    }
    fn time_derivative(&self, t: f64, y: &[f64], out: &mut [f64], _scratch: &mut [f64]) {
        (self.sys.dfdt)(self.p, t, y, out)
    }
}

impl DiffField for Bound<'_> {
    fn n_params(&self) -> usize {
        self.sys.np
    }
    fn vjp_scratch_len(&self) -> usize {
        0
    }
    fn vjp(&self, t: f64, y: &[f64], a: &[f64], gy: &mut [f64], gp: &mut [f64], _scratch: &mut [f64]) {
        let (n, np) = (self.sys.n, self.sys.np);
        let mut j = vec![0.0; n * n];
        let mut d = vec![0.0; n * np];
        (self.sys.jac)(self.p, t, y, &mut j);
        (self.sys.dfdp)(self.p, t, y, &mut d);
        for c in 0..n {
            gy[c] = (0..n).map(|r| a[r] * j[r * n + c]).sum();
        }
        for c in 0..np {
            gp[c] = (0..n).map(|r| a[r] * d[r * np + c]).sum();
        }
    }
}

fn zero(_p: &[f64], _t: f64, _y: &[f64], out: &mut [f64]) {
    out.fill(0.0);
}

fn robertson() -> Sys {
    Sys {
        n: 3,
        np: 3,
        f: |p, _t, y, d| {
            d[0] = -p[0] * y[0] + p[2] * y[1] * y[2];
            d[1] = p[0] * y[0] - p[1] * y[1] * y[1] - p[2] * y[1] * y[2];
            d[2] = p[1] * y[1] * y[1];
        },
        jac: |p, _t, y, j| {
            j.copy_from_slice(&[
                -p[0],
                p[2] * y[2],
                p[2] * y[1],
                p[0],
                -2.0 * p[1] * y[1] - p[2] * y[2],
                -p[2] * y[1],
                0.0,
                2.0 * p[1] * y[1],
                0.0,
            ])
        },
        dfdp: |_p, _t, y, d| {
            d.copy_from_slice(&[-y[0], 0.0, y[1] * y[2], y[0], -y[1] * y[1], -y[1] * y[2], 0.0, y[1] * y[1], 0.0])
        },
        dfdt: zero,
    }
}

/// `y' = A(p) y + [sin(p3 t), 0, 0]` with eigenvalues near −1, −50, −1000.
fn linear() -> Sys {
    Sys {
        n: 3,
        np: 4,
        f: |p, t, y, d| {
            d[0] = -p[0] * y[0] + y[1] + (p[3] * t).sin();
            d[1] = 0.5 * y[0] - p[1] * y[1] + 2.0 * y[2];
            d[2] = y[0] - p[2] * y[2];
        },
        jac: |p, _t, _y, j| j.copy_from_slice(&[-p[0], 1.0, 0.0, 0.5, -p[1], 2.0, 1.0, 0.0, -p[2]]),
        dfdp: |p, t, y, d| {
            d.fill(0.0);
            d[0] = -y[0];
            d[3] = t * (p[3] * t).cos();
            d[4 + 1] = -y[1];
            d[8 + 2] = -y[2];
        },
        dfdt: |p, t, _y, d| {
            d.fill(0.0);
            d[0] = p[3] * (p[3] * t).cos();
        },
    }
}

fn van_der_pol() -> Sys {
    Sys {
        n: 2,
        np: 1,
        f: |p, _t, y, d| {
            d[0] = y[1];
            d[1] = p[0] * ((1.0 - y[0] * y[0]) * y[1] - y[0]);
        },
        jac: |p, _t, y, j| {
            j.copy_from_slice(&[0.0, 1.0, p[0] * (-2.0 * y[0] * y[1] - 1.0), p[0] * (1.0 - y[0] * y[0])])
        },
        dfdp: |_p, _t, y, d| d.copy_from_slice(&[0.0, (1.0 - y[0] * y[0]) * y[1] - y[0]]),
        dfdt: zero,
    }
}

/// A problem: its system, parameters, start, save times and loss weights
/// (`L = Σ w · y(saveat)`).
struct Case {
    name: &'static str,
    sys: Sys,
    p: Vec<f64>,
    y0: Vec<f64>,
    t0: f64,
    saveat: Vec<f64>,
    w: Vec<f64>,
    /// The finite-difference step in the initial values.
    dy: f64,
}

fn cases() -> Vec<Case> {
    let weights = |m: usize, scale: &[f64]| -> Vec<f64> {
        let n = scale.len();
        (0..m * n).map(|k| scale[k % n] * (1.0 + 0.3 * ((k * 7 % 5) as f64 - 2.0))).collect()
    };
    let rober_t = vec![0.01, 0.3, 2.0, 10.0];
    let lin_t = vec![0.05, 0.5, 1.0, 2.0];
    let vdp_t = vec![0.05, 0.15, 0.3];
    vec![
        Case {
            name: "robertson",
            sys: robertson(),
            p: vec![0.04, 3e7, 1e4],
            y0: vec![1.0, 0.0, 0.0],
            t0: 0.0,
            w: weights(rober_t.len(), &[1.0, 1e4, 1.0]),
            // y2(0) = −h must stay above −sqrt(k1/k2) or y2 blows up.
            dy: 1e-5,
            saveat: rober_t,
        },
        Case {
            name: "linear",
            sys: linear(),
            p: vec![1.0, 1000.0, 50.0, 3.0],
            y0: vec![1.0, 0.5, -1.0],
            t0: 0.0,
            w: weights(lin_t.len(), &[1.0, 1.0, 1.0]),
            dy: 1e-4,
            saveat: lin_t,
        },
        Case {
            name: "van der pol",
            sys: van_der_pol(),
            p: vec![1000.0],
            y0: vec![2.0, 0.0],
            t0: 0.0,
            w: weights(vdp_t.len(), &[1.0, 1e3]),
            dy: 1e-4,
            saveat: vdp_t,
        },
    ]
}

fn opts(method: StiffMethod) -> StiffOptions {
    StiffOptions { method, rtol: 1e-10, atol: 1e-14, max_steps: 1_000_000, ..StiffOptions::default() }
}

/// The finite-difference reference: Rodas5 at tolerances far below the
/// adjoints' (the continuous gradient, which every method approximates).
fn reference() -> StiffOptions {
    StiffOptions { rtol: 1e-12, atol: 1e-16, ..opts(StiffMethod::Rodas5) }
}

fn loss(c: &Case, p: &[f64], y0: &[f64], o: &StiffOptions) -> f64 {
    let f = Bound { sys: &c.sys, p };
    let sol = solve_stiff(&f, c.t0, y0, &c.saveat, o).unwrap();
    sol.y.iter().zip(&c.w).map(|(y, w)| y * w).sum()
}

/// Central differences of the loss in every parameter (relative step
/// 1e-3) and initial value (step `c.dy`), Richardson-extrapolated from `h`
/// and `h/2` (error O(h⁴)), through [`reference`] solves.
fn finite_differences(c: &Case) -> (Vec<f64>, Vec<f64>) {
    let o = reference();
    let central = |shift: &dyn Fn(f64) -> f64, h: f64| (shift(h) - shift(-h)) / (2.0 * h);
    let richardson = |shift: &dyn Fn(f64) -> f64, h: f64| (4.0 * central(shift, h / 2.0) - central(shift, h)) / 3.0;
    let gp = (0..c.p.len())
        .map(|j| {
            let shift = |d: f64| {
                let mut p = c.p.clone();
                p[j] += d;
                loss(c, &p, &c.y0, &o)
            };
            richardson(&shift, 1e-3 * c.p[j].abs())
        })
        .collect();
    let gy = (0..c.y0.len())
        .map(|j| {
            let shift = |d: f64| {
                let mut y0 = c.y0.clone();
                y0[j] += d;
                loss(c, &c.p, &y0, &o)
            };
            richardson(&shift, c.dy)
        })
        .collect();
    (gp, gy)
}

/// `c` saved every `step` up to `end`, its loss weighting every tenth save
/// time and the last (backsolve resets `y` at every save time, which
/// bounds its drift on a stiff problem).
fn dense_grid(mut c: Case, step: f64, end: f64) -> Case {
    let n = c.sys.n;
    let k = (end / step).round() as usize;
    c.saveat = (1..=k).map(|i| i as f64 * step).collect();
    let w = c.w.clone();
    c.w = (0..k * n).map(|i| if (i / n) % 10 == 9 || i / n == k - 1 { w[i % w.len()] } else { 0.0 }).collect();
    c
}

fn adjoint_gradient(c: &Case, o: &StiffOptions, adjoint: Adjoint) -> (Solution, Gradient) {
    let f = Bound { sys: &c.sys, p: &c.p };
    let w = c.w.clone();
    gradient(&f, c.t0, &c.y0, &c.saveat, o, adjoint, &mut |_| Cotangent::states(w.clone())).unwrap()
}

/// Worst relative error over the components, each relative to the
/// largest of its vector (so tiny components are not over-weighted).
fn worst(got: &[f64], want: &[f64]) -> f64 {
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    got.iter().zip(want).map(|(g, w)| (g - w).abs() / (0.01 * scale).max(w.abs())).fold(0.0, f64::max)
}

fn check_against_finite_differences(c: &Case, adjoint: Adjoint, report: &mut Vec<String>) {
    let (gp_fd, gy_fd) = finite_differences(c);
    for &method in StiffMethod::all() {
        let (_, g) = adjoint_gradient(c, &opts(method), adjoint);
        let (ep, ey) = (worst(&g.params, &gp_fd), worst(&g.y0, &gy_fd));
        report.push(format!("{} {method} {}: params {ep:.1e}, y0 {ey:.1e}", c.name, adjoint.name()));
        assert!(
            ep < 1e-5 && ey < 1e-5,
            "{} {method} {}: params {:?} vs {:?}, y0 {:?} vs {:?}",
            c.name,
            adjoint.name(),
            g.params,
            gp_fd,
            g.y0,
            gy_fd
        );
    }
}

#[test]
fn interpolated_gradients_match_finite_differences_of_the_whole_stiff_solve() {
    let mut report = Vec::new();
    for c in cases() {
        check_against_finite_differences(&c, Adjoint::Interpolated, &mut report);
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn backsolve_gradients_match_finite_differences_when_save_times_are_dense() {
    let mut report = Vec::new();
    let [rober, lin, vdp]: [Case; 3] = cases().try_into().ok().unwrap();
    for c in [dense_grid(rober, 0.002, 2.0), dense_grid(lin, 0.01, 1.0), dense_grid(vdp, 0.002, 0.3)] {
        check_against_finite_differences(&c, Adjoint::Backsolve, &mut report);
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn backsolve_over_long_stiff_intervals_fails_with_a_typed_error() {
    // Robertson saved 4 times over [0, 10]: re-integrating y backwards
    // amplifies its error by exp(10⁴ Δt); the solve stops instead of
    // returning a wrong gradient.
    let c = &cases()[0];
    let f = Bound { sys: &c.sys, p: &c.p };
    for &method in StiffMethod::all() {
        let w = c.w.clone();
        let e = gradient(&f, c.t0, &c.y0, &c.saveat, &opts(method), Adjoint::Backsolve, &mut |_| {
            Cotangent::states(w.clone())
        })
        .unwrap_err();
        let t = e.time().unwrap_or(f64::NAN);
        assert!(
            matches!(e, SolveError::StepSizeTooSmall { .. } | SolveError::NewtonFailure { .. }) && t > 2.0 && t < 10.0,
            "{method}: {e}"
        );
    }
}

#[test]
fn the_forward_solve_is_solve_stiff_bit_for_bit_and_the_tape_reproduces_it() {
    let linear = || cases().swap_remove(1);
    let mut runs: Vec<(Case, Adjoint)> = cases().into_iter().map(|c| (c, Adjoint::Interpolated)).collect();
    runs.push((dense_grid(linear(), 0.01, 1.0), Adjoint::Backsolve));
    for (c, adjoint) in &runs {
        for &method in StiffMethod::all() {
            let o = opts(method);
            let f = Bound { sys: &c.sys, p: &c.p };
            let want = solve_stiff(&f, c.t0, &c.y0, &c.saveat, &o).unwrap();
            let (sol, g) = adjoint_gradient(c, &o, *adjoint);
            assert_eq!(sol, want, "{} {method} {}", c.name, adjoint.name());
            let y0 = g.reconstructed_y0.unwrap();
            let err = y0.iter().zip(&c.y0).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            // The tape gives y0 back exactly; backsolve re-integrates it.
            let bound = if *adjoint == Adjoint::Interpolated { 1e-14 } else { 1e-6 };
            assert!(err <= bound, "{} {method} {}: y0 {y0:?}", c.name, adjoint.name());
            if *adjoint == Adjoint::Backsolve {
                assert_eq!(g.peak_states, 0);
                continue;
            }
            // State vectors kept per step: bdf `order + 1`, kvaerno5 4, rodas5 5.
            assert!(
                g.peak_states >= 2 * g.forward.accepted as usize,
                "{} {method}: {} states for {} steps",
                c.name,
                g.peak_states,
                g.forward.accepted
            );
            // The tape at the save times matches the saved rows.
            let mut tape = DenseTape::new(method, c.sys.n, c.t0);
            let problem = Problem { f: &f as &dyn JacField, t0: c.t0, y0: &c.y0, saveat: &c.saveat };
            let mut out = vec![0.0; c.saveat.len() * c.sys.n];
            integrate_observed(&problem, &o, &mut out, &mut tape).unwrap();
            assert_eq!(out, want.y);
            let mut y = vec![0.0; c.sys.n];
            for (i, &t) in c.saveat.iter().enumerate() {
                tape.eval(t, &mut y);
                for (a, b) in y.iter().zip(&out[i * c.sys.n..]) {
                    assert!((a - b).abs() <= 1e-12 * b.abs().max(1e-3), "{} {method} at {t}: {a} vs {b}", c.name);
                }
            }
        }
    }
}

#[test]
fn a_batch_is_its_trajectories_summed_in_order_on_any_thread_count() {
    let all = cases();
    let y0s = [1.0, 0.0, 0.0, 0.9, 0.1, 0.0, 0.8, 0.0, 0.2];
    let t0s = [0.0, 0.1, 0.0];
    let cot: Vec<f64> = (0..18).map(|k| 1.0 + k as f64 * 0.1).collect();
    let runs = [
        (&all[0], Adjoint::Interpolated, StiffMethod::Rodas5, vec![0.5, 2.0, 0.6, 3.0, 1.0, 4.0]),
        (&all[1], Adjoint::Backsolve, StiffMethod::Bdf, vec![0.01, 0.02, 0.11, 0.12, 0.02, 0.03]),
    ];
    for (c, adjoint, method, saveat) in runs {
        let o = opts(method);
        let f = Bound { sys: &c.sys, p: &c.p };
        let times = BatchTimes::PerTrajectory { t0: &t0s, saveat: &saveat };
        let run = |threads| {
            gradient_batch(&f, times, &y0s, &o, adjoint, threads, &mut |_| BatchCotangent::states(cot.clone())).unwrap()
        };
        let (sol1, g1) = run(1);
        let (sol3, g3) = run(3);
        assert_eq!(sol1, sol3);
        assert_eq!(g1, g3);
        let mut params = vec![0.0; c.p.len()];
        for b in 0..3 {
            let cb = cot[b * 6..(b + 1) * 6].to_vec();
            let (y0, times) = (&y0s[b * 3..(b + 1) * 3], &saveat[b * 2..(b + 1) * 2]);
            let (sol, g) =
                gradient(&f, t0s[b], y0, times, &o, adjoint, &mut |_| Cotangent::states(cb.clone())).unwrap();
            assert_eq!(sol.y, sol1.y[b * 6..(b + 1) * 6]);
            assert_eq!(g.y0, g1.y0[b * 3..(b + 1) * 3]);
            assert_eq!(g.backward, g1.backward[b]);
            for (a, v) in params.iter_mut().zip(&g.params) {
                *a += v;
            }
        }
        assert_eq!(params, g1.params);
    }
}

#[test]
fn unsupported_requests_are_typed_errors() {
    let c = &cases()[1];
    let o = opts(StiffMethod::Kvaerno5);
    let f = Bound { sys: &c.sys, p: &c.p };
    let rows = c.saveat.len() * 3;
    let discrete = Adjoint::Discrete { checkpoints: None };
    let e = gradient(&f, 0.0, &c.y0, &c.saveat, &o, discrete, &mut |_| Cotangent::states(vec![0.0; rows])).unwrap_err();
    assert!(matches!(&e, SolveError::InvalidOptions { what } if what.contains("discrete")), "{e}");
    let e = gradient(&f, 0.0, &c.y0, &c.saveat, &o, Adjoint::Interpolated, &mut |_| Cotangent {
        stiffness: 1.0,
        ..Cotangent::states(vec![0.0; rows])
    })
    .unwrap_err();
    assert!(matches!(&e, SolveError::InvalidOptions { what } if what.contains("regularisers")), "{e}");
    let e = gradient(&f, 0.0, &c.y0, &c.saveat, &o, Adjoint::Interpolated, &mut |_| Cotangent::states(vec![0.0; 2]))
        .unwrap_err();
    assert!(matches!(e, SolveError::InvalidOptions { .. }), "{e}");
    let mut bad = vec![0.0; rows];
    bad[4] = f64::NAN;
    let e = gradient(&f, 0.0, &c.y0, &c.saveat, &o, Adjoint::Backsolve, &mut |_| Cotangent::states(bad.clone()))
        .unwrap_err();
    assert_eq!(e, SolveError::NonFiniteAdjoint { t: c.saveat[1] });
    assert_eq!(backward_method(StiffMethod::Rodas5, Adjoint::Backsolve), StiffMethod::Kvaerno5);
    assert_eq!(backward_method(StiffMethod::Rodas5, Adjoint::Interpolated), StiffMethod::Rodas5);
    assert_eq!(backward_method(StiffMethod::Bdf, Adjoint::Backsolve), StiffMethod::Bdf);
}
