//! Convergence of the stiff solvers on a linear stiff problem with a known
//! solution: observed orders at constant steps (rodas5, kvaerno5, radau5),
//! and tolerance proportionality of the adaptive solves (every method, BDF
//! with its variable order). Also dense output, `∂f/∂t`, the fitted order
//! of radau5 on a nonlinear problem and the order reduction of the
//! Prothero–Robinson problem, which radau5 (stage order 3) escapes.

use nde_runtime::stiff::{solve_stiff, FnJacField, JacField, StiffMethod, StiffOptions};

/// `y' = A y` with `A = P diag(λ) P⁻¹`, `P = [[1, 1, 0], [0, 1, 1], [0, 0,
/// 1]]`, so `y(t) = P diag(e^{λt}) P⁻¹ y0` is known exactly; eigenvalues
/// −1, −10 and −500 (stiffness ratio 500).
const LAMBDA: [f64; 3] = [-1.0, -10.0, -500.0];
const P: [[f64; 3]; 3] = [[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]];
const PINV: [[f64; 3]; 3] = [[1.0, -1.0, 1.0], [0.0, 1.0, -1.0], [0.0, 0.0, 1.0]];
const Y0: [f64; 3] = [1.0, 2.0, -1.0];

fn matrix() -> [[f64; 3]; 3] {
    let mut a = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            a[i][j] = (0..3).map(|k| P[i][k] * LAMBDA[k] * PINV[k][j]).sum();
        }
    }
    a
}

fn exact(t: f64) -> [f64; 3] {
    let w: Vec<f64> = (0..3).map(|k| (LAMBDA[k] * t).exp() * (0..3).map(|j| PINV[k][j] * Y0[j]).sum::<f64>()).collect();
    let mut y = [0.0; 3];
    for i in 0..3 {
        y[i] = (0..3).map(|k| P[i][k] * w[k]).sum();
    }
    y
}

fn linear() -> impl JacField {
    let a = matrix();
    FnJacField::new(
        3,
        move |_t, y: &[f64], dy: &mut [f64]| {
            for i in 0..3 {
                dy[i] = (0..3).map(|j| a[i][j] * y[j]).sum();
            }
        },
        move |_t, _y: &[f64], jac: &mut [f64]| {
            for i in 0..3 {
                for j in 0..3 {
                    jac[i * 3 + j] = a[i][j];
                }
            }
        },
    )
}

fn max_err(y: &[f64], want: &[f64]) -> f64 {
    y.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
}

/// Observed orders `log2(e(h) / e(h/2))` at constant steps.
fn orders(method: StiffMethod, t_end: f64, steps: &[usize]) -> Vec<f64> {
    let f = linear();
    let want = exact(t_end);
    let errs: Vec<f64> = steps
        .iter()
        .map(|&m| {
            let opts = StiffOptions {
                method,
                dt: Some(t_end / m as f64),
                adaptive: false,
                rtol: 1e-12,
                atol: 1e-12,
                ..StiffOptions::default()
            };
            let sol = solve_stiff(&f, 0.0, &Y0, &[t_end], &opts).unwrap();
            assert_eq!(sol.stats.accepted as usize, m, "{method}: constant steps");
            max_err(sol.final_state(), &want)
        })
        .collect();
    errs.windows(2).map(|w| (w[0] / w[1]).log2()).collect()
}

#[test]
fn rodas5_converges_with_order_five() {
    let p = orders(StiffMethod::Rodas5, 2.0, &[10, 20, 40, 80]);
    println!("rodas5 observed orders {p:?}");
    assert!(p.iter().all(|&o| (4.6..5.8).contains(&o)), "{p:?}");
}

#[test]
fn radau5_converges_with_order_five() {
    let p = orders(StiffMethod::Radau5, 2.0, &[10, 20, 40, 80]);
    println!("radau5 observed orders {p:?}");
    assert!(p.iter().all(|&o| (4.6..5.8).contains(&o)), "{p:?}");
}

#[test]
fn kvaerno5_converges_with_order_five() {
    // The Newton tolerance is far below the local errors (rtol 1e-12), so
    // the order is the method's.
    let p = orders(StiffMethod::Kvaerno5, 2.0, &[10, 20, 40, 80]);
    println!("kvaerno5 observed orders {p:?}");
    assert!(p.iter().all(|&o| (4.6..5.8).contains(&o)), "{p:?}");
}

/// Each adaptive method's error shrinks with its tolerance, and stays
/// within a small factor of it (rtol-scaled errors, states of order one).
#[test]
fn adaptive_errors_follow_the_tolerance() {
    let f = linear();
    let t_end = 3.0;
    let saves: Vec<f64> = (0..=30).map(|i| 0.1 * i as f64).collect();
    for &method in StiffMethod::all() {
        let mut last = f64::INFINITY;
        for tol in [1e-4, 1e-6, 1e-8, 1e-10] {
            let opts = StiffOptions { method, rtol: tol, atol: tol, ..StiffOptions::default() };
            let sol = solve_stiff(&f, 0.0, &Y0, &saves, &opts).unwrap();
            // Dense output included: the worst error over all save times.
            let err = saves.iter().enumerate().map(|(i, &t)| max_err(sol.row(i), &exact(t))).fold(0.0, f64::max);
            println!(
                "{method:>8} tol {tol:.0e}: max err {err:.2e} steps {} (+{} rejected) nfe {} njev {} nlu {}",
                sol.stats.accepted, sol.stats.rejected, sol.stats.nfe, sol.stats.njev, sol.stats.nlu
            );
            assert!(err < 30.0 * tol, "{method} tol {tol}: error {err}");
            assert!(err < last, "{method} tol {tol}: error {err} did not shrink from {last}");
            last = err;
            assert_eq!(sol.t, saves);
            assert!(t_end == *saves.last().unwrap());
        }
    }
}

/// `y' = −50 (y − cos t) − sin t` has the solution `y = cos t` (from
/// `y(0) = 1`); Rosenbrock methods are only right if they use its
/// `∂f/∂t = −50 sin t − cos t`, which the others ignore.
#[test]
fn non_autonomous_problems_use_the_time_derivative() {
    let f = FnJacField::with_time_derivative(
        1,
        |t, y: &[f64], dy: &mut [f64]| dy[0] = -50.0 * (y[0] - t.cos()) - t.sin(),
        |_t, _y: &[f64], j: &mut [f64]| j[0] = -50.0,
        |t, _y: &[f64], out: &mut [f64]| out[0] = -50.0 * t.sin() - t.cos(),
    );
    for &method in StiffMethod::all() {
        let opts = StiffOptions { method, rtol: 1e-8, atol: 1e-10, ..StiffOptions::default() };
        let sol = solve_stiff(&f, 0.0, &[1.0], &[1.0, 2.0, 5.0], &opts).unwrap();
        for (i, t) in [1.0f64, 2.0, 5.0].iter().enumerate() {
            let err = (sol.row(i)[0] - t.cos()).abs();
            assert!(err < 1e-7, "{method} at t = {t}: error {err}");
        }
    }
}

/// A nonlinear problem exercises the order conditions a linear one cannot
/// (elementary differentials with `f''`): `y1' = −y1² + y2`, `y2' = −y2`,
/// `y3' = y1·y3` from `(1, 0, 1)`, so `y2 = 0`, `y1 = 1/(1 + t)` and
/// `y3 = 1 + t`.
#[test]
fn nonlinear_orders_are_five() {
    let f = FnJacField::new(
        3,
        |_t, y: &[f64], dy: &mut [f64]| {
            dy[0] = -y[0] * y[0] + y[1];
            dy[1] = -y[1];
            dy[2] = y[0] * y[2];
        },
        |_t, y: &[f64], j: &mut [f64]| {
            j.copy_from_slice(&[-2.0 * y[0], 1.0, 0.0, 0.0, -1.0, 0.0, y[2], 0.0, y[0]]);
        },
    );
    let t_end = 2.0;
    let want = [1.0 / (1.0 + t_end), 0.0, 1.0 + t_end];
    for method in [StiffMethod::Rodas5, StiffMethod::Kvaerno5] {
        let errs: Vec<f64> = [8usize, 16, 32, 64]
            .iter()
            .map(|&m| {
                let opts = StiffOptions {
                    method,
                    dt: Some(t_end / m as f64),
                    adaptive: false,
                    rtol: 1e-10,
                    atol: 1e-10,
                    ..StiffOptions::default()
                };
                max_err(solve_stiff(&f, 0.0, &[1.0, 0.0, 1.0], &[t_end], &opts).unwrap().final_state(), &want)
            })
            .collect();
        let p: Vec<f64> = errs.windows(2).map(|w| (w[0] / w[1]).log2()).collect();
        println!("{method} nonlinear orders {p:?} errors {errs:?}");
        assert!(p.iter().all(|&o| (4.5..6.0).contains(&o)), "{method}: {p:?}");
    }
}

/// The work counters add up: every evaluation of `f` is accounted for by
/// the start (`f(t0, y0)` and the initial-step heuristic), the Rosenbrock
/// stages (7 per attempt, plus `f(t1, y1)` per accepted step) or the Newton
/// iterations (one each); Rodas5 factorises once per attempt and evaluates
/// one Jacobian per accepted point.
#[test]
fn work_counters_add_up() {
    let f = linear();
    let saves = [0.5, 3.0];
    for &method in StiffMethod::all() {
        let opts = StiffOptions { method, rtol: 1e-6, atol: 1e-8, ..StiffOptions::default() };
        let s = solve_stiff(&f, 0.0, &Y0, &saves, &opts).unwrap().stats;
        let attempts = s.accepted + s.rejected;
        assert!(s.accepted > 0 && s.njev > 0 && s.nlu > 0, "{method}: {s:?}");
        match method {
            StiffMethod::Rodas5 => {
                assert_eq!(s.nfe, 2 + 7 * attempts + s.accepted, "{method}: {s:?}");
                assert_eq!(s.nlu, attempts, "{method}: {s:?}");
                assert_eq!(s.njev, s.accepted, "{method}: {s:?}");
                assert_eq!(s.nnewton, 0);
            }
            StiffMethod::Radau5 => {
                // Three evaluations per Newton iteration, none for f(t1, y1)
                // (the collocation derivative), at most one per attempt for
                // the second error estimate.
                let newton = 2 + 3 * s.nnewton;
                assert!((newton..=newton + attempts).contains(&s.nfe), "{method}: {s:?}");
                assert_eq!(s.njev, 1, "{method}: {s:?}");
                // Two factorisations (real and complex) per step size.
                assert!(s.nlu.is_multiple_of(2) && s.nlu < 2 * attempts, "{method} reuses its factors: {s:?}");
            }
            _ => {
                assert_eq!(s.nfe, 2 + s.nnewton, "{method}: {s:?}");
                // A linear problem never needs a second Jacobian.
                assert_eq!(s.njev, 1, "{method}: {s:?}");
                assert!(s.nlu < attempts, "{method} reuses its factors: {s:?}");
            }
        }
    }
}

/// `(slope, intercept)` of the least-squares line through `(x_i, y_i)`.
fn fit(x: &[f64], y: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
    (sxy / sxx, my - sxy / sxx * mx)
}

/// The order of `method` at constant steps `t_end / m` on `f` from `y0`, as
/// the fitted slope of `log(error)` against `log(h)`, with the errors.
fn fitted_order(
    f: &dyn JacField,
    method: StiffMethod,
    y0: &[f64],
    t_end: f64,
    want: &[f64],
    steps: &[usize],
) -> (f64, Vec<f64>) {
    let errs: Vec<f64> = steps
        .iter()
        .map(|&m| {
            let opts = StiffOptions {
                method,
                dt: Some(t_end / m as f64),
                adaptive: false,
                rtol: 1e-12,
                atol: 1e-12,
                ..StiffOptions::default()
            };
            max_err(solve_stiff(f, 0.0, y0, &[t_end], &opts).unwrap().final_state(), want)
        })
        .collect();
    let log_h: Vec<f64> = steps.iter().map(|&m| (t_end / m as f64).ln()).collect();
    let log_e: Vec<f64> = errs.iter().map(|e| e.ln()).collect();
    (fit(&log_h, &log_e).0, errs)
}

/// Radau IIA has order 5 on a non-stiff nonlinear problem with a known
/// solution, the logistic pair `y1' = y1 (1 − y1)`, `y2' = −y2 + y1` from
/// `(1/2, 0)`: the slope fitted over four step sizes. (On the problem of
/// `nonlinear_orders_are_five` its errors are so small that round-off
/// shows from 32 steps on.)
#[test]
fn radau5_fitted_order_on_a_nonlinear_problem_is_five() {
    let f = FnJacField::new(
        2,
        |_t, y: &[f64], dy: &mut [f64]| {
            dy[0] = y[0] * (1.0 - y[0]);
            dy[1] = -y[1] + y[0];
        },
        |_t, y: &[f64], j: &mut [f64]| j.copy_from_slice(&[1.0 - 2.0 * y[0], 0.0, 1.0, -1.0]),
    );
    // y1 = 1/(1 + e^{−t}); y2 = e^{−t} ∫_0^t e^s y1(s) ds
    //    = 1 − e^{−t} − e^{−t} ln((1 + e^t)/2).
    let t_end: f64 = 3.0;
    let e = (-t_end).exp();
    let want = [1.0 / (1.0 + e), 1.0 - e - e * ((1.0 + t_end.exp()) / 2.0).ln()];
    let (order, errs) = fitted_order(&f, StiffMethod::Radau5, &[0.5, 0.0], t_end, &want, &[6, 12, 24, 48]);
    println!("radau5 fitted order {order:.3}, errors {errs:?}");
    assert!((4.7..5.5).contains(&order), "{order}: {errs:?}");
}

/// Prothero–Robinson, `y' = λ (y − φ(t)) + φ'(t)` with `λ = −10⁶` and `φ =
/// sin`, from `y(0) = φ(0)`: the solution is `φ`, and with `hλ` huge every
/// method falls back to its stage order. Radau IIA keeps order 3 (its
/// stage order); Rosenbrock (stage order 1) drops to about 1 and the
/// ESDIRK to about 2.
#[test]
fn prothero_robinson_radau5_keeps_order_three_where_the_others_degrade() {
    let lambda = -1e6;
    let f = FnJacField::with_time_derivative(
        1,
        move |t, y: &[f64], dy: &mut [f64]| dy[0] = lambda * (y[0] - t.sin()) + t.cos(),
        move |_t, _y: &[f64], j: &mut [f64]| j[0] = lambda,
        move |t, _y: &[f64], out: &mut [f64]| out[0] = -lambda * t.cos() - t.sin(),
    );
    let t_end: f64 = 2.0;
    let steps = [10, 20, 40, 80, 160];
    let mut orders = Vec::new();
    for method in [StiffMethod::Radau5, StiffMethod::Rodas5, StiffMethod::Kvaerno5] {
        let (order, errs) = fitted_order(&f, method, &[0.0], t_end, &[t_end.sin()], &steps);
        println!("{method:>8}: fitted order {order:.2}, errors {errs:?}");
        orders.push((order, *errs.last().unwrap()));
    }
    let [(radau, radau_err), (rodas, rodas_err), (kvaerno, _)] = orders[..] else { unreachable!() };
    assert!((2.9..3.5).contains(&radau), "radau5: {radau}");
    assert!(rodas < 1.5 && kvaerno < 2.3, "rodas5 {rodas}, kvaerno5 {kvaerno}");
    // At the finest step radau5 is three orders of magnitude more accurate.
    assert!(radau_err * 1000.0 < rodas_err, "{radau_err} vs {rodas_err}");
}
