//! Node constructors for the checked tree that fold constants: when every
//! operand is a [`TKind::Const`], the result is computed here, at compile
//! time, so `const` items, solver options, indices and `8 / 3` are plain
//! numbers by the time anything reads them.
//!
//! They also carry the masks of values computed from observations with
//! missing entries ([`TKind::Masked`], only in losses): elementwise
//! operations, broadcasts, transposes, slices and indexing apply to the
//! value and its mask alike, so a mask always sits at the root of a value.
//! Matrix products, sums, concatenation and reshapes do not take masked
//! operands: the checker rejects those (E0705) before calling them.
//!
//! Callers guarantee the shape rules (checked in `shapes`); these functions
//! never report errors.

use std::sync::Arc;

use crate::ir::{interp, BinaryOp, Shape, UnaryOp};
use crate::span::Span;

use super::tree::{TExpr, TKind};

/// `op(x)` on one element: exactly the reference interpreter's semantics,
/// so folding at compile time and computing at run time agree.
pub fn apply_unary(op: UnaryOp, x: f64) -> f64 {
    interp::unary(op, x)
}

/// `op(a, b)` on one pair of elements, as the reference interpreter does it.
pub fn apply_binary(op: BinaryOp, a: f64, b: f64) -> f64 {
    interp::binary(op, a, b)
}

/// Sum left to right from the first term, as the interpreter sums.
fn sum_terms(mut terms: impl Iterator<Item = f64>) -> f64 {
    let first = terms.next().unwrap_or(0.0);
    terms.fold(first, |acc, x| acc + x)
}

fn dims(s: Shape) -> Vec<usize> {
    s.dims().iter().map(|&d| d as usize).collect()
}

fn node(kind: TKind, shape: Shape, span: Span) -> TExpr {
    TExpr { kind, shape, span }
}

fn konst(values: Vec<f64>, shape: Shape, span: Span) -> TExpr {
    TExpr::constant(Arc::from(values), shape, span)
}

/// Whether `e` carries a mask of missing observations.
pub fn is_masked(e: &TExpr) -> bool {
    matches!(e.kind, TKind::Masked { .. })
}

/// Splits a value into its 0-filled part and its mask, if it has one.
pub fn unmask(e: TExpr) -> (TExpr, Option<TExpr>) {
    let TExpr { kind, shape, span } = e;
    match kind {
        TKind::Masked { value, mask } => (*value, Some(*mask)),
        kind => (TExpr { kind, shape, span }, None),
    }
}

/// `value` with `mask` (none: `value` itself).
pub fn masked(value: TExpr, mask: Option<TExpr>) -> TExpr {
    match mask {
        None => value,
        Some(mask) => {
            debug_assert_eq!(mask.shape, value.shape, "a mask has its value's shape");
            let (shape, span) = (value.shape, value.span);
            node(TKind::Masked { value: Box::new(value), mask: Box::new(mask) }, shape, span)
        }
    }
}

/// The mask of a value that depends on two masked values: the same mask
/// when both are equal (the same observations), else their product.
fn combine_masks(a: Option<TExpr>, b: Option<TExpr>) -> Option<TExpr> {
    match (a, b) {
        (Some(a), Some(b)) if a == b => Some(a),
        (Some(a), Some(b)) => Some(binary(BinaryOp::Mul, a, b, Span::detached())),
        (a, b) => a.or(b),
    }
}

/// The shape of an elementwise result (operands equal or one scalar).
pub fn broadcast_shape(a: Shape, b: Shape) -> Shape {
    if a.is_scalar() {
        b
    } else {
        a
    }
}

pub fn unary(op: UnaryOp, a: TExpr, span: Span) -> TExpr {
    if is_masked(&a) {
        let (v, m) = unmask(a);
        return masked(unary(op, v, span), m);
    }
    if let Some(v) = a.as_const() {
        return konst(v.iter().map(|&x| apply_unary(op, x)).collect(), a.shape, span);
    }
    let shape = a.shape;
    node(TKind::Unary(op, Box::new(a)), shape, span)
}

pub fn binary(op: BinaryOp, a: TExpr, b: TExpr, span: Span) -> TExpr {
    let shape = broadcast_shape(a.shape, b.shape);
    if is_masked(&a) || is_masked(&b) {
        let ((va, ma), (vb, mb)) = (unmask(a), unmask(b));
        let fill = |m: Option<TExpr>| m.map(|m| broadcast(m, shape, Span::detached()));
        return masked(binary(op, va, vb, span), combine_masks(fill(ma), fill(mb)));
    }
    if let (Some(x), Some(y)) = (a.as_const(), b.as_const()) {
        let n = shape.len();
        let pick = |v: &[f64], i: usize| if v.len() == 1 { v[0] } else { v[i] };
        let out = (0..n).map(|i| apply_binary(op, pick(x, i), pick(y, i))).collect();
        return konst(out, shape, span);
    }
    node(TKind::Binary(op, Box::new(a), Box::new(b)), shape, span)
}

/// Repeats a scalar to `shape` (identity when the shape already matches).
pub fn broadcast(a: TExpr, shape: Shape, span: Span) -> TExpr {
    if a.shape == shape {
        return a;
    }
    if is_masked(&a) {
        let (v, m) = unmask(a);
        return masked(broadcast(v, shape, span), m.map(|m| broadcast(m, shape, Span::detached())));
    }
    if let Some(v) = a.as_const() {
        return konst(vec![v[0]; shape.len()], shape, span);
    }
    node(TKind::Broadcast(Box::new(a)), shape, span)
}

/// The shape of `a @ b`, if the product is defined.
pub fn matmul_shape(a: Shape, b: Shape) -> Option<Shape> {
    match (a.dims(), b.dims()) {
        ([m, k], [k2, n]) if k == k2 => Some(Shape::matrix(*m as usize, *n as usize)),
        ([m, k], [k2]) if k == k2 => Some(Shape::vector(*m as usize)),
        ([k], [k2, n]) if k == k2 => Some(Shape::vector(*n as usize)),
        ([k], [k2]) if k == k2 => Some(Shape::scalar()),
        _ => None,
    }
}

pub fn matmul(a: TExpr, b: TExpr, shape: Shape, span: Span) -> TExpr {
    if let (Some(x), Some(y)) = (a.as_const(), b.as_const()) {
        // View both as matrices: a vector on the left is a row, on the right a column.
        let (m, k) = match dims(a.shape)[..] {
            [m, k] => (m, k),
            [k] => (1, k),
            _ => (1, 1),
        };
        let n = match dims(b.shape)[..] {
            [_, n] => n,
            _ => 1,
        };
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = sum_terms((0..k).map(|l| x[i * k + l] * y[l * n + j]));
            }
        }
        return konst(out, shape, span);
    }
    node(TKind::MatMul(Box::new(a), Box::new(b)), shape, span)
}

/// `a'`: swaps a matrix's axes; a vector or scalar is returned unchanged.
pub fn transpose(a: TExpr, span: Span) -> TExpr {
    let [m, n] = dims(a.shape)[..] else {
        return a;
    };
    if is_masked(&a) {
        let (v, mask) = unmask(a);
        return masked(transpose(v, span), mask.map(|k| transpose(k, Span::detached())));
    }
    let shape = Shape::matrix(n, m);
    if let Some(v) = a.as_const() {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[j * m + i] = v[i * n + j];
            }
        }
        return konst(out, shape, span);
    }
    node(TKind::Transpose(Box::new(a)), shape, span)
}

pub fn sum(a: TExpr, span: Span) -> TExpr {
    if a.shape.is_scalar() {
        return a;
    }
    if let Some(v) = a.as_const() {
        return konst(vec![sum_terms(v.iter().copied())], Shape::scalar(), span);
    }
    node(TKind::Sum(Box::new(a)), Shape::scalar(), span)
}

/// `sum(x)` over the observed entries: `sum(mask · x)` for a masked value.
pub fn sum_observed(a: TExpr, span: Span) -> TExpr {
    match unmask(a) {
        (v, None) => sum(v, span),
        (v, Some(m)) => sum(binary(BinaryOp::Mul, v, m, span), span),
    }
}

/// `mean(x)`: `sum(x) / n`, or over the observed entries,
/// `sum(mask · x) / max(sum(mask), 1)`.
pub fn mean(a: TExpr, span: Span) -> TExpr {
    match unmask(a) {
        (v, None) => {
            let n = v.shape.len() as f64;
            binary(BinaryOp::Div, sum(v, span), TExpr::scalar(n, span), span)
        }
        (v, Some(m)) => {
            let count = binary(BinaryOp::Max, sum(m.clone(), span), TExpr::scalar(1.0, span), span);
            binary(BinaryOp::Div, sum(binary(BinaryOp::Mul, v, m, span), span), count, span)
        }
    }
}

/// `norm(x)`: `sqrt(sum(x^2))`, or over the observed entries, `sqrt(sum(mask · x^2))`.
pub fn norm(a: TExpr, span: Span) -> TExpr {
    let (v, m) = unmask(a);
    let sq = unary(UnaryOp::Powi(2), v, span);
    let sq = match m {
        None => sq,
        Some(m) => binary(BinaryOp::Mul, sq, m, span),
    };
    unary(UnaryOp::Sqrt, sum(sq, span), span)
}

/// Row-major strides helper: (outer, axis length, inner) around `axis`.
fn split(shape: Shape, axis: usize) -> (usize, usize, usize) {
    let d = dims(shape);
    let outer: usize = d[..axis].iter().product();
    let inner: usize = d[axis + 1..].iter().product();
    (outer, d[axis], inner)
}

pub fn slice(a: TExpr, axis: usize, start: usize, len: usize, span: Span) -> TExpr {
    let mut d = dims(a.shape);
    if start == 0 && len == d[axis] {
        return a;
    }
    if is_masked(&a) {
        let (v, m) = unmask(a);
        return masked(slice(v, axis, start, len, span), m.map(|m| slice(m, axis, start, len, Span::detached())));
    }
    d[axis] = len;
    let shape = Shape::from_dims(&d).expect("rank kept");
    if let Some(v) = a.as_const() {
        let (outer, n, inner) = split(a.shape, axis);
        let mut out = Vec::with_capacity(shape.len());
        for o in 0..outer {
            let base = o * n * inner;
            out.extend_from_slice(&v[base + start * inner..base + (start + len) * inner]);
        }
        return konst(out, shape, span);
    }
    node(TKind::Slice { arg: Box::new(a), axis, start, len }, shape, span)
}

pub fn index(a: TExpr, axis: usize, index: usize, span: Span) -> TExpr {
    if is_masked(&a) {
        let (v, m) = unmask(a);
        let i = index;
        return masked(self::index(v, axis, i, span), m.map(|m| self::index(m, axis, i, Span::detached())));
    }
    let mut d = dims(a.shape);
    d.remove(axis);
    let shape = Shape::from_dims(&d).expect("rank lowered");
    if let Some(v) = a.as_const() {
        let (outer, n, inner) = split(a.shape, axis);
        let mut out = Vec::with_capacity(shape.len());
        for o in 0..outer {
            let base = (o * n + index) * inner;
            out.extend_from_slice(&v[base..base + inner]);
        }
        return konst(out, shape, span);
    }
    node(TKind::Index { arg: Box::new(a), axis, index }, shape, span)
}

/// Joins operands of equal rank along `axis` (other axes equal).
pub fn concat(args: Vec<TExpr>, axis: usize, span: Span) -> TExpr {
    let mut d = dims(args[0].shape);
    d[axis] = args.iter().map(|a| a.shape.dim(axis)).sum();
    let shape = Shape::from_dims(&d).expect("rank kept");
    if args.len() == 1 {
        return args.into_iter().next().expect("one argument");
    }
    if args.iter().all(|a| a.as_const().is_some()) {
        let outer: usize = d[..axis].iter().product();
        let mut out = Vec::with_capacity(shape.len());
        for o in 0..outer {
            for a in &args {
                let (_, n, inner) = split(a.shape, axis);
                let v = a.as_const().expect("checked constant");
                out.extend_from_slice(&v[o * n * inner..(o + 1) * n * inner]);
            }
        }
        return konst(out, shape, span);
    }
    node(TKind::Concat { args, axis }, shape, span)
}

pub fn reshape(a: TExpr, shape: Shape, span: Span) -> TExpr {
    if a.shape == shape {
        return a;
    }
    if let Some(v) = a.as_const() {
        return TExpr::constant(v.clone(), shape, span);
    }
    node(TKind::Reshape(Box::new(a)), shape, span)
}

/// The value as an integer, if it is a scalar constant with an integral value.
pub fn const_int(e: &TExpr) -> Option<i64> {
    let v = e.as_const()?;
    if !e.shape.is_scalar() {
        return None;
    }
    let x = v[0];
    (x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15).then_some(x as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(values: &[f64], shape: Shape) -> TExpr {
        TExpr::constant(Arc::from(values.to_vec()), shape, Span::detached())
    }
    fn vals(e: &TExpr) -> Vec<f64> {
        e.as_const().expect("folded").to_vec()
    }
    const S: Span = Span::detached();

    #[test]
    fn folds_elementwise_with_broadcasting() {
        let v = c(&[1.0, 2.0], Shape::vector(2));
        let r = binary(BinaryOp::Mul, c(&[3.0], Shape::scalar()), v, S);
        assert_eq!(r.shape, Shape::vector(2));
        assert_eq!(vals(&r), [3.0, 6.0]);
        assert_eq!(vals(&unary(UnaryOp::Powi(3), c(&[2.0], Shape::scalar()), S)), [8.0]);
        assert_eq!(vals(&unary(UnaryOp::Relu, c(&[-1.0, 2.0], Shape::vector(2)), S)), [0.0, 2.0]);
    }

    #[test]
    fn folds_matmul_transpose_and_reductions() {
        let a = c(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], Shape::matrix(2, 3));
        let x = c(&[1.0, 0.0, -1.0], Shape::vector(3));
        let y = matmul(a.clone(), x, Shape::vector(2), S);
        assert_eq!(vals(&y), [-2.0, -2.0]);
        let at = transpose(a.clone(), S);
        assert_eq!(at.shape, Shape::matrix(3, 2));
        assert_eq!(vals(&at), [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        let row = c(&[1.0, 1.0], Shape::vector(2));
        assert_eq!(vals(&matmul(row, a.clone(), Shape::vector(3), S)), [5.0, 7.0, 9.0]);
        assert_eq!(vals(&sum(a, S)), [21.0]);
    }

    #[test]
    fn folds_indexing_and_concat() {
        let a = c(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], Shape::matrix(2, 3));
        assert_eq!(vals(&index(a.clone(), 0, 1, S)), [4.0, 5.0, 6.0]);
        assert_eq!(vals(&index(a.clone(), 1, 2, S)), [3.0, 6.0]);
        let s = slice(a.clone(), 1, 1, 2, S);
        assert_eq!(s.shape, Shape::matrix(2, 2));
        assert_eq!(vals(&s), [2.0, 3.0, 5.0, 6.0]);
        let j = concat(vec![a.clone(), c(&[7.0, 8.0, 9.0], Shape::matrix(1, 3))], 0, S);
        assert_eq!(j.shape, Shape::matrix(3, 3));
        assert_eq!(vals(&j)[6..], [7.0, 8.0, 9.0]);
        let k = concat(vec![a, c(&[0.0, 0.0], Shape::matrix(2, 1))], 1, S);
        assert_eq!(vals(&k), [1.0, 2.0, 3.0, 0.0, 4.0, 5.0, 6.0, 0.0]);
    }

    #[test]
    fn leaves_non_constants_alone() {
        let t = TExpr { kind: TKind::Time, shape: Shape::scalar(), span: S };
        let r = binary(BinaryOp::Add, t, c(&[1.0], Shape::scalar()), S);
        assert!(matches!(r.kind, TKind::Binary(BinaryOp::Add, _, _)));
        assert_eq!(const_int(&c(&[-2.0], Shape::scalar())), Some(-2));
        assert_eq!(const_int(&c(&[2.5], Shape::scalar())), None);
    }
}
