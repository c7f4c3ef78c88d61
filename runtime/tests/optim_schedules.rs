//! Learning-rate schedules at given steps, and gradient clipping by global
//! norm.

use nde_runtime::train::{clip_by_global_norm, global_norm, Optimizer, Rule, Schedule, TrainError};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-15 * b.abs().max(1e-300)
}

#[test]
fn schedules_give_the_documented_rates() {
    let c = Schedule::constant(0.003);
    assert!([0, 1, 10_000].iter().all(|&k| c.lr(k) == 0.003));

    let w = Schedule::Cosine { init: 0.0, peak: 0.1, warmup: 10, total: 110, end: 0.001 };
    for (k, want) in [(0, 0.0), (5, 0.05), (10, 0.1), (60, 0.0505), (110, 0.001), (5000, 0.001)] {
        assert!(close(w.lr(k), want), "cosine step {k}: {} vs {want}", w.lr(k));
    }
    // Without warmup, a quarter of the way: ½ (1 + cos(π/4)).
    let plain = Schedule::cosine(1.0, 100);
    assert!(close(plain.lr(25), 0.5 * (1.0 + std::f64::consts::FRAC_1_SQRT_2)), "{}", plain.lr(25));
    assert_eq!((plain.lr(0), plain.lr(100)), (1.0, 0.0));

    let s = Schedule::Step { lr: 0.1, every: 30, gamma: 0.1 };
    for (k, want) in [(0, 0.1), (29, 0.1), (30, 0.01), (59, 0.01), (65, 0.001)] {
        assert!(close(s.lr(k), want), "step decay at {k}: {} vs {want}", s.lr(k));
    }
}

#[test]
fn optimisers_follow_their_schedule() {
    let s = Schedule::Step { lr: 0.5, every: 2, gamma: 0.5 };
    let mut opt = Optimizer::new(Rule::sgd(0.0), s, 1).unwrap();
    let mut th = [0.0];
    let used: Vec<f64> = (0..5).map(|_| opt.step(&mut th, &[1.0]).unwrap()).collect();
    assert_eq!(used, [0.5, 0.5, 0.25, 0.25, 0.125]);
    assert_eq!(th[0], -(0.5 + 0.5 + 0.25 + 0.25 + 0.125));
    assert_eq!(opt.next_lr(), 0.125);
}

#[test]
fn invalid_schedules_are_errors() {
    let bad = [
        Schedule::constant(f64::INFINITY),
        Schedule::Cosine { init: 0.0, peak: 0.1, warmup: 20, total: 10, end: 0.0 },
        Schedule::Step { lr: 0.1, every: 0, gamma: 0.5 },
        Schedule::Step { lr: 0.1, every: 10, gamma: 0.0 },
    ];
    for s in bad {
        assert!(matches!(s.validate(), Err(TrainError::InvalidHyperparameter { .. })), "{s:?}");
    }
}

#[test]
fn clipping_scales_to_the_maximum_norm() {
    let mut g = [3.0, 4.0];
    assert_eq!(clip_by_global_norm(&mut g, 1.0).unwrap(), 5.0);
    assert!(close(g[0], 0.6) && close(g[1], 0.8), "{g:?}");
    assert!((global_norm(&g) - 1.0).abs() < 1e-15);

    let mut small = [0.3, -0.4];
    assert_eq!(clip_by_global_norm(&mut small, 1.0).unwrap(), 0.5);
    assert_eq!(small, [0.3, -0.4], "below the maximum nothing changes");

    let mut bad = [1.0, f64::NAN];
    assert!(clip_by_global_norm(&mut bad, 1.0).unwrap().is_nan());
    assert_eq!(bad[0], 1.0, "a NaN norm leaves the gradient for the caller to inspect");

    for max in [0.0, -1.0, f64::NAN] {
        assert!(clip_by_global_norm(&mut [1.0], max).is_err(), "max_norm {max}");
    }
}

#[test]
fn the_norm_neither_overflows_nor_underflows() {
    assert!(close(global_norm(&[1e300, 1e300]), 2f64.sqrt() * 1e300));
    assert!(close(global_norm(&[3e-300, 4e-300]), 5e-300));
    assert_eq!(global_norm(&[]), 0.0);
    assert_eq!(global_norm(&[1.0, f64::INFINITY]), f64::INFINITY);
}
