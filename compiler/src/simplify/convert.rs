//! Conversions between IR [`Function`]s and egg expressions over [`TensorLang`].
//!
//! Owns the shape rule of every e-node ([`infer`], the same rules as the IR
//! builder and verifier), IR → [`RecExpr`] (live nodes only, topological,
//! with an `outputs` root) and [`RecExpr`] → IR (through the [`Builder`], so
//! identical nodes are shared and identity structure — a transpose of a
//! vector, a full slice — is dropped).
//!
//! Never: panic on a malformed expression: [`from_recexpr`] reports it, and
//! the caller falls back to its input.

use egg::{Id, Language, RecExpr};

use super::lang::{Buf, Sh, TensorLang, B, U};
use crate::ir::verify::{verify, VerifyError};
use crate::ir::{Builder, Function, Op, Shape, ValueId};
use crate::span::Span;

/// What an e-class (or expression node) denotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A tensor of this shape.
    Tensor(Shape),
    /// A shape literal (operand of `bcast` and `reshape`).
    Shape(Shape),
    /// The outputs of the function.
    Root,
}

impl Kind {
    pub fn tensor(self) -> Option<Shape> {
        match self {
            Kind::Tensor(s) => Some(s),
            _ => None,
        }
    }
}

fn dims(s: Shape) -> Vec<usize> {
    s.dims().iter().map(|&d| d as usize).collect()
}

/// The shape of a matrix product, as the IR defines it.
pub fn matmul_shape(a: Shape, b: Shape) -> Option<Shape> {
    match (dims(a).as_slice(), dims(b).as_slice()) {
        ([m, k], [k2, n]) if k == k2 => Some(Shape::matrix(*m, *n)),
        ([m, k], [k2]) if k == k2 => Some(Shape::vector(*m)),
        ([k], [k2, n]) if k == k2 => Some(Shape::vector(*n)),
        ([k], [k2]) if k == k2 => Some(Shape::scalar()),
        _ => None,
    }
}

/// The transpose's shape: axes swapped for a matrix, unchanged otherwise.
pub fn transpose_shape(s: Shape) -> Shape {
    match dims(s).as_slice() {
        [m, n] => Shape::matrix(*n, *m),
        _ => s,
    }
}

/// What `node` denotes given what its operands denote; `None` when the
/// operands do not fit the op (a malformed expression).
pub fn infer(node: &TensorLang, kind: impl Fn(Id) -> Kind) -> Option<Kind> {
    use TensorLang as T;
    let t = |id: Id| kind(id).tensor();
    let lit = |id: Id| match kind(id) {
        Kind::Shape(s) => Some(s),
        _ => None,
    };
    let shape = match node {
        T::Input { shape, .. } => shape.0,
        T::Const { shape, bits } => {
            if bits.len() != shape.0.len() {
                return None;
            }
            shape.0
        }
        T::Unary(_, [a]) => t(*a)?,
        T::Binary(_, [a, b]) => {
            let (sa, sb) = (t(*a)?, t(*b)?);
            if sa != sb {
                return None;
            }
            sa
        }
        T::Broadcast([a, s]) => {
            if !t(*a)?.is_scalar() {
                return None;
            }
            lit(*s)?
        }
        T::Reshape([a, s]) => {
            let target = lit(*s)?;
            if t(*a)?.len() != target.len() {
                return None;
            }
            target
        }
        T::MatMul([a, b]) => matmul_shape(t(*a)?, t(*b)?)?,
        T::Transpose([a]) => transpose_shape(t(*a)?),
        T::Sum([a]) => {
            t(*a)?;
            Shape::scalar()
        }
        T::Slice { axis, start, len, arg: [a] } => {
            let s = t(*a)?;
            let axis = *axis as usize;
            if axis >= s.rank() || (*start as usize + *len as usize) > s.dim(axis) {
                return None;
            }
            let mut d = dims(s);
            d[axis] = *len as usize;
            Shape::from_dims(&d)?
        }
        T::Index { axis, index, arg: [a] } => {
            let s = t(*a)?;
            let axis = *axis as usize;
            if axis >= s.rank() || *index as usize >= s.dim(axis) {
                return None;
            }
            let mut d = dims(s);
            d.remove(axis);
            Shape::from_dims(&d)?
        }
        T::Concat { axis, args } => {
            let axis = *axis as usize;
            let first = t(*args.first()?)?;
            if axis >= first.rank() {
                return None;
            }
            let mut d = dims(first);
            d[axis] = 0;
            for &a in args.iter() {
                let s = t(a)?;
                if s.rank() != first.rank() || (0..s.rank()).any(|ax| ax != axis && s.dim(ax) != first.dim(ax)) {
                    return None;
                }
                d[axis] += s.dim(axis);
            }
            Shape::from_dims(&d)?
        }
        T::ShapeOf(s) => return Some(Kind::Shape(s.0)),
        T::Outputs(args) => {
            for &a in args.iter() {
                t(a)?;
            }
            return Some(Kind::Root);
        }
    };
    Some(Kind::Tensor(shape))
}

/// The IR op of a tensor e-node whose operands are the values `arg(id)`
/// (`None` for the bookkeeping nodes).
pub fn ir_op(node: &TensorLang, arg: impl Fn(Id) -> ValueId) -> Option<Op> {
    use TensorLang as T;
    Some(match node {
        T::Input { buf, offset, .. } => Op::Input { buf: buf.0, offset: *offset },
        T::Const { bits, .. } => Op::Const(bits.iter().map(|&b| f64::from_bits(b)).collect()),
        T::Unary(u, [a]) => Op::Unary(u.0, arg(*a)),
        T::Binary(b, [x, y]) => Op::Binary(b.0, arg(*x), arg(*y)),
        T::Broadcast([a, _]) => Op::Broadcast(arg(*a)),
        T::Reshape([a, _]) => Op::Reshape(arg(*a)),
        T::MatMul([a, b]) => Op::MatMul(arg(*a), arg(*b)),
        T::Transpose([a]) => Op::Transpose(arg(*a)),
        T::Sum([a]) => Op::Sum(arg(*a)),
        T::Slice { axis, start, arg: [a], .. } => Op::Slice { arg: arg(*a), axis: *axis, start: *start },
        T::Index { axis, index, arg: [a] } => Op::Index { arg: arg(*a), axis: *axis, index: *index },
        T::Concat { axis, args } => Op::Concat { args: args.iter().map(|&a| arg(a)).collect(), axis: *axis },
        T::ShapeOf(_) | T::Outputs(_) => return None,
    })
}

/// Which nodes of `f` its outputs depend on.
pub fn live_nodes(f: &Function) -> Vec<bool> {
    let mut live = vec![false; f.nodes.len()];
    for &o in &f.outputs {
        if let Some(l) = live.get_mut(o.index()) {
            *l = true;
        }
    }
    for i in (0..f.nodes.len()).rev() {
        if live[i] {
            for a in f.nodes[i].op.args() {
                if let Some(l) = live.get_mut(a.index()) {
                    *l = true;
                }
            }
        }
    }
    live
}

/// The live part of a verified `f` as an expression rooted at an `outputs`
/// node, and the expression node of each live IR node.
pub fn to_recexpr(f: &Function) -> (RecExpr<TensorLang>, Vec<Option<Id>>) {
    use TensorLang as T;
    let live = live_nodes(f);
    let mut expr = RecExpr::default();
    let mut ids: Vec<Option<Id>> = vec![None; f.nodes.len()];
    for (i, node) in f.nodes.iter().enumerate() {
        if !live[i] {
            continue;
        }
        // Operands precede users in a verified function, so they are mapped.
        let a = |v: ValueId| ids[v.index()].unwrap_or_else(|| Id::from(0usize));
        let n = match &node.op {
            Op::Input { buf, offset } => T::Input { buf: Buf(*buf), offset: *offset, shape: Sh(node.shape) },
            Op::Const(v) => T::constant(node.shape, v),
            Op::Unary(u, x) => T::Unary(U(*u), [a(*x)]),
            Op::Binary(b, x, y) => T::Binary(B(*b), [a(*x), a(*y)]),
            Op::Broadcast(x) => {
                let x = a(*x);
                let s = expr.add(T::ShapeOf(Sh(node.shape)));
                T::Broadcast([x, s])
            }
            Op::Reshape(x) => {
                let x = a(*x);
                let s = expr.add(T::ShapeOf(Sh(node.shape)));
                T::Reshape([x, s])
            }
            Op::MatMul(x, y) => T::MatMul([a(*x), a(*y)]),
            Op::Transpose(x) => T::Transpose([a(*x)]),
            Op::Sum(x) => T::Sum([a(*x)]),
            Op::Slice { arg, axis, start } => {
                let len = node.shape.dims().get(*axis as usize).copied().unwrap_or(0);
                T::Slice { axis: *axis, start: *start, len, arg: [a(*arg)] }
            }
            Op::Index { arg, axis, index } => T::Index { axis: *axis, index: *index, arg: [a(*arg)] },
            Op::Concat { args, axis } => T::Concat { axis: *axis, args: args.iter().map(|&x| a(x)).collect() },
        };
        ids[i] = Some(expr.add(n));
    }
    let outs: Box<[Id]> = f.outputs.iter().map(|o| ids[o.index()].unwrap_or_else(|| Id::from(0usize))).collect();
    expr.add(T::Outputs(outs));
    (expr, ids)
}

/// Why an expression could not be turned back into IR.
#[derive(Clone, Debug, PartialEq)]
pub enum ConvertError {
    /// Node `index` of the expression has operands that do not fit its op.
    Shape { index: usize, node: String },
    /// The expression's last node is not an `outputs` root.
    NoRoot,
    /// The rebuilt function failed verification.
    Verify(VerifyError),
}

impl std::fmt::Display for ConvertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConvertError::Shape { index, node } => write!(f, "expression node {index} (`{node}`) is ill-shaped"),
            ConvertError::NoRoot => write!(f, "expression has no `outputs` root"),
            ConvertError::Verify(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ConvertError {}

#[derive(Clone, Debug)]
enum Slot {
    Value(ValueId, Shape),
    Shape(Shape),
    Root(Vec<ValueId>),
}

/// Rebuilds IR from an expression whose last node is its `outputs` root.
/// `span(i)` gives the source span to record for expression node `i`.
pub fn from_recexpr(
    expr: &RecExpr<TensorLang>,
    name: &str,
    n_state: usize,
    n_param: usize,
    span: impl Fn(usize) -> Span,
) -> Result<Function, ConvertError> {
    let mut b = Builder::new(name, n_state, n_param);
    let mut slots: Vec<Slot> = Vec::with_capacity(expr.as_ref().len());
    for (i, node) in expr.as_ref().iter().enumerate() {
        let bad = || ConvertError::Shape { index: i, node: node.to_string() };
        let kind_of = |id: Id| match slots.get(usize::from(id)) {
            Some(Slot::Value(_, s)) => Kind::Tensor(*s),
            Some(Slot::Shape(s)) => Kind::Shape(*s),
            _ => Kind::Root,
        };
        let value = |id: Id| match slots.get(usize::from(id)) {
            Some(Slot::Value(v, _)) => *v,
            _ => ValueId(u32::MAX),
        };
        let slot = match infer(node, kind_of).ok_or_else(bad)? {
            Kind::Shape(s) => Slot::Shape(s),
            Kind::Root => Slot::Root(node.children().iter().map(|&c| value(c)).collect()),
            Kind::Tensor(shape) => {
                let op = ir_op(node, value).ok_or_else(bad)?;
                let v = match identity_of(&op, shape, |v| b.shape(v)) {
                    Some(v) => v,
                    None => {
                        b.set_span(span(i));
                        b.push(op, shape)
                    }
                };
                Slot::Value(v, shape)
            }
        };
        slots.push(slot);
    }
    let Some(Slot::Root(outputs)) = slots.pop() else { return Err(ConvertError::NoRoot) };
    for o in outputs {
        b.output(o);
    }
    let f = b.finish();
    verify(&f).map_err(ConvertError::Verify)?;
    Ok(f)
}

/// The operand an op returns unchanged (a transpose of a vector, a full
/// slice, a one-part concat, a reshape or broadcast to its operand's shape,
/// a sum of a scalar).
fn identity_of(op: &Op, shape: Shape, shape_of: impl Fn(ValueId) -> Shape) -> Option<ValueId> {
    match op {
        Op::Transpose(a) if shape_of(*a).rank() < 2 => Some(*a),
        Op::Reshape(a) | Op::Broadcast(a) | Op::Sum(a) | Op::Slice { arg: a, .. } if shape_of(*a) == shape => Some(*a),
        Op::Concat { args, .. } if args.len() == 1 => Some(args[0]),
        _ => None,
    }
}

/// `f` rebuilt through the builder: dead nodes dropped, identical nodes shared.
pub fn rebuild(f: &Function) -> Result<Function, ConvertError> {
    let (expr, ids) = to_recexpr(f);
    let mut spans = vec![Span::detached(); expr.as_ref().len()];
    for (node, id) in f.nodes.iter().zip(&ids) {
        if let Some(id) = id {
            spans[usize::from(*id)] = node.span;
        }
    }
    from_recexpr(&expr, &f.name, f.n_state, f.n_param, |i| spans[i])
}
