//! Batched kernels against single ones, and the benchmark MLP.

use super::{check_batch, check_fn, compile, Rng};
use crate::ir::{BinaryOp, Builder, Function, Shape, UnaryOp};

/// The benchmark network `dy = W3 tanh(W2 tanh(W1 y + b1) + b2) + b3`,
/// `y ∈ R^d`, hidden width `h`, parameters packed `W1 b1 W2 b2 W3 b3`.
pub(crate) fn mlp(d: usize, h: usize) -> Function {
    let n_param = h * d + h + h * h + h + d * h + d;
    let mut b = Builder::new("mlp", d, n_param);
    let y = b.state(0, Shape::vector(d));
    let mut off = 0;
    let mut param = |b: &mut Builder, shape: Shape| {
        let v = b.param(off, shape);
        off += shape.len();
        v
    };
    let w1 = param(&mut b, Shape::matrix(h, d));
    let b1 = param(&mut b, Shape::vector(h));
    let w2 = param(&mut b, Shape::matrix(h, h));
    let b2 = param(&mut b, Shape::vector(h));
    let w3 = param(&mut b, Shape::matrix(d, h));
    let b3 = param(&mut b, Shape::vector(d));
    let z1 = b.matmul(w1, y);
    let a1 = b.binary(BinaryOp::Add, z1, b1);
    let h1 = b.unary(UnaryOp::Tanh, a1);
    let z2 = b.matmul(w2, h1);
    let a2 = b.binary(BinaryOp::Add, z2, b2);
    let h2 = b.unary(UnaryOp::Tanh, a2);
    let z3 = b.matmul(w3, h2);
    let out = b.binary(BinaryOp::Add, z3, b3);
    b.output(out);
    b.finish()
}

#[test]
fn bench_mlp_matches_interpreter() {
    let f = mlp(2, 64);
    check_fn(&f, 3.0, 1e-13, 1.0, 2024);
}

#[test]
fn batch_equals_single_bit_for_bit() {
    let f = mlp(2, 64);
    let j = compile(&f);
    let p = Rng::new(5).vec(f.n_param, -0.5, 0.5);
    for n in [1, 3, 64, 1000] {
        check_batch(&j, &f, &p, n, 3.0, n as u64);
    }
    assert_eq!(j.kernel("mlp").map(|k| k.batch_scratch_len), Some(0));
}

#[test]
fn batch_with_varying_matrices_time_and_uniform_outputs() {
    // Outputs: a parameter-only value, a time-dependent one, and a product
    // with a state-dependent matrix.
    let mut b = Builder::new("mix", 24, 40);
    let t = b.time();
    let y = b.state(0, Shape::vector(24));
    let p = b.param(0, Shape::vector(20));
    let q = b.param(20, Shape::matrix(4, 5));
    let sp = b.unary(UnaryOp::Softplus, p);
    let ym = b.reshape(y, Shape::matrix(4, 6));
    let qt = b.transpose(q);
    let prod = b.matmul(qt, ym);
    let ty = b.binary(BinaryOp::Mul, t, y);
    let s = b.sum(ty);
    let sin = b.unary(UnaryOp::Sin, prod);
    let r = b.binary(BinaryOp::Add, sin, s);
    b.output(sp);
    b.output(r);
    b.output(t);
    let f = b.finish();
    check_fn(&f, 2.0, 1e-13, 1.0, 8);
    let j = compile(&f);
    let pv = Rng::new(9).vec(40, -1.0, 1.0);
    for n in [1, 3, 64, 1000] {
        check_batch(&j, &f, &pv, n, 2.0, n as u64 + 17);
    }
}

#[test]
fn large_frames_use_scratch() {
    let f = mlp(3, 300);
    let opts = super::super::JitOptions { max_stack_bytes: 1024, ..super::opts() };
    let j = super::super::JitModule::compile(&[&f], &opts).expect("compile");
    let k = j.kernel("mlp").expect("kernel");
    assert!(k.scratch_len >= 900 && k.batch_scratch_len >= k.scratch_len, "{k:?}");
    let mut rng = Rng::new(3);
    let p = rng.vec(f.n_param, -0.1, 0.1);
    let y = rng.vec(3, -1.0, 1.0);
    let want = crate::ir::interp::eval(&f, 0.0, &y, &p).expect("interp");
    let mut got = vec![0.0; 3];
    j.run("mlp", 0.0, &y, &p, &mut got).expect("run");
    super::assert_close(&got, &want, 1e-13, 1.0, "mlp 300 via scratch");
    check_batch(&j, &f, &p, 10, 1.0, 4);
}
