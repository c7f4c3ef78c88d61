//! Training: a checked `train` block run step by step.
//!
//! Owns the turning of the checked declarations ([`DataSpec`], [`LossIr`],
//! [`TrainSpec`]) into a running optimisation: making data (solving a model
//! for `generate`), compiling a loss and its gradient ([`LossKernels`]),
//! drawing windows or trajectories with a seeded generator, gradients through
//! the solves (`nde_runtime::adjoint`, all trajectories of a step in one
//! batch over all cores), the optimiser step, evaluation on the whole data,
//! and checkpoints that let a run resume bit for bit ([`Trainer::checkpoint`],
//! [`Trainer::restore`]).
//!
//! SDE models train pathwise: each window (or trajectory) of step `k` is one
//! sample path, member `b` on the Brownian tree seeded by
//! [`brownian_seed`]`(seed, k, b)`, differentiated by `nde_runtime::sde`'s
//! discrete or reversible adjoint member by member in member order (so the
//! result does not depend on the thread count); `generate` of an SDE model
//! draws one sample path ([`GENERATE_SEED`]), or `N` with `paths = N`. A
//! loss with an ensemble solve (`paths = N`) fits the model's distribution
//! instead: one loss over all paths per step (the `ensemble` submodule).
//!
//! A step's loss is the mean over its windows (or trajectories) of the loss
//! block's value on each. Never prints (the binary draws the progress bar)
//! and never panics on bad data or a failing solve: both are [`TrainFailure`]s.

use std::fmt;

use rayon::prelude::*;
use std::sync::Arc;

use nde_runtime::adjoint::{self, Adjoint, BatchCotangent, BatchTimes, SamplingStrategy};
use nde_runtime::brownian::BrownianTree;
use nde_runtime::data::Series;
use nde_runtime::io::{Array, IoError};
use nde_runtime::sde::{sde_gradient, sde_solve, SdeAdjoint, SdeOptions};
use nde_runtime::solve::{solve, SolveOptions};
use nde_runtime::train::{clip_by_global_norm, global_norm, Optimizer, TrainError};
use nde_runtime::SolveError;

use super::sde::{ModelSdeField, SdeKernels};
use super::{initial_state, ModelField, ModelKernels};
use crate::autodiff;
use crate::codegen::{CodegenError, JitOptions};
use crate::ir::training::{
    BatchSpec, DataSource, DataSpec, InitialState, LossIr, LossLayout, LossStat, Sampling, TrainSpec,
};
use crate::ir::{self, ModelIr, ProgramIr};
use crate::rng::SplitMix64;

mod checkpoint;
mod config;
mod controlled;
mod ensemble;
mod loss;
mod stiff;

pub use config::{adjoint_of, is_sde_method, optimizer_of, sde_adjoint_of, sde_options, solve_options};
pub use ensemble::DataStats;
pub(crate) use loss::loss_functions;
pub use loss::{compile_loss, LossKernels};

/// Why training could not start or go on.
#[derive(Debug)]
pub enum TrainFailure {
    /// The declarations do not fit together (a bug in the file the checker
    /// cannot see, e.g. data with fewer rows than a window).
    Setup(String),
    /// Code generation failed (a compiler bug).
    Codegen(CodegenError),
    /// A solve or a gradient failed (at step `step`; 0 while preparing data).
    Solve { step: u64, error: SolveError },
    /// The optimiser refused the step (e.g. a non-finite gradient).
    Optimizer { step: u64, error: TrainError },
    /// A checkpoint or output file.
    File(IoError),
    /// A checkpoint that does not belong to this train block.
    BadCheckpoint(String),
}

impl fmt::Display for TrainFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainFailure::Setup(m) => write!(f, "{m}"),
            TrainFailure::Codegen(e) => write!(f, "code generation failed: {e}"),
            TrainFailure::Solve { step: 0, error } => write!(f, "{error}"),
            TrainFailure::Solve { step, error } => write!(f, "training step {step}: {error}"),
            TrainFailure::Optimizer { step, error } => write!(f, "training step {step}: {error}"),
            TrainFailure::File(e) => write!(f, "{e}"),
            TrainFailure::BadCheckpoint(m) => write!(f, "cannot resume: {m}"),
        }
    }
}

impl std::error::Error for TrainFailure {}

impl From<CodegenError> for TrainFailure {
    fn from(e: CodegenError) -> Self {
        TrainFailure::Codegen(e)
    }
}

impl From<IoError> for TrainFailure {
    fn from(e: IoError) -> Self {
        TrainFailure::File(e)
    }
}

/// The seed of the Brownian path of member `member` of training step
/// `step` (steps count from 1; step 0 is [`Trainer::evaluate`]'s, with
/// the member the trajectory) for a `train` block with seed `seed`: a fixed
/// hash, so a run and a resumed run draw the same paths.
pub fn brownian_seed(seed: u64, step: u64, member: u64) -> u64 {
    let mut h = SplitMix64::new(seed ^ 0x5DE5_EED5_0000_0001);
    let a = h.next_u64();
    let mut h = SplitMix64::new(a ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let b = h.next_u64();
    SplitMix64::new(b ^ member.wrapping_mul(0xC2B2_AE3D_27D4_EB4F)).next_u64()
}

/// The seed of the one sample path `generate` draws from an SDE model: it
/// uses stream 0 of the tree with this seed, the path `nde run --paths 1
/// --noise-seed 0` draws at the same save times and step (up to round-off).
pub const GENERATE_SEED: u64 = 0;

/// The Brownian tree an SDE solve over `[t0, t_end]` with `opts` draws from.
fn brownian_tree(
    kernels: &SdeKernels,
    opts: &SdeOptions,
    seed: u64,
    t0: f64,
    t_end: f64,
) -> Result<BrownianTree, SolveError> {
    let m = kernels.noise.channels(kernels.n_state());
    BrownianTree::new(seed, t0, t_end, m, opts.resolved_brownian_tol(t0, t_end))
}

/// The observations of a data set: loaded ones as they are, generated ones
/// by solving their model from its initial state (with its initial
/// parameter values) at the requested times. An SDE model (with an SDE
/// solver) gives one sample path, drawn with [`GENERATE_SEED`], or `paths`
/// of them (path `b` on stream `b` of that tree; path 0 is the single one).
pub fn materialize_data(program: &ProgramIr, data: &DataSpec, jit: &JitOptions) -> Result<Arc<Series>, TrainFailure> {
    match &data.source {
        DataSource::Loaded { series, .. } => Ok(series.clone()),
        DataSource::Generate { model, times, solver, paths } => {
            let model = program
                .model(model)
                .ok_or_else(|| TrainFailure::Setup(format!("data `{}`: no model `{model}`", data.name)))?;
            let t0 = times[0];
            let y0 = initial_state(model, &model.param_values, t0).map_err(|e| {
                TrainFailure::Setup(format!("data `{}`: initial state of `{}`: {e}", data.name, model.name))
            })?;
            let sol = if model.is_sde() {
                let opts = sde_options(solver, model).map_err(|e| setup(format!("data `{}`: {e}", data.name)))?;
                let kernels =
                    SdeKernels::compile(model, jit).map_err(|e| setup(format!("data `{}`: {e}", data.name)))?;
                let field = ModelSdeField::new(&kernels, &model.param_values);
                let t_end = times[times.len() - 1];
                let solve_error = |error| TrainFailure::Solve { step: 0, error };
                if *paths > 1 {
                    let y = ensemble::generate_paths(&field, t0, &y0, times, &opts, *paths).map_err(solve_error)?;
                    let series = Series::from_values(times.clone(), super::state_columns(model), *paths, y)
                        .map_err(|e| TrainFailure::Setup(format!("data `{}`: {e}", data.name)))?;
                    return Ok(Arc::new(series));
                }
                let tree = brownian_tree(&kernels, &opts, GENERATE_SEED, t0, t_end).map_err(solve_error)?.stream(0);
                sde_solve(&field, t0, &y0, times, &opts, &tree).map_err(solve_error)?
            } else {
                if is_sde_method(&solver.method) {
                    return Err(setup(format!(
                        "data `{}`: model `{}` is an ODE (it has no noise terms), but solver `{}` is {}, an SDE solver",
                        data.name, model.name, solver.name, solver.method
                    )));
                }
                let ode = super::stiff::solver_from_spec(solver)
                    .map_err(|e| setup(format!("data `{}`: solver `{}`: {e}", data.name, solver.name)))?;
                let kernels = super::compile_model(model, jit)?;
                let field = ModelField::new(&kernels, &model.param_values);
                let solved = super::solve_ode(&field, &ode, t0, &y0, times);
                solved.map_err(|error| TrainFailure::Solve { step: 0, error })?.solution
            };
            let series = Series::from_values(times.clone(), super::state_columns(model), 1, sol.y)
                .map_err(|e| TrainFailure::Setup(format!("data `{}`: {e}", data.name)))?;
            Ok(Arc::new(series))
        }
    }
}

/// What one training step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepRecord {
    /// 1 for the first step.
    pub step: u64,
    /// Mean loss over the step's windows (before the update).
    pub loss: f64,
    /// Mean vector-field evaluations per forward solve.
    pub nfe: f64,
    /// Global norm of the gradient (before clipping).
    pub grad_norm: f64,
    /// Learning rate used.
    pub lr: f64,
}

/// A solve over the whole data with the current parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The loss block's value (mean over trajectories).
    pub loss: f64,
    /// Vector-field evaluations per trajectory (mean).
    pub nfe: f64,
    /// Attempted steps per trajectory (mean).
    pub steps: f64,
}

/// Settings that are not part of the file.
#[derive(Clone, Debug, Default)]
pub struct TrainOptions {
    /// Worker threads for a step's batch (0: all cores). Results do not depend on it.
    pub threads: usize,
    /// Replaces the block's `steps`.
    pub steps: Option<u64>,
    pub jit: JitOptions,
}

/// One window or trajectory of a step: trajectory `traj`, save times
/// `start .. start + len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) traj: usize,
    pub(crate) start: usize,
}

/// What a step solves and differentiates: an ODE model's kernels, solver
/// and adjoint, or an SDE model's.
enum Dynamics {
    Ode {
        kernels: ModelKernels,
        opts: SolveOptions,
        adjoint: Adjoint,
    },
    Sde {
        kernels: SdeKernels,
        opts: SdeOptions,
        adjoint: SdeAdjoint,
    },
    /// An ODE model solved with a stiff method (the `stiff` submodule).
    Stiff {
        kernels: ModelKernels,
        opts: nde_runtime::stiff::StiffOptions,
        adjoint: Adjoint,
    },
    /// A CDE: one control path per trajectory of the data the loss saves at.
    Cde {
        kernels: ModelKernels,
        opts: SolveOptions,
        adjoint: Adjoint,
        paths: Vec<nde_runtime::path::ControlPath>,
    },
}

/// A batch gradient through ODE solves: the field, the times, the initial
/// states, the sampled regularisers' draws and the loss's cotangent.
type BatchRun<'a> = dyn Fn(
        &ModelField<'_>,
        BatchTimes<'_>,
        &[f64],
        Option<(SamplingStrategy, &[f64])>,
        &mut dyn FnMut(&nde_runtime::BatchSolution) -> BatchCotangent,
    ) -> Result<(nde_runtime::BatchSolution, adjoint::BatchGradient), SolveError>
    + 'a;

/// One SDE member's share of a step: its loss, the loss block's own
/// parameter gradient, the gradient through the solve, `dL/dy0`, NFE.
struct MemberGradient {
    loss: f64,
    direct: Vec<f64>,
    through_solve: Vec<f64>,
    y0: Vec<f64>,
    nfe: u64,
}

/// A training run in progress.
pub struct Trainer {
    pub spec: TrainSpec,
    model: ModelIr,
    dynamics: Dynamics,
    window: LossKernels,
    window_loss: LossIr,
    full: LossKernels,
    data: Arc<Series>,
    /// Data values with missing ones replaced by 0, and the mask (1 = observed).
    filled: Vec<f64>,
    mask: Vec<f64>,
    /// `DATA.mean` and `DATA.var` of the data.
    data_stats: DataStats,
    /// Window (or trajectory) starts a step may draw, `(traj, start)`.
    starts: Vec<Member>,
    /// `init`'s vector–Jacobian product when the model's initial state depends on parameters.
    init_vjp: Option<ir::Function>,
    params: Vec<f64>,
    optimizer: Optimizer,
    rng: SplitMix64,
    steps_done: u64,
    pub total_steps: u64,
    /// Every step so far (also restored from a checkpoint).
    pub history: Vec<StepRecord>,
    threads: usize,
}

fn setup(msg: impl Into<String>) -> TrainFailure {
    TrainFailure::Setup(msg.into())
}

/// A trainer that only evaluates the loss `name` ([`Trainer::evaluate`],
/// for `nde eval`): set up like its `train` block when the file has one
/// (its solver, initial state and seed; whole trajectories instead of
/// windows), else on whole trajectories from the model's initial state.
pub fn evaluator(program: &ProgramIr, name: &str, opts: &TrainOptions) -> Result<Trainer, TrainFailure> {
    let mut spec = program.trains.iter().find(|t| t.loss == name).cloned().unwrap_or_else(|| TrainSpec {
        loss: name.to_string(),
        optimizer: crate::ir::training::OptimizerSpec { rule: "sgd".into(), options: vec![("lr".into(), 1e-3)] },
        schedule: crate::ir::training::ScheduleSpec { kind: "constant".into(), options: Vec::new() },
        clip: None,
        steps: 1,
        batch: BatchSpec::Full,
        initial: InitialState::Model,
        gradient: "discrete".into(),
        adjoint_checkpoints: None,
        seed: 0,
        checkpoint: None,
        checkpoint_every: 1,
    });
    spec.batch = BatchSpec::Full;
    Trainer::new(program, None, &spec, opts)
}

impl Trainer {
    /// Prepares the `train` block `spec` of `program`. `window_program` is the
    /// same file checked with the data's length set to the window length
    /// (`FrontendOptions::data_times`); `None` when the block trains on whole
    /// trajectories.
    pub fn new(
        program: &ProgramIr,
        window_program: Option<&ProgramIr>,
        spec: &TrainSpec,
        opts: &TrainOptions,
    ) -> Result<Trainer, TrainFailure> {
        let full_loss =
            program.loss(&spec.loss).ok_or_else(|| setup(format!("no loss named `{}`", spec.loss)))?.clone();
        let window_loss = match (spec.batch, window_program) {
            (BatchSpec::Windows { .. }, Some(w)) => {
                w.loss(&spec.loss).ok_or_else(|| setup(format!("no loss named `{}`", spec.loss)))?.clone()
            }
            (BatchSpec::Windows { .. }, None) => {
                return Err(setup("windows need the loss checked at the window length"))
            }
            _ => full_loss.clone(),
        };
        let model =
            program.model(&full_loss.model).ok_or_else(|| setup(format!("no model `{}`", full_loss.model)))?.clone();
        let data_spec =
            program.data_set(&full_loss.data).ok_or_else(|| setup(format!("no data `{}`", full_loss.data)))?;
        let data = materialize_data(program, data_spec, &opts.jit)?;
        let (n_times, n_cols) = (data.t.len(), data.columns.len());
        if full_loss.layout.n_times != n_times || full_loss.layout.n_obs != n_cols {
            return Err(setup(format!(
                "loss `{}` was checked for {}×{} data, but `{}` has {n_times}×{n_cols}",
                full_loss.name, full_loss.layout.n_times, full_loss.layout.n_obs, data_spec.name
            )));
        }
        let dynamics = if model.is_cde() {
            controlled::dynamics(&model, [&full_loss, &window_loss], &data, spec, opts)?
        } else if model.is_sde() {
            let sde_opts =
                sde_options(&full_loss.solver, &model).map_err(|e| setup(format!("loss `{}`: {e}", full_loss.name)))?;
            let adjoint = sde_adjoint_of(spec, sde_opts.method)?;
            let heuristics =
                [LossStat::LocalError, LossStat::Stiffness, LossStat::SampledLocalError, LossStat::SampledStiffness];
            if let Some(stat) =
                heuristics.iter().find(|s| window_loss.stats_used.contains(s) || full_loss.stats_used.contains(s))
            {
                return Err(setup(format!(
                    "loss `{}` reads `sol.{}`, a solver heuristic of ODE solves; SDE model `{}` has none \
                     (`sol.nfe` and `sol.steps` are available)",
                    full_loss.name,
                    stat.name(),
                    model.name
                )));
            }
            let kernels = SdeKernels::compile(&model, &opts.jit).map_err(|e| setup(e.to_string()))?;
            Dynamics::Sde { kernels, opts: sde_opts, adjoint }
        } else {
            if is_sde_method(&full_loss.solver.method) {
                return Err(setup(format!(
                    "loss `{}`: model `{}` is an ODE (it has no noise terms), but solver `{}` is {}, an SDE solver",
                    full_loss.name, model.name, full_loss.solver.name, full_loss.solver.method
                )));
            }
            match stiff::dynamics(&model, [&full_loss, &window_loss], spec, opts)? {
                Some(dynamics) => dynamics,
                None => {
                    let solve_opts = solve_options(&full_loss.solver).map_err(setup)?;
                    let adjoint = adjoint_of(spec)?;
                    let kernels = super::compile_model(&model, &opts.jit)?;
                    Dynamics::Ode { kernels, opts: solve_opts, adjoint }
                }
            }
        };
        let window = compile_loss(&window_loss, &opts.jit)?;
        let full = compile_loss(&full_loss, &opts.jit)?;
        let filled: Vec<f64> = data.y.iter().map(|&v| if v.is_nan() { 0.0 } else { v }).collect();
        let mask: Vec<f64> = data.y.iter().map(|&v| if v.is_nan() { 0.0 } else { 1.0 }).collect();
        let data_stats = DataStats::of(&data);
        ensemble::check_setup(&full_loss, &model, spec)?;
        let n_state = model.n_state();
        if spec.initial == InitialState::Data && n_cols != n_state {
            return Err(setup(format!(
                "`initial = data` starts each solve from an observation, but `{}` has {n_cols} columns and model `{}` \
                 has {n_state} states",
                data_spec.name, model.name
            )));
        }
        let len = window_loss.layout.n_times;
        let last_start = match spec.batch {
            BatchSpec::Windows { length, .. } => {
                if length > n_times {
                    return Err(setup(format!("windows of {length} times, but the data has only {n_times}")));
                }
                n_times - length
            }
            _ => 0,
        };
        let observed = |traj: usize, row: usize| (0..n_cols).all(|c| mask[(traj * n_times + row) * n_cols + c] == 1.0);
        let starts: Vec<Member> = (0..data.n_traj)
            .flat_map(|traj| (0..=last_start).map(move |start| Member { traj, start }))
            .filter(|m| spec.initial == InitialState::Model || observed(m.traj, m.start))
            .collect();
        if starts.is_empty() {
            return Err(setup(format!(
                "no window of `{}` starts at a fully observed row (with `initial = data` each solve starts from its first observation)",
                data_spec.name
            )));
        }
        debug_assert!(len >= 1);
        let reads_params =
            model.init.nodes.iter().any(|n| matches!(n.op, ir::Op::Input { buf: ir::InputBuf::Param, .. }));
        let init_vjp = (spec.initial == InitialState::Model && reads_params).then(|| autodiff::vjp(&model.init));
        let total_steps = opts.steps.unwrap_or(spec.steps);
        let optimizer = optimizer_of(spec, total_steps, model.n_param())?;
        Ok(Trainer {
            spec: spec.clone(),
            params: model.param_values.clone(),
            model,
            dynamics,
            window,
            window_loss,
            full,
            data,
            filled,
            mask,
            data_stats,
            starts,
            init_vjp,
            optimizer,
            rng: SplitMix64::new(spec.seed),
            steps_done: 0,
            total_steps,
            history: Vec::new(),
            threads: opts.threads,
        })
    }

    pub fn model(&self) -> &ModelIr {
        &self.model
    }

    pub fn params(&self) -> &[f64] {
        &self.params
    }

    /// Replaces the parameters (e.g. from a `.npz` before training).
    pub fn set_params(&mut self, values: Vec<f64>) {
        assert_eq!(values.len(), self.params.len());
        self.params = values;
    }

    /// Trajectories of the loss's data set (what [`Trainer::batch_gradient`] may name).
    pub fn n_trajectories(&self) -> usize {
        self.data.n_traj
    }

    /// The loss's data set (generated or loaded).
    pub(crate) fn data(&self) -> &Series {
        &self.data
    }

    /// `init`'s VJP when the solves start from a model initial state that
    /// reads parameters (its gradient is chained through it).
    pub(crate) fn init_vjp(&self) -> Option<&ir::Function> {
        self.init_vjp.as_ref()
    }

    /// The adjoint of an ODE model solved with an explicit method (`None`
    /// for stiff, SDE and controlled models).
    pub(crate) fn explicit_adjoint(&self) -> Option<Adjoint> {
        match &self.dynamics {
            Dynamics::Ode { adjoint, .. } => Some(*adjoint),
            Dynamics::Sde { .. } | Dynamics::Stiff { .. } | Dynamics::Cde { .. } => None,
        }
    }

    /// Steps taken so far.
    pub fn steps_done(&self) -> u64 {
        self.steps_done
    }

    pub fn is_finished(&self) -> bool {
        self.steps_done >= self.total_steps
    }

    /// The solve options of the loss's solver (`None` for an SDE model).
    pub fn solve_options(&self) -> Option<&SolveOptions> {
        match &self.dynamics {
            Dynamics::Ode { opts, .. } | Dynamics::Cde { opts, .. } => Some(opts),
            Dynamics::Sde { .. } | Dynamics::Stiff { .. } => None,
        }
    }

    /// The SDE solve options of the loss's solver (`None` for an ODE model).
    pub fn sde_options(&self) -> Option<&SdeOptions> {
        match &self.dynamics {
            Dynamics::Sde { opts, .. } => Some(opts),
            Dynamics::Ode { .. } | Dynamics::Cde { .. } | Dynamics::Stiff { .. } => None,
        }
    }

    /// This step's windows or trajectories, drawn without replacement.
    fn draw(&mut self) -> Vec<Member> {
        let count = match self.spec.batch {
            BatchSpec::Full => return self.starts.clone(),
            BatchSpec::Windows { count, .. } | BatchSpec::Trajectories { count } => count,
        };
        let mut pool: Vec<usize> = (0..self.starts.len()).collect();
        let count = count.min(pool.len());
        for i in 0..count {
            let j = i + self.rng.below(pool.len() - i);
            pool.swap(i, j);
        }
        pool[..count].iter().map(|&i| self.starts[i]).collect()
    }

    /// The initial state of member `m`'s solve from `t0` (the data's first
    /// row with `initial = data`, else the model's initial state).
    pub(crate) fn y0_of(&self, m: Member, t0: f64) -> Result<Vec<f64>, TrainFailure> {
        match self.spec.initial {
            InitialState::Data => {
                let n = self.data.columns.len();
                let row = (m.traj * self.data.t.len() + m.start) * n;
                Ok(self.data.y[row..row + n].to_vec())
            }
            InitialState::Model => initial_state(&self.model, &self.params, t0)
                .map_err(|e| setup(format!("initial state of `{}`: {e}", self.model.name))),
        }
    }

    /// Fills the loss input buffer for member `m` from its solution rows and statistics.
    pub(crate) fn loss_input(
        &self,
        layout: &LossLayout,
        m: Member,
        sol_y: &[f64],
        stats: &[f64; 6],
        input: &mut [f64],
    ) {
        let (n_times, n_cols) = (self.data.t.len(), self.data.columns.len());
        let len = layout.n_times;
        let rows = (m.traj * n_times + m.start) * n_cols..(m.traj * n_times + m.start + len) * n_cols;
        input[..sol_y.len()].copy_from_slice(sol_y);
        input[layout.obs_y()..layout.obs_y() + len * n_cols].copy_from_slice(&self.filled[rows.clone()]);
        input[layout.obs_mask()..layout.obs_mask() + len * n_cols].copy_from_slice(&self.mask[rows]);
        input[layout.times()..layout.times() + len].copy_from_slice(&self.data.t[m.start..m.start + len]);
        for (s, v) in LossStat::ALL.iter().zip(stats) {
            input[layout.stat(*s)] = *v;
        }
        if layout.data_stats {
            self.data_stats.fill(layout, m.start, input);
        }
        let mut at = layout.fields();
        for f in self.data.fields.iter().take_while(|_| layout.n_field > 0) {
            input[at..at + f.len()].copy_from_slice(f.of(m.traj));
            at += f.len();
        }
    }

    /// One optimisation step: draws the windows, differentiates the mean loss
    /// through their solves, and updates the parameters. For an SDE model
    /// member `b` of step `k` is solved on the Brownian path seeded with
    /// [`brownian_seed`]`(seed, k, b)`.
    pub fn step(&mut self) -> Result<StepRecord, TrainFailure> {
        let step = self.steps_done + 1;
        let members = self.draw();
        let sampled = self
            .window_loss
            .stats_used
            .iter()
            .any(|s| matches!(s, LossStat::SampledLocalError | LossStat::SampledStiffness));
        let us: Vec<f64> = if sampled { members.iter().map(|_| self.rng.unit()).collect() } else { Vec::new() };
        let (loss, mut grad, nfe) = self.loss_gradient(step, &members, &us)?;
        let grad_norm = global_norm(&grad);
        if let Some(max) = self.spec.clip {
            clip_by_global_norm(&mut grad, max).map_err(|error| TrainFailure::Optimizer { step, error })?;
        }
        let lr = self.optimizer.next_lr();
        self.optimizer.step(&mut self.params, &grad).map_err(|error| TrainFailure::Optimizer { step, error })?;
        let record = StepRecord { step, loss, nfe, grad_norm, lr };
        self.steps_done = step;
        self.history.push(record);
        Ok(record)
    }

    /// The loss a step over the given trajectories would descend and its
    /// gradient, at the current parameters (with windows, each
    /// trajectory's first window; an SDE model on step 1's paths). For
    /// checks against finite differences; changes nothing.
    pub fn batch_gradient(&self, trajectories: &[usize]) -> Result<(f64, Vec<f64>), TrainFailure> {
        if let Some(&bad) = trajectories.iter().find(|&&b| b >= self.data.n_traj) {
            return Err(setup(format!("trajectory {bad} of {}", self.data.n_traj)));
        }
        let members: Vec<Member> = trajectories.iter().map(|&traj| Member { traj, start: 0 }).collect();
        let (loss, grad, _) = self.loss_gradient(1, &members, &[])?;
        Ok((loss, grad))
    }

    /// The mean loss over `members` at the current parameters, its gradient
    /// with respect to them, and the mean NFE per forward solve: what step
    /// `step` descends along (`us`: the sampled regularisers' draws, one per
    /// member, or none). Changes nothing.
    fn loss_gradient(&self, step: u64, members: &[Member], us: &[f64]) -> Result<(f64, Vec<f64>, f64), TrainFailure> {
        if self.full.layout.is_ensemble() {
            return self.ensemble_loss_gradient(step);
        }
        if let Dynamics::Cde { .. } = self.dynamics {
            return self.cde_step(step, members);
        }
        let layout = self.window.layout;
        let len = layout.n_times;
        let n = self.model.n_state();
        let mut t0s = Vec::with_capacity(members.len());
        let mut saveat = Vec::with_capacity(members.len() * len);
        let mut y0s = Vec::with_capacity(members.len() * n);
        for &m in members {
            let t = &self.data.t[m.start..m.start + len];
            t0s.push(t[0]);
            saveat.extend_from_slice(t);
            y0s.extend(self.y0_of(m, t[0])?);
        }
        let (loss, mut grad, gy0s, nfe) = match &self.dynamics {
            Dynamics::Ode { kernels, opts, adjoint } => {
                let run: &BatchRun<'_> = &|field, times, y0s, sampling, cot| {
                    adjoint::gradient_batch(field, times, y0s, opts, *adjoint, self.threads, sampling, cot)
                };
                self.ode_gradient(step, kernels, members, us, &t0s, &saveat, &y0s, run)?
            }
            Dynamics::Stiff { kernels, opts, adjoint } => {
                // Sema refuses the sampled regularisers with stiff solvers.
                let run: &BatchRun<'_> = &|field, times, y0s, _sampling, cot| {
                    stiff::gradient_batch(field, times, y0s, opts, *adjoint, self.threads, cot)
                };
                self.ode_gradient(step, kernels, members, us, &t0s, &saveat, &y0s, run)?
            }
            Dynamics::Sde { kernels, opts, adjoint } => {
                self.sde_gradient(step, kernels, opts, *adjoint, members, &t0s, &saveat, &y0s)?
            }
            Dynamics::Cde { .. } => unreachable!("a CDE step is `cde_step`"),
        };
        if let Some(init_vjp) = &self.init_vjp {
            for (b, &t0) in t0s.iter().enumerate() {
                let gy0 = &gy0s[b * n..(b + 1) * n];
                let out = ir::interp::eval(init_vjp, t0, gy0, &self.params)
                    .map_err(|e| setup(format!("gradient of the initial state: {e}")))?;
                for (g, d) in grad.iter_mut().zip(&out[out.len() - self.params.len()..]) {
                    *g += d;
                }
            }
        }
        Ok((loss, grad, nfe))
    }

    /// The ODE part of [`Trainer::loss_gradient`]: all members in one batch
    /// through `run` (the explicit or the stiff adjoint). Returns the loss,
    /// `dL/dp`, `dL/dy0` per member and the mean NFE.
    #[allow(clippy::too_many_arguments)]
    fn ode_gradient(
        &self,
        step: u64,
        kernels: &ModelKernels,
        members: &[Member],
        us: &[f64],
        t0s: &[f64],
        saveat: &[f64],
        y0s: &[f64],
        run: &BatchRun<'_>,
    ) -> Result<(f64, Vec<f64>, Vec<f64>, f64), TrainFailure> {
        let layout = self.window.layout;
        let len = layout.n_times;
        let n = self.model.n_state();
        let weight = 1.0 / members.len() as f64;
        let mut loss = 0.0;
        let mut direct = vec![0.0; self.params.len()];
        let strategy = match self.window_loss.sampling {
            Sampling::Unbiased => SamplingStrategy::Unbiased,
            Sampling::Biased => SamplingStrategy::Biased,
        };
        let (bsol, bgrad) = {
            let field = ModelField::new(kernels, &self.params);
            let mut input = vec![0.0; layout.len()];
            let mut d_input = vec![0.0; layout.len()];
            let mut scratch = self.window.scratch();
            let this = self;
            let mut cotangent = |sol: &nde_runtime::BatchSolution| {
                let mut cot = BatchCotangent::zeros(members.len(), len * n);
                for (b, &m) in members.iter().enumerate() {
                    let st = &sol.stats[b];
                    let stats = [
                        st.local_error,
                        st.stiffness,
                        st.sampled_local_error,
                        st.sampled_stiffness,
                        st.nfe as f64,
                        st.steps() as f64,
                    ];
                    this.loss_input(&layout, m, sol.trajectory(b), &stats, &mut input);
                    loss += weight * this.window.value(&input, &this.params, &mut scratch);
                    this.window.gradient(&input, &this.params, weight, &mut d_input, &mut direct, &mut scratch);
                    cot.y[b * len * n..(b + 1) * len * n].copy_from_slice(&d_input[..len * n]);
                    cot.local_error[b] = d_input[layout.stat(LossStat::LocalError)];
                    cot.stiffness[b] = d_input[layout.stat(LossStat::Stiffness)];
                    cot.sampled_local_error[b] = d_input[layout.stat(LossStat::SampledLocalError)];
                    cot.sampled_stiffness[b] = d_input[layout.stat(LossStat::SampledStiffness)];
                }
                cot
            };
            let times = BatchTimes::PerTrajectory { t0: t0s, saveat };
            let sampling = (!us.is_empty()).then_some((strategy, us));
            run(&field, times, y0s, sampling, &mut cotangent).map_err(|error| TrainFailure::Solve { step, error })?
        };
        let mut grad = bgrad.params;
        for (g, d) in grad.iter_mut().zip(&direct) {
            *g += d;
        }
        let nfe = bsol.stats.iter().map(|s| s.nfe as f64).sum::<f64>() / members.len() as f64;
        Ok((loss, grad, bgrad.y0, nfe))
    }

    /// The SDE part of [`Trainer::loss_gradient`]: one sample path per
    /// member (seeded by [`brownian_seed`]), differentiated member by member
    /// on the calling thread and summed in member order (so the result does
    /// not depend on `threads`). Returns what [`Trainer::ode_gradient`] does.
    #[allow(clippy::too_many_arguments)]
    fn sde_gradient(
        &self,
        step: u64,
        kernels: &SdeKernels,
        opts: &SdeOptions,
        adjoint: SdeAdjoint,
        members: &[Member],
        t0s: &[f64],
        saveat: &[f64],
        y0s: &[f64],
    ) -> Result<(f64, Vec<f64>, Vec<f64>, f64), TrainFailure> {
        let layout = self.window.layout;
        let len = layout.n_times;
        let n = self.model.n_state();
        let weight = 1.0 / members.len() as f64;
        let field = ModelSdeField::new(kernels, &self.params);
        let solve_error = |error| TrainFailure::Solve { step, error };
        let one = |b: usize, m: Member| -> Result<MemberGradient, TrainFailure> {
            let times = &saveat[b * len..(b + 1) * len];
            let t0 = t0s[b];
            let tree = brownian_tree(kernels, opts, brownian_seed(self.spec.seed, step, b as u64), t0, times[len - 1])
                .map_err(solve_error)?;
            let mut input = vec![0.0; layout.len()];
            let mut d_input = vec![0.0; layout.len()];
            let mut scratch = self.window.scratch();
            let mut direct = vec![0.0; self.params.len()];
            let mut loss = 0.0;
            let mut cotangent = |sol: &nde_runtime::Solution| {
                let stats = [0.0, 0.0, 0.0, 0.0, sol.stats.nfe as f64, sol.stats.steps() as f64];
                self.loss_input(&layout, m, &sol.y, &stats, &mut input);
                loss = weight * self.window.value(&input, &self.params, &mut scratch);
                self.window.gradient(&input, &self.params, weight, &mut d_input, &mut direct, &mut scratch);
                d_input[..len * n].to_vec()
            };
            let (sol, g) =
                sde_gradient(&field, t0, &y0s[b * n..(b + 1) * n], times, opts, &tree, adjoint, &mut cotangent)
                    .map_err(solve_error)?;
            Ok(MemberGradient { loss, direct, through_solve: g.params, y0: g.y0, nfe: sol.stats.nfe })
        };
        // Members in parallel (each its own Brownian seed), then added in
        // member order: the same bits on any number of threads.
        let results: Vec<_> = if self.threads == 1 || members.len() < 2 {
            members.iter().enumerate().map(|(b, &m)| one(b, m)).collect()
        } else {
            members.par_iter().enumerate().map(|(b, &m)| one(b, m)).collect()
        };
        let (mut loss, mut nfe) = (0.0, 0.0);
        let mut grad = vec![0.0; self.params.len()];
        let mut gy0s = Vec::with_capacity(members.len() * n);
        for r in results {
            let r = r?;
            loss += r.loss;
            for (a, d) in grad.iter_mut().zip(&r.direct) {
                *a += d;
            }
            for (a, d) in grad.iter_mut().zip(&r.through_solve) {
                *a += d;
            }
            gy0s.extend_from_slice(&r.y0);
            nfe += r.nfe as f64 / members.len() as f64;
        }
        Ok((loss, grad, gy0s, nfe))
    }

    /// Solves every trajectory of the data whole with the current parameters
    /// and evaluates the loss block on it (the sampled regularisers read 0).
    /// An SDE model's trajectory `i` is one sample path, seeded with
    /// [`brownian_seed`]`(seed, 0, i)` (step 0 is never a training step), so
    /// evaluations at the same parameters agree.
    pub fn evaluate(&self) -> Result<Evaluation, TrainFailure> {
        if self.full.layout.is_ensemble() {
            return self.ensemble_evaluate();
        }
        if let Dynamics::Cde { .. } = self.dynamics {
            return self.cde_evaluate();
        }
        let layout = self.full.layout;
        let mut input = vec![0.0; layout.len()];
        let mut scratch = self.full.scratch();
        let (mut loss, mut nfe, mut steps) = (0.0, 0.0, 0.0);
        let n_traj = self.data.n_traj;
        let t = &self.data.t;
        let solve_error = |error| TrainFailure::Solve { step: self.steps_done, error };
        for traj in 0..n_traj {
            let m = Member { traj, start: 0 };
            let y0 = self.y0_of(m, t[0])?;
            let sol = match &self.dynamics {
                Dynamics::Ode { kernels, opts, .. } => {
                    let field = ModelField::new(kernels, &self.params);
                    solve(&field, t[0], &y0, t, opts).map_err(solve_error)?
                }
                Dynamics::Stiff { kernels, opts, .. } => {
                    let field = ModelField::new(kernels, &self.params);
                    stiff::solve(&field, t[0], &y0, t, opts).map_err(solve_error)?
                }
                Dynamics::Sde { kernels, opts, .. } => {
                    let field = ModelSdeField::new(kernels, &self.params);
                    let seed = brownian_seed(self.spec.seed, 0, traj as u64);
                    let tree = brownian_tree(kernels, opts, seed, t[0], t[t.len() - 1]).map_err(solve_error)?;
                    sde_solve(&field, t[0], &y0, t, opts, &tree).map_err(solve_error)?
                }
                Dynamics::Cde { .. } => unreachable!("a CDE evaluation is `cde_evaluate`"),
            };
            let st = sol.stats;
            let stats = [st.local_error, st.stiffness, 0.0, 0.0, st.nfe as f64, st.steps() as f64];
            self.loss_input(&layout, m, &sol.y, &stats, &mut input);
            loss += self.full.value(&input, &self.params, &mut scratch) / n_traj as f64;
            nfe += st.nfe as f64 / n_traj as f64;
            steps += st.steps() as f64 / n_traj as f64;
        }
        Ok(Evaluation { loss, nfe, steps })
    }

    /// The parameters as arrays named like the model's (`f.W1`, ...), for `nde run --params`.
    pub fn param_arrays(&self) -> Vec<Array> {
        super::params::param_arrays(&self.model, &self.params)
    }
}

#[cfg(test)]
mod tests;
