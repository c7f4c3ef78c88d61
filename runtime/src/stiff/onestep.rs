//! The adaptive time loop of the one-step stiff methods (`rodas5`,
//! `kvaerno5`, `radau5`): attempt a step, let the step-size controller
//! judge its error (the PID controller, or the method's own:
//! [`OneStep::control`]), retry smaller after a Newton failure or a
//! singular matrix, save by dense output.
//!
//! Owns [`OneStep`] (what a method provides) and [`integrate`]. Times are
//! carried as `(tprev, tnext)` exactly as in the explicit driver
//! (`solver/adaptive.rs`, diffrax's loop), so the accept rule, the clipping
//! to the end and the step-size collapse check are the same.
//!
//! Rules on top of the explicit driver:
//! - an attempt that fails in its linear algebra or Newton iteration
//!   (rather than in its error estimate) is rejected with the step halved,
//!   without advancing the controller's error history (RADAU5's rule);
//! - a Jacobian with NaN/inf entries at an accepted state ends the solve
//!   with [`SolveError::SingularMatrix`] at once (no step can cure it); an
//!   exactly singular iteration matrix is retried with smaller steps, and
//!   ends the solve after [`MAX_SINGULAR`] retries in a row;
//! - methods that reuse their LU across steps ([`OneStep::HOLD`] > 1) keep
//!   the step unchanged when the controller would grow it by less than that
//!   factor, so the factors stay valid (RADAU5's `QUOT2 = 1.2`, the
//!   `qsteady_max` of OrdinaryDiffEq's implicit methods); a method with its
//!   own controller applies its own rule;
//! - with `adaptive = false` every step is accepted at the constant size
//!   `dt` (the last one shortened to end at the last save time), and any
//!   failure ends the solve;
//! - a step size below [`min_step`] ends the solve with the error that
//!   caused the last rejection: [`SolveError::NewtonFailure`],
//!   [`SolveError::SingularMatrix`], [`SolveError::NonFinite`] (a NaN state)
//!   or [`SolveError::StepSizeTooSmall`].

use super::dense::{DenseStep, StepObserver};
use super::work::{collapse_error, start, Failure, Problem, Work};
use super::StiffOptions;
use crate::error::SolveError;
use crate::solution::Stats;
use crate::solver::ulps_below;
use crate::stepsize::{min_step, next_step_end, Pid};

/// A step-size controller's verdict on an error estimate: `(accept,
/// factor)`, the next step being `h · factor`.
pub(crate) type Control<'c> = &'c mut dyn FnMut(f64) -> (bool, f64);

/// Consecutive attempts with an exactly singular iteration matrix before
/// the solve gives up.
pub(crate) const MAX_SINGULAR: u32 = 5;

/// An adaptive attempt's verdict: `(accept, step factor, failure, error)`.
/// A scaled error goes to the controller `control`; a singular matrix or a
/// Newton failure halves the step (after [`MAX_SINGULAR`] singular attempts
/// in a row, and for a non-finite Jacobian at once, the solve fails at
/// `t`).
pub(crate) fn judge(
    outcome: Result<f64, Failure>,
    control: Control<'_>,
    singular_run: &mut u32,
    t: f64,
    h: f64,
) -> Result<(bool, f64, Option<Failure>, f64), SolveError> {
    match outcome {
        Ok(eest) => {
            *singular_run = 0;
            let (accept, factor) = control(eest);
            Ok((accept, factor, None, eest))
        }
        Err(Failure::JacobianNotFinite) => Err(SolveError::SingularMatrix { t, h, not_finite: true }),
        Err(Failure::Singular) => {
            *singular_run += 1;
            if *singular_run > MAX_SINGULAR {
                return Err(SolveError::SingularMatrix { t, h, not_finite: false });
            }
            Ok((false, 0.5, Some(Failure::Singular), f64::NAN))
        }
        Err(Failure::Newton) => Ok((false, 0.5, Some(Failure::Newton), f64::NAN)),
    }
}

/// A one-step stiff method: its workspace and its step.
pub(crate) trait OneStep: Sized {
    /// The exponent denominator of the controller (and the initial-step
    /// heuristic): the order of the error estimate plus one.
    const ERROR_ORDER: u32;
    /// Keep `h` when the controller proposes growing it by less than this.
    const HOLD: f64;

    /// The method's workspace for a solve whose shared buffers are `work`.
    fn new(work: &Work<'_>, opts: &StiffOptions) -> Self;

    /// Accepts or rejects an attempt with scaled error `eest` and proposes
    /// the next step's factor. Default: the PID controller `pid`, keeping
    /// `h` when it would grow by less than [`OneStep::HOLD`].
    fn control(&mut self, eest: f64, pid: &mut Pid) -> (bool, f64) {
        let (accept, factor) = pid.adapt(eest);
        if accept && factor < Self::HOLD {
            return (accept, 1.0);
        }
        (accept, factor)
    }

    /// Attempts the step `[t, t + h]` from `y` (with `f0 = f(t, y)`),
    /// leaving the new state for [`OneStep::y1`]; returns the scaled error.
    /// `fresh_point` says `(t, y)` differs from the previous attempt's.
    fn attempt(
        &mut self,
        work: &mut Work<'_>,
        t: f64,
        h: f64,
        y: &[f64],
        f0: &[f64],
        fresh_point: bool,
    ) -> Result<f64, Failure>;

    /// The state at the end of the last attempt.
    fn y1(&self) -> &[f64];

    /// Writes `f(t + h, y1)` (or the method's stand-in for it) into `f1`
    /// after an accepted step, for the next step's first stage.
    fn end_derivative(&mut self, work: &mut Work<'_>, t1: f64, f1: &mut [f64]);

    /// The dense output at `t + theta·h` of the last attempted step, from
    /// `y` (with `f0`) at its start.
    fn dense(&self, theta: f64, h: f64, y: &[f64], f0: &[f64], out: &mut [f64]);

    /// Appends what [`OneStep::dense`] needs for the last attempted step
    /// (the layout of [`super::dense`]) to `data`.
    fn append_dense(&self, h: f64, y: &[f64], f0: &[f64], data: &mut Vec<f64>);
}

/// The dense output of the step just accepted, for a [`StepObserver`].
struct Accepted<'a, M> {
    method: &'a M,
    h: f64,
    y: &'a [f64],
    f0: &'a [f64],
}

impl<M: OneStep> DenseStep for Accepted<'_, M> {
    fn eval(&self, theta: f64, out: &mut [f64]) {
        self.method.dense(theta, self.h, self.y, self.f0, out);
    }
    fn append(&self, data: &mut Vec<f64>) {
        self.method.append_dense(self.h, self.y, self.f0, data);
    }
}

/// Integrates `p` with the method `M`, writing one row of `out` per save
/// time and showing `obs` every accepted step.
pub(crate) fn integrate<M: OneStep>(
    p: &Problem<'_>,
    opts: &StiffOptions,
    out: &mut [f64],
    obs: &mut dyn StepObserver,
) -> Result<Stats, SolveError> {
    let n = p.f.dim();
    let mut work = Work::new(p.f, opts.rtol, opts.atol);
    let mut y = p.y0.to_vec();
    let mut f0 = vec![0.0; n];
    let mut f1 = vec![0.0; n];
    if start(p, &mut work, &mut f0, out)? {
        return Ok(work.stats);
    }
    let mut method = M::new(&work, opts);
    let t_end = p.t_end();
    let h0 = work.first_step(p, opts.dt, M::ERROR_ORDER, &f0);
    let floor = ulps_below(t_end, 100);
    let mut pid = Pid::new(&opts.controller, M::ERROR_ORDER);
    let mut tprev = p.t0;
    let mut tnext = (p.t0 + h0).min(t_end);
    let mut next_save = 0;
    let mut fresh_point = true;
    let mut singular_run = 0u32;

    while tprev < t_end {
        if work.stats.accepted + work.stats.rejected >= opts.max_steps as u64 {
            return Err(SolveError::MaxStepsReached { t: tprev, max_steps: opts.max_steps });
        }
        let h = tnext - tprev;
        let outcome = method.attempt(&mut work, tprev, h, &y, &f0, fresh_point);
        fresh_point = false;
        let (accept, factor, failure, eest) = match outcome {
            Ok(eest) if !opts.adaptive => (true, 1.0, None, eest),
            Err(Failure::Newton) if !opts.adaptive => return Err(SolveError::NewtonFailure { t: tprev, h }),
            Err(Failure::Singular) if !opts.adaptive => {
                return Err(SolveError::SingularMatrix { t: tprev, h, not_finite: false })
            }
            outcome => judge(outcome, &mut |eest| method.control(eest, &mut pid), &mut singular_run, tprev, h)?,
        };
        let dt = match (opts.adaptive, opts.dt) {
            (false, Some(dt)) => dt,
            _ => h * factor,
        };
        let next_t0 = if accept {
            save_step(&method, p.saveat, &mut next_save, tprev, tnext, &y, &f0, out);
            obs.accepted(tprev, tnext, &Accepted { method: &method, h, y: &y, f0: &f0 });
            y.copy_from_slice(method.y1());
            method.end_derivative(&mut work, tnext, &mut f1);
            std::mem::swap(&mut f0, &mut f1);
            fresh_point = true;
            work.stats.accepted += 1;
            tnext
        } else {
            work.stats.rejected += 1;
            tprev
        };
        tprev = next_t0.min(t_end);
        tnext = next_step_end(tprev, next_t0 + dt, accept, floor, t_end);
        if tprev < t_end && dt < min_step(tprev) {
            return Err(collapse_error(tprev, dt, failure, !accept && eest.is_infinite()));
        }
    }
    // Unreachable in exact arithmetic (the last step ends at the last save
    // time), kept so every row is always written.
    while next_save < p.saveat.len() {
        out[next_save * n..(next_save + 1) * n].copy_from_slice(&y);
        next_save += 1;
    }
    Ok(work.stats)
}

/// Saves the dense output of the accepted step `[t0, t1]` at every pending
/// save time `<= t1` (the step's end state exactly at `t1`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn save_step<M: OneStep>(
    method: &M,
    saveat: &[f64],
    next: &mut usize,
    t0: f64,
    t1: f64,
    y: &[f64],
    f0: &[f64],
    out: &mut [f64],
) {
    let n = y.len();
    let h = t1 - t0;
    while let Some(&t) = saveat.get(*next) {
        if t > t1 {
            break;
        }
        let row = &mut out[*next * n..(*next + 1) * n];
        if t == t1 {
            row.copy_from_slice(method.y1());
        } else {
            method.dense((t - t0) / h, h, y, f0, row);
        }
        *next += 1;
    }
}
