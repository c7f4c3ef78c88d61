//! Compiled kernels bound to parameters: the one adapter from the kernel
//! ABI ([`crate::abi`]) to the traits the solvers drive.
//!
//! Owns [`Kernel`] (a kernel's two entry points and buffer sizes, as raw
//! function pointers), the one checked call of a kernel ([`Kernel::call`],
//! [`Kernel::call_vjp`]), and [`KernelField`]: an ODE model's `rhs`, `vjp`,
//! `jac` and `dfdt` kernels with bound parameters, which is a
//! [`VectorField`], a [`DiffField`] and a [`JacField`]. The compiler's
//! `ModelField` (JIT kernels) and the shared libraries of `nde build`
//! (ahead-of-time kernels, crate `nde-embed`) both solve through it.
//!
//! Never: allocate in a call, or call a kernel with buffers shorter than its
//! metadata says (every call checks and panics on a violated length, which
//! is a caller's bug, never a user error).

use crate::abi::{BatchKernelFn, KernelFn};
use crate::stiff::JacField;
use crate::term::{DiffField, VectorField};

/// A compiled kernel's entry points and the buffer sizes they need.
#[derive(Clone, Copy, Debug)]
pub struct Kernel {
    pub single: KernelFn,
    pub batch: BatchKernelFn,
    /// Elements of `y` (per trajectory).
    pub n_state: usize,
    /// Elements of `p`.
    pub n_param: usize,
    /// Elements of `out` (per trajectory).
    pub out_len: usize,
    /// Elements of `scratch` the single kernel needs.
    pub scratch_len: usize,
    /// Elements of `scratch` the batched kernel needs, whatever the batch size.
    pub batch_scratch_len: usize,
}

impl Kernel {
    /// `out = kernel(t, input, params)` through the single entry point.
    ///
    /// # Panics
    /// When a buffer is shorter than the kernel's metadata says.
    ///
    /// # Safety
    /// `self.single` must point to live code of the kernel ABI whose
    /// metadata is `self`.
    pub unsafe fn call(&self, params: &[f64], t: f64, input: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        assert!(input.len() >= self.n_state && out.len() >= self.out_len, "kernel buffer lengths");
        assert!(params.len() >= self.n_param && scratch.len() >= self.scratch_len, "kernel parameter/scratch lengths");
        // SAFETY: the buffers are at least as long as the metadata says
        // (checked above); the code is live (the caller's contract); kernels
        // neither allocate nor keep pointers.
        unsafe { (self.single)(t, input.as_ptr(), params.as_ptr(), out.as_mut_ptr(), scratch.as_mut_ptr()) }
    }

    /// Scratch for [`Kernel::call_vjp`]: the packed input `[y; a]`, the
    /// kernel's output `[gy; gp]`, then the kernel's own scratch.
    pub fn vjp_scratch_len(&self) -> usize {
        self.n_state + self.out_len + self.scratch_len
    }

    /// Calls a VJP kernel that reads the direction `a` appended to the state
    /// `y`: `gy` gets the first `y.len()` outputs, `gp` the rest (both
    /// overwritten). `scratch` has [`Kernel::vjp_scratch_len`] elements.
    ///
    /// # Safety
    /// As for [`Kernel::call`].
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn call_vjp(
        &self,
        params: &[f64],
        t: f64,
        y: &[f64],
        a: &[f64],
        gy: &mut [f64],
        gp: &mut [f64],
        scratch: &mut [f64],
    ) {
        let n = y.len();
        let (input, rest) = scratch.split_at_mut(self.n_state);
        let (out, kernel_scratch) = rest.split_at_mut(self.out_len);
        input[..n].copy_from_slice(y);
        input[n..].copy_from_slice(a);
        // SAFETY: forwarded contract.
        unsafe { self.call(params, t, input, out, kernel_scratch) };
        gy.copy_from_slice(&out[..n]);
        gp.copy_from_slice(&out[n..]);
    }
}

/// An ODE model's kernels: the right-hand side and the derivatives the
/// adjoints and the stiff solvers need (calling conventions in
/// ARCHITECTURE.md, "Kernel ABI").
#[derive(Clone, Copy, Debug)]
pub struct OdeKernels {
    /// `(t, y, p) -> f`.
    pub rhs: Kernel,
    /// `(t, [y; a], p) -> [aᵀ∂f/∂y; aᵀ∂f/∂p]`.
    pub vjp: Kernel,
    /// `(t, y, p) -> ∂f/∂y`, `n × n` row-major.
    pub jac: Kernel,
    /// `(t, y, p) -> ∂f/∂t`.
    pub dfdt: Kernel,
}

/// [`OdeKernels`] with their parameters bound.
#[derive(Clone, Copy, Debug)]
pub struct KernelField<'a> {
    kernels: OdeKernels,
    params: &'a [f64],
}

impl<'a> KernelField<'a> {
    /// Binds `params` (length `kernels.rhs.n_param`) to `kernels`.
    ///
    /// # Panics
    /// When `params` has the wrong length.
    ///
    /// # Safety
    /// Every kernel's function pointers must point to live code of the
    /// kernel ABI, matching its metadata, for as long as the field is used.
    pub unsafe fn new(kernels: OdeKernels, params: &'a [f64]) -> Self {
        assert_eq!(params.len(), kernels.rhs.n_param, "parameter vector length");
        KernelField { kernels, params }
    }

    /// The bound parameters.
    pub fn params(&self) -> &'a [f64] {
        self.params
    }
}

impl VectorField for KernelField<'_> {
    fn dim(&self) -> usize {
        self.kernels.rhs.n_state
    }
    fn scratch_len(&self) -> usize {
        self.kernels.rhs.scratch_len
    }
    fn eval(&self, t: f64, y: &[f64], dy: &mut [f64], scratch: &mut [f64]) {
        // SAFETY: `new`'s contract.
        unsafe { self.kernels.rhs.call(self.params, t, y, dy, scratch) }
    }
}

impl DiffField for KernelField<'_> {
    fn n_params(&self) -> usize {
        self.params.len()
    }
    fn vjp_scratch_len(&self) -> usize {
        self.kernels.vjp.vjp_scratch_len()
    }
    fn vjp(&self, t: f64, y: &[f64], a: &[f64], gy: &mut [f64], gp: &mut [f64], scratch: &mut [f64]) {
        // SAFETY: `new`'s contract.
        unsafe { self.kernels.vjp.call_vjp(self.params, t, y, a, gy, gp, scratch) }
    }
}

impl JacField for KernelField<'_> {
    fn jac_scratch_len(&self) -> usize {
        self.kernels.jac.scratch_len.max(self.kernels.dfdt.scratch_len)
    }
    fn jacobian(&self, t: f64, y: &[f64], jac: &mut [f64], scratch: &mut [f64]) {
        // SAFETY: `new`'s contract.
        unsafe { self.kernels.jac.call(self.params, t, y, jac, scratch) }
    }
    fn time_derivative(&self, t: f64, y: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        // SAFETY: `new`'s contract.
        unsafe { self.kernels.dfdt.call(self.params, t, y, out, scratch) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `out = p[0] * y` (and its derivatives), written by hand in the ABI.
    unsafe extern "C" fn scale(t: f64, y: *const f64, p: *const f64, out: *mut f64, _s: *mut f64) {
        let _ = t;
        // SAFETY: one state, one parameter, one output (the metadata below).
        unsafe { *out = *p * *y }
    }
    unsafe extern "C" fn scale_vjp(_t: f64, y: *const f64, p: *const f64, out: *mut f64, _s: *mut f64) {
        // SAFETY: input [y; a], output [a p; a y].
        unsafe {
            let (y, a) = (*y, *y.add(1));
            *out = a * *p;
            *out.add(1) = a * y;
        }
    }
    unsafe extern "C" fn scale_jac(_t: f64, _y: *const f64, p: *const f64, out: *mut f64, _s: *mut f64) {
        // SAFETY: one output.
        unsafe { *out = *p }
    }
    unsafe extern "C" fn zero(_t: f64, _y: *const f64, _p: *const f64, out: *mut f64, _s: *mut f64) {
        // SAFETY: one output.
        unsafe { *out = 0.0 }
    }
    unsafe extern "C" fn no_batch(
        _n: usize,
        _t: *const f64,
        _y: *const f64,
        _p: *const f64,
        _o: *mut f64,
        _s: *mut f64,
    ) {
    }

    fn kernel(single: KernelFn, n_state: usize, out_len: usize) -> Kernel {
        Kernel { single, batch: no_batch, n_state, n_param: 1, out_len, scratch_len: 0, batch_scratch_len: 0 }
    }

    #[test]
    fn a_kernel_field_drives_every_trait_through_its_kernels() {
        let kernels = OdeKernels {
            rhs: kernel(scale, 1, 1),
            vjp: kernel(scale_vjp, 2, 2),
            jac: kernel(scale_jac, 1, 1),
            dfdt: kernel(zero, 1, 1),
        };
        let p = [-2.0];
        // SAFETY: the kernels above are live for the whole test.
        let field = unsafe { KernelField::new(kernels, &p) };
        let mut out = [0.0];
        field.eval(0.0, &[3.0], &mut out, &mut []);
        assert_eq!(out, [-6.0]);
        let (mut gy, mut gp) = ([0.0], [0.0]);
        let mut scratch = vec![0.0; field.vjp_scratch_len()];
        field.vjp(0.0, &[3.0], &[0.5], &mut gy, &mut gp, &mut scratch);
        assert_eq!((gy, gp), ([-1.0], [1.5]));
        field.jacobian(0.0, &[3.0], &mut out, &mut []);
        assert_eq!(out, [-2.0]);
        let sol = crate::solve(&field, 0.0, &[1.0], &[1.0], &crate::SolveOptions::default()).unwrap();
        assert!((sol.y[0] - (-2.0f64).exp()).abs() < 1e-6);
    }
}
