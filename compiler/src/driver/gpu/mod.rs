//! GPU offload of whole ensembles: one device invocation per trajectory.
//!
//! Owns the Rust entry point [`solve_ensemble`] (and [`devices`]): it
//! generates one compute shader from the model's IR (the WGSL backend,
//! `codegen::wgsl`, plus a solver body from [`shader`]), uploads the
//! parameters once and the initial states once per dispatch, runs every
//! trajectory's whole solve on the device (adaptive Tsit5/Dopri5 for ODEs,
//! fixed-step Euler–Maruyama for Itô SDEs), reads the saved states back
//! once, and turns each trajectory's status word into the same
//! [`SolveError`]s as the CPU path. Batches larger than one dispatch's limits
//! (workgroups per dimension, storage-binding size) run as several
//! dispatches.
//!
//! The device code sits behind the cargo feature `gpu` (wgpu + pollster);
//! without it [`solve_ensemble`] and [`devices`] return
//! [`GpuError::NotBuilt`]. [`shader`] is plain text generation and always
//! compiled, so its validation tests run in every build.
//!
//! Never: print, fall back to the CPU by itself (the caller decides, e.g.
//! `nde run --device auto`), or panic on a device or shader failure (wgpu's
//! errors are caught in error scopes and returned).

#[cfg(feature = "gpu")]
mod device;
#[cfg(feature = "gpu")]
mod ensemble;
pub mod shader;
#[cfg(test)]
mod tests;

use std::fmt;

use nde_runtime::ode::OdeSolver;
use nde_runtime::sde::{SdeMethod, SdeOptions};
use nde_runtime::{Controller, Method, SolveError, SolveOptions, Stats};

pub use crate::codegen::wgsl::Precision;
use crate::codegen::wgsl::WgslError;
use crate::ir::ModelIr;
pub use shader::OdeMethod;

/// How an ensemble is solved on the device.
#[derive(Clone, Debug, PartialEq)]
pub enum GpuSolver {
    /// Adaptive explicit Runge–Kutta, with the CPU path's options (only
    /// `method` Tsit5 or Dopri5).
    Ode(SolveOptions),
    /// Itô Euler–Maruyama at step `dt`; path `b` of the batch draws its
    /// increments from Philox keyed by `seed`, counter `(step, block, b)`.
    EulerMaruyama { dt: f64, max_steps: usize, seed: u64 },
}

/// Options of [`solve_ensemble`].
#[derive(Clone, Debug, PartialEq)]
pub struct GpuOptions {
    pub precision: Precision,
    /// Which adapter ([`devices`] index); `None`: the first GPU, preferring
    /// discrete over integrated over virtual over software ones.
    pub adapter: Option<usize>,
    /// Most trajectories per dispatch (`None`: as many as the device's limits allow).
    pub chunk: Option<usize>,
}

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions { precision: Precision::F32, adapter: None, chunk: None }
    }
}

/// A solved ensemble, laid out like the CPU batch solution.
#[derive(Clone, Debug, PartialEq)]
pub struct Ensemble {
    /// The save times.
    pub t: Vec<f64>,
    /// `[batch][t][n]` row-major.
    pub y: Vec<f64>,
    pub batch: usize,
    /// Per trajectory: steps (accepted, rejected) and evaluations.
    pub stats: Vec<Stats>,
    /// The adapter that ran it (name and backend).
    pub adapter: String,
    /// Device dispatches used.
    pub dispatches: usize,
}

/// An adapter as [`devices`] lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceInfo {
    pub index: usize,
    pub name: String,
    /// `Vulkan`, `Metal`, `Dx12`, `Gl`.
    pub backend: String,
    /// `DiscreteGpu`, `IntegratedGpu`, `VirtualGpu`, `Cpu` (a software rasteriser such as lavapipe), `Other`.
    pub kind: String,
    pub driver: String,
    /// Whether the adapter runs `f64` shaders (`SHADER_F64`).
    pub f64: bool,
    /// Whether it is a software implementation (`--device auto` skips those).
    pub software: bool,
}

/// Why a GPU solve could not run (or a trajectory failed).
#[derive(Clone, Debug, PartialEq)]
pub enum GpuError {
    /// The crate was built without the `gpu` feature.
    NotBuilt,
    /// No adapter was found (`looked_for` says where).
    NoAdapter { looked_for: String },
    /// `--precision f64` on an adapter without `SHADER_F64`.
    NoF64 { adapter: String },
    /// The model or solver is not one the device runs (with why).
    Unsupported(String),
    /// A translation failure of the model's functions.
    Shader(WgslError),
    /// The device, driver or shader compiler failed.
    Device(String),
    /// Bad sizes or options.
    Invalid(String),
    /// Trajectory `trajectory` failed as the CPU solve would have.
    Solve { trajectory: usize, error: SolveError },
}

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuError::NotBuilt => write!(
                f,
                "this nde was built without GPU support; rebuild with `cargo build --release --features gpu` \
                 (or run on the CPU with --device cpu)"
            ),
            GpuError::NoAdapter { looked_for } => write!(f, "no GPU adapter found (looked for {looked_for})"),
            GpuError::NoF64 { adapter } => write!(
                f,
                "the adapter {adapter} has no 64-bit float shaders (SHADER_F64); use --precision f32 or --device cpu"
            ),
            GpuError::Unsupported(why) => write!(f, "not supported on the GPU: {why}"),
            GpuError::Shader(e) => write!(f, "generating the GPU kernel: {e}"),
            GpuError::Device(e) => write!(f, "GPU device error: {e}"),
            GpuError::Invalid(e) => write!(f, "{e}"),
            GpuError::Solve { trajectory, error } => write!(f, "trajectory {trajectory}: {error}"),
        }
    }
}

impl std::error::Error for GpuError {}

impl From<WgslError> for GpuError {
    fn from(e: WgslError) -> Self {
        GpuError::Shader(e)
    }
}

/// The adapters wgpu finds (all backends, or those of `WGPU_BACKEND`).
pub fn devices() -> Result<Vec<DeviceInfo>, GpuError> {
    #[cfg(feature = "gpu")]
    {
        Ok(device::list())
    }
    #[cfg(not(feature = "gpu"))]
    {
        Err(GpuError::NotBuilt)
    }
}

/// Checks that `model` and `solver` are something the device runs.
pub fn check_supported(model: &ModelIr, solver: &GpuSolver) -> Result<(), GpuError> {
    if model.is_cde() {
        return Err(GpuError::Unsupported(
            "controlled models (CDEs) run on the CPU only (use --device cpu)".to_string(),
        ));
    }
    match solver {
        GpuSolver::Ode(opts) => {
            if model.is_sde() {
                return Err(GpuError::Unsupported("an SDE model needs Euler–Maruyama on the GPU".to_string()));
            }
            if !matches!(opts.method, Method::Tsit5 | Method::Dopri5) {
                return Err(GpuError::Unsupported(format!(
                    "the GPU runs the adaptive explicit methods tsit5 and dopri5, not {} (stiff solvers, \
                     fixed-step methods and gradients run on the CPU: use --device cpu)",
                    opts.method.name()
                )));
            }
            let c = &opts.controller;
            if c.icoeff + c.pcoeff + c.dcoeff <= 0.0 {
                return Err(GpuError::Unsupported("a step-size controller with P + I + D <= 0".to_string()));
            }
        }
        GpuSolver::EulerMaruyama { .. } => {
            let Some(d) = &model.diffusion else {
                return Err(GpuError::Unsupported("Euler–Maruyama needs an SDE model".to_string()));
            };
            if d.stratonovich {
                return Err(GpuError::Unsupported(
                    "the GPU runs Itô Euler–Maruyama; this model is Stratonovich (use --device cpu)".to_string(),
                ));
            }
        }
    }
    Ok(())
}

/// The method of a [`GpuSolver::Ode`].
fn ode_method(opts: &SolveOptions) -> OdeMethod {
    match opts.method {
        Method::Dopri5 => OdeMethod::Dopri5,
        _ => OdeMethod::Tsit5,
    }
}

/// The WGSL source [`solve_ensemble`] would run for `model` with `saves`
/// save times (for `nde emit wgsl`-style inspection and validation tests).
pub fn ensemble_shader(
    model: &ModelIr,
    solver: &GpuSolver,
    precision: Precision,
    saves: usize,
) -> Result<String, GpuError> {
    check_supported(model, solver)?;
    let max = |m: usize| u32::try_from(m).unwrap_or(u32::MAX);
    Ok(match solver {
        GpuSolver::Ode(o) => shader::ode_shader(
            model,
            &shader::OdeSpec {
                method: ode_method(o),
                precision,
                saves,
                rtol: o.rtol,
                atol: o.atol,
                dt: o.dt,
                max_steps: max(o.max_steps),
                controller: o.controller,
            },
        )?,
        GpuSolver::EulerMaruyama { dt, max_steps, .. } => {
            shader::sde_shader(model, &shader::SdeSpec { precision, saves, dt: *dt, max_steps: max(*max_steps) })?
        }
    })
}

/// Validates times, sizes and options as the CPU path does.
fn validate(model: &ModelIr, t0: f64, y0s: &[f64], saveat: &[f64], solver: &GpuSolver) -> Result<usize, GpuError> {
    let n = model.n_state();
    if n == 0 || y0s.is_empty() || !y0s.len().is_multiple_of(n) {
        return Err(GpuError::Invalid(format!(
            "the initial states have {} values, not a positive multiple of the {n} states",
            y0s.len()
        )));
    }
    let batch = y0s.len() / n;
    let solve_err = |error| GpuError::Solve { trajectory: 0, error };
    if saveat.is_empty() || !t0.is_finite() || saveat.iter().any(|t| !t.is_finite()) {
        return Err(GpuError::Invalid("the start and save times must be finite (and at least one save time)".into()));
    }
    if saveat.windows(2).any(|w| w[1] < w[0]) || saveat[0] < t0 {
        return Err(GpuError::Invalid("save times must be non-decreasing and not before t0".into()));
    }
    match solver {
        GpuSolver::Ode(o) => {
            if o.max_steps == 0 || !(o.rtol >= 0.0 && o.atol >= 0.0) || (o.rtol == 0.0 && o.atol == 0.0) {
                return Err(GpuError::Invalid(
                    "max_steps must be at least 1, rtol and atol >= 0 and not both 0".into(),
                ));
            }
            if let Some(dt) = o.dt {
                if !(dt.is_finite() && dt > 0.0) {
                    return Err(GpuError::Invalid(format!("the step size dt must be positive, got {dt}")));
                }
            }
            o.controller.validate().map_err(solve_err)?;
        }
        GpuSolver::EulerMaruyama { dt, max_steps, .. } => {
            if !(dt.is_finite() && *dt > 0.0) || *max_steps == 0 {
                return Err(GpuError::Invalid(format!(
                    "Euler–Maruyama needs a positive step dt (got {dt}) and max_steps >= 1"
                )));
            }
        }
    }
    if let Some(i) = y0s.iter().position(|v| !v.is_finite()) {
        return Err(GpuError::Solve { trajectory: i / n, error: SolveError::NonFinite { t: t0 } });
    }
    Ok(batch)
}

/// Solves every trajectory of `y0s` (`[batch][n]`, row-major) from `t0`,
/// saving at `saveat`, on the GPU; parameters `params` are shared.
/// `Controller` coefficients, tolerances and `max_steps` mean what they mean
/// on the CPU.
pub fn solve_ensemble(
    model: &ModelIr,
    params: &[f64],
    t0: f64,
    y0s: &[f64],
    saveat: &[f64],
    solver: &GpuSolver,
    options: &GpuOptions,
) -> Result<Ensemble, GpuError> {
    check_supported(model, solver)?;
    if params.len() != model.n_param() {
        return Err(GpuError::Invalid(format!(
            "{} parameter values given, the model has {}",
            params.len(),
            model.n_param()
        )));
    }
    let batch = validate(model, t0, y0s, saveat, solver)?;
    let src = ensemble_shader(model, solver, options.precision, saveat.len())?;
    #[cfg(feature = "gpu")]
    {
        let max_steps = match solver {
            GpuSolver::Ode(o) => o.max_steps,
            GpuSolver::EulerMaruyama { max_steps, .. } => *max_steps,
        };
        let seed = match solver {
            GpuSolver::EulerMaruyama { seed, .. } => *seed,
            GpuSolver::Ode(_) => 0,
        };
        let job = ensemble::Job {
            shader: &src,
            n: model.n_state(),
            params,
            t0,
            y0s,
            saveat,
            seed,
            max_steps,
            stats_rejected: matches!(solver, GpuSolver::Ode(_)),
            out_per_traj: saveat.len() * model.n_state(),
        };
        let out = ensemble::run(&job, options)?;
        debug_assert_eq!(out.stats.len(), batch);
        Ok(out)
    }
    #[cfg(not(feature = "gpu"))]
    {
        let _ = (src, batch);
        Err(GpuError::NotBuilt)
    }
}

/// Evaluates `f` on the device at each point `(t[i], y[i], p)` (`y` row-major,
/// `f.n_state` values per point) and returns the outputs, `f.output_len()`
/// per point: the GPU backend's counterpart of `ir::interp::eval`, for
/// testing the generated code against the interpreter.
pub fn eval_function(
    f: &crate::ir::Function,
    t: &[f64],
    y: &[f64],
    p: &[f64],
    options: &GpuOptions,
) -> Result<Vec<f64>, GpuError> {
    let ns = f.n_state.max(1);
    if t.is_empty() || y.len() != t.len() * f.n_state || p.len() != f.n_param {
        return Err(GpuError::Invalid(format!(
            "{} points need {} state and {} parameter values",
            t.len(),
            t.len() * f.n_state,
            f.n_param
        )));
    }
    let src = shader::eval_shader(f, options.precision)?;
    #[cfg(feature = "gpu")]
    {
        let padded: Vec<f64> = if f.n_state == 0 { vec![0.0; t.len()] } else { y.to_vec() };
        let job = ensemble::Job {
            shader: &src,
            n: ns,
            params: p,
            t0: 0.0,
            y0s: &padded,
            saveat: t,
            seed: 0,
            max_steps: 1,
            stats_rejected: false,
            out_per_traj: f.output_len().max(1),
        };
        let out = ensemble::eval(&job, options)?;
        let len = f.output_len();
        Ok(out.chunks(len.max(1)).flat_map(|c| c[..len].to_vec()).collect())
    }
    #[cfg(not(feature = "gpu"))]
    {
        let _ = (src, ns);
        Err(GpuError::NotBuilt)
    }
}

/// The device solver for an ODE solver choice: the explicit adaptive
/// method's options; `Err(why)` for what runs only on the CPU.
pub fn device_solver_ode(solver: &OdeSolver) -> Result<GpuSolver, String> {
    match solver {
        OdeSolver::Explicit(o) => Ok(GpuSolver::Ode(*o)),
        other => Err(format!(
            "{} is a stiff solver; the GPU runs the explicit adaptive methods tsit5 and dopri5",
            other.name()
        )),
    }
}

/// The device solver for an SDE's options: Euler–Maruyama at its fixed
/// step, increments keyed by `seed`; `Err(why)` for what runs only on the CPU.
pub fn device_solver_sde(opts: &SdeOptions, seed: u64) -> Result<GpuSolver, String> {
    match (opts.method, opts.dt) {
        (SdeMethod::EulerMaruyama, Some(dt)) => Ok(GpuSolver::EulerMaruyama { dt, max_steps: opts.max_steps, seed }),
        (SdeMethod::EulerMaruyama, None) => Err("Euler–Maruyama on the GPU takes fixed steps: give dt".to_string()),
        (m, _) => {
            Err(format!("the GPU runs Euler–Maruyama for SDEs, not {m} (use euler_maruyama with dt, or the CPU)"))
        }
    }
}

/// `solver` for a CPU [`Controller`] default: convenience for tests and callers.
pub fn ode(method: Method, rtol: f64, atol: f64) -> GpuSolver {
    GpuSolver::Ode(SolveOptions { method, rtol, atol, controller: Controller::default(), ..SolveOptions::default() })
}
