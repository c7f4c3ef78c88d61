//! `auto`: Tsit5 while the problem is not stiff, Rodas5 while it is, with
//! the switch decided from the stiffness estimate every explicit step
//! already computes (in the spirit of OrdinaryDiffEq's
//! `AutoTsit5(Rodas5())` and of LSODA).
//!
//! Owns [`AutoOptions`], [`Switch`], [`AutoSolution`], [`solve_auto`] and
//! the switching rule. The steps themselves are the explicit stepper's
//! ([`crate::solver`]) and Rodas5's ([`super::rodas5`]); this module only
//! runs the common time loop (the `(tprev, tnext)` bookkeeping of
//! `solver/adaptive.rs` and `onestep.rs`) and moves the state between them.
//!
//! # The rule
//!
//! Let `B` = [`TSIT5_STABILITY_BOUNDARY`], where Tsit5's region of absolute
//! stability meets the negative real axis.
//! - **To stiff**: after every accepted Tsit5 step of size `h`, the
//!   stiffness estimate `S = ‖f(Y7) − f(Y6)‖ / ‖Y7 − Y6‖` (the one summed in
//!   [`crate::Stats::stiffness`], an estimate of the dominant `|λ|` of
//!   `∂f/∂y`) says the step sits on the stability boundary when
//!   `h·S > STIFF_TOL·B` (`STIFF_TOL = 0.9`): the step size is limited by
//!   stability, not accuracy. After [`AutoOptions::max_stiff_steps`] such
//!   steps (default 10) without that many unlimited steps in a row between
//!   them, the solve continues from the current point with Rodas5, from
//!   twice the step Tsit5 would have taken next. (At the stability boundary
//!   the controller cycles: steps just above `B/S` are rejected, and the
//!   accepted ones alternate around `0.9·B/S`, so "in a row" alone would
//!   rarely fire, as on Robertson's problem at tight tolerances.)
//! - **Back to non-stiff** ([`AutoOptions::switch_back`]): after every
//!   accepted Rodas5 step, `ρ = ‖J‖∞` (an upper bound of the spectral radius
//!   of the Jacobian Rodas5 just used, so the test errs towards staying
//!   stiff) is compared with the step: `h·ρ < NONSTIFF_TOL·B`
//!   (`NONSTIFF_TOL = 0.9`) means Tsit5 could take this step stably. After
//!   [`AutoOptions::max_nonstiff_steps`] such steps in a row (default 3) the
//!   solve continues with Tsit5, from a step no larger than
//!   `NONSTIFF_TOL·B/ρ`.
//!
//! Counters reset at each switch, rejected steps neither count nor reset,
//! and no switch happens on the last step. The numbers (10 stiff steps, 3
//! non-stiff steps, tolerance 0.9, step factor 2) are OrdinaryDiffEq's
//! `AutoSwitch` defaults.
//!
//! Tsit5 runs with [`SolveOptions`]'s default controller and Rodas5 with
//! [`Controller::pi`], each as in its own solver; each switch starts the
//! new controller's error history afresh. A problem that never becomes stiff
//! is therefore solved by exactly Tsit5's steps, with the same bits as
//! [`crate::solve()`] with [`crate::Method::Tsit5`] and the same
//! statistics.

use super::onestep::{judge, save_step as save_stiff, OneStep};
use super::rodas5::Rodas5;
use super::work::{self, collapse_error, Work};
use super::{validate, JacField, StiffMethod, StiffOptions};
use crate::error::SolveError;
use crate::solution::{Solution, Stats};
use crate::solve::SolveOptions;
use crate::solver::{self, error_norm, save_step, step, stiffness, ulps_below, Scheme, Tsit5, Workspace};
use crate::stepsize::{min_step, next_step_end, select_initial_step, InitBufs, Pid};
use crate::term::VectorField;

/// Where Tsit5's region of absolute stability crosses the negative real
/// axis: `|R(−x)| ≤ 1` for `0 ≤ x ≤ B` (computed from the tableau in the
/// tests, to 4 digits).
pub const TSIT5_STABILITY_BOUNDARY: f64 = 3.5068;

/// `h·S` above `STIFF_TOL·B` counts as a stability-limited step.
const STIFF_TOL: f64 = 0.9;
/// `h·ρ` below `NONSTIFF_TOL·B` counts as a step Tsit5 could take.
const NONSTIFF_TOL: f64 = 0.9;
/// The step Rodas5 starts from, as a multiple of Tsit5's next step.
const STIFF_STEP_FACTOR: f64 = 2.0;

/// How to run `auto`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AutoOptions {
    /// Relative tolerance (both methods).
    pub rtol: f64,
    /// Absolute tolerance (both methods).
    pub atol: f64,
    /// The first step (`None`: the initial-step heuristic).
    pub dt: Option<f64>,
    /// Most steps attempted by both methods together.
    pub max_steps: usize,
    /// Stability-limited Tsit5 steps in a row before switching to Rodas5.
    pub max_stiff_steps: u32,
    /// Rodas5 steps in a row that Tsit5 could take before switching back.
    pub max_nonstiff_steps: u32,
    /// Whether to switch back to Tsit5 when the problem stops being stiff.
    pub switch_back: bool,
}

impl Default for AutoOptions {
    /// `rtol = 1e-6`, `atol = 1e-9`, the initial-step heuristic, at most
    /// 100 000 steps, OrdinaryDiffEq's switching counts (10 and 3), and
    /// switching back allowed.
    fn default() -> AutoOptions {
        AutoOptions {
            rtol: 1e-6,
            atol: 1e-9,
            dt: None,
            max_steps: 100_000,
            max_stiff_steps: 10,
            max_nonstiff_steps: 3,
            switch_back: true,
        }
    }
}

/// One switch of an `auto` solve: at time `t`, to the stiff method
/// (`to_stiff`) or back to the explicit one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Switch {
    pub t: f64,
    pub to_stiff: bool,
}

/// An `auto` solve's result: the solution (its `stats.switches` counts the
/// switches) and where they happened.
#[derive(Clone, Debug, PartialEq)]
pub struct AutoSolution {
    pub solution: Solution,
    pub switches: Vec<Switch>,
}

/// Solves `y' = f(t, y)` from `(t0, y0)` with `auto`, saving at `saveat`
/// (sorted, all `>= t0`; the solve ends at the last one). Failures are those
/// of [`crate::solve()`] in the Tsit5 stretches and of [`super::solve_stiff`]
/// in the Rodas5 ones.
pub fn solve_auto(
    field: &dyn JacField,
    t0: f64,
    y0: &[f64],
    saveat: &[f64],
    opts: &AutoOptions,
) -> Result<AutoSolution, SolveError> {
    let n = field.dim();
    let stiff_opts = StiffOptions {
        method: StiffMethod::Rodas5,
        rtol: opts.rtol,
        atol: opts.atol,
        dt: opts.dt,
        max_steps: opts.max_steps,
        ..StiffOptions::default()
    };
    validate(n, y0, t0, saveat, &stiff_opts)?;
    let mut out = vec![0.0; saveat.len() * n];
    let mut switches = Vec::new();
    let stats = integrate(field, t0, y0, saveat, opts, &stiff_opts, &mut out, &mut switches)?;
    Ok(AutoSolution { solution: Solution { t: saveat.to_vec(), y: out, n_state: n, stats }, switches })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Explicit,
    Stiff,
}

/// The time loop of [`solve_auto`] on a validated problem.
#[allow(clippy::too_many_arguments)]
fn integrate(
    field: &dyn JacField,
    t0: f64,
    y0: &[f64],
    saveat: &[f64],
    opts: &AutoOptions,
    stiff_opts: &StiffOptions,
    out: &mut [f64],
    switches: &mut Vec<Switch>,
) -> Result<Stats, SolveError> {
    let n = field.dim();
    // The explicit stepper sees the field as a plain vector field.
    let plain: &dyn VectorField = field;
    let problem = solver::Problem { f: plain, t0, y0, saveat };
    let mut ws = Workspace::new(n, Tsit5::SLOTS, field.scratch_len());
    if let Some(stats) = solver::start(&problem, &mut ws, out)? {
        return Ok(stats);
    }
    let explicit_controller = SolveOptions::default().controller;
    let (rtol, atol) = (opts.rtol, opts.atol);
    let error_order = Tsit5::TABLEAU.error_order();
    let h0 = match opts.dt {
        Some(dt) => dt,
        None => {
            let (f0, rest) = ws.k.split_at_mut(n);
            let bufs = InitBufs { f0, y1: &mut ws.ytmp, f1: &mut rest[..n], scratch: &mut ws.scratch };
            ws.nfe += 1;
            select_initial_step(plain, t0, y0, rtol, atol, error_order, bufs)
        }
    };
    // The stiff side: Rodas5 with its own state and end derivative.
    let stiff_problem = work::Problem { f: field, t0, y0, saveat };
    let mut work = Work::new(field, rtol, atol);
    let mut rodas = Rodas5::new(&work, stiff_opts);
    let (mut y, mut f0, mut f1) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut fresh_point = true;
    let mut singular_run = 0u32;

    let t_end = stiff_problem.t_end();
    let floor = ulps_below(t_end, 100);
    let mut phase = Phase::Explicit;
    let mut pid = Pid::new(&explicit_controller, error_order);
    let mut tprev = t0;
    let mut tnext = (t0 + h0).min(t_end);
    let mut next_save = 0;
    let (mut accepted, mut rejected) = (0u64, 0u64);
    let (mut local_error, mut stiff_sum) = (0.0, 0.0);
    // Accepted steps that argue for the other method (`calm`: Tsit5 steps in
    // a row that do not), and the last spectral-radius bound of the stiff
    // phase.
    let (mut run, mut calm, mut rho) = (0u32, 0u32, 0.0);

    while tprev < t_end {
        if accepted + rejected >= opts.max_steps as u64 {
            return Err(SolveError::MaxStepsReached { t: tprev, max_steps: opts.max_steps });
        }
        let h = tnext - tprev;
        let (accept, dt, failure, eest) = match phase {
            Phase::Explicit => {
                step::<Tsit5>(plain, tprev, tnext, &mut ws);
                let eest = error_norm::<Tsit5>(h, rtol, atol, &ws);
                let (accept, factor) = pid.adapt(eest);
                if accept {
                    local_error += eest * h.abs();
                    let s = stiffness::<Tsit5>(&ws);
                    stiff_sum += s * h.abs();
                    save_step::<Tsit5>(saveat, &mut next_save, tprev, tnext, &mut ws, out);
                    ws.accept(Tsit5::END_SLOT);
                    if h.abs() * s > STIFF_TOL * TSIT5_STABILITY_BOUNDARY {
                        (run, calm) = (run + 1, 0);
                    } else {
                        calm += 1;
                        if calm >= opts.max_stiff_steps {
                            run = 0;
                        }
                    }
                }
                (accept, h * factor, None, eest)
            }
            Phase::Stiff => {
                let outcome = rodas.attempt(&mut work, tprev, h, &y, &f0, fresh_point);
                fresh_point = false;
                // No hold: `auto`'s Rodas5 steps take the controller's factor as is.
                let (accept, factor, failure, eest) =
                    judge(outcome, &mut |eest| pid.adapt(eest), &mut singular_run, tprev, h)?;
                if accept {
                    // The Jacobian at the step's start (dense or sparse).
                    rho = work.jac_norm_inf();
                    save_stiff(&rodas, saveat, &mut next_save, tprev, tnext, &y, &f0, out);
                    y.copy_from_slice(rodas.y1());
                    rodas.end_derivative(&mut work, tnext, &mut f1);
                    std::mem::swap(&mut f0, &mut f1);
                    fresh_point = true;
                    run = if h.abs() * rho < NONSTIFF_TOL * TSIT5_STABILITY_BOUNDARY { run + 1 } else { 0 };
                }
                (accept, h * factor, failure, eest)
            }
        };
        let next_t0 = if accept {
            accepted += 1;
            tnext
        } else {
            rejected += 1;
            tprev
        };
        tprev = next_t0.min(t_end);
        // The switch, if due, changes the method and the next step size.
        let mut dt = dt;
        if accept && tprev < t_end {
            match phase {
                Phase::Explicit if run >= opts.max_stiff_steps => {
                    y.copy_from_slice(&ws.y);
                    f0.copy_from_slice(&ws.k[..n]);
                    fresh_point = true;
                    singular_run = 0;
                    phase = Phase::Stiff;
                    pid = Pid::new(&stiff_opts.controller, Rodas5::ERROR_ORDER);
                    dt *= STIFF_STEP_FACTOR;
                    (run, calm) = (0, 0);
                    switches.push(Switch { t: tprev, to_stiff: true });
                }
                Phase::Stiff if opts.switch_back && run >= opts.max_nonstiff_steps => {
                    ws.y.copy_from_slice(&y);
                    ws.k[..n].copy_from_slice(&f0);
                    phase = Phase::Explicit;
                    pid = Pid::new(&explicit_controller, error_order);
                    if rho > 0.0 {
                        dt = dt.min(NONSTIFF_TOL * TSIT5_STABILITY_BOUNDARY / rho);
                    }
                    (run, calm) = (0, 0);
                    switches.push(Switch { t: tprev, to_stiff: false });
                }
                _ => {}
            }
        }
        tnext = next_step_end(tprev, next_t0 + dt, accept, floor, t_end);
        if tprev < t_end && dt < min_step(tprev) {
            return Err(match phase {
                Phase::Explicit if !accept && eest.is_infinite() => SolveError::NonFinite { t: tprev },
                Phase::Explicit => SolveError::StepSizeTooSmall { t: tprev, h: dt },
                Phase::Stiff => collapse_error(tprev, dt, failure, !accept && eest.is_infinite()),
            });
        }
    }
    // Unreachable in exact arithmetic (the last step ends at the last save
    // time), kept so every row is always written.
    let last = if phase == Phase::Explicit { &ws.y } else { &y };
    while next_save < saveat.len() {
        out[next_save * n..(next_save + 1) * n].copy_from_slice(last);
        next_save += 1;
    }
    Ok(Stats {
        nfe: ws.nfe + work.stats.nfe,
        accepted,
        rejected,
        njev: work.stats.njev,
        nlu: work.stats.nlu,
        local_error,
        stiffness: stiff_sum,
        switches: switches.len() as u64,
        ..Stats::default()
    })
}

#[cfg(test)]
mod tests;
