//! The reference interpreter: the oracle compiled kernels are tested against.
//!
//! Owns the exact numerical meaning of every op, written as plainly as
//! possible with the standard library's `f64` functions (libm). Compiled code
//! may differ from it only by the documented rounding of its inline
//! approximations and summation orders, never in special values.
//!
//! Never: optimise, reorder arithmetic for speed, or panic on a malformed
//! function (it is verified first).
//!
//! Semantics (scalar, per element):
//!
//! | op | value |
//! |---|---|
//! | `neg`, `abs`, `sqrt` | IEEE |
//! | `exp`, `log`, `sin`, `cos`, `tan`, `tanh` | libm (`log` of a negative number is NaN, of ±0 is −∞) |
//! | `relu` | `x` for `x > 0`, NaN for NaN, otherwise `+0` |
//! | `sigmoid` | `1 / (1 + exp(-x))` |
//! | `softplus` | `max(x, 0) + log1p(exp(-|x|))` (stable; NaN propagates) |
//! | `gelu` | the tanh approximation `0.5 x (1 + tanh(u))`, `u = √(2/π) (x + 0.044715 x³)`, evaluated without cancellation as `x / (1 + exp(-2u))` |
//! | `elu` | `x` for `x > 0`, else `expm1(x)` (alpha = 1) |
//! | `step` | `1` for `x > 0`, NaN for NaN, otherwise `0` |
//! | `powi(n)` | [`powi`]: binary exponentiation (square-and-multiply, fixed order); `x⁰ = 1` for every `x`; negative `n` is `1 / x^|n|` |
//! | `add`, `sub`, `mul`, `div` | IEEE |
//! | `pow(a, b)` | NaN for `a < 0`, else libm `pow(|a|, b)` (so `-0` acts as `+0`, and `a⁰ = 1`) |
//! | `min`, `max` | IEEE 754-2019 `minimum`/`maximum` (numpy's `np.minimum`): NaN if either operand is NaN, and `-0 < +0` |
//!
//! Reductions: `matmul` entries and `sum` add terms left to right starting
//! from the first term (`a₀b₀ + a₁b₁ + …`, no fused multiply-add).

use super::verify::{verify, VerifyError};
use super::{BinaryOp, Function, InputBuf, Op, Shape, UnaryOp};
use std::fmt;

/// Why [`eval`] could not run.
#[derive(Clone, Debug, PartialEq)]
pub enum InterpError {
    /// `y` does not have the function's `n_state` elements.
    StateLen { expected: usize, found: usize },
    /// `p` does not have the function's `n_param` elements.
    ParamLen { expected: usize, found: usize },
    /// The function failed verification.
    Malformed(VerifyError),
}

impl fmt::Display for InterpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterpError::StateLen { expected, found } => {
                write!(f, "state buffer has {found} elements, the function reads {expected}")
            }
            InterpError::ParamLen { expected, found } => {
                write!(f, "parameter buffer has {found} elements, the function reads {expected}")
            }
            InterpError::Malformed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for InterpError {}

/// Evaluates `f` at `(t, y, p)`; returns the outputs concatenated row-major
/// (length [`Function::output_len`]).
pub fn eval(f: &Function, t: f64, y: &[f64], p: &[f64]) -> Result<Vec<f64>, InterpError> {
    if y.len() != f.n_state {
        return Err(InterpError::StateLen { expected: f.n_state, found: y.len() });
    }
    if p.len() != f.n_param {
        return Err(InterpError::ParamLen { expected: f.n_param, found: p.len() });
    }
    verify(f).map_err(InterpError::Malformed)?;
    let mut vals: Vec<Vec<f64>> = Vec::with_capacity(f.nodes.len());
    for node in &f.nodes {
        let v = eval_node(&node.op, node.shape, &vals, f, t, y, p);
        vals.push(v);
    }
    let mut out = Vec::with_capacity(f.output_len());
    for &o in &f.outputs {
        out.extend_from_slice(&vals[o.index()]);
    }
    Ok(out)
}

fn eval_node(op: &Op, shape: Shape, vals: &[Vec<f64>], f: &Function, t: f64, y: &[f64], p: &[f64]) -> Vec<f64> {
    let arg = |id: super::ValueId| &vals[id.index()];
    match op {
        Op::Input { buf, offset } => {
            let o = *offset as usize;
            match buf {
                InputBuf::Time => vec![t],
                InputBuf::State => y[o..o + shape.len()].to_vec(),
                InputBuf::Param => p[o..o + shape.len()].to_vec(),
            }
        }
        Op::Const(v) => v.to_vec(),
        Op::Unary(u, a) => arg(*a).iter().map(|&x| unary(*u, x)).collect(),
        Op::Binary(bop, a, b) => arg(*a).iter().zip(arg(*b)).map(|(&x, &z)| binary(*bop, x, z)).collect(),
        Op::Broadcast(a) => vec![arg(*a)[0]; shape.len()],
        Op::MatMul(a, b) => {
            let (sa, sb) = (f.shape(*a), f.shape(*b));
            // As [m, k] @ [k, n] with vectors promoted.
            let (m, k) = if sa.rank() == 2 { (sa.dim(0), sa.dim(1)) } else { (1, sa.dim(0)) };
            let n = if sb.rank() == 2 { sb.dim(1) } else { 1 };
            let (av, bv) = (arg(*a), arg(*b));
            let mut out = Vec::with_capacity(m * n);
            for i in 0..m {
                for j in 0..n {
                    if k == 0 {
                        out.push(0.0);
                        continue;
                    }
                    let mut s = av[i * k] * bv[j];
                    for kk in 1..k {
                        s += av[i * k + kk] * bv[kk * n + j];
                    }
                    out.push(s);
                }
            }
            out
        }
        Op::Transpose(a) => {
            let s = f.shape(*a);
            if s.rank() < 2 {
                return arg(*a).clone();
            }
            let (m, n) = (s.dim(0), s.dim(1));
            let av = arg(*a);
            let mut out = Vec::with_capacity(m * n);
            for j in 0..n {
                for i in 0..m {
                    out.push(av[i * n + j]);
                }
            }
            out
        }
        Op::Sum(a) => {
            let av = arg(*a);
            let mut s = av.first().copied().unwrap_or(0.0);
            for &x in av.iter().skip(1) {
                s += x;
            }
            vec![s]
        }
        Op::Slice { arg: a, axis, start } => {
            let s = f.shape(*a);
            let av = arg(*a);
            let start = *start as usize;
            if s.rank() == 1 {
                return av[start..start + shape.len()].to_vec();
            }
            let (rows, cols) = (s.dim(0), s.dim(1));
            let (r0, r1, c0, c1) = if *axis == 0 {
                (start, start + shape.dim(0), 0, cols)
            } else {
                (0, rows, start, start + shape.dim(1))
            };
            let mut out = Vec::with_capacity(shape.len());
            for r in r0..r1 {
                out.extend_from_slice(&av[r * cols + c0..r * cols + c1]);
            }
            out
        }
        Op::Index { arg: a, axis, index } => {
            let s = f.shape(*a);
            let av = arg(*a);
            let i = *index as usize;
            if s.rank() == 1 {
                return vec![av[i]];
            }
            let (rows, cols) = (s.dim(0), s.dim(1));
            if *axis == 0 {
                av[i * cols..(i + 1) * cols].to_vec()
            } else {
                (0..rows).map(|r| av[r * cols + i]).collect()
            }
        }
        Op::Concat { args, axis } => {
            if *axis == 0 {
                args.iter().flat_map(|&a| arg(a).iter().copied()).collect()
            } else {
                let rows = shape.dim(0);
                let mut out = Vec::with_capacity(shape.len());
                for r in 0..rows {
                    for &a in args {
                        let c = f.shape(a).dim(1);
                        out.extend_from_slice(&arg(a)[r * c..(r + 1) * c]);
                    }
                }
                out
            }
        }
        Op::Reshape(a) => arg(*a).clone(),
    }
}

/// `√(2/π)`, the constant inside GELU's tanh approximation.
pub const GELU_C: f64 = 0.797_884_560_802_865_4;
/// The cubic coefficient inside GELU's tanh approximation.
pub const GELU_A: f64 = 0.044715;

/// One element of a unary op (see the module docs).
pub fn unary(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Sin => x.sin(),
        UnaryOp::Cos => x.cos(),
        UnaryOp::Tan => x.tan(),
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Abs => x.abs(),
        UnaryOp::Relu => {
            if x > 0.0 || x.is_nan() {
                x
            } else {
                0.0
            }
        }
        UnaryOp::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        UnaryOp::Softplus => {
            let pos = if x > 0.0 { x } else { 0.0 };
            pos + (-x.abs()).exp().ln_1p()
        }
        UnaryOp::Gelu => {
            let u = (x * x * x * GELU_A + x) * GELU_C;
            x / (1.0 + (-2.0 * u).exp())
        }
        UnaryOp::Elu => {
            if x > 0.0 {
                x
            } else {
                x.exp_m1()
            }
        }
        UnaryOp::Powi(n) => powi(x, n),
        UnaryOp::Step => {
            if x > 0.0 {
                1.0
            } else if x.is_nan() {
                x
            } else {
                0.0
            }
        }
    }
}

/// `x^n` by binary exponentiation: the running square is multiplied into
/// the result for each set bit of `|n|`, lowest bit first, starting from the
/// first set bit (so `x¹ = x` exactly); `1 / x^|n|` for negative `n`.
pub fn powi(x: f64, n: i32) -> f64 {
    let mut e = n.unsigned_abs();
    if e == 0 {
        return 1.0;
    }
    let mut base = x;
    let mut acc: Option<f64> = None;
    loop {
        if e & 1 == 1 {
            acc = Some(match acc {
                None => base,
                Some(a) => a * base,
            });
        }
        e >>= 1;
        if e == 0 {
            break;
        }
        base *= base;
    }
    let r = acc.unwrap_or(1.0);
    if n < 0 {
        1.0 / r
    } else {
        r
    }
}

/// One element of a binary op (see the module docs).
pub fn binary(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Pow => {
            if a < 0.0 {
                f64::NAN
            } else {
                (a + 0.0).powf(b)
            }
        }
        BinaryOp::Min => minimum(a, b),
        BinaryOp::Max => maximum(a, b),
    }
}

/// IEEE 754-2019 `minimum`: NaN if either is NaN; `-0 < +0`.
pub fn minimum(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == b {
        if a.is_sign_negative() {
            a
        } else {
            b
        }
    } else if a < b {
        a
    } else {
        b
    }
}

/// IEEE 754-2019 `maximum`: NaN if either is NaN; `-0 < +0`.
pub fn maximum(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == b {
        if a.is_sign_negative() {
            b
        } else {
            a
        }
    } else if a > b {
        a
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Builder;

    #[test]
    fn rejects_wrong_buffer_lengths() {
        let mut b = Builder::new("f", 2, 1);
        let y = b.state(0, Shape::vector(2));
        b.output(y);
        let f = b.finish();
        assert_eq!(eval(&f, 0.0, &[1.0], &[0.0]), Err(InterpError::StateLen { expected: 2, found: 1 }));
        assert_eq!(eval(&f, 0.0, &[1.0, 2.0], &[]), Err(InterpError::ParamLen { expected: 1, found: 0 }));
        assert_eq!(eval(&f, 0.0, &[1.0, 2.0], &[0.0]), Ok(vec![1.0, 2.0]));
    }

    #[test]
    fn rejects_malformed_functions() {
        let mut b = Builder::new("f", 2, 0);
        let y = b.state(0, Shape::vector(2));
        b.output(y);
        let mut f = b.finish();
        f.outputs.push(crate::ir::ValueId(7));
        assert!(matches!(eval(&f, 0.0, &[1.0, 2.0], &[]), Err(InterpError::Malformed(_))));
    }

    #[test]
    fn structural_ops() {
        // W = p as [2, 3]; y = [1, 2, 3]
        let mut b = Builder::new("f", 3, 6);
        let y = b.state(0, Shape::vector(3));
        let w = b.param(0, Shape::matrix(2, 3));
        let wy = b.matmul(w, y);
        let wt = b.transpose(w);
        let col = b.index(w, 1, 2);
        let rows = b.slice(wt, 0, 1, 2);
        let cat = b.concat(vec![w, w], 1);
        let s = b.sum(cat);
        let r = b.reshape(rows, Shape::vector(4));
        let yw = b.matmul(wy, w);
        for o in [wy, col, r, s, yw] {
            b.output(o);
        }
        let f = b.finish();
        let p = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let out = eval(&f, 0.0, &[1.0, 2.0, 3.0], &p).unwrap();
        // wy = [14, 32]; col = [3, 6]; rows of W^T 1..3 = [[2,5],[3,6]];
        // sum of [W W] = 42; wy @ W = [14+128, 28+160, 42+192]
        assert_eq!(out, vec![14.0, 32.0, 3.0, 6.0, 2.0, 5.0, 3.0, 6.0, 42.0, 142.0, 188.0, 234.0]);
    }

    #[test]
    fn elementwise_semantics() {
        assert_eq!(unary(UnaryOp::Relu, -0.0).to_bits(), 0.0f64.to_bits());
        assert!(unary(UnaryOp::Relu, f64::NAN).is_nan());
        assert_eq!(unary(UnaryOp::Softplus, -1000.0), 0.0);
        assert_eq!(unary(UnaryOp::Softplus, 1000.0), 1000.0);
        assert!((unary(UnaryOp::Softplus, 0.0) - std::f64::consts::LN_2).abs() < 1e-16);
        assert_eq!(unary(UnaryOp::Gelu, -1000.0), 0.0);
        assert_eq!(unary(UnaryOp::Gelu, 1000.0), 1000.0);
        assert!((unary(UnaryOp::Gelu, 1.0) - 0.841_191_990_608_276_8).abs() < 1e-15);
        assert_eq!(unary(UnaryOp::Elu, 2.0), 2.0);
        assert_eq!(unary(UnaryOp::Elu, -1e-300), -1e-300);
        assert_eq!(unary(UnaryOp::Step, 1e-300), 1.0);
        assert_eq!(unary(UnaryOp::Step, -0.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(unary(UnaryOp::Step, f64::NEG_INFINITY), 0.0);
        assert!(unary(UnaryOp::Step, f64::NAN).is_nan());
        assert_eq!(powi(3.0, 5), 243.0);
        assert_eq!(powi(2.0, -3), 0.125);
        assert_eq!(powi(f64::NAN, 0), 1.0);
        assert!(binary(BinaryOp::Pow, -8.0, 2.0).is_nan());
        assert_eq!(binary(BinaryOp::Pow, -0.0, -1.0), f64::INFINITY);
        assert_eq!(binary(BinaryOp::Pow, 2.0, 0.5), std::f64::consts::SQRT_2);
        assert!(binary(BinaryOp::Min, 1.0, f64::NAN).is_nan());
        assert!(binary(BinaryOp::Max, f64::NAN, 1.0).is_nan());
        assert!(binary(BinaryOp::Min, 0.0, -0.0).is_sign_negative());
        assert!(binary(BinaryOp::Max, -0.0, 0.0).is_sign_positive());
        assert_eq!(binary(BinaryOp::Min, 1.0, 2.0), 1.0);
        assert_eq!(binary(BinaryOp::Max, 1.0, 2.0), 2.0);
    }
}
