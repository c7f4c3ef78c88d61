//! The e-class analysis: what is known about every e-class.
//!
//! Owns three facts per class, kept exact across merges:
//!
//! * its [`Kind`] (a tensor's shape, computed from the operands; every rewrite
//!   must preserve it, and [`TensorAnalysis::merge`] checks that it does in
//!   debug builds);
//! * its constant value, if every operand is constant: folded by running the
//!   reference interpreter ([`crate::ir::interp`]) on the op, so a folded
//!   value equals the run-time value bit for bit. A folded class gets the
//!   constant as a member (a scalar splat as `bcast c #shape`), which costs
//!   nothing to extract;
//! * value [`Facts`] (non-negative, never `-0`, never zero, finite) that hold
//!   for every input, used by domain-guarded rules (`exp(log x) = x` needs
//!   `x ≥ 0`).
//!
//! Never: fold tensors larger than [`FOLD_LIMIT`] elements (a constant is
//! memory in the kernel; a splat stays a broadcast), or evaluate anything but
//! through the interpreter's own functions.

use std::sync::Arc;

use egg::{Analysis, DidMerge, EGraph, Id, Language};

use super::convert::{infer, ir_op, Kind};
use super::lang::{Sh, TensorLang};
use crate::ir::interp::{self, binary, unary};
use crate::ir::{BinaryOp, Builder, Shape, UnaryOp, ValueId};

/// Results with more elements than this are not folded unless they are splats.
pub const FOLD_LIMIT: usize = 4096;

/// Facts about every element of a class's value, for every input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Facts(u8);

impl Facts {
    /// `≥ +0` or NaN: never negative, never `-0`.
    pub const NONNEG: Facts = Facts(1);
    /// Never `-0` (may be NaN).
    pub const NOT_NEG_ZERO: Facts = Facts(2);
    /// Never `±0` (may be NaN or infinite).
    pub const NONZERO: Facts = Facts(4);
    /// Never infinite, never NaN.
    pub const FINITE: Facts = Facts(8);
    pub const NONE: Facts = Facts(0);

    pub fn has(self, f: Facts) -> bool {
        self.0 & f.0 == f.0
    }
    pub fn union(self, f: Facts) -> Facts {
        Facts(self.0 | f.0)
    }
    fn when(self, cond: bool) -> Facts {
        if cond {
            self
        } else {
            Facts::NONE
        }
    }
    /// Facts of a list of values.
    pub fn of_values(values: &[f64]) -> Facts {
        let all = |p: &dyn Fn(f64) -> bool| values.iter().all(|&v| p(v));
        let neg_zero = |v: f64| v == 0.0 && v.is_sign_negative();
        Facts::NONNEG
            .when(all(&|v| v.is_nan() || (v >= 0.0 && !neg_zero(v))))
            .union(Facts::NOT_NEG_ZERO.when(all(&|v| !neg_zero(v))))
            .union(Facts::NONZERO.when(all(&|v| v != 0.0)))
            .union(Facts::FINITE.when(all(&|v| v.is_finite())))
    }
}

/// A constant class value.
#[derive(Clone, Debug)]
pub enum Konst {
    /// Every element equals this value (bit for bit).
    Splat(f64),
    /// Row-major values (not all equal).
    Dense(Arc<[f64]>),
}

impl Konst {
    fn from_values(values: Vec<f64>) -> Konst {
        match values.first() {
            Some(&v) if values.iter().all(|x| x.to_bits() == v.to_bits()) => Konst::Splat(v),
            _ => Konst::Dense(values.into()),
        }
    }
    fn values(&self, len: usize) -> Vec<f64> {
        match self {
            Konst::Splat(v) => vec![*v; len],
            Konst::Dense(v) => v.to_vec(),
        }
    }
    fn same(&self, other: &Konst) -> bool {
        match (self, other) {
            (Konst::Splat(a), Konst::Splat(b)) => a.to_bits() == b.to_bits(),
            (Konst::Dense(a), Konst::Dense(b)) => {
                a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            _ => false,
        }
    }
}

/// The data of one e-class.
#[derive(Clone, Debug)]
pub struct Data {
    pub kind: Kind,
    pub konst: Option<Konst>,
    pub facts: Facts,
}

impl Data {
    /// The tensor shape (scalar for the bookkeeping classes).
    pub fn shape(&self) -> Shape {
        self.kind.tensor().unwrap_or(Shape::SCALAR)
    }
    /// The value every element has, if the class is a constant splat.
    pub fn splat(&self) -> Option<f64> {
        match self.konst {
            Some(Konst::Splat(v)) => Some(v),
            _ => None,
        }
    }
}

/// The analysis. With `fold` off (the rule tests), arithmetic is not
/// evaluated: only constants and structural ops of constants have values.
#[derive(Clone, Copy, Debug)]
pub struct TensorAnalysis {
    pub fold: bool,
}

impl Default for TensorAnalysis {
    fn default() -> Self {
        TensorAnalysis { fold: true }
    }
}

/// The e-graph simplification runs on.
pub type TensorGraph = EGraph<TensorLang, TensorAnalysis>;

impl Analysis<TensorLang> for TensorAnalysis {
    type Data = Data;

    fn make(egraph: &mut TensorGraph, enode: &TensorLang, _id: Id) -> Data {
        let data = |id: Id| &egraph[id].data;
        // Rewrites only build well-shaped nodes; a scalar stands in if one is not.
        let kind = infer(enode, |id| data(id).kind).unwrap_or(Kind::Tensor(Shape::SCALAR));
        debug_assert!(infer(enode, |id| data(id).kind).is_some(), "ill-shaped e-node {enode}");
        let Kind::Tensor(shape) = kind else { return Data { kind, konst: None, facts: Facts::NONE } };
        let konst = fold(egraph, enode, shape);
        let facts = match &konst {
            Some(Konst::Splat(v)) => Facts::of_values(&[*v]),
            Some(Konst::Dense(v)) => Facts::of_values(v),
            None => facts(enode, |id| egraph[id].data.facts),
        };
        Data { kind, konst, facts }
    }

    fn merge(&mut self, a: &mut Data, b: Data) -> DidMerge {
        debug_assert_eq!(a.kind, b.kind, "a rewrite changed a shape");
        let mut changed_a = false;
        let mut b_differs = false;
        match (&a.konst, &b.konst) {
            (None, Some(_)) => {
                a.konst = b.konst;
                changed_a = true;
            }
            (Some(_), None) => b_differs = true,
            (Some(x), Some(y)) => b_differs = !x.same(y),
            (None, None) => {}
        }
        let facts = a.facts.union(b.facts);
        changed_a |= facts != a.facts;
        b_differs |= facts != b.facts;
        a.facts = facts;
        DidMerge(changed_a, b_differs)
    }

    fn modify(egraph: &mut TensorGraph, id: Id) {
        if !egraph.analysis.fold {
            return;
        }
        let data = &egraph[id].data;
        let (Kind::Tensor(shape), Some(konst)) = (data.kind, data.konst.clone()) else { return };
        let node = match konst {
            Konst::Splat(v) if !shape.is_scalar() => {
                let c = egraph.add(TensorLang::constant(Shape::SCALAR, &[v]));
                let s = egraph.add(TensorLang::ShapeOf(Sh(shape)));
                TensorLang::Broadcast([c, s])
            }
            other => TensorLang::constant(shape, &other.values(shape.len())),
        };
        let added = egraph.add(node);
        if egraph.are_explanations_enabled() {
            egraph.union_trusted(id, added, "const-fold");
        } else {
            egraph.union(id, added);
        }
    }
}

/// The constant value of `enode` when all its operands are constants.
fn fold(egraph: &TensorGraph, enode: &TensorLang, shape: Shape) -> Option<Konst> {
    use TensorLang as T;
    let k = |id: Id| egraph[id].data.konst.as_ref();
    match enode {
        T::Input { .. } | T::ShapeOf(_) | T::Outputs(_) => return None,
        T::Const { bits, .. } => {
            return Some(Konst::from_values(bits.iter().map(|&b| f64::from_bits(b)).collect()));
        }
        _ => {}
    }
    if !egraph.analysis.fold && matches!(enode, T::Unary(..) | T::Binary(..) | T::MatMul(_) | T::Sum(_)) {
        return None;
    }
    let children = enode.children();
    let tensor_children: Vec<Id> =
        children.iter().copied().filter(|&c| egraph[c].data.kind.tensor().is_some()).collect();
    let consts: Option<Vec<&Konst>> = tensor_children.iter().map(|&c| k(c)).collect();
    let consts = consts?;
    // Splats stay splats through elementwise and structural ops.
    let splats: Option<Vec<f64>> = consts
        .iter()
        .map(|c| match c {
            Konst::Splat(v) => Some(*v),
            Konst::Dense(_) => None,
        })
        .collect();
    if let Some(s) = &splats {
        match enode {
            T::Unary(u, _) => return Some(Konst::Splat(unary(u.0, s[0]))),
            T::Binary(b, _) => return Some(Konst::Splat(binary(b.0, s[0], s[1]))),
            T::Broadcast(_) | T::Reshape(_) | T::Transpose(_) | T::Slice { .. } | T::Index { .. } => {
                return Some(Konst::Splat(s[0]));
            }
            T::Concat { .. } if s.iter().all(|v| v.to_bits() == s[0].to_bits()) => return Some(Konst::Splat(s[0])),
            _ => {}
        }
    }
    let input_len: usize = tensor_children.iter().map(|&c| egraph[c].data.shape().len()).sum();
    if shape.len() > FOLD_LIMIT || input_len > FOLD_LIMIT {
        return None;
    }
    // Run the op through the reference interpreter on constant operands.
    let mut b = Builder::new("fold", 0, 0);
    let mut values: Vec<(Id, ValueId)> = Vec::with_capacity(tensor_children.len());
    for (&c, konst) in tensor_children.iter().zip(&consts) {
        let s = egraph[c].data.shape();
        values.push((c, b.push(crate::ir::Op::Const(konst.values(s.len()).into()), s)));
    }
    let lookup = |id: Id| values.iter().find(|(c, _)| egraph.find(*c) == egraph.find(id)).map(|p| p.1);
    let op = ir_op(enode, |id| lookup(id).unwrap_or(ValueId(u32::MAX)))?;
    let v = b.push(op, shape);
    b.output(v);
    interp::eval(&b.finish(), 0.0, &[], &[]).ok().map(Konst::from_values)
}

/// Facts of a non-constant node from its operands' facts.
fn facts(enode: &TensorLang, of: impl Fn(Id) -> Facts) -> Facts {
    use TensorLang as T;
    use UnaryOp as Un;
    let (nn, nnz, nz, fin) = (Facts::NONNEG, Facts::NOT_NEG_ZERO, Facts::NONZERO, Facts::FINITE);
    let all = |ids: &[Id], f: Facts| ids.iter().all(|&i| of(i).has(f));
    let any = |ids: &[Id], f: Facts| ids.iter().any(|&i| of(i).has(f));
    let pass = |a: Id, f: Facts| Facts(of(a).0 & f.0);
    let out = match enode {
        T::Input { .. } | T::Const { .. } | T::ShapeOf(_) | T::Outputs(_) => Facts::NONE,
        // Structure moves elements without changing them.
        T::Broadcast([a, _])
        | T::Reshape([a, _])
        | T::Transpose([a])
        | T::Slice { arg: [a], .. }
        | T::Index { arg: [a], .. } => of(*a),
        T::Concat { args, .. } => {
            Facts([nn, nnz, nz, fin].iter().filter(|&&f| all(args, f)).fold(0, |acc, f| acc | f.0))
        }
        T::Unary(u, [a]) => {
            let fa = of(*a);
            match u.0 {
                Un::Exp => nn,
                Un::Abs => nn.union(pass(*a, nz.union(fin))),
                Un::Relu | Un::Softplus | Un::Step => nn.union(pass(*a, fin)),
                Un::Sigmoid => nn.union(pass(*a, fin)),
                Un::Neg => pass(*a, nz.union(fin)),
                Un::Sqrt => Facts::NONNEG.when(fa.has(nnz)).union(pass(*a, nz)),
                Un::Tanh | Un::Sin | Un::Cos => {
                    pass(*a, fin).union(if u.0 == Un::Tanh { pass(*a, nn) } else { Facts::NONE })
                }
                Un::Powi(n) if n % 2 == 0 => nn,
                Un::Powi(_) => pass(*a, nn),
                Un::Elu => pass(*a, nn),
                Un::Log | Un::Tan | Un::Gelu => Facts::NONE,
            }
        }
        T::Binary(b, [x, y]) => {
            let both = [*x, *y];
            let square = x == y;
            match b.0 {
                BinaryOp::Add => nn.when(all(&both, nn)).union(nnz.when(any(&both, nnz))),
                BinaryOp::Sub => nnz.when(of(*x).has(nnz)),
                BinaryOp::Mul | BinaryOp::Div => nn.when(all(&both, nn) || (square && b.0 == BinaryOp::Mul)),
                BinaryOp::Pow => nn,
                BinaryOp::Min => Facts([nn, fin].iter().filter(|&&f| all(&both, f)).fold(0, |acc, f| acc | f.0)),
                BinaryOp::Max => nn.when(any(&both, nn)).union(fin.when(all(&both, fin))),
            }
        }
        T::Sum([a]) => pass(*a, nn.union(nnz)),
        T::MatMul([a, b]) => nn.when(of(*a).has(nn) && of(*b).has(nn)),
    };
    // Non-negative values are never -0.
    if out.has(nn) {
        out.union(nnz)
    } else {
        out
    }
}
