//! Cranelift code generation: IR functions to native kernels.
//!
//! Owns the translation of verified [`Function`]s into machine code behind
//! the kernel ABI of [`nde_runtime::abi`]: for each function a
//! single-trajectory kernel ([`KernelFn`]) and a batched kernel
//! ([`BatchKernelFn`]) that processes tiles of trajectories sharing the
//! parameters (parameter-only subexpressions are computed once per call,
//! and each load of a weight matrix serves every trajectory of the tile).
//!
//! Layout: `plan` decides storage (registers, views, fused loops, frame),
//! `emit` builds kernel bodies, `elementwise`, `matmul` and `outer` lower
//! the ops, `math` emits inline transcendental approximations, `routines`
//! hands large products, outer products and `tanh` loops to the runtime's
//! SIMD routines (same bits, 256-bit vectors), `module` declares and
//! defines kernels in any [`cranelift_module::Module`], and `jit` is the
//! in-process instantiation ([`JitModule`]).
//!
//! Never: allocate or call libm inside a kernel's common path (libm is
//! called only for `pow` and for trigonometric arguments beyond 2³⁰; the
//! only other calls are to `nde_runtime::linalg`), leak
//! cranelift's error types through the public API, or panic on a malformed
//! function (it is verified first and reported as [`CodegenError`]).

mod elementwise;
mod emit;
mod jit;
mod math;
mod matmul;
mod module;
mod object;
mod outer;
mod plan;
mod routines;
#[cfg(test)]
mod tests;
pub mod wgsl;

pub use jit::JitModule;
pub use object::{ObjectKernel, ObjectModule};

use crate::ir::verify::VerifyError;
use crate::ir::Function;
use nde_runtime::abi::{BatchKernelFn, KernelFn};
use std::fmt;

/// The most elements one kernel buffer (state, parameters, output, frame or
/// constant) may have: offsets are encoded as 32-bit byte displacements.
pub const MAX_ELEMENTS: usize = (i32::MAX / 8) as usize;

/// Cranelift's optimisation level.
///
/// The default is `None`: kernels arrive already fused, shared and
/// scheduled (loads interleaved with the FMAs that use them), and
/// cranelift's e-graph pass (`Speed`) re-elaborates pure values at their
/// last use, which hoists every read-only load of a matrix–vector product
/// ahead of the arithmetic and spills them: the benchmark MLP runs about
/// 3× slower at `Speed` (measured with `examples/kernel_bench.rs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OptLevel {
    #[default]
    None,
    Speed,
    SpeedAndSize,
}

impl OptLevel {
    fn setting(self) -> &'static str {
        match self {
            OptLevel::None => "none",
            OptLevel::Speed => "speed",
            OptLevel::SpeedAndSize => "speed_and_size",
        }
    }
}

/// Code generation options.
#[derive(Clone, Debug)]
pub struct JitOptions {
    pub opt_level: OptLevel,
    /// Trajectories per tile in batched kernels (at least 1). Each tile's
    /// products with a shared matrix are one call of the runtime's group
    /// routine; 8 measured about 10% faster than 4 on the benchmark MLP
    /// (the routine's register tiles are three members wide), and 16 only
    /// slightly faster than 8 for twice the code.
    pub batch_tile: usize,
    /// Intermediates up to this many bytes live on the kernel's stack;
    /// larger frames use the caller's scratch buffer.
    pub max_stack_bytes: usize,
    /// Run cranelift's IR verifier on every function (slower compiles).
    pub verify_clif: bool,
    /// Let kernels call the runtime's 256-bit routines
    /// ([`nde_runtime::linalg`]) for large matrix–vector products and `tanh`
    /// over long vectors, on hosts with AVX2 and FMA (elsewhere everything
    /// is inline). The routines give the same bits as the inline code.
    pub simd_routines: bool,
}

impl Default for JitOptions {
    fn default() -> Self {
        JitOptions {
            opt_level: OptLevel::default(),
            batch_tile: 8,
            max_stack_bytes: 64 * 1024,
            verify_clif: cfg!(debug_assertions),
            simd_routines: true,
        }
    }
}

/// One compiled function: its two entry points and their buffer sizes.
///
/// The function pointers are valid only while the [`JitModule`] that made
/// them lives.
#[derive(Clone, Debug)]
pub struct CompiledKernel {
    pub name: String,
    pub single: KernelFn,
    pub batch: BatchKernelFn,
    /// Elements of `y` (per trajectory).
    pub n_state: usize,
    /// Elements of `p`.
    pub n_param: usize,
    /// Elements of `out` (per trajectory).
    pub out_len: usize,
    /// Elements of `scratch` the single kernel needs (0: pass null).
    pub scratch_len: usize,
    /// Elements of `scratch` the batched kernel needs, whatever the batch size.
    pub batch_scratch_len: usize,
}

impl CompiledKernel {
    /// The entry points and sizes as the runtime's kernel adapter takes
    /// them ([`nde_runtime::kernel::Kernel`]); valid while the module lives.
    pub fn raw(&self) -> nde_runtime::kernel::Kernel {
        nde_runtime::kernel::Kernel {
            single: self.single,
            batch: self.batch,
            n_state: self.n_state,
            n_param: self.n_param,
            out_len: self.out_len,
            scratch_len: self.scratch_len,
            batch_scratch_len: self.batch_scratch_len,
        }
    }
}

/// Why code generation failed.
#[derive(Clone, Debug, PartialEq)]
pub enum CodegenError {
    /// The IR function is malformed.
    Verify(VerifyError),
    /// Two functions in one module have the same name.
    DuplicateKernel(String),
    /// A kernel that was asked for does not exist.
    MissingKernel(String),
    /// Cranelift does not support this machine.
    UnsupportedHost(String),
    /// Cranelift rejected a setting, a function or the module.
    Cranelift { context: String, message: String },
    /// A buffer or constant is too large for 32-bit address offsets.
    TooLarge { function: String, elements: usize },
    /// A kernel was called with buffers of the wrong length.
    BufferLen { buffer: &'static str, expected: usize, found: usize },
    /// An invariant of the code generator failed (a bug).
    Internal(String),
}

impl CodegenError {
    /// The kernel `name` is not in the module.
    pub fn missing(name: &str) -> CodegenError {
        CodegenError::MissingKernel(name.to_string())
    }

    pub(crate) fn internal(message: String) -> CodegenError {
        CodegenError::Internal(message)
    }

    pub(crate) fn cranelift(context: impl Into<String>, err: impl fmt::Debug) -> CodegenError {
        CodegenError::Cranelift { context: context.into(), message: format!("{err:?}") }
    }
}

impl fmt::Display for CodegenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodegenError::Verify(e) => e.fmt(f),
            CodegenError::DuplicateKernel(n) => write!(f, "two kernels are named `{n}`"),
            CodegenError::MissingKernel(n) => write!(f, "no kernel named `{n}`"),
            CodegenError::UnsupportedHost(m) => write!(f, "this machine is not supported by the code generator: {m}"),
            CodegenError::Cranelift { context, message } => {
                write!(f, "code generation failed ({context}): {message}")
            }
            CodegenError::TooLarge { function, elements } => {
                write!(f, "`{function}` addresses {elements} elements in one buffer; the limit is {}", MAX_ELEMENTS)
            }
            CodegenError::BufferLen { buffer, expected, found } => {
                write!(f, "buffer `{buffer}` has {found} elements, the kernel needs {expected}")
            }
            CodegenError::Internal(m) => write!(f, "internal code generator error: {m}"),
        }
    }
}

impl std::error::Error for CodegenError {}

/// The cranelift IR of `f`'s single and batched kernels, as text
/// (`nde emit clif`), before cranelift's own optimisations.
pub fn emit_clif(f: &Function, opts: &JitOptions) -> Result<String, CodegenError> {
    jit::emit_clif(f, opts)
}
