//! A seeded generator of random well-shaped IR functions over every op,
//! kept in each op's smooth domain so finite differences are meaningful:
//! `log`, `sqrt`, negative `powi`, `pow`'s base and divisors read `x² + 1`;
//! `exp`, `tan`, `powi` and `pow` read arguments of bounded size (a crude
//! magnitude bound is tracked per node, and a large operand is squashed
//! with `tanh` first).

use super::Rng;
use crate::ir::{BinaryOp, Builder, Function, Op, Shape, UnaryOp, ValueId};
use std::collections::HashMap;

/// Every op kind the generator makes, for coverage checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Unary(UnaryOp),
    Binary(BinaryOp),
    /// Ranks of the operands.
    MatMul(usize, usize),
    Transpose,
    Sum,
    Slice,
    Index,
    Concat,
    Reshape,
    Broadcast,
    Const,
}

pub static UNARY: std::sync::LazyLock<Vec<UnaryOp>> =
    std::sync::LazyLock::new(|| UnaryOp::all_with_powi(&[-2, 0, 1, 2, 3]));

pub const BINARY: [BinaryOp; 7] =
    [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow, BinaryOp::Min, BinaryOp::Max];

/// Largest parameter buffer a generated function may use.
const PARAM_CAP: usize = 48;

struct Gen<'r> {
    rng: &'r mut Rng,
    b: Builder,
    /// Nodes to draw operands from, with a bound on their magnitude.
    pool: Vec<ValueId>,
    bound: HashMap<ValueId, f64>,
    n_param: usize,
    kinds: Vec<Kind>,
}

/// A random function of `t`, a state of 2 to 5 elements (read through
/// several, sometimes overlapping, inputs) and up to [`PARAM_CAP`]
/// parameters, with 1 to 3 outputs; and the op kinds it contains.
pub fn random_function(seed: u64) -> (Function, Vec<Kind>) {
    let mut rng = Rng::new(seed);
    let n = 2 + rng.below(4);
    let b = Builder::new(format!("rand{seed}"), n, PARAM_CAP);
    let mut g = Gen { rng: &mut rng, b, pool: Vec::new(), bound: HashMap::new(), n_param: 0, kinds: Vec::new() };
    g.inputs(n);
    let ops = 4 + g.rng.below(9);
    for _ in 0..ops {
        g.step();
    }
    let outs = 1 + g.rng.below(3);
    let last = *g.pool.last().expect("pool");
    g.b.output(last);
    for _ in 1..outs {
        let k = g.rng.below(g.pool.len());
        let o = g.pool[k];
        g.b.output(o);
    }
    let n_param = g.n_param;
    let kinds = std::mem::take(&mut g.kinds);
    let mut f = g.b.finish();
    f.n_param = n_param;
    (f, kinds)
}

fn dims(s: Shape) -> Vec<usize> {
    s.dims().iter().map(|&d| d as usize).collect()
}

impl Gen<'_> {
    fn add(&mut self, id: ValueId, bound: f64) -> ValueId {
        self.bound.entry(id).or_insert(bound);
        if !self.pool.contains(&id) {
            self.pool.push(id);
        }
        id
    }

    fn bnd(&self, id: ValueId) -> f64 {
        self.bound.get(&id).copied().unwrap_or(1.0)
    }

    fn pick(&mut self) -> ValueId {
        // Favour recent nodes so expressions get deep.
        let n = self.pool.len();
        let k = if self.rng.below(3) == 0 { self.rng.below(n) } else { n - 1 - self.rng.below(n.min(4)) };
        self.pool[k]
    }

    fn pick_where(&mut self, ok: impl Fn(Shape) -> bool) -> Option<ValueId> {
        let c: Vec<ValueId> = self.pool.iter().copied().filter(|&v| ok(self.b.shape(v))).collect();
        (!c.is_empty()).then(|| c[self.rng.below(c.len())])
    }

    fn random_shape(&mut self) -> Shape {
        match self.rng.below(4) {
            0 => Shape::scalar(),
            1 | 2 => Shape::vector(2 + self.rng.below(3)),
            _ => Shape::matrix(2 + self.rng.below(2), 2 + self.rng.below(2)),
        }
    }

    fn shape_of_len(&mut self, len: usize) -> Shape {
        let mut options = vec![Shape::vector(len)];
        if len == 1 {
            options.push(Shape::scalar());
        }
        for p in 2..len {
            if len.is_multiple_of(p) && len / p >= 2 {
                options.push(Shape::matrix(p, len / p));
            }
        }
        options[self.rng.below(options.len())]
    }

    fn inputs(&mut self, n: usize) {
        let mut off = 0;
        while off < n {
            let len = 1 + self.rng.below(n - off);
            let s = self.shape_of_len(len);
            let id = self.b.state(off, s);
            self.add(id, 1.0);
            off += len;
        }
        if self.rng.below(3) == 0 {
            // An input overlapping the others.
            let len = 1 + self.rng.below(n);
            let off = self.rng.below(n - len + 1);
            let s = self.shape_of_len(len);
            let id = self.b.state(off, s);
            self.add(id, 1.0);
        }
        if self.rng.below(2) == 0 {
            let t = self.b.time();
            self.add(t, 1.0);
        }
        for _ in 0..1 + self.rng.below(2) {
            let s = self.random_shape();
            self.param(s);
        }
    }

    /// A new parameter input of shape `s`, or a constant when the buffer is full.
    fn param(&mut self, s: Shape) -> ValueId {
        if self.n_param + s.len() <= PARAM_CAP {
            let id = self.b.param(self.n_param, s);
            self.n_param += s.len();
            self.add(id, 1.0)
        } else {
            self.constant(s)
        }
    }

    fn constant(&mut self, s: Shape) -> ValueId {
        let v = self.rng.vec(s.len(), -1.0, 1.0);
        let id = self.b.constant(v, s);
        self.add(id, 1.0)
    }

    fn squash(&mut self, x: ValueId, limit: f64) -> ValueId {
        if self.bnd(x) <= limit {
            return x;
        }
        let t = self.b.unary(UnaryOp::Tanh, x);
        self.add(t, 1.0)
    }

    /// `x² + 1`, positive and smooth.
    fn positive(&mut self, x: ValueId) -> ValueId {
        let x = self.squash(x, 10.0);
        let b = self.bnd(x);
        let sq = self.b.binary(BinaryOp::Mul, x, x);
        let one = self.b.scalar(1.0);
        let p = self.b.binary(BinaryOp::Add, sq, one);
        self.add(p, b * b + 1.0)
    }

    fn step(&mut self) {
        let r = self.rng.below(100);
        if r < 40 {
            let op = UNARY[self.rng.below(UNARY.len())];
            let x = self.pick();
            self.unary(op, x);
        } else if r < 65 {
            let op = BINARY[self.rng.below(BINARY.len())];
            self.binary(op);
        } else if r < 75 {
            self.matmul();
        } else {
            self.structural();
        }
    }

    fn unary(&mut self, op: UnaryOp, x: ValueId) {
        let x = self.squash(x, 50.0);
        let (x, bound) = match op {
            UnaryOp::Exp => {
                let x = self.squash(x, 3.0);
                (x, self.bnd(x).exp())
            }
            UnaryOp::Tan => (self.squash(x, 1.0), 1.6),
            UnaryOp::Log | UnaryOp::Sqrt | UnaryOp::Powi(-2) => {
                let p = self.positive(x);
                (p, self.bnd(p))
            }
            UnaryOp::Powi(n) => {
                let x = self.squash(x, 2.0);
                (x, self.bnd(x).powi(n))
            }
            UnaryOp::Sin | UnaryOp::Cos | UnaryOp::Tanh | UnaryOp::Sigmoid | UnaryOp::Step => (x, 1.0),
            _ => (x, self.bnd(x) + 1.0),
        };
        let id = self.b.unary(op, x);
        self.kinds.push(Kind::Unary(op));
        self.add(id, bound);
    }

    fn binary(&mut self, op: BinaryOp) {
        let a = self.pick();
        let sa = self.b.shape(a);
        let b = match self.pick_where(|s| s == sa || s.is_scalar()) {
            Some(b) => b,
            None => self.constant(sa),
        };
        let (a, b) = if self.rng.below(2) == 0 { (a, b) } else { (b, a) };
        let (a, b) = (self.squash(a, 50.0), self.squash(b, 50.0));
        let (ba, bb) = (self.bnd(a), self.bnd(b));
        let (a, b, bound) = match op {
            BinaryOp::Add | BinaryOp::Sub => (a, b, ba + bb),
            BinaryOp::Mul => (a, b, ba * bb),
            BinaryOp::Div => (a, self.positive(b), ba),
            BinaryOp::Pow => {
                let base = self.squash(a, 3.0);
                let base = self.positive(base);
                let e = self.squash(b, 2.0);
                let bound = self.bnd(base).powf(self.bnd(e));
                (base, e, bound)
            }
            BinaryOp::Min | BinaryOp::Max => (a, b, ba.max(bb)),
        };
        let id = self.b.binary(op, a, b);
        self.kinds.push(Kind::Binary(op));
        self.add(id, bound);
    }

    fn matmul(&mut self) {
        let Some(a) = self.pick_where(|s| !s.is_scalar()) else { return };
        let a = self.squash(a, 20.0);
        let k = *dims(self.b.shape(a)).last().expect("non-scalar");
        let want_matrix = self.rng.below(2) == 0;
        let b = self.pick_where(|s| {
            let d = dims(s);
            d.first() == Some(&k) && (d.len() == 2) == want_matrix
        });
        let b = match b {
            Some(b) => b,
            None if want_matrix => {
                let cols = 2 + self.rng.below(2);
                self.param(Shape::matrix(k, cols))
            }
            None => self.param(Shape::vector(k)),
        };
        let b = self.squash(b, 20.0);
        let bound = self.bnd(a) * self.bnd(b) * k as f64;
        let kind = Kind::MatMul(self.b.shape(a).rank(), self.b.shape(b).rank());
        let id = self.b.matmul(a, b);
        self.kinds.push(kind);
        self.add(id, bound);
    }

    fn structural(&mut self) {
        let x = self.pick();
        let s = self.b.shape(x);
        let bx = self.bnd(x);
        match self.rng.below(8) {
            0 => {
                let Some(m) = self.pick_where(|s| s.rank() == 2) else { return };
                let bm = self.bnd(m);
                let id = self.b.transpose(m);
                self.kinds.push(Kind::Transpose);
                self.add(id, bm);
            }
            1 if !s.is_scalar() => {
                let id = self.b.sum(x);
                self.kinds.push(Kind::Sum);
                self.add(id, bx * s.len() as f64);
            }
            2 if !s.is_scalar() => {
                let axis = self.rng.below(s.rank());
                let d = s.dim(axis);
                let len = 1 + self.rng.below(d);
                let start = self.rng.below(d - len + 1);
                if len == d {
                    return;
                }
                let id = self.b.slice(x, axis, start, len);
                self.kinds.push(Kind::Slice);
                self.add(id, bx);
            }
            3 if !s.is_scalar() => {
                let axis = self.rng.below(s.rank());
                let i = self.rng.below(s.dim(axis));
                let id = self.b.index(x, axis, i);
                self.kinds.push(Kind::Index);
                self.add(id, bx);
            }
            4 if !s.is_scalar() => {
                let axis = self.rng.below(s.rank());
                let fits =
                    |o: Shape| o.rank() == s.rank() && (0..s.rank()).all(|ax| ax == axis || o.dim(ax) == s.dim(ax));
                let mut parts = vec![x];
                for _ in 0..1 + self.rng.below(2) {
                    let p = self.pick_where(fits).unwrap_or(x);
                    parts.push(p);
                }
                let bound = parts.iter().map(|&p| self.bnd(p)).fold(0.0, f64::max);
                let id = self.b.concat(parts, axis);
                self.kinds.push(Kind::Concat);
                self.add(id, bound);
            }
            5 if !s.is_scalar() => {
                let to = self.shape_of_len(s.len());
                if to == s {
                    return;
                }
                let id = self.b.reshape(x, to);
                self.kinds.push(Kind::Reshape);
                self.add(id, bx);
            }
            6 => {
                let Some(sc) = self.pick_where(|s| s.is_scalar()) else { return };
                let bs = self.bnd(sc);
                let to = self.random_shape();
                if to.is_scalar() {
                    return;
                }
                let id = self.b.push(Op::Broadcast(sc), to);
                self.kinds.push(Kind::Broadcast);
                self.add(id, bs);
            }
            _ => {
                let s = self.random_shape();
                self.constant(s);
                self.kinds.push(Kind::Const);
            }
        }
    }
}
