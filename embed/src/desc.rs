//! The model descriptor: the static data `nde build` writes in C for each
//! library, read here through raw pointers.
//!
//! Owns the `#[repr(C)]` layout (mirrored by the `nde_embed_model` struct in
//! the generated C source; any change bumps [`ABI_VERSION`]) and safe views
//! of its arrays. Never: write to a descriptor (it is read-only data shared
//! by every handle and thread).

use std::ffi::{c_char, CStr};

use nde_runtime::abi::{BatchKernelFn, KernelFn};
use nde_runtime::kernel::{Kernel, OdeKernels};

/// The version of the descriptor layout and of the C API; a library's
/// header defines it as `NAME_ABI_VERSION`.
pub const ABI_VERSION: u32 = 1;

/// One compiled kernel: entry points and buffer sizes (`nde_runtime::kernel::Kernel`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct KernelDesc {
    pub single: Option<KernelFn>,
    pub batch: Option<BatchKernelFn>,
    pub n_state: usize,
    pub n_param: usize,
    pub out_len: usize,
    pub scratch_len: usize,
    pub batch_scratch_len: usize,
}

impl KernelDesc {
    /// The runtime's view, when both entry points are there.
    pub fn kernel(&self) -> Option<Kernel> {
        Some(Kernel {
            single: self.single?,
            batch: self.batch?,
            n_state: self.n_state,
            n_param: self.n_param,
            out_len: self.out_len,
            scratch_len: self.scratch_len,
            batch_scratch_len: self.batch_scratch_len,
        })
    }
}

/// A loss declared in the model's file and exported with its data: one
/// explicit solve per trajectory from its initial state, saved at `times`,
/// the loss kernel over each trajectory's input buffer (the compiler's
/// `LossLayout`: `sol.y` first, then the bundled data), the mean over the
/// trajectories; its gradient through the runtime's adjoint with the loss
/// VJP as cotangent (`loss.rs`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct LossDesc {
    pub name: *const c_char,
    /// `(0, input, p) -> [loss]`.
    pub kernel: KernelDesc,
    /// `(0, [input; w], p) -> [w ∂loss/∂input; w ∂loss/∂p]`.
    pub vjp: KernelDesc,
    /// `(t0, a, p) -> [aᵀ∂y0/∂p]` (`init`'s VJP, the last `n_param`
    /// outputs) when the initial states are the model's and read the
    /// parameters (computed with the model's `init` kernel); null entry
    /// points otherwise (the initial states are `y0s`).
    pub init_vjp: KernelDesc,
    /// The solve's explicit method and options (`dt` 0: none).
    pub method: *const c_char,
    pub rtol: f64,
    pub atol: f64,
    pub dt: f64,
    pub max_steps: usize,
    /// `0`: discrete adjoint, `1`: backsolve, `2`: interpolated.
    pub adjoint: u32,
    /// The discrete adjoint's bound on stored checkpoints (0: none).
    pub checkpoints: usize,
    /// Start time of every solve.
    pub t0: f64,
    pub n_traj: usize,
    pub n_times: usize,
    /// `n_times` save times.
    pub times: *const f64,
    /// `n_traj × n_state` initial states (null with `init_vjp`).
    pub y0s: *const f64,
    /// Elements of one trajectory's input buffer.
    pub input_len: usize,
    /// Where `sol.nfe` and `sol.steps` go in an input buffer.
    pub nfe_at: usize,
    pub steps_at: usize,
    /// `n_traj × input_len` input buffers with the data filled in (and
    /// `sol.y` and the statistics left zero).
    pub inputs: *const f64,
}

/// A compiled model, as `nde build` lays it out in the library.
#[repr(C)]
#[derive(Debug)]
pub struct ModelDesc {
    /// [`ABI_VERSION`] of the `nde build` that wrote it.
    pub abi_version: u32,
    pub name: *const c_char,
    pub n_state: usize,
    pub n_param: usize,
    /// `n_state` column names (`x`, `y[0]`, ...).
    pub state_names: *const *const c_char,
    /// Parameter tensors: names, offsets and lengths in the flat vector.
    pub n_param_arrays: usize,
    pub param_names: *const *const c_char,
    pub param_offsets: *const usize,
    pub param_lens: *const usize,
    /// `n_param` values (the file's initialisers, or `--params`).
    pub default_params: *const f64,
    /// The solver a null method stands for (the file's only solver
    /// declaration, else tsit5) and its options (0: the method's default).
    pub default_method: *const c_char,
    pub default_rtol: f64,
    pub default_atol: f64,
    pub default_dt: f64,
    pub default_max_steps: usize,
    pub rhs: KernelDesc,
    pub vjp: KernelDesc,
    pub jac: KernelDesc,
    pub dfdt: KernelDesc,
    /// `(t, [], p) -> y0`.
    pub init: KernelDesc,
    pub n_losses: usize,
    pub losses: *const LossDesc,
}

impl ModelDesc {
    /// The right-hand side and its derivatives, when every kernel is there.
    pub fn ode_kernels(&self) -> Option<OdeKernels> {
        Some(OdeKernels {
            rhs: self.rhs.kernel()?,
            vjp: self.vjp.kernel()?,
            jac: self.jac.kernel()?,
            dfdt: self.dfdt.kernel()?,
        })
    }

    /// The default parameters.
    ///
    /// # Safety
    /// The descriptor is one `nde build` wrote (its arrays have the lengths it says).
    pub unsafe fn default_params(&self) -> &[f64] {
        // SAFETY: forwarded contract.
        unsafe { slice(self.default_params, self.n_param) }
    }

    /// The losses.
    ///
    /// # Safety
    /// As for [`ModelDesc::default_params`].
    pub unsafe fn losses(&self) -> &[LossDesc] {
        // SAFETY: forwarded contract.
        unsafe { slice(self.losses, self.n_losses) }
    }
}

/// `len` elements at `ptr` (an empty slice for a null pointer or zero length).
///
/// # Safety
/// A non-null `ptr` points to `len` initialised elements that outlive `'a`.
pub unsafe fn slice<'a, T>(ptr: *const T, len: usize) -> &'a [T] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: forwarded contract.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

/// A C string (`""` for null or invalid UTF-8).
///
/// # Safety
/// A non-null `ptr` is a NUL-terminated string that outlives `'a`.
pub unsafe fn text<'a>(ptr: *const c_char) -> &'a str {
    if ptr.is_null() {
        ""
    } else {
        // SAFETY: forwarded contract.
        unsafe { CStr::from_ptr(ptr) }.to_str().unwrap_or("")
    }
}
