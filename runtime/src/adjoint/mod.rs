//! Gradients through ODE solves: solve forwards, ask the caller for the
//! loss gradient, and pull it back to the initial state and the
//! parameters.
//!
//! Owns the public API — [`Adjoint`] (which method), [`gradient`],
//! [`gradient_fixed`], [`gradient_batch`], what the loss says
//! ([`Cotangent`], [`BatchCotangent`]), the sampled regulariser's draw
//! ([`Sampling`]), the batch's times ([`BatchTimes`]),
//! the results ([`Gradient`], [`BatchGradient`]) — with its validation,
//! the dispatch from a [`Method`] to code monomorphised per scheme, and the
//! spreading of batches over threads. The numerics live in `reverse` (one
//! RK step reversed), `discrete` (checkpointing and the reverse sweep),
//! `continuous` (backsolve and interpolated adjoints) and `regular` (the
//! solver-heuristic regularisers). Never prints; every bad input or
//! numerical failure is a [`SolveError`], never a panic.
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
//!
//! # Regularisers (ALGORITHMS.md §2)
//! Every solve measures `R_E = Σ EEst_j |h_j|` and `R_S = Σ S_j |h_j|`
//! ([`Stats::local_error`], [`Stats::stiffness`]). A loss may weight them
//! ([`Cotangent::local_error`], [`Cotangent::stiffness`]): only the
//! discrete adjoint can differentiate them, since they are functions of the
//! solver's stages (the continuous adjoints reject a nonzero weight).
//! The sampled variants (Pal et al. 2023) work with every adjoint: with a
//! [`Sampling`], one extra step of the solve's method is taken from a
//! sampled time and state of the solution, and its `EEst · |dt|` and
//! stiffness estimate are reported ([`Stats::sampled_local_error`],
//! [`Stats::sampled_stiffness`]) and can be weighted. Step sizes, the error
//! scale, and the sampled step's start are constants of the gradient; see
//! `regular` for the conventions.

mod continuous;
mod discrete;
mod regular;
mod reverse;

use rayon::prelude::*;

use crate::error::SolveError;
use crate::solution::{BatchSolution, Solution, Stats};
use crate::solve::{validate, Method, SolveOptions};
use crate::solver::{self, Problem, Scheme, StepObserver, Workspace};
use crate::term::{DiffField, VectorField};
use discrete::GlobalWeights;
use regular::{Both, DenseAt, Sampled};
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

/// What the loss says about the solve: `dL/d(saved states)` and
/// `dL/d(each regulariser)`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cotangent {
    /// `dL/dy(saveat_i)`, rows `[saveat.len()][n_state]`.
    pub y: Vec<f64>,
    /// `dL/dR_E` ([`Stats::local_error`]); nonzero only with the discrete
    /// adjoint.
    pub local_error: f64,
    /// `dL/dR_S` ([`Stats::stiffness`]); nonzero only with the discrete
    /// adjoint.
    pub stiffness: f64,
    /// `dL/dr_E` ([`Stats::sampled_local_error`]); needs a [`Sampling`].
    pub sampled_local_error: f64,
    /// `dL/dr_S` ([`Stats::sampled_stiffness`]); needs a [`Sampling`].
    pub sampled_stiffness: f64,
}

impl Cotangent {
    /// A loss of the saved states only (every regulariser weight 0).
    pub fn states(y: Vec<f64>) -> Cotangent {
        Cotangent { y, ..Cotangent::default() }
    }
}

/// [`Cotangent`] for a batch: `y` is `[batch][n_save][n_state]`; each
/// weight holds one value per trajectory, or none for all 0.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchCotangent {
    /// `dL/dy`, row-major `[batch][n_save][n_state]`.
    pub y: Vec<f64>,
    /// `dL/dR_E` per trajectory (empty: 0).
    pub local_error: Vec<f64>,
    /// `dL/dR_S` per trajectory (empty: 0).
    pub stiffness: Vec<f64>,
    /// `dL/dr_E` per trajectory (empty: 0).
    pub sampled_local_error: Vec<f64>,
    /// `dL/dr_S` per trajectory (empty: 0).
    pub sampled_stiffness: Vec<f64>,
}

impl BatchCotangent {
    /// A loss of the saved states only (every regulariser weight 0).
    pub fn states(y: Vec<f64>) -> BatchCotangent {
        BatchCotangent { y, ..BatchCotangent::default() }
    }

    /// All zeros, to be filled in: `batch` trajectories of `rows` values
    /// (`n_save · n_state`) each, one weight of each kind per trajectory.
    pub fn zeros(batch: usize, rows: usize) -> BatchCotangent {
        let w = vec![0.0; batch];
        BatchCotangent {
            y: vec![0.0; batch * rows],
            local_error: w.clone(),
            stiffness: w.clone(),
            sampled_local_error: w.clone(),
            sampled_stiffness: w,
        }
    }
}

/// Where the sampled regulariser's step starts (Pal et al. 2023).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamplingStrategy {
    /// At `t_reg = t0 + u (t1 − t0)` (`t1` the last save time), from the
    /// solution's dense output there.
    Unbiased,
    /// At the start of accepted step `⌊u N⌋` of the `N` steps, from the
    /// state there: where the solver works hardest is sampled most.
    Biased,
}

/// The sampled regulariser of one gradient: its strategy and the uniform
/// draw `u ∈ [0, 1)` from the caller's seeded generator. One step of the
/// solve's method (which must have an error estimate) is taken from the
/// sampled `(t_reg, x)` with the solver's initial-step heuristic (clipped to
/// end at `t1`): its `EEst · |dt|` and its stiffness estimate become
/// [`Stats::sampled_local_error`] and [`Stats::sampled_stiffness`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampling {
    pub strategy: SamplingStrategy,
    /// In `[0, 1)`.
    pub u: f64,
}

/// The start and save times of a batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BatchTimes<'a> {
    /// Every trajectory from `t0`, saved at `saveat`.
    Shared { t0: f64, saveat: &'a [f64] },
    /// Trajectory `b` from `t0[b]`, saved at row `b` of `saveat`
    /// (row-major `[batch][n_save]`: the same number of save times each).
    PerTrajectory { t0: &'a [f64], saveat: &'a [f64] },
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
    /// forward steps, plus one for the global regularisers; backsolve: the
    /// backward re-integration of `y`; interpolated: none).
    pub recomputed: u64,
    /// Vector-field evaluations of the sampled regulariser (its step, the
    /// initial-step heuristic, replaying steps to a biased sample's state,
    /// and the step again for its gradient); not in `forward`.
    pub regulariser_nfe: u64,
    /// VJPs of the sampled regulariser's gradient; not in `backward`.
    pub regulariser_vjps: u64,
    /// The most state-sized vectors stored at once that grow with the
    /// number of steps (discrete: checkpoints plus the bisection stack;
    /// interpolated: the dense output; backsolve: 0, or the checkpoints a
    /// biased sample needs). Fixed work buffers (a few per stage) are not
    /// counted.
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
    /// Sampled-regulariser evaluations per trajectory (see
    /// [`Gradient::regulariser_nfe`]).
    pub regulariser_nfe: Vec<u64>,
    /// Sampled-regulariser VJPs per trajectory.
    pub regulariser_vjps: Vec<u64>,
    /// The largest [`Gradient::peak_states`] of any trajectory.
    pub peak_states: usize,
}

/// Solves `y' = f(t, y; p)` as [`crate::solve()`] does (the same steps and
/// the same saved values) and differentiates a loss of the saved states
/// and the regularisers.
///
/// `cotangent` is called once, with the forward solution (whose stats hold
/// the regularisers, and the sampled ones if `sampling` asks for them), and
/// returns [`Cotangent`]: `dL/dy(saveat_i)` as rows
/// `[saveat.len()][n_state]` and the regulariser weights (so the caller
/// can compute the loss from the solution first). Returns the solution and
/// the gradient with respect to `y0` and the field's parameters.
///
/// Errors: everything [`crate::solve()`] reports; an invalid checkpoint
/// budget, a cotangent of the wrong length, a non-finite regulariser weight,
/// a global regulariser weight with a continuous adjoint, a sampled weight
/// without `sampling`, `sampling` with a method without an error estimate
/// or a draw outside `[0, 1)` ([`SolveError::InvalidOptions`]); a
/// non-finite cotangent or adjoint ([`SolveError::NonFiniteAdjoint`], with
/// the time); failures of the backward solve of the continuous adjoints (at
/// forward times).
#[allow(clippy::too_many_arguments)]
pub fn gradient(
    f: &dyn DiffField,
    t0: f64,
    y0: &[f64],
    saveat: &[f64],
    opts: &SolveOptions,
    adjoint: Adjoint,
    sampling: Option<Sampling>,
    cotangent: &mut dyn FnMut(&Solution) -> Cotangent,
) -> Result<(Solution, Gradient), SolveError> {
    let setup = Setup::new(f, opts, adjoint, !opts.method.is_adaptive(), sampling.map(|s| s.strategy))?;
    let times = Times { t0, saveat };
    dispatch(opts.method, Single { setup, times, y0, u: sampling.map(|s| s.u), cotangent })
}

/// [`gradient`] of a solve at the constant step `opts.dt`, as
/// [`crate::solve::solve_fixed`] takes it (also for adaptive methods, whose
/// error estimate is then measured with `opts.rtol`/`opts.atol` for the
/// regularisers only).
#[allow(clippy::too_many_arguments)]
pub fn gradient_fixed(
    f: &dyn DiffField,
    t0: f64,
    y0: &[f64],
    saveat: &[f64],
    opts: &SolveOptions,
    adjoint: Adjoint,
    sampling: Option<Sampling>,
    cotangent: &mut dyn FnMut(&Solution) -> Cotangent,
) -> Result<(Solution, Gradient), SolveError> {
    let setup = Setup::new(f, opts, adjoint, true, sampling.map(|s| s.strategy))?;
    let times = Times { t0, saveat };
    dispatch(opts.method, Single { setup, times, y0, u: sampling.map(|s| s.u), cotangent })
}

/// [`gradient`] for a batch of initial states `y0s` (back to back) sharing
/// the parameters, each solved as [`crate::solve_batch`] solves it, over
/// shared times or its own ([`BatchTimes`]; each trajectory then is exactly
/// [`gradient`] with its own `t0` and save times). `sampling` holds one
/// draw per trajectory. `cotangent` is called once with the whole batch
/// solution and returns [`BatchCotangent`] (`y` as rows
/// `[batch][n_save][n_state]`). The parameter gradient is the sum over the
/// trajectories, added in trajectory order, so the result is bit-for-bit
/// the same on any number of `threads` (0 = rayon's global pool, 1 = the
/// calling thread). The first failing trajectory is reported as
/// [`SolveError::InBatch`], as are invalid times, draws or weights of one
/// trajectory.
#[allow(clippy::too_many_arguments)]
pub fn gradient_batch(
    f: &dyn DiffField,
    times: BatchTimes<'_>,
    y0s: &[f64],
    opts: &SolveOptions,
    adjoint: Adjoint,
    threads: usize,
    sampling: Option<(SamplingStrategy, &[f64])>,
    cotangent: &mut dyn FnMut(&BatchSolution) -> BatchCotangent,
) -> Result<(BatchSolution, BatchGradient), SolveError> {
    let setup = Setup::new(f, opts, adjoint, !opts.method.is_adaptive(), sampling.map(|s| s.0))?;
    dispatch(opts.method, Batch { setup, times, y0s, u: sampling.map(|s| s.1), threads, cotangent })
}

/// One trajectory's start and save times.
#[derive(Clone, Copy)]
struct Times<'a> {
    t0: f64,
    saveat: &'a [f64],
}

/// Everything the passes of one gradient call share (validated).
struct Setup<'a> {
    f: &'a dyn DiffField,
    opts: &'a SolveOptions,
    adjoint: Adjoint,
    /// Constant step `opts.dt`.
    fixed: bool,
    n: usize,
    p: usize,
    sampling: Option<SamplingStrategy>,
}

/// Checks the length of a cotangent for `batch` trajectories of `n_save`
/// save times of `n` states each (every adjoint, explicit or stiff).
pub(crate) fn check_cotangent_len(n: usize, cot: &[f64], batch: usize, n_save: usize) -> Result<(), SolveError> {
    let want = batch * n_save * n;
    if cot.len() != want {
        return Err(invalid(format!(
            "the loss gradient has {} values, but {batch} trajectory(s) × {n_save} save times × {n} states = \
             {want} were expected",
            cot.len(),
        )));
    }
    Ok(())
}

/// Checks that every value of one trajectory's cotangent rows (`n` states
/// per save time) is finite, else names the first bad one's save time.
pub(crate) fn check_cotangent_finite(n: usize, cot: &[f64], saveat: &[f64]) -> Result<(), SolveError> {
    match cot.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(SolveError::NonFiniteAdjoint { t: saveat[i / n] }),
        None => Ok(()),
    }
}

fn invalid(what: String) -> SolveError {
    SolveError::InvalidOptions { what }
}

impl<'a> Setup<'a> {
    fn new(
        f: &'a dyn DiffField,
        opts: &'a SolveOptions,
        adjoint: Adjoint,
        fixed: bool,
        sampling: Option<SamplingStrategy>,
    ) -> Result<Setup<'a>, SolveError> {
        if adjoint == (Adjoint::Discrete { checkpoints: Some(0) }) {
            return Err(invalid("the discrete adjoint needs at least 1 checkpoint (or None for the default)".into()));
        }
        if sampling.is_some() {
            if !opts.method.is_adaptive() {
                return Err(invalid(format!(
                    "the sampled regularisers measure one step's error estimate, and {} has none: use tsit5, \
                     dopri5 or bosh3",
                    opts.method.name()
                )));
            }
            check_tolerances(opts, "the sampled regularisers")?;
        }
        Ok(Setup { f, opts, adjoint, fixed, n: f.dim(), p: f.n_params(), sampling })
    }

    /// Validates one trajectory's times (and the options).
    fn check_times(&self, times: Times<'_>) -> Result<(), SolveError> {
        validate(self.n, times.t0, times.saveat, self.opts, self.fixed)
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
            return Err(invalid(what));
        }
        Ok(())
    }

    fn check_cotangent_len(&self, cot: &[f64], batch: usize, n_save: usize) -> Result<(), SolveError> {
        check_cotangent_len(self.n, cot, batch, n_save)
    }

    fn check_cotangent_finite(&self, cot: &[f64], saveat: &[f64]) -> Result<(), SolveError> {
        check_cotangent_finite(self.n, cot, saveat)
    }
}

/// Checks the tolerances as an adaptive solve would: `what` needs them even
/// at a constant step.
fn check_tolerances(opts: &SolveOptions, what: &str) -> Result<(), SolveError> {
    for (name, v) in [("rtol", opts.rtol), ("atol", opts.atol)] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(invalid(format!(
                "{what} scale the error estimate by {name}, which must be a finite number >= 0, got {v}"
            )));
        }
    }
    if opts.rtol == 0.0 && opts.atol == 0.0 {
        return Err(invalid(format!("{what} scale the error estimate by rtol and atol, which cannot both be 0")));
    }
    Ok(())
}

/// Checks a sampling draw.
fn check_u(u: f64) -> Result<(), SolveError> {
    if !(u.is_finite() && (0.0..1.0).contains(&u)) {
        return Err(invalid(format!("the sampling draw u = {u} must lie in [0, 1)")));
    }
    Ok(())
}

/// One trajectory's regulariser weights.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Weights {
    local_error: f64,
    stiffness: f64,
    sampled_local_error: f64,
    sampled_stiffness: f64,
}

impl Weights {
    fn of(c: &Cotangent) -> Weights {
        Weights {
            local_error: c.local_error,
            stiffness: c.stiffness,
            sampled_local_error: c.sampled_local_error,
            sampled_stiffness: c.sampled_stiffness,
        }
    }

    /// Trajectory `b`'s weights (validated lengths).
    fn of_batch(c: &BatchCotangent, b: usize) -> Weights {
        let at = |v: &[f64]| v.get(b).copied().unwrap_or(0.0);
        Weights {
            local_error: at(&c.local_error),
            stiffness: at(&c.stiffness),
            sampled_local_error: at(&c.sampled_local_error),
            sampled_stiffness: at(&c.sampled_stiffness),
        }
    }

    fn global(&self) -> GlobalWeights {
        GlobalWeights { local_error: self.local_error, stiffness: self.stiffness }
    }

    fn sampled(&self) -> bool {
        self.sampled_local_error != 0.0 || self.sampled_stiffness != 0.0
    }

    /// Checks the weights against what the gradient can do.
    fn check(&self, setup: &Setup<'_>) -> Result<(), SolveError> {
        let named = [
            ("local_error", self.local_error),
            ("stiffness", self.stiffness),
            ("sampled_local_error", self.sampled_local_error),
            ("sampled_stiffness", self.sampled_stiffness),
        ];
        if let Some((name, v)) = named.iter().find(|(_, v)| !v.is_finite()) {
            return Err(invalid(format!(
                "the loss gradient's weight on the {name} regulariser is {v}, not a finite number"
            )));
        }
        let global = self.global();
        if (global.local_error != 0.0 || global.stiffness != 0.0) && !matches!(setup.adjoint, Adjoint::Discrete { .. })
        {
            return Err(invalid(format!(
                "the global regularisers (local_error, stiffness) need the discrete adjoint, which differentiates \
                 the solver's stages; the {} adjoint cannot: use Adjoint::Discrete, or the sampled variants \
                 (sampled_local_error, sampled_stiffness with a Sampling), which work with every adjoint",
                setup.adjoint.name()
            )));
        }
        if global.local_error != 0.0 && setup.fixed && setup.opts.method.is_adaptive() {
            check_tolerances(setup.opts, "the local-error regulariser's weight")?;
        }
        if self.sampled() && setup.sampling.is_none() {
            return Err(invalid(
                "the loss weights the sampled regularisers, but no Sampling was given to take their step".into(),
            ));
        }
        Ok(())
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
    /// The sampled step's buffers (when sampling).
    sample: Option<StepBufs>,
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
        let sample = setup.sampling.map(|_| StepBufs::new::<S>(f));
        Work { ws: Workspace::new(setup.n, S::SLOTS, f.scratch_len()), back, sample }
    }
}

/// One trajectory's forward pass: its stats (with the sampled regularisers),
/// what the backward pass needs, the sampled step.
struct Forward {
    stats: Stats,
    tape: Tape,
    sample: Option<Sampled>,
    /// Evaluations spent on the sampled step so far.
    reg_nfe: u64,
    /// Checkpoints kept only to find a biased sample's state (backsolve).
    extra_states: usize,
}

/// One trajectory's backward results besides `dL/dy0`.
struct Outcome {
    gp: Vec<f64>,
    backward: Stats,
    recomputed: u64,
    reg_nfe: u64,
    reg_vjps: u64,
    peak_states: usize,
    reconstructed_y0: Option<Vec<f64>>,
}

/// Runs the forward solve from `y0` into `out`, recording what the adjoint
/// needs, then the sampled step (draw `u`) if the setup asks for one.
fn forward<S: Scheme>(
    setup: &Setup<'_>,
    times: Times<'_>,
    work: &mut Work,
    y0: &[f64],
    u: Option<f64>,
    out: &mut [f64],
) -> Result<Forward, SolveError> {
    let field: &dyn VectorField = setup.f;
    let (n, t0) = (setup.n, times.t0);
    let p = Problem { f: field, t0, y0, saveat: times.saveat };
    let t_end = p.t_end();
    let unbiased_at = match (setup.sampling, u) {
        (Some(SamplingStrategy::Unbiased), Some(u)) => Some(t0 + u * (t_end - t0)),
        _ => None,
    };
    let biased = matches!((setup.sampling, u), (Some(SamplingStrategy::Biased), Some(_)));
    let mut at = DenseAt::<S>::new(n, unbiased_at);
    let ws = &mut work.ws;
    let (stats, tape, replay) = match setup.adjoint {
        Adjoint::Discrete { checkpoints } => {
            // With the automatic budget, small problems keep every step's stages.
            let keep = if checkpoints.is_none() { reverse::inner_stages::<S>() * n } else { 0 };
            let mut rec = discrete::Recorder::new(n, t0, checkpoints, keep);
            let stats = run_observed::<S, _>(setup, &p, ws, out, &mut Both(&mut rec, &mut at))?;
            (stats, Tape::Discrete(rec.into_tape()), None)
        }
        Adjoint::Backsolve if biased => {
            let mut rec = discrete::Recorder::new(n, t0, None, 0);
            let stats = run_observed::<S, _>(setup, &p, ws, out, &mut rec)?;
            (stats, Tape::Backsolve, Some(rec.into_tape()))
        }
        Adjoint::Backsolve => (run_observed::<S, _>(setup, &p, ws, out, &mut at)?, Tape::Backsolve, None),
        Adjoint::Interpolated => {
            let mut tape = continuous::DenseTape::new(n, S::SLOTS, t0);
            let stats = run_observed::<S, _>(setup, &p, ws, out, &mut Both(&mut tape, &mut at))?;
            (stats, Tape::Interpolated(tape), None)
        }
    };
    let extra_states = replay.as_ref().map_or(0, |r| r.peak());
    let mut fwd = Forward { stats, tape, sample: None, reg_nfe: 0, extra_states };
    let (Some(u), Some(sb)) = (u, work.sample.as_mut()) else {
        return Ok(fwd);
    };
    sb.reset();
    let start = if biased {
        // Step ⌊u N⌋'s start: from the dense tape, or replayed from a
        // checkpoint (the same bits as the forward pass).
        let mut x = vec![0.0; n];
        let t = match (&fwd.tape, &replay) {
            (Tape::Discrete(tape), _) | (_, Some(tape)) => {
                let steps = tape.steps();
                (steps > 0).then(|| tape.state_at_step::<S>(setup.f, pick(u, steps), sb, &mut x))
            }
            (Tape::Interpolated(tape), _) => {
                let steps = tape.steps();
                (steps > 0).then(|| {
                    let (t, y) = tape.step_start(pick(u, steps));
                    x.copy_from_slice(y);
                    t
                })
            }
            (Tape::Backsolve, None) => None,
        };
        t.map(|t| (t, x))
    } else {
        // Unbiased: the dense output at t_reg (y0 if nothing was
        // integrated, when t_reg = t0 = t_end).
        unbiased_at.map(|t| (t, if at.found { std::mem::take(&mut at.x) } else { y0.to_vec() }))
    };
    if let Some((t, x)) = start {
        fwd.sample = Sampled::take::<S>(setup.f, setup.opts, t, x, t_end, &mut work.ws, sb)?;
    }
    if let Some(s) = &fwd.sample {
        fwd.stats.sampled_local_error = s.local_error();
        fwd.stats.sampled_stiffness = s.values.stiffness;
    }
    fwd.reg_nfe = sb.evals;
    Ok(fwd)
}

/// `⌊u N⌋` for `u ∈ [0, 1)`, at most `N - 1`.
fn pick(u: f64, steps: usize) -> usize {
    ((u * steps as f64) as usize).min(steps - 1)
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
        (true, Some(dt)) => solver::integrate_fixed_observed::<S, O>(p, dt, opts, ws, out, obs),
        (false, _) => solver::integrate_adaptive_observed::<S, O>(p, opts, ws, out, obs),
        // Validation requires dt for fixed-step solves.
        (true, None) => Err(SolveError::InvalidOptions {
            what: format!("{} at fixed step needs a step size dt", opts.method.name()),
        }),
    }
}

/// Pulls the cotangent rows `cot` and the regulariser weights `w` back
/// through one trajectory (forward saved rows `rows`), writing `dL/dy0`
/// into `dy0`.
#[allow(clippy::too_many_arguments)]
fn backward<S: Scheme>(
    setup: &Setup<'_>,
    times: Times<'_>,
    work: &mut Work,
    fwd: &Forward,
    rows: &[f64],
    cot: &[f64],
    w: Weights,
    dy0: &mut [f64],
) -> Result<Outcome, SolveError> {
    let mut out = match (&fwd.tape, &mut work.back) {
        (Tape::Discrete(tape), BackWork::Discrete(bufs)) => {
            let rev = discrete::reverse_sweep::<S>(setup, times, bufs, tape, cot, w.global())?;
            dy0.copy_from_slice(&bufs.lam);
            Outcome {
                gp: bufs.gp.clone(),
                backward: Stats { nfe: bufs.vjps, accepted: rev.steps, ..Stats::default() },
                recomputed: bufs.evals,
                reg_nfe: 0,
                reg_vjps: 0,
                peak_states: rev.peak_states,
                reconstructed_y0: None,
            }
        }
        (Tape::Backsolve, BackWork::Continuous(cw)) => {
            let mut gp = vec![0.0; setup.p];
            let source = continuous::Source::Backsolve { rows };
            let back = continuous::backward::<S>(setup, times, cw, source, cot, dy0, &mut gp)?;
            Outcome {
                gp,
                backward: back.stats,
                recomputed: back.stats.nfe,
                reg_nfe: 0,
                reg_vjps: 0,
                peak_states: fwd.extra_states,
                reconstructed_y0: Some(back.y0),
            }
        }
        (Tape::Interpolated(tape), BackWork::Continuous(cw)) => {
            let mut gp = vec![0.0; setup.p];
            let source = continuous::Source::Interpolated { tape };
            let back = continuous::backward::<S>(setup, times, cw, source, cot, dy0, &mut gp)?;
            Outcome {
                gp,
                backward: back.stats,
                recomputed: 0,
                reg_nfe: 0,
                reg_vjps: 0,
                peak_states: tape.stored_states(),
                reconstructed_y0: Some(back.y0),
            }
        }
        // Work and tape are both made from `setup.adjoint`.
        _ => return Err(invalid("internal: adjoint work and tape disagree".into())),
    };
    out.reg_nfe = fwd.reg_nfe;
    if let (Some(s), Some(sb), true) = (&fwd.sample, work.sample.as_mut(), w.sampled()) {
        s.gradient::<S>(setup.f, setup.opts, w.sampled_local_error, w.sampled_stiffness, sb)?;
        for (g, v) in out.gp.iter_mut().zip(&sb.gp) {
            *g += v;
        }
        out.reg_nfe += sb.evals;
        out.reg_vjps = sb.vjps;
    }
    Ok(out)
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
    times: Times<'a>,
    y0: &'a [f64],
    u: Option<f64>,
    cotangent: &'c mut dyn FnMut(&Solution) -> Cotangent,
}

impl PerScheme for Single<'_, '_> {
    type Out = Result<(Solution, Gradient), SolveError>;

    fn run<S: Scheme>(self) -> Self::Out {
        let (setup, times) = (&self.setup, self.times);
        setup.check_times(times)?;
        setup.check_y0(self.y0.len(), false)?;
        if let Some(u) = self.u {
            check_u(u)?;
        }
        let mut work = Work::new::<S>(setup);
        let mut y = vec![0.0; times.saveat.len() * setup.n];
        let fwd = forward::<S>(setup, times, &mut work, self.y0, self.u, &mut y)?;
        let sol = Solution { t: times.saveat.to_vec(), y, n_state: setup.n, stats: fwd.stats };
        let cot = (self.cotangent)(&sol);
        setup.check_cotangent_len(&cot.y, 1, times.saveat.len())?;
        setup.check_cotangent_finite(&cot.y, times.saveat)?;
        let w = Weights::of(&cot);
        w.check(setup)?;
        let mut dy0 = vec![0.0; setup.n];
        let out = backward::<S>(setup, times, &mut work, &fwd, &sol.y, &cot.y, w, &mut dy0)?;
        let grad = Gradient {
            y0: dy0,
            params: out.gp,
            forward: fwd.stats,
            backward: out.backward,
            recomputed: out.recomputed,
            regulariser_nfe: out.reg_nfe,
            regulariser_vjps: out.reg_vjps,
            peak_states: out.peak_states,
            reconstructed_y0: out.reconstructed_y0,
        };
        Ok((sol, grad))
    }
}

struct Batch<'a, 'c> {
    setup: Setup<'a>,
    times: BatchTimes<'a>,
    y0s: &'a [f64],
    u: Option<&'a [f64]>,
    threads: usize,
    cotangent: &'c mut dyn FnMut(&BatchSolution) -> BatchCotangent,
}

/// Wraps trajectory `index`'s error.
fn in_batch(index: usize) -> impl Fn(SolveError) -> SolveError {
    move |error| SolveError::InBatch { index, error: Box::new(error) }
}

/// Validates a batch's times for `batch` trajectories; returns the number
/// of save times per trajectory.
fn check_batch_times(setup: &Setup<'_>, times: BatchTimes<'_>, batch: usize) -> Result<usize, SolveError> {
    match times {
        BatchTimes::Shared { t0, saveat } => {
            setup.check_times(Times { t0, saveat })?;
            Ok(saveat.len())
        }
        BatchTimes::PerTrajectory { t0, saveat } => {
            if t0.len() != batch {
                return Err(invalid(format!(
                    "{} start times were given for {batch} trajectories (one per trajectory)",
                    t0.len()
                )));
            }
            if batch == 0 && saveat.is_empty() {
                return Ok(0);
            }
            if batch == 0 || saveat.is_empty() || !saveat.len().is_multiple_of(batch) {
                return Err(SolveError::InvalidTimes {
                    what: format!(
                        "{} save times cannot be split into {batch} trajectories with the same number each \
                         (at least one)",
                        saveat.len()
                    ),
                });
            }
            let m = saveat.len() / batch;
            for b in 0..batch {
                setup.check_times(times_of(times, b, m)).map_err(in_batch(b))?;
            }
            Ok(m)
        }
    }
}

/// Trajectory `b`'s times (`m` save times each).
fn times_of(times: BatchTimes<'_>, b: usize, m: usize) -> Times<'_> {
    match times {
        BatchTimes::Shared { t0, saveat } => Times { t0, saveat },
        BatchTimes::PerTrajectory { t0, saveat } => Times { t0: t0[b], saveat: &saveat[b * m..(b + 1) * m] },
    }
}

impl PerScheme for Batch<'_, '_> {
    type Out = Result<(BatchSolution, BatchGradient), SolveError>;

    fn run<S: Scheme>(self) -> Self::Out {
        let Batch { setup, times, y0s, u, threads, cotangent } = self;
        let setup = &setup;
        let n = setup.n;
        setup.check_y0(y0s.len(), true)?;
        let batch = y0s.len() / n;
        let m = check_batch_times(setup, times, batch)?;
        if let Some(u) = u {
            if u.len() != batch {
                return Err(invalid(format!(
                    "{} sampling draws were given for {batch} trajectories (one per trajectory)",
                    u.len()
                )));
            }
            for (b, &ub) in u.iter().enumerate() {
                check_u(ub).map_err(in_batch(b))?;
            }
        }
        let rows = m * n;
        let exec = Exec::new(threads, batch);
        let init = || Work::new::<S>(setup);

        let mut y = vec![0.0; batch * rows];
        let fwd = exec.map(&mut y, rows.max(1), init, |w, b, out| {
            let y0 = &y0s[b * n..][..n];
            forward::<S>(setup, times_of(times, b, m), w, y0, u.map(|u| u[b]), out)
        });
        let mut stats = Vec::with_capacity(batch);
        let mut fwds = Vec::with_capacity(batch);
        for (index, r) in fwd.into_iter().enumerate() {
            let f = r.map_err(in_batch(index))?;
            stats.push(f.stats);
            fwds.push(f);
        }
        let (t, t_each) = match times {
            BatchTimes::Shared { saveat, .. } => (saveat.to_vec(), Vec::new()),
            BatchTimes::PerTrajectory { saveat, .. } => (Vec::new(), saveat.to_vec()),
        };
        let sol = BatchSolution { t, t_each, y, batch, n_state: n, stats };

        let cot = cotangent(&sol);
        setup.check_cotangent_len(&cot.y, batch, m)?;
        let named = [
            ("local_error", &cot.local_error),
            ("stiffness", &cot.stiffness),
            ("sampled_local_error", &cot.sampled_local_error),
            ("sampled_stiffness", &cot.sampled_stiffness),
        ];
        for (name, v) in named {
            if !v.is_empty() && v.len() != batch {
                return Err(invalid(format!(
                    "the loss gradient has {} {name} weights for {batch} trajectories (one per trajectory, or none)",
                    v.len()
                )));
            }
        }
        let weights: Vec<Weights> = (0..batch).map(|b| Weights::of_batch(&cot, b)).collect();
        for (b, w) in weights.iter().enumerate() {
            let c = &cot.y[b * rows..(b + 1) * rows];
            setup.check_cotangent_finite(c, times_of(times, b, m).saveat).map_err(in_batch(b))?;
            w.check(setup).map_err(in_batch(b))?;
        }
        let mut dy0 = vec![0.0; batch * n];
        let back = exec.map(&mut dy0, n, init, |w, b, out| {
            let (r, c) = (&sol.y[b * rows..][..rows], &cot.y[b * rows..][..rows]);
            backward::<S>(setup, times_of(times, b, m), w, &fwds[b], r, c, weights[b], out)
        });
        let mut grad = BatchGradient {
            y0: dy0,
            params: vec![0.0; setup.p],
            backward: Vec::with_capacity(batch),
            recomputed: Vec::with_capacity(batch),
            regulariser_nfe: Vec::with_capacity(batch),
            regulariser_vjps: Vec::with_capacity(batch),
            peak_states: 0,
        };
        for (index, r) in back.into_iter().enumerate() {
            let out = r.map_err(in_batch(index))?;
            for (g, v) in grad.params.iter_mut().zip(&out.gp) {
                *g += v;
            }
            grad.backward.push(out.backward);
            grad.recomputed.push(out.recomputed);
            grad.regulariser_nfe.push(out.reg_nfe);
            grad.regulariser_vjps.push(out.reg_vjps);
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
        // The global pool when it has the size asked for: building a pool
        // per call costs more than a small batch (a training step).
        if threads == 0 || threads == rayon::current_num_threads() {
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
