//! The fixed-step time loop: steps of `dt` from `t0`, the last one
//! shortened to end exactly at the last save time, save times filled by the
//! method's dense output (cubic Hermite for Euler/Midpoint/Heun/RK4 and
//! Bosh3; the methods' own interpolants for Tsit5/Dopri5 run at fixed step).
//!
//! Step `i` ends at `t0 + (i+1)·dt` (computed afresh, so rounding does not
//! accumulate); an end beyond `t_end - 100 ulp` becomes `t_end`.
//! Evaluation count: `1 + (SLOTS - 1)·steps`, e.g. `1 + 4·steps` for RK4
//! (three inner stages plus `f(t1, y1)`, which is the next step's first
//! stage). A NaN/inf state or derivative fails at once with
//! [`SolveError::NonFinite`] (there is no rejection to fall back on).
//! Methods with an error estimate still measure it, with `opts.rtol` and
//! `opts.atol`, for the regularisers in [`Stats`] (as the adaptive driver
//! does, one pass over the state per step).
//! Never allocates.

use super::explicit_rk::{error_norm, step, stiffness, Workspace};
use super::{save_step, start, ulps_below, Problem, Scheme, StepObserver};
use crate::error::SolveError;
use crate::solution::Stats;
use crate::solve::SolveOptions;

/// Integrates `p` with method `S` at constant step `dt` (validated `> 0`),
/// writing one row of `out` per save time. Of `opts`, only `max_steps`
/// and the tolerances (which only scale the local-error regulariser) are
/// read.
pub(crate) fn integrate<S: Scheme>(
    p: &Problem<'_>,
    dt: f64,
    opts: &SolveOptions,
    ws: &mut Workspace,
    out: &mut [f64],
) -> Result<Stats, SolveError> {
    integrate_observed::<S, ()>(p, dt, opts, ws, out, &mut ())
}

/// [`integrate`], showing every step to `obs` (after its saves, before the
/// workspace moves on). With `()` this is [`integrate`].
pub(crate) fn integrate_observed<S: Scheme, O: StepObserver>(
    p: &Problem<'_>,
    dt: f64,
    opts: &SolveOptions,
    ws: &mut Workspace,
    out: &mut [f64],
    obs: &mut O,
) -> Result<Stats, SolveError> {
    if let Some(stats) = start(p, ws, out)? {
        return Ok(stats);
    }
    let (max_steps, rtol, atol) = (opts.max_steps, opts.rtol, opts.atol);
    let (mut local_error, mut stiff) = (0.0, 0.0);
    let n = ws.n;
    let t_end = p.t_end();
    let floor = ulps_below(t_end, 100);
    let mut tprev = p.t0;
    let mut steps = 0u64;
    let mut next_save = 0;
    while tprev < t_end {
        if steps >= max_steps as u64 {
            return Err(SolveError::MaxStepsReached { t: tprev, max_steps });
        }
        let proposed = p.t0 + (steps + 1) as f64 * dt;
        let tnext = if proposed > floor { t_end } else { proposed };
        step::<S>(p.f, tprev, tnext, ws);
        let end = &ws.k[S::END_SLOT * n..(S::END_SLOT + 1) * n];
        let finite = ws.y_new.iter().zip(end).all(|(y, k)| y.is_finite() && k.is_finite());
        if !finite {
            return Err(SolveError::NonFinite { t: tnext });
        }
        let h = tnext - tprev;
        local_error += error_norm::<S>(h, rtol, atol, ws) * h.abs();
        stiff += stiffness::<S>(ws) * h.abs();
        save_step::<S>(p.saveat, &mut next_save, tprev, tnext, ws, out);
        obs.accepted(tprev, tnext, ws);
        ws.accept(S::END_SLOT);
        steps += 1;
        tprev = tnext;
    }
    Ok(Stats { nfe: ws.nfe, accepted: steps, rejected: 0, local_error, stiffness: stiff, ..Stats::default() })
}
