//! Each op alone, the conventions at non-smooth points, structural zeros,
//! and the shape of the code the passes build (sharing, one-hot rows).

use super::random::{BINARY, UNARY};
use super::{assert_close, check_jit, check_point, run, Derivs, Rng};
use crate::autodiff::{jacobian, jvp, vjp};
use crate::ir::{BinaryOp, Builder, Function, InputBuf, Op, Shape, UnaryOp, ValueId};

/// Checks `f`'s derivatives at three random points (`y`, `p` in `[-1, 1]`) and compiles them.
fn check(f: &Function, seed: u64) {
    let d = Derivs::of(f);
    let mut rng = Rng::new(seed);
    for point in 0..3 {
        let t = rng.uniform(0.0, 1.0);
        let y = rng.vec(f.n_state, -1.0, 1.0);
        let p = rng.vec(f.n_param, -1.0, 1.0);
        check_point(f, &d, t, &y, &p, &mut rng, &format!("{} point {point}\n{f}", f.name));
        if point == 0 {
            check_jit(f, &d, t, &y, &p, &mut rng, &f.name);
        }
    }
}

fn count(f: &Function, pred: impl Fn(&Op) -> bool) -> usize {
    f.nodes.iter().filter(|n| pred(&n.op)).count()
}

#[test]
fn every_unary_op_alone() {
    for (k, &op) in UNARY.iter().enumerate() {
        // op(1.5 y + 0.2 t) on y: [3]; log, sqrt and negative powers read y² + 1.
        let mut b = Builder::new(format!("unary{k}"), 3, 0);
        let y = b.state(0, Shape::vector(3));
        let t = b.time();
        let c = b.scalar(1.5);
        let sy = b.binary(BinaryOp::Mul, c, y);
        let x = b.binary(BinaryOp::Add, sy, t);
        let x = if matches!(op, UnaryOp::Log | UnaryOp::Sqrt | UnaryOp::Powi(-2)) {
            let sq = b.binary(BinaryOp::Mul, x, x);
            let one = b.scalar(1.0);
            b.binary(BinaryOp::Add, sq, one)
        } else {
            x
        };
        let out = b.unary(op, x);
        b.output(out);
        check(&b.finish(), k as u64);
    }
}

#[test]
fn every_binary_op_alone() {
    for (k, &op) in BINARY.iter().enumerate() {
        // op(u, w) on y = [u; w], both [2]; pow's base is u² + 1.
        let mut b = Builder::new(format!("binary{k}"), 4, 2);
        let u = b.state(0, Shape::vector(2));
        let w = b.state(2, Shape::vector(2));
        let q = b.param(0, Shape::vector(2));
        let (u, w) = if matches!(op, BinaryOp::Pow | BinaryOp::Div) {
            let sq = b.binary(BinaryOp::Mul, w, w);
            let one = b.scalar(1.0);
            let pos = b.binary(BinaryOp::Add, sq, one);
            if op == BinaryOp::Pow {
                let su = b.binary(BinaryOp::Mul, u, u);
                (b.binary(BinaryOp::Add, su, one), w)
            } else {
                (u, pos)
            }
        } else {
            (u, w)
        };
        let both = b.binary(op, u, w);
        let with_param = b.binary(op, u, q);
        b.output(both);
        b.output(with_param);
        check(&b.finish(), 100 + k as u64);
    }
}

#[test]
fn matmul_in_all_four_shape_combinations() {
    // y = [x (3); v (2)], p = [A (2×3); B (3×2)].
    let mut b = Builder::new("matmuls", 5, 12);
    let x = b.state(0, Shape::vector(3));
    let v = b.state(3, Shape::vector(2));
    let a = b.param(0, Shape::matrix(2, 3));
    let bm = b.param(6, Shape::matrix(3, 2));
    let ax = b.matmul(a, x); // [2,3]@[3]
    let vb = b.matmul(bm, v); // [3,2]@[2]
    let xb = b.matmul(x, bm); // [3]@[3,2]
    let ab = b.matmul(a, bm); // [2,3]@[3,2]
    let xx = b.matmul(x, x); // [3]@[3]
    let th = b.unary(UnaryOp::Tanh, ab);
    let abab = b.matmul(th, ab);
    let s = b.sum(abab);
    let axv = b.binary(BinaryOp::Mul, ax, v);
    let out1 = b.binary(BinaryOp::Add, axv, xb);
    let out2 = b.binary(BinaryOp::Mul, vb, xx);
    b.output(out1);
    b.output(out2);
    b.output(s);
    check(&b.finish(), 200);
}

#[test]
fn structural_ops() {
    // M = reshape(y[0..6], [2,3]) and friends.
    let mut b = Builder::new("structural", 6, 2);
    let y = b.state(0, Shape::vector(6));
    let m = b.reshape(y, Shape::matrix(2, 3));
    let mt = b.transpose(m);
    let sq = b.binary(BinaryOp::Mul, mt, mt);
    let rows = b.slice(sq, 0, 1, 2); // [2,2]
    let cols = b.slice(m, 1, 0, 2); // [2,2]
    let cat0 = b.concat(vec![rows, cols], 0); // [4,2]
    let cat1 = b.concat(vec![rows, cols, rows], 1); // [2,6]
    let r0 = b.index(cat0, 0, 3); // [2]
    let c1 = b.index(cat1, 1, 4); // [2]
    let p = b.param(0, Shape::vector(2));
    let e = b.index(p, 0, 1);
    let s = b.sum(cat1);
    let bs = b.broadcast(s, Shape::vector(2));
    let be = b.broadcast(e, Shape::vector(2));
    let out = b.binary(BinaryOp::Mul, r0, c1);
    let out = b.binary(BinaryOp::Add, out, bs);
    let out = b.binary(BinaryOp::Mul, out, be);
    let v = b.slice(y, 0, 2, 3);
    let cv = b.concat(vec![v, out], 0);
    b.output(cv);
    b.output(mt);
    check(&b.finish(), 300);
}

#[test]
fn overlapping_inputs_add_up() {
    // y[0..3] and y[1..3] (as a [2]) read the same elements.
    let mut b = Builder::new("overlap", 3, 0);
    let all = b.state(0, Shape::vector(3));
    let tail = b.state(1, Shape::vector(2));
    let s = b.unary(UnaryOp::Sin, all);
    let t2 = b.binary(BinaryOp::Mul, tail, tail);
    let head = b.slice(s, 0, 0, 2);
    let out = b.binary(BinaryOp::Mul, head, t2);
    b.output(out);
    b.output(s);
    check(&b.finish(), 400);
}

/// `op(y)` at one point: (vjp with a = 1 for each output, jac).
fn at(op: impl Fn(&mut Builder, ValueId, ValueId) -> ValueId, y: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut b = Builder::new("kink", 2, 0);
    let u = b.state(0, Shape::scalar());
    let w = b.state(1, Shape::scalar());
    let out = op(&mut b, u, w);
    b.output(out);
    let f = b.finish();
    (run(&vjp(&f), 0.0, &[y, &[1.0]].concat(), &[]), run(&jacobian(&f), 0.0, y, &[]))
}

#[test]
fn non_smooth_points_follow_the_documented_conventions() {
    let relu = |b: &mut Builder, u, _| b.unary(UnaryOp::Relu, u);
    let abs = |b: &mut Builder, u, _| b.unary(UnaryOp::Abs, u);
    let max = |b: &mut Builder, u, w| b.binary(BinaryOp::Max, u, w);
    let min = |b: &mut Builder, u, w| b.binary(BinaryOp::Min, u, w);
    assert_eq!(at(relu, &[0.0, 0.0]).0, [0.0, 0.0]);
    assert_eq!(at(relu, &[1e-300, 0.0]).0, [1.0, 0.0]);
    assert_eq!(at(abs, &[0.0, 0.0]).0, [0.0, 0.0]);
    assert_eq!(at(abs, &[-2.0, 0.0]).0, [-1.0, 0.0]);
    // Ties go to the first operand; otherwise to the one picked.
    assert_eq!(at(max, &[1.0, 1.0]), (vec![1.0, 0.0], vec![1.0, 0.0]));
    assert_eq!(at(min, &[1.0, 1.0]), (vec![1.0, 0.0], vec![1.0, 0.0]));
    assert_eq!(at(max, &[1.0, 2.0]).0, [0.0, 1.0]);
    assert_eq!(at(min, &[1.0, 2.0]).0, [1.0, 0.0]);
    assert_eq!(at(max, &[3.0, 2.0]).1, [1.0, 0.0]);
    assert_eq!(at(min, &[3.0, 2.0]).1, [0.0, 1.0]);
}

/// The benchmark network shape, `d → h → h → d`, tanh.
pub(super) fn mlp(d: usize, h: usize) -> Function {
    let shapes = [
        Shape::matrix(h, d),
        Shape::vector(h),
        Shape::matrix(h, h),
        Shape::vector(h),
        Shape::matrix(d, h),
        Shape::vector(d),
    ];
    let mut b = Builder::new("mlp.rhs", d, shapes.iter().map(|s| s.len()).sum());
    let mut x = b.state(0, Shape::vector(d));
    let mut off = 0;
    for layer in 0..3 {
        let w = b.param(off, shapes[2 * layer]);
        off += shapes[2 * layer].len();
        let bias = b.param(off, shapes[2 * layer + 1]);
        off += shapes[2 * layer + 1].len();
        let z = b.matmul(w, x);
        x = b.binary(BinaryOp::Add, z, bias);
        if layer < 2 {
            x = b.unary(UnaryOp::Tanh, x);
        }
    }
    b.output(x);
    b.finish()
}

#[test]
fn mlp_derivatives_are_correct() {
    check(&mlp(2, 8), 500);
}

#[test]
fn mlp_derivatives_share_the_forward_pass_and_use_rows_not_one_hot_products() {
    let f = mlp(2, 16);
    let is_tanh = |op: &Op| matches!(op, Op::Unary(UnaryOp::Tanh, _));
    let is_matmul = |op: &Op| matches!(op, Op::MatMul(..));
    let is_square = |op: &Op| matches!(op, Op::Binary(BinaryOp::Mul, a, b) if a == b);
    let (v, j, t) = (vjp(&f), jacobian(&f), jvp(&f));
    for g in [&v, &j, &t] {
        assert_eq!(count(g, is_tanh), 2, "{g}");
    }
    // 1 − tanh² is built once per layer, whatever the number of Jacobian rows.
    assert_eq!(count(&v, is_square), 2, "{v}");
    assert_eq!(count(&j, is_square), 2, "{j}");
    // vjp: W1 y, W2 h1 (W3 h2 is dead), then per layer an outer product and a row-vector product.
    assert_eq!(count(&v, is_matmul), 8, "{v}");
    // jac: two forward products and two per row; W3ᵀ e_i is row i of W3.
    assert_eq!(count(&j, is_matmul), 6, "{j}");
    let w3_rows = count(&j, |op| matches!(op, Op::Index { axis: 0, .. }));
    assert_eq!(w3_rows, 2, "{j}");
    let const_operand = j.nodes.iter().any(|n| match n.op {
        Op::MatMul(a, b) => [a, b].iter().any(|x| matches!(j.node(*x).op, Op::Const(_))),
        _ => false,
    });
    assert!(!const_operand, "{j}");
    // jvp: the two forward products and one per layer.
    assert_eq!(count(&t, is_matmul), 5, "{t}");
}

#[test]
fn parameters_without_influence_get_a_zeros_constant_and_no_work() {
    // out = tanh(A y): B (p[4..8]) is never read.
    let mut b = Builder::new("unused", 2, 8);
    let y = b.state(0, Shape::vector(2));
    let a = b.param(0, Shape::matrix(2, 2));
    let _unused = b.param(4, Shape::matrix(2, 2));
    let ay = b.matmul(a, y);
    let out = b.unary(UnaryOp::Tanh, ay);
    b.output(out);
    let f = b.finish();
    let g = vjp(&f);
    let reads_b = g.nodes.iter().any(|n| matches!(n.op, Op::Input { buf: InputBuf::Param, offset: 4 }));
    assert!(!reads_b, "{g}");
    let last = *g.outputs.last().expect("outputs");
    assert!(matches!(&g.node(last).op, Op::Const(v) if v.len() == 4 && v.iter().all(|&x| x == 0.0)), "{g}");
    let out = run(&g, 0.0, &[0.3, -0.2, 1.0, 1.0], &[0.1, 0.2, 0.3, 0.4, 9.0, 9.0, 9.0, 9.0]);
    assert_eq!(&out[6..], [0.0; 4]);

    // A function of t and p alone: every state derivative is a zeros constant.
    let mut b = Builder::new("no_state", 2, 1);
    let t = b.time();
    let p = b.param(0, Shape::scalar());
    let s = b.unary(UnaryOp::Sin, t);
    let o = b.binary(BinaryOp::Mul, s, p);
    let o = b.broadcast(o, Shape::vector(2));
    b.output(o);
    let f = b.finish();
    for g in [jacobian(&f), jvp(&f)] {
        assert!(g.outputs.iter().all(|&o| matches!(g.node(o).op, Op::Const(_))), "{g}");
    }
    let d = Derivs::of(&f);
    check_point(&f, &d, 0.4, &[0.1, 0.2], &[0.7], &mut Rng::new(1), "no_state");
}

#[test]
fn step_has_a_zero_derivative_and_compiles_like_it_interprets() {
    let mut b = Builder::new("step", 1, 0);
    let y = b.state(0, Shape::vector(1));
    let s = b.unary(UnaryOp::Step, y);
    b.output(s);
    let f = b.finish();
    assert!(matches!(jvp(&f).nodes.as_slice(), [n] if matches!(n.op, Op::Const(_))));
    let jit = crate::codegen::JitModule::compile(&[&f], &crate::codegen::JitOptions::default()).expect("compile");
    for x in [-1.0, -0.0, 0.0, 1e-320, 2.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
        let mut out = [7.0];
        jit.run(&f.name, 0.0, &[x], &[], &mut out).expect("run");
        let want = run(&f, 0.0, &[x], &[]);
        assert_close(&out, &want, 0.0, 0.0, &format!("step({x})"));
    }
}
