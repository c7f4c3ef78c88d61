//! ODE solves of compiled models: [`ModelField`]'s [`JacField`]
//! implementation through the compiled `jac` and `dfdt` kernels (so a
//! [`ModelField`] is also a [`nde_runtime::stiff::adjoint::StiffDiffField`],
//! which training through stiff solves needs: `train/stiff.rs`), and what a
//! `solver` declaration stands for ([`solver_from_spec`]). The solver
//! choice itself ([`OdeSolver`]) and the one solve entry over it
//! ([`solve_ode`], [`solve_ode_batch`]) are the runtime's
//! ([`nde_runtime::ode`]), shared with the shared libraries of `nde build`.
//! SDE solvers are chosen in [`super::sde`]; the explicit adjoints take
//! [`super::solve_options`]. Never prints.

pub use nde_runtime::ode::{ode_method_names, solve_ode, solve_ode_batch, OdeSolver, Solved, SolverChoiceError, AUTO};
use nde_runtime::stiff::JacField;

use super::{solver_option, ModelField};
use crate::ir::SolverSpec;

impl JacField for ModelField<'_> {
    fn jac_scratch_len(&self) -> usize {
        self.kernel_field().jac_scratch_len()
    }
    fn jacobian(&self, t: f64, y: &[f64], jac: &mut [f64], scratch: &mut [f64]) {
        self.kernel_field().jacobian(t, y, jac, scratch)
    }
    fn time_derivative(&self, t: f64, y: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        self.kernel_field().time_derivative(t, y, out, scratch)
    }
}

/// What a `solver` declaration stands for: its method with its `rtol`,
/// `atol`, `dt`, `max_steps` over the method's defaults. A fixed-step
/// method without `dt` is an error.
pub fn solver_from_spec(spec: &SolverSpec) -> Result<OdeSolver, SolverChoiceError> {
    let option = |key| solver_option(spec, key);
    let solver = OdeSolver::named(&spec.method)?.with(
        option("rtol"),
        option("atol"),
        option("dt"),
        option("max_steps").map(|v| v as usize),
    );
    solver.check()?;
    Ok(solver)
}

#[cfg(test)]
mod tests;
