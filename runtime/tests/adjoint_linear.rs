//! ALGORITHMS.md §8.5 on `y' = θ y`: the discrete adjoint is the gradient
//! of the numerical solution (against central differences of it, for every
//! method, with save times between steps and a clipped last step), and the
//! continuous adjoints approach the exact `dy(T)/dθ = T y0 e^{θT}`.

mod adjoint_support;

use adjoint_support::{central, dot, loss, max_rel, opts, save_times, weights, Linear};
use nde_runtime::{gradient, gradient_fixed, Adjoint, Cotangent, Method};

const THETA: f64 = -0.7;
const Y0: f64 = 1.3;
const T1: f64 = 2.0;

/// Discrete gradient and central differences of `L = w · y(saves)` at
/// constant step `dt` (the step sequence is then independent of θ).
fn fixed_step_case(m: Method, dt: f64) -> (Vec<f64>, Vec<f64>) {
    let ts = save_times(5, T1);
    let w = weights(ts.len(), 7);
    let o = opts(m, 1e-6, Some(dt));
    let f = Linear { theta: THETA };
    let (sol, g) =
        gradient_fixed(&f, 0.0, &[Y0], &ts, &o, Adjoint::default(), None, &mut |_| Cotangent::states(w.clone()))
            .expect("gradient");
    assert!(g.forward.accepted as f64 >= T1 / dt, "{m}: {:?}", g.forward);
    assert_eq!(sol.y.len(), ts.len());
    let make = |p: &[f64]| Linear { theta: p[0] };
    let by_theta = |p: &[f64]| loss(&make, p, &[Y0], &ts, &o, true, &w);
    let by_y0 = |y: &[f64]| loss(&make, &[THETA], y, &ts, &o, true, &w);
    let fd = [central(&by_theta, &[THETA], 1e-3)[0], central(&by_y0, &[Y0], 1e-3)[0]];
    (vec![g.params[0], g.y0[0]], fd.to_vec())
}

#[test]
fn discrete_matches_differences_of_the_fixed_step_solution() {
    // dt = 0.13 leaves a short last step and puts every save time inside a
    // step, so the dense output's derivative is exercised for every method.
    for &m in Method::all() {
        let (grad, fd) = fixed_step_case(m, 0.13);
        let err = max_rel(&grad, &fd, 1e-3);
        assert!(err < 1e-10, "{m}: discrete {grad:?} vs differences {fd:?} (rel {err:e})");
    }
}

#[test]
fn discrete_gradient_is_exact_for_euler() {
    // Euler at step h: y_k = (1 + θh)^k y0, so with L = y(T) at T = K h:
    // dL/dθ = K h (1 + θh)^(K-1) y0 and dL/dy0 = (1 + θh)^K.
    let (h, k) = (0.125, 16);
    let f = Linear { theta: THETA };
    let o = opts(Method::Euler, 1e-6, Some(h));
    let (_, g) =
        gradient(&f, 0.0, &[Y0], &[h * k as f64], &o, Adjoint::default(), None, &mut |_| Cotangent::states(vec![1.0]))
            .unwrap();
    let q: f64 = 1.0 + THETA * h;
    let want_theta = k as f64 * h * q.powi(k - 1) * Y0;
    assert!((g.params[0] - want_theta).abs() < 1e-14, "{} vs {want_theta}", g.params[0]);
    assert!((g.y0[0] - q.powi(k)).abs() < 1e-15, "{} vs {}", g.y0[0], q.powi(k));
    assert_eq!(g.backward.accepted, k as u64);
}

#[test]
fn discrete_matches_differences_of_adaptive_solves_loosely() {
    // With step-size control the step sequence moves with θ, which the
    // discrete adjoint (like diffrax) treats as constant: at a tight
    // tolerance the two still agree closely.
    let ts = save_times(4, T1);
    let w = weights(ts.len(), 3);
    for m in [Method::Bosh3, Method::Dopri5, Method::Tsit5] {
        let o = opts(m, 1e-11, None);
        let f = Linear { theta: THETA };
        let (_, g) =
            gradient(&f, 0.0, &[Y0], &ts, &o, Adjoint::default(), None, &mut |_| Cotangent::states(w.clone())).unwrap();
        let make = |p: &[f64]| Linear { theta: p[0] };
        let by_theta = |p: &[f64]| loss(&make, p, &[Y0], &ts, &o, false, &w);
        let fd = central(&by_theta, &[THETA], 1e-3)[0];
        let err = ((g.params[0] - fd) / fd).abs();
        assert!(err < 1e-8, "{m}: discrete {} vs differences {fd} (rel {err:e})", g.params[0]);
    }
}

#[test]
fn every_adjoint_approaches_the_exact_gradient() {
    // L = y(T): dL/dθ = T y0 e^{θT}, dL/dy0 = e^{θT}.
    let exact = [T1 * Y0 * (THETA * T1).exp(), (THETA * T1).exp()];
    for m in [Method::Bosh3, Method::Dopri5, Method::Tsit5] {
        for rtol in [1e-6, 1e-9] {
            for adjoint in [Adjoint::default(), Adjoint::Backsolve, Adjoint::Interpolated] {
                let f = Linear { theta: THETA };
                let o = opts(m, rtol, None);
                let (_, g) =
                    gradient(&f, 0.0, &[Y0], &[T1], &o, adjoint, None, &mut |_| Cotangent::states(vec![1.0])).unwrap();
                let err = max_rel(&[g.params[0], g.y0[0]], &exact, 1e-12);
                assert!(err < 30.0 * rtol, "{m} {} rtol {rtol:e}: rel error {err:e}", adjoint.name());
            }
        }
    }
}

#[test]
fn continuous_adjoints_add_jumps_at_save_times() {
    // L = Σ w_i y(t_i): dL/dθ = Σ w_i t_i y0 e^{θ t_i}.
    let ts = [0.0, 0.4, 0.4, 1.1, T1];
    let w = weights(ts.len(), 11);
    let want_theta: f64 = ts.iter().zip(&w).map(|(t, w)| w * t * Y0 * (THETA * t).exp()).sum();
    let want_y0: f64 = ts.iter().zip(&w).map(|(t, w)| w * (THETA * t).exp()).sum();
    for adjoint in [Adjoint::default(), Adjoint::Backsolve, Adjoint::Interpolated] {
        let f = Linear { theta: THETA };
        let o = opts(Method::Tsit5, 1e-9, None);
        let (sol, g) = gradient(&f, 0.0, &[Y0], &ts, &o, adjoint, None, &mut |_| Cotangent::states(w.clone())).unwrap();
        let l: f64 = dot(&sol.y, &w);
        assert!(l.is_finite());
        let err = max_rel(&[g.params[0], g.y0[0]], &[want_theta, want_y0], 1e-12);
        assert!(
            err < 1e-7,
            "{}: {:?} vs {:?} (rel {err:e})",
            adjoint.name(),
            [g.params[0], g.y0[0]],
            [want_theta, want_y0]
        );
    }
}

#[test]
fn nothing_to_integrate_gives_the_identity() {
    let f = Linear { theta: THETA };
    for adjoint in [Adjoint::default(), Adjoint::Backsolve, Adjoint::Interpolated] {
        let (_, g) =
            gradient(&f, 0.5, &[Y0], &[0.5, 0.5], &opts(Method::Tsit5, 1e-6, None), adjoint, None, &mut |_| {
                Cotangent::states(vec![2.0, 3.0])
            })
            .unwrap();
        assert_eq!((g.y0.as_slice(), g.params.as_slice()), (&[5.0][..], &[0.0][..]), "{}", adjoint.name());
    }
}
