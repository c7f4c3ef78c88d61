//! Training through stiff solves: a loss whose solver is `rodas5`,
//! `radau5`, `kvaerno5` or `bdf` differentiates its solves with the stiff continuous
//! adjoints of `nde_runtime::stiff::adjoint` (`gradient = interpolated` or
//! `backsolve`), the compiled model serving as both Jacobian field and VJP
//! field.
//!
//! Owns the choice of [`Dynamics::Stiff`] for a loss ([`dynamics`]) and the
//! batch gradient and evaluation solve of a stiff step; the loss side (the
//! cotangent of each member) is [`Trainer::ode_gradient`]'s, shared with
//! the explicit solvers. Sema refuses what this cannot do (E0717: the
//! discrete adjoint, `auto`, controlled models, solver-heuristic
//! statistics); what slips past is a [`TrainFailure::Setup`]. Never prints.

use nde_runtime::adjoint::{Adjoint, BatchCotangent, BatchGradient, BatchTimes};
use nde_runtime::stiff::{adjoint as stiff_adjoint, solve_stiff, StiffOptions};
use nde_runtime::{BatchSolution, Solution, SolveError};

use super::{adjoint_of, setup, Dynamics, TrainFailure, TrainOptions};
use crate::driver::stiff::{solver_from_spec, OdeSolver};
use crate::driver::{compile_model, ModelField};
use crate::ir::training::{LossIr, LossStat, TrainSpec};
use crate::ir::ModelIr;

/// The dynamics of an ODE loss solved with a stiff method, or `None` when
/// its solver is not a stiff one (explicit solvers and errors are the
/// caller's).
pub(super) fn dynamics(
    model: &ModelIr,
    losses: [&LossIr; 2],
    spec: &TrainSpec,
    opts: &TrainOptions,
) -> Result<Option<Dynamics>, TrainFailure> {
    let loss = losses[0];
    let stiff_opts = match solver_from_spec(&loss.solver) {
        Ok(OdeSolver::Stiff(o)) => o,
        Ok(OdeSolver::Auto(_)) => {
            return Err(setup(format!(
                "loss `{}`: gradients do not go through `auto`; solve the loss with rodas5, radau5, kvaerno5 or bdf",
                loss.name
            )))
        }
        _ => return Ok(None),
    };
    let adjoint = adjoint_of(spec)?;
    if let Adjoint::Discrete { .. } = adjoint {
        return Err(setup(format!(
            "loss `{}` solves with {}: gradients through stiff solvers need `gradient = interpolated` or `backsolve`",
            loss.name, stiff_opts.method
        )));
    }
    let heuristics =
        [LossStat::LocalError, LossStat::Stiffness, LossStat::SampledLocalError, LossStat::SampledStiffness];
    if let Some(stat) = heuristics.iter().find(|s| losses.iter().any(|l| l.stats_used.contains(s))) {
        return Err(setup(format!(
            "loss `{}` reads `sol.{}`, which measures an explicit solver's steps; it solves with {}",
            loss.name,
            stat.name(),
            stiff_opts.method
        )));
    }
    let kernels = compile_model(model, &opts.jit)?;
    Ok(Some(Dynamics::Stiff { kernels, opts: stiff_opts, adjoint }))
}

/// The batch gradient of a stiff step: [`stiff_adjoint::gradient_batch`]
/// with the trainer's thread count.
pub(super) fn gradient_batch(
    field: &ModelField<'_>,
    times: BatchTimes<'_>,
    y0s: &[f64],
    opts: &StiffOptions,
    adjoint: Adjoint,
    threads: usize,
    cotangent: &mut dyn FnMut(&BatchSolution) -> BatchCotangent,
) -> Result<(BatchSolution, BatchGradient), SolveError> {
    stiff_adjoint::gradient_batch(field, times, y0s, opts, adjoint, threads, cotangent)
}

/// One whole-trajectory solve for an evaluation.
pub(super) fn solve(
    field: &ModelField<'_>,
    t0: f64,
    y0: &[f64],
    saveat: &[f64],
    opts: &StiffOptions,
) -> Result<Solution, SolveError> {
    solve_stiff(field, t0, y0, saveat, opts)
}
