//! Bad input and numerical failures in gradients are typed errors naming
//! the time, never panics.

mod adjoint_support;

use adjoint_support::{opts, Linear};
use nde_runtime::term::FnDiffField;
use nde_runtime::{gradient, gradient_batch, Adjoint, BatchCotangent, BatchTimes, Cotangent, Method, SolveError};

const ALL: [Adjoint; 3] = [Adjoint::Discrete { checkpoints: None }, Adjoint::Backsolve, Adjoint::Interpolated];

#[test]
fn invalid_requests_are_reported() {
    let f = Linear { theta: -0.5 };
    let o = opts(Method::Tsit5, 1e-6, None);
    let zero = Adjoint::Discrete { checkpoints: Some(0) };
    let err = gradient(&f, 0.0, &[1.0], &[1.0], &o, zero, None, &mut |_| Cotangent::states(vec![1.0])).unwrap_err();
    assert!(matches!(err, SolveError::InvalidOptions { ref what } if what.contains("checkpoint")), "{err}");
    for adjoint in ALL {
        let err = gradient(&f, 0.0, &[1.0, 2.0], &[1.0], &o, adjoint, None, &mut |_| Cotangent::states(vec![1.0]))
            .unwrap_err();
        assert!(matches!(err, SolveError::InvalidOptions { ref what } if what.contains("2 values")), "{err}");
        let err = gradient(&f, 0.0, &[1.0], &[1.0, 2.0], &o, adjoint, None, &mut |_| Cotangent::states(vec![1.0]))
            .unwrap_err();
        assert!(
            matches!(err, SolveError::InvalidOptions { ref what } if what.contains("1 values") && what.contains("= 2")),
            "{err}"
        );
        let err = gradient(&f, 0.0, &[1.0], &[2.0, 1.0], &o, adjoint, None, &mut |_| Cotangent::states(vec![1.0; 2]))
            .unwrap_err();
        assert!(matches!(err, SolveError::InvalidTimes { .. }), "{err}");
    }
}

#[test]
fn a_non_finite_loss_gradient_names_its_save_time() {
    let f = Linear { theta: -0.5 };
    let o = opts(Method::Tsit5, 1e-6, None);
    let ts = [0.5, 1.0, 1.5];
    for adjoint in ALL {
        let err =
            gradient(&f, 0.0, &[1.0], &ts, &o, adjoint, None, &mut |_| Cotangent::states(vec![1.0, f64::NAN, 1.0]))
                .unwrap_err();
        assert_eq!(err, SolveError::NonFiniteAdjoint { t: 1.0 }, "{}", adjoint.name());
        let y0s = [1.0, 2.0, 3.0, 4.0];
        let mut cot = vec![1.0; 12];
        cot[2 * 3 + 2] = f64::INFINITY;
        let times = BatchTimes::Shared { t0: 0.0, saveat: &ts };
        let err = gradient_batch(&f, times, &y0s, &o, adjoint, 2, None, &mut |_| BatchCotangent::states(cot.clone()))
            .unwrap_err();
        let want = SolveError::InBatch { index: 2, error: Box::new(SolveError::NonFiniteAdjoint { t: 1.5 }) };
        assert_eq!(err, want, "{}", adjoint.name());
        assert!(err.to_string().contains("t = 1.5"), "{err}");
    }
}

#[test]
fn a_non_finite_adjoint_is_reported_near_its_time() {
    // The VJP is NaN before t = 0.5 (the forward field is fine).
    let f = FnDiffField::new(
        1,
        1,
        |_t, y: &[f64], dy: &mut [f64]| dy[0] = -y[0],
        |t, y: &[f64], a: &[f64], gy: &mut [f64], gp: &mut [f64]| {
            let bad = if t < 0.5 { f64::NAN } else { 0.0 };
            gy[0] = -a[0] + bad;
            gp[0] = a[0] * y[0];
        },
    );
    for m in [Method::Tsit5, Method::Rk4] {
        let o = opts(m, 1e-6, if m.is_adaptive() { None } else { Some(0.1) });
        for adjoint in ALL {
            let err = gradient(&f, 0.0, &[1.0], &[2.0], &o, adjoint, None, &mut |_| Cotangent::states(vec![1.0]))
                .unwrap_err();
            match err {
                SolveError::NonFiniteAdjoint { t } | SolveError::StepSizeTooSmall { t, .. } => {
                    assert!((0.0..=0.6).contains(&t), "{m} {}: t = {t}", adjoint.name())
                }
                other => panic!("{m} {}: unexpected {other:?}", adjoint.name()),
            }
        }
    }
}

#[test]
fn forward_failures_are_the_solves() {
    let blowup = FnDiffField::new(
        1,
        0,
        |_t, y: &[f64], dy: &mut [f64]| dy[0] = y[0] * y[0],
        |_t, y: &[f64], a: &[f64], gy: &mut [f64], _gp: &mut [f64]| gy[0] = 2.0 * a[0] * y[0],
    );
    let o = opts(Method::Tsit5, 1e-6, None);
    let want = nde_runtime::solve(&blowup, 0.0, &[1.0], &[2.0], &o).unwrap_err();
    for adjoint in ALL {
        let err = gradient(&blowup, 0.0, &[1.0], &[2.0], &o, adjoint, None, &mut |_| Cotangent::states(vec![1.0]))
            .unwrap_err();
        assert_eq!(err, want, "{}", adjoint.name());
    }
}
