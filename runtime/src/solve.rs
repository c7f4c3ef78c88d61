//! The entry points: [`solve`], [`solve_batch`] and [`solve_fixed`].
//!
//! Owns [`SolveOptions`], the validation of options and times (every bad
//! input becomes a typed [`SolveError`], never a panic), the dispatch from a
//! [`Method`] to its monomorphised driver, and the spreading of a batch over
//! worker threads. The numerics live in [`crate::solver`] and
//! [`crate::stepsize`]; this module never steps.

use rayon::prelude::*;

use crate::error::SolveError;
use crate::solution::{BatchSolution, Solution, Stats};
use crate::solver::{self, Problem, Scheme, Workspace};
use crate::term::VectorField;

pub use crate::solver::Method;
pub use crate::stepsize::Controller;

/// How to solve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SolveOptions {
    pub method: Method,
    /// Relative tolerance (adaptive methods).
    pub rtol: f64,
    /// Absolute tolerance (adaptive methods).
    pub atol: f64,
    /// The step size of fixed-step methods (required for them); for
    /// adaptive methods the first step (`None`: diffrax's heuristic).
    pub dt: Option<f64>,
    /// Most steps attempted, accepted and rejected together, before giving
    /// up with [`SolveError::MaxStepsReached`].
    pub max_steps: usize,
    pub controller: Controller,
}

impl Default for SolveOptions {
    /// Tsit5 with `rtol = 1e-6` (about six correct digits for states of
    /// order one) and `atol = 1e-9` (guarding components near zero), the
    /// diffrax heuristic for the first step, at most 100 000 steps, and
    /// diffrax's default (integral) controller.
    fn default() -> SolveOptions {
        SolveOptions {
            method: Method::Tsit5,
            rtol: 1e-6,
            atol: 1e-9,
            dt: None,
            max_steps: 100_000,
            controller: Controller::default(),
        }
    }
}

fn invalid(what: String) -> SolveError {
    SolveError::InvalidOptions { what }
}

fn bad_times(what: String) -> SolveError {
    SolveError::InvalidTimes { what }
}

/// Checks a start time and save times (ODE and SDE solves alike): finite,
/// non-decreasing, at least one, none before `t0`.
pub(crate) fn validate_times(t0: f64, saveat: &[f64]) -> Result<(), SolveError> {
    if !t0.is_finite() {
        return Err(bad_times(format!("the start time t0 = {t0} is not finite")));
    }
    let Some(&first) = saveat.first() else {
        return Err(bad_times("no output times were given (at least the end time is needed)".into()));
    };
    if let Some((i, t)) = saveat.iter().enumerate().find(|(_, t)| !t.is_finite()) {
        return Err(bad_times(format!("output time #{i} is {t}, not a finite number")));
    }
    if let Some(i) = (1..saveat.len()).find(|&i| saveat[i] < saveat[i - 1]) {
        return Err(bad_times(format!(
            "output times must be non-decreasing, but #{i} = {} comes after {}",
            saveat[i],
            saveat[i - 1]
        )));
    }
    if first < t0 {
        return Err(bad_times(format!(
            "output time {first} is before the start time t0 = {t0} (integrating backwards is not supported)"
        )));
    }
    Ok(())
}

/// Checks everything but the initial state's values. `fixed` says the
/// solve runs at a constant step (so tolerances are unused).
pub(crate) fn validate(n: usize, t0: f64, saveat: &[f64], opts: &SolveOptions, fixed: bool) -> Result<(), SolveError> {
    if n == 0 {
        return Err(invalid("the system has no state variables".into()));
    }
    validate_times(t0, saveat)?;
    if opts.max_steps == 0 {
        return Err(invalid("max_steps must be at least 1".into()));
    }
    match opts.dt {
        Some(dt) if !(dt.is_finite() && dt > 0.0) => {
            return Err(invalid(format!("the step size dt must be a positive finite number, got {dt}")));
        }
        None if fixed => {
            return Err(invalid(format!("{} is a fixed-step method: give a step size dt", opts.method.name())));
        }
        _ => {}
    }
    if !fixed {
        for (name, v) in [("rtol", opts.rtol), ("atol", opts.atol)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(format!("{name} must be a finite number >= 0, got {v}")));
            }
        }
        if opts.rtol == 0.0 && opts.atol == 0.0 {
            return Err(invalid("rtol and atol cannot both be 0".into()));
        }
        opts.controller.validate()?;
    }
    Ok(())
}

/// Runs one trajectory with the driver `S` (fixed step if `fixed`).
fn run<S: Scheme>(
    p: &Problem<'_>,
    opts: &SolveOptions,
    fixed: bool,
    ws: &mut Workspace,
    out: &mut [f64],
) -> Result<Stats, SolveError> {
    match (fixed, opts.dt) {
        (true, Some(dt)) => solver::integrate_fixed::<S>(p, dt, opts, ws, out),
        // Validation guarantees a step for fixed solves.
        (true, None) => Err(invalid(format!("{} at fixed step needs a step size dt", opts.method.name()))),
        (false, _) => solver::integrate_adaptive::<S>(p, opts, ws, out),
    }
}

/// One trajectory: dispatches on the method (validated problem and options).
fn integrate_one(
    p: &Problem<'_>,
    opts: &SolveOptions,
    fixed: bool,
    ws: &mut Workspace,
    out: &mut [f64],
) -> Result<Stats, SolveError> {
    match opts.method {
        Method::Euler => run::<solver::Euler>(p, opts, fixed, ws, out),
        Method::Midpoint => run::<solver::Midpoint>(p, opts, fixed, ws, out),
        Method::Heun => run::<solver::Heun>(p, opts, fixed, ws, out),
        Method::Rk4 => run::<solver::Rk4>(p, opts, fixed, ws, out),
        Method::Bosh3 => run::<solver::Bosh3>(p, opts, fixed, ws, out),
        Method::Dopri5 => run::<solver::Dopri5>(p, opts, fixed, ws, out),
        Method::Tsit5 => run::<solver::Tsit5>(p, opts, fixed, ws, out),
    }
}

fn solve_impl(
    f: &dyn VectorField,
    t0: f64,
    y0: &[f64],
    saveat: &[f64],
    opts: &SolveOptions,
    fixed: bool,
) -> Result<Solution, SolveError> {
    let n = f.dim();
    validate(n, t0, saveat, opts, fixed)?;
    if y0.len() != n {
        return Err(invalid(format!(
            "the initial state has {} values but the system has {n} state variables",
            y0.len()
        )));
    }
    let mut ws = Workspace::new(n, opts.method.slots(), f.scratch_len());
    let mut y = vec![0.0; saveat.len() * n];
    let p = Problem { f, t0, y0, saveat };
    let stats = integrate_one(&p, opts, fixed, &mut ws, &mut y)?;
    Ok(Solution { t: saveat.to_vec(), y, n_state: n, stats })
}

/// Solves `y' = f(t, y)` from `(t0, y0)`, returning the state at each time
/// in `saveat` (sorted, non-decreasing, all `>= t0`; the integration ends at
/// the last one). `saveat` may include `t0`.
///
/// Adaptive methods step as diffrax does (same PID controller, accept rule
/// and end-of-interval clipping; the first step is `opts.dt` or else the
/// heuristic of [`crate::stepsize::initial_step`]) and fill save times by
/// dense output, never shortening a step to hit one. Fixed-step methods
/// need `opts.dt` (see [`solve_fixed`] for their conventions).
pub fn solve(
    f: &dyn VectorField,
    t0: f64,
    y0: &[f64],
    saveat: &[f64],
    opts: &SolveOptions,
) -> Result<Solution, SolveError> {
    solve_impl(f, t0, y0, saveat, opts, !opts.method.is_adaptive())
}

/// Solves with `opts.method` at the constant step `opts.dt` (required),
/// even if the method is adaptive (its error estimate is then unused; this
/// is how convergence orders are measured). Steps end at `t0 + i·dt`, the
/// last one shortened to end exactly at the last save time; save times in
/// between are filled by the method's dense output (cubic Hermite from the
/// states and derivatives at both ends of the step, except Tsit5 and Dopri5
/// which use their own interpolants). Costs `1 + (evaluations per step) ·
/// steps` evaluations, where non-FSAL methods count `f(t1, y1)` in their
/// steps (Euler 1, Midpoint/Heun 2, RK4 4, Bosh3 3, Tsit5/Dopri5 6).
pub fn solve_fixed(
    f: &dyn VectorField,
    t0: f64,
    y0: &[f64],
    saveat: &[f64],
    opts: &SolveOptions,
) -> Result<Solution, SolveError> {
    solve_impl(f, t0, y0, saveat, opts, true)
}

/// `y0s` holds `batch` initial states back to back. Each trajectory has its
/// own step size (ensemble semantics) and is solved exactly as [`solve`]
/// would solve it alone, so results are bit-for-bit the same whatever the
/// number of threads. The batch is spread over `threads` worker threads
/// (0 = rayon's global pool, one thread per core; 1 = the calling thread).
/// The first failing trajectory (lowest index) is reported as
/// [`SolveError::InBatch`]; invalid options or times are reported directly.
pub fn solve_batch(
    f: &dyn VectorField,
    t0: f64,
    y0s: &[f64],
    saveat: &[f64],
    opts: &SolveOptions,
    threads: usize,
) -> Result<BatchSolution, SolveError> {
    let n = f.dim();
    let fixed = !opts.method.is_adaptive();
    validate(n, t0, saveat, opts, fixed)?;
    let batch = y0s.len() / n;
    if batch * n != y0s.len() {
        return Err(invalid(format!(
            "the initial states hold {} values, not a multiple of the state length {n}",
            y0s.len()
        )));
    }
    let rows = saveat.len() * n;
    let mut y = vec![0.0; batch * rows];
    let mut results: Vec<Result<Stats, SolveError>> = vec![Ok(Stats::default()); batch];
    let (slots, scratch_len) = (opts.method.slots(), f.scratch_len());
    let new_ws = || Workspace::new(n, slots, scratch_len);
    let one = |ws: &mut Workspace, y0: &[f64], out: &mut [f64]| {
        integrate_one(&Problem { f, t0, y0, saveat }, opts, fixed, ws, out)
    };

    let parallel = |y: &mut Vec<f64>, results: &mut Vec<Result<Stats, SolveError>>| {
        y.par_chunks_mut(rows)
            .zip(y0s.par_chunks(n))
            .zip(results.par_iter_mut())
            .for_each_init(new_ws, |ws, ((out, y0), r)| *r = one(ws, y0, out));
    };
    // The global pool serves a request for its own size (no pool built per call).
    let threads = if threads == rayon::current_num_threads() { 0 } else { threads };
    let pool =
        if threads > 1 && batch > 1 { rayon::ThreadPoolBuilder::new().num_threads(threads).build().ok() } else { None };
    match (threads, pool) {
        (0, _) if batch > 1 => parallel(&mut y, &mut results),
        (_, Some(pool)) => pool.install(|| parallel(&mut y, &mut results)),
        // One thread, one trajectory, or no pool could be built: the calling
        // thread does it all (same results).
        _ => {
            let mut ws = new_ws();
            for ((out, y0), r) in y.chunks_exact_mut(rows).zip(y0s.chunks_exact(n)).zip(&mut results) {
                *r = one(&mut ws, y0, out);
            }
        }
    }

    let mut stats = Vec::with_capacity(batch);
    for (index, r) in results.into_iter().enumerate() {
        match r {
            Ok(s) => stats.push(s),
            Err(error) => return Err(SolveError::InBatch { index, error: Box::new(error) }),
        }
    }
    Ok(BatchSolution { t: saveat.to_vec(), t_each: Vec::new(), y, batch, n_state: n, stats })
}
