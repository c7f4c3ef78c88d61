//! The adaptive time loop: attempt a step, measure its error, let the PID
//! controller accept or reject it and pick the next step, save by dense
//! output.
//!
//! Mirrors diffrax's `_integrate.py::loop` so that step counts agree: times
//! are carried as `(tprev, tnext)` and the step is `tnext - tprev`; after a
//! decision the next interval is `[t, t + h·factor]` with `t = tnext` on
//! accept and `tprev` on reject, and a proposed end beyond `t_end - 100 ulp`
//! becomes `t_end` on accept and the midpoint of what remains on reject.
//!
//! Evaluation count: 1 for `f(t0, y0)` (reused as the first stage), 1 more
//! for the initial-step heuristic when `dt` is not given, then `SLOTS - 1`
//! per attempted step (6 for Tsit5/Dopri5, 3 for Bosh3). With `dt =
//! Some(0.01)` this is exactly diffrax 0.7.2's count for `dt0=None`, which in
//! fact starts at 0.01 (see [`crate::stepsize::initial_step`]).
//!
//! Every accepted step also adds its `EEst · |h|` and `S · |h|` (the
//! stiffness estimate, see [`super::explicit_rk::stiffness`]) to the
//! regularisers in [`Stats`]: one pass over the state, no evaluations.
//!
//! Failure: more than `max_steps` attempts; a proposed step below
//! [`min_step`] — reported as [`SolveError::NonFinite`] if the step that
//! forced it was rejected for a NaN/inf, else as
//! [`SolveError::StepSizeTooSmall`]. Never allocates.

use super::explicit_rk::{error_norm, step, stiffness, Workspace};
use super::{save_step, start, ulps_below, Problem, Scheme, StepObserver};
use crate::error::SolveError;
use crate::solution::Stats;
use crate::solve::SolveOptions;
use crate::stepsize::{min_step, next_step_end, select_initial_step, InitBufs, Pid};

/// Integrates `p` with the adaptive method `S`, writing one row of `out`
/// per save time.
pub(crate) fn integrate<S: Scheme>(
    p: &Problem<'_>,
    opts: &SolveOptions,
    ws: &mut Workspace,
    out: &mut [f64],
) -> Result<Stats, SolveError> {
    integrate_observed::<S, ()>(p, opts, ws, out, &mut ())
}

/// [`integrate`], showing every accepted step to `obs` (after its saves,
/// before the workspace moves on). With `()` this is [`integrate`].
pub(crate) fn integrate_observed<S: Scheme, O: StepObserver>(
    p: &Problem<'_>,
    opts: &SolveOptions,
    ws: &mut Workspace,
    out: &mut [f64],
    obs: &mut O,
) -> Result<Stats, SolveError> {
    if let Some(stats) = start(p, ws, out)? {
        return Ok(stats);
    }
    let n = ws.n;
    let t_end = p.t_end();
    let error_order = S::TABLEAU.error_order();
    let h0 = match opts.dt {
        Some(dt) => dt,
        None => {
            let (f0, rest) = ws.k.split_at_mut(n);
            let bufs = InitBufs { f0, y1: &mut ws.ytmp, f1: &mut rest[..n], scratch: &mut ws.scratch };
            ws.nfe += 1;
            select_initial_step(p.f, p.t0, p.y0, opts.rtol, opts.atol, error_order, bufs)
        }
    };
    let floor = ulps_below(t_end, 100);
    let mut pid = Pid::new(&opts.controller, error_order);
    let (rtol, atol) = (opts.rtol, opts.atol);
    let mut tprev = p.t0;
    let mut tnext = (p.t0 + h0).min(t_end);
    let mut next_save = 0;
    let (mut accepted, mut rejected) = (0u64, 0u64);
    let mut next_h = h0;
    let (mut local_error, mut stiff) = (0.0, 0.0);

    while tprev < t_end {
        if accepted + rejected >= opts.max_steps as u64 {
            return Err(SolveError::MaxStepsReached { t: tprev, max_steps: opts.max_steps });
        }
        step::<S>(p.f, tprev, tnext, ws);
        let h = tnext - tprev;
        let eest = error_norm::<S>(h, rtol, atol, ws);
        let (accept, factor) = pid.adapt(eest);
        let dt = h * factor;
        next_h = dt;
        let next_t0 = if accept {
            local_error += eest * h.abs();
            stiff += stiffness::<S>(ws) * h.abs();
            save_step::<S>(p.saveat, &mut next_save, tprev, tnext, ws, out);
            obs.accepted(tprev, tnext, ws);
            ws.accept(S::END_SLOT);
            accepted += 1;
            tnext
        } else {
            rejected += 1;
            tprev
        };
        tprev = next_t0.min(t_end);
        tnext = next_step_end(tprev, next_t0 + dt, accept, floor, t_end);
        if tprev < t_end && dt < min_step(tprev) {
            return Err(if !accept && eest.is_infinite() {
                SolveError::NonFinite { t: tprev }
            } else {
                SolveError::StepSizeTooSmall { t: tprev, h: dt }
            });
        }
    }
    // Unreachable in exact arithmetic (the last accepted step ends at
    // `t_end`, the last save time), kept so every row is always written.
    while next_save < p.saveat.len() {
        out[next_save * n..(next_save + 1) * n].copy_from_slice(&ws.y);
        next_save += 1;
    }
    obs.finished(next_h);
    Ok(Stats { nfe: ws.nfe, accepted, rejected, local_error, stiffness: stiff, ..Stats::default() })
}
