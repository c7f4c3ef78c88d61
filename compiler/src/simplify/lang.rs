//! The egg language of the tensor IR: one e-node kind per [`Op`](crate::ir::Op), plus
//! two bookkeeping nodes.
//!
//! Owns [`TensorLang`] and its text form (used by rewrite patterns, rule
//! examples in tests and explanations). Attributes that a rewrite may need to
//! match as a wildcard (the target shape of a broadcast or reshape) are
//! child e-classes holding a [`TensorLang::ShapeOf`] leaf; attributes that
//! rules never abstract over (input offsets, constants, slice and index
//! positions, concat axes) stay inline in the node.
//!
//! Text form (`Display` and [`FromOp`] agree, so `RecExpr::from_str` of a
//! printed expression gives it back):
//!
//! | node | text |
//! |---|---|
//! | input | `t`, `y@OFFSET:SHAPE`, `p@OFFSET:SHAPE` with SHAPE `s`, `N` or `MxN` |
//! | constant | a scalar as a number (`1.0`, `-0.0`, `NaN`, `inf`); a tensor as `c:SHAPE:v0,v1,…` |
//! | unary | the IR mnemonic (`neg`, `exp`, …), `powi:N` |
//! | binary | `add`, `sub`, `mul`, `div`, `pow`, `min`, `max` |
//! | structure | `bcast X #SHAPE`, `reshape X #SHAPE`, `matmul`, `transpose`, `sum`, `slice:AXIS:START:LEN`, `index:AXIS:I`, `concat:AXIS` |
//! | bookkeeping | `#SHAPE` (a shape), `outputs` (the function's outputs, the root) |
//!
//! Never: know about rules, costs or the analysis.

use std::cmp::Ordering;
use std::fmt;

use egg::{FromOp, Id, Language};

use crate::ir::print::{binary_name, unary_name};
use crate::ir::{BinaryOp, InputBuf, Shape, UnaryOp};

/// A [`Shape`] with a total order (e-nodes must be `Ord`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sh(pub Shape);

impl Ord for Sh {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.0.rank(), self.0.dims()).cmp(&(other.0.rank(), other.0.dims()))
    }
}
impl PartialOrd for Sh {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A [`UnaryOp`] with a total order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct U(pub UnaryOp);

/// A [`BinaryOp`] with a total order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct B(pub BinaryOp);

/// An [`InputBuf`] with a total order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Buf(pub InputBuf);

/// Every unary op but `powi`, in a fixed order (the order of the ordering).
pub const UNARY_OPS: [UnaryOp; 15] = UnaryOp::NON_POWI;

/// Every binary op, in a fixed order.
pub const BINARY_OPS: [BinaryOp; 7] =
    [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow, BinaryOp::Min, BinaryOp::Max];

fn unary_key(op: UnaryOp) -> (usize, i32) {
    match op {
        UnaryOp::Powi(n) => (UNARY_OPS.len(), n),
        other => (UNARY_OPS.iter().position(|&u| u == other).unwrap_or(0), 0),
    }
}

impl Ord for U {
    fn cmp(&self, other: &Self) -> Ordering {
        unary_key(self.0).cmp(&unary_key(other.0))
    }
}
impl PartialOrd for U {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for B {
    fn cmp(&self, other: &Self) -> Ordering {
        let key = |b: BinaryOp| BINARY_OPS.iter().position(|&x| x == b).unwrap_or(0);
        key(self.0).cmp(&key(other.0))
    }
}
impl PartialOrd for B {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Buf {
    fn cmp(&self, other: &Self) -> Ordering {
        let key = |b: InputBuf| match b {
            InputBuf::Time => 0,
            InputBuf::State => 1,
            InputBuf::Param => 2,
        };
        key(self.0).cmp(&key(other.0))
    }
}
impl PartialOrd for Buf {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// An e-node: an IR op whose operands are e-classes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TensorLang {
    /// Elements `offset ..` of an input buffer, with the node's shape.
    Input {
        buf: Buf,
        offset: u32,
        shape: Sh,
    },
    /// A constant tensor, values as bit patterns.
    Const {
        shape: Sh,
        bits: Box<[u64]>,
    },
    Unary(U, [Id; 1]),
    Binary(B, [Id; 2]),
    /// `[scalar, shape]`: the scalar repeated to the shape.
    Broadcast([Id; 2]),
    MatMul([Id; 2]),
    Transpose([Id; 1]),
    Sum([Id; 1]),
    Slice {
        axis: u8,
        start: u32,
        len: u32,
        arg: [Id; 1],
    },
    Index {
        axis: u8,
        index: u32,
        arg: [Id; 1],
    },
    Concat {
        axis: u8,
        args: Box<[Id]>,
    },
    /// `[tensor, shape]`: the same elements in a new shape.
    Reshape([Id; 2]),
    /// A shape, the second operand of `bcast` and `reshape` (not a tensor).
    ShapeOf(Sh),
    /// The function's outputs in order: the root of the e-graph (not a tensor).
    Outputs(Box<[Id]>),
}

impl TensorLang {
    /// A constant node.
    pub fn constant(shape: Shape, values: &[f64]) -> TensorLang {
        TensorLang::Const { shape: Sh(shape), bits: values.iter().map(|v| v.to_bits()).collect() }
    }

    /// The values of a constant node.
    pub fn const_values(&self) -> Option<Vec<f64>> {
        match self {
            TensorLang::Const { bits, .. } => Some(bits.iter().map(|&b| f64::from_bits(b)).collect()),
            _ => None,
        }
    }
}

impl Language for TensorLang {
    type Discriminant = std::mem::Discriminant<Self>;

    fn discriminant(&self) -> Self::Discriminant {
        std::mem::discriminant(self)
    }

    fn matches(&self, other: &Self) -> bool {
        use TensorLang as T;
        match (self, other) {
            (T::Input { .. }, T::Input { .. })
            | (T::Const { .. }, T::Const { .. })
            | (T::ShapeOf(_), T::ShapeOf(_)) => self == other,
            (T::Unary(a, _), T::Unary(b, _)) => a == b,
            (T::Binary(a, _), T::Binary(b, _)) => a == b,
            (T::Broadcast(_), T::Broadcast(_))
            | (T::MatMul(_), T::MatMul(_))
            | (T::Transpose(_), T::Transpose(_))
            | (T::Sum(_), T::Sum(_))
            | (T::Reshape(_), T::Reshape(_)) => true,
            (T::Slice { axis: a, start: s, len: l, .. }, T::Slice { axis: a2, start: s2, len: l2, .. }) => {
                (a, s, l) == (a2, s2, l2)
            }
            (T::Index { axis: a, index: i, .. }, T::Index { axis: a2, index: i2, .. }) => (a, i) == (a2, i2),
            (T::Concat { axis: a, args }, T::Concat { axis: a2, args: args2 }) => a == a2 && args.len() == args2.len(),
            (T::Outputs(a), T::Outputs(b)) => a.len() == b.len(),
            _ => false,
        }
    }

    fn children(&self) -> &[Id] {
        use TensorLang as T;
        match self {
            T::Input { .. } | T::Const { .. } | T::ShapeOf(_) => &[],
            T::Unary(_, a) | T::Transpose(a) | T::Sum(a) | T::Slice { arg: a, .. } | T::Index { arg: a, .. } => a,
            T::Binary(_, a) | T::Broadcast(a) | T::MatMul(a) | T::Reshape(a) => a,
            T::Concat { args, .. } | T::Outputs(args) => args,
        }
    }

    fn children_mut(&mut self) -> &mut [Id] {
        use TensorLang as T;
        match self {
            T::Input { .. } | T::Const { .. } | T::ShapeOf(_) => &mut [],
            T::Unary(_, a) | T::Transpose(a) | T::Sum(a) | T::Slice { arg: a, .. } | T::Index { arg: a, .. } => a,
            T::Binary(_, a) | T::Broadcast(a) | T::MatMul(a) | T::Reshape(a) => a,
            T::Concat { args, .. } | T::Outputs(args) => args,
        }
    }
}

/// Writes a shape as `s`, `N` or `MxN`.
pub fn write_shape(f: &mut impl fmt::Write, s: Shape) -> fmt::Result {
    match s.dims() {
        [] => write!(f, "s"),
        [n] => write!(f, "{n}"),
        [m, n] => write!(f, "{m}x{n}"),
        _ => write!(f, "?"),
    }
}

fn parse_shape(s: &str) -> Option<Shape> {
    if s == "s" {
        return Some(Shape::scalar());
    }
    let dims: Option<Vec<usize>> = s.split('x').map(|d| d.parse().ok()).collect();
    Shape::from_dims(&dims?)
}

impl fmt::Display for TensorLang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TensorLang as T;
        match self {
            T::Input { buf, offset, shape } => match buf.0 {
                InputBuf::Time => write!(f, "t"),
                InputBuf::State | InputBuf::Param => {
                    write!(f, "{}@{offset}:", if buf.0 == InputBuf::State { "y" } else { "p" })?;
                    write_shape(f, shape.0)
                }
            },
            T::Const { shape, bits } => {
                if shape.0.is_scalar() && bits.len() == 1 {
                    return write!(f, "{:?}", f64::from_bits(bits[0]));
                }
                write!(f, "c:")?;
                write_shape(f, shape.0)?;
                write!(f, ":")?;
                for (i, b) in bits.iter().enumerate() {
                    if i > 0 {
                        write!(f, ",")?;
                    }
                    write!(f, "{:?}", f64::from_bits(*b))?;
                }
                Ok(())
            }
            T::Unary(U(UnaryOp::Powi(n)), _) => write!(f, "powi:{n}"),
            T::Unary(op, _) => write!(f, "{}", unary_name(op.0)),
            T::Binary(op, _) => write!(f, "{}", binary_name(op.0)),
            T::Broadcast(_) => write!(f, "bcast"),
            T::MatMul(_) => write!(f, "matmul"),
            T::Transpose(_) => write!(f, "transpose"),
            T::Sum(_) => write!(f, "sum"),
            T::Slice { axis, start, len, .. } => write!(f, "slice:{axis}:{start}:{len}"),
            T::Index { axis, index, .. } => write!(f, "index:{axis}:{index}"),
            T::Concat { axis, .. } => write!(f, "concat:{axis}"),
            T::Reshape(_) => write!(f, "reshape"),
            T::ShapeOf(s) => {
                write!(f, "#")?;
                write_shape(f, s.0)
            }
            T::Outputs(_) => write!(f, "outputs"),
        }
    }
}

/// An operator text that names no e-node with the given number of operands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseNodeError {
    pub op: String,
    pub operands: usize,
}

impl fmt::Display for ParseNodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no tensor op `{}` with {} operand(s)", self.op, self.operands)
    }
}

impl std::error::Error for ParseNodeError {}

fn parse_leaf(op: &str) -> Option<TensorLang> {
    use TensorLang as T;
    if op == "t" {
        return Some(T::Input { buf: Buf(InputBuf::Time), offset: 0, shape: Sh(Shape::scalar()) });
    }
    if let Some(rest) =
        op.strip_prefix("y@").map(|r| (InputBuf::State, r)).or(op.strip_prefix("p@").map(|r| (InputBuf::Param, r)))
    {
        let (buf, rest) = rest;
        let (offset, shape) = rest.split_once(':')?;
        return Some(T::Input { buf: Buf(buf), offset: offset.parse().ok()?, shape: Sh(parse_shape(shape)?) });
    }
    if let Some(rest) = op.strip_prefix("c:") {
        let (shape, values) = rest.split_once(':')?;
        let shape = parse_shape(shape)?;
        let values: Option<Vec<f64>> = values.split(',').map(|v| v.parse().ok()).collect();
        let values = values?;
        return (values.len() == shape.len()).then(|| T::constant(shape, &values));
    }
    if let Some(shape) = op.strip_prefix('#') {
        return Some(T::ShapeOf(Sh(parse_shape(shape)?)));
    }
    let first = op.chars().next()?;
    if first.is_ascii_digit() || matches!(first, '-' | '+' | '.') || op == "NaN" || op == "inf" {
        let v: f64 = op.parse().ok()?;
        return Some(T::constant(Shape::scalar(), &[v]));
    }
    None
}

fn nums<const N: usize>(s: &str) -> Option<[u32; N]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != N {
        return None;
    }
    let mut out = [0u32; N];
    for (o, p) in out.iter_mut().zip(parts) {
        *o = p.parse().ok()?;
    }
    Some(out)
}

impl FromOp for TensorLang {
    type Error = ParseNodeError;

    fn from_op(op: &str, children: Vec<Id>) -> Result<Self, Self::Error> {
        use TensorLang as T;
        let err = || ParseNodeError { op: op.to_string(), operands: children.len() };
        let one = |c: &[Id]| -> Option<[Id; 1]> { (c.len() == 1).then(|| [c[0]]) };
        let two = |c: &[Id]| -> Option<[Id; 2]> { (c.len() == 2).then(|| [c[0], c[1]]) };
        let node = if children.is_empty() {
            parse_leaf(op)
        } else if let Some(u) = UNARY_OPS.iter().find(|&&u| unary_name(u) == op) {
            one(&children).map(|c| T::Unary(U(*u), c))
        } else if let Some(n) = op.strip_prefix("powi:") {
            n.parse().ok().zip(one(&children)).map(|(n, c)| T::Unary(U(UnaryOp::Powi(n)), c))
        } else if let Some(b) = BINARY_OPS.iter().find(|&&b| binary_name(b) == op) {
            two(&children).map(|c| T::Binary(B(*b), c))
        } else if let Some(rest) = op.strip_prefix("slice:") {
            nums::<3>(rest).zip(one(&children)).map(|([axis, start, len], arg)| T::Slice {
                axis: axis as u8,
                start,
                len,
                arg,
            })
        } else if let Some(rest) = op.strip_prefix("index:") {
            nums::<2>(rest).zip(one(&children)).map(|([axis, index], arg)| T::Index { axis: axis as u8, index, arg })
        } else if let Some(rest) = op.strip_prefix("concat:") {
            nums::<1>(rest).map(|[axis]| T::Concat { axis: axis as u8, args: children.clone().into() })
        } else {
            match op {
                "bcast" => two(&children).map(T::Broadcast),
                "matmul" => two(&children).map(T::MatMul),
                "transpose" => one(&children).map(T::Transpose),
                "sum" => one(&children).map(T::Sum),
                "reshape" => two(&children).map(T::Reshape),
                "outputs" => Some(T::Outputs(children.clone().into())),
                _ => None,
            }
        };
        node.ok_or_else(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use egg::RecExpr;

    #[test]
    fn text_form_round_trips() {
        for text in [
            "(outputs (add y@0:2 (bcast 1.0 #2)) (matmul p@3:2x2 y@0:2))",
            "(powi:-3 (neg t))",
            "(slice:1:0:2 (reshape c:4:1.0,-0.0,NaN,inf #2x2))",
            "(concat:0 (index:0:1 y@0:3) (sum p@0:s))",
            "(transpose (reshape y@0:4 #2x2))",
        ] {
            let e: RecExpr<TensorLang> = text.parse().unwrap_or_else(|e| panic!("{text}: {e:?}"));
            assert_eq!(e.to_string(), text);
        }
    }

    #[test]
    fn rejects_unknown_ops() {
        assert!("(frobnicate y@0:2)".parse::<RecExpr<TensorLang>>().is_err());
        assert!("(add y@0:2)".parse::<RecExpr<TensorLang>>().is_err());
        assert!("c:3:1.0,2.0".parse::<RecExpr<TensorLang>>().is_err());
    }

    #[test]
    fn order_is_total_and_matches_ignore_children() {
        let a = TensorLang::Unary(U(UnaryOp::Powi(2)), [Id::from(0usize)]);
        let b = TensorLang::Unary(U(UnaryOp::Powi(3)), [Id::from(0usize)]);
        assert!(a < b);
        assert!(!a.matches(&b));
        assert!(a.matches(&TensorLang::Unary(U(UnaryOp::Powi(2)), [Id::from(5usize)])));
    }
}
