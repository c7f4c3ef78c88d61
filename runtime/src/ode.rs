//! The choice of an ODE solver and the one solve entry over it: an
//! explicit Runge–Kutta method, a stiff method or `auto`, with its options.
//!
//! Owns [`OdeSolver`] (what a method name stands for, with its options),
//! [`SolverChoiceError`], [`solve_ode`] and [`solve_ode_batch`] — the one
//! dispatch that the compiler's driver (`nde run`, generated data, the Rust
//! API) and the shared libraries of `nde build` (crate `nde-embed`) both use,
//! so a solve is the same bits through either. Never: read a model file
//! (declarations are the compiler's), print.

use std::fmt;

use rayon::prelude::*;

use crate::stiff::{solve_auto, solve_stiff, AutoOptions, JacField, StiffMethod, StiffOptions, Switch};
use crate::{solve, solve_batch, BatchSolution, Method, Solution, SolveError, SolveOptions};

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

/// Solves the compiled model `field` (a compiled model field, or a
/// sparse field for large stiff systems) from
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
