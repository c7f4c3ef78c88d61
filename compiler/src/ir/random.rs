//! Seeded random well-shaped IR functions, for property tests of passes
//! (simplification against the interpreter, derivatives against finite
//! differences).
//!
//! Uses [`Rng`] (the compiler's SplitMix64: the same sequence on every machine)
//! and [`random_function`]: inputs (`t`, slices of `y` and `p`, sometimes
//! overlapping), constants, and a chain of random ops over every op kind
//! with shapes that fit, built through the [`Builder`] so every function
//! verifies. A crude magnitude bound per node keeps `exp`, `tan` and powers
//! finite on inputs in `[-2, 2]` (a large operand is squashed with `tanh`
//! first). With [`RandomConfig::smooth`], only ops that are smooth where
//! they are evaluated appear (`log`, `sqrt`, divisors and `pow` bases read
//! `x² + 1`; no `abs`, `relu`, `step`, `min`, `max`, `elu`). With
//! [`RandomConfig::plant`] > 0, some steps plant a pattern a simplifier
//! should see through (`x·1`, `--x`, `A''`, `(A@B)'`, `exp(log|x|)`, …).
//!
//! Never: used to build kernels that run for users; output depends only on
//! the seed and the config.

use std::collections::HashMap;

use super::{BinaryOp, Builder, Function, Shape, UnaryOp, ValueId};

pub use crate::rng::SplitMix64 as Rng;

/// What [`random_function`] makes.
#[derive(Clone, Debug, PartialEq)]
pub struct RandomConfig {
    /// Random ops after the inputs.
    pub ops: usize,
    /// At most this many outputs (at least one).
    pub outputs: usize,
    /// Largest dimension of a shape.
    pub max_dim: usize,
    /// Only ops that are smooth where they are evaluated (for derivative tests).
    pub smooth: bool,
    /// Probability that a step plants a simplifiable pattern.
    pub plant: f64,
}

impl Default for RandomConfig {
    fn default() -> Self {
        RandomConfig { ops: 12, outputs: 3, max_dim: 4, smooth: false, plant: 0.3 }
    }
}

/// Room the generator reserves in the input buffers (the function's
/// `n_state`/`n_param` are shrunk to what it uses).
const STATE_CAP: usize = 256;
const PARAM_CAP: usize = 1024;

/// A random function named `rand{seed}` that reads its inputs in `[-2, 2]`
/// sensibly (see the module docs).
pub fn random_function(seed: u64, cfg: &RandomConfig) -> Function {
    let mut g = Gen {
        rng: Rng::new(seed),
        b: Builder::new(format!("rand{seed}"), STATE_CAP, PARAM_CAP),
        cfg: cfg.clone(),
        pool: Vec::new(),
        bound: HashMap::new(),
        n_state: 0,
        n_param: 0,
    };
    let s = g.shape();
    g.input(s, true);
    let s = g.shape();
    g.input(s, false);
    if g.rng.chance(0.3) {
        let t = g.b.time();
        g.add(t, 2.0);
    }
    for _ in 0..cfg.ops {
        if g.rng.chance(cfg.plant) {
            g.plant();
        } else {
            g.step();
        }
    }
    let last = *g.pool.last().unwrap_or(&ValueId(0));
    g.b.output(last);
    let extra = g.rng.below(cfg.outputs.max(1));
    for _ in 0..extra {
        let v = g.pick();
        g.b.output(v);
    }
    let (n_state, n_param) = (g.n_state, g.n_param);
    let mut f = g.b.finish();
    f.n_state = n_state;
    f.n_param = n_param;
    f
}

/// A random evaluation point for `f`: `t`, `y` and `p` uniform in `[lo, hi]`.
pub fn random_point(f: &Function, rng: &mut Rng, lo: f64, hi: f64) -> (f64, Vec<f64>, Vec<f64>) {
    let t = rng.uniform(lo, hi);
    let y = (0..f.n_state).map(|_| rng.uniform(lo, hi)).collect();
    let p = (0..f.n_param).map(|_| rng.uniform(lo, hi)).collect();
    (t, y, p)
}

const BINARY_ALL: [BinaryOp; 7] =
    [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow, BinaryOp::Min, BinaryOp::Max];

fn nonsmooth(op: UnaryOp) -> bool {
    matches!(op, UnaryOp::Abs | UnaryOp::Relu | UnaryOp::Step | UnaryOp::Elu)
}

struct Gen {
    rng: Rng,
    b: Builder,
    cfg: RandomConfig,
    /// Values to draw operands from (recent ones more often).
    pool: Vec<ValueId>,
    /// A bound on each value's magnitude on inputs in `[-2, 2]`.
    bound: HashMap<ValueId, f64>,
    n_state: usize,
    n_param: usize,
}

impl Gen {
    fn add(&mut self, v: ValueId, bound: f64) -> ValueId {
        let b = self.bound.entry(v).or_insert(bound);
        *b = b.min(bound);
        if !self.pool.contains(&v) {
            self.pool.push(v);
        }
        v
    }
    fn bnd(&self, v: ValueId) -> f64 {
        self.bound.get(&v).copied().unwrap_or(f64::INFINITY)
    }
    fn shape_of(&self, v: ValueId) -> Shape {
        self.b.shape(v)
    }

    fn shape(&mut self) -> Shape {
        let d = self.cfg.max_dim.max(1);
        match self.rng.below(5) {
            0 => Shape::scalar(),
            1 | 2 => Shape::vector(1 + self.rng.below(d)),
            _ => Shape::matrix(1 + self.rng.below(d), 1 + self.rng.below(d)),
        }
    }

    /// A new input of `shape` from `y` (or `p`), sometimes overlapping an earlier one.
    fn input(&mut self, shape: Shape, state: bool) -> ValueId {
        let used = if state { self.n_state } else { self.n_param };
        let cap = if state { STATE_CAP } else { PARAM_CAP };
        let len = shape.len();
        let offset = if used >= len && self.rng.chance(0.2) { self.rng.below(used - len + 1) } else { used };
        if offset + len > cap {
            let c = self.b.scalar(0.5);
            return self.add(c, 0.5);
        }
        let v = if state { self.b.state(offset, shape) } else { self.b.param(offset, shape) };
        if state {
            self.n_state = self.n_state.max(offset + len);
        } else {
            self.n_param = self.n_param.max(offset + len);
        }
        self.add(v, 2.0)
    }

    fn constant(&mut self, shape: Shape) -> ValueId {
        let special = [0.0, 1.0, -1.0, 2.0, 0.5];
        let v = if self.rng.chance(0.5) {
            let x = self.rng.pick(&special);
            vec![x; shape.len()]
        } else {
            (0..shape.len()).map(|_| (self.rng.uniform(-2.0, 2.0) * 8.0).round() / 8.0).collect()
        };
        let bound = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let c = self.b.constant(v, shape);
        self.add(c, bound)
    }

    fn pick(&mut self) -> ValueId {
        let n = self.pool.len();
        let k = if self.rng.chance(0.4) { self.rng.below(n) } else { n - 1 - self.rng.below(n.min(3)) };
        self.pool[k]
    }

    /// A value of exactly `shape`: from the pool, else a new input or constant.
    fn operand(&mut self, shape: Shape) -> ValueId {
        let fits: Vec<ValueId> = self.pool.iter().copied().filter(|&v| self.shape_of(v) == shape).collect();
        if !fits.is_empty() && self.rng.chance(0.7) {
            return self.rng.pick(&fits);
        }
        if self.rng.chance(0.3) {
            self.constant(shape)
        } else {
            let state = self.rng.chance(0.5);
            self.input(shape, state)
        }
    }

    /// `v` squashed by `tanh` when its bound exceeds `limit`.
    fn tame(&mut self, v: ValueId, limit: f64) -> ValueId {
        if self.bnd(v) <= limit {
            return v;
        }
        let t = self.b.unary(UnaryOp::Tanh, v);
        self.add(t, 1.0)
    }

    /// `v² + 1`: positive and smooth.
    fn positive(&mut self, v: ValueId) -> ValueId {
        let v = self.tame(v, 1e3);
        let sq = self.b.binary(BinaryOp::Mul, v, v);
        let one = self.b.scalar(1.0);
        let r = self.b.binary(BinaryOp::Add, sq, one);
        let bound = self.bnd(v).powi(2) + 1.0;
        self.add(r, bound)
    }

    fn unary(&mut self, op: UnaryOp, v: ValueId) -> ValueId {
        let (arg, bound) = match op {
            UnaryOp::Exp => {
                let a = self.tame(v, 5.0);
                (a, self.bnd(a).exp())
            }
            UnaryOp::Tan => (self.tame(v, 1.0), 1.6),
            UnaryOp::Log | UnaryOp::Sqrt if self.cfg.smooth => {
                let a = self.positive(v);
                (a, self.bnd(a).max(1.0))
            }
            UnaryOp::Log => (v, 1e3),
            UnaryOp::Sqrt => (v, self.bnd(v).sqrt()),
            UnaryOp::Powi(n) if n < 0 && self.cfg.smooth => {
                let a = self.positive(v);
                (a, 1.0)
            }
            UnaryOp::Powi(n) => {
                let a = self.tame(v, 30.0);
                (a, self.bnd(a).max(1.0).powi(n.abs()).max(1.0))
            }
            UnaryOp::Tanh | UnaryOp::Sin | UnaryOp::Cos | UnaryOp::Sigmoid | UnaryOp::Step => (v, 1.0),
            _ => (v, self.bnd(v) + 1.0),
        };
        let r = self.b.unary(op, arg);
        self.add(r, bound)
    }

    fn binary(&mut self, op: BinaryOp, a: ValueId, c: ValueId) -> ValueId {
        let (a, c) = match op {
            BinaryOp::Div if self.cfg.smooth => (a, self.positive(c)),
            BinaryOp::Pow => {
                let base = if self.cfg.smooth { self.positive(a) } else { a };
                let base = self.tame(base, 10.0);
                (base, self.tame(c, 1.0))
            }
            _ => (a, c),
        };
        let (ba, bc) = (self.bnd(a), self.bnd(c));
        let bound = match op {
            BinaryOp::Add | BinaryOp::Sub => ba + bc,
            BinaryOp::Mul => ba * bc,
            BinaryOp::Div => f64::INFINITY,
            BinaryOp::Pow => ba.max(1.0).powf(bc),
            BinaryOp::Min | BinaryOp::Max => ba.max(bc),
        };
        let r = self.b.binary(op, a, c);
        self.add(r, if self.cfg.smooth && op == BinaryOp::Div { ba } else { bound })
    }

    fn matmul(&mut self, a: ValueId) -> ValueId {
        let sa = self.shape_of(a);
        let a = if sa.is_scalar() {
            let n = 1 + self.rng.below(self.cfg.max_dim.max(1));
            self.b.broadcast(a, Shape::vector(n))
        } else {
            a
        };
        let sa = self.shape_of(a);
        let k = *sa.dims().last().unwrap_or(&1) as usize;
        let other = if self.rng.chance(0.5) {
            Shape::vector(k)
        } else {
            Shape::matrix(k, 1 + self.rng.below(self.cfg.max_dim.max(1)))
        };
        let c = self.operand(other);
        let bound = self.bnd(a) * self.bnd(c) * k as f64;
        let r = self.b.matmul(a, c);
        self.add(r, bound)
    }

    fn step(&mut self) {
        let v = self.pick();
        let s = self.shape_of(v);
        let bound = self.bnd(v);
        match self.rng.below(12) {
            0..=2 => {
                let ops: Vec<UnaryOp> = UnaryOp::all_with_powi(&[-1, 0, 1, 2, 3])
                    .into_iter()
                    .filter(|&u| !(self.cfg.smooth && nonsmooth(u)))
                    .collect();
                let op = self.rng.pick(&ops);
                self.unary(op, v);
            }
            3..=5 => {
                let ops: Vec<BinaryOp> = BINARY_ALL
                    .iter()
                    .copied()
                    .filter(|&b| !(self.cfg.smooth && matches!(b, BinaryOp::Min | BinaryOp::Max)))
                    .collect();
                let op = self.rng.pick(&ops);
                let other = if self.rng.chance(0.2) { Shape::scalar() } else { s };
                let c = self.operand(other);
                let (a, c) = if self.rng.chance(0.5) { (v, c) } else { (c, v) };
                self.binary(op, a, c);
            }
            6 | 7 => {
                self.matmul(v);
            }
            8 => {
                let r = if s.rank() == 2 { self.b.transpose(v) } else { self.b.sum(v) };
                self.add(r, bound * s.len() as f64);
            }
            9 if s.rank() > 0 => {
                let axis = self.rng.below(s.rank());
                let n = s.dim(axis);
                let r = if self.rng.chance(0.5) {
                    let start = self.rng.below(n);
                    let len = 1 + self.rng.below(n - start);
                    self.b.slice(v, axis, start, len)
                } else {
                    let i = self.rng.below(n);
                    self.b.index(v, axis, i)
                };
                self.add(r, bound);
            }
            10 if s.rank() > 0 => {
                let axis = self.rng.below(s.rank());
                let mut dims: Vec<usize> = s.dims().iter().map(|&d| d as usize).collect();
                dims[axis] = 1 + self.rng.below(self.cfg.max_dim.max(1));
                let other = Shape::from_dims(&dims).unwrap_or(s);
                let c = self.operand(other);
                let r = self.b.concat(vec![v, c], axis);
                let bound = bound.max(self.bnd(c));
                self.add(r, bound);
            }
            _ => {
                let r = match s.dims() {
                    [] => {
                        let to = self.shape();
                        self.b.broadcast(v, to)
                    }
                    [n] => self.b.reshape(v, Shape::matrix(1, *n as usize)),
                    _ => self.b.reshape(v, Shape::vector(s.len())),
                };
                self.add(r, bound);
            }
        }
    }

    /// Plants a pattern a simplifier should see through.
    fn plant(&mut self) {
        let v = self.pick();
        let s = self.shape_of(v);
        let bound = self.bnd(v);
        let scalar = |g: &mut Gen, x: f64| g.b.scalar(x);
        let r = match self.rng.below(14) {
            0 => {
                let one = scalar(self, 1.0);
                self.b.binary(BinaryOp::Mul, v, one)
            }
            1 => {
                let one = scalar(self, 1.0);
                self.b.binary(BinaryOp::Div, v, one)
            }
            2 => {
                let sign = if self.rng.chance(0.5) { 0.0 } else { -0.0 };
                let z = scalar(self, sign);
                let op = self.rng.pick(&[BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul]);
                self.b.binary(op, v, z)
            }
            3 => {
                let m = scalar(self, -1.0);
                self.b.binary(BinaryOp::Mul, m, v)
            }
            4 => {
                let n = self.b.unary(UnaryOp::Neg, v);
                self.b.unary(UnaryOp::Neg, n)
            }
            5 if s.rank() == 2 => {
                let t = self.b.transpose(v);
                self.b.transpose(t)
            }
            5 | 6 => {
                let m = self.matmul(v);
                if self.shape_of(m).rank() == 2 {
                    self.b.transpose(m)
                } else {
                    m
                }
            }
            7 => {
                let a = self.b.unary(UnaryOp::Abs, v);
                let l = self.b.unary(UnaryOp::Log, a);
                self.b.unary(UnaryOp::Exp, l)
            }
            8 => {
                let t = self.b.unary(UnaryOp::Tanh, v);
                let sq = self.b.unary(UnaryOp::Powi(2), t);
                let one = scalar(self, 1.0);
                let d = self.b.binary(BinaryOp::Sub, one, sq);
                self.add(t, 1.0);
                self.b.binary(BinaryOp::Mul, d, t)
            }
            9 => {
                let n = self.b.unary(UnaryOp::Neg, v);
                let c = self.operand(s);
                let op = self.rng.pick(&[BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div]);
                self.b.binary(op, c, n)
            }
            10 => {
                let t = self.b.unary(UnaryOp::Sin, v);
                let op = self.rng.pick(&[BinaryOp::Sub, BinaryOp::Div]);
                self.b.binary(op, t, t)
            }
            11 => {
                let sc = if s.is_scalar() { v } else { self.b.sum(v) };
                let to = self.shape();
                let bc = self.b.broadcast(sc, to);
                let e = self.b.unary(UnaryOp::Sin, bc);
                self.b.sum(e)
            }
            12 => {
                let n = self.b.unary(UnaryOp::Neg, v);
                self.b.sum(n)
            }
            _ => {
                let c = self.constant(Shape::scalar());
                let d = self.constant(Shape::scalar());
                let e = self.b.binary(BinaryOp::Mul, c, d);
                self.b.binary(BinaryOp::Add, v, e)
            }
        };
        let bound = (bound + 2.0) * 4.0 * s.len().max(1) as f64;
        self.add(r, bound);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::verify::verify;

    #[test]
    fn functions_verify_and_depend_only_on_the_seed() {
        for seed in 0..200 {
            let cfg = RandomConfig { smooth: seed % 2 == 0, ..RandomConfig::default() };
            let f = random_function(seed, &cfg);
            verify(&f).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            assert_eq!(f, random_function(seed, &cfg));
            assert!(!f.outputs.is_empty());
        }
    }

    #[test]
    fn rng_sequence_is_fixed() {
        let mut r = Rng::new(1);
        let first: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        let mut r2 = Rng::new(1);
        assert_eq!(first, (0..3).map(|_| r2.next_u64()).collect::<Vec<_>>());
        assert!((0..1000).all(|_| r.unit() < 1.0));
    }
}
