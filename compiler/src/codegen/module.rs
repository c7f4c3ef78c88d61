//! Declaring and defining kernels in any `cranelift_module::Module`.
//!
//! Owns everything about a kernel that is the same for the JIT and for
//! object files: symbol names (`NAME` and `NAME_batch`), signatures (the
//! `extern "C"` ABI of [`nde_runtime::abi`]), read-only data objects for
//! large constants, libm and runtime-routine imports, the frame's home (stack slot or scratch),
//! and the buffer sizes reported to callers.
//!
//! Never: finalize the module or look up addresses (that is the backend's
//! business, see `jit.rs`).

use super::emit::{Imports, Lowerer};
use super::math::Libm;
use super::plan::{Base, Plan, Repr};
use super::routines::{self, RoutineDecls};
use super::{CodegenError, JitOptions, MAX_ELEMENTS};
use crate::ir::verify::verify;
use crate::ir::{BinaryOp, Function, Op, UnaryOp, ValueId};
use cranelift_codegen::ir::{types, AbiParam, Signature, StackSlotData, StackSlotKind, UserFuncName};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_module::{DataDescription, DataId, FuncId, Linkage, Module};
use std::collections::{HashMap, HashSet};
use std::fmt::Write;

/// A kernel declared (and, unless only printing, defined) in a module.
pub(super) struct DeclaredKernel {
    pub name: String,
    pub single: FuncId,
    pub batch: FuncId,
    pub n_state: usize,
    pub n_param: usize,
    pub out_len: usize,
    pub scratch_len: usize,
    pub batch_scratch_len: usize,
}

/// The two entry points' signatures.
fn signatures<M: Module>(module: &M) -> (Signature, Signature) {
    let ptr = module.target_config().pointer_type();
    let mut single = module.make_signature();
    single.params.push(AbiParam::new(types::F64));
    for _ in 0..4 {
        single.params.push(AbiParam::new(ptr));
    }
    let mut batch = module.make_signature();
    batch.params.push(AbiParam::new(ptr));
    for _ in 0..5 {
        batch.params.push(AbiParam::new(ptr));
    }
    (single, batch)
}

/// Which libm functions `f` calls.
fn libm_needed(f: &Function) -> [bool; 4] {
    let mut need = [false; 4];
    for node in &f.nodes {
        match node.op {
            Op::Unary(UnaryOp::Sin, _) => need[0] = true,
            Op::Unary(UnaryOp::Cos, _) => need[1] = true,
            Op::Unary(UnaryOp::Tan, _) => need[2] = true,
            Op::Binary(BinaryOp::Pow, _, _) => need[3] = true,
            _ => {}
        }
    }
    need
}

/// Declares, builds and (when `define`) defines the kernels of `funcs`;
/// appends their cranelift IR to `clif` when given.
pub(super) fn define_kernels<M: Module>(
    module: &mut M,
    funcs: &[&Function],
    opts: &JitOptions,
    mut clif: Option<&mut String>,
    define: bool,
) -> Result<Vec<DeclaredKernel>, CodegenError> {
    let mut names = HashSet::new();
    for f in funcs {
        verify(f).map_err(CodegenError::Verify)?;
        if !names.insert(f.name.clone()) || !names.insert(format!("{}_batch", f.name)) {
            return Err(CodegenError::DuplicateKernel(f.name.clone()));
        }
    }
    let (sig_single, sig_batch) = signatures(module);
    let mut libm_sig = module.make_signature();
    libm_sig.params.push(AbiParam::new(types::F64));
    libm_sig.returns.push(AbiParam::new(types::F64));
    let mut pow_sig = libm_sig.clone();
    pow_sig.params.push(AbiParam::new(types::F64));
    let mut libm_ids: [Option<FuncId>; 4] = [None; 4];
    let routine_decls = if routines::enabled(opts) { Some(RoutineDecls::declare(module)?) } else { None };
    let mut ctx = module.make_context();
    let mut fctx = FunctionBuilderContext::new();
    let mut out = Vec::with_capacity(funcs.len());
    for f in funcs {
        let need = libm_needed(f);
        for (i, (name, _)) in super::math::libm_symbols().iter().enumerate() {
            if need[i] && libm_ids[i].is_none() {
                let sig = if i == 3 { &pow_sig } else { &libm_sig };
                libm_ids[i] = Some(
                    module
                        .declare_function(name, Linkage::Import, sig)
                        .map_err(|e| CodegenError::cranelift(*name, e))?,
                );
            }
        }
        let frame = Plan::new(f, opts.batch_tile.max(1)).frame_len;
        let consts = f.nodes.iter().map(|n| if let Op::Const(v) = &n.op { v.len() } else { 0 });
        let biggest = [f.n_state, f.n_param, f.output_len(), frame].into_iter().chain(consts).max().unwrap_or(0);
        if biggest > MAX_ELEMENTS {
            return Err(CodegenError::TooLarge { function: f.name.clone(), elements: biggest });
        }
        let single_id = module
            .declare_function(&f.name, Linkage::Export, &sig_single)
            .map_err(|e| CodegenError::cranelift(f.name.clone(), e))?;
        let batch_name = format!("{}_batch", f.name);
        let batch_id = module
            .declare_function(&batch_name, Linkage::Export, &sig_batch)
            .map_err(|e| CodegenError::cranelift(batch_name.clone(), e))?;
        let data = define_constants(module, f, define)?;
        let mut lens = [0usize; 2];
        for (mode, (id, sig)) in [(single_id, &sig_single), (batch_id, &sig_batch)].into_iter().enumerate() {
            let tile = if mode == 0 { 1 } else { opts.batch_tile.max(1) };
            let plan = Plan::new(f, tile);
            ctx.func.signature = sig.clone();
            ctx.func.name = UserFuncName::user(0, id.as_u32());
            let on_stack = plan.frame_len * 8 <= opts.max_stack_bytes;
            // The kernel aligns its frame to 32 bytes (see `Lowerer::setup`):
            // up to 16 bytes past a stack slot, 24 past a scratch buffer.
            let stack = (on_stack && plan.frame_len > 0).then(|| {
                let size = (plan.frame_len * 8 + 16) as u32;
                ctx.func.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, size, 4))
            });
            lens[mode] = if on_stack || plan.frame_len == 0 { 0 } else { plan.frame_len + 3 };
            let mut libm = Libm::default();
            let refs: Vec<_> =
                libm_ids.iter().map(|id| id.map(|id| module.declare_func_in_func(id, &mut ctx.func))).collect();
            let need = libm_needed(f);
            let pick = |i: usize| if need[i] { refs[i] } else { None };
            (libm.sin, libm.cos, libm.tan, libm.pow) = (pick(0), pick(1), pick(2), pick(3));
            let mut gvs = Vec::new();
            for (i, np) in plan.nodes.iter().enumerate() {
                if let Repr::Mem(l) = np.repr {
                    if let Base::Data(cid) = l.base {
                        if cid.index() == i {
                            let did = data
                                .get(&cid)
                                .ok_or_else(|| CodegenError::internal(format!("no data for %{}", cid.0)))?;
                            gvs.push((cid, module.declare_data_in_func(*did, &mut ctx.func)));
                        }
                    }
                }
            }
            let routines = routine_decls.and_then(|d| d.import(module, f, &mut ctx.func));
            let imports = Imports { libm, data: gvs, stack, frontend: module.target_config(), routines };
            let builder = FunctionBuilder::new(&mut ctx.func, &mut fctx);
            if mode == 0 {
                Lowerer::build_single(builder, f, &plan, &imports)?;
            } else {
                Lowerer::build_batch(builder, f, &plan, &imports)?;
            }
            if let Some(text) = clif.as_deref_mut() {
                let _ = write!(text, "{}", ctx.func.display());
            }
            if define {
                let name = if mode == 0 { f.name.clone() } else { batch_name.clone() };
                module.define_function(id, &mut ctx).map_err(|e| CodegenError::cranelift(name, e))?;
            }
            module.clear_context(&mut ctx);
        }
        out.push(DeclaredKernel {
            name: f.name.clone(),
            single: single_id,
            batch: batch_id,
            n_state: f.n_state,
            n_param: f.n_param,
            out_len: f.output_len(),
            scratch_len: lens[0],
            batch_scratch_len: lens[1],
        });
    }
    Ok(out)
}

/// One read-only data object per large constant node the kernels read.
fn define_constants<M: Module>(
    module: &mut M,
    f: &Function,
    define: bool,
) -> Result<HashMap<ValueId, DataId>, CodegenError> {
    let plan = Plan::new(f, 1);
    let mut data = HashMap::new();
    for (i, node) in f.nodes.iter().enumerate() {
        let (Op::Const(values), Repr::Mem(_)) = (&node.op, plan.nodes[i].repr) else {
            continue;
        };
        let id =
            module.declare_anonymous_data(false, false).map_err(|e| CodegenError::cranelift("constant data", e))?;
        if define {
            let mut desc = DataDescription::new();
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            desc.define(bytes.into_boxed_slice());
            desc.set_align(16);
            module.define_data(id, &desc).map_err(|e| CodegenError::cranelift("constant data", e))?;
        }
        data.insert(ValueId(i as u32), id);
    }
    Ok(data)
}
