//! The entry points over a handle: creating and freeing it, parameters,
//! kernel calls, the initial state and error messages. Solves are in
//! `solve.rs`, loss gradients in `loss.rs`.
//!
//! Owns [`Handle`] (a descriptor and a copy of the parameters) and the
//! argument checks every entry point shares. Never: trust a pointer or a
//! length before checking it, or let a panic out (every body runs in
//! [`guard`]).

use std::cell::RefCell;
use std::ffi::{c_char, c_int};

use nde_runtime::kernel::Kernel;

use crate::desc::{slice, text, KernelDesc, ModelDesc, ABI_VERSION};
use crate::error::{self, guard, Code, Failure};

const MAGIC: u64 = 0x6e64_655f_6d6f_646c;

/// A model with its own copy of the parameters (`NAME_model *` in C).
///
/// Calls that only read a handle may run on several threads at once;
/// `set_params` and `free` must not overlap any other call on it.
///
/// Its first two fields are read by the generated C glue's fast path for
/// `NAME_rhs` (`struct nde_embed_handle_head`): keep them first, in this order.
#[repr(C)]
pub struct Handle {
    magic: u64,
    /// `params.as_ptr()` (the vector never reallocates).
    params_ptr: *const f64,
    pub(crate) desc: &'static ModelDesc,
    pub(crate) params: Vec<f64>,
}

/// The magic number at the start of a live handle (the C glue checks it too).
pub const HANDLE_MAGIC: u64 = MAGIC;

thread_local! {
    /// Kernel scratch for calls on this thread (most kernels need none).
    static SCRATCH: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with a scratch buffer of at least `len` elements.
pub(crate) fn with_scratch<T>(len: usize, f: impl FnOnce(&mut [f64]) -> T) -> T {
    if len == 0 {
        return f(&mut []);
    }
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < len {
            s.resize(len, 0.0);
        }
        f(&mut s[..len])
    })
}

/// The handle behind `h`.
///
/// # Safety
/// `h` is null or a pointer [`nde_embed_new`] returned (checked by a magic
/// number, which catches most misuse but not every freed pointer).
pub(crate) unsafe fn handle<'a>(h: *const Handle) -> Result<&'a Handle, Failure> {
    if h.is_null() {
        return Err(Failure::new(Code::Null, "the model handle is null (create one with NAME_new)"));
    }
    // SAFETY: the caller's contract.
    let h = unsafe { &*h };
    if h.magic != MAGIC {
        return Err(Failure::new(Code::Handle, "not a model handle (freed, or not made by NAME_new)"));
    }
    Ok(h)
}

/// `len` values at `ptr`, which must not be null.
///
/// # Safety
/// A non-null `ptr` points to `len` readable values.
pub(crate) unsafe fn input<'a>(what: &str, ptr: *const f64, len: usize) -> Result<&'a [f64], Failure> {
    if ptr.is_null() {
        return Err(Failure::new(Code::Null, format!("`{what}` is null")));
    }
    // SAFETY: the caller's contract.
    Ok(unsafe { slice(ptr, len) })
}

/// `len` writable values at `ptr`, which must not be null.
///
/// # Safety
/// A non-null `ptr` points to `len` writable values that nothing else uses.
pub(crate) unsafe fn output<'a>(what: &str, ptr: *mut f64, len: usize) -> Result<&'a mut [f64], Failure> {
    if ptr.is_null() {
        return Err(Failure::new(Code::Null, format!("`{what}` is null")));
    }
    if len == 0 {
        return Ok(&mut []);
    }
    // SAFETY: the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// `found == expected`, or a length error naming the buffer.
pub(crate) fn expect_len(what: &str, found: usize, expected: usize, meaning: &str) -> Result<(), Failure> {
    if found == expected {
        Ok(())
    } else {
        Err(Failure::new(Code::Length, format!("`{what}` has length {found}; expected {expected} ({meaning})")))
    }
}

/// Every value finite, or an error naming the first that is not.
pub(crate) fn finite(what: &str, values: &[f64]) -> Result<(), Failure> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Failure::new(Code::NonFinite, format!("`{what}[{i}]` is {}", values[i]))),
    }
}

/// A finite scalar, or an error naming it.
pub(crate) fn finite_scalar(what: &str, v: f64) -> Result<(), Failure> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(Failure::new(Code::NonFinite, format!("`{what}` is {v}")))
    }
}

/// The runtime's view of a kernel of the descriptor (an internal error when it is missing).
pub(crate) fn kernel(k: &KernelDesc, what: &str) -> Result<Kernel, Failure> {
    k.kernel().ok_or_else(|| Failure::new(Code::Internal, format!("the library has no `{what}` kernel")))
}

/// A new handle for the model `desc` with its default parameters; null on
/// failure (see `nde_embed_last_error`).
///
/// # Safety
/// `desc` is null or a descriptor `nde build` wrote, alive for the process.
#[no_mangle]
pub unsafe extern "C" fn nde_embed_new(desc: *const ModelDesc) -> *mut Handle {
    let mut made = std::ptr::null_mut();
    guard(|| {
        if desc.is_null() {
            return Err(Failure::new(Code::Null, "the model descriptor is null"));
        }
        // SAFETY: the caller's contract: static data for the process.
        let desc: &'static ModelDesc = unsafe { &*desc };
        if desc.abi_version != ABI_VERSION {
            return Err(Failure::new(
                Code::Handle,
                format!("the library was built for ABI version {}, this runtime is {ABI_VERSION}", desc.abi_version),
            ));
        }
        // SAFETY: a descriptor `nde build` wrote.
        let params = unsafe { desc.default_params() }.to_vec();
        let params_ptr = params.as_ptr();
        made = Box::into_raw(Box::new(Handle { magic: MAGIC, params_ptr, desc, params }));
        Ok(())
    });
    made
}

/// Frees a handle (null is ignored).
///
/// # Safety
/// `h` is null or a live handle no other call is using.
#[no_mangle]
pub unsafe extern "C" fn nde_embed_free(h: *mut Handle) -> c_int {
    guard(|| {
        if h.is_null() {
            return Ok(());
        }
        // SAFETY: the caller's contract.
        unsafe { handle(h) }?;
        // SAFETY: made by `Box::into_raw` in `nde_embed_new`; the magic
        // number is cleared so a second free is reported.
        let mut b = unsafe { Box::from_raw(h) };
        b.magic = 0;
        Ok(())
    })
}

/// Copies the handle's parameters into `out` (`len` = the model's `n_param`).
///
/// # Safety
/// `h` as for [`handle`]; `out` points to `len` writable values.
#[no_mangle]
pub unsafe extern "C" fn nde_embed_get_params(h: *const Handle, out: *mut f64, len: usize) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let h = unsafe { handle(h) }?;
        // SAFETY: as above.
        let out = unsafe { output("params", out, len) }?;
        expect_len("len", len, h.params.len(), "the model's number of parameters")?;
        out.copy_from_slice(&h.params);
        Ok(())
    })
}

/// Replaces the handle's parameters by `p` (`len` = `n_param`, all finite).
///
/// # Safety
/// `h` as for [`handle`], used by no other call meanwhile; `p` points to `len` values.
#[no_mangle]
pub unsafe extern "C" fn nde_embed_set_params(h: *mut Handle, p: *const f64, len: usize) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        unsafe { handle(h) }?;
        // SAFETY: as above.
        let p = unsafe { input("params", p, len) }?;
        // SAFETY: checked above; exclusive by the contract.
        let h = unsafe { &mut *h };
        expect_len("len", len, h.params.len(), "the model's number of parameters")?;
        finite("params", p)?;
        h.params.copy_from_slice(p);
        Ok(())
    })
}

/// Calls one kernel with checked buffers: `out = k(t, y, p)`.
///
/// # Safety
/// `h` as for [`handle`]; pointers to buffers of the lengths given.
#[allow(clippy::too_many_arguments)]
unsafe fn call_single(
    h: *const Handle,
    which: fn(&ModelDesc) -> &KernelDesc,
    name: &str,
    t: f64,
    y: *const f64,
    y_len: usize,
    out: *mut f64,
    out_len: usize,
) -> Result<(), Failure> {
    // SAFETY: the caller's contract.
    let h = unsafe { handle(h) }?;
    let k = kernel(which(h.desc), name)?;
    // SAFETY: as above.
    let (y, out) = unsafe { (input("y", y, y_len)?, output("out", out, out_len)?) };
    expect_len("y_len", y_len, k.n_state, "the model's number of states")?;
    if out_len != k.out_len {
        let meaning = format!("the length of {name}'s result");
        expect_len("out_len", out_len, k.out_len, &meaning)?;
    }
    finite_scalar("t", t)?;
    finite("y", y)?;
    // SAFETY: the descriptor's kernels are the library's live code; lengths checked.
    with_scratch(k.scratch_len, |s| unsafe { k.call(&h.params, t, y, out, s) });
    Ok(())
}

/// `out = f(t, y, p)`: `y_len` = `out_len` = `n_state`.
///
/// The valid call takes a fast path (the same checks as [`call_single`],
/// as plain comparisons without building any error value: the right-hand
/// side is called in solver loops, and a small one costs a few
/// nanoseconds); anything else goes through `call_single`, which says what
/// is wrong.
///
/// # Safety
/// `h` as for [`handle`]; `y` and `out` point to buffers of the lengths given.
#[no_mangle]
pub unsafe extern "C" fn nde_embed_rhs(
    h: *const Handle,
    t: f64,
    y: *const f64,
    y_len: usize,
    out: *mut f64,
    out_len: usize,
) -> c_int {
    // SAFETY: the caller's contract (a null or live handle).
    if let Some(hd) = unsafe { h.as_ref() } {
        let k = &hd.desc.rhs;
        if let (MAGIC, Some(f), false, false, 0) = (hd.magic, k.single, y.is_null(), out.is_null(), k.scratch_len) {
            if y_len == k.n_state && out_len == k.out_len && t.is_finite() {
                // SAFETY: non-null, with the length the caller gave (checked above).
                let ys = unsafe { std::slice::from_raw_parts(y, y_len) };
                if ys.iter().all(|v| v.is_finite()) && hd.params.len() >= k.n_param {
                    // SAFETY: live code of the library; every buffer has the
                    // length the kernel's metadata says; no scratch needed.
                    unsafe { f(t, y, hd.params.as_ptr(), out, std::ptr::null_mut()) };
                    return Code::Ok as c_int;
                }
            }
        }
    }
    // SAFETY: forwarded contract.
    guard(|| unsafe { call_single(h, |d| &d.rhs, "rhs", t, y, y_len, out, out_len) })
}

/// `out = ∂f/∂y` at `(t, y)`, `n_state × n_state` row-major.
///
/// # Safety
/// As for [`nde_embed_rhs`].
#[no_mangle]
pub unsafe extern "C" fn nde_embed_jac(
    h: *const Handle,
    t: f64,
    y: *const f64,
    y_len: usize,
    out: *mut f64,
    out_len: usize,
) -> c_int {
    // SAFETY: forwarded contract.
    guard(|| unsafe { call_single(h, |d| &d.jac, "jac", t, y, y_len, out, out_len) })
}

/// The model's initial state at `t0` for the handle's parameters
/// (`out_len` = `n_state`).
///
/// # Safety
/// `h` as for [`handle`]; `out` points to `out_len` writable values.
#[no_mangle]
pub unsafe extern "C" fn nde_embed_initial_state(h: *const Handle, t0: f64, out: *mut f64, out_len: usize) -> c_int {
    // `init` reads no state; any non-null pointer will do for `y`.
    let y = [0.0f64];
    // SAFETY: forwarded contract.
    guard(|| unsafe { call_single(h, |d| &d.init, "init", t0, y.as_ptr(), 0, out, out_len) })
}

/// `out[b] = f(t[b], y[b], p)` for `b < n`: `t` has `n` values, `y` and
/// `out` `n × n_state`.
///
/// # Safety
/// `h` as for [`handle`]; pointers to buffers of the lengths given.
#[no_mangle]
pub unsafe extern "C" fn nde_embed_rhs_batch(
    h: *const Handle,
    n: usize,
    t: *const f64,
    y: *const f64,
    y_len: usize,
    out: *mut f64,
    out_len: usize,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let h = unsafe { handle(h) }?;
        let k = kernel(&h.desc.rhs, "rhs")?;
        // SAFETY: as above.
        let (ts, y, out) = unsafe { (input("t", t, n)?, input("y", y, y_len)?, output("out", out, out_len)?) };
        let states = n.saturating_mul(k.n_state);
        expect_len("y_len", y_len, states, "n × the model's number of states")?;
        expect_len("out_len", out_len, states, "n × the model's number of states")?;
        finite("t", ts)?;
        finite("y", y)?;
        if n == 0 {
            return Ok(());
        }
        with_scratch(k.batch_scratch_len, |s| {
            // SAFETY: live code; every buffer has the length the kernel reads.
            unsafe { (k.batch)(n, ts.as_ptr(), y.as_ptr(), h.params.as_ptr(), out.as_mut_ptr(), s.as_mut_ptr()) }
        });
        Ok(())
    })
}

/// Vector–Jacobian products at `(t, y)`: `gy = aᵀ∂f/∂y` (`n_state`) and
/// `gp = aᵀ∂f/∂p` (`n_param`).
///
/// # Safety
/// `h` as for [`handle`]; pointers to buffers of the lengths given.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn nde_embed_vjp(
    h: *const Handle,
    t: f64,
    y: *const f64,
    y_len: usize,
    a: *const f64,
    a_len: usize,
    gy: *mut f64,
    gy_len: usize,
    gp: *mut f64,
    gp_len: usize,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let h = unsafe { handle(h) }?;
        let k = kernel(&h.desc.vjp, "vjp")?;
        let (n, np) = (h.desc.n_state, h.params.len());
        // SAFETY: as above.
        let (y, a) = unsafe { (input("y", y, y_len)?, input("a", a, a_len)?) };
        // SAFETY: as above.
        let (gy, gp) = unsafe { (output("gy", gy, gy_len)?, output("gp", gp, gp_len)?) };
        expect_len("y_len", y_len, n, "the model's number of states")?;
        expect_len("a_len", a_len, n, "the model's number of states")?;
        expect_len("gy_len", gy_len, n, "the model's number of states")?;
        expect_len("gp_len", gp_len, np, "the model's number of parameters")?;
        finite_scalar("t", t)?;
        finite("y", y)?;
        finite("a", a)?;
        // SAFETY: live code; `call_vjp` checks the lengths.
        with_scratch(k.vjp_scratch_len(), |s| unsafe { k.call_vjp(&h.params, t, y, a, gy, gp, s) });
        Ok(())
    })
}

/// This thread's message of its last failed call (`""` if none); valid
/// until the thread's next failed call.
#[no_mangle]
pub extern "C" fn nde_embed_last_error() -> *const c_char {
    error::last()
}

/// A fixed description of an error code (static; unknown codes too).
#[no_mangle]
pub extern "C" fn nde_embed_error_message(code: c_int) -> *const c_char {
    let c = Code::ALL.iter().find(|c| **c as c_int == code);
    match c {
        Some(c) => c.describe_c().as_ptr().cast(),
        None => c"unknown error code".as_ptr(),
    }
}

/// The name of a handle's model (for messages).
pub(crate) fn model_name(h: &Handle) -> &'static str {
    // SAFETY: a descriptor `nde build` wrote; static data.
    unsafe { text(h.desc.name) }
}
