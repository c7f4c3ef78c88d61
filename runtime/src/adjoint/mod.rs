//! Gradients through ODE solves: solve forwards, ask the caller for the
//! loss gradient at the save times, and pull it back to the initial state
//! and the parameters.
//!
//! Owns the public API — [`Adjoint`] (which method), [`gradient`],
//! [`gradient_fixed`], [`gradient_batch`], [`Gradient`], [`BatchGradient`] —
//! with its validation, the dispatch from a [`Method`] to code
//! monomorphised per scheme, and the spreading of batches over threads.
//! The numerics live in `reverse` (one RK step reversed), `discrete`
//! (checkpointing and the reverse sweep) and `continuous` (backsolve and
//! interpolated adjoints). Never prints; every bad input or numerical
//! failure is a [`SolveError`], never a panic.
//!
//! | method | gradient of | stored | backward cost |
//! |---|---|---|---|
//! | [`Adjoint::Discrete`] | the computed solution, exactly (step sizes constant) | `c + log₂ K + 1` states, one time per step | ≈ `N(1 + log₂K/2)` recomputed steps + one VJP per stage and step |
//! | [`Adjoint::Backsolve`] | the continuous problem (to ≈ tolerance); `y` drifts on dissipative problems | nothing | a backward solve of `[y, a, g]`: one evaluation + one VJP per RHS |
//! | [`Adjoint::Interpolated`] | the continuous problem (to ≈ tolerance) | the dense output, `(slots + 1)` states per step | a backward solve of `[a, g]`: one VJP per RHS |
//!
//! (`N` accepted steps, `c` checkpoints, `K < 2N/c` steps between them; see
//! `discrete` for the scheme.) Save times may fall between steps: the
//! discrete adjoint differentiates the dense output used there too.

mod continuous;
mod discrete;
mod reverse;

use rayon::prelude::*;

use crate::error::SolveError;
use crate::solution::{BatchSolution, Solution, Stats};
use crate::solve::{validate, Method, SolveOptions};
use crate::solver::{self, Problem, Scheme, StepObserver, Workspace};
use crate::term::{DiffField, VectorField};
use reverse::StepBufs;

/// How to differentiate through a solve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adjoint {
    /// Reverse mode through the solver's steps (discretise-then-optimise):
    /// the exact gradient of the computed solution, with the step sizes,
    /// the controller and the initial-step heuristic held constant (as
    /// diffrax's `RecursiveCheckpointAdjoint`). `checkpoints` bounds the
    /// states stored during the forward pass (`None`: about `log₂` of the
    /// number of steps; `Some(c)` with `c` at least the number of steps
    /// stores every state and recomputes each step once).
    Discrete { checkpoints: Option<usize> },
    /// The continuous adjoint solved backwards together with the state
    /// (O(1) memory; the state drifts on dissipative problems).
    Backsolve,
    /// The continuous adjoint solved backwards on the forward solve's
    /// dense output (memory linear in the number of steps).
    Interpolated,
}

impl Default for Adjoint {
    /// The discrete adjoint with the default checkpoint budget.
    fn default() -> Adjoint {
        Adjoint::Discrete { checkpoints: None }
    }
}

impl Adjoint {
    /// `"discrete"`, `"backsolve"` or `"interpolated"`.
    pub fn name(&self) -> &'static str {
        match self {
            Adjoint::Discrete { .. } => "discrete",
            Adjoint::Backsolve => "backsolve",
            Adjoint::Interpolated => "interpolated",
        }
    }
}

/// The gradient of a loss through one solve, and what it cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Gradient {
    /// `dL/dy0`.
    pub y0: Vec<f64>,
    /// `dL/dp`, in the field's parameter order.
    pub params: Vec<f64>,
    /// The forward solve's work (the returned solution's stats).
    pub forward: Stats,
    /// The backward pass's work: `nfe` counts VJP evaluations; `accepted`
    /// and `rejected` are its steps (discrete: the steps reversed).
    pub backward: Stats,
    /// Vector-field evaluations of the backward pass (discrete: recomputed
    /// forward steps; backsolve: the backward re-integration of `y`;
    /// interpolated: none).
    pub recomputed: u64,
    /// The most state-sized vectors stored at once that grow with the
    /// number of steps (discrete: checkpoints plus the bisection stack;
    /// interpolated: the dense output; backsolve: 0). Fixed work buffers
    /// (a few per stage) are not counted.
    pub peak_states: usize,
    /// Continuous adjoints: `y(t0)` as the backward pass saw it (backsolve:
    /// re-integrated backwards, so it shows the drift; interpolated: the
    /// dense output at `t0`, which is `y0`). `None` for the discrete adjoint.
    pub reconstructed_y0: Option<Vec<f64>>,
}

/// The gradient of a loss through a batch of solves sharing parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchGradient {
    /// `dL/dy0` per trajectory, row-major `[batch][n_state]`.
    pub y0: Vec<f64>,
    /// `dL/dp`: the sum over trajectories, added in trajectory order.
    pub params: Vec<f64>,
    /// Backward work per trajectory (see [`Gradient::backward`]).
    pub backward: Vec<Stats>,
    /// Backward evaluations per trajectory (see [`Gradient::recomputed`]).
    pub recomputed: Vec<u64>,
    /// The largest [`Gradient::peak_states`] of any trajectory.
    pub peak_states: usize,
}

/// Solves `y' = f(t, y; p)` as [`crate::solve()`] does (the same steps and
/// the same saved values) and differentiates a loss of the saved states.
///
/// `cotangent` is called once, with the forward solution, and returns
/// `dL/dy(saveat_i)` as rows `[saveat.len()][n_state]` (so the caller can
/// compute the loss from the solution first). Returns the solution and the
/// gradient with respect to `y0` and the field's parameters.
///
/// Errors: everything [`crate::solve()`] reports; an invalid checkpoint
/// budget or a cotangent of the wrong length ([`SolveError::InvalidOptions`]);
/// a non-finite cotangent or adjoint ([`SolveError::NonFiniteAdjoint`], with
/// the time); failures of the backward solve of the continuous adjoints (at
/// forward times).
pub fn gradient(
    f: &dyn DiffField,
    t0: f64,
    y0: &[f64],
    saveat: &[f64],
    opts: &SolveOptions,
    adjoint: Adjoint,
    cotangent: &mut dyn FnMut(&Solution) -> Vec<f64>,
) -> Result<(Solution, Gradient), SolveError> {
    let setup = Setup::new(f, t0, saveat, opts, adjoint, !opts.method.is_adaptive())?;
    dispatch(opts.method, Single { setup, y0, cotangent })
}

/// [`gradient`] of a solve at the constant step `opts.dt`, as
/// [`crate::solve::solve_fixed`] takes it (also for adaptive methods).
pub fn gradient_fixed(
    f: &dyn DiffField,
    t0: f64,
    y0: &[f64],
    saveat: &[f64],
    opts: &SolveOptions,
    adjoint: Adjoint,
    cotangent: &mut dyn FnMut(&Solution) -> Vec<f64>,
) -> Result<(Solution, Gradient), SolveError> {
    let setup = Setup::new(f, t0, saveat, opts, adjoint, true)?;
    dispatch(opts.method, Single { setup, y0, cotangent })
}

/// [`gradient`] for a batch of initial states `y0s` (back to back) sharing
/// the parameters and save times, each solved as [`crate::solve_batch`]
/// solves it. `cotangent` is called once with the whole batch solution and
/// returns rows `[batch][saveat.len()][n_state]`. The parameter gradient is
/// the sum over the trajectories, added in trajectory order, so the result
/// is bit-for-bit the same on any number of `threads` (0 = rayon's global
/// pool, 1 = the calling thread). The first failing trajectory is reported
/// as [`SolveError::InBatch`].
#[allow(clippy::too_many_arguments)]
pub fn gradient_batch(
    f: &dyn DiffField,
    t0: f64,
    y0s: &[f64],
    saveat: &[f64],
    opts: &SolveOptions,
    adjoint: Adjoint,
    threads: usize,
    cotangent: &mut dyn FnMut(&BatchSolution) -> Vec<f64>,
) -> Result<(BatchSolution, BatchGradient), SolveError> {
    let setup = Setup::new(f, t0, saveat, opts, adjoint, !opts.method.is_adaptive())?;
    dispatch(opts.method, Batch { setup, y0s, threads, cotangent })
}

/// Everything the passes of one gradient call share (validated).
struct Setup<'a> {
    f: &'a dyn DiffField,
    t0: f64,
    saveat: &'a [f64],
    opts: &'a SolveOptions,
    adjoint: Adjoint,
    /// Constant step `opts.dt`.
    fixed: bool,
    n: usize,
    p: usize,
}

impl<'a> Setup<'a> {
    fn new(
        f: &'a dyn DiffField,
        t0: f64,
        saveat: &'a [f64],
        opts: &'a SolveOptions,
        adjoint: Adjoint,
        fixed: bool,
    ) -> Result<Setup<'a>, SolveError> {
        let n = f.dim();
        validate(n, t0, saveat, opts, fixed)?;
        if adjoint == (Adjoint::Discrete { checkpoints: Some(0) }) {
            return Err(SolveError::InvalidOptions {
                what: "the discrete adjoint needs at least 1 checkpoint (or None for the default)".into(),
            });
        }
        Ok(Setup { f, t0, saveat, opts, adjoint, fixed, n, p: f.n_params() })
    }

    fn check_y0(&self, len: usize, batch: bool) -> Result<(), SolveError> {
        let n = self.n;
        let bad = if batch { !len.is_multiple_of(n) } else { len != n };
        if bad {
            let what = if batch {
                format!("the initial states hold {len} values, not a multiple of the state length {n}")
            } else {
                format!("the initial state has {len} values but the system has {n} state variables")
            };
            return Err(SolveError::InvalidOptions { what });
        }
        Ok(())
    }

    /// Checks a cotangent for `batch` trajectories: its length, then that
    /// every value is finite (else the first bad one's trajectory and time).
    fn check_cotangent(&self, cot: &[f64], batch: usize) -> Result<(), (Option<usize>, SolveError)> {
        let rows = self.saveat.len() * self.n;
        if cot.len() != batch * rows {
            let what = format!(
                "the loss gradient has {} values, but {batch} trajectory(s) × {} save times × {} states = {} \
                 were expected",
                cot.len(),
                self.saveat.len(),
                self.n,
                batch * rows
            );
            return Err((None, SolveError::InvalidOptions { what }));
        }
        if let Some(i) = cot.iter().position(|v| !v.is_finite()) {
            let (b, row) = (i / rows, (i % rows) / self.n);
            return Err((Some(b), SolveError::NonFiniteAdjoint { t: self.saveat[row] }));
        }
        Ok(())
    }
}

/// A [`DiffField`] seen as the [`VectorField`] the solvers take.
struct AsField<'a>(&'a dyn DiffField);

impl VectorField for AsField<'_> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn scratch_len(&self) -> usize {
        self.0.scratch_len()
    }
    fn eval(&self, t: f64, y: &[f64], dy: &mut [f64], scratch: &mut [f64]) {
        self.0.eval(t, y, dy, scratch)
    }
}

/// What the forward pass keeps for the backward pass.
enum Tape {
    Discrete(discrete::Tape),
    Backsolve,
    Interpolated(continuous::DenseTape),
}

/// The buffers of one worker, made once and reused for its trajectories.
struct Work {
    ws: Workspace,
    back: BackWork,
}

enum BackWork {
    Discrete(StepBufs),
    Continuous(continuous::Work),
}

impl Work {
    fn new<S: Scheme>(setup: &Setup<'_>) -> Work {
        let f = setup.f;
        let back = match setup.adjoint {
            Adjoint::Discrete { .. } => BackWork::Discrete(StepBufs::new::<S>(f)),
            Adjoint::Backsolve => BackWork::Continuous(continuous::Work::new::<S>(f, true)),
            Adjoint::Interpolated => BackWork::Continuous(continuous::Work::new::<S>(f, false)),
        };
        Work { ws: Workspace::new(setup.n, S::SLOTS, f.scratch_len()), back }
    }
}

/// One trajectory's backward results besides `dL/dy0`.
struct Outcome {
    gp: Vec<f64>,
    backward: Stats,
    recomputed: u64,
    peak_states: usize,
    reconstructed_y0: Option<Vec<f64>>,
}

/// Runs the forward solve from `y0` into `out`, recording what the adjoint
/// needs.
fn forward<S: Scheme>(
    setup: &Setup<'_>,
    ws: &mut Workspace,
    y0: &[f64],
    out: &mut [f64],
) -> Result<(Stats, Tape), SolveError> {
    let field = AsField(setup.f);
    let p = Problem { f: &field, t0: setup.t0, y0, saveat: setup.saveat };
    match setup.adjoint {
        Adjoint::Discrete { checkpoints } => {
            let mut rec = discrete::Recorder::new(setup.n, setup.t0, checkpoints);
            let stats = run_observed::<S, _>(setup, &p, ws, out, &mut rec)?;
            Ok((stats, Tape::Discrete(rec.into_tape())))
        }
        Adjoint::Backsolve => Ok((run_observed::<S, _>(setup, &p, ws, out, &mut ())?, Tape::Backsolve)),
        Adjoint::Interpolated => {
            let mut tape = continuous::DenseTape::new(setup.n, S::SLOTS, setup.t0);
            let stats = run_observed::<S, _>(setup, &p, ws, out, &mut tape)?;
            Ok((stats, Tape::Interpolated(tape)))
        }
    }
}

fn run_observed<S: Scheme, O: StepObserver>(
    setup: &Setup<'_>,
    p: &Problem<'_>,
    ws: &mut Workspace,
    out: &mut [f64],
    obs: &mut O,
) -> Result<Stats, SolveError> {
    let opts = setup.opts;
    match (setup.fixed, opts.dt) {
        (true, Some(dt)) => solver::integrate_fixed_observed::<S, O>(p, dt, opts.max_steps, ws, out, obs),
        (false, _) => solver::integrate_adaptive_observed::<S, O>(p, opts, ws, out, obs),
        // Validation requires dt for fixed-step solves.
        (true, None) => Err(SolveError::InvalidOptions {
            what: format!("{} at fixed step needs a step size dt", opts.method.name()),
        }),
    }
}

/// Pulls the cotangent rows `cot` back through one trajectory (forward
/// saved rows `rows`), writing `dL/dy0` into `dy0`.
fn backward<S: Scheme>(
    setup: &Setup<'_>,
    work: &mut BackWork,
    tape: &Tape,
    rows: &[f64],
    cot: &[f64],
    dy0: &mut [f64],
) -> Result<Outcome, SolveError> {
    match (tape, work) {
        (Tape::Discrete(tape), BackWork::Discrete(bufs)) => {
            let rev = discrete::reverse_sweep::<S>(setup, bufs, tape, cot)?;
            dy0.copy_from_slice(&bufs.lam);
            Ok(Outcome {
                gp: bufs.gp.clone(),
                backward: Stats { nfe: bufs.vjps, accepted: rev.steps, rejected: 0 },
                recomputed: bufs.evals,
                peak_states: rev.peak_states,
                reconstructed_y0: None,
            })
        }
        (Tape::Backsolve, BackWork::Continuous(work)) => {
            let mut gp = vec![0.0; setup.p];
            let source = continuous::Source::Backsolve { rows };
            let back = continuous::backward::<S>(setup, work, source, cot, dy0, &mut gp)?;
            Ok(Outcome {
                gp,
                backward: back.stats,
                recomputed: back.stats.nfe,
                peak_states: 0,
                reconstructed_y0: Some(back.y0),
            })
        }
        (Tape::Interpolated(tape), BackWork::Continuous(work)) => {
            let mut gp = vec![0.0; setup.p];
            let source = continuous::Source::Interpolated { tape };
            let back = continuous::backward::<S>(setup, work, source, cot, dy0, &mut gp)?;
            Ok(Outcome {
                gp,
                backward: back.stats,
                recomputed: 0,
                peak_states: tape.stored_states(),
                reconstructed_y0: Some(back.y0),
            })
        }
        // Work and tape are both made from `setup.adjoint`.
        _ => Err(SolveError::InvalidOptions { what: "internal: adjoint work and tape disagree".into() }),
    }
}

/// Code to run with the method's scheme as a type.
trait PerScheme {
    type Out;
    fn run<S: Scheme>(self) -> Self::Out;
}

fn dispatch<V: PerScheme>(method: Method, v: V) -> V::Out {
    match method {
        Method::Euler => v.run::<solver::Euler>(),
        Method::Midpoint => v.run::<solver::Midpoint>(),
        Method::Heun => v.run::<solver::Heun>(),
        Method::Rk4 => v.run::<solver::Rk4>(),
        Method::Bosh3 => v.run::<solver::Bosh3>(),
        Method::Dopri5 => v.run::<solver::Dopri5>(),
        Method::Tsit5 => v.run::<solver::Tsit5>(),
    }
}

struct Single<'a, 'c> {
    setup: Setup<'a>,
    y0: &'a [f64],
    cotangent: &'c mut dyn FnMut(&Solution) -> Vec<f64>,
}

impl PerScheme for Single<'_, '_> {
    type Out = Result<(Solution, Gradient), SolveError>;

    fn run<S: Scheme>(self) -> Self::Out {
        let setup = &self.setup;
        setup.check_y0(self.y0.len(), false)?;
        let mut work = Work::new::<S>(setup);
        let mut y = vec![0.0; setup.saveat.len() * setup.n];
        let (stats, tape) = forward::<S>(setup, &mut work.ws, self.y0, &mut y)?;
        let sol = Solution { t: setup.saveat.to_vec(), y, n_state: setup.n, stats };
        let cot = (self.cotangent)(&sol);
        setup.check_cotangent(&cot, 1).map_err(|(_, e)| e)?;
        let mut dy0 = vec![0.0; setup.n];
        let out = backward::<S>(setup, &mut work.back, &tape, &sol.y, &cot, &mut dy0)?;
        let grad = Gradient {
            y0: dy0,
            params: out.gp,
            forward: stats,
            backward: out.backward,
            recomputed: out.recomputed,
            peak_states: out.peak_states,
            reconstructed_y0: out.reconstructed_y0,
        };
        Ok((sol, grad))
    }
}

struct Batch<'a, 'c> {
    setup: Setup<'a>,
    y0s: &'a [f64],
    threads: usize,
    cotangent: &'c mut dyn FnMut(&BatchSolution) -> Vec<f64>,
}

impl PerScheme for Batch<'_, '_> {
    type Out = Result<(BatchSolution, BatchGradient), SolveError>;

    fn run<S: Scheme>(self) -> Self::Out {
        let setup = &self.setup;
        let n = setup.n;
        setup.check_y0(self.y0s.len(), true)?;
        let batch = self.y0s.len() / n;
        let rows = setup.saveat.len() * n;
        let exec = Exec::new(self.threads, batch);
        let init = || Work::new::<S>(setup);

        let mut y = vec![0.0; batch * rows];
        let fwd =
            exec.map(&mut y, rows, init, |w, b, out| forward::<S>(setup, &mut w.ws, &self.y0s[b * n..][..n], out));
        let mut stats = Vec::with_capacity(batch);
        let mut tapes = Vec::with_capacity(batch);
        for (index, r) in fwd.into_iter().enumerate() {
            let (s, tape) = r.map_err(|error| SolveError::InBatch { index, error: Box::new(error) })?;
            stats.push(s);
            tapes.push(tape);
        }
        let sol = BatchSolution { t: setup.saveat.to_vec(), y, batch, n_state: n, stats };

        let cot = (self.cotangent)(&sol);
        setup.check_cotangent(&cot, batch).map_err(|(b, e)| match b {
            Some(index) => SolveError::InBatch { index, error: Box::new(e) },
            None => e,
        })?;
        let mut dy0 = vec![0.0; batch * n];
        let back = exec.map(&mut dy0, n, init, |w, b, out| {
            let (r, c) = (&sol.y[b * rows..][..rows], &cot[b * rows..][..rows]);
            backward::<S>(setup, &mut w.back, &tapes[b], r, c, out)
        });
        let mut grad = BatchGradient {
            y0: dy0,
            params: vec![0.0; setup.p],
            backward: Vec::with_capacity(batch),
            recomputed: Vec::with_capacity(batch),
            peak_states: 0,
        };
        for (index, r) in back.into_iter().enumerate() {
            let out = r.map_err(|error| SolveError::InBatch { index, error: Box::new(error) })?;
            for (g, v) in grad.params.iter_mut().zip(&out.gp) {
                *g += v;
            }
            grad.backward.push(out.backward);
            grad.recomputed.push(out.recomputed);
            grad.peak_states = grad.peak_states.max(out.peak_states);
        }
        Ok((sol, grad))
    }
}

/// Where a batch runs: rayon's global pool, a pool of its own, or the
/// calling thread (same results on each).
enum Exec {
    Global,
    Pool(rayon::ThreadPool),
    Serial,
}

impl Exec {
    fn new(threads: usize, batch: usize) -> Exec {
        if batch <= 1 || threads == 1 {
            return Exec::Serial;
        }
        if threads == 0 {
            return Exec::Global;
        }
        // No pool could be built: the calling thread does it all.
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_or(Exec::Serial, Exec::Pool)
    }

    /// `f(worker, b, chunk b of out)` for every chunk, results in order.
    fn map<W, R: Send>(
        &self,
        out: &mut [f64],
        chunk: usize,
        init: impl Fn() -> W + Sync + Send,
        f: impl Fn(&mut W, usize, &mut [f64]) -> R + Sync + Send,
    ) -> Vec<R> {
        let parallel = |out: &mut [f64]| -> Vec<R> {
            out.par_chunks_mut(chunk).enumerate().map_init(&init, |w, (b, o)| f(w, b, o)).collect()
        };
        match self {
            Exec::Global => parallel(out),
            Exec::Pool(pool) => pool.install(|| parallel(out)),
            Exec::Serial => {
                let mut w = init();
                out.chunks_exact_mut(chunk).enumerate().map(|(b, o)| f(&mut w, b, o)).collect()
            }
        }
    }
}
