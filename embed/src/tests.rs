//! The C ABI over a hand-written descriptor (`dy/dt = -p y`, kernels in
//! Rust): handles, parameters, kernel calls, solves the same bits as the
//! runtime's, and an error code with a message for each misuse.

use std::ffi::{c_int, CStr};
use std::ptr::{null, null_mut};

use nde_runtime::{solve_batch, SolveOptions};

use crate::desc::{KernelDesc, ModelDesc, ABI_VERSION};
use crate::error::Code;
use crate::*;

unsafe extern "C" fn decay(_t: f64, y: *const f64, p: *const f64, out: *mut f64, _s: *mut f64) {
    // SAFETY: one state, one parameter, one output.
    unsafe { *out = -*p * *y }
}
unsafe extern "C" fn decay_batch(n: usize, t: *const f64, y: *const f64, p: *const f64, out: *mut f64, s: *mut f64) {
    for b in 0..n {
        // SAFETY: `n` rows of one value each.
        unsafe { decay(*t.add(b), y.add(b), p, out.add(b), s) }
    }
}
unsafe extern "C" fn decay_vjp(_t: f64, y: *const f64, p: *const f64, out: *mut f64, _s: *mut f64) {
    // SAFETY: input [y; a], output [-p a; -y a].
    unsafe {
        *out = -*p * *y.add(1);
        *out.add(1) = -*y * *y.add(1);
    }
}
unsafe extern "C" fn decay_jac(_t: f64, _y: *const f64, p: *const f64, out: *mut f64, _s: *mut f64) {
    // SAFETY: one output.
    unsafe { *out = -*p }
}
unsafe extern "C" fn zero(_t: f64, _y: *const f64, _p: *const f64, out: *mut f64, _s: *mut f64) {
    // SAFETY: one output.
    unsafe { *out = 0.0 }
}

pub(crate) fn kd(single: nde_runtime::abi::KernelFn, n_state: usize, out_len: usize) -> KernelDesc {
    KernelDesc {
        single: Some(single),
        batch: Some(decay_batch),
        n_state,
        n_param: 1,
        out_len,
        scratch_len: 0,
        batch_scratch_len: 0,
    }
}

pub(crate) struct Desc(pub(crate) ModelDesc);
// SAFETY: read-only static data.
unsafe impl Sync for Desc {}
// SAFETY: as above.
unsafe impl Send for Desc {}

static PARAMS: [f64; 1] = [0.5];
pub(crate) static DESC: std::sync::LazyLock<Desc> = std::sync::LazyLock::new(|| {
    Desc(ModelDesc {
        abi_version: ABI_VERSION,
        name: c"decay".as_ptr(),
        n_state: 1,
        n_param: 1,
        state_names: null(),
        n_param_arrays: 0,
        param_names: null(),
        param_offsets: null(),
        param_lens: null(),
        default_params: PARAMS.as_ptr(),
        default_method: c"tsit5".as_ptr(),
        default_rtol: 0.0,
        default_atol: 0.0,
        default_dt: 0.0,
        default_max_steps: 0,
        rhs: kd(decay, 1, 1),
        vjp: kd(decay_vjp, 2, 2),
        jac: kd(decay_jac, 1, 1),
        dfdt: kd(zero, 1, 1),
        init: kd(zero, 0, 1),
        n_losses: 0,
        losses: null(),
    })
});

pub(crate) fn message() -> String {
    // SAFETY: a live NUL-terminated string.
    unsafe { CStr::from_ptr(nde_embed_last_error()) }.to_string_lossy().into_owned()
}

#[test]
fn a_solve_through_the_abi_is_the_runtimes_solve_bit_for_bit() {
    // SAFETY: a descriptor alive for the process; buffers of the lengths given.
    unsafe {
        let h = nde_embed_new(&DESC.0);
        assert!(!h.is_null());
        let (t, y0) = ([0.0, 1.0, 2.0], [1.0, -3.0]);
        let mut out = [0.0; 6];
        let code = nde_embed_solve(
            h,
            c"dopri5".as_ptr(),
            1e-8,
            0.0,
            0.0,
            0.0,
            t.as_ptr(),
            3,
            y0.as_ptr(),
            2,
            out.as_mut_ptr(),
            6,
        );
        assert_eq!(code, 0, "{}", message());
        let f = nde_runtime::term::FnField::new(1, |_t, y: &[f64], dy: &mut [f64]| dy[0] = -0.5 * y[0]);
        let opts = SolveOptions { method: "dopri5".parse().unwrap(), rtol: 1e-8, ..SolveOptions::default() };
        let want = solve_batch(&f, 0.0, &y0, &t, &opts, 0).unwrap();
        assert_eq!(out.map(f64::to_bits).to_vec(), want.y.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        // New parameters are used; the kernels and the VJP see them.
        assert_eq!(nde_embed_set_params(h, [2.0].as_ptr(), 1), 0);
        let mut dy = [0.0];
        assert_eq!(nde_embed_rhs(h, 0.0, [3.0].as_ptr(), 1, dy.as_mut_ptr(), 1), 0);
        assert_eq!(dy, [-6.0]);
        let (mut gy, mut gp) = ([0.0], [0.0]);
        assert_eq!(
            nde_embed_vjp(h, 0.0, [3.0].as_ptr(), 1, [1.0].as_ptr(), 1, gy.as_mut_ptr(), 1, gp.as_mut_ptr(), 1),
            0
        );
        assert_eq!((gy, gp), ([-2.0], [-3.0]));
        // Stiff and automatic methods go through the same field.
        for m in [c"rodas5", c"auto"] {
            assert_eq!(
                nde_embed_solve(h, m.as_ptr(), 0.0, 0.0, 0.0, 0.0, t.as_ptr(), 3, y0.as_ptr(), 2, out.as_mut_ptr(), 6),
                0
            );
            assert!((out[2] - (-4.0f64).exp()).abs() < 1e-5, "{m:?}: {out:?}");
        }
        assert_eq!(nde_embed_free(h), 0);
    }
}

#[test]
fn every_misuse_is_a_code_with_a_message() {
    // SAFETY: as above; the misuses are of lengths and values, never of memory.
    unsafe {
        let h = nde_embed_new(&DESC.0);
        let mut dy = [0.0; 2];
        let (t, y0) = ([0.0, 1.0], [1.0]);
        let mut out = [0.0; 2];
        let cases: Vec<(c_int, Code)> = vec![
            (nde_embed_rhs(null(), 0.0, [1.0].as_ptr(), 1, dy.as_mut_ptr(), 1), Code::Null),
            (nde_embed_rhs(h, 0.0, null(), 1, dy.as_mut_ptr(), 1), Code::Null),
            (nde_embed_rhs(h, 0.0, [1.0].as_ptr(), 1, dy.as_mut_ptr(), 2), Code::Length),
            (nde_embed_rhs(h, f64::NAN, [1.0].as_ptr(), 1, dy.as_mut_ptr(), 1), Code::NonFinite),
            (nde_embed_get_params(h, null_mut(), 1), Code::Null),
            (nde_embed_set_params(h, [f64::INFINITY].as_ptr(), 1), Code::NonFinite),
            (
                nde_embed_solve(
                    h,
                    c"rk45".as_ptr(),
                    0.0,
                    0.0,
                    0.0,
                    0.0,
                    t.as_ptr(),
                    2,
                    y0.as_ptr(),
                    1,
                    out.as_mut_ptr(),
                    2,
                ),
                Code::Method,
            ),
            (
                nde_embed_solve(h, null(), -1.0, 0.0, 0.0, 0.0, t.as_ptr(), 2, y0.as_ptr(), 1, out.as_mut_ptr(), 2),
                Code::Option,
            ),
            (
                nde_embed_solve(
                    h,
                    c"rk4".as_ptr(),
                    0.0,
                    0.0,
                    0.0,
                    0.0,
                    t.as_ptr(),
                    2,
                    y0.as_ptr(),
                    1,
                    out.as_mut_ptr(),
                    2,
                ),
                Code::Option,
            ),
            (
                nde_embed_solve(
                    h,
                    null(),
                    0.0,
                    0.0,
                    0.0,
                    0.0,
                    t.as_ptr(),
                    2,
                    y0.as_ptr(),
                    usize::MAX,
                    out.as_mut_ptr(),
                    2,
                ),
                Code::Length,
            ),
            (
                nde_embed_solve(h, null(), 0.0, 0.0, 0.0, 5.0, t.as_ptr(), 2, y0.as_ptr(), 1, out.as_mut_ptr(), 2),
                Code::Option,
            ),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            assert_eq!(got, want as c_int, "case {i}: {}", message());
            assert!(!message().is_empty(), "case {i}");
        }
        let mut bad = DESC.0.abi_version;
        bad += 1;
        let other = ModelDesc { abi_version: bad, ..std::ptr::read(&DESC.0) };
        assert!(nde_embed_new(&other).is_null());
        assert!(message().contains("ABI version"), "{}", message());
        nde_embed_free(h);
    }
}
