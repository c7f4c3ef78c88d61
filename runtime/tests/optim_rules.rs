//! Optimiser update rules against independently computed values, their
//! convergence, exact resumption from saved state, and their errors.

use nde_runtime::train::{Optimizer, Rule, Schedule, TrainError};

/// `f(θ) = ½ Σ a_i θ_i²` with `a = [1, 3]`: gradient `a ⊙ θ`.
fn quadratic_grad(th: &[f64]) -> Vec<f64> {
    th.iter().zip([1.0, 3.0]).map(|(t, a)| a * t).collect()
}

/// Three steps on the quadratic from `[1, -2]` at a constant rate.
fn three_steps(rule: Rule, lr: f64) -> Vec<f64> {
    let mut opt = Optimizer::new(rule, Schedule::constant(lr), 2).unwrap();
    let mut th = vec![1.0, -2.0];
    for _ in 0..3 {
        let g = quadratic_grad(&th);
        assert_eq!(opt.step(&mut th, &g).unwrap(), lr);
    }
    assert_eq!(opt.steps(), 3);
    th
}

#[test]
fn updates_match_reference_values() {
    // Reference: a separate scalar implementation of PyTorch's formulas in
    // Python float64 (same libm `pow`, correctly rounded `sqrt`), printed
    // with repr. Plain SGD is also checkable by hand: 0.9³ and −2 · 0.7³.
    let sgd = |momentum, dampening, nesterov, weight_decay| Rule::Sgd { momentum, dampening, nesterov, weight_decay };
    let adam = |weight_decay| Rule::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay };
    let cases: [(&str, Rule, f64, [f64; 2]); 8] = [
        ("sgd", Rule::sgd(0.0), 0.1, [0.7290000000000001, -0.6859999999999999]),
        ("sgd momentum", sgd(0.9, 0.1, false, 0.01), 0.1, [0.50499568619, 0.48033439962]),
        ("sgd nesterov", sgd(0.9, 0.0, true, 0.0), 0.1, [0.32732100000000003, 0.6963460000000001]),
        ("adam", Rule::adam(), 0.1, [0.701586274504415, -1.7006233917912488]),
        ("adam l2", adam(0.1), 0.1, [0.7015862742210723, -1.7006233917747835]),
        (
            "adamw",
            Rule::AdamW { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.1 },
            0.1,
            [0.6751012231892008, -1.6443686833067828],
        ),
        ("rmsprop", Rule::rmsprop(), 0.01, [0.7799822819823541, -1.7753494441022075]),
        (
            "rmsprop centered",
            Rule::RmsProp { alpha: 0.99, eps: 1e-8, momentum: 0.5, centered: true, weight_decay: 0.1 },
            0.01,
            [0.6712214538930158, -1.6641709098726991],
        ),
    ];
    for (name, rule, lr, want) in cases {
        let got = three_steps(rule, lr);
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= 2.0 * f64::EPSILON * w.abs(), "{name}: {got:?} vs {want:?}");
        }
    }
}

#[test]
fn first_adam_step_is_a_signed_step_of_the_learning_rate() {
    // m̂ = g, v̂ = g²: θ − η g / (|g| + ε).
    let mut opt = Optimizer::new(Rule::adam(), Schedule::constant(0.05), 3).unwrap();
    let mut th = vec![1.0, -1.0, 0.5];
    opt.step(&mut th, &[4.0, -0.25, 1e-3]).unwrap();
    let want = [1.0 - 0.05 * 4.0 / (4.0 + 1e-8), -1.0 + 0.05 * 0.25 / (0.25 + 1e-8), 0.5 - 0.05 * 1e-3 / (1e-3 + 1e-8)];
    for (g, w) in th.iter().zip(want) {
        assert!((g - w).abs() < 1e-15, "{th:?} vs {want:?}");
    }
}

/// Runs `steps` updates of `rule` on `grad`, returning the final point.
fn minimise(rule: Rule, lr: Schedule, start: &[f64], steps: usize, grad: impl Fn(&[f64]) -> Vec<f64>) -> Vec<f64> {
    let mut opt = Optimizer::new(rule, lr, start.len()).unwrap();
    let mut th = start.to_vec();
    for _ in 0..steps {
        let g = grad(&th);
        opt.step(&mut th, &g).unwrap();
    }
    th
}

#[test]
fn every_rule_minimises_a_quadratic() {
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let c = Schedule::constant;
    // RMSprop's steps stay near η·sign(g): it needs a decaying rate to settle.
    let rules = [
        ("sgd", Rule::sgd(0.0), c(0.1)),
        ("sgd momentum", Rule::sgd(0.9), c(0.05)),
        ("nesterov", Rule::Sgd { momentum: 0.9, dampening: 0.0, nesterov: true, weight_decay: 0.0 }, c(0.05)),
        ("adam", Rule::adam(), c(0.05)),
        ("adamw", Rule::adamw(), c(0.05)),
        ("rmsprop", Rule::rmsprop(), Schedule::cosine(0.01, 2000)),
    ];
    for (name, rule, lr) in rules {
        let th = minimise(rule, lr, &[1.0, -2.0], 2000, quadratic_grad);
        assert!(norm(&th) < 1e-3, "{name}: ended at {th:?}");
    }
}

#[test]
fn adam_and_momentum_find_the_rosenbrock_minimum() {
    // f = (1 − x)² + 100 (y − x²)², minimum at (1, 1).
    let grad = |v: &[f64]| {
        let (x, y) = (v[0], v[1]);
        vec![-2.0 * (1.0 - x) - 400.0 * x * (y - x * x), 200.0 * (y - x * x)]
    };
    let adam = minimise(Rule::adam(), Schedule::constant(0.01), &[-1.2, 1.0], 20_000, grad);
    assert!((adam[0] - 1.0).abs() < 1e-3 && (adam[1] - 1.0).abs() < 2e-3, "adam: {adam:?}");
    let sgd = minimise(Rule::sgd(0.9), Schedule::constant(2e-4), &[-1.2, 1.0], 50_000, grad);
    assert!((sgd[0] - 1.0).abs() < 1e-3 && (sgd[1] - 1.0).abs() < 2e-3, "sgd momentum: {sgd:?}");
}

#[test]
fn restored_state_continues_bit_for_bit() {
    let schedule = Schedule::Cosine { init: 0.0, peak: 0.05, warmup: 3, total: 20, end: 1e-3 };
    let rules = [
        Rule::sgd(0.9),
        Rule::Sgd { momentum: 0.8, dampening: 0.2, nesterov: false, weight_decay: 1e-3 },
        Rule::adam(),
        Rule::adamw(),
        Rule::rmsprop(),
        Rule::RmsProp { alpha: 0.9, eps: 1e-6, momentum: 0.3, centered: true, weight_decay: 1e-2 },
    ];
    let grad = |v: &[f64]| v.iter().enumerate().map(|(i, x)| (i as f64 + 1.0) * x.sin() + x * x * x).collect();
    for rule in rules {
        let start = [0.3, -1.1, 2.0, 0.7];
        let mut straight = Optimizer::new(rule, schedule, 4).unwrap();
        let mut th = start.to_vec();
        let mut saved = None;
        for k in 0..12 {
            if k == 5 {
                saved = Some((straight.state(), th.clone()));
            }
            let g: Vec<f64> = grad(&th);
            straight.step(&mut th, &g).unwrap();
        }
        let (state, mut resumed_th) = saved.unwrap();
        let mut resumed = Optimizer::new(rule, schedule, 4).unwrap();
        resumed.restore(&state).unwrap();
        assert_eq!(resumed.steps(), 5);
        for _ in 5..12 {
            let g: Vec<f64> = grad(&resumed_th);
            resumed.step(&mut resumed_th, &g).unwrap();
        }
        assert_eq!(resumed_th, th, "{}", rule.name());
        assert_eq!(resumed, straight, "{}", rule.name());
    }
}

#[test]
fn state_names_follow_pytorch() {
    let names = |rule: Rule| {
        let opt = Optimizer::new(rule, Schedule::constant(0.1), 2).unwrap();
        opt.state().into_iter().map(|(n, _)| n).collect::<Vec<_>>()
    };
    assert_eq!(names(Rule::sgd(0.0)), ["step"]);
    assert_eq!(names(Rule::sgd(0.9)), ["step", "momentum_buffer"]);
    assert_eq!(names(Rule::adam()), ["step", "exp_avg", "exp_avg_sq"]);
    let centered = Rule::RmsProp { alpha: 0.99, eps: 1e-8, momentum: 0.1, centered: true, weight_decay: 0.0 };
    assert_eq!(names(centered), ["step", "square_avg", "momentum_buffer", "grad_avg"]);
}

#[test]
fn bad_hyperparameters_lengths_and_states_are_errors() {
    let c = Schedule::constant(0.1);
    let bad_beta = Rule::Adam { beta1: 1.0, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 };
    assert!(matches!(Optimizer::new(bad_beta, c, 2), Err(TrainError::InvalidHyperparameter { name: "beta1", .. })));
    let nesterov = Rule::Sgd { momentum: 0.0, dampening: 0.0, nesterov: true, weight_decay: 0.0 };
    assert!(Optimizer::new(nesterov, c, 2).is_err());
    assert!(Optimizer::new(Rule::adam(), Schedule::constant(f64::NAN), 2).is_err());
    assert!(Optimizer::new(Rule::rmsprop(), Schedule::constant(-1.0), 2).is_err());

    let mut opt = Optimizer::new(Rule::adam(), c, 2).unwrap();
    let mut th = vec![1.0, 2.0];
    let err = opt.step(&mut th, &[1.0]).unwrap_err();
    assert_eq!(err, TrainError::LengthMismatch { what: "the gradient".into(), expected: 2, got: 1 });
    assert_eq!(opt.step(&mut th, &[1.0, f64::NAN]).unwrap_err(), TrainError::NonFiniteGradient { index: 1 });
    assert_eq!((th.as_slice(), opt.steps()), (&[1.0, 2.0][..], 0), "a refused step changes nothing");

    let mut state = opt.state();
    state[1].1.pop();
    assert!(matches!(opt.restore(&state), Err(TrainError::LengthMismatch { .. })));
    let sgd_state = Optimizer::new(Rule::sgd(0.9), c, 2).unwrap().state();
    let err = opt.restore(&sgd_state).unwrap_err();
    assert!(err.to_string().contains("momentum_buffer"), "{err}");
    let half_step = vec![("step".to_string(), vec![1.5])];
    assert!(matches!(
        Optimizer::new(Rule::sgd(0.0), c, 2).unwrap().restore(&half_step),
        Err(TrainError::BadState { .. })
    ));
}
