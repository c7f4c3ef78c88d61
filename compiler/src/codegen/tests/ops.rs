//! Every op, alone and in combination, compiled vs interpreted.

use super::{check_fn, compile, run, Rng};
use crate::ir::interp;
use crate::ir::{BinaryOp, Builder, Function, Shape, UnaryOp};

static UNARY: std::sync::LazyLock<Vec<UnaryOp>> = std::sync::LazyLock::new(|| UnaryOp::all_with_powi(&[3, -2, 0]));

const BINARY: [BinaryOp; 7] =
    [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow, BinaryOp::Min, BinaryOp::Max];

/// Ops whose compiled form must equal the interpreter bit for bit.
fn exact(op: UnaryOp) -> bool {
    matches!(op, UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sqrt | UnaryOp::Relu | UnaryOp::Powi(_))
}

/// `op(y)` for `y` of length `n` (small: registers; large: a loop).
fn unary_fn(op: UnaryOp, n: usize) -> Function {
    let mut b = Builder::new("u", n, 0);
    let y = b.state(0, Shape::vector(n));
    let r = b.unary(op, y);
    b.output(r);
    b.finish()
}

#[test]
fn every_unary_op_small_and_large() {
    for (i, &op) in UNARY.iter().enumerate() {
        // Log and sqrt see |y|: inputs must be positive.
        let tol = if exact(op) { 0.0 } else { 4e-15 };
        for n in [1, 5, 16, 37, 200] {
            let f = match op {
                UnaryOp::Log | UnaryOp::Sqrt => {
                    let mut b = Builder::new("u", n, 0);
                    let y = b.state(0, Shape::vector(n));
                    let a = b.unary(UnaryOp::Abs, y);
                    let r = b.unary(op, a);
                    b.output(r);
                    b.finish()
                }
                _ => unary_fn(op, n),
            };
            check_fn(&f, 3.0, tol, 1e-300, 100 + i as u64 * 7 + n as u64);
        }
    }
}

#[test]
fn every_binary_op_small_and_large_with_scalar_broadcast() {
    for (i, &op) in BINARY.iter().enumerate() {
        for n in [1, 6, 33, 128] {
            let mut b = Builder::new("b", 2 * n, 1);
            let x = b.state(0, Shape::vector(n));
            let y = b.state(n, Shape::vector(n));
            let (x, y) = if op == BinaryOp::Pow {
                let ax = b.unary(UnaryOp::Abs, x);
                (ax, y)
            } else {
                (x, y)
            };
            let r = b.binary(op, x, y);
            let s = b.param(0, Shape::scalar());
            let r2 = b.binary(op, r, s);
            let r3 = b.binary(op, s, x);
            b.output(r2);
            b.output(r3);
            let f = b.finish();
            let tol = if op == BinaryOp::Pow { 4e-15 } else { 0.0 };
            check_fn(&f, 2.0, tol, 1e-300, 300 + i as u64 * 11 + n as u64);
        }
    }
}

#[test]
fn fused_chains_and_shared_subexpressions() {
    // tanh(W y + b) * sigmoid(y) + exp(-y^2), reusing subexpressions.
    for n in [3, 40, 101] {
        let mut b = Builder::new("chain", n, n + 1);
        let y = b.state(0, Shape::vector(n));
        let bias = b.param(0, Shape::vector(n));
        let c = b.param(n, Shape::scalar());
        let s = b.binary(BinaryOp::Add, y, bias);
        let t = b.binary(BinaryOp::Mul, s, c);
        let th = b.unary(UnaryOp::Tanh, t);
        let sg = b.unary(UnaryOp::Sigmoid, y);
        let prod = b.binary(BinaryOp::Mul, th, sg);
        let sq = b.unary(UnaryOp::Powi(2), y);
        let nsq = b.unary(UnaryOp::Neg, sq);
        let e = b.unary(UnaryOp::Exp, nsq);
        let out = b.binary(BinaryOp::Add, prod, e);
        let twice = b.binary(BinaryOp::Mul, out, out);
        b.output(out);
        b.output(twice);
        b.output(th);
        let f = b.finish();
        check_fn(&f, 2.0, 1e-14, 1.0, 500 + n as u64);
    }
}

#[test]
fn time_constants_and_broadcasts() {
    let mut b = Builder::new("tc", 2, 0);
    let t = b.time();
    let y = b.state(0, Shape::vector(2));
    let small = b.constant(vec![1.5, -0.25], Shape::vector(2));
    let big = b.constant((0..50).map(|i| (i as f64 * 0.37).sin()).collect(), Shape::vector(50));
    let ty = b.binary(BinaryOp::Mul, t, y);
    let r1 = b.binary(BinaryOp::Add, ty, small);
    let bt = b.broadcast(t, Shape::vector(50));
    let r2 = b.binary(BinaryOp::Mul, big, bt);
    let r3 = b.broadcast(t, Shape::matrix(5, 7));
    let two = b.scalar(2.0);
    let r4 = b.broadcast(two, Shape::vector(3));
    b.output(r1);
    b.output(r2);
    b.output(big);
    b.output(r3);
    b.output(r4);
    b.output(small);
    let f = b.finish();
    check_fn(&f, 1.0, 0.0, 1e-300, 7);
}

#[test]
fn structural_ops_on_both_axes() {
    for (m, n) in [(3, 4), (20, 30), (2, 70)] {
        let mut b = Builder::new("s", m * n, m * n);
        let a = b.state(0, Shape::matrix(m, n));
        let w = b.param(0, Shape::matrix(m, n));
        let at = b.transpose(a);
        let wt = b.transpose(w);
        let sum_at = b.binary(BinaryOp::Add, at, wt);
        let e = b.unary(UnaryOp::Exp, sum_at);
        let row = b.index(a, 0, m - 1);
        let col = b.index(w, 1, n / 2);
        let rows = b.slice(a, 0, 1, m - 1);
        let cols = b.slice(wt, 1, 1, m - 1);
        let cat0 = b.concat(vec![a, w], 0);
        let cat1 = b.concat(vec![a, w, a], 1);
        let total = b.sum(cat1);
        let colsum = b.sum(col);
        let flat = b.reshape(at, Shape::vector(m * n));
        let back = b.reshape(flat, Shape::matrix(n, m));
        let sq = b.reshape(w, Shape::vector(m * n));
        let tcol = b.index(wt, 0, 1);
        for o in [e, row, col, rows, cols, cat0, cat1, total, colsum, flat, back, sq, tcol] {
            b.output(o);
        }
        let f = b.finish();
        check_fn(&f, 1.0, 1e-13, 1.0, 900 + m as u64);
    }
}

#[test]
fn output_written_twice_and_input_passthrough() {
    let mut b = Builder::new("o", 40, 0);
    let y = b.state(0, Shape::vector(40));
    let e = b.unary(UnaryOp::Exp, y);
    b.output(e);
    b.output(y);
    b.output(e);
    let f = b.finish();
    check_fn(&f, 1.0, 4e-15, 1e-300, 3);
}

/// Random expression graphs over all op kinds.
#[test]
fn random_graphs() {
    let mut rng = Rng::new(42);
    for g in 0..40 {
        let n = [1, 3, 8, 17, 40][g % 5];
        let mut b = Builder::new("g", n, 2 * n * n + n);
        let y = b.state(0, Shape::vector(n));
        let w = b.param(0, Shape::matrix(n, n));
        let v = b.param(n * n, Shape::matrix(n, n));
        let c = b.param(2 * n * n, Shape::vector(n));
        let mut pool = vec![y, c];
        for _ in 0..8 {
            let a = pool[(rng.next_u64() % pool.len() as u64) as usize];
            let z = pool[(rng.next_u64() % pool.len() as u64) as usize];
            let r = match rng.next_u64() % 7 {
                0 => b.matmul(w, a),
                1 => b.matmul(a, v),
                2 => {
                    let op = [UnaryOp::Tanh, UnaryOp::Sin, UnaryOp::Sigmoid, UnaryOp::Softplus, UnaryOp::Gelu][g % 5];
                    b.unary(op, a)
                }
                3 => b.binary(BinaryOp::Add, a, z),
                4 => b.binary(BinaryOp::Mul, a, z),
                5 => {
                    let s = b.sum(a);
                    b.binary(BinaryOp::Sub, z, s)
                }
                _ => b.binary(BinaryOp::Max, a, z),
            };
            pool.push(r);
        }
        let last = *pool.last().unwrap_or(&y);
        b.output(last);
        b.output(pool[pool.len() / 2]);
        let f = b.finish();
        check_fn(&f, 1.0, 1e-12, 1.0, 1000 + g as u64);
    }
}

#[test]
fn malformed_functions_are_errors_not_panics() {
    let mut f = unary_fn(UnaryOp::Exp, 3);
    f.outputs.push(crate::ir::ValueId(9));
    let err = super::super::JitModule::compile(&[&f], &super::opts()).err().expect("accepted a malformed function");
    assert!(matches!(err, super::super::CodegenError::Verify(_)), "{err}");
    let g = unary_fn(UnaryOp::Exp, 3);
    let err = super::super::JitModule::compile(&[&g, &g], &super::opts()).err().expect("accepted duplicate names");
    assert!(matches!(err, super::super::CodegenError::DuplicateKernel(_)), "{err}");
}

#[test]
fn checked_calls_reject_wrong_lengths() {
    let f = unary_fn(UnaryOp::Exp, 3);
    let j = compile(&f);
    let mut out = [0.0; 3];
    assert!(j.run("u", 0.0, &[1.0, 2.0], &[], &mut out).is_err());
    assert!(j.run("nope", 0.0, &[1.0, 2.0, 3.0], &[], &mut out).is_err());
    let want = interp::eval(&f, 0.0, &[0.0, 1.0, -1.0], &[]).unwrap_or_default();
    let got = run(&j, &f, 0.0, &[0.0, 1.0, -1.0], &[]);
    super::assert_close(&got, &want, 4e-15, 1e-300, "exp");
    assert_eq!(j.kernels().len(), 1);
    assert_eq!(j.kernel("u").map(|k| (k.n_state, k.out_len)), Some((3, 3)));
}

#[test]
fn emit_clif_prints_both_kernels() {
    let f = unary_fn(UnaryOp::Tanh, 4);
    let text = super::super::emit_clif(&f, &super::opts()).expect("clif");
    assert_eq!(text.matches("function ").count(), 2, "{text}");
    assert!(text.contains("fma"), "{text}");
}

const SPECIALS: [f64; 12] =
    [0.0, -0.0, 1.0, -1.0, 2.5, -0.75, 1e-310, 1e300, -1e300, f64::INFINITY, f64::NEG_INFINITY, f64::NAN];

#[test]
fn binary_special_values_match_exactly() {
    let n = SPECIALS.len() * SPECIALS.len();
    let xs: Vec<f64> = SPECIALS.iter().flat_map(|&a| SPECIALS.iter().map(move |_| a)).collect();
    let ys: Vec<f64> = SPECIALS.iter().flat_map(|_| SPECIALS.iter().copied()).collect();
    for op in BINARY {
        let mut b = Builder::new("sp", 2 * n, 0);
        let x = b.state(0, Shape::vector(n));
        let y = b.state(n, Shape::vector(n));
        let r = b.binary(op, x, y);
        b.output(r);
        let f = b.finish();
        let j = compile(&f);
        let input: Vec<f64> = xs.iter().chain(&ys).copied().collect();
        let got = run(&j, &f, 0.0, &input, &[]);
        let want = interp::eval(&f, 0.0, &input, &[]).unwrap_or_default();
        super::assert_bits(&got, &want, &format!("{op:?} on special values"));
    }
}

#[test]
fn exact_unary_special_values_match_exactly() {
    for op in [
        UnaryOp::Neg,
        UnaryOp::Abs,
        UnaryOp::Sqrt,
        UnaryOp::Relu,
        UnaryOp::Powi(3),
        UnaryOp::Powi(-2),
        UnaryOp::Powi(0),
    ] {
        let f = unary_fn(op, SPECIALS.len());
        let j = compile(&f);
        let got = run(&j, &f, 0.0, &SPECIALS, &[]);
        let want = interp::eval(&f, 0.0, &SPECIALS, &[]).unwrap_or_default();
        super::assert_bits(&got, &want, &format!("{op:?} on special values"));
    }
}

#[test]
fn speed_opt_level_compiles_correct_code() {
    let f = super::batch::mlp(2, 64);
    let opts = super::super::JitOptions { opt_level: super::super::OptLevel::Speed, ..super::opts() };
    let j = super::super::JitModule::compile(&[&f], &opts).expect("compile");
    let mut rng = Rng::new(11);
    let p = rng.vec(f.n_param, -0.5, 0.5);
    let y = rng.vec(2, -1.0, 1.0);
    let want = interp::eval(&f, 0.0, &y, &p).unwrap_or_default();
    let got = run(&j, &f, 0.0, &y, &p);
    super::assert_close(&got, &want, 1e-13, 1.0, "mlp at opt_level speed");
    super::check_batch(&j, &f, &p, 9, 1.0, 12);
}

#[test]
fn empty_reductions_are_zero() {
    let mut b = Builder::new("empty", 0, 0);
    let a = b.constant(vec![], Shape::matrix(3, 0));
    let x = b.constant(vec![], Shape::vector(0));
    let ax = b.matmul(a, x);
    let s = b.sum(x);
    b.output(ax);
    b.output(s);
    let f = b.finish();
    check_fn(&f, 1.0, 0.0, 1.0, 1);
}
