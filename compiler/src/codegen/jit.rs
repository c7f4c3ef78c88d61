//! The in-process backend: kernels compiled with `cranelift-jit`.
//!
//! Owns the host ISA set-up (features detected by `cranelift-native`), the
//! JIT module's lifetime (its code is freed when [`JitModule`] drops), the
//! table of [`CompiledKernel`]s, and checked calls for tests and tools.
//!
//! Never: hand out kernels that outlive their module through safe code
//! (the function pointers in [`CompiledKernel`] are only valid while the
//! [`JitModule`] lives; callers keep both together).

use super::math::libm_symbols;
use super::module::define_kernels;
use super::{CodegenError, CompiledKernel, JitOptions};
use crate::ir::Function;
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::default_libcall_names;
use nde_runtime::abi::{BatchKernelFn, KernelFn};

/// Compiled kernels and the executable memory they live in.
pub struct JitModule {
    module: Option<JITModule>,
    kernels: Vec<CompiledKernel>,
}

// SAFETY: after `compile` the module is never mutated again (only dropped);
// the kernels are immutable machine code that may run on any thread.
unsafe impl Send for JitModule {}
unsafe impl Sync for JitModule {}

/// The host's ISA with the settings every backend shares; `pic` asks for
/// position-independent code (object files for shared libraries), the only
/// setting in which the JIT's and an object file's code differ.
pub(super) fn host_isa(opts: &JitOptions, pic: bool) -> Result<OwnedTargetIsa, CodegenError> {
    let mut flags = settings::builder();
    let set = |flags: &mut settings::Builder, k: &str, v: &str| {
        flags.set(k, v).map_err(|e| CodegenError::cranelift(format!("setting {k}={v}"), e))
    };
    set(&mut flags, "opt_level", opts.opt_level.setting())?;
    set(&mut flags, "is_pic", if pic { "true" } else { "false" })?;
    set(&mut flags, "use_colocated_libcalls", "false")?;
    set(&mut flags, "enable_verifier", if opts.verify_clif { "true" } else { "false" })?;
    set(&mut flags, "enable_probestack", "true")?;
    set(&mut flags, "probestack_strategy", "inline")?;
    let isa = cranelift_native::builder().map_err(|m| CodegenError::UnsupportedHost(m.to_string()))?;
    isa.finish(settings::Flags::new(flags)).map_err(|e| CodegenError::cranelift("target ISA", e))
}

fn new_module(opts: &JitOptions) -> Result<JITModule, CodegenError> {
    let mut builder = JITBuilder::with_isa(host_isa(opts, false)?, default_libcall_names());
    for (name, ptr) in libm_symbols() {
        builder.symbol(name, ptr);
    }
    // The routines this host runs fastest (kernels import them only when
    // `routines::enabled`; the choice never changes results).
    for (name, ptr) in nde_runtime::linalg::Routines::host().symbols() {
        builder.symbol(name, ptr);
    }
    Ok(JITModule::new(builder))
}

pub(super) fn emit_clif(f: &Function, opts: &JitOptions) -> Result<String, CodegenError> {
    let mut module = new_module(opts)?;
    let mut text = String::new();
    // Nothing is defined, so the module owns no executable memory.
    define_kernels(&mut module, &[f], opts, Some(&mut text), false)?;
    Ok(text)
}

impl JitModule {
    /// Compiles every function into one module (names must be unique; each
    /// `f` gives kernels `f.name` and `f.name_batch`).
    pub fn compile(funcs: &[&Function], opts: &JitOptions) -> Result<JitModule, CodegenError> {
        let mut module = new_module(opts)?;
        let decls = match define_kernels(&mut module, funcs, opts, None, true)
            .and_then(|d| module.finalize_definitions().map(|_| d).map_err(|e| CodegenError::cranelift("linking", e)))
        {
            Ok(d) => d,
            Err(e) => {
                // SAFETY: no pointer into the module has been handed out.
                unsafe { module.free_memory() };
                return Err(e);
            }
        };
        let kernels = decls
            .into_iter()
            .map(|d| {
                let single = module.get_finalized_function(d.single);
                let batch = module.get_finalized_function(d.batch);
                // SAFETY: both functions were defined with exactly these
                // signatures (see `module::signatures`).
                let (single, batch) = unsafe {
                    (
                        std::mem::transmute::<*const u8, KernelFn>(single),
                        std::mem::transmute::<*const u8, BatchKernelFn>(batch),
                    )
                };
                CompiledKernel {
                    name: d.name,
                    single,
                    batch,
                    n_state: d.n_state,
                    n_param: d.n_param,
                    out_len: d.out_len,
                    scratch_len: d.scratch_len,
                    batch_scratch_len: d.batch_scratch_len,
                }
            })
            .collect();
        Ok(JitModule { module: Some(module), kernels })
    }

    pub fn kernel(&self, name: &str) -> Option<&CompiledKernel> {
        self.kernels.iter().find(|k| k.name == name)
    }

    pub fn kernels(&self) -> &[CompiledKernel] {
        &self.kernels
    }

    /// Runs the single kernel `name` with checked buffer lengths (scratch
    /// is allocated here when needed: for tests and tools, not hot loops).
    pub fn run(&self, name: &str, t: f64, y: &[f64], p: &[f64], out: &mut [f64]) -> Result<(), CodegenError> {
        let k = self.kernel(name).ok_or_else(|| CodegenError::missing(name))?;
        check("y", k.n_state, y.len())?;
        check("p", k.n_param, p.len())?;
        check("out", k.out_len, out.len())?;
        let mut scratch = vec![0.0; k.scratch_len];
        // SAFETY: lengths checked against the kernel's metadata; the module
        // (and so the code) lives as long as `self`.
        unsafe { (k.single)(t, y.as_ptr(), p.as_ptr(), out.as_mut_ptr(), scratch.as_mut_ptr()) };
        Ok(())
    }

    /// Runs the batched kernel `name` over `t.len()` trajectories.
    pub fn run_batch(&self, name: &str, t: &[f64], y: &[f64], p: &[f64], out: &mut [f64]) -> Result<(), CodegenError> {
        let k = self.kernel(name).ok_or_else(|| CodegenError::missing(name))?;
        let n = t.len();
        check("y", n * k.n_state, y.len())?;
        check("p", k.n_param, p.len())?;
        check("out", n * k.out_len, out.len())?;
        let mut scratch = vec![0.0; k.batch_scratch_len];
        // SAFETY: as in `run`.
        unsafe { (k.batch)(n, t.as_ptr(), y.as_ptr(), p.as_ptr(), out.as_mut_ptr(), scratch.as_mut_ptr()) };
        Ok(())
    }
}

fn check(buffer: &'static str, expected: usize, found: usize) -> Result<(), CodegenError> {
    if expected == found {
        Ok(())
    } else {
        Err(CodegenError::BufferLen { buffer, expected, found })
    }
}

impl Drop for JitModule {
    fn drop(&mut self) {
        if let Some(m) = self.module.take() {
            // SAFETY: the kernels' pointers are documented to die with `self`.
            unsafe { m.free_memory() };
        }
    }
}
