//! The lowering core: one IR [`Function`] into one cranelift function body.
//!
//! Owns the kernel skeletons (the single-trajectory body and the batched
//! body with its tile loop and remainder loop), value access (tensors as
//! SSA scalars or strided memory, element and `f64x2` pair loads), counted
//! loops, copies, and the dispatch of each node to its emitter
//! (`elementwise.rs`, `matmul.rs`).
//!
//! Never: allocate or call anything at kernel run time except the libm
//! fallbacks in `math.rs` and the runtime's SIMD routines (`routines.rs`),
//! depend on a particular `cranelift_module::Module`
//! (the caller imports functions and data into the function first), or
//! decide storage (that is `plan.rs`).

use super::math::{Libm, Math};
use super::plan::{row_major, Base, Layout, Plan, Repr};
use super::routines::RoutineRefs;
use super::CodegenError;
use crate::ir::{Function, Op, Shape, ValueId};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{types, BlockArg, GlobalValue, InstBuilder, MemFlagsData, Value};
use cranelift_codegen::isa::TargetFrontendConfig;
use cranelift_frontend::FunctionBuilder;
use std::collections::HashMap;
use std::rc::Rc;

/// Where a value's elements are.
#[derive(Clone, Debug)]
pub(super) enum Src {
    /// SSA scalars.
    Regs(Rc<[Value]>),
    /// Memory at this address.
    Ptr(Value),
}

/// A tensor during lowering: element `(i, j)` is `src[off + i·s0 + j·s1]`
/// (a vector uses `s0` only).
#[derive(Clone, Debug)]
pub(super) struct Tv {
    pub src: Src,
    pub off: i64,
    pub strides: [i64; 2],
}

impl Tv {
    pub fn regs(vals: Vec<Value>, shape: Shape) -> Tv {
        Tv { src: Src::Regs(vals.into()), off: 0, strides: row_major(shape) }
    }
    /// Offset of element `(i, j)`.
    pub fn at(&self, i: usize, j: usize) -> i64 {
        self.off + i as i64 * self.strides[0] + j as i64 * self.strides[1]
    }
    /// Element `k` of the row-major order of `shape`.
    pub fn flat_at(&self, shape: Shape, k: usize) -> i64 {
        match shape.dims() {
            [_, n] => self.at(k / *n as usize, k % *n as usize),
            _ => self.at(k, 0),
        }
    }
    pub fn is_regs(&self) -> bool {
        matches!(self.src, Src::Regs(_))
    }
    /// The transposed view (strides swapped).
    pub fn transposed(&self) -> Tv {
        Tv { src: self.src.clone(), off: self.off, strides: [self.strides[1], self.strides[0]] }
    }
}

/// Pointers of one trajectory in the tile being emitted.
#[derive(Clone, Copy, Debug)]
pub(super) struct Inst {
    pub t: Value,
    pub y: Value,
    pub out: Value,
}

/// Flags for loads of inputs and constants (never written by the kernel).
pub(super) fn ro() -> MemFlagsData {
    MemFlagsData::new().with_notrap().with_readonly()
}
/// Flags for frame and output accesses.
pub(super) fn rw() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

pub(super) struct Lowerer<'a, 'f> {
    pub b: FunctionBuilder<'f>,
    pub f: &'a Function,
    pub plan: &'a Plan,
    pub libm: Libm,
    /// The runtime's SIMD routines, when this kernel may call them.
    pub routines: Option<RoutineRefs>,
    pub p: Value,
    pub frame: Value,
    pub data: HashMap<ValueId, Value>,
    /// Trajectories of the tile being emitted (one for the single kernel).
    pub insts: Vec<Inst>,
    /// Per node, per instance (uniform nodes: one instance).
    pub vals: Vec<Vec<Tv>>,
}

/// Kernel-level inputs of [`Lowerer::build`].
pub(super) struct Imports {
    pub libm: Libm,
    /// Global values of the data objects of large constants.
    pub data: Vec<(ValueId, GlobalValue)>,
    /// Stack slot holding the frame, or `None` to use the scratch argument.
    pub stack: Option<cranelift_codegen::ir::StackSlot>,
    pub frontend: TargetFrontendConfig,
    pub routines: Option<RoutineRefs>,
}

impl<'a, 'f> Lowerer<'a, 'f> {
    /// Creates, enters and seals the entry block; returns the kernel's arguments.
    fn entry_block_params(&mut self) -> Vec<Value> {
        let entry = self.b.create_block();
        self.b.append_block_params_for_function_params(entry);
        self.b.switch_to_block(entry);
        self.b.seal_block(entry);
        self.b.block_params(entry).to_vec()
    }

    /// Builds the single-trajectory kernel body
    /// `(t, y, p, out, scratch)` into `b`'s function.
    pub fn build_single(
        b: FunctionBuilder<'f>,
        f: &'a Function,
        plan: &'a Plan,
        imp: &Imports,
    ) -> Result<(), CodegenError> {
        let mut l = Lowerer::new(b, f, plan, imp);
        let params = l.entry_block_params();
        let (t, y, p, out, scratch) = (params[0], params[1], params[2], params[3], params[4]);
        l.setup(p, scratch, imp);
        l.insts = vec![Inst { t, y, out }];
        l.emit_nodes(None)?;
        l.write_outputs()?;
        l.b.ins().return_(&[]);
        l.finish(imp.frontend);
        Ok(())
    }

    /// Builds the batched kernel body `(n, t, y, p, out, scratch)`:
    /// parameter-only nodes once, then tiles of `plan.tile` trajectories,
    /// the last one ending at `n` (overlapping its predecessor), or, when
    /// `n` is smaller than a tile, the trajectories one by one.
    pub fn build_batch(
        b: FunctionBuilder<'f>,
        f: &'a Function,
        plan: &'a Plan,
        imp: &Imports,
    ) -> Result<(), CodegenError> {
        let mut l = Lowerer::new(b, f, plan, imp);
        let params = l.entry_block_params();
        let (n, tp, y, p, out, scratch) = (params[0], params[1], params[2], params[3], params[4], params[5]);
        l.setup(p, scratch, imp);
        l.emit_nodes(Some(false))?;
        let tile = plan.tile.max(1) as i64;
        let (ns, no) = (f.n_state as i64 * 8, f.output_len() as i64 * 8);
        let zero = l.b.ins().iconst(types::I64, 0);
        let exit = l.b.create_block();
        let rem_hdr = l.b.create_block();
        l.b.append_block_param(rem_hdr, types::I64);
        let start_rem = if tile > 1 {
            // hdr(i): a whole tile at `i` while one fits; then, if members
            // are left and `n ≥ tile`, one last tile ending at `n` (it
            // overlaps the previous one: those members are computed again,
            // to the same bits, and their rows written again); a batch
            // smaller than a tile goes one by one.
            let hdr = l.b.create_block();
            l.b.append_block_param(hdr, types::I64);
            let body = l.b.create_block();
            l.b.append_block_param(body, types::I64);
            let last = l.b.create_block();
            l.b.ins().jump(hdr, &[BlockArg::Value(zero)]);
            l.b.switch_to_block(hdr);
            let bi = l.b.block_params(hdr)[0];
            let end = l.b.ins().iadd_imm_s(bi, tile);
            let fits = l.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, end, n);
            l.b.ins().brif(fits, body, &[BlockArg::Value(bi)], last, &[]);
            l.b.switch_to_block(last);
            l.b.seal_block(last);
            let left = l.b.ins().icmp(IntCC::UnsignedLessThan, bi, n);
            let enough = l.b.ins().icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, n, tile);
            let overlap = l.b.ins().band(left, enough);
            let from = l.b.ins().iadd_imm_s(n, -tile);
            l.b.ins().brif(overlap, body, &[BlockArg::Value(from)], rem_hdr, &[BlockArg::Value(bi)]);
            l.b.switch_to_block(body);
            l.b.seal_block(body);
            let s = l.b.block_params(body)[0];
            l.insts = (0..tile).map(|k| l.trajectory(s, k, tp, y, out, ns, no)).collect();
            l.emit_nodes(Some(true))?;
            l.write_outputs()?;
            let next = l.b.ins().iadd_imm_s(s, tile);
            l.b.ins().jump(hdr, &[BlockArg::Value(next)]);
            l.b.seal_block(hdr);
            None
        } else {
            Some(zero)
        };
        if let Some(z) = start_rem {
            l.b.ins().jump(rem_hdr, &[BlockArg::Value(z)]);
        }
        l.b.switch_to_block(rem_hdr);
        let bi = l.b.block_params(rem_hdr)[0];
        let more = l.b.ins().icmp(IntCC::UnsignedLessThan, bi, n);
        let body = l.b.create_block();
        l.b.ins().brif(more, body, &[], exit, &[]);
        l.b.switch_to_block(body);
        l.b.seal_block(body);
        l.insts = vec![l.trajectory(bi, 0, tp, y, out, ns, no)];
        l.clear_varying();
        l.emit_nodes(Some(true))?;
        l.write_outputs()?;
        let next = l.b.ins().iadd_imm_s(bi, 1);
        l.b.ins().jump(rem_hdr, &[BlockArg::Value(next)]);
        l.b.seal_block(rem_hdr);
        l.b.switch_to_block(exit);
        l.b.seal_block(exit);
        l.b.ins().return_(&[]);
        l.finish(imp.frontend);
        Ok(())
    }

    fn new(b: FunctionBuilder<'f>, f: &'a Function, plan: &'a Plan, imp: &Imports) -> Self {
        let dummy = Value::from_u32(0);
        Lowerer {
            b,
            f,
            plan,
            libm: imp.libm,
            routines: imp.routines,
            p: dummy,
            frame: dummy,
            data: HashMap::new(),
            insts: Vec::new(),
            vals: vec![Vec::new(); f.nodes.len()],
        }
    }

    fn setup(&mut self, p: Value, scratch: Value, imp: &Imports) {
        self.p = p;
        let frame = match imp.stack {
            Some(slot) => self.b.ins().stack_addr(types::I64, slot, 0),
            None => scratch,
        };
        // Aligned to 32 bytes (room reserved by `module.rs`), and every
        // frame tensor at a multiple of four elements (`plan.rs`), so the
        // runtime's 256-bit routines load their operands from the frame
        // without splitting cache lines.
        self.frame = if self.plan.frame_len == 0 {
            frame
        } else {
            let up = self.b.ins().iadd_imm_s(frame, 31);
            self.b.ins().band_imm_s(up, -32)
        };
        for &(id, gv) in &imp.data {
            let v = self.b.ins().symbol_value(types::I64, gv);
            self.data.insert(id, v);
        }
    }

    fn finish(mut self, cfg: TargetFrontendConfig) {
        self.b.seal_all_blocks();
        self.b.finalize(cfg);
    }

    /// Pointers of trajectory `bi + k`.
    #[allow(clippy::too_many_arguments)]
    fn trajectory(&mut self, bi: Value, k: i64, tp: Value, y: Value, out: Value, ns: i64, no: i64) -> Inst {
        let idx = if k == 0 { bi } else { self.b.ins().iadd_imm_s(bi, k) };
        let t_off = self.b.ins().ishl_imm_s(idx, 3);
        let ta = self.b.ins().iadd(tp, t_off);
        let t = self.b.ins().load(types::F64, ro(), ta, 0);
        let yo = self.b.ins().imul_imm_s(idx, ns);
        let ya = self.b.ins().iadd(y, yo);
        let oo = self.b.ins().imul_imm_s(idx, no);
        let oa = self.b.ins().iadd(out, oo);
        Inst { t, y: ya, out: oa }
    }

    fn clear_varying(&mut self) {
        for (i, np) in self.plan.nodes.iter().enumerate() {
            if np.varying {
                self.vals[i].clear();
            }
        }
    }

    /// Number of instances of a node in the current tile.
    pub fn ninst(&self, id: ValueId) -> usize {
        if self.plan.node(id).varying {
            self.insts.len()
        } else {
            1
        }
    }

    /// Instance `k` of a node's value (uniform nodes have one).
    pub fn tv(&self, id: ValueId, k: usize) -> Result<Tv, CodegenError> {
        let v = &self.vals[id.index()];
        let k = if self.plan.node(id).varying { k } else { 0 };
        v.get(k).cloned().ok_or_else(|| CodegenError::internal(format!("%{} used before it was emitted", id.0)))
    }

    /// The memory tensor of instance `k` of a node planned with layout `l`.
    pub fn resolve(&self, l: Layout, k: usize) -> Result<Tv, CodegenError> {
        let (ptr, off) = match l.base {
            Base::State => (self.insts.get(k).map(|i| i.y), l.off),
            Base::Out => (self.insts.get(k).map(|i| i.out), l.off),
            Base::Param => (Some(self.p), l.off),
            Base::Data(id) => (self.data.get(&id).copied(), l.off),
            Base::Frame { inst_stride } => (Some(self.frame), l.off + (k * inst_stride) as i64),
        };
        let ptr = ptr.ok_or_else(|| CodegenError::internal(format!("no base pointer for {:?}", l.base)))?;
        Ok(Tv { src: Src::Ptr(ptr), off, strides: l.strides })
    }

    /// Emits every live node of the chosen kind (`Some(true)`: varying only,
    /// `Some(false)`: uniform only, `None`: all).
    fn emit_nodes(&mut self, varying: Option<bool>) -> Result<(), CodegenError> {
        for i in 0..self.f.nodes.len() {
            let np = &self.plan.nodes[i];
            if varying.is_some_and(|v| v != np.varying) {
                continue;
            }
            if matches!(np.repr, Repr::Dead | Repr::Fused) {
                continue;
            }
            self.emit_node(ValueId(i as u32))?;
        }
        Ok(())
    }

    fn emit_node(&mut self, id: ValueId) -> Result<(), CodegenError> {
        let node = &self.f.nodes[id.index()];
        let np = self.plan.node(id);
        let n = self.ninst(id);
        let vals = match (&node.op, np.repr) {
            (Op::Unary(..) | Op::Binary(..) | Op::Broadcast(_), Repr::Mem(l)) => {
                let dests = (0..n).map(|k| self.resolve(l, k)).collect::<Result<Vec<_>, _>>()?;
                self.elementwise_root(id, &dests)?;
                dests
            }
            (Op::Unary(..) | Op::Binary(..) | Op::Broadcast(_), _) => {
                (0..n).map(|k| self.elementwise_small(id, k)).collect::<Result<Vec<_>, _>>()?
            }
            (Op::MatMul(a, b), repr) => self.matmul(id, *a, *b, repr)?,
            (Op::Sum(a), _) => (0..n).map(|k| self.sum(*a, k)).collect::<Result<Vec<_>, _>>()?,
            (Op::Input { .. }, Repr::Mem(l)) | (Op::Const(_), Repr::Mem(l)) => {
                (0..n).map(|k| self.resolve(l, k)).collect::<Result<Vec<_>, _>>()?
            }
            (Op::Input { buf, offset }, _) => {
                let mut out = Vec::with_capacity(n);
                for k in 0..n {
                    let vals = match buf {
                        crate::ir::InputBuf::Time => vec![self.insts[k].t],
                        crate::ir::InputBuf::State => {
                            let y = self.insts[k].y;
                            self.load_n(y, *offset as i64, node.shape.len(), ro())
                        }
                        crate::ir::InputBuf::Param => self.load_n(self.p, *offset as i64, node.shape.len(), ro()),
                    };
                    out.push(Tv::regs(vals, node.shape));
                }
                out
            }
            (Op::Const(c), _) => {
                let vals = c.iter().map(|&x| self.b.ins().f64const(x)).collect();
                vec![Tv::regs(vals, node.shape)]
            }
            (Op::Transpose(a) | Op::Slice { arg: a, .. } | Op::Index { arg: a, .. } | Op::Reshape(a), repr) => {
                self.view(id, *a, repr, np.copy_of_arg)?
            }
            (Op::Concat { args, axis }, repr) => self.concat(id, args, *axis as usize, repr)?,
        };
        self.vals[id.index()] = vals;
        Ok(())
    }

    fn load_n(&mut self, ptr: Value, off: i64, n: usize, flags: MemFlagsData) -> Vec<Value> {
        (0..n).map(|k| self.b.ins().load(types::F64, flags, ptr, ((off + k as i64) * 8) as i32)).collect()
    }

    fn view(&mut self, id: ValueId, a: ValueId, repr: Repr, copy: bool) -> Result<Vec<Tv>, CodegenError> {
        let node = &self.f.nodes[id.index()];
        let arg_shape = self.f.shape(a);
        let n = self.ninst(id);
        let mut out = Vec::with_capacity(n);
        for k in 0..n {
            let src = self.tv(a, k)?;
            let tv = match repr {
                Repr::Mem(l) if copy => {
                    // Materialise the view, row-major, in fresh memory.
                    let dst = self.resolve(l, k)?;
                    let sl = Layout { base: Base::Param, off: src.off, strides: src.strides };
                    match super::plan::view_layout(&node.op, sl, arg_shape, node.shape) {
                        Some(v) => {
                            let view = Tv { src: src.src.clone(), off: v.off, strides: v.strides };
                            self.copy(&view, &dst, node.shape)?;
                        }
                        None => {
                            // A reshape: the operand's row-major order is the result's.
                            let dst_as_arg = Tv { strides: row_major(arg_shape), ..dst.clone() };
                            self.copy(&src, &dst_as_arg, arg_shape)?;
                        }
                    }
                    dst
                }
                Repr::Mem(l) => self.resolve(l, k)?,
                _ => {
                    // Registers: apply the view to the strides, or gather (reshape).
                    let l = Layout { base: Base::Param, off: src.off, strides: src.strides };
                    match super::plan::view_layout(&node.op, l, arg_shape, node.shape) {
                        Some(v) => Tv { src: src.src.clone(), off: v.off, strides: v.strides },
                        None => {
                            let vals =
                                (0..arg_shape.len()).map(|e| self.elem(&src, src.flat_at(arg_shape, e))).collect();
                            Tv::regs(vals, node.shape)
                        }
                    }
                }
            };
            out.push(tv);
        }
        Ok(out)
    }

    fn concat(&mut self, id: ValueId, args: &[ValueId], axis: usize, repr: Repr) -> Result<Vec<Tv>, CodegenError> {
        let shape = self.f.shape(id);
        let n = self.ninst(id);
        let mut out = Vec::with_capacity(n);
        for k in 0..n {
            let parts = args
                .iter()
                .map(|&a| Ok((self.tv(a, k)?, self.f.shape(a))))
                .collect::<Result<Vec<_>, CodegenError>>()?;
            match repr {
                Repr::Mem(l) => {
                    let dst = self.resolve(l, k)?;
                    let mut pos = 0i64;
                    for (src, s) in &parts {
                        let d = Tv { off: dst.off + pos * dst.strides[axis], ..dst.clone() };
                        self.copy(src, &d, *s)?;
                        pos += s.dim(axis) as i64;
                    }
                    out.push(dst);
                }
                _ => {
                    let mut vals = Vec::with_capacity(shape.len());
                    if axis == 0 {
                        for (src, s) in &parts {
                            for e in 0..s.len() {
                                vals.push(self.elem(src, src.flat_at(*s, e)));
                            }
                        }
                    } else {
                        for r in 0..shape.dim(0) {
                            for (src, s) in &parts {
                                for c in 0..s.dim(1) {
                                    vals.push(self.elem(src, src.at(r, c)));
                                }
                            }
                        }
                    }
                    out.push(Tv::regs(vals, shape));
                }
            }
        }
        Ok(out)
    }

    /// Writes every output of the current tile's trajectories.
    fn write_outputs(&mut self) -> Result<(), CodegenError> {
        let mut pos = 0usize;
        let mut homed = vec![false; self.f.nodes.len()];
        for &o in &self.f.outputs.clone() {
            let shape = self.f.shape(o);
            let in_place = !homed[o.index()]
                && matches!(self.plan.node(o).repr, Repr::Mem(Layout { base: Base::Out, off, .. }) if off as usize == pos);
            homed[o.index()] = true;
            if !in_place {
                for k in 0..self.insts.len() {
                    let src = self.tv(o, k)?;
                    let dst = Tv { src: Src::Ptr(self.insts[k].out), off: pos as i64, strides: row_major(shape) };
                    self.copy(&src, &dst, shape)?;
                }
            }
            pos += shape.len();
        }
        Ok(())
    }

    // ---- element access -------------------------------------------------

    /// Scalar element at offset `off` of `tv`'s source.
    pub fn elem(&mut self, tv: &Tv, off: i64) -> Value {
        match &tv.src {
            Src::Regs(v) => v[off as usize],
            Src::Ptr(p) => self.b.ins().load(types::F64, ro(), *p, (off * 8) as i32),
        }
    }

    /// Elements at offsets `off` and `off + step` as an `f64x2`.
    pub fn pair(&mut self, tv: &Tv, off: i64, step: i64) -> Value {
        match &tv.src {
            Src::Ptr(p) if step == 1 => self.b.ins().load(types::F64X2, ro(), *p, (off * 8) as i32),
            _ => {
                let a = self.elem(tv, off);
                let b = self.elem(tv, off + step);
                self.vec2(a, b)
            }
        }
    }

    pub fn vec2(&mut self, a: Value, b: Value) -> Value {
        let v = self.b.ins().scalar_to_vector(types::F64X2, a);
        self.b.ins().insertlane(v, b, 1)
    }

    /// Stores a scalar to memory tensor `tv` at offset `off`.
    pub fn store(&mut self, tv: &Tv, off: i64, v: Value) -> Result<(), CodegenError> {
        let Src::Ptr(p) = tv.src else {
            return Err(CodegenError::internal("store to registers".into()));
        };
        self.b.ins().store(rw(), v, p, (off * 8) as i32);
        Ok(())
    }

    /// Stores an `f64x2` to offsets `off`, `off + step`.
    pub fn store_pair(&mut self, tv: &Tv, off: i64, step: i64, v: Value) -> Result<(), CodegenError> {
        let Src::Ptr(p) = tv.src else {
            return Err(CodegenError::internal("store to registers".into()));
        };
        if step == 1 {
            self.b.ins().store(rw(), v, p, (off * 8) as i32);
        } else {
            let a = self.b.ins().extractlane(v, 0);
            let c = self.b.ins().extractlane(v, 1);
            self.b.ins().store(rw(), a, p, (off * 8) as i32);
            self.b.ins().store(rw(), c, p, ((off + step) * 8) as i32);
        }
        Ok(())
    }

    /// `tv` with `idx · scale` elements added to its pointer (a loop index).
    pub fn advance(&mut self, tv: &Tv, idx: Value, scale: i64) -> Result<Tv, CodegenError> {
        let Src::Ptr(p) = tv.src else {
            return Err(CodegenError::internal("dynamic index into registers".into()));
        };
        if scale == 0 {
            return Ok(tv.clone());
        }
        let o = self.b.ins().imul_imm_s(idx, scale * 8);
        let np = self.b.ins().iadd(p, o);
        Ok(Tv { src: Src::Ptr(np), ..tv.clone() })
    }

    pub fn math(&mut self) -> Math<'_, 'f> {
        Math { b: &mut self.b, libm: &self.libm }
    }

    // ---- loops and copies ------------------------------------------------

    /// `for i in (start..end).step_by(step)` with loop-carried values;
    /// requires `start < end` and `(end - start) % step == 0`. Returns the
    /// carried values after the last iteration.
    pub fn for_loop(
        &mut self,
        start: i64,
        end: i64,
        step: i64,
        carry: Vec<Value>,
        mut body: impl FnMut(&mut Self, Value, Vec<Value>) -> Result<Vec<Value>, CodegenError>,
    ) -> Result<Vec<Value>, CodegenError> {
        let blk = self.b.create_block();
        let iv = self.b.append_block_param(blk, types::I64);
        let mut params = Vec::with_capacity(carry.len());
        for &c in &carry {
            let ty = self.b.func.dfg.value_type(c);
            params.push(self.b.append_block_param(blk, ty));
        }
        let s = self.b.ins().iconst(types::I64, start);
        let args: Vec<BlockArg> = std::iter::once(s).chain(carry).map(BlockArg::Value).collect();
        self.b.ins().jump(blk, &args);
        self.b.switch_to_block(blk);
        let res = body(self, iv, params)?;
        let next = self.b.ins().iadd_imm_s(iv, step);
        let more = self.b.ins().icmp_imm_s(IntCC::NotEqual, next, end);
        let exit = self.b.create_block();
        let mut outs = Vec::with_capacity(res.len());
        for &r in &res {
            let ty = self.b.func.dfg.value_type(r);
            outs.push(self.b.append_block_param(exit, ty));
        }
        let back: Vec<BlockArg> = std::iter::once(next).chain(res.iter().copied()).map(BlockArg::Value).collect();
        let fwd: Vec<BlockArg> = res.iter().copied().map(BlockArg::Value).collect();
        self.b.ins().brif(more, blk, &back, exit, &fwd);
        self.b.seal_block(blk);
        self.b.switch_to_block(exit);
        self.b.seal_block(exit);
        Ok(outs)
    }

    /// Copies a `shape` tensor from `src` to memory `dst` (any strides).
    pub fn copy(&mut self, src: &Tv, dst: &Tv, shape: Shape) -> Result<(), CodegenError> {
        let (rows, cols, [srs, scs], [drs, dcs]) = match shape.dims() {
            [m, n] => (*m as usize, *n as usize, src.strides, dst.strides),
            [n] => (1, *n as usize, [0, src.strides[0]], [0, dst.strides[0]]),
            _ => (1, 1, [0, 0], [0, 0]),
        };
        if rows == 1 || rows * cols <= 64 {
            for r in 0..rows {
                let (s, d) = (src.off + r as i64 * srs, dst.off + r as i64 * drs);
                self.copy_long_row(src, dst, s, d, cols, scs, dcs)?;
            }
            return Ok(());
        }
        self.for_loop(0, rows as i64, 1, vec![], |l, r, _| {
            let s = l.advance(src, r, srs)?;
            let d = l.advance(dst, r, drs)?;
            l.copy_long_row(&s, &d, s.off, d.off, cols, scs, dcs)?;
            Ok(vec![])
        })?;
        Ok(())
    }

    /// One row of [`Lowerer::copy`], looping over chunks when it is long.
    #[allow(clippy::too_many_arguments)]
    fn copy_long_row(
        &mut self,
        src: &Tv,
        dst: &Tv,
        so: i64,
        d0: i64,
        cols: usize,
        scs: i64,
        dcs: i64,
    ) -> Result<(), CodegenError> {
        const CHUNK: usize = 16;
        if cols <= 64 {
            return self.copy_row(src, dst, so, d0, cols, scs, dcs);
        }
        let chunks = cols / CHUNK;
        self.for_loop(0, chunks as i64, 1, vec![], |l, c, _| {
            let s = l.advance(src, c, CHUNK as i64 * scs)?;
            let d = l.advance(dst, c, CHUNK as i64 * dcs)?;
            l.copy_row(&s, &d, so, d0, CHUNK, scs, dcs)?;
            Ok(vec![])
        })?;
        let done = (chunks * CHUNK) as i64;
        self.copy_row(src, dst, so + done * scs, d0 + done * dcs, cols - chunks * CHUNK, scs, dcs)
    }

    #[allow(clippy::too_many_arguments)]
    fn copy_row(
        &mut self,
        src: &Tv,
        dst: &Tv,
        so: i64,
        d0: i64,
        cols: usize,
        scs: i64,
        dcs: i64,
    ) -> Result<(), CodegenError> {
        let mut c = 0usize;
        let vector = matches!(src.src, Src::Ptr(_)) && scs == 1 && dcs == 1;
        while c < cols {
            if vector && c + 1 < cols {
                let v = self.pair(src, so + c as i64, 1);
                self.store_pair(dst, d0 + c as i64, 1, v)?;
                c += 2;
            } else {
                let v = self.elem(src, so + c as i64 * scs);
                self.store(dst, d0 + c as i64 * dcs, v)?;
                c += 1;
            }
        }
        Ok(())
    }
}
