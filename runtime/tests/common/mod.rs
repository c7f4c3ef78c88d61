//! Hand-written systems with known solutions, shared by the runtime's
//! integration tests.
#![allow(dead_code)]

use nde_runtime::term::{FnField, VectorField};

/// `y' = -y`, solution `y0 e^{-t}`.
pub fn decay() -> impl VectorField {
    FnField::new(1, |_t, y: &[f64], dy: &mut [f64]| dy[0] = -y[0])
}

/// `(y, v)' = (v, -y)`, from `(1, 0)`: `(cos t, -sin t)`.
pub fn oscillator() -> impl VectorField {
    FnField::new(2, |_t, y: &[f64], dy: &mut [f64]| {
        dy[0] = y[1];
        dy[1] = -y[0];
    })
}

/// ALGORITHMS.md §1.6 item 2: `y1' = -2t y1`, `(y2, y3)' = (y3, -y2)`, a
/// non-autonomous, non-linear-in-t problem.
pub fn gauss_osc() -> impl VectorField {
    FnField::new(3, |t, y: &[f64], dy: &mut [f64]| {
        dy[0] = -2.0 * t * y[0];
        dy[1] = y[2];
        dy[2] = -y[1];
    })
}

/// Exact solution of [`gauss_osc`] from `(1, 1, 0)` at `t`.
pub fn gauss_osc_exact(t: f64) -> [f64; 3] {
    [(-t * t).exp(), t.cos(), -t.sin()]
}

/// Lorenz with σ = 10, ρ = 28, β = 8/3.
pub fn lorenz() -> impl VectorField {
    FnField::new(3, |_t, u: &[f64], du: &mut [f64]| {
        du[0] = 10.0 * (u[1] - u[0]);
        du[1] = u[0] * (28.0 - u[2]) - u[1];
        du[2] = u[0] * u[1] - (8.0 / 3.0) * u[2];
    })
}

/// `n` evenly spaced times from `a` to `b` inclusive (`b` exact).
pub fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| if i + 1 == n { b } else { a + (b - a) * i as f64 / (n - 1) as f64 }).collect()
}

/// Max absolute difference.
pub fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// Least-squares slope of `log(err)` against `log(h)`.
pub fn loglog_slope(h: &[f64], err: &[f64]) -> f64 {
    let xs: Vec<f64> = h.iter().map(|v| v.ln()).collect();
    let ys: Vec<f64> = err.iter().map(|v| v.ln()).collect();
    let n = xs.len() as f64;
    let mx = xs.iter().sum::<f64>() / n;
    let my = ys.iter().sum::<f64>() / n;
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    sxy / sxx
}
