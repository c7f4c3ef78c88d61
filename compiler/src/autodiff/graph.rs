//! The builder derivative passes write into, with exact peephole folds.
//!
//! Owns [`Graph`]: a [`Builder`] holding a copy of the forward function
//! (so derivative nodes share its subexpressions through hash-consing) plus
//! constructors that fold the trivial cases derivative rules produce —
//! `x·1`, `x·(−1)`, `−(−x)`, `a + (−b)`, … — and the structural helpers the
//! rules need (zero padding, placing a row or column, one element).
//!
//! Never: apply a fold that changes a floating-point result. Every fold here
//! is an identity of IEEE arithmetic under round-to-nearest-even, up to the
//! sign of a zero result (`x·1 = x`, `a + (−b) = a − b`, `(−a)·b = −(a·b)`,
//! `(−a) − b = −(a + b)`, constants folded with the interpreter's own
//! arithmetic); value-changing simplification belongs to `simplify`.

use crate::ir::{BinaryOp, Builder, Function, Op, Shape, UnaryOp, ValueId};

/// A scalar coefficient: a constant known now, or a scalar node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Coef {
    Const(f64),
    Val(ValueId),
}

/// A builder of derivative code over a copy of a forward function.
pub(super) struct Graph {
    pub b: Builder,
}

impl Graph {
    /// A builder for a function `name(t, y[n_state], p[n_param])`.
    pub fn new(name: String, n_state: usize, n_param: usize) -> Graph {
        Graph { b: Builder::new(name, n_state, n_param) }
    }

    /// Copies every node of `f` (inputs keep their buffers and offsets);
    /// returns the new id of each old node.
    pub fn copy_forward(&mut self, f: &Function) -> Vec<ValueId> {
        let mut map: Vec<ValueId> = Vec::with_capacity(f.nodes.len());
        for node in &f.nodes {
            let op = node.op.remap(&map);
            self.b.set_span(node.span);
            let id = self.b.push(op, node.shape);
            map.push(id);
        }
        self.b.set_span(crate::span::Span::detached());
        map
    }

    pub fn shape(&self, id: ValueId) -> Shape {
        self.b.shape(id)
    }

    pub fn op(&self, id: ValueId) -> &Op {
        &self.b.node(id).op
    }

    /// The value of every element, when `id` is a constant with all
    /// elements bitwise equal or a broadcast of a scalar constant.
    pub fn uniform(&self, id: ValueId) -> Option<f64> {
        match self.op(id) {
            Op::Const(v) => {
                let first = *v.first()?;
                v.iter().all(|x| x.to_bits() == first.to_bits()).then_some(first)
            }
            Op::Broadcast(a) => self.uniform(*a),
            _ => None,
        }
    }

    /// The operand of a negation node.
    fn negated(&self, id: ValueId) -> Option<ValueId> {
        match *self.op(id) {
            Op::Unary(UnaryOp::Neg, a) => Some(a),
            _ => None,
        }
    }

    pub fn constant(&mut self, value: f64, shape: Shape) -> ValueId {
        let c = self.b.scalar(value);
        self.b.broadcast(c, shape)
    }

    pub fn zeros(&mut self, shape: Shape) -> ValueId {
        self.b.constant(vec![0.0; shape.len()], shape)
    }

    /// `x` broadcast to `shape` when it is a scalar.
    fn fit(&mut self, x: ValueId, shape: Shape) -> ValueId {
        self.b.broadcast(x, shape)
    }

    /// The shape of an elementwise result of `a` and `b`.
    fn joint(&self, a: ValueId, b: ValueId) -> Shape {
        let (sa, sb) = (self.shape(a), self.shape(b));
        if sa.is_scalar() {
            sb
        } else {
            sa
        }
    }

    /// `op` of two uniform constants, folded with the interpreter's arithmetic.
    fn fold(&mut self, op: BinaryOp, x: ValueId, y: ValueId) -> Option<ValueId> {
        let (a, b) = (self.uniform(x)?, self.uniform(y)?);
        let shape = self.joint(x, y);
        Some(self.constant(crate::ir::interp::binary(op, a, b), shape))
    }

    pub fn neg(&mut self, x: ValueId) -> ValueId {
        if let Some(a) = self.negated(x) {
            return a;
        }
        if let Some(k) = self.uniform(x) {
            return self.constant(-k, self.shape(x));
        }
        self.b.unary(UnaryOp::Neg, x)
    }

    pub fn add(&mut self, x: ValueId, y: ValueId) -> ValueId {
        if let Some(k) = self.fold(BinaryOp::Add, x, y) {
            return k;
        }
        if let Some(b) = self.negated(y) {
            return self.sub(x, b);
        }
        if let Some(a) = self.negated(x) {
            return self.sub(y, a);
        }
        self.b.binary(BinaryOp::Add, x, y)
    }

    pub fn sub(&mut self, x: ValueId, y: ValueId) -> ValueId {
        if let Some(k) = self.fold(BinaryOp::Sub, x, y) {
            return k;
        }
        if let Some(b) = self.negated(y) {
            return self.add(x, b);
        }
        if let Some(a) = self.negated(x) {
            let s = self.add(a, y);
            return self.neg(s);
        }
        self.b.binary(BinaryOp::Sub, x, y)
    }

    pub fn mul(&mut self, x: ValueId, y: ValueId) -> ValueId {
        if let Some(k) = self.fold(BinaryOp::Mul, x, y) {
            return k;
        }
        let shape = self.joint(x, y);
        for (k, other) in [(x, y), (y, x)] {
            match self.uniform(k) {
                Some(1.0) => return self.fit(other, shape),
                Some(-1.0) => {
                    let n = self.neg(other);
                    return self.fit(n, shape);
                }
                _ => {}
            }
        }
        if let Some(a) = self.negated(x) {
            let m = self.mul(a, y);
            return self.neg(m);
        }
        if let Some(b) = self.negated(y) {
            let m = self.mul(x, b);
            return self.neg(m);
        }
        self.b.binary(BinaryOp::Mul, x, y)
    }

    pub fn div(&mut self, x: ValueId, y: ValueId) -> ValueId {
        if let Some(k) = self.fold(BinaryOp::Div, x, y) {
            return k;
        }
        let shape = self.joint(x, y);
        if self.uniform(y) == Some(1.0) {
            return self.fit(x, shape);
        }
        if let Some(a) = self.negated(x) {
            let q = self.div(a, y);
            return self.neg(q);
        }
        self.b.binary(BinaryOp::Div, x, y)
    }

    pub fn unary(&mut self, op: UnaryOp, x: ValueId) -> ValueId {
        if op == UnaryOp::Neg {
            return self.neg(x);
        }
        if let Some(k) = self.uniform(x) {
            return self.constant(crate::ir::interp::unary(op, k), self.shape(x));
        }
        self.b.unary(op, x)
    }

    pub fn binary(&mut self, op: BinaryOp, x: ValueId, y: ValueId) -> ValueId {
        match op {
            BinaryOp::Add => self.add(x, y),
            BinaryOp::Sub => self.sub(x, y),
            BinaryOp::Mul => self.mul(x, y),
            BinaryOp::Div => self.div(x, y),
            _ => self.b.binary(op, x, y),
        }
    }

    /// `c - x` for a constant `c`.
    pub fn rsub_const(&mut self, c: f64, x: ValueId) -> ValueId {
        let k = self.constant(c, self.shape(x));
        self.sub(k, x)
    }

    /// `c · x` for a constant `c`.
    pub fn scale_const(&mut self, c: f64, x: ValueId) -> ValueId {
        let k = self.b.scalar(c);
        self.mul(k, x)
    }

    // ---- coefficients ----

    /// The coefficient as a scalar node.
    pub fn coef_value(&mut self, c: Coef) -> ValueId {
        match c {
            Coef::Const(k) => self.b.scalar(k),
            Coef::Val(v) => v,
        }
    }

    pub fn coef_mul(&mut self, a: Coef, b: Coef) -> Coef {
        match (a, b) {
            (Coef::Const(x), Coef::Const(y)) => Coef::Const(x * y),
            _ => {
                let (x, y) = (self.coef_value(a), self.coef_value(b));
                Coef::Val(self.mul(x, y))
            }
        }
    }

    pub fn coef_div(&mut self, a: Coef, b: ValueId) -> Coef {
        let x = self.coef_value(a);
        Coef::Val(self.div(x, b))
    }

    pub fn coef_add(&mut self, a: Coef, b: Coef) -> Coef {
        match (a, b) {
            (Coef::Const(x), Coef::Const(y)) => Coef::Const(x + y),
            _ => {
                let (x, y) = (self.coef_value(a), self.coef_value(b));
                Coef::Val(self.add(x, y))
            }
        }
    }

    pub fn coef_neg(&mut self, a: Coef) -> Coef {
        match a {
            Coef::Const(x) => Coef::Const(-x),
            Coef::Val(v) => Coef::Val(self.neg(v)),
        }
    }

    /// `c · x`.
    pub fn scale(&mut self, c: Coef, x: ValueId) -> ValueId {
        let k = self.coef_value(c);
        self.mul(k, x)
    }

    // ---- structure ----

    /// Element `index` (row-major) of `x`, a scalar.
    pub fn element(&mut self, x: ValueId, index: usize) -> ValueId {
        if let Some(k) = self.uniform(x) {
            return self.b.scalar(k);
        }
        if let Op::Broadcast(a) = *self.op(x) {
            return a;
        }
        let s = self.shape(x);
        match s.rank() {
            0 => x,
            1 => self.b.index(x, 0, index),
            _ => {
                let row = self.b.index(x, 0, index / s.dim(1));
                self.b.index(row, 0, index % s.dim(1))
            }
        }
    }

    /// `piece` placed at `start` along `axis` of a zero tensor of `full`
    /// shape (`piece` has `full`'s rank).
    pub fn pad(&mut self, full: Shape, axis: usize, start: usize, piece: ValueId) -> ValueId {
        let ps = self.shape(piece);
        let len = ps.dim(axis);
        let mut parts = Vec::with_capacity(3);
        let with_axis = |n: usize| {
            let mut dims: Vec<usize> = full.dims().iter().map(|&d| d as usize).collect();
            dims[axis] = n;
            Shape::from_dims(&dims).expect("rank kept")
        };
        if start > 0 {
            parts.push(self.zeros(with_axis(start)));
        }
        parts.push(piece);
        let rest = full.dim(axis) - start - len;
        if rest > 0 {
            parts.push(self.zeros(with_axis(rest)));
        }
        self.b.concat(parts, axis)
    }

    /// `piece` (of `full`'s shape without `axis`) placed at `index` along
    /// `axis` of a zero tensor: the transpose of [`Op::Index`].
    pub fn place(&mut self, full: Shape, axis: usize, index: usize, piece: ValueId) -> ValueId {
        let mut dims: Vec<usize> = full.dims().iter().map(|&d| d as usize).collect();
        dims[axis] = 1;
        let shaped = self.b.reshape(piece, Shape::from_dims(&dims).expect("rank kept"));
        self.pad(full, axis, index, shaped)
    }

    /// `x` with the same elements as `shape`; an element of a vector
    /// taken as a length-1 slice becomes an index, and reshapes chain.
    pub fn reshape(&mut self, x: ValueId, shape: Shape) -> ValueId {
        match *self.op(x) {
            Op::Slice { arg, axis: 0, start } if shape.is_scalar() && self.shape(arg).rank() == 1 => {
                self.b.index(arg, 0, start as usize)
            }
            Op::Reshape(inner) => self.b.reshape(inner, shape),
            _ => self.b.reshape(x, shape),
        }
    }

    /// `x` as a row-major vector.
    pub fn flat(&mut self, x: ValueId) -> ValueId {
        let n = self.shape(x).len();
        self.b.reshape(x, Shape::vector(n))
    }
}
