//! The derivative table: one rule per op, for both modes.
//!
//! Owns the local derivative of every [`Op`], [`UnaryOp`] and [`BinaryOp`]:
//!
//! * elementwise ops through [`partial`], the derivative of the result with
//!   respect to one operand as a factor built from forward values only (so
//!   it is computed once and shared by every row of a Jacobian); reverse
//!   mode multiplies the cotangent by it, forward mode the tangent;
//! * linear and structural ops (`matmul`, `transpose`, `sum`, `slice`,
//!   `index`, `concat`, `reshape`, `broadcast`) through [`vjp`] (the
//!   transposed map) and [`jvp`] (the map itself).
//!
//! Conventions at non-smooth points (documented in `autodiff`'s docs):
//! `relu'(0) = 0`, `abs'(0) = 0`, and `min`/`max` send the whole cotangent
//! to the operand they pick, the first operand on ties.
//!
//! Never: build a node for a structurally zero derivative (callers pass
//! which operands need a cotangent, and a zero partial contributes nothing),
//! or depend on the simplifier to make a rule cheap.

use super::cotangent::Ct;
use super::graph::{Coef, Graph};
use crate::ir::interp::{GELU_A, GELU_C};
use crate::ir::{BinaryOp, Op, Shape, UnaryOp, ValueId};

/// The derivative of an elementwise result with respect to one operand.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Partial {
    Zero,
    One,
    MinusOne,
    /// Multiply by this (operand-shaped) forward value.
    Factor(ValueId),
    /// Divide by this forward value (one division instead of a reciprocal and a product).
    Recip(ValueId),
}

/// `∂ out / ∂ x` for `out = op(x)`.
fn unary_partial(g: &mut Graph, op: UnaryOp, x: ValueId, out: ValueId) -> Partial {
    use Partial::*;
    match op {
        UnaryOp::Neg => MinusOne,
        UnaryOp::Exp => Factor(out),
        UnaryOp::Log => Recip(x),
        UnaryOp::Sin => Factor(g.unary(UnaryOp::Cos, x)),
        UnaryOp::Cos => {
            let s = g.unary(UnaryOp::Sin, x);
            Factor(g.neg(s))
        }
        // 1 + tan²x, from the forward value.
        UnaryOp::Tan => {
            let sq = g.mul(out, out);
            let one = g.constant(1.0, g.shape(x));
            Factor(g.add(one, sq))
        }
        // 1 − tanh²x, from the forward value.
        UnaryOp::Tanh => {
            let sq = g.mul(out, out);
            Factor(g.rsub_const(1.0, sq))
        }
        // 1 / (2 √x) = 0.5 / √x, from the forward value.
        UnaryOp::Sqrt => {
            let half = g.constant(0.5, g.shape(x));
            Factor(g.div(half, out))
        }
        UnaryOp::Abs => {
            let pos = g.unary(UnaryOp::Step, x);
            let nx = g.neg(x);
            let neg = g.unary(UnaryOp::Step, nx);
            Factor(g.sub(pos, neg))
        }
        UnaryOp::Relu => Factor(g.unary(UnaryOp::Step, x)),
        // s (1 − s), from the forward value.
        UnaryOp::Sigmoid => {
            let one_minus = g.rsub_const(1.0, out);
            Factor(g.mul(out, one_minus))
        }
        UnaryOp::Softplus => Factor(g.unary(UnaryOp::Sigmoid, x)),
        UnaryOp::Gelu => gelu_partial(g, x),
        // 1 for x > 0, else exp(x): exp(min(x, 0)).
        UnaryOp::Elu => {
            let zero = g.constant(0.0, g.shape(x));
            let m = g.binary(BinaryOp::Min, x, zero);
            Factor(g.unary(UnaryOp::Exp, m))
        }
        UnaryOp::Powi(0) | UnaryOp::Step => Zero,
        UnaryOp::Powi(1) => One,
        UnaryOp::Powi(2) => Factor(g.add(x, x)),
        UnaryOp::Powi(n) => {
            let lower = g.unary(UnaryOp::Powi(n - 1), x);
            Factor(g.scale_const(f64::from(n), lower))
        }
    }
}

/// `gelu'(x)` for `gelu(x) = x σ(2u)`, `u = C (x + A x³)`:
/// `σ(2u) + x σ(2u) (1 − σ(2u)) · 2C (1 + 3A x²)`.
fn gelu_partial(g: &mut Graph, x: ValueId) -> Partial {
    let x2 = g.mul(x, x);
    let inner = g.scale_const(2.0 * GELU_C * GELU_A, x2);
    let two_c = g.constant(2.0 * GELU_C, g.shape(x));
    let inner = g.add(inner, two_c);
    let two_u = g.mul(x, inner);
    let s = g.unary(UnaryOp::Sigmoid, two_u);
    let one_minus = g.rsub_const(1.0, s);
    let ds = g.mul(s, one_minus);
    let du = g.scale_const(6.0 * GELU_C * GELU_A, x2);
    let du = g.add(du, two_c);
    let xds = g.mul(x, ds);
    let tail = g.mul(xds, du);
    let d = g.add(s, tail);
    Partial::Factor(d)
}

/// `∂ out / ∂ (operand `which`)` for `out = op(x, y)`.
fn binary_partial(g: &mut Graph, op: BinaryOp, which: usize, x: ValueId, y: ValueId, out: ValueId) -> Partial {
    use Partial::*;
    match (op, which) {
        (BinaryOp::Add, _) => One,
        (BinaryOp::Sub, 0) => One,
        (BinaryOp::Sub, _) => MinusOne,
        (BinaryOp::Mul, 0) => Factor(y),
        (BinaryOp::Mul, _) => Factor(x),
        (BinaryOp::Div, 0) => Recip(y),
        // −x / y² = −out / y.
        (BinaryOp::Div, _) => {
            let q = g.div(out, y);
            Factor(g.neg(q))
        }
        // y x^(y−1)
        (BinaryOp::Pow, 0) => {
            let one = g.constant(1.0, g.shape(y));
            let ym1 = g.sub(y, one);
            let p = g.binary(BinaryOp::Pow, x, ym1);
            Factor(g.mul(y, p))
        }
        // x^y log x (needs x > 0)
        (BinaryOp::Pow, _) => {
            let l = g.unary(UnaryOp::Log, x);
            Factor(g.mul(out, l))
        }
        // The second operand when it is strictly larger (max) or smaller (min).
        (BinaryOp::Max | BinaryOp::Min, _) => {
            let d = if op == BinaryOp::Max { g.sub(y, x) } else { g.sub(x, y) };
            let second = g.unary(UnaryOp::Step, d);
            if which == 1 {
                Factor(second)
            } else {
                Factor(g.rsub_const(1.0, second))
            }
        }
    }
}

/// The partial of an elementwise `op` (operands already in `g`) for operand `which`.
pub(super) fn partial(g: &mut Graph, op: &Op, which: usize, out: ValueId) -> Partial {
    match *op {
        Op::Unary(u, x) => unary_partial(g, u, x, out),
        Op::Binary(b, x, y) => binary_partial(g, b, which, x, y, out),
        _ => Partial::Zero,
    }
}

/// `p · t` for a dense tensor `t` (a tangent, or a dense cotangent).
pub(super) fn apply(g: &mut Graph, p: Partial, t: ValueId) -> Option<ValueId> {
    match p {
        Partial::Zero => None,
        Partial::One => Some(t),
        Partial::MinusOne => Some(g.neg(t)),
        Partial::Factor(f) => Some(g.mul(t, f)),
        Partial::Recip(d) => Some(g.div(t, d)),
    }
}

fn dims(s: Shape) -> Vec<usize> {
    s.dims().iter().map(|&d| d as usize).collect()
}

/// Row-major multi-index of flat `index` in `s`.
fn unflatten(s: Shape, index: usize) -> Vec<usize> {
    match s.rank() {
        0 => vec![],
        1 => vec![index],
        _ => vec![index / s.dim(1), index % s.dim(1)],
    }
}

fn flatten(s: Shape, at: &[usize]) -> usize {
    match s.rank() {
        0 => 0,
        1 => at[0],
        _ => at[0] * s.dim(1) + at[1],
    }
}

/// Reverse mode: the cotangents of `op`'s operands (in [`Op::args`] order;
/// `None` where zero or not wanted) given the cotangent `c` of its result
/// `out`. `op`'s operands are nodes of `g`.
pub(super) fn vjp(g: &mut Graph, op: &Op, out: ValueId, c: Ct, want: &[bool]) -> Vec<Option<Ct>> {
    let out_shape = g.shape(out);
    let w = |k: usize| want.get(k).copied().unwrap_or(false);
    match op {
        Op::Input { .. } | Op::Const(_) => vec![],
        Op::Unary(..) | Op::Binary(..) => (0..op.args().len())
            .map(|k| {
                if !w(k) {
                    return None;
                }
                let p = partial(g, op, k, out);
                c.clone().scaled(p, g)
            })
            .collect(),
        Op::Broadcast(_) => vec![Some(match c {
            Ct::Dense(v) => Ct::Dense(g.b.sum(v)),
            Ct::Sparse { entries, .. } => Ct::one_hot(Shape::scalar(), 0, Ct::total(&entries, g)),
        })],
        Op::MatMul(a, b) => matmul_vjp(g, *a, *b, c, [w(0), w(1)]),
        Op::Transpose(a) => {
            let s = g.shape(*a);
            vec![match c {
                Ct::Dense(v) => Some(Ct::Dense(g.b.transpose(v))),
                Ct::Sparse { entries, .. } if s.rank() == 2 => Ct::moved(&entries, s, |i| {
                    let at = unflatten(out_shape, i);
                    Some(flatten(s, &[at[1], at[0]]))
                }),
                sparse => Some(sparse),
            }]
        }
        Op::Sum(a) => {
            let s = g.shape(*a);
            let v = c.dense(g);
            vec![Some(Ct::Dense(g.b.broadcast(v, s)))]
        }
        Op::Slice { arg, axis, start } => {
            let (s, axis, start) = (g.shape(*arg), *axis as usize, *start as usize);
            vec![match c {
                Ct::Dense(v) => Some(Ct::Dense(g.pad(s, axis, start, v))),
                Ct::Sparse { entries, .. } => Ct::moved(&entries, s, |i| {
                    let mut at = unflatten(out_shape, i);
                    at[axis] += start;
                    Some(flatten(s, &at))
                }),
            }]
        }
        Op::Index { arg, axis, index: k } => {
            let (s, axis, k) = (g.shape(*arg), *axis as usize, *k as usize);
            vec![match c {
                // An element of a vector: a one-hot, assembled with its siblings later.
                Ct::Dense(v) if s.rank() == 1 => Some(Ct::one_hot(s, k, Coef::Val(v))),
                Ct::Dense(v) => Some(Ct::Dense(g.place(s, axis, k, v))),
                Ct::Sparse { entries, .. } => Ct::moved(&entries, s, |i| {
                    let mut at = unflatten(out_shape, i);
                    at.insert(axis, k);
                    Some(flatten(s, &at))
                }),
            }]
        }
        Op::Concat { args, axis } => {
            let axis = *axis as usize;
            let mut start = 0;
            let mut res = Vec::with_capacity(args.len());
            for (k, &a) in args.iter().enumerate() {
                let s = g.shape(a);
                let len = s.dim(axis);
                res.push(match &c {
                    _ if !w(k) => None,
                    Ct::Dense(v) => Some(Ct::Dense(g.b.slice(*v, axis, start, len))),
                    Ct::Sparse { entries, .. } => Ct::moved(entries, s, |i| {
                        let mut at = unflatten(out_shape, i);
                        (at[axis] >= start && at[axis] < start + len).then(|| {
                            at[axis] -= start;
                            flatten(s, &at)
                        })
                    }),
                });
                start += len;
            }
            res
        }
        Op::Reshape(a) => {
            let s = g.shape(*a);
            vec![match c {
                Ct::Dense(v) => Some(Ct::Dense(g.reshape(v, s))),
                Ct::Sparse { entries, .. } => Some(Ct::Sparse { shape: s, entries }),
            }]
        }
    }
}

/// Reverse rule of `a @ b` for the four shape combinations.
fn matmul_vjp(g: &mut Graph, a: ValueId, b: ValueId, c: Ct, want: [bool; 2]) -> Vec<Option<Ct>> {
    let (sa, sb) = (g.shape(a), g.shape(b));
    // A one-hot `coef e_i` reads rows and columns; anything else is dense.
    let (dense, unit) = match c {
        Ct::Sparse { entries, .. } if entries.len() == 1 => (None, Some(entries[0])),
        other => (Some(other.dense(g)), None),
    };
    let mut da = None;
    let mut db = None;
    match (dims(sa).as_slice(), dims(sb).as_slice(), dense, unit) {
        // [m,k] @ [k,n]: da = c bᵀ, db = aᵀ c.
        ([_, _], [_, _], Some(c), _) => {
            if want[0] {
                let bt = g.b.transpose(b);
                da = Some(g.b.matmul(c, bt));
            }
            if want[1] {
                let at = g.b.transpose(a);
                db = Some(g.b.matmul(at, c));
            }
        }
        // c = coef e_(i,j): row i of da is coef b[:, j]; column j of db is coef a[i, :].
        ([_, _], [_, n], _, Some((index, coef))) => {
            let (i, j) = (index / n, index % n);
            if want[0] {
                let col = g.b.index(b, 1, j);
                let row = g.scale(coef, col);
                da = Some(g.place(sa, 0, i, row));
            }
            if want[1] {
                let row = g.b.index(a, 0, i);
                let col = g.scale(coef, row);
                db = Some(g.place(sb, 1, j, col));
            }
        }
        // [m,k] @ [k]: da = c ⊗ b, db = c @ a.
        ([m, k], [_], Some(c), _) => {
            if want[0] {
                let cc = g.b.reshape(c, Shape::matrix(*m, 1));
                let br = g.b.reshape(b, Shape::matrix(1, *k));
                da = Some(g.b.matmul(cc, br));
            }
            if want[1] {
                db = Some(g.b.matmul(c, a));
            }
        }
        ([_, _], [_], _, Some((index, coef))) => {
            if want[0] {
                let row = g.scale(coef, b);
                da = Some(g.place(sa, 0, index, row));
            }
            if want[1] {
                let row = g.b.index(a, 0, index);
                db = Some(g.scale(coef, row));
            }
        }
        // [k] @ [k,n]: da = b @ c, db = a ⊗ c.
        ([k], [_, n], Some(c), _) => {
            if want[0] {
                da = Some(g.b.matmul(b, c));
            }
            if want[1] {
                let ac = g.b.reshape(a, Shape::matrix(*k, 1));
                let cr = g.b.reshape(c, Shape::matrix(1, *n));
                db = Some(g.b.matmul(ac, cr));
            }
        }
        ([_], [_, _], _, Some((index, coef))) => {
            if want[0] {
                let col = g.b.index(b, 1, index);
                da = Some(g.scale(coef, col));
            }
            if want[1] {
                let col = g.scale(coef, a);
                db = Some(g.place(sb, 1, index, col));
            }
        }
        // [k] @ [k]: a scalar c; da = c b, db = c a.
        (_, _, dense, unit) => {
            let cv = match (dense, unit) {
                (Some(v), _) => Coef::Val(v),
                (None, Some((_, coef))) => coef,
                (None, None) => return vec![None, None],
            };
            if want[0] {
                da = Some(g.scale(cv, b));
            }
            if want[1] {
                db = Some(g.scale(cv, a));
            }
        }
    }
    vec![da.map(Ct::Dense), db.map(Ct::Dense)]
}

/// Forward mode: the tangent of `op`'s result `out` given its operands'
/// tangents (`None` = zero; at least one is not).
pub(super) fn jvp(g: &mut Graph, op: &Op, out: ValueId, t: &[Option<ValueId>]) -> Option<ValueId> {
    let t0 = t.first().copied().flatten();
    let out_shape = g.shape(out);
    match op {
        Op::Input { .. } | Op::Const(_) => None,
        Op::Unary(..) => {
            let p = partial(g, op, 0, out);
            apply(g, p, t0?)
        }
        Op::Binary(..) => {
            let mut acc: Option<ValueId> = None;
            for (k, tk) in t.iter().enumerate() {
                let Some(tk) = *tk else { continue };
                let p = partial(g, op, k, out);
                let Some(term) = apply(g, p, tk) else { continue };
                acc = Some(match acc {
                    None => term,
                    Some(a) => g.add(a, term),
                });
            }
            acc
        }
        Op::Broadcast(_) => Some(g.b.broadcast(t0?, out_shape)),
        Op::MatMul(a, b) => {
            let left = t0.map(|ta| g.b.matmul(ta, *b));
            let right = t.get(1).copied().flatten().map(|tb| g.b.matmul(*a, tb));
            match (left, right) {
                (Some(l), Some(r)) => Some(g.add(l, r)),
                (l, r) => l.or(r),
            }
        }
        Op::Transpose(_) => Some(g.b.transpose(t0?)),
        Op::Sum(_) => Some(g.b.sum(t0?)),
        Op::Slice { axis, start, .. } => {
            let axis = *axis as usize;
            Some(g.b.slice(t0?, axis, *start as usize, out_shape.dim(axis)))
        }
        Op::Index { axis, index, .. } => Some(g.b.index(t0?, *axis as usize, *index as usize)),
        Op::Concat { args, axis } => {
            let parts: Vec<ValueId> =
                args.iter().zip(t).map(|(&a, tk)| tk.unwrap_or_else(|| g.zeros(g.shape(a)))).collect();
            Some(g.b.concat(parts, *axis as usize))
        }
        Op::Reshape(_) => Some(g.reshape(t0?, out_shape)),
    }
}
