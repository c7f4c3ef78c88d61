//! `nde_embed_loss`: a loss of the model's file, bundled with its data by
//! `nde build`, evaluated at the handle's parameters, with its gradient.
//!
//! Owns the evaluation of a [`LossDesc`] the way the compiler's trainer
//! does it (`driver::train`: `Trainer::evaluate` for the value,
//! `Trainer::batch_gradient` over every trajectory for the gradient): one
//! explicit solve per trajectory from its initial state (bundled, or the
//! model's `init` at the handle's parameters), `sol.y`, `sol.nfe` and
//! `sol.steps` written into the trajectory's bundled input buffer, the
//! loss kernel on it, and the value the mean over the trajectories
//! (`Σ value_b / n`, in trajectory order: `nde eval`'s bits). The gradient
//! is `nde_runtime::adjoint::gradient_batch` with the loss VJP (weighted by
//! `1/n`) as each trajectory's cotangent, the VJP's direct `∂loss/∂p` added
//! after, then `dL/dy0` chained through `init`'s VJP trajectory by
//! trajectory when the initial states read the parameters: the trainer's
//! order of summation, so its bits.
//!
//! Never: trust the descriptor's sizes before checking them against the
//! model (a mismatch is `NDE_ERR_INTERNAL`), or allocate per solver step
//! (the runtime owns its work buffers; this module allocates per call).

use std::ffi::c_int;

use nde_runtime::adjoint::{gradient_batch, Adjoint, BatchCotangent, BatchTimes};
use nde_runtime::kernel::{Kernel, KernelField};
use nde_runtime::{solve_batch, Method, SolveOptions, Stats};

use crate::api::{expect_len, handle, kernel, model_name, output, Handle};
use crate::desc::{slice, text, LossDesc, ModelDesc};
use crate::error::{guard, Code, Failure};
use crate::solve::solve_failure;

/// A loss entry checked against its model: its kernels, solve options,
/// adjoint and data.
struct Prepared<'a> {
    desc: &'a LossDesc,
    value: Kernel,
    vjp: Kernel,
    /// `init`'s kernel and VJP when the initial states are computed.
    init: Option<(Kernel, Kernel)>,
    opts: SolveOptions,
    adjoint: Adjoint,
    times: &'a [f64],
    y0s: &'a [f64],
    inputs: &'a [f64],
}

fn internal(what: String) -> Failure {
    Failure::new(Code::Internal, format!("the library's loss descriptor is inconsistent: {what}"))
}

fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), Failure> {
    if ok {
        Ok(())
    } else {
        Err(internal(what()))
    }
}

impl<'a> Prepared<'a> {
    /// Checks `l` against the model `d`.
    ///
    /// # Safety
    /// `d` and `l` are descriptors `nde build` wrote (their arrays have the lengths they say).
    unsafe fn new(d: &ModelDesc, l: &'a LossDesc) -> Result<Prepared<'a>, Failure> {
        let (n, np, len) = (d.n_state, d.n_param, l.input_len);
        let value = kernel(&l.kernel, "loss")?;
        let vjp = kernel(&l.vjp, "loss VJP")?;
        check(l.n_traj > 0 && l.n_times > 0, || "no trajectories or no save times".into())?;
        check(value.n_state == len && value.n_param == np && value.out_len >= 1, || "the loss kernel's sizes".into())?;
        check(vjp.n_state == len + 1 && vjp.n_param == np && vjp.out_len == len + np, || {
            "the loss VJP's sizes".into()
        })?;
        check(len >= l.n_times * n && l.nfe_at < len && l.steps_at < len, || "the input buffer layout".into())?;
        let init = match l.init_vjp.single {
            None => None,
            Some(_) => {
                let (init, init_vjp) = (kernel(&d.init, "init")?, kernel(&l.init_vjp, "init VJP")?);
                check(init.out_len == n && init_vjp.n_state == n && init_vjp.out_len >= np, || {
                    "the init kernels' sizes".into()
                })?;
                Some((init, init_vjp))
            }
        };
        check(init.is_some() || !l.y0s.is_null(), || "no initial states".into())?;
        // SAFETY: static strings of the descriptor.
        let method = unsafe { text(l.method) };
        let method: Method = method.parse().map_err(|_| internal(format!("unknown method `{method}`")))?;
        let defaults = SolveOptions::default();
        let opts = SolveOptions {
            method,
            rtol: l.rtol,
            atol: l.atol,
            dt: (l.dt > 0.0).then_some(l.dt),
            max_steps: if l.max_steps > 0 { l.max_steps } else { defaults.max_steps },
            ..defaults
        };
        let adjoint = match l.adjoint {
            0 => Adjoint::Discrete { checkpoints: (l.checkpoints > 0).then_some(l.checkpoints) },
            1 => Adjoint::Backsolve,
            2 => Adjoint::Interpolated,
            other => return Err(internal(format!("adjoint code {other}"))),
        };
        let y0_len = if init.is_some() { 0 } else { l.n_traj * n };
        // SAFETY: the caller's contract: arrays of the lengths the descriptor says.
        let (times, y0s, inputs) =
            unsafe { (slice(l.times, l.n_times), slice(l.y0s, y0_len), slice(l.inputs, l.n_traj * len)) };
        Ok(Prepared { desc: l, value, vjp, init, opts, adjoint, times, y0s, inputs })
    }

    /// Every trajectory's initial state: the bundled ones, or the model's
    /// at `t0` for `params` (the same for each trajectory).
    fn initial_states(&self, params: &[f64]) -> Vec<f64> {
        match &self.init {
            None => self.y0s.to_vec(),
            Some((init, _)) => {
                let mut y0 = vec![0.0; init.out_len];
                let mut scratch = vec![0.0; init.scratch_len];
                // SAFETY: the library's live code; buffers of the kernel's sizes (checked in `new`).
                unsafe { init.call(params, self.desc.t0, &[], &mut y0, &mut scratch) };
                y0.repeat(self.desc.n_traj)
            }
        }
    }

    /// Trajectory `b`'s input buffer: the bundled data, its solution and statistics.
    fn fill(&self, b: usize, sol_y: &[f64], stats: &Stats, input: &mut [f64]) {
        let len = self.desc.input_len;
        input.copy_from_slice(&self.inputs[b * len..(b + 1) * len]);
        input[..sol_y.len()].copy_from_slice(sol_y);
        input[self.desc.nfe_at] = stats.nfe as f64;
        input[self.desc.steps_at] = stats.steps() as f64;
    }

    /// The loss kernel at `input`.
    fn value_at(&self, params: &[f64], input: &[f64], scratch: &mut Vec<f64>) -> f64 {
        let k = &self.value;
        scratch.resize(k.out_len + k.scratch_len, 0.0);
        let (out, rest) = scratch.split_at_mut(k.out_len);
        // SAFETY: the library's live code; buffers of the kernel's sizes (checked in `new`).
        unsafe { k.call(params, 0.0, input, out, rest) };
        out[0]
    }

    /// `weight · ∂loss/∂input` into `d_input` and `weight · ∂loss/∂p` added to `direct`.
    fn gradient_at(
        &self,
        params: &[f64],
        input: &[f64],
        weight: f64,
        d_input: &mut [f64],
        direct: &mut [f64],
        scratch: &mut Vec<f64>,
    ) {
        let k = &self.vjp;
        let len = input.len();
        scratch.resize(k.n_state + k.out_len + k.scratch_len, 0.0);
        let (buf, rest) = scratch.split_at_mut(k.n_state);
        let (out, kscratch) = rest.split_at_mut(k.out_len);
        buf[..len].copy_from_slice(input);
        buf[len] = weight;
        // SAFETY: as for `value_at`.
        unsafe { k.call(params, 0.0, buf, out, kscratch) };
        d_input.copy_from_slice(&out[..len]);
        for (g, d) in direct.iter_mut().zip(&out[len..]) {
            *g += d;
        }
    }
}

/// The loss value alone: one forward solve per trajectory (a batch).
fn value_only(p: &Prepared<'_>, field: &KernelField<'_>, y0s: &[f64]) -> Result<f64, Failure> {
    let d = p.desc;
    let sol = solve_batch(field, d.t0, y0s, p.times, &p.opts, 0).map_err(solve_failure)?;
    let mut input = vec![0.0; d.input_len];
    let mut scratch = Vec::new();
    let mut value = 0.0;
    for b in 0..d.n_traj {
        p.fill(b, sol.trajectory(b), &sol.stats[b], &mut input);
        value += p.value_at(field.params(), &input, &mut scratch) / d.n_traj as f64;
    }
    Ok(value)
}

/// The loss value and its gradient into `grad` (overwritten).
fn with_gradient(p: &Prepared<'_>, field: &KernelField<'_>, y0s: &[f64], grad: &mut [f64]) -> Result<f64, Failure> {
    let d = p.desc;
    let params = field.params();
    let (n_traj, rows) = (d.n_traj, d.n_times * (y0s.len() / d.n_traj));
    let weight = 1.0 / n_traj as f64;
    let t0s = vec![d.t0; n_traj];
    let saveat = p.times.repeat(n_traj);
    let mut value = 0.0;
    let mut direct = vec![0.0; params.len()];
    let mut input = vec![0.0; d.input_len];
    let mut d_input = vec![0.0; d.input_len];
    let mut scratch = Vec::new();
    let mut cotangent = |sol: &nde_runtime::BatchSolution| {
        let mut cot = BatchCotangent::zeros(n_traj, rows);
        for b in 0..n_traj {
            p.fill(b, sol.trajectory(b), &sol.stats[b], &mut input);
            value += p.value_at(params, &input, &mut scratch) / n_traj as f64;
            p.gradient_at(params, &input, weight, &mut d_input, &mut direct, &mut scratch);
            cot.y[b * rows..(b + 1) * rows].copy_from_slice(&d_input[..rows]);
        }
        cot
    };
    let times = BatchTimes::PerTrajectory { t0: &t0s, saveat: &saveat };
    let (_, g) =
        gradient_batch(field, times, y0s, &p.opts, p.adjoint, 0, None, &mut cotangent).map_err(solve_failure)?;
    grad.copy_from_slice(&g.params);
    for (a, b) in grad.iter_mut().zip(&direct) {
        *a += b;
    }
    if let Some((_, init_vjp)) = &p.init {
        let n = y0s.len() / n_traj;
        let mut out = vec![0.0; init_vjp.out_len];
        let mut scratch = vec![0.0; init_vjp.scratch_len];
        for b in 0..n_traj {
            // SAFETY: the library's live code; buffers of the kernel's sizes (checked in `new`).
            unsafe { init_vjp.call(params, d.t0, &g.y0[b * n..(b + 1) * n], &mut out, &mut scratch) };
            for (a, v) in grad.iter_mut().zip(&out[out.len() - params.len()..]) {
                *a += v;
            }
        }
    }
    Ok(value)
}

/// Loss `index` of the handle's model at the handle's parameters: its value
/// into `*value` and, when `grad` is not null, its gradient with respect to
/// the parameters into `grad` (`grad_len` = `n_param`; null `grad` with
/// `grad_len` 0 for the value alone).
///
/// # Safety
/// `h` as for the other calls; `value` null or writable; `grad` null or
/// pointing to `grad_len` writable values.
#[no_mangle]
pub unsafe extern "C" fn nde_embed_loss(
    h: *const Handle,
    index: usize,
    value: *mut f64,
    grad: *mut f64,
    grad_len: usize,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let h = unsafe { handle(h) }?;
        let d = h.desc;
        // SAFETY: a descriptor `nde build` wrote.
        let losses = unsafe { d.losses() };
        let l = losses.get(index).ok_or_else(|| {
            let n = losses.len();
            Failure::new(Code::Option, format!("loss {index} of `{}`, which exports {n}", model_name(h)))
        })?;
        if value.is_null() {
            return Err(Failure::new(Code::Null, "`value` is null"));
        }
        let grad = if grad.is_null() && grad_len == 0 {
            None
        } else {
            // SAFETY: the caller's contract.
            let g = unsafe { output("grad", grad, grad_len) }?;
            expect_len("grad_len", grad_len, h.params.len(), "the model's number of parameters")?;
            Some(g)
        };
        // SAFETY: as above.
        let p = unsafe { Prepared::new(d, l) }?;
        let kernels = d.ode_kernels().ok_or_else(|| {
            Failure::new(Code::Internal, format!("the library of `{}` lacks a kernel", model_name(h)))
        })?;
        // SAFETY: the descriptor's kernels are this library's live code.
        let field = unsafe { KernelField::new(kernels, &h.params) };
        let y0s = p.initial_states(&h.params);
        let v = match grad {
            None => value_only(&p, &field, &y0s)?,
            Some(g) => with_gradient(&p, &field, &y0s, g)?,
        };
        // SAFETY: non-null (checked above), writable by the caller's contract.
        unsafe { *value = v };
        Ok(())
    })
}

#[cfg(test)]
mod tests;
