//! Tests of the derivative passes: every derivative function against central
//! finite differences of the forward function (reference interpreter), the
//! VJP/JVP adjoint identity, Jacobian rows against one-hot VJPs, and the
//! compiled kernels (single and batched) against the interpreter — on every
//! op alone, on random functions over all ops, and on the example models.

mod models;
mod ops;
mod random;
mod random_fns;

use super::{jacobian, jvp, time_derivative, vjp};
use crate::codegen::{JitModule, JitOptions};
use crate::ir::interp::eval;
use crate::ir::verify::verify;
use crate::ir::Function;

pub(super) use crate::rng::SplitMix64 as Rng;

/// Tolerance of derivatives against finite differences, relative to `max(|fd|, 1)`.
const FD_TOL: f64 = 1e-6;
/// Parameter gradients are checked one component at a time up to this many parameters, and
/// along three random directions beyond.
const FD_PARAMS_EACH: usize = 64;

/// The four derivative functions of `f`.
pub(super) struct Derivs {
    pub vjp: Function,
    pub jvp: Function,
    pub jac: Function,
    pub dfdt: Function,
}

impl Derivs {
    pub fn of(f: &Function) -> Derivs {
        let d = Derivs { vjp: vjp(f), jvp: jvp(f), jac: jacobian(f), dfdt: time_derivative(f) };
        for g in d.all() {
            if let Err(e) = verify(g) {
                panic!("{e}\n{g}");
            }
        }
        d
    }
    pub fn all(&self) -> [&Function; 4] {
        [&self.vjp, &self.jvp, &self.jac, &self.dfdt]
    }
}

fn run(f: &Function, t: f64, y: &[f64], p: &[f64]) -> Vec<f64> {
    eval(f, t, y, p).unwrap_or_else(|e| panic!("{}: {e}", f.name))
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn axpy(x: &[f64], h: f64, d: &[f64]) -> Vec<f64> {
    x.iter().zip(d).map(|(a, b)| a + h * b).collect()
}

/// `|got - fd| ≤ FD_TOL · max(|fd|, 1)` elementwise.
fn assert_fd(got: &[f64], fd: &[f64], what: &str) {
    assert_eq!(got.len(), fd.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(fd).enumerate() {
        assert!(
            (g - w).abs() <= FD_TOL * w.abs().max(1.0),
            "{what}: element {i}: derivative {g:e} vs finite difference {w:e}"
        );
    }
}

/// `|a - b| ≤ tol · max(|a|, |b|, floor)` elementwise, NaN matching NaN.
pub(super) fn assert_close(a: &[f64], b: &[f64], tol: f64, floor: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        let ok = (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= tol * x.abs().max(y.abs()).max(floor);
        assert!(ok, "{what}: element {i}: {x:e} vs {y:e}");
    }
}

/// Central difference of `g` along a direction, step `h`.
fn central(g: impl Fn(f64) -> Vec<f64>, h: f64) -> Vec<f64> {
    let (up, down) = (g(h), g(-h));
    up.iter().zip(&down).map(|(u, d)| (u - d) / (2.0 * h)).collect()
}

/// Checks every derivative of `f` at `(t, y, p)` with the interpreter:
/// against finite differences, the adjoint identity and one-hot VJPs.
pub(super) fn check_point(f: &Function, d: &Derivs, t: f64, y: &[f64], p: &[f64], rng: &mut Rng, what: &str) {
    let (n, m) = (f.n_state, f.output_len());
    let h = |x: f64| 1e-6 * x.abs().max(1.0);
    // ∂f/∂y by columns.
    let cols: Vec<Vec<f64>> = (0..n)
        .map(|j| {
            let e: Vec<f64> = (0..n).map(|k| if k == j { 1.0 } else { 0.0 }).collect();
            central(|s| run(f, t, &axpy(y, s, &e), p), h(y[j]))
        })
        .collect();
    let jac = run(&d.jac, t, y, p);
    let fd_jac: Vec<f64> = (0..m).flat_map(|i| cols.iter().map(move |c| c[i])).collect();
    assert_fd(&jac, &fd_jac, &format!("{what}: jac"));

    let v = rng.vec(n, -1.0, 1.0);
    let a = rng.vec(m, -1.0, 1.0);
    let jv = run(&d.jvp, t, &[y, &v[..]].concat(), p);
    assert_fd(&jv, &central(|s| run(f, t, &axpy(y, s, &v), p), 1e-6), &format!("{what}: jvp"));

    let g = run(&d.vjp, t, &[y, &a[..]].concat(), p);
    assert_eq!(g.len(), n + f.n_param, "{what}: vjp length");
    let (gy, gp) = g.split_at(n);
    let fd_gy: Vec<f64> = cols.iter().map(|c| dot(&a, c)).collect();
    assert_fd(gy, &fd_gy, &format!("{what}: vjp (state part)"));
    let along = |w: &[f64], step: f64| dot(&a, &central(|s| run(f, t, y, &axpy(p, s, w)), step));
    if f.n_param <= FD_PARAMS_EACH {
        let fd_gp: Vec<f64> = (0..f.n_param)
            .map(|k| {
                let e: Vec<f64> = (0..f.n_param).map(|i| if i == k { 1.0 } else { 0.0 }).collect();
                along(&e, h(p[k]))
            })
            .collect();
        assert_fd(gp, &fd_gp, &format!("{what}: vjp (parameter part)"));
    } else {
        for _ in 0..3 {
            let w = rng.vec(f.n_param, -1.0, 1.0);
            assert_fd(&[dot(gp, &w)], &[along(&w, 1e-6)], &format!("{what}: vjp (parameters along a direction)"));
        }
    }

    let dt = run(&d.dfdt, t, y, p);
    assert_fd(&dt, &central(|s| run(f, t + s, y, p), h(t)), &format!("{what}: dfdt"));

    // ⟨a, J v⟩ = ⟨Jᵀ a, v⟩.
    let (l, r) = (dot(&a, &jv), dot(gy, &v));
    let scale: f64 = a.iter().zip(&jv).chain(gy.iter().zip(&v)).map(|(x, y)| (x * y).abs()).sum();
    assert!((l - r).abs() <= 1e-12 * scale.max(1e-300), "{what}: <a, Jv> = {l:e} but <J'a, v> = {r:e}");

    // Jacobian rows are VJPs with one-hot cotangents.
    for i in 0..m {
        let e: Vec<f64> = (0..m).map(|k| if k == i { 1.0 } else { 0.0 }).collect();
        let row = run(&d.vjp, t, &[y, &e[..]].concat(), p);
        assert_close(&jac[i * n..(i + 1) * n], &row[..n], 1e-12, 1e-300, &format!("{what}: jac row {i} vs vjp"));
    }
}

/// Compiles `f` and its derivatives into one module and checks each
/// kernel against the interpreter (single trajectory), and the batched
/// kernels against the single ones bit for bit.
pub(super) fn check_jit(f: &Function, d: &Derivs, t: f64, y: &[f64], p: &[f64], rng: &mut Rng, what: &str) {
    let opts = JitOptions { verify_clif: true, ..JitOptions::default() };
    let mut funcs = vec![f];
    funcs.extend(d.all());
    let jit = JitModule::compile(&funcs, &opts).unwrap_or_else(|e| panic!("{what}: {e}"));
    let n = f.n_state;
    let dir = rng.vec(f.output_len().max(n), -1.0, 1.0);
    for g in funcs {
        let ys: Vec<f64> = if g.n_state == n { y.to_vec() } else { [y, &dir[..g.n_state - n]].concat() };
        let want = run(g, t, &ys, p);
        let mut got = vec![f64::NAN; g.output_len()];
        jit.run(&g.name, t, &ys, p, &mut got).expect("run");
        assert_close(&got, &want, 1e-10, 1.0, &format!("{what}: {} jit vs interpreter", g.name));

        let rows = 3;
        let ts: Vec<f64> = (0..rows).map(|r| t + 0.1 * r as f64).collect();
        let yb: Vec<f64> = (0..rows).flat_map(|r| ys.iter().map(move |v| v * (1.0 - 0.05 * r as f64))).collect();
        let mut out = vec![f64::NAN; rows * g.output_len()];
        jit.run_batch(&g.name, &ts, &yb, p, &mut out).expect("run_batch");
        for r in 0..rows {
            let mut single = vec![f64::NAN; g.output_len()];
            jit.run(&g.name, ts[r], &yb[r * g.n_state..(r + 1) * g.n_state], p, &mut single).expect("run");
            let batch = &out[r * g.output_len()..(r + 1) * g.output_len()];
            let same = batch.iter().zip(&single).all(|(a, b)| a.to_bits() == b.to_bits() || a.is_nan() && b.is_nan());
            assert!(same, "{what}: {} batch row {r} differs from the single kernel", g.name);
        }
    }
}
