//! Failures of the stiff solvers: each is a typed error carrying the time
//! at which it happened, never a panic or a silently wrong number. Also the
//! validation of options and a singular matrix that a smaller step cures.

use nde_runtime::stiff::{solve_stiff, FnJacField, StiffMethod, StiffOptions};
use nde_runtime::SolveError;

fn opts(method: StiffMethod) -> StiffOptions {
    StiffOptions { method, rtol: 1e-6, atol: 1e-9, ..StiffOptions::default() }
}

/// A model whose derivative kernel produces NaN from `t = 1` on (say a
/// division by zero), and whose dynamics turn stiff there so that the
/// implicit methods must ask for a fresh Jacobian.
#[test]
fn a_jacobian_with_nan_is_a_singular_matrix_error_at_its_time() {
    let f = FnJacField::new(
        1,
        |t, y: &[f64], dy: &mut [f64]| dy[0] = if t < 1.0 { -y[0] } else { -1000.0 * y[0] },
        |t, _y: &[f64], j: &mut [f64]| j[0] = if t < 1.0 { -1.0 } else { f64::NAN },
    );
    for &method in StiffMethod::all() {
        let e = solve_stiff(&f, 0.0, &[1.0], &[3.0], &opts(method)).unwrap_err();
        let t = e.time().unwrap();
        assert!(matches!(e, SolveError::SingularMatrix { not_finite: true, .. }), "{method}: {e:?}");
        assert!((1.0..1.5).contains(&t), "{method}: at t = {t}");
        assert!(e.to_string().contains("NaN or infinite") && e.to_string().contains(&format!("t = {t}")), "{e}");
    }
}

/// `y' = a y` with `a = 1/(hγ)` makes Rodas5's `I/(hγ) − J` exactly
/// singular at the first step `h`: an adaptive solve retries with a
/// smaller step and succeeds; a constant-step solve cannot and reports it.
#[test]
fn an_exactly_singular_iteration_matrix() {
    let h = 0.5;
    let a = 1.0 / (h * 0.19);
    let f = FnJacField::new(
        1,
        move |_t, y: &[f64], dy: &mut [f64]| dy[0] = a * y[0],
        move |_t, _y: &[f64], j: &mut [f64]| j[0] = a,
    );
    let adaptive = StiffOptions { dt: Some(h), rtol: 1e-8, atol: 1e-8, ..opts(StiffMethod::Rodas5) };
    let sol = solve_stiff(&f, 0.0, &[1.0], &[1.0], &adaptive).unwrap();
    assert!(sol.stats.rejected >= 1, "{:?}", sol.stats);
    let rel = (sol.final_state()[0] / a.exp() - 1.0).abs();
    assert!(rel < 1e-6, "relative error {rel}");

    let constant = StiffOptions { adaptive: false, ..adaptive };
    let e = solve_stiff(&f, 0.0, &[1.0], &[1.0], &constant).unwrap_err();
    assert_eq!(e, SolveError::SingularMatrix { t: 0.0, h, not_finite: false });
    assert!(e.to_string().contains("singular at t = 0"), "{e}");
}

/// `f` is NaN below `y = 0.5` (a model leaving its domain) while the exact
/// solution `e^{−t}` crosses 0.5 at `t = ln 2`: no step can get past it.
/// The implicit methods report their Newton failure there, Rodas5 (no
/// Newton iteration) the NaN state.
#[test]
fn newton_failure_that_no_step_size_cures() {
    let f = FnJacField::new(
        1,
        |_t, y: &[f64], dy: &mut [f64]| dy[0] = if y[0] >= 0.5 { -y[0] } else { f64::NAN },
        |_t, _y: &[f64], j: &mut [f64]| j[0] = -1.0,
    );
    let ln2 = std::f64::consts::LN_2;
    for &method in StiffMethod::all() {
        let e = solve_stiff(&f, 0.0, &[1.0], &[2.0], &opts(method)).unwrap_err();
        let t = e.time().unwrap();
        match method {
            StiffMethod::Rodas5 => assert!(matches!(e, SolveError::NonFinite { .. }), "{method}: {e:?}"),
            _ => assert!(matches!(e, SolveError::NewtonFailure { .. }), "{method}: {e:?}"),
        }
        assert!((t - ln2).abs() < 1e-4, "{method}: at t = {t}");
        println!("{method}: {e}");
    }
}

/// `y' = y²`, `y(0) = 1` blows up at `t = 1`: the step size collapses there
/// (radau5's collocation steps may land a hair past the pole, within
/// `1e-9`, before they collapse).
#[test]
fn blow_up_collapses_the_step_at_its_time() {
    let f = FnJacField::new(
        1,
        |_t, y: &[f64], dy: &mut [f64]| dy[0] = y[0] * y[0],
        |_t, y: &[f64], j: &mut [f64]| j[0] = 2.0 * y[0],
    );
    for &method in StiffMethod::all() {
        let e = solve_stiff(&f, 0.0, &[1.0], &[2.0], &opts(method)).unwrap_err();
        let t = e.time().unwrap();
        println!("{method}: {e}");
        assert!(matches!(e, SolveError::StepSizeTooSmall { .. } | SolveError::NewtonFailure { .. }), "{method}: {e:?}");
        assert!((0.99..=1.0 + 1e-9).contains(&t), "{method}: at t = {t}");
    }
}

#[test]
fn max_steps_and_invalid_options_are_reported() {
    let f =
        FnJacField::new(1, |_t, y: &[f64], dy: &mut [f64]| dy[0] = -y[0], |_t, _y: &[f64], j: &mut [f64]| j[0] = -1.0);
    for &method in StiffMethod::all() {
        let few = StiffOptions { max_steps: 3, ..opts(method) };
        let e = solve_stiff(&f, 0.0, &[1.0], &[100.0], &few).unwrap_err();
        assert!(matches!(e, SolveError::MaxStepsReached { max_steps: 3, .. }), "{method}: {e:?}");

        let bad = |o: StiffOptions| solve_stiff(&f, 0.0, &[1.0], &[1.0], &o).unwrap_err();
        assert!(matches!(bad(StiffOptions { rtol: -1.0, ..opts(method) }), SolveError::InvalidOptions { .. }));
        assert!(matches!(bad(StiffOptions { adaptive: false, ..opts(method) }), SolveError::InvalidOptions { .. }));
        assert!(matches!(
            solve_stiff(&f, 0.0, &[1.0, 2.0], &[1.0], &opts(method)),
            Err(SolveError::InvalidOptions { .. })
        ));
        assert!(matches!(solve_stiff(&f, 0.0, &[1.0], &[], &opts(method)), Err(SolveError::InvalidTimes { .. })));
        assert_eq!(solve_stiff(&f, 0.0, &[f64::NAN], &[1.0], &opts(method)), Err(SolveError::NonFinite { t: 0.0 }));
    }
    let bdf_constant = StiffOptions { adaptive: false, dt: Some(0.1), ..opts(StiffMethod::Bdf) };
    let e = solve_stiff(&f, 0.0, &[1.0], &[1.0], &bdf_constant).unwrap_err();
    assert!(e.to_string().contains("bdf chooses its own step sizes"), "{e}");
}

/// Save times at `t0` only: nothing is integrated, nothing evaluated.
#[test]
fn saving_only_the_start_does_no_work() {
    let f =
        FnJacField::new(1, |_t, y: &[f64], dy: &mut [f64]| dy[0] = -y[0], |_t, _y: &[f64], j: &mut [f64]| j[0] = -1.0);
    for &method in StiffMethod::all() {
        let sol = solve_stiff(&f, 1.0, &[2.0], &[1.0, 1.0], &opts(method)).unwrap();
        assert_eq!(sol.y, vec![2.0, 2.0]);
        assert_eq!(sol.stats.nfe + sol.stats.njev + sol.stats.nlu, 0);
    }
}
