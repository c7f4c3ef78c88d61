//! A `train` block's declarations as runtime configuration: the solver
//! options of a loss's solve (explicit or SDE), the optimiser with its
//! schedule, and the adjoint a `gradient = ...` setting names.
//!
//! Never: run anything (the trainer does), print.

use nde_runtime::adjoint::Adjoint;
use nde_runtime::sde::{SdeAdjoint, SdeMethod, SdeOptions};
use nde_runtime::solve::SolveOptions;
use nde_runtime::train::{Optimizer, Rule, Schedule};

use super::super::choice::SdeChoiceError;
use super::{setup, TrainFailure};
use crate::ir::training::TrainSpec;
use crate::ir::{ModelIr, SolverSpec};

/// [`super::solve_options`], and a step size for fixed-step methods.
pub fn solve_options(spec: &SolverSpec) -> Result<SolveOptions, String> {
    let opts = super::super::solve_options(spec)?;
    if !opts.method.is_adaptive() && opts.dt.is_none() {
        return Err(format!("solver `{}`: {} is a fixed-step method and needs `dt`", spec.name, spec.method));
    }
    Ok(opts)
}

/// Whether a solver method is one of the SDE solvers.
pub fn is_sde_method(method: &str) -> bool {
    method.parse::<SdeMethod>().is_ok()
}

/// The SDE solve options of a solver declaration for `model` (an SDE):
/// the method must be an SDE solver that solves the model's calculus
/// (Itô or Stratonovich; either for additive noise), fixed-step methods
/// need `dt`, and `sra1` without `dt` adapts its step.
pub fn sde_options(spec: &SolverSpec, model: &ModelIr) -> Result<SdeOptions, String> {
    super::super::choice::sde_options_of(Some(spec), &Default::default(), model).map_err(|e| match e {
        SdeChoiceError::NeedsDt { method } => {
            format!("solver `{}`: {method} takes fixed steps and needs `dt`", spec.name)
        }
        SdeChoiceError::Method(m) => m,
    })
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

/// The adjoint a `gradient = ...` setting names, for an ODE model.
pub fn adjoint_of(spec: &TrainSpec) -> Result<Adjoint, TrainFailure> {
    match spec.gradient.as_str() {
        "discrete" => Ok(Adjoint::Discrete { checkpoints: spec.adjoint_checkpoints }),
        "backsolve" => Ok(Adjoint::Backsolve),
        "interpolated" => Ok(Adjoint::Interpolated),
        "reversible" => Err(setup(
            "`gradient = reversible` is for SDE models solved with reversible_heun; an ODE model trains with \
             `discrete`, `backsolve` or `interpolated`",
        )),
        other => Err(setup(format!("unknown gradient method `{other}`"))),
    }
}

/// The adjoint a `gradient = ...` setting names, for an SDE model solved
/// with `method`: `discrete` (every method) or `reversible` (reversible
/// Heun only).
pub fn sde_adjoint_of(spec: &TrainSpec, method: SdeMethod) -> Result<SdeAdjoint, TrainFailure> {
    match spec.gradient.as_str() {
        "discrete" => Ok(SdeAdjoint::Discrete),
        "reversible" if method == SdeMethod::ReversibleHeun => Ok(SdeAdjoint::Reversible),
        "reversible" => Err(setup(format!(
            "`gradient = reversible` needs the reversible_heun solver, not {method} (use `gradient = discrete`)"
        ))),
        other @ ("backsolve" | "interpolated") => Err(setup(format!(
            "`gradient = {other}` is a continuous adjoint for ODE models; an SDE model trains with `gradient = discrete` \
             (or `reversible` with reversible_heun)"
        ))),
        other => Err(setup(format!("unknown gradient method `{other}`"))),
    }
}
