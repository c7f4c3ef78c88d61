//! Accuracy of the inline transcendental functions against libm, in ulps,
//! over wide ranges and edge cases (zeros, subnormals, huge values,
//! infinities, NaN, overflow thresholds, multiples of π/2).

use super::{compile, run, Rng};
use crate::ir::interp;
use crate::ir::{Builder, Function, Shape, UnaryOp};

/// Distance in units of the last place of `want`.
fn ulps(got: f64, want: f64) -> f64 {
    if got == want {
        return 0.0;
    }
    let w = want.abs();
    let ulp = if w < f64::MIN_POSITIVE {
        f64::from_bits(1)
    } else {
        f64::from_bits((w.to_bits() >> 52) << 52) * f64::EPSILON
    };
    (got - want).abs() / ulp
}

fn edge_cases() -> Vec<f64> {
    let pos = [
        0.0,
        f64::from_bits(1),
        1e-310,
        f64::MIN_POSITIVE,
        1e-300,
        1e-200,
        1e-20,
        1e-8,
        1e-3,
        0.125,
        0.5,
        0.5493,
        0.55,
        std::f64::consts::FRAC_PI_4,
        1.0,
        std::f64::consts::FRAC_PI_2,
        2.0,
        std::f64::consts::PI,
        10.0,
        18.5,
        19.99,
        20.0,
        20.01,
        30.0,
        36.0,
        40.0,
        59.0,
        61.0,
        100.0,
        700.0,
        708.39,
        709.78,
        709.79,
        710.0,
        744.44,
        745.13,
        745.2,
        746.0,
        1000.0,
        1e4,
        1e5,
        1e6,
        1073741823.0,
        1073741825.0,
        1e10,
        1e15,
        1e20,
        1e300,
        f64::MAX,
        f64::INFINITY,
    ];
    let mut v: Vec<f64> = pos.iter().flat_map(|&x| [x, -x]).collect();
    v.push(f64::NAN);
    // Near multiples of π/2 (hard for argument reduction).
    for k in [1.0, 2.0, 3.0, 7.0, 100.0, 1000.0, 12345.0, 1e6, 6e8] {
        let x = k * std::f64::consts::FRAC_PI_2;
        v.extend([x, f64::from_bits(x.to_bits() + 1), f64::from_bits(x.to_bits() - 1)]);
    }
    v
}

/// Random points: uniform on several scales and log-uniform magnitudes.
fn sweep(rng: &mut Rng, lo_exp: f64, hi_exp: f64, linear: f64, n: usize) -> Vec<f64> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        let x = if i % 2 == 0 {
            rng.uniform(-linear, linear)
        } else {
            let m = 10f64.powf(rng.uniform(lo_exp, hi_exp));
            if rng.next_u64().is_multiple_of(2) {
                m
            } else {
                -m
            }
        };
        v.push(x);
    }
    v
}

fn unary_fn(op: UnaryOp, n: usize) -> Function {
    let mut b = Builder::new("acc", n, 0);
    let y = b.state(0, Shape::vector(n));
    let r = b.unary(op, y);
    b.output(r);
    b.finish()
}

/// Max ulp error of `op` over `xs`; specials must match exactly.
fn measure(op: UnaryOp, xs: &[f64]) -> (f64, f64) {
    let f = unary_fn(op, xs.len());
    let j = compile(&f);
    let got = run(&j, &f, 0.0, xs, &[]);
    let mut worst = (0.0, 0.0);
    for (&x, &g) in xs.iter().zip(&got) {
        let w = interp::unary(op, x);
        if w.is_nan() || g.is_nan() || w.is_infinite() || g.is_infinite() {
            assert!(w.is_nan() && g.is_nan() || w == g, "{op:?}({x:e}) = {g:e}, libm says {w:e}");
            continue;
        }
        let e = ulps(g, w);
        if e > worst.0 {
            worst = (e, x);
        }
    }
    worst
}

fn check(op: UnaryOp, lo_exp: f64, hi_exp: f64, linear: f64, bound: f64) {
    let mut rng = Rng::new(0xacc + lo_exp.to_bits() % 97);
    let mut xs = edge_cases();
    xs.extend(sweep(&mut rng, lo_exp, hi_exp, linear, 20_000));
    let (worst, at) = measure(op, &xs);
    eprintln!("{op:?}: max error {worst:.2} ulp (at x = {at:e})");
    assert!(worst <= bound, "{op:?}: {worst} ulp at x = {at:e} exceeds {bound}");
}

#[test]
fn exp_within_2_ulp() {
    check(UnaryOp::Exp, -300.0, 2.86, 40.0, 2.0);
}

#[test]
fn log_within_2_ulp() {
    check(UnaryOp::Log, -320.0, 308.0, 4.0, 2.0);
}

#[test]
fn tanh_within_3_ulp() {
    check(UnaryOp::Tanh, -300.0, 2.0, 25.0, 3.0);
}

#[test]
fn sigmoid_within_3_ulp() {
    check(UnaryOp::Sigmoid, -300.0, 2.9, 50.0, 3.0);
}

#[test]
fn softplus_within_3_ulp() {
    check(UnaryOp::Softplus, -300.0, 3.0, 50.0, 3.0);
}

#[test]
fn gelu_within_4_ulp() {
    check(UnaryOp::Gelu, -300.0, 2.0, 12.0, 4.0);
}

#[test]
fn elu_within_2_ulp() {
    check(UnaryOp::Elu, -300.0, 3.0, 40.0, 2.0);
}

#[test]
fn sin_cos_within_2_ulp() {
    check(UnaryOp::Sin, -300.0, 12.0, 100.0, 2.0);
    check(UnaryOp::Cos, -300.0, 12.0, 100.0, 2.0);
}

#[test]
fn tan_within_3_ulp() {
    check(UnaryOp::Tan, -300.0, 12.0, 100.0, 3.0);
}

#[test]
fn signed_zeros_and_tiny_arguments() {
    let xs = [0.0, -0.0, 1e-300, -1e-300, f64::from_bits(1), -f64::from_bits(1)];
    for op in [UnaryOp::Tanh, UnaryOp::Sin, UnaryOp::Tan, UnaryOp::Elu] {
        let f = unary_fn(op, xs.len());
        let j = compile(&f);
        let got = run(&j, &f, 0.0, &xs, &[]);
        for (&x, &g) in xs.iter().zip(&got) {
            let w = interp::unary(op, x);
            assert_eq!(g.to_bits(), w.to_bits(), "{op:?}({x:e}) = {g:e}, libm says {w:e}");
        }
    }
}
