//! Calls from kernels into the runtime's SIMD routines ([`nde_runtime::linalg`]).
//!
//! Cranelift emits at most 128-bit vectors; on hosts with AVX2 and FMA the
//! runtime's 256-bit routines compute large matrix–vector products, outer
//! products and `tanh` over long vectors about twice as fast, and a batch
//! tile's products with a shared matrix in one call (the group routine,
//! about 1.3× faster again per member on a 64 × 64 matrix). They perform
//! the same IEEE operations in the same order as the inline lowering
//! (`matmul.rs`, `outer.rs`, `math.rs`), so whether a kernel calls them
//! changes its speed, never its results. This module owns that choice
//! (host, options, operand layouts, size thresholds), the routines'
//! signatures and imports, and the calls. Short vectors that live in
//! registers (a cotangent, a small state) are stored to a stack slot of
//! their own for a call.
//!
//! Never: hand a routine an operand layout it does not support (the inline
//! code handles every layout), or call one on a host without AVX2 and FMA
//! (the portable routines would be slower than inline code).

use super::emit::{rw, Lowerer, Src, Tv};
use super::plan::Repr;
use super::{CodegenError, JitOptions};
use crate::ir::{BinaryOp, Function, Op, UnaryOp, ValueId};
use cranelift_codegen::ir::{
    types, AbiParam, FuncRef, Function as ClifFunction, InstBuilder, StackSlotData, StackSlotKind, Value,
};
use cranelift_module::{FuncId, Linkage, Module};
use nde_runtime::linalg::{Routines, MATVEC_GROUP_SYMBOL, MATVEC_SYMBOL, MATVEC_T_SYMBOL, OUTER_SYMBOL, TANH_SYMBOL};

/// Products with fewer multiply–adds than this stay inline.
const MATVEC_MIN_WORK: usize = 128;
/// Row-dot products need this many columns to be called (shorter rows are
/// all tail in the routine's quad-lane order).
const MATVEC_MIN_K: usize = 8;
/// Column-axpy products need this many rows (one 256-bit vector).
const MATVEC_T_MIN_ROWS: usize = 4;
/// Outer products with fewer elements stay inline.
const OUTER_MIN_LEN: usize = 64;
/// Outer products need rows this long (one 256-bit vector) to be called.
const OUTER_MIN_COLS: usize = 4;
/// `tanh` over fewer elements stays inline (at 16 or fewer the node lives
/// in registers anyway; at 17 the routine is already twice as fast).
const TANH_MIN_LEN: usize = super::plan::SMALL + 1;

/// Whether kernels compiled with `opts` on this host call the routines.
pub(super) fn enabled(opts: &JitOptions) -> bool {
    opts.simd_routines && Routines::host().simd
}

/// Whether `f` has an op that might be handed to a routine (a superset:
/// layouts are only known while lowering).
fn may_call(f: &Function) -> bool {
    f.nodes.iter().any(|n| match n.op {
        Op::MatMul(..) => true,
        Op::Unary(UnaryOp::Tanh, _) => n.shape.len() >= TANH_MIN_LEN,
        _ => false,
    })
}

/// The routines declared in a module.
#[derive(Clone, Copy)]
pub(super) struct RoutineDecls {
    matvec: FuncId,
    matvec_t: FuncId,
    matvec_group: FuncId,
    outer: FuncId,
    tanh: FuncId,
}

/// The routines imported into one function.
#[derive(Clone, Copy, Debug)]
pub(super) struct RoutineRefs {
    matvec: FuncRef,
    matvec_t: FuncRef,
    matvec_group: FuncRef,
    outer: FuncRef,
    tanh: FuncRef,
}

impl RoutineDecls {
    /// Declares the routines as imports of `module`.
    pub fn declare<M: Module>(module: &mut M) -> Result<RoutineDecls, CodegenError> {
        let ptr = module.target_config().pointer_type();
        let sig = |n: usize| {
            let mut s = module.make_signature();
            s.params.extend((0..n).map(|_| AbiParam::new(ptr)));
            s
        };
        let (mv, mvt, map) = (sig(6), sig(7), sig(4));
        let mut declare = |name: &str, s| {
            module.declare_function(name, Linkage::Import, s).map_err(|e| CodegenError::cranelift(name, e))
        };
        Ok(RoutineDecls {
            matvec: declare(MATVEC_SYMBOL, &mv)?,
            matvec_t: declare(MATVEC_T_SYMBOL, &mvt)?,
            matvec_group: declare(MATVEC_GROUP_SYMBOL, &mvt)?,
            outer: declare(OUTER_SYMBOL, &mvt)?,
            tanh: declare(TANH_SYMBOL, &map)?,
        })
    }

    /// Imports the routines into `func` when `f` may call them.
    pub fn import<M: Module>(&self, module: &mut M, f: &Function, func: &mut ClifFunction) -> Option<RoutineRefs> {
        may_call(f).then(|| RoutineRefs {
            matvec: module.declare_func_in_func(self.matvec, func),
            matvec_t: module.declare_func_in_func(self.matvec_t, func),
            matvec_group: module.declare_func_in_func(self.matvec_group, func),
            outer: module.declare_func_in_func(self.outer, func),
            tanh: module.declare_func_in_func(self.tanh, func),
        })
    }
}

/// The address of `tv`'s first element, when it is in memory.
fn base(l: &mut Lowerer<'_, '_>, tv: &Tv) -> Option<Value> {
    addr(tv).map(|a| at(l, a))
}

/// A memory tensor's base pointer and element offset.
fn addr(tv: &Tv) -> Option<(Value, i64)> {
    match tv.src {
        Src::Ptr(p) => Some((p, tv.off)),
        Src::Regs(_) => None,
    }
}

/// The address `p + 8·off`.
fn at(l: &mut Lowerer<'_, '_>, (p, off): (Value, i64)) -> Value {
    if off == 0 {
        p
    } else {
        l.b.ins().iadd_imm_s(p, off * 8)
    }
}

fn nonneg(s: i64) -> Option<i64> {
    (s >= 0).then_some(s)
}

impl Lowerer<'_, '_> {
    /// `dests[t][r] = Σ_c m[r, c] xs[t][c]` by a routine call per instance,
    /// if the operands suit one; `false` (nothing emitted) otherwise.
    /// Vectors in registers are spilled for a column-axpy call (`Wᵀa` with
    /// a short `a`); a row-dot call takes them from memory only.
    pub(super) fn call_matvec(&mut self, rows: usize, k: usize, m: &Tv, xs: &[Tv], dests: &[Tv]) -> bool {
        let Some(rt) = self.routines else { return false };
        let flat = |t: &Tv| matches!(t.src, Src::Ptr(_)) && (rows <= 1 || t.strides[0] == 1);
        if rows * k < MATVEC_MIN_WORK || !matches!(m.src, Src::Ptr(_)) || !dests.iter().all(flat) {
            return false;
        }
        let x_in_mem = xs.iter().all(|x| matches!(x.src, Src::Ptr(_)));
        let [rs, ks] = m.strides;
        let (func, ld, column) = if ks == 1 && k >= MATVEC_MIN_K && x_in_mem && xs.iter().all(|x| x.strides[0] == 1) {
            match nonneg(rs) {
                Some(ld) => (rt.matvec, ld, false),
                None => return false,
            }
        } else if rs == 1 && rows >= MATVEC_T_MIN_ROWS && xs.iter().all(|x| x.is_regs() || x.strides[0] >= 0) {
            match nonneg(ks) {
                Some(ld) => (rt.matvec_t, ld, true),
                None => return false,
            }
        } else {
            return false;
        };
        let (Some(a), Some(ds)) = (addr(m), dests.iter().map(addr).collect::<Option<Vec<_>>>()) else { return false };
        let a = at(self, a);
        for (x, d) in xs.iter().zip(ds) {
            let (xp, incx) = match addr(x) {
                Some(p) => (at(self, p), x.strides[0]),
                None => (self.spill(x, k), 1),
            };
            let dp = at(self, d);
            let mut args = vec![
                self.b.ins().iconst(types::I64, rows as i64),
                self.b.ins().iconst(types::I64, k as i64),
                a,
                self.b.ins().iconst(types::I64, ld),
                xp,
            ];
            if column {
                args.push(self.b.ins().iconst(types::I64, incx));
            }
            args.push(dp);
            self.b.ins().call(func, &args);
        }
        true
    }

    /// `out_t[r] = Σ_c m[r, c] xs[t][c]` for every member `t` of a tile by
    /// one call of the group routine, if the operands suit it (a matrix in
    /// memory with contiguous rows, at least two members); `None` (nothing
    /// emitted) otherwise. Members' vectors in registers are spilled;
    /// results go to `dests`, or, when `dests` is `None`, through a stack
    /// slot into registers (returned per member).
    pub(super) fn call_matvec_group(
        &mut self,
        rows: usize,
        k: usize,
        m: &Tv,
        xs: &[Tv],
        dests: Option<&[Tv]>,
    ) -> Option<Vec<Vec<Value>>> {
        let rt = self.routines?;
        let n = xs.len();
        let [rs, ks] = m.strides;
        let flat = |t: &Tv| matches!(t.src, Src::Ptr(_)) && (rows <= 1 || t.strides[0] == 1);
        let x_ok = |x: &Tv| x.is_regs() || k <= 1 || x.strides[0] == 1;
        if n < 2
            || k == 0
            || rows * k < MATVEC_MIN_WORK
            || (k > 1 && ks != 1)
            || !dests.is_none_or(|ds| ds.iter().all(flat))
            || !xs.iter().all(x_ok)
        {
            return None;
        }
        let ld = if rows <= 1 { 0 } else { nonneg(rs)? };
        let a = addr(m)?;
        let a = at(self, a);
        // Pointer arrays: the members' vectors, then their outputs.
        let ptrs = self.b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, (16 * n) as u32, 3));
        let out_slot = dests.is_none().then(|| {
            self.b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, (8 * n * rows) as u32, 4))
        });
        for (t, x) in xs.iter().enumerate() {
            let xp = match addr(x) {
                Some(p) => at(self, p),
                None => self.spill(x, k),
            };
            self.b.ins().stack_store(types::I64, xp, ptrs, (8 * t) as i32);
            let yp = match (dests, out_slot) {
                (Some(ds), _) => {
                    let d = addr(&ds[t])?;
                    at(self, d)
                }
                (None, Some(slot)) => self.b.ins().stack_addr(types::I64, slot, (8 * t * rows) as i32),
                (None, None) => return None,
            };
            self.b.ins().stack_store(types::I64, yp, ptrs, (8 * (n + t)) as i32);
        }
        let xs_p = self.b.ins().stack_addr(types::I64, ptrs, 0);
        let ys_p = self.b.ins().stack_addr(types::I64, ptrs, (8 * n) as i32);
        let args = [
            self.b.ins().iconst(types::I64, rows as i64),
            self.b.ins().iconst(types::I64, k as i64),
            a,
            self.b.ins().iconst(types::I64, ld),
            self.b.ins().iconst(types::I64, n as i64),
            xs_p,
            ys_p,
        ];
        self.b.ins().call(rt.matvec_group, &args);
        let mut regs = vec![Vec::new(); n];
        if let Some(slot) = out_slot {
            for (t, r) in regs.iter_mut().enumerate() {
                *r = (0..rows)
                    .map(|i| self.b.ins().stack_load(types::I64, types::F64, slot, (8 * (t * rows + i)) as i32))
                    .collect();
            }
        }
        Some(regs)
    }

    /// `d[i, j] = y[j] · x[i]` (`i < m`, `j < n`; `x`, `y` vectors) by one
    /// routine call, if the operands suit it; `false` (nothing emitted)
    /// otherwise. Operands in registers are stored to a stack slot first.
    pub(super) fn call_outer(&mut self, m: usize, n: usize, x: &Tv, y: &Tv, d: &Tv) -> bool {
        let Some(rt) = self.routines else { return false };
        let [drs, dcs] = d.strides;
        let (ys, xs) = (y.strides[0], x.strides[0]);
        if m * n < OUTER_MIN_LEN || n < OUTER_MIN_COLS || dcs != 1 || ys != 1 && !y.is_regs() {
            return false;
        }
        let (Some(lda), Some(dp)) = (nonneg(drs), addr(d)) else { return false };
        let (xp, incx) = match addr(x) {
            Some(a) => match nonneg(xs) {
                Some(s) => (at(self, a), s),
                None => return false,
            },
            None => (self.spill(x, m), 1),
        };
        let yp = match addr(y) {
            Some(a) => at(self, a),
            None => self.spill(y, n),
        };
        let dp = at(self, dp);
        let args = [
            self.b.ins().iconst(types::I64, m as i64),
            self.b.ins().iconst(types::I64, n as i64),
            xp,
            self.b.ins().iconst(types::I64, incx),
            yp,
            dp,
            self.b.ins().iconst(types::I64, lda),
        ];
        self.b.ins().call(rt.outer, &args);
        true
    }

    /// The address of a fresh stack slot holding elements `0..len` of the
    /// vector `tv` (in registers), contiguously.
    fn spill(&mut self, tv: &Tv, len: usize) -> Value {
        let slot = self.b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, (len * 8) as u32, 4));
        let p = self.b.ins().stack_addr(types::I64, slot, 0);
        for i in 0..len {
            let v = self.elem(tv, tv.off + i as i64 * tv.strides[0]);
            self.b.ins().store(rw(), v, p, (i * 8) as i32);
        }
        p
    }

    /// How the elementwise root `id` (materialised in `dests`) uses the
    /// `tanh` routine, if at all.
    pub(super) fn tanh_call(&self, id: ValueId, dests: &[Tv]) -> Result<Option<TanhCall>, CodegenError> {
        let shape = self.f.shape(id);
        let flat = |t: &Tv| matches!(t.src, Src::Ptr(_)) && super::plan::is_flat(t.strides, shape);
        let Op::Unary(UnaryOp::Tanh, a) = self.f.node(id).op else { return Ok(None) };
        if self.routines.is_none() || shape.len() < TANH_MIN_LEN || !dests.iter().all(flat) {
            return Ok(None);
        }
        let fused = |v: ValueId| self.plan.node(v).repr == Repr::Fused;
        let (x, b) = match self.f.node(a).op {
            _ if !fused(a) => (a, None),
            Op::Binary(BinaryOp::Add, u, v) if !fused(u) && !fused(v) => (u, Some(v)),
            _ => return Ok(Some(TanhCall::InPlace { arg: a })),
        };
        for k in 0..dests.len() {
            for v in std::iter::once(x).chain(b) {
                if !flat(&self.tv(v, k)?) {
                    return Ok(Some(TanhCall::InPlace { arg: a }));
                }
            }
        }
        Ok(Some(TanhCall::Direct { x, b }))
    }

    /// Emits the routine calls of `call` for every instance (after the
    /// loop that stores the operand, for [`TanhCall::InPlace`]).
    pub(super) fn call_tanh(&mut self, call: TanhCall, len: usize, dests: &[Tv]) -> Result<(), CodegenError> {
        let rt = self.routines.ok_or_else(|| CodegenError::internal("tanh routine not imported".into()))?;
        let in_mem = || CodegenError::internal("tanh routine on registers".into());
        for (k, d) in dests.iter().enumerate() {
            let y = base(self, d).ok_or_else(in_mem)?;
            let (x, b) = match call {
                TanhCall::InPlace { .. } => (y, self.b.ins().iconst(types::I64, 0)),
                TanhCall::Direct { x, b } => {
                    let xt = self.tv(x, k)?;
                    let xp = base(self, &xt).ok_or_else(in_mem)?;
                    let bp = match b {
                        Some(b) => {
                            let bt = self.tv(b, k)?;
                            base(self, &bt).ok_or_else(in_mem)?
                        }
                        None => self.b.ins().iconst(types::I64, 0),
                    };
                    (xp, bp)
                }
            };
            let n = self.b.ins().iconst(types::I64, len as i64);
            self.b.ins().call(rt.tanh, &[n, x, b, y]);
        }
        Ok(())
    }
}

/// How an elementwise `tanh` root is handed to the runtime's routine.
#[derive(Clone, Copy, Debug)]
pub(super) enum TanhCall {
    /// `tanh(x)` or `tanh(x + b)` of operands already in flat memory: one
    /// call per instance, no loop.
    Direct { x: ValueId, b: Option<ValueId> },
    /// The elementwise loop stores the operand `arg`, then the routine
    /// replaces it by its `tanh` in place.
    InPlace { arg: ValueId },
}
