//! Orders of convergence (global, at fixed step), dense-output order, and
//! adaptive methods meeting their tolerance.

mod common;

use common::{gauss_osc, gauss_osc_exact, linspace, loglog_slope, max_diff, oscillator};
use nde_runtime::solve::solve_fixed;
use nde_runtime::solver::probe::single_step;
use nde_runtime::term::FnField;
use nde_runtime::{solve, Method, SolveOptions};

/// Global errors at the end time and at an interior save time (filled by
/// dense output) for `n` fixed steps.
fn fixed_errors(m: Method, ns: &[usize], osc: bool) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut hs, mut end, mut mid) = (vec![], vec![], vec![]);
    for &n in ns {
        let (t1, sol, exact_mid, exact_end) = if osc {
            // The 5th-order methods are pre-asymptotic on the non-autonomous
            // problem at the step sizes where rounding is still negligible.
            let t1 = 20.0;
            let opts = SolveOptions { method: m, dt: Some(t1 / n as f64), max_steps: 10_000, ..Default::default() };
            let sol = solve_fixed(&oscillator(), 0.0, &[1.0, 0.0], &[7.77, t1], &opts).unwrap();
            (t1, sol, vec![7.77f64.cos(), -7.77f64.sin()], vec![t1.cos(), -t1.sin()])
        } else {
            let t1 = 2.0;
            let opts = SolveOptions { method: m, dt: Some(t1 / n as f64), ..Default::default() };
            let sol = solve_fixed(&gauss_osc(), 0.0, &[1.0, 1.0, 0.0], &[0.7, t1], &opts).unwrap();
            (t1, sol, gauss_osc_exact(0.7).to_vec(), gauss_osc_exact(t1).to_vec())
        };
        hs.push(t1 / n as f64);
        mid.push(max_diff(sol.row(0), &exact_mid));
        end.push(max_diff(sol.final_state(), &exact_end));
    }
    (hs, end, mid)
}

#[test]
fn fixed_step_methods_converge_at_their_order() {
    for &m in Method::all() {
        let fifth = m.order() == 5;
        let ns: &[usize] = if fifth { &[200, 400, 800, 1600] } else { &[20, 40, 80, 160] };
        let (hs, end, mid) = fixed_errors(m, ns, fifth);
        let p = f64::from(m.order());
        let slope = loglog_slope(&hs, &end);
        assert!((slope - p).abs() < 0.2, "{m}: end-time error slope {slope:.3}, order {p}; errors {end:?}");
        // Interior save times come from dense output, whose local error
        // O(h^(q+1)) does not accumulate; q + 1 >= p for every method here,
        // so the method's order carries over.
        let slope = loglog_slope(&hs, &mid);
        assert!((slope - p).abs() < 0.3, "{m}: interior (dense) error slope {slope:.3}, order {p}; errors {mid:?}");
    }
}

#[test]
fn dense_output_has_its_local_order() {
    // Local error of the dense output at the middle of one step, started
    // from the exact solution: O(h^(q+1)) for an interpolant of order q
    // (Tsit5/Dopri5: 4; cubic Hermite: 3, limited by the step itself for
    // the low-order methods).
    let f = gauss_osc();
    let t0 = 0.3;
    let y0 = gauss_osc_exact(t0);
    let hs = [0.2, 0.1, 0.05, 0.025];
    for &m in Method::all() {
        let q1 = match m {
            Method::Euler => 2.0,
            Method::Midpoint | Method::Heun => 3.0,
            Method::Rk4 | Method::Bosh3 => 4.0,
            Method::Dopri5 | Method::Tsit5 => 5.0,
        };
        let errs: Vec<f64> = hs
            .iter()
            .map(|&h| {
                let mut p = single_step(m, &f, t0, &y0, h).unwrap();
                max_diff(&p.dense(t0 + 0.5 * h), &gauss_osc_exact(t0 + 0.5 * h))
            })
            .collect();
        let slope = loglog_slope(&hs, &errs);
        assert!(slope > q1 - 0.3 && slope < q1 + 1.0, "{m}: dense local error slope {slope:.3}, expected {q1}");
    }
}

/// `y' = [[-1/2, 1], [-1, -1/2]] y`, `y(0) = (1, 0)`: a damped rotation,
/// `e^{-t/2} (cos t, -sin t)`.
fn damped() -> impl nde_runtime::term::VectorField {
    FnField::new(2, |_t, y: &[f64], dy: &mut [f64]| {
        dy[0] = -0.5 * y[0] + y[1];
        dy[1] = -y[0] - 0.5 * y[1];
    })
}

#[test]
fn adaptive_methods_meet_their_tolerance() {
    let ts = linspace(0.0, 5.0, 51);
    let exact: Vec<f64> = ts
        .iter()
        .flat_map(|&t: &f64| {
            let d = (-0.5 * t).exp();
            [d * t.cos(), -d * t.sin()]
        })
        .collect();
    for m in [Method::Bosh3, Method::Dopri5, Method::Tsit5] {
        let mut errs = vec![];
        for tol in [1e-4, 1e-6, 1e-8, 1e-10] {
            let opts = SolveOptions { method: m, rtol: tol, atol: tol, ..Default::default() };
            let sol = solve(&damped(), 0.0, &[1.0, 0.0], &ts, &opts).unwrap();
            let err = max_diff(&sol.y, &exact);
            assert!(err < 10.0 * tol, "{m} at tol {tol:e}: error {err:e}");
            errs.push(err);
        }
        // Tolerance proportionality: 6 orders of magnitude tighter tolerance
        // buys at least 5 orders of magnitude of accuracy.
        assert!(errs[3] < 1e-5 * errs[0], "{m}: errors {errs:?}");
    }
}

#[test]
fn adaptive_steps_scale_with_tolerance_like_the_order() {
    // Accepted steps grow like tol^(-1/p): from 1e-6 to 1e-10 by about
    // 10^(4/p) (6.3 for p = 5, 21.5 for p = 3).
    for (m, lo, hi) in [(Method::Tsit5, 4.0, 9.0), (Method::Dopri5, 4.0, 9.0), (Method::Bosh3, 14.0, 30.0)] {
        let steps = |tol: f64| {
            let opts = SolveOptions { method: m, rtol: tol, atol: tol, ..Default::default() };
            solve(&damped(), 0.0, &[1.0, 0.0], &[20.0], &opts).unwrap().stats.accepted as f64
        };
        let ratio = steps(1e-10) / steps(1e-6);
        assert!(ratio > lo && ratio < hi, "{m}: steps ratio {ratio:.2}");
    }
}
