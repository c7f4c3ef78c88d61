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
//! A step's loss is the mean over its windows (or trajectories) of the loss
//! block's value on each. Never prints (the binary draws the progress bar)
//! and never panics on bad data or a failing solve: both are [`TrainFailure`]s.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use nde_runtime::adjoint::{self, Adjoint, BatchCotangent, BatchTimes, SamplingStrategy};
use nde_runtime::data::Series;
use nde_runtime::io::{self, Array, IoError};
use nde_runtime::solve::{solve, SolveOptions};
use nde_runtime::train::{clip_by_global_norm, global_norm, Optimizer, Rule, Schedule, TrainError};
use nde_runtime::SolveError;

use super::{initial_state, prepare, ModelField, ModelKernels};
use crate::autodiff;
use crate::codegen::{CodegenError, CompiledKernel, JitModule, JitOptions};
use crate::ir::training::{
    BatchSpec, DataSource, DataSpec, InitialState, LossIr, LossLayout, LossStat, Sampling, TrainSpec,
};
use crate::ir::{self, ModelIr, ProgramIr, SolverSpec};
use crate::rng::SplitMix64;

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

/// [`super::solve_options`], and a step size for fixed-step methods.
pub fn solve_options(spec: &SolverSpec) -> Result<SolveOptions, String> {
    let opts = super::solve_options(spec)?;
    if !opts.method.is_adaptive() && opts.dt.is_none() {
        return Err(format!("solver `{}`: {} is a fixed-step method and needs `dt`", spec.name, spec.method));
    }
    Ok(opts)
}

/// The column names of a model's flat state: `x` for a scalar state,
/// `y[0]`, `y[1]`, ... for a tensor.
pub fn state_columns(model: &ModelIr) -> Vec<String> {
    let mut names = Vec::with_capacity(model.n_state());
    for s in &model.states {
        if s.shape.is_scalar() {
            names.push(s.name.clone());
        } else {
            names.extend((0..s.shape.len()).map(|i| format!("{}[{i}]", s.name)));
        }
    }
    names
}

/// The observations of a data set: loaded ones as they are, generated ones
/// by solving their model from its initial state (with its initial
/// parameter values) at the requested times.
pub fn materialize_data(program: &ProgramIr, data: &DataSpec, jit: &JitOptions) -> Result<Arc<Series>, TrainFailure> {
    match &data.source {
        DataSource::Loaded { series, .. } => Ok(series.clone()),
        DataSource::Generate { model, times, solver } => {
            let model = program
                .model(model)
                .ok_or_else(|| TrainFailure::Setup(format!("data `{}`: no model `{model}`", data.name)))?;
            let opts = solve_options(solver).map_err(TrainFailure::Setup)?;
            let kernels = super::compile_model(model, jit)?;
            let t0 = times[0];
            let y0 = initial_state(model, &model.param_values, t0).map_err(|e| {
                TrainFailure::Setup(format!("data `{}`: initial state of `{}`: {e}", data.name, model.name))
            })?;
            let field = ModelField::new(&kernels, &model.param_values);
            let sol = solve(&field, t0, &y0, times, &opts).map_err(|error| TrainFailure::Solve { step: 0, error })?;
            let series = Series::from_values(times.clone(), state_columns(model), 1, sol.y)
                .map_err(|e| TrainFailure::Setup(format!("data `{}`: {e}", data.name)))?;
            Ok(Arc::new(series))
        }
    }
}

/// A loss block's compiled value and gradient kernels (see [`LossLayout`]
/// for the input buffer).
pub struct LossKernels {
    _jit: JitModule,
    value: CompiledKernel,
    grad: CompiledKernel,
    pub layout: LossLayout,
}

/// Compiles `loss` and its vector–Jacobian product.
pub fn compile_loss(loss: &LossIr, opts: &JitOptions) -> Result<LossKernels, CodegenError> {
    ir::verify::verify(&loss.function).map_err(CodegenError::Verify)?;
    let value = prepare(loss.function.clone());
    let grad = prepare(autodiff::vjp(&loss.function));
    let jit = JitModule::compile(&[&value, &grad], opts)?;
    let kernel = |f: &ir::Function| jit.kernel(&f.name).cloned().ok_or_else(|| CodegenError::missing(&f.name));
    let (value_k, grad_k) = (kernel(&value)?, kernel(&grad)?);
    Ok(LossKernels { value: value_k, grad: grad_k, layout: loss.layout, _jit: jit })
}

impl LossKernels {
    /// Work space for [`LossKernels::value`] and [`LossKernels::gradient`].
    pub fn scratch(&self) -> Vec<f64> {
        let g = &self.grad;
        vec![0.0; (self.value.scratch_len + 1).max(g.n_state + g.out_len + g.scratch_len)]
    }

    /// The loss at `input` (`layout.len()` values) and `params`.
    pub fn value(&self, input: &[f64], params: &[f64], scratch: &mut [f64]) -> f64 {
        let k = &self.value;
        assert!(input.len() == k.n_state && params.len() == k.n_param);
        let (out, rest) = scratch.split_at_mut(1);
        assert!(rest.len() >= k.scratch_len);
        // SAFETY: lengths checked against the kernel's metadata above; kernels
        // neither allocate nor keep pointers.
        unsafe { (k.single)(0.0, input.as_ptr(), params.as_ptr(), out.as_mut_ptr(), rest.as_mut_ptr()) };
        out[0]
    }

    /// `weight · ∂loss/∂input` into `d_input` (overwritten) and
    /// `weight · ∂loss/∂params` added to `d_params`.
    pub fn gradient(
        &self,
        input: &[f64],
        params: &[f64],
        weight: f64,
        d_input: &mut [f64],
        d_params: &mut [f64],
        scratch: &mut [f64],
    ) {
        let k = &self.grad;
        let n = input.len();
        assert!(n + 1 == k.n_state && params.len() == k.n_param && d_input.len() == n);
        let (buf, rest) = scratch.split_at_mut(k.n_state);
        let (out, kscratch) = rest.split_at_mut(k.out_len);
        assert!(kscratch.len() >= k.scratch_len);
        buf[..n].copy_from_slice(input);
        buf[n] = weight;
        // SAFETY: as in `value`.
        unsafe { (k.single)(0.0, buf.as_ptr(), params.as_ptr(), out.as_mut_ptr(), kscratch.as_mut_ptr()) };
        d_input.copy_from_slice(&out[..n]);
        for (g, d) in d_params.iter_mut().zip(&out[n..]) {
            *g += d;
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
struct Member {
    traj: usize,
    start: usize,
}

/// A training run in progress.
pub struct Trainer {
    pub spec: TrainSpec,
    model: ModelIr,
    kernels: ModelKernels,
    window: LossKernels,
    window_loss: LossIr,
    full: LossKernels,
    data: Arc<Series>,
    /// Data values with missing ones replaced by 0, and the mask (1 = observed).
    filled: Vec<f64>,
    mask: Vec<f64>,
    solve_opts: SolveOptions,
    adjoint: Adjoint,
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

/// The optimiser of a checked `train` block (`lr` is required by the checker).
pub fn optimizer_of(spec: &TrainSpec, steps: u64, n_params: usize) -> Result<Optimizer, TrainFailure> {
    let opt = |name: &str, default: f64| {
        spec.optimizer.options.iter().find(|(k, _)| k == name).map(|(_, v)| *v).unwrap_or(default)
    };
    let sched = |name: &str, default: f64| {
        spec.schedule.options.iter().find(|(k, _)| k == name).map(|(_, v)| *v).unwrap_or(default)
    };
    let lr = opt("lr", 1e-3);
    let wd = |d| opt("weight_decay", d);
    let rule = match spec.optimizer.rule.as_str() {
        "sgd" => Rule::Sgd {
            momentum: opt("momentum", 0.0),
            dampening: opt("dampening", 0.0),
            nesterov: opt("nesterov", 0.0) != 0.0,
            weight_decay: wd(0.0),
        },
        "adam" => Rule::Adam {
            beta1: opt("beta1", 0.9),
            beta2: opt("beta2", 0.999),
            eps: opt("eps", 1e-8),
            weight_decay: wd(0.0),
        },
        "adamw" => Rule::AdamW {
            beta1: opt("beta1", 0.9),
            beta2: opt("beta2", 0.999),
            eps: opt("eps", 1e-8),
            weight_decay: wd(0.01),
        },
        "rmsprop" => Rule::RmsProp {
            alpha: opt("alpha", 0.99),
            eps: opt("eps", 1e-8),
            momentum: opt("momentum", 0.0),
            centered: opt("centered", 0.0) != 0.0,
            weight_decay: wd(0.0),
        },
        other => return Err(setup(format!("unknown optimiser `{other}`"))),
    };
    let schedule = match spec.schedule.kind.as_str() {
        "constant" => Schedule::constant(lr),
        "cosine" => Schedule::Cosine {
            init: 0.0,
            peak: lr,
            warmup: sched("warmup", 0.0) as u64,
            total: steps,
            end: sched("end", 0.0),
        },
        "step" => Schedule::Step { lr, every: sched("every", 1000.0) as u64, gamma: sched("gamma", 0.1) },
        other => return Err(setup(format!("unknown schedule `{other}`"))),
    };
    Optimizer::new(rule, schedule, n_params).map_err(|error| TrainFailure::Optimizer { step: 0, error })
}

/// The adjoint a `gradient = ...` setting names.
pub fn adjoint_of(spec: &TrainSpec) -> Result<Adjoint, TrainFailure> {
    match spec.gradient.as_str() {
        "discrete" => Ok(Adjoint::Discrete { checkpoints: spec.adjoint_checkpoints }),
        "backsolve" => Ok(Adjoint::Backsolve),
        "interpolated" => Ok(Adjoint::Interpolated),
        other => Err(setup(format!("unknown gradient method `{other}`"))),
    }
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
        if model.is_sde() {
            return Err(setup(format!(
                "model `{}` has noise terms: training SDE models is not supported yet (solve it with `nde run`)",
                model.name
            )));
        }
        let solve_opts = solve_options(&full_loss.solver).map_err(setup)?;
        let adjoint = adjoint_of(spec)?;
        let kernels = super::compile_model(&model, &opts.jit)?;
        let window = compile_loss(&window_loss, &opts.jit)?;
        let full = compile_loss(&full_loss, &opts.jit)?;
        let filled: Vec<f64> = data.y.iter().map(|&v| if v.is_nan() { 0.0 } else { v }).collect();
        let mask: Vec<f64> = data.y.iter().map(|&v| if v.is_nan() { 0.0 } else { 1.0 }).collect();
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
            kernels,
            window,
            window_loss,
            full,
            data,
            filled,
            mask,
            solve_opts,
            adjoint,
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

    /// Steps taken so far.
    pub fn steps_done(&self) -> u64 {
        self.steps_done
    }

    pub fn is_finished(&self) -> bool {
        self.steps_done >= self.total_steps
    }

    /// The solve options of the loss's solver.
    pub fn solve_options(&self) -> &SolveOptions {
        &self.solve_opts
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

    fn y0_of(&self, m: Member, t0: f64) -> Result<Vec<f64>, TrainFailure> {
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
    fn loss_input(&self, layout: &LossLayout, m: Member, sol_y: &[f64], stats: &[f64; 6], input: &mut [f64]) {
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
    }

    /// One optimisation step: draws the windows, differentiates the mean loss
    /// through their solves, and updates the parameters.
    pub fn step(&mut self) -> Result<StepRecord, TrainFailure> {
        let step = self.steps_done + 1;
        let members = self.draw();
        let sampled = self
            .window_loss
            .stats_used
            .iter()
            .any(|s| matches!(s, LossStat::SampledLocalError | LossStat::SampledStiffness));
        let us: Vec<f64> = if sampled { members.iter().map(|_| self.rng.unit()).collect() } else { Vec::new() };
        let layout = self.window.layout;
        let len = layout.n_times;
        let n = self.model.n_state();
        let mut t0s = Vec::with_capacity(members.len());
        let mut saveat = Vec::with_capacity(members.len() * len);
        let mut y0s = Vec::with_capacity(members.len() * n);
        for &m in &members {
            let t = &self.data.t[m.start..m.start + len];
            t0s.push(t[0]);
            saveat.extend_from_slice(t);
            y0s.extend(self.y0_of(m, t[0])?);
        }
        let weight = 1.0 / members.len() as f64;
        let mut loss = 0.0;
        let mut direct = vec![0.0; self.params.len()];
        let strategy = match self.window_loss.sampling {
            Sampling::Unbiased => SamplingStrategy::Unbiased,
            Sampling::Biased => SamplingStrategy::Biased,
        };
        let (bsol, bgrad) = {
            let field = ModelField::new(&self.kernels, &self.params);
            let mut input = vec![0.0; layout.len()];
            let mut d_input = vec![0.0; layout.len()];
            let mut scratch = self.window.scratch();
            let this = &*self;
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
            let times = BatchTimes::PerTrajectory { t0: &t0s, saveat: &saveat };
            let sampling = sampled.then_some((strategy, us.as_slice()));
            adjoint::gradient_batch(
                &field,
                times,
                &y0s,
                &self.solve_opts,
                self.adjoint,
                self.threads,
                sampling,
                &mut cotangent,
            )
            .map_err(|error| TrainFailure::Solve { step, error })?
        };
        let mut grad = bgrad.params;
        for (g, d) in grad.iter_mut().zip(&direct) {
            *g += d;
        }
        if let Some(init_vjp) = &self.init_vjp {
            for (b, &t0) in t0s.iter().enumerate() {
                let gy0 = &bgrad.y0[b * n..(b + 1) * n];
                let out = ir::interp::eval(init_vjp, t0, gy0, &self.params)
                    .map_err(|e| setup(format!("gradient of the initial state: {e}")))?;
                for (g, d) in grad.iter_mut().zip(&out[out.len() - self.params.len()..]) {
                    *g += d;
                }
            }
        }
        let grad_norm = global_norm(&grad);
        if let Some(max) = self.spec.clip {
            clip_by_global_norm(&mut grad, max).map_err(|error| TrainFailure::Optimizer { step, error })?;
        }
        let lr = self.optimizer.next_lr();
        self.optimizer.step(&mut self.params, &grad).map_err(|error| TrainFailure::Optimizer { step, error })?;
        let nfe = bsol.stats.iter().map(|s| s.nfe as f64).sum::<f64>() / members.len() as f64;
        let record = StepRecord { step, loss, nfe, grad_norm, lr };
        self.steps_done = step;
        self.history.push(record);
        Ok(record)
    }

    /// Solves every trajectory of the data whole with the current parameters
    /// and evaluates the loss block on it (the sampled regularisers read 0).
    pub fn evaluate(&self) -> Result<Evaluation, TrainFailure> {
        let layout = self.full.layout;
        let mut input = vec![0.0; layout.len()];
        let mut scratch = self.full.scratch();
        let field = ModelField::new(&self.kernels, &self.params);
        let (mut loss, mut nfe, mut steps) = (0.0, 0.0, 0.0);
        let n_traj = self.data.n_traj;
        for traj in 0..n_traj {
            let m = Member { traj, start: 0 };
            let t = &self.data.t;
            let y0 = match self.spec.initial {
                InitialState::Model => self.y0_of(m, t[0])?,
                InitialState::Data => self.y0_of(m, t[0])?,
            };
            let sol = solve(&field, t[0], &y0, t, &self.solve_opts)
                .map_err(|error| TrainFailure::Solve { step: self.steps_done, error })?;
            let st = sol.stats;
            let stats = [st.local_error, st.stiffness, 0.0, 0.0, st.nfe as f64, st.steps() as f64];
            self.loss_input(&layout, m, &sol.y, &stats, &mut input);
            loss += self.full.value(&input, &self.params, &mut scratch) / n_traj as f64;
            nfe += st.nfe as f64 / n_traj as f64;
            steps += st.steps() as f64 / n_traj as f64;
        }
        Ok(Evaluation { loss, nfe, steps })
    }

    /// A fingerprint of what a checkpoint must match: the model's parameter
    /// layout and the train block.
    fn fingerprint(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |s: &str| {
            for b in s.bytes() {
                h ^= b as u64;
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        for p in &self.model.params {
            eat(&format!("{}{:?};", p.name, p.shape.dims()));
        }
        eat(&format!(
            "{:?}",
            (&self.spec.loss, &self.spec.optimizer, &self.spec.schedule, self.spec.batch, self.spec.seed)
        ));
        h
    }

    /// Everything needed to continue this run exactly: parameters, optimiser
    /// state, the generator, the step count and the history.
    pub fn checkpoint(&self) -> Vec<Array> {
        let mut arrays = vec![
            Array::new("params", vec![self.params.len()], self.params.clone()),
            Array::new("step", vec![1], vec![self.steps_done as f64]),
            Array::new("rng", vec![4], split_u64(self.rng.state())),
            Array::new("fingerprint", vec![4], split_u64(self.fingerprint())),
        ];
        let h: Vec<f64> = self.history.iter().flat_map(|r| [r.step as f64, r.loss, r.nfe, r.grad_norm, r.lr]).collect();
        arrays.push(Array::new("history", vec![self.history.len(), 5], h));
        for (key, values) in self.optimizer.state() {
            arrays.push(Array::new(format!("optimizer.{key}"), vec![values.len()], values));
        }
        arrays
    }

    /// Writes [`Trainer::checkpoint`] to `path` (whole or not at all).
    pub fn write_checkpoint(&self, path: &Path) -> Result<(), TrainFailure> {
        Ok(io::write_npz(path, &self.checkpoint())?)
    }

    /// Continues from a checkpoint written by this train block.
    pub fn restore(&mut self, arrays: &[Array]) -> Result<(), TrainFailure> {
        let bad = |m: String| TrainFailure::BadCheckpoint(m);
        let get = |name: &str| {
            arrays.iter().find(|a| a.name == name).ok_or_else(|| bad(format!("the checkpoint has no `{name}` array")))
        };
        let fp = join_u64(&get("fingerprint")?.data).ok_or_else(|| bad("malformed `fingerprint`".into()))?;
        if fp != self.fingerprint() {
            return Err(bad("it was written for a different model or train block".into()));
        }
        let params = &get("params")?.data;
        if params.len() != self.params.len() {
            return Err(bad(format!("it has {} parameters, the model {}", params.len(), self.params.len())));
        }
        let rng = join_u64(&get("rng")?.data).ok_or_else(|| bad("malformed `rng`".into()))?;
        let step = get("step")?.data.first().copied().unwrap_or(-1.0);
        if !(step >= 0.0 && step.fract() == 0.0) {
            return Err(bad("malformed `step`".into()));
        }
        let history = &get("history")?.data;
        if history.len() % 5 != 0 {
            return Err(bad("malformed `history`".into()));
        }
        let state: Vec<(String, Vec<f64>)> = arrays
            .iter()
            .filter_map(|a| a.name.strip_prefix("optimizer.").map(|k| (k.to_string(), a.data.clone())))
            .collect();
        self.optimizer.restore(&state).map_err(|e| bad(e.to_string()))?;
        self.params = params.clone();
        self.rng = SplitMix64::new(rng);
        self.steps_done = step as u64;
        self.history = history
            .chunks(5)
            .map(|r| StepRecord { step: r[0] as u64, loss: r[1], nfe: r[2], grad_norm: r[3], lr: r[4] })
            .collect();
        Ok(())
    }

    /// The parameters as arrays named like the model's (`f.W1`, ...), for `nde run --params`.
    pub fn param_arrays(&self) -> Vec<Array> {
        super::params::param_arrays(&self.model, &self.params)
    }
}

/// A `u64` as four exactly representable 16-bit pieces (npz arrays are `f64`).
fn split_u64(x: u64) -> Vec<f64> {
    (0..4).map(|i| ((x >> (16 * i)) & 0xffff) as f64).collect()
}

fn join_u64(v: &[f64]) -> Option<u64> {
    if v.len() != 4 || v.iter().any(|&x| !(0.0..65536.0).contains(&x) || x.fract() != 0.0) {
        return None;
    }
    Some(v.iter().enumerate().fold(0u64, |acc, (i, &x)| acc | ((x as u64) << (16 * i))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u64_survives_the_round_trip_through_f64_pieces() {
        for x in [0, 1, u64::MAX, 0x9E37_79B9_7F4A_7C15, 12345678901234567890] {
            assert_eq!(join_u64(&split_u64(x)), Some(x));
        }
        assert_eq!(join_u64(&[1.5, 0.0, 0.0, 0.0]), None);
    }
}
