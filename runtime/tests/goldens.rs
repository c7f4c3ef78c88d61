//! Golden numbers from design/ALGORITHMS.md §1.3 and §1.6 (diffrax 0.7.2,
//! float64): single steps, dense output, error estimates, initial steps and
//! adaptive step counts.

// The golden numbers are copied digit for digit from the design document.
#![allow(clippy::excessive_precision)]

mod common;

use common::{decay, linspace, max_diff, oscillator};
use nde_runtime::solver::probe::single_step;
use nde_runtime::stepsize::initial_step;
use nde_runtime::{solve, Controller, Method, SolveOptions};

fn assert_close(what: &str, got: f64, want: f64, tol: f64) {
    assert!((got - want).abs() <= tol, "{what}: got {got:e}, want {want:e} (diff {:e})", got - want);
}

#[test]
fn single_steps_match_diffrax_h1() {
    // (method, y1, dense y(0.5), err)
    let cases = [
        (Method::Tsit5, 0.36809887799147245, 0.60601825470748349, 6.0412985910681869e-4),
        (Method::Dopri5, 0.36833333333333318, 0.60581399751290166, 7.8333333333331623e-4),
        (Method::Bosh3, 1.0 / 3.0, 0.58333333333333337, 0.0),
    ];
    let f = decay();
    for (m, y1, mid, err) in cases {
        let mut p = single_step(m, &f, 0.0, &[1.0], 1.0).unwrap();
        // Rounding differs from diffrax's (k-space, other summation order):
        // both are within ~1e-15 of the exact value of the f64 tableau.
        assert_close(&format!("{m} y1"), p.y1[0], y1, 2e-15);
        assert_close(&format!("{m} y(0.5)"), p.dense(0.5)[0], mid, 2e-15);
        let e = p.err.as_ref().expect("adaptive methods estimate their error")[0];
        // diffrax's err = y1 - ŷ1; only its magnitude matters.
        assert_close(&format!("{m} err"), e.abs(), err, 2e-15);
        // Dense output reproduces both ends exactly.
        assert_eq!(p.dense(0.0), vec![1.0]);
        assert_eq!(p.dense(1.0), p.y1);
    }
}

#[test]
fn single_steps_match_diffrax_h01() {
    let cases = [
        (Method::Tsit5, 4.422887015351715e-9),
        (Method::Dopri5, 5.6083333328902306e-9),
        (Method::Bosh3, 1.8750000000006609e-5),
    ];
    let f = decay();
    for (m, err) in cases {
        let p = single_step(m, &f, 0.0, &[1.0], 0.1).unwrap();
        // The estimate cancels terms of size ~h: its relative accuracy is
        // limited to ~1e-16 / err.
        let e = p.err.unwrap()[0].abs();
        assert!((e - err).abs() <= 1e-15, "{m}: err {e:e}, want {err:e}");
        assert!((e - err).abs() <= 1e-6 * err, "{m}: err {e:e}, want {err:e}");
    }
}

#[test]
fn dopri5_y1_is_the_known_rational() {
    // Σ_{j<=5} (-1)^j / j! + 1/600 for y' = -y, h = 1.
    let want = 1.0 - 1.0 + 0.5 - 1.0 / 6.0 + 1.0 / 24.0 - 1.0 / 120.0 + 1.0 / 600.0;
    let p = single_step(Method::Dopri5, &decay(), 0.0, &[1.0], 1.0).unwrap();
    assert_close("dopri5 y1", p.y1[0], want, 2e-16);
}

#[test]
fn initial_step_matches_diffrax() {
    let h = initial_step(&decay(), 0.0, &[1.0], 1e-3, 1e-6, 5).unwrap();
    assert_close("decay", h, 0.10001999200479661, 1e-16);
    let h = initial_step(&oscillator(), 0.0, &[1.0, 0.0], 1e-6, 1e-9, 5).unwrap();
    assert_close("oscillator", h, 0.0009990009990009992, 1e-18);
}

/// ALGORITHMS.md §1.6 item 5: (problem, method, controller, rtol, atol,
/// accepted, rejected, diffrax's max error). The error column is the error
/// of the final state (it matches ours to 3 digits, while interior dense
/// output points have larger errors).
///
/// diffrax 0.7.2 never actually runs its initial-step heuristic from
/// `diffeqsolve`: it wraps every term in a `WrapTerm` before calling
/// `PIDController.init`, and `_select_initial_step` returns 0.01 for
/// anything that is not an `ODETerm`. So its reference runs with `dt0=None`
/// started with a step of 0.01; we reproduce them with `dt = Some(0.01)`.
#[test]
fn adaptive_step_counts_match_diffrax() {
    let pid = Controller::default();
    let pi = Controller::pi();
    #[rustfmt::skip]
    let cases = [
        ("decay", Method::Tsit5, pid, 1e-6, 1e-9, 6, 0, 4.842e-8),
        ("decay", Method::Tsit5, pid, 1e-3, 1e-6, 3, 0, 8.995e-5),
        ("decay", Method::Tsit5, pi, 1e-6, 1e-9, 9, 0, 1.671e-9),
        ("decay", Method::Dopri5, pid, 1e-6, 1e-9, 6, 0, 1.250e-7),
        ("decay", Method::Bosh3, pid, 1e-6, 1e-9, 31, 0, 5.607e-7),
        ("osc", Method::Tsit5, pid, 1e-6, 1e-9, 45, 10, 4.942e-7),
        ("osc", Method::Tsit5, pi, 1e-6, 1e-9, 55, 1, 1.954e-7),
        ("osc", Method::Dopri5, pid, 1e-6, 1e-9, 47, 12, 1.785e-6),
        ("osc", Method::Bosh3, pid, 1e-6, 1e-9, 430, 63, 7.266e-6),
        ("osc", Method::Bosh3, pid, 1e-3, 1e-6, 41, 12, 7.648e-3),
    ];
    let mut failures = Vec::new();
    for (problem, method, controller, rtol, atol, acc, rej, max_err) in cases {
        let opts = SolveOptions { method, rtol, atol, controller, dt: Some(0.01), ..SolveOptions::default() };
        let (sol, exact): (_, Vec<f64>) = if problem == "decay" {
            let ts = linspace(0.0, 1.0, 11);
            let sol = solve(&decay(), 0.0, &[1.0], &ts, &opts).unwrap();
            (sol, ts.iter().map(|t| (-t).exp()).collect())
        } else {
            let ts = linspace(0.0, 10.0, 101);
            let sol = solve(&oscillator(), 0.0, &[1.0, 0.0], &ts, &opts).unwrap();
            (sol, ts.iter().flat_map(|t| [t.cos(), -t.sin()]).collect())
        };
        let err = max_diff(sol.final_state(), &exact[exact.len() - sol.n_state..]);
        let s = sol.stats;
        if (s.accepted, s.rejected) != (acc, rej) || (err - max_err).abs() > 2e-3 * max_err {
            failures.push(format!(
                "{problem} {method} {:?} {rtol:e}/{atol:e}: {}/{} steps, want {acc}/{rej}; max err {err:e} (diffrax {max_err:e})",
                (controller.pcoeff, controller.icoeff),
                s.accepted,
                s.rejected
            ));
        }
        // FSAL accounting: f(t0, y0), then SLOTS - 1 per attempted step.
        let per_step = if method == Method::Bosh3 { 3 } else { 6 };
        assert_eq!(s.nfe, 1 + per_step * (s.accepted + s.rejected), "{problem} {method} nfe");
    }
    assert!(failures.is_empty(), "step counts differ from diffrax:\n{}", failures.join("\n"));
}
