//! ODE solver choice and the one solve entry for compiled ODE models:
//! explicit Runge–Kutta, stiff (`rodas5`, `kvaerno5`, `bdf`, `radau5`) or
//! `auto`.
//!
//! Owns [`OdeSolver`] (what a `solver` declaration or a method name stands
//! for), [`SolverChoiceError`], [`solve_ode`] / [`solve_ode_batch`] (used by
//! `nde run`, generated data and the benchmarks), and [`ModelField`]'s
//! [`JacField`] implementation through the compiled `jac` and `dfdt`
//! kernels (so a [`ModelField`] is also a
//! [`nde_runtime::stiff::adjoint::StiffDiffField`], which training through
//! stiff solves needs: `train/stiff.rs`). SDE solvers are chosen in
//! [`super::sde`]; the explicit adjoints take [`super::solve_options`].
//! Never prints.

use std::fmt;

use nde_runtime::stiff::{solve_auto, solve_stiff, AutoOptions, JacField, StiffMethod, StiffOptions, Switch};
use nde_runtime::{solve, solve_batch, BatchSolution, Method, Solution, SolveError, SolveOptions};
use rayon::prelude::*;

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

/// The name of the automatic method (Tsit5 switching to Rodas5).
pub const AUTO: &str = "auto";

/// How to solve an ODE model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OdeSolver {
    /// An explicit Runge–Kutta method (every adjoint goes through it).
    Explicit(SolveOptions),
    /// A stiff method, driven by the model's compiled Jacobian (gradients
    /// through it: the continuous adjoints of `nde_runtime::stiff::adjoint`).
    Stiff(StiffOptions),
    /// Tsit5, switching to Rodas5 where the problem is stiff.
    Auto(AutoOptions),
}

/// Why a solver could not be chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SolverChoiceError {
    /// No ODE method has this name.
    UnknownMethod { name: String, known: Vec<&'static str> },
    /// A fixed-step method without a step size.
    NeedsDt { method: &'static str },
    /// A stiff or automatic solver where only explicit ones work (the
    /// explicit adjoints, controlled models).
    NotDifferentiable { method: &'static str },
}

impl fmt::Display for SolverChoiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SolverChoiceError::UnknownMethod { name, known } => {
                write!(f, "unknown solver `{name}`; known solvers: {}", known.join(", "))
            }
            SolverChoiceError::NeedsDt { method } => {
                write!(f, "{method} is a fixed-step method: give a step size dt")
            }
            SolverChoiceError::NotDifferentiable { method } => write!(
                f,
                "{method} is a stiff solver, and only the continuous adjoints (`gradient = interpolated` or \
                 `backsolve`) of an ODE model go through stiff solvers; use one of them, or an explicit solver \
                 (tsit5, dopri5, ...)"
            ),
        }
    }
}

impl std::error::Error for SolverChoiceError {}

/// Every ODE method name: the explicit ones, the stiff ones, then `auto`.
pub fn ode_method_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Method::all().iter().map(|m| m.name()).collect();
    names.extend(StiffMethod::all().iter().map(|m| m.name()));
    names.push(AUTO);
    names
}

impl OdeSolver {
    /// The method `name` with its default options.
    pub fn named(name: &str) -> Result<OdeSolver, SolverChoiceError> {
        if let Ok(method) = name.parse::<Method>() {
            return Ok(OdeSolver::Explicit(SolveOptions { method, ..SolveOptions::default() }));
        }
        if let Ok(method) = name.parse::<StiffMethod>() {
            return Ok(OdeSolver::Stiff(StiffOptions { method, ..StiffOptions::default() }));
        }
        if name.trim().eq_ignore_ascii_case(AUTO) {
            return Ok(OdeSolver::Auto(AutoOptions::default()));
        }
        Err(SolverChoiceError::UnknownMethod { name: name.to_string(), known: ode_method_names() })
    }

    /// What a `solver` declaration stands for: its method with its `rtol`,
    /// `atol`, `dt`, `max_steps` over the method's defaults. A fixed-step
    /// method without `dt` is an error.
    pub fn from_spec(spec: &SolverSpec) -> Result<OdeSolver, SolverChoiceError> {
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

    /// The same solver with the given options replaced (`None` keeps one).
    pub fn with(mut self, rtol: Option<f64>, atol: Option<f64>, dt: Option<f64>, max_steps: Option<usize>) -> Self {
        macro_rules! set {
            ($o:expr) => {{
                $o.rtol = rtol.unwrap_or($o.rtol);
                $o.atol = atol.unwrap_or($o.atol);
                $o.dt = dt.or($o.dt);
                $o.max_steps = max_steps.unwrap_or($o.max_steps);
            }};
        }
        match &mut self {
            OdeSolver::Explicit(o) => set!(o),
            OdeSolver::Stiff(o) => set!(o),
            OdeSolver::Auto(o) => set!(o),
        }
        self
    }

    /// Checks what the options cannot say by their types: a fixed-step
    /// method needs `dt`.
    pub fn check(&self) -> Result<(), SolverChoiceError> {
        match self {
            OdeSolver::Explicit(o) if !o.method.is_adaptive() && o.dt.is_none() => {
                Err(SolverChoiceError::NeedsDt { method: o.method.name() })
            }
            _ => Ok(()),
        }
    }

    /// The method's name (`tsit5`, `rodas5`, `auto`).
    pub fn name(&self) -> &'static str {
        match self {
            OdeSolver::Explicit(o) => o.method.name(),
            OdeSolver::Stiff(o) => o.method.name(),
            OdeSolver::Auto(_) => AUTO,
        }
    }

    /// The explicit options, or why this solver cannot be differentiated
    /// by the explicit adjoints.
    pub fn explicit(&self) -> Result<SolveOptions, SolverChoiceError> {
        match self {
            OdeSolver::Explicit(o) => Ok(*o),
            _ => Err(SolverChoiceError::NotDifferentiable { method: self.name() }),
        }
    }
}

/// One solve: the saved states and, for `auto`, where it switched method.
#[derive(Clone, Debug, PartialEq)]
pub struct Solved {
    pub solution: Solution,
    pub switches: Vec<Switch>,
}

/// Solves the compiled model `field` (a [`ModelField`], or a
/// [`super::sparse::SparseModelField`] for large stiff systems) from
/// `(t0, y0)` with `solver`, saving at `saveat`.
pub fn solve_ode<F: JacField>(
    field: &F,
    solver: &OdeSolver,
    t0: f64,
    y0: &[f64],
    saveat: &[f64],
) -> Result<Solved, SolveError> {
    let solution = match solver {
        OdeSolver::Explicit(o) => solve(field, t0, y0, saveat, o)?,
        OdeSolver::Stiff(o) => solve_stiff(field, t0, y0, saveat, o)?,
        OdeSolver::Auto(o) => {
            let auto = solve_auto(field, t0, y0, saveat, o)?;
            return Ok(Solved { solution: auto.solution, switches: auto.switches });
        }
    };
    Ok(Solved { solution, switches: Vec::new() })
}

/// Solves from each row of `y0s` (`[batch][n]`), sharing `saveat`, on
/// `threads` worker threads (0: all cores). Explicit methods go through
/// [`solve_batch`]; the others solve one trajectory per task, in parallel,
/// and a failure names its trajectory ([`SolveError::InBatch`]).
pub fn solve_ode_batch<F: JacField>(
    field: &F,
    solver: &OdeSolver,
    t0: f64,
    y0s: &[f64],
    saveat: &[f64],
    threads: usize,
) -> Result<BatchSolution, SolveError> {
    if let OdeSolver::Explicit(o) = solver {
        return solve_batch(field, t0, y0s, saveat, o, threads);
    }
    let n = field.dim();
    if n == 0 || y0s.is_empty() || !y0s.chunks_exact(n).remainder().is_empty() {
        return Err(SolveError::InvalidOptions {
            what: format!("{} initial values do not make whole states of {n} values", y0s.len()),
        });
    }
    let run = || {
        y0s.par_chunks(n)
            .enumerate()
            .map(|(index, y0)| {
                solve_ode(field, solver, t0, y0, saveat).map_err(|e| SolveError::InBatch { index, error: Box::new(e) })
            })
            .collect::<Result<Vec<Solved>, SolveError>>()
    };
    let solved = if threads == 0 {
        run()?
    } else {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| SolveError::InvalidOptions { what: format!("cannot start {threads} threads: {e}") })?;
        pool.install(run)?
    };
    let batch = solved.len();
    let stats = solved.iter().map(|s| s.solution.stats).collect();
    let y = solved.into_iter().flat_map(|s| s.solution.y).collect();
    Ok(BatchSolution { t: saveat.to_vec(), t_each: Vec::new(), y, batch, n_state: n, stats })
}

#[cfg(test)]
mod tests;
