//! Kernels that call the runtime's SIMD routines against the same kernels
//! all inline: the same bits, single and batched, on every shape and layout
//! the routines take (row-dot and column products of odd sizes, `k` not a
//! multiple of 4, `tanh` of a leaf, of a sum and of a fused chain).

use super::batch::mlp;
use super::{assert_bits, check_batch, check_fn, run, Rng};
use crate::codegen::{emit_clif, JitModule, JitOptions};
use crate::ir::{BinaryOp, Builder, Function, Shape, UnaryOp};
use nde_runtime::linalg::Routines;

pub(super) fn with_routines(on: bool) -> JitOptions {
    JitOptions { simd_routines: on, ..super::opts() }
}

/// Compiles `f` with and without the routines and checks that both agree
/// bit for bit (single kernel on random points, batched kernel over 9
/// trajectories), and that each batch equals its single kernel.
pub(super) fn check_same_bits(f: &Function, seed: u64) {
    let on = JitModule::compile(&[f], &with_routines(true)).expect("compile with routines");
    let off = JitModule::compile(&[f], &with_routines(false)).expect("compile inline");
    let mut rng = Rng::new(seed);
    let p = rng.vec(f.n_param, -1.0, 1.0);
    for case in 0..3 {
        let y = rng.vec(f.n_state, -2.0, 2.0);
        let t = rng.uniform(-1.0, 1.0);
        assert_bits(&run(&on, f, t, &y, &p), &run(&off, f, t, &y, &p), &format!("{} case {case}", f.name));
    }
    let n = 9;
    let ts = rng.vec(n, -1.0, 1.0);
    let ys = rng.vec(n * f.n_state, -2.0, 2.0);
    let mut outs = [vec![0.0; n * f.output_len()], vec![0.0; n * f.output_len()]];
    on.run_batch(&f.name, &ts, &ys, &p, &mut outs[0]).expect("batch");
    off.run_batch(&f.name, &ts, &ys, &p, &mut outs[1]).expect("batch");
    assert_bits(&outs[0], &outs[1], &format!("{} batch", f.name));
    check_batch(&on, f, &p, n, 2.0, seed + 1);
    check_batch(&off, f, &p, n, 2.0, seed + 2);
}

/// `A x` and `Aᵀ x` (a column product) for `A: [m, k]` from the parameters
/// or the state, `x` from the state, plus `tanh(A x + b)`.
fn products(m: usize, k: usize, a_in_state: bool) -> Function {
    let n_state = k + m + if a_in_state { m * k } else { 0 };
    let mut b = Builder::new("prod", n_state, m * k + m);
    let x = b.state(0, Shape::vector(k));
    let xm = b.state(k, Shape::vector(m));
    let a = if a_in_state { b.state(k + m, Shape::matrix(m, k)) } else { b.param(0, Shape::matrix(m, k)) };
    let bias = b.param(m * k, Shape::vector(m));
    let ax = b.matmul(a, x);
    let at = b.transpose(a);
    let atx = b.matmul(at, xm);
    let s = b.binary(BinaryOp::Add, ax, bias);
    let th = b.unary(UnaryOp::Tanh, s);
    b.output(ax);
    b.output(atx);
    b.output(th);
    b.finish()
}

#[test]
fn products_agree_with_inline_code_and_the_interpreter() {
    for (m, k) in [(1, 200), (2, 64), (4, 33), (5, 37), (8, 16), (16, 8), (17, 9), (33, 130), (64, 64), (70, 3)] {
        for a_in_state in [false, true] {
            let f = products(m, k, a_in_state);
            check_same_bits(&f, (m * 1000 + k) as u64);
            check_fn(&f, 2.0, 1e-13, 1.0, (m * 1000 + k) as u64);
        }
    }
}

#[test]
fn tanh_of_leaves_sums_and_chains_agree_with_inline_code() {
    for n in [8, 16, 17, 18, 64, 101] {
        let mut b = Builder::new("th", 2 * n, n);
        let x = b.state(0, Shape::vector(n));
        let y = b.state(n, Shape::vector(n));
        let p = b.param(0, Shape::vector(n));
        let t = b.time();
        let leaf = b.unary(UnaryOp::Tanh, x);
        let sum = b.binary(BinaryOp::Add, y, p);
        let tsum = b.unary(UnaryOp::Tanh, sum);
        // A fused chain with a broadcast: tanh(t·x − y).
        let tb = b.broadcast(t, Shape::vector(n));
        let tx = b.binary(BinaryOp::Mul, tb, x);
        let d = b.binary(BinaryOp::Sub, tx, y);
        let chain = b.unary(UnaryOp::Tanh, d);
        b.output(leaf);
        b.output(tsum);
        b.output(chain);
        let f = b.finish();
        check_same_bits(&f, n as u64);
        check_fn(&f, 3.0, 4.0 * f64::EPSILON, 0.0, n as u64);
    }
}

#[test]
fn mlps_agree_with_inline_code() {
    for (d, h) in [(2, 64), (3, 33), (5, 20)] {
        check_same_bits(&mlp(d, h), (d * 100 + h) as u64);
    }
}

#[test]
fn routines_are_called_only_where_they_pay() {
    let calls = |f: &Function, on: bool| {
        let text = emit_clif(f, &with_routines(on)).expect("clif");
        text.lines().filter(|l| l.contains(" call fn")).count()
    };
    let big = mlp(2, 64);
    let small = mlp(2, 3);
    if Routines::host().simd {
        // One trajectory (single kernel, batch remainder loop): tanh(W1 y +
        // b1), W2 h1, tanh(· + b2) (the 64×2 and 2×64 products are inline).
        // A tile: one group call per product, two tanh calls per member.
        let tile = super::opts().batch_tile;
        let want = 3 + (3 + 2 * tile) + 3;
        assert_eq!(calls(&big, true), want, "{}", emit_clif(&big, &with_routines(true)).unwrap_or_default());
    } else {
        assert_eq!(calls(&big, true), 0);
    }
    assert_eq!(calls(&big, false), 0);
    assert_eq!(calls(&small, true), 0);
}
