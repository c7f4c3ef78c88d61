//! Tests of the code generator: compiled kernels against the reference
//! interpreter, batched kernels against single ones, accuracy of the inline
//! transcendental functions, routine calls against inline code.

mod batch;
mod group;
mod math_accuracy;
mod matmul;
mod ops;
mod outer;
mod routines;

use super::{JitModule, JitOptions};
use crate::ir::interp;
use crate::ir::Function;

pub(super) use crate::rng::SplitMix64 as Rng;

pub(super) fn opts() -> JitOptions {
    JitOptions { verify_clif: true, ..JitOptions::default() }
}

pub(super) fn compile(f: &Function) -> JitModule {
    JitModule::compile(&[f], &opts()).unwrap_or_else(|e| panic!("compiling {}: {e}\n{f}", f.name))
}

/// The single kernel's output.
pub(super) fn run(j: &JitModule, f: &Function, t: f64, y: &[f64], p: &[f64]) -> Vec<f64> {
    let mut out = vec![f64::NAN; f.output_len()];
    j.run(&f.name, t, y, p, &mut out).expect("run");
    out
}

/// `|got - want| ≤ tol · max(|want|, floor)` elementwise, NaN matching NaN
/// and infinities matching exactly.
pub(super) fn assert_close(got: &[f64], want: &[f64], tol: f64, floor: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = if w.is_nan() {
            g.is_nan()
        } else if w.is_infinite() {
            g == w
        } else {
            (g - w).abs() <= tol * w.abs().max(floor)
        };
        assert!(ok, "{what}: element {i}: jit {g:e} vs interpreter {w:e} (tolerance {tol:e})");
    }
}

/// Bitwise equality, any NaN matching any NaN.
pub(super) fn assert_bits(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(g.to_bits() == w.to_bits() || g.is_nan() && w.is_nan(), "{what}: element {i}: {g:e} vs {w:e}");
    }
}

/// Compiles `f`; checks the single kernel against the interpreter on
/// `cases` random points (`y` in `[-ylim, ylim]`, `p` in `[-1, 1]`), and the
/// batched kernel against the single one on 7 trajectories.
pub(super) fn check_fn(f: &Function, ylim: f64, tol: f64, floor: f64, seed: u64) {
    let j = compile(f);
    let mut rng = Rng::new(seed);
    let p = rng.vec(f.n_param, -1.0, 1.0);
    for case in 0..3 {
        let t = rng.uniform(-2.0, 2.0);
        let y = rng.vec(f.n_state, -ylim, ylim);
        let want = interp::eval(f, t, &y, &p).expect("interpreter");
        let got = run(&j, f, t, &y, &p);
        assert_close(&got, &want, tol, floor, &format!("{} case {case}", f.name));
    }
    check_batch(&j, f, &p, 7, ylim, seed);
}

/// The batched kernel over `n` random trajectories equals the single kernel
/// bit for bit.
pub(super) fn check_batch(j: &JitModule, f: &Function, p: &[f64], n: usize, ylim: f64, seed: u64) {
    let mut rng = Rng::new(seed ^ 0x5eed);
    let ts = rng.vec(n, -2.0, 2.0);
    let ys = rng.vec(n * f.n_state, -ylim, ylim);
    let mut out = vec![f64::NAN; n * f.output_len()];
    j.run_batch(&f.name, &ts, &ys, p, &mut out).expect("run_batch");
    for b in 0..n {
        let y = &ys[b * f.n_state..(b + 1) * f.n_state];
        let single = run(j, f, ts[b], y, p);
        assert_bits(
            &out[b * f.output_len()..(b + 1) * f.output_len()],
            &single,
            &format!("{} batch {n} row {b}", f.name),
        );
    }
}
