//! Failures are typed errors naming the time, never panics: blow-ups,
//! NaN states, step limits, and every kind of invalid option or time.

mod common;

use common::decay;
use nde_runtime::term::{FnField, VectorField};
use nde_runtime::{solve, solve_batch, Controller, Method, SolveError, SolveOptions};

fn opts(method: Method) -> SolveOptions {
    SolveOptions { method, dt: if method.is_adaptive() { None } else { Some(0.01) }, ..Default::default() }
}

/// `y' = y²`, `y(0) = 1`: `1/(1 - t)`, singular at `t = 1`.
fn blowup() -> impl VectorField {
    FnField::new(1, |_t, y: &[f64], dy: &mut [f64]| dy[0] = y[0] * y[0])
}

#[test]
fn blow_up_is_reported_near_the_singularity() {
    for &m in Method::all() {
        let err = solve(&blowup(), 0.0, &[1.0], &[2.0], &opts(m)).unwrap_err();
        match err {
            SolveError::StepSizeTooSmall { t, h } => {
                assert!((t - 1.0).abs() < 1e-4, "{m}: collapse at t = {t}");
                assert!(h > 0.0 && h < 1e-13, "{m}: h = {h:e}");
            }
            SolveError::NonFinite { t } => {
                assert!((t - 1.0).abs() < 0.2, "{m}: non-finite at t = {t}")
            }
            other => panic!("{m}: unexpected {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains("at t = 1"), "{m}: {msg}");
    }
}

#[test]
fn step_collapse_message_is_helpful() {
    let err = SolveError::StepSizeTooSmall { t: 3.25, h: 1.2e-15 };
    assert_eq!(
        err.to_string(),
        "step size collapsed to 1.200e-15 at t = 3.25: the solution may be singular there, or (with an \
         explicit solver) the problem stiff; try rodas5, bdf or auto, or loosen rtol/atol"
    );
    assert_eq!(err.time(), Some(3.25));
}

#[test]
fn rejection_recovers_from_a_nan_region() {
    // y' = -2 sqrt(y): y = (1 - t)²; a first step of 2 overshoots into
    // y < 0 where the field is NaN, and rejection must recover.
    let f = FnField::new(1, |_t, y: &[f64], dy: &mut [f64]| dy[0] = -2.0 * y[0].sqrt());
    for m in [Method::Bosh3, Method::Dopri5, Method::Tsit5] {
        let o = SolveOptions { method: m, dt: Some(2.0), ..Default::default() };
        let sol = solve(&f, 0.0, &[1.0], &[0.5, 0.9], &o).unwrap();
        assert!(sol.stats.rejected >= 1, "{m}: {:?}", sol.stats);
        assert!((sol.y[0] - 0.25).abs() < 1e-4 && (sol.y[1] - 0.01).abs() < 1e-4, "{m}: {:?}", sol.y);
    }
}

#[test]
fn non_finite_initial_state_or_derivative() {
    for &m in Method::all() {
        for bad in [f64::NAN, f64::INFINITY] {
            let err = solve(&decay(), 0.5, &[bad], &[1.0], &opts(m)).unwrap_err();
            assert_eq!(err, SolveError::NonFinite { t: 0.5 }, "{m}");
        }
        let nan_field = FnField::new(1, |_t, _y: &[f64], dy: &mut [f64]| dy[0] = f64::NAN);
        let err = solve(&nan_field, 0.0, &[1.0], &[1.0], &opts(m)).unwrap_err();
        assert_eq!(err, SolveError::NonFinite { t: 0.0 }, "{m}");
    }
}

#[test]
fn a_field_that_turns_nan_later_is_reported_where_it_does() {
    // f is NaN for t > 0.5 whatever the state: no step size can help.
    let f = FnField::new(1, |t, _y: &[f64], dy: &mut [f64]| dy[0] = if t > 0.5 { f64::NAN } else { 1.0 });
    for &m in Method::all() {
        match solve(&f, 0.0, &[0.0], &[1.0], &opts(m)).unwrap_err() {
            SolveError::NonFinite { t } => assert!((t - 0.5).abs() < 0.02, "{m}: t = {t}"),
            other => panic!("{m}: {other:?}"),
        }
    }
}

#[test]
fn max_steps_is_enforced() {
    for &m in Method::all() {
        let o = SolveOptions { max_steps: 3, ..opts(m) };
        match solve(&decay(), 0.0, &[1.0], &[1.0], &o).unwrap_err() {
            SolveError::MaxStepsReached { t, max_steps: 3 } => {
                assert!(t > 0.0 && t < 1.0, "{m}: t = {t}")
            }
            other => panic!("{m}: {other:?}"),
        }
    }
    // Exactly enough steps is fine: 0.25 × 4.
    let o = SolveOptions { method: Method::Rk4, dt: Some(0.25), max_steps: 4, ..Default::default() };
    assert_eq!(solve(&decay(), 0.0, &[1.0], &[1.0], &o).unwrap().stats.accepted, 4);
}

fn invalid_options(o: &SolveOptions) -> String {
    match solve(&decay(), 0.0, &[1.0], &[1.0], o) {
        Err(SolveError::InvalidOptions { what }) => what,
        other => panic!("{o:?}: expected InvalidOptions, got {other:?}"),
    }
}

#[test]
fn invalid_options_are_rejected() {
    let d = SolveOptions::default();
    for (o, needle) in [
        (SolveOptions { rtol: -1e-6, ..d }, "rtol"),
        (SolveOptions { rtol: f64::NAN, ..d }, "rtol"),
        (SolveOptions { atol: f64::INFINITY, ..d }, "atol"),
        (SolveOptions { rtol: 0.0, atol: 0.0, ..d }, "both be 0"),
        (SolveOptions { dt: Some(0.0), ..d }, "dt"),
        (SolveOptions { dt: Some(-0.1), ..d }, "dt"),
        (SolveOptions { dt: Some(f64::NAN), ..d }, "dt"),
        (SolveOptions { method: Method::Rk4, dt: None, ..d }, "fixed-step"),
        (SolveOptions { max_steps: 0, ..d }, "max_steps"),
        (SolveOptions { controller: Controller { safety: 1.5, ..Controller::default() }, ..d }, "safety"),
        (SolveOptions { controller: Controller { factormin: 0.0, ..Controller::default() }, ..d }, "factormin"),
        (SolveOptions { controller: Controller { factormax: 0.5, ..Controller::default() }, ..d }, "factormax"),
        (SolveOptions { controller: Controller { pcoeff: f64::NAN, ..Controller::default() }, ..d }, "finite"),
    ] {
        let what = invalid_options(&o);
        assert!(what.contains(needle), "{o:?}: {what}");
    }
    // Tolerances do not matter at fixed step.
    let o = SolveOptions { method: Method::Euler, dt: Some(0.1), rtol: -1.0, ..d };
    assert!(solve(&decay(), 0.0, &[1.0], &[1.0], &o).is_ok());
    // Wrong state length; a system without state.
    let err = solve(&decay(), 0.0, &[1.0, 2.0], &[1.0], &d).unwrap_err();
    assert!(matches!(err, SolveError::InvalidOptions { ref what } if what.contains("2 values")), "{err}");
    let empty = FnField::new(0, |_t, _y: &[f64], _dy: &mut [f64]| {});
    assert!(matches!(solve(&empty, 0.0, &[], &[1.0], &d), Err(SolveError::InvalidOptions { .. })));
}

#[test]
fn invalid_times_are_rejected() {
    let d = SolveOptions::default();
    for (t0, saveat, needle) in [
        (0.0, vec![], "no output times"),
        (0.0, vec![0.5, f64::NAN], "#1"),
        (0.0, vec![0.5, f64::INFINITY], "#1"),
        (0.0, vec![0.5, 0.2, 1.0], "non-decreasing"),
        (1.0, vec![0.5, 2.0], "before the start time"),
        (1.0, vec![0.0], "backwards"),
        (f64::NAN, vec![1.0], "t0"),
        (f64::NEG_INFINITY, vec![1.0], "t0"),
    ] {
        match solve(&decay(), t0, &[1.0], &saveat, &d) {
            Err(SolveError::InvalidTimes { what }) => {
                assert!(what.contains(needle), "{saveat:?}: {what}")
            }
            other => panic!("t0 = {t0}, {saveat:?}: {other:?}"),
        }
    }
}

#[test]
fn trivial_and_repeated_save_times() {
    for &m in Method::all() {
        // Nothing to integrate: y0 back, no work.
        let sol = solve(&decay(), 2.0, &[3.0], &[2.0, 2.0], &opts(m)).unwrap();
        assert_eq!(sol.y, [3.0, 3.0]);
        assert_eq!(sol.stats.nfe, 0);
        // t0 and repeated times are saved exactly / identically.
        let sol = solve(&decay(), 0.0, &[1.0], &[0.0, 0.5, 0.5, 1.0], &opts(m)).unwrap();
        assert_eq!(sol.y[0], 1.0);
        assert_eq!(sol.y[1], sol.y[2]);
        assert!((sol.y[3] - (-1.0f64).exp()).abs() < 5e-3, "{m}");
    }
}

/// None of these may panic, whatever they return.
#[test]
fn garbage_never_panics() {
    let vals = [0.0, -0.0, 1e-300, -1.0, 1e300, f64::MAX, f64::MIN, f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
    let d = SolveOptions { max_steps: 200, ..Default::default() };
    for &m in Method::all() {
        for &v in &vals {
            let all = [
                SolveOptions { method: m, rtol: v, dt: Some(0.1), ..d },
                SolveOptions { method: m, atol: v, dt: Some(0.1), ..d },
                SolveOptions { method: m, dt: Some(v), ..d },
                SolveOptions {
                    method: m,
                    controller: Controller { icoeff: v, ..Controller::default() },
                    dt: Some(0.1),
                    ..d
                },
            ];
            for o in &all {
                let _ = solve(&decay(), 0.0, &[1.0], &[1.0], o);
                let _ = solve(&decay(), v, &[1.0], &[1.0], o);
                let _ = solve(&decay(), 0.0, &[v], &[1.0], o);
                let _ = solve(&decay(), 0.0, &[1.0], &[v], o);
                let _ = solve(&decay(), f64::MIN, &[1.0], &[f64::MAX], o);
                let _ = solve_batch(&decay(), 0.0, &[1.0, v], &[1.0], o, 2);
            }
        }
    }
}
