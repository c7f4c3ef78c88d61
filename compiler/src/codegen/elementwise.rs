//! Elementwise ops: fused expression trees evaluated in `f64x2` loops.
//!
//! Owns the lowering of `Unary`, `Binary` and `Broadcast` nodes. A large
//! node that the plan materialises is a *root*: one loop over its elements
//! (two per vector, several vectors per iteration, every trajectory of the
//! tile in the same iteration) evaluates the whole tree of fused operands
//! below it, reading the tree's leaves straight from memory. Small nodes are
//! unrolled scalar code, except that expensive unary ops are evaluated two
//! elements at a time.
//!
//! A long `tanh` root may instead go to the runtime's 256-bit routine
//! (`routines.rs`), which computes the same bits.
//!
//! Never: store a fused intermediate (except a routine `tanh`'s operand, in
//! the root's own destination), or evaluate an element differently in the
//! vector and scalar paths (every op is applied lane-wise identically).

use super::emit::{Lowerer, Src, Tv};
use super::plan::Repr;
use super::routines::TanhCall;
use super::CodegenError;
use crate::ir::{BinaryOp, Op, UnaryOp, ValueId};
use cranelift_codegen::ir::{types, InstBuilder, Value};
use std::collections::HashMap;

/// Pairs per loop iteration of a single-trajectory elementwise loop.
const PAIRS_PER_ITER: usize = 2;
/// Roots with at most this many pairs are fully unrolled.
const UNROLL_PAIRS: usize = 8;

/// Values an elementwise tree reads: memory leaves (possibly advanced by
/// the loop index) and broadcast scalars, per `(node, instance)`.
#[derive(Default)]
struct Env {
    leaves: HashMap<(ValueId, usize), Tv>,
    bcast: HashMap<(ValueId, usize), Value>,
}

fn is_expensive(op: UnaryOp) -> bool {
    !matches!(op, UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sqrt | UnaryOp::Relu | UnaryOp::Powi(_) | UnaryOp::Step)
}

impl Lowerer<'_, '_> {
    fn inst_key(&self, id: ValueId, k: usize) -> (ValueId, usize) {
        (id, if self.plan.node(id).varying { k } else { 0 })
    }

    /// Collects the leaves and fused broadcasts of the tree rooted at `id`.
    fn collect(&self, id: ValueId, root: bool, leaves: &mut Vec<ValueId>, bcasts: &mut Vec<ValueId>) {
        let fused = root || self.plan.node(id).repr == Repr::Fused;
        if !fused {
            if !leaves.contains(&id) {
                leaves.push(id);
            }
            return;
        }
        match &self.f.node(id).op {
            Op::Broadcast(_) => {
                if !bcasts.contains(&id) {
                    bcasts.push(id);
                }
            }
            op => {
                for a in op.args() {
                    self.collect(a, false, leaves, bcasts);
                }
            }
        }
    }

    /// Loads the scalars of the tree's broadcasts (once, outside any loop).
    fn env_for(&mut self, id: ValueId, n: usize) -> Result<(Env, Vec<ValueId>), CodegenError> {
        let (mut leaves, mut bcasts) = (Vec::new(), Vec::new());
        self.collect(id, true, &mut leaves, &mut bcasts);
        let mut env = Env::default();
        for &bid in &bcasts {
            let Op::Broadcast(a) = self.f.node(bid).op else {
                continue;
            };
            for k in 0..n {
                let key = self.inst_key(bid, k);
                if env.bcast.contains_key(&key) {
                    continue;
                }
                let tv = self.tv(a, k)?;
                let v = self.elem(&tv, tv.off);
                env.bcast.insert(key, v);
            }
        }
        for &leaf in &leaves {
            for k in 0..n {
                let key = self.inst_key(leaf, k);
                if let std::collections::hash_map::Entry::Vacant(slot) = env.leaves.entry(key) {
                    slot.insert(self.tv(leaf, k)?);
                }
            }
        }
        Ok((env, leaves))
    }

    /// Element `e` (row-major) of node `id`, instance `k`: a scalar, or
    /// elements `e, e+1` as an `f64x2` when `vector`.
    fn ew_eval(
        &mut self,
        id: ValueId,
        k: usize,
        env: &Env,
        e: i64,
        vector: bool,
        root: bool,
    ) -> Result<Value, CodegenError> {
        let fused = root || self.plan.node(id).repr == Repr::Fused;
        if !fused {
            let key = self.inst_key(id, k);
            let tv = env.leaves.get(&key).cloned().map_or_else(|| self.tv(id, k), Ok)?;
            let shape = self.f.shape(id);
            let off = tv.flat_at(shape, e as usize);
            return Ok(if vector {
                let step = tv.flat_at(shape, e as usize + 1) - off;
                self.pair(&tv, off, step)
            } else {
                self.elem(&tv, off)
            });
        }
        match self.f.node(id).op.clone() {
            Op::Unary(u, a) => {
                let x = self.ew_eval(a, k, env, e, vector, false)?;
                self.apply_unary(u, x)
            }
            Op::Binary(bop, a, b) => {
                let x = self.ew_eval(a, k, env, e, vector, false)?;
                let y = self.ew_eval(b, k, env, e, vector, false)?;
                self.apply_binary(bop, x, y)
            }
            Op::Broadcast(_) => {
                let key = self.inst_key(id, k);
                let s = *env
                    .bcast
                    .get(&key)
                    .ok_or_else(|| CodegenError::internal(format!("broadcast %{} not loaded", id.0)))?;
                Ok(if vector { self.b.ins().splat(types::F64X2, s) } else { s })
            }
            other => Err(CodegenError::internal(format!("fused non-elementwise op {other:?}"))),
        }
    }

    pub(super) fn apply_unary(&mut self, op: UnaryOp, x: Value) -> Result<Value, CodegenError> {
        let mut m = self.math();
        Ok(match op {
            UnaryOp::Neg => m.b.ins().fneg(x),
            UnaryOp::Abs => m.b.ins().fabs(x),
            UnaryOp::Sqrt => m.b.ins().sqrt(x),
            UnaryOp::Exp => m.exp(x),
            UnaryOp::Log => m.log(x),
            UnaryOp::Sin => m.sin(x),
            UnaryOp::Cos => m.cos(x),
            UnaryOp::Tan => m.tan(x),
            UnaryOp::Tanh => m.tanh(x),
            UnaryOp::Relu => m.relu(x),
            UnaryOp::Sigmoid => m.sigmoid(x),
            UnaryOp::Softplus => m.softplus(x),
            UnaryOp::Gelu => m.gelu(x),
            UnaryOp::Elu => m.elu(x),
            UnaryOp::Powi(n) => m.powi(x, n),
            UnaryOp::Step => m.step(x),
        })
    }

    pub(super) fn apply_binary(&mut self, op: BinaryOp, a: Value, b: Value) -> Result<Value, CodegenError> {
        let ins = self.b.ins();
        Ok(match op {
            BinaryOp::Add => ins.fadd(a, b),
            BinaryOp::Sub => ins.fsub(a, b),
            BinaryOp::Mul => ins.fmul(a, b),
            BinaryOp::Div => ins.fdiv(a, b),
            BinaryOp::Min => ins.fmin(a, b),
            BinaryOp::Max => ins.fmax(a, b),
            BinaryOp::Pow => {
                self.math().pow(a, b).ok_or_else(|| CodegenError::internal("pow used but not imported".into()))?
            }
        })
    }

    /// A small elementwise node of instance `k`, as registers.
    pub(super) fn elementwise_small(&mut self, id: ValueId, k: usize) -> Result<Tv, CodegenError> {
        let shape = self.f.shape(id);
        let len = shape.len();
        let (env, _) = self.env_for_instance(id, k)?;
        let mut vals = Vec::with_capacity(len);
        if let Op::Unary(u, a) = self.f.node(id).op {
            if is_expensive(u) && len >= 2 {
                let xs = (0..len)
                    .map(|e| self.ew_eval(a, k, &env, e as i64, false, false))
                    .collect::<Result<Vec<_>, _>>()?;
                for pair in xs.chunks(2) {
                    if let [x0, x1] = *pair {
                        let v = self.vec2(x0, x1);
                        let r = self.apply_unary(u, v)?;
                        vals.push(self.b.ins().extractlane(r, 0));
                        vals.push(self.b.ins().extractlane(r, 1));
                    } else {
                        let r = self.apply_unary(u, pair[0])?;
                        vals.push(r);
                    }
                }
                return Ok(Tv::regs(vals, shape));
            }
        }
        for e in 0..len {
            vals.push(self.ew_eval(id, k, &env, e as i64, false, true)?);
        }
        Ok(Tv::regs(vals, shape))
    }

    fn env_for_instance(&mut self, id: ValueId, k: usize) -> Result<(Env, Vec<ValueId>), CodegenError> {
        // Broadcast scalars are keyed by instance; load only instance `k`'s.
        let (mut leaves, mut bcasts) = (Vec::new(), Vec::new());
        self.collect(id, true, &mut leaves, &mut bcasts);
        let mut env = Env::default();
        for &bid in &bcasts {
            let Op::Broadcast(a) = self.f.node(bid).op else {
                continue;
            };
            let tv = self.tv(a, k)?;
            let v = self.elem(&tv, tv.off);
            let key = self.inst_key(bid, k);
            env.bcast.insert(key, v);
        }
        Ok((env, leaves))
    }

    /// A large elementwise root: one loop writing every instance's `dests`.
    ///
    /// A long `tanh` on a host with the runtime's SIMD routines goes to the
    /// routine (the same bits as the inline approximation): directly when
    /// its operand is `x` or `x + b` in flat memory, else after the loop has
    /// stored the operand.
    pub(super) fn elementwise_root(&mut self, id: ValueId, dests: &[Tv]) -> Result<(), CodegenError> {
        let len = self.f.shape(id).len();
        let n = dests.len();
        let routine = self.tanh_call(id, dests)?;
        // The node the loop evaluates, and whether it is the root itself.
        let (eval, root) = match routine {
            Some(call @ TanhCall::Direct { .. }) => return self.call_tanh(call, len, dests),
            Some(TanhCall::InPlace { arg }) => (arg, false),
            None => (id, true),
        };
        let (env, leaves) = self.env_for(id, n)?;
        let pairs = len / 2;
        let per_iter = if n == 1 { PAIRS_PER_ITER } else { 1 };
        let looped = if pairs > UNROLL_PAIRS { pairs / per_iter * per_iter } else { 0 };
        if looped > 0 {
            let step = (2 * per_iter) as i64;
            self.for_loop(0, (2 * looped) as i64, step, vec![], |l, i, _| {
                // Leaves and destinations advanced to element `i`.
                let mut lenv = Env { leaves: HashMap::new(), bcast: env.bcast.clone() };
                for &leaf in &leaves {
                    for k in 0..n {
                        let key = l.inst_key(leaf, k);
                        if let (false, Some(tv)) = (lenv.leaves.contains_key(&key), env.leaves.get(&key)) {
                            let adv = l.advance(tv, i, 1)?;
                            lenv.leaves.insert(key, adv);
                        }
                    }
                }
                let ds = dests.iter().map(|d| l.advance(d, i, 1)).collect::<Result<Vec<_>, _>>()?;
                for u in 0..per_iter {
                    let e = (2 * u) as i64;
                    for (k, d) in ds.iter().enumerate() {
                        let v = l.ew_eval(eval, k, &lenv, e, true, root)?;
                        l.store_pair(d, d.off + e, 1, v)?;
                    }
                }
                Ok(vec![])
            })?;
        }
        let mut e = 2 * looped;
        while e < len {
            let vector = e + 1 < len;
            for (k, d) in dests.iter().enumerate() {
                let v = self.ew_eval(eval, k, &env, e as i64, vector, root)?;
                let off = d.flat_at(self.f.shape(id), e);
                if vector {
                    self.store_pair(d, off, 1, v)?;
                } else {
                    self.store(d, off, v)?;
                }
            }
            e += if vector { 2 } else { 1 };
        }
        if let Some(call) = routine {
            self.call_tanh(call, len, dests)?;
        }
        Ok(())
    }

    /// `sum` of instance `k` of `a`: lanes accumulate even and odd elements
    /// in order, then `even + odd`, then the last element if the count is odd.
    pub(super) fn sum(&mut self, a: ValueId, k: usize) -> Result<Tv, CodegenError> {
        let shape = self.f.shape(a);
        let len = shape.len();
        let tv = self.tv(a, k)?;
        if len == 0 {
            let zero = self.b.ins().f64const(0.0);
            return Ok(Tv::regs(vec![zero], crate::ir::Shape::scalar()));
        }
        if len == 1 {
            let v = self.elem(&tv, tv.off);
            return Ok(Tv::regs(vec![v], crate::ir::Shape::scalar()));
        }
        let pairs = len / 2;
        let total = if matches!(tv.src, Src::Ptr(_)) && pairs > UNROLL_PAIRS {
            // Flat memory (the plan guarantees it for large operands).
            let first = self.pair(&tv, tv.off, 1);
            let acc = self.for_loop(1, pairs as i64, 1, vec![first], |l, p, acc| {
                let adv = l.advance(&tv, p, 2)?;
                let v = l.pair(&adv, adv.off, 1);
                Ok(vec![l.b.ins().fadd(acc[0], v)])
            })?;
            let lo = self.b.ins().extractlane(acc[0], 0);
            let hi = self.b.ins().extractlane(acc[0], 1);
            self.b.ins().fadd(lo, hi)
        } else {
            let mut even = self.elem(&tv, tv.flat_at(shape, 0));
            let mut odd = self.elem(&tv, tv.flat_at(shape, 1));
            for p in 1..pairs {
                let x = self.elem(&tv, tv.flat_at(shape, 2 * p));
                even = self.b.ins().fadd(even, x);
                let y = self.elem(&tv, tv.flat_at(shape, 2 * p + 1));
                odd = self.b.ins().fadd(odd, y);
            }
            self.b.ins().fadd(even, odd)
        };
        let total = if len % 2 == 1 {
            let last = self.elem(&tv, tv.flat_at(shape, len - 1));
            self.b.ins().fadd(total, last)
        } else {
            total
        };
        Ok(Tv::regs(vec![total], crate::ir::Shape::scalar()))
    }
}
