//! The kernel ABI: the `extern "C"` signatures of compiled kernels.
//!
//! Every kernel is one fused native function over flat, row-major `f64`
//! buffers. It never allocates: intermediates live in registers, on its own
//! stack frame, or in the `scratch` buffer the caller supplies (its length is
//! part of the kernel's metadata). Buffers never alias, except that `scratch`
//! may be null when the metadata says it needs none.

/// One trajectory: `out = f(t, y, p)`.
///
/// `y` has `n_state` elements, `p` has `n_param`, `out` has the kernel's
/// output length, `scratch` the kernel's `scratch_len`.
pub type KernelFn = unsafe extern "C" fn(t: f64, y: *const f64, p: *const f64, out: *mut f64, scratch: *mut f64);

/// A batch of `n` trajectories sharing the parameters:
/// `out[b] = f(t[b], y[b], p)` for `b in 0..n`, where `y[b]` is the row
/// `y[b * n_state .. (b + 1) * n_state]` and `out[b]` likewise with the
/// output length. `scratch` has the kernel's `batch_scratch_len` elements
/// whatever `n` is (the kernel tiles the batch).
pub type BatchKernelFn =
    unsafe extern "C" fn(n: usize, t: *const f64, y: *const f64, p: *const f64, out: *mut f64, scratch: *mut f64);
