//! `nde_embed_loss` over a hand-written descriptor: `dy/dt = -p y` with the
//! loss `Σ_i (y(t_i) - o_i)² + 10⁻³ nfe` (kernels in Rust), two
//! trajectories; its value and gradient against the closed form and the
//! runtime's solve, initial states bundled or from `init`, and an error
//! code with a message for each misuse.

use std::ffi::c_int;
use std::ptr::{null, null_mut};

use nde_runtime::{solve_batch, SolveOptions};

use crate::desc::{KernelDesc, LossDesc, ModelDesc};
use crate::error::Code;
use crate::tests::{kd, message, DESC};
use crate::*;

/// Input buffer: `[y(t0), y(t1), o0, o1, nfe, steps]`.
const INPUT_LEN: usize = 6;
const TIMES: [f64; 2] = [0.5, 1.0];
const Y0S: [f64; 2] = [1.0, 2.0];
/// Trajectory `b`'s observations: `o = [0.4, 0.2] · (b + 1)`.
static INPUTS: [f64; 12] = [0.0, 0.0, 0.4, 0.2, 0.0, 0.0, 0.0, 0.0, 0.8, 0.4, 0.0, 0.0];

unsafe extern "C" fn loss(_t: f64, x: *const f64, _p: *const f64, out: *mut f64, _s: *mut f64) {
    // SAFETY: `INPUT_LEN` inputs, one output.
    unsafe {
        let (a, b) = (*x - *x.add(2), *x.add(1) - *x.add(3));
        *out = a * a + b * b + 1e-3 * *x.add(4);
    }
}
unsafe extern "C" fn loss_vjp(_t: f64, x: *const f64, _p: *const f64, out: *mut f64, _s: *mut f64) {
    // SAFETY: `[x; w]` in, `[w ∂loss/∂x; w ∂loss/∂p]` out.
    unsafe {
        let w = *x.add(INPUT_LEN);
        let (a, b) = (2.0 * w * (*x - *x.add(2)), 2.0 * w * (*x.add(1) - *x.add(3)));
        let vals = [a, b, -a, -b, 1e-3 * w, 0.0, 0.0];
        for (i, v) in vals.iter().enumerate() {
            *out.add(i) = *v;
        }
    }
}
/// `y0 = 2p`.
unsafe extern "C" fn twice(_t: f64, _y: *const f64, p: *const f64, out: *mut f64, _s: *mut f64) {
    // SAFETY: one parameter, one output.
    unsafe { *out = 2.0 * *p }
}
/// `aᵀ ∂y0/∂p = 2a`.
unsafe extern "C" fn twice_vjp(_t: f64, a: *const f64, _p: *const f64, out: *mut f64, _s: *mut f64) {
    // SAFETY: one cotangent, one output.
    unsafe { *out = 2.0 * *a }
}

fn entry(name: &'static std::ffi::CStr, init_vjp: Option<KernelDesc>, max_steps: usize) -> LossDesc {
    let none = KernelDesc { single: None, batch: None, ..kd(twice_vjp, 1, 1) };
    LossDesc {
        name: name.as_ptr(),
        kernel: kd(loss, INPUT_LEN, 1),
        vjp: kd(loss_vjp, INPUT_LEN + 1, INPUT_LEN + 1),
        init_vjp: init_vjp.unwrap_or(none),
        method: c"dopri5".as_ptr(),
        rtol: 1e-10,
        atol: 1e-12,
        dt: 0.0,
        max_steps,
        adjoint: 0,
        checkpoints: 0,
        t0: 0.0,
        n_traj: 2,
        n_times: 2,
        times: TIMES.as_ptr(),
        y0s: if init_vjp.is_some() { null() } else { Y0S.as_ptr() },
        input_len: INPUT_LEN,
        nfe_at: 4,
        steps_at: 5,
        inputs: INPUTS.as_ptr(),
    }
}

struct Losses([LossDesc; 4], ModelDesc);
// SAFETY: read-only static data.
unsafe impl Sync for Losses {}
// SAFETY: as above.
unsafe impl Send for Losses {}

/// Loss 0: bundled initial states; 1: from `init` (`2p`); 2: at most one
/// step (the solve fails); 3: a VJP kernel of the wrong size.
static LOSSES: std::sync::LazyLock<Losses> = std::sync::LazyLock::new(|| {
    let mut bad = entry(c"bad", None, 0);
    bad.vjp.out_len += 1;
    let entries =
        [entry(c"fit", None, 0), entry(c"from_init", Some(kd(twice_vjp, 1, 1)), 0), entry(c"short", None, 1), bad];
    // SAFETY: a plain copy of the static test descriptor.
    let model = unsafe { std::ptr::read(&DESC.0) };
    Losses(entries, ModelDesc { init: kd(twice, 0, 1), n_losses: 4, losses: null(), ..model })
});

fn model() -> ModelDesc {
    let l = &*LOSSES;
    // SAFETY: as above; `losses` points into the static.
    ModelDesc { losses: l.0.as_ptr(), ..unsafe { std::ptr::read(&l.1) } }
}

/// The loss with its closed-form gradient at `p`, from initial states `y0s`
/// with `dy0/dp` each (`y(t) = y0 e^{-pt}`), and the runtime's forward solve
/// for the value's bits.
fn expected(p: f64, y0s: &[f64], dy0: f64) -> (f64, f64) {
    let f = nde_runtime::term::FnField::new(1, move |_t, y: &[f64], dy: &mut [f64]| dy[0] = -p * y[0]);
    let opts = SolveOptions { method: "dopri5".parse().unwrap(), rtol: 1e-10, atol: 1e-12, ..SolveOptions::default() };
    let sol = solve_batch(&f, 0.0, y0s, &TIMES, &opts, 0).unwrap();
    let (mut value, mut grad) = (0.0, 0.0);
    for (b, &y0) in y0s.iter().enumerate() {
        let o = [0.4 * (b + 1) as f64, 0.2 * (b + 1) as f64];
        let y = sol.trajectory(b);
        let (a, c) = (y[0] - o[0], y[1] - o[1]);
        value += (a * a + c * c + 1e-3 * sol.stats[b].nfe as f64) / 2.0;
        for (i, &t) in TIMES.iter().enumerate() {
            let exact = y0 * (-p * t).exp();
            grad += (exact - o[i]) * (dy0 * (-p * t).exp() - t * exact);
        }
    }
    (value, grad)
}

#[test]
fn a_loss_value_and_gradient_agree_with_the_closed_form() {
    let m = model();
    // SAFETY: a descriptor alive for the test; buffers of the lengths given.
    unsafe {
        let h = nde_embed_new(&m);
        assert!(!h.is_null(), "{}", message());
        let (mut value, mut value_only, mut grad) = (0.0, 0.0, [0.0]);
        assert_eq!(nde_embed_loss(h, 0, &mut value, grad.as_mut_ptr(), 1), 0, "{}", message());
        assert_eq!(nde_embed_loss(h, 0, &mut value_only, null_mut(), 0), 0, "{}", message());
        let (want_value, want_grad) = expected(0.5, &Y0S, 0.0);
        assert_eq!(value.to_bits(), want_value.to_bits(), "{value} vs {want_value}");
        assert_eq!(value_only.to_bits(), value.to_bits());
        assert!((grad[0] - want_grad).abs() < 1e-8, "{} vs {want_grad}", grad[0]);
        // The initial states from `init` (2p) at the handle's parameters, chained through its VJP.
        assert_eq!(nde_embed_set_params(h, [0.8].as_ptr(), 1), 0);
        assert_eq!(nde_embed_loss(h, 1, &mut value, grad.as_mut_ptr(), 1), 0, "{}", message());
        let (want_value, want_grad) = expected(0.8, &[1.6, 1.6], 2.0);
        assert_eq!(value.to_bits(), want_value.to_bits(), "{value} vs {want_value}");
        assert!((grad[0] - want_grad).abs() < 1e-8, "{} vs {want_grad}", grad[0]);
        assert_eq!(nde_embed_free(h), 0);
    }
}

#[test]
fn every_misuse_of_a_loss_is_a_code_with_a_message() {
    let m = model();
    // SAFETY: as above; the misuses are of lengths and values, never of memory.
    unsafe {
        let h = nde_embed_new(&m);
        let (mut value, mut grad) = (0.0, [0.0; 2]);
        let g = grad.as_mut_ptr();
        let check = |i: usize, got: c_int, want: Code, says: &str| {
            assert_eq!(got, want as c_int, "case {i}: {}", message());
            assert!(message().contains(says), "case {i}: {}", message());
        };
        check(0, nde_embed_loss(null(), 0, &mut value, g, 1), Code::Null, "handle is null");
        check(1, nde_embed_loss(h, 0, null_mut(), g, 1), Code::Null, "`value` is null");
        check(2, nde_embed_loss(h, 0, &mut value, null_mut(), 1), Code::Null, "`grad` is null");
        check(3, nde_embed_loss(h, 0, &mut value, g, 2), Code::Length, "`grad_len` has length 2");
        check(4, nde_embed_loss(h, 4, &mut value, g, 1), Code::Option, "loss 4 of `decay`, which exports 4");
        check(5, nde_embed_loss(h, 2, &mut value, g, 1), Code::Solve, "step");
        check(6, nde_embed_loss(h, 2, &mut value, null_mut(), 0), Code::Solve, "step");
        check(7, nde_embed_loss(h, 3, &mut value, g, 1), Code::Internal, "the loss VJP's sizes");
        // A model without losses.
        let plain = nde_embed_new(&DESC.0);
        assert_eq!(nde_embed_loss(plain, 0, &mut value, g, 1), Code::Option as c_int);
        nde_embed_free(plain);
        nde_embed_free(h);
    }
}
