//! The training declarations after checking: `data`, `loss` and `train`.
//!
//! Owns the data types the front end hands to the driver for training:
//! [`DataSpec`] (observations, loaded and validated, or a recipe to generate
//! them), [`LossIr`] (one `loss` block lowered to an IR [`Function`] for one
//! number of save times) with its input layout [`LossLayout`], and
//! [`TrainSpec`] (a checked `train` block). Plain data: nothing here loads,
//! solves or trains.

use std::sync::Arc;

use nde_runtime::data::Series;

use super::{Function, SolverSpec};

/// A checked `data NAME = ...` declaration.
#[derive(Clone, Debug, PartialEq)]
pub struct DataSpec {
    pub name: String,
    pub source: DataSource,
}

/// Where a data set's values come from.
#[derive(Clone, Debug, PartialEq)]
pub enum DataSource {
    /// `load("file")`: read and validated by the front end. `path` is as
    /// written in the source, resolved against the declaring file's folder.
    Loaded { path: std::path::PathBuf, series: Arc<Series> },
    /// `generate(model, at = times, with = solver[, paths = N])`: the
    /// driver solves `model` from its initial state and saves at `times`
    /// (one column per state, named after the states): one trajectory, or
    /// `paths` sample paths of an SDE model (1 unless `paths = N`).
    Generate { model: String, times: Vec<f64>, solver: SolverSpec, paths: usize },
}

impl DataSpec {
    /// Number of save times (rows per trajectory).
    pub fn n_times(&self) -> usize {
        match &self.source {
            DataSource::Loaded { series, .. } => series.t.len(),
            DataSource::Generate { times, .. } => times.len(),
        }
    }

    /// Number of trajectories (sample paths of a generated SDE ensemble).
    pub fn n_traj(&self) -> usize {
        match &self.source {
            DataSource::Loaded { series, .. } => series.n_traj,
            DataSource::Generate { paths, .. } => *paths,
        }
    }
}

/// A solver statistic a loss can read from its solve (`sol.NAME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LossStat {
    /// `sol.local_error`: `Σ EEst·|h|` over accepted steps (differentiable with `gradient = discrete`).
    LocalError,
    /// `sol.stiffness`: `Σ S·|h|`, the stiffness estimate per step (differentiable with `gradient = discrete`).
    Stiffness,
    /// `sol.sampled_local_error`: `EEst·|h|` of one extra step from a random point (any gradient method).
    SampledLocalError,
    /// `sol.sampled_stiffness`: the stiffness estimate of that step.
    SampledStiffness,
    /// `sol.nfe`: vector-field evaluations (a constant for gradients).
    Nfe,
    /// `sol.steps`: attempted steps (a constant for gradients).
    Steps,
}

impl LossStat {
    /// Every statistic, in the order of the loss input buffer.
    pub const ALL: [LossStat; 6] = [
        LossStat::LocalError,
        LossStat::Stiffness,
        LossStat::SampledLocalError,
        LossStat::SampledStiffness,
        LossStat::Nfe,
        LossStat::Steps,
    ];

    /// The member name in the language (`sol.local_error`, ...).
    pub fn name(self) -> &'static str {
        match self {
            LossStat::LocalError => "local_error",
            LossStat::Stiffness => "stiffness",
            LossStat::SampledLocalError => "sampled_local_error",
            LossStat::SampledStiffness => "sampled_stiffness",
            LossStat::Nfe => "nfe",
            LossStat::Steps => "steps",
        }
    }

    /// The statistic called `name`, if any.
    pub fn from_name(name: &str) -> Option<LossStat> {
        LossStat::ALL.into_iter().find(|s| s.name() == name)
    }

    fn position(self) -> usize {
        LossStat::ALL.iter().position(|&s| s == self).expect("in ALL")
    }
}

/// How the sampled regularisers pick their point (Pal et al. 2023).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sampling {
    /// A time drawn uniformly from the solve's span.
    #[default]
    Unbiased,
    /// One of the solver's accepted step start times, drawn uniformly.
    Biased,
}

/// The input buffer of a loss function (its "state" buffer `y`), for `T`
/// save times, a model with `n` states, data with `m` value columns and
/// `N = paths` sample paths (1 unless the solve is an ensemble,
/// `solve(..., paths = N)`):
///
/// | offset | length | contents |
/// |---|---|---|
/// | `sol_y()` | `N·T·n` | `sol.y`, row-major `[T, n]`; an ensemble's `N` paths as `[N, T·n]` |
/// | `obs_y()` | `T·m` | `DATA.y`, `[T, m]`, missing values replaced by 0 |
/// | `obs_mask()` | `T·m` | 1 where `DATA.y` is observed, 0 where missing |
/// | `times()` | `T` | `DATA.t` (= `sol.t`) |
/// | `stat(s)` | 1 each | the [`LossStat`]s in [`LossStat::ALL`] order |
/// | `data_mean()` | `T·m` | `DATA.mean`: the mean over the data's trajectories, 0 where missing |
/// | `data_var()` | `T·m` | `DATA.var`: their unbiased variance, 0 where missing |
/// | `data_stat_mask()` | `T·m` | 1 where at least 2 trajectories are observed (the statistics exist) |
///
/// | `fields()` | `F` | the member's trajectory's per-trajectory data fields (`DATA.label`), in the data's order |
///
/// The three data statistics blocks are there only when the loss reads
/// `DATA.mean` or `DATA.var` (`data_stats`).
///
/// The parameter buffer `p` is the solved model's (same layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LossLayout {
    pub n_times: usize,
    pub n_state: usize,
    pub n_obs: usize,
    /// Sample paths of an ensemble solve; 1 for a single solve.
    pub paths: usize,
    /// Whether the buffer holds the data statistics blocks.
    pub data_stats: bool,
    /// Values of the data's per-trajectory fields together (`F`: 1 per
    /// scalar field, `k` per `[B, k]` field).
    pub n_field: usize,
}

impl LossLayout {
    /// Whether the loss solves an ensemble of sample paths (`paths = N`).
    pub fn is_ensemble(&self) -> bool {
        self.paths > 1
    }
    pub fn sol_y(&self) -> usize {
        0
    }
    pub fn obs_y(&self) -> usize {
        self.paths * self.n_times * self.n_state
    }
    pub fn obs_mask(&self) -> usize {
        self.obs_y() + self.n_times * self.n_obs
    }
    pub fn times(&self) -> usize {
        self.obs_mask() + self.n_times * self.n_obs
    }
    pub fn stat(&self, s: LossStat) -> usize {
        self.times() + self.n_times + s.position()
    }
    pub fn data_mean(&self) -> usize {
        self.times() + self.n_times + LossStat::ALL.len()
    }
    pub fn data_var(&self) -> usize {
        self.data_mean() + self.n_times * self.n_obs
    }
    pub fn data_stat_mask(&self) -> usize {
        self.data_var() + self.n_times * self.n_obs
    }
    /// The data fields (`DATA.NAME` of a per-trajectory array), after the
    /// data statistics blocks if there are any.
    pub fn fields(&self) -> usize {
        let stats = if self.data_stats { 3 * self.n_times * self.n_obs } else { 0 };
        self.data_mean() + stats
    }
    /// Length of the whole input buffer.
    pub fn len(&self) -> usize {
        self.fields() + self.n_field
    }
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// A `loss NAME { ... }` block lowered for one number of save times.
///
/// v1 rules (checked by sema): the body contains exactly one
/// `solve(MODEL, at = DATA.t, with = SOLVER)`, and reads only that data set.
#[derive(Clone, Debug, PartialEq)]
pub struct LossIr {
    pub name: String,
    /// The model the loss solves.
    pub model: String,
    /// The data set whose times are the save times.
    pub data: String,
    /// The solver of the `solve` (a named one, or the inline `with = method(...)`).
    pub solver: SolverSpec,
    /// How `sol.sampled_*` pick their point (`solve(..., sampling = biased)`).
    pub sampling: Sampling,
    /// The statistics the body reads (so the driver computes only those).
    pub stats_used: Vec<LossStat>,
    pub layout: LossLayout,
    /// `loss = function(t, inputs, p)`: reads the input buffer laid out by
    /// `layout` and the model's parameters; one scalar output. `t` unused.
    pub function: Function,
}

/// The optimiser of a `train` block: `optimizer = NAME(options)`.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerSpec {
    /// `sgd`, `adam`, `adamw` or `rmsprop`.
    pub rule: String,
    /// Checked options (`lr`, `momentum`, `beta1`, `beta2`, `eps`, `alpha`,
    /// `weight_decay`, `nesterov`, `centered`; booleans as 0/1).
    pub options: Vec<(String, f64)>,
}

/// The learning-rate schedule: `schedule = NAME(options)`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleSpec {
    /// `constant`, `cosine` (options `warmup`, `end`; decays over the
    /// block's `steps` from the optimiser's `lr`) or `step` (`every`, `gamma`).
    pub kind: String,
    pub options: Vec<(String, f64)>,
}

/// What one training step solves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchSpec {
    /// Every trajectory of the data, whole (the default).
    Full,
    /// `windows(length = L, count = K)`: `K` random sub-trajectories of `L`
    /// save times, each starting from the observation at its first time.
    Windows { length: usize, count: usize },
    /// `trajectories(count = K)`: `K` random whole trajectories.
    Trajectories { count: usize },
}

/// Where each solve of a training step starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InitialState {
    /// The model's `state` initial values (default for `Full` on one trajectory).
    #[default]
    Model,
    /// The first observation of each window or trajectory (default otherwise).
    Data,
}

/// A checked `train LOSS { ... }` block.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSpec {
    /// The loss it minimises.
    pub loss: String,
    pub optimizer: OptimizerSpec,
    pub schedule: ScheduleSpec,
    /// Clip the gradient to this global norm (`clip = 1.0`).
    pub clip: Option<f64>,
    pub steps: u64,
    pub batch: BatchSpec,
    pub initial: InitialState,
    /// `discrete`, `backsolve` or `interpolated`.
    pub gradient: String,
    /// `checkpoints = N` for the discrete adjoint (None: automatic).
    pub adjoint_checkpoints: Option<usize>,
    /// Seed of the window sampling and the sampled regularisers.
    pub seed: u64,
    /// `checkpoint = "file.ckpt.npz"`: written every `checkpoint_every` steps
    /// (resolved against the declaring file's folder).
    pub checkpoint: Option<std::path::PathBuf>,
    pub checkpoint_every: u64,
}
