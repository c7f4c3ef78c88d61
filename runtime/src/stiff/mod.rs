//! Stiff solvers: Rosenbrock (`rodas5`), ESDIRK (`kvaerno5`), Radau IIA
//! (`radau5`) and variable-order BDF (`bdf`), driven by a [`JacField`] (a
//! vector field with its Jacobian `∂f/∂y` and time derivative `∂f/∂t`).
//!
//! Owns [`StiffMethod`], [`StiffOptions`] and [`solve_stiff`], and below
//! them: `field` (the [`JacField`] trait and [`FnJacField`]), `pattern`
//! (the [`JacobianPattern`] of a sparse Jacobian and its column colouring),
//! `lu` (dense LU through `faer`, real or complex), `sparse_lu` (sparse LU
//! through `faer`, symbolic analysis once per solve), `linear` (the Jacobian's storage and
//! its LU, dense or sparse — sparse when the field gives a pattern — behind
//! one type the methods share), `work` (buffers, counters and norms shared
//! by the methods), `newton` (the simplified Newton iteration with its convergence
//! rules), `onestep` (the adaptive loop of the one-step methods), one
//! file per method, `dense` (each accepted step's dense output, shown to a
//! step observer and kept as a whole trajectory's tape), [`auto`] (Tsit5
//! switching to Rodas5 and back on a stiffness estimate) and [`adjoint`]
//! (gradients through stiff solves: interpolated and backsolve continuous
//! adjoints whose backward problem is solved with a stiff method). Never
//! depends on the compiler; the explicit solvers in [`crate::solver`] are
//! untouched.
//!
//! Conventions shared with the explicit solvers ([`crate::solve()`]): the
//! scaled RMS error norm with `sc = atol + rtol·max(|y0|, |y1|)`
//! (ALGORITHMS.md §1.1), the initial-step heuristic of
//! [`crate::stepsize::initial_step`], steps to the last save time with the
//! other save times filled by each method's dense output, a step ending
//! within 100 ulp of the end stretched to end there, and the smallest
//! meaningful step [`crate::stepsize::min_step`]. `rodas5` and `kvaerno5`
//! step with the PID controller of [`crate::stepsize`] (`opts.controller`,
//! error order 5); `radau5` with RADAU5's predictive controller (see
//! `radau5`); `bdf` chooses its step and order itself (scipy's rules, see
//! `bdf`).
//!
//! Failures are typed ([`SolveError`]) and carry the time `t` at which they
//! happened: a Jacobian with NaN/inf entries or an iteration matrix that
//! stays singular ([`SolveError::SingularMatrix`]), a Newton iteration that
//! fails even at the smallest step ([`SolveError::NewtonFailure`]), a step
//! size collapse ([`SolveError::StepSizeTooSmall`]), a state that became
//! NaN ([`SolveError::NonFinite`]) and `max_steps`
//! ([`SolveError::MaxStepsReached`]).
//!
//! Every buffer, including the LU's, is allocated once per solve.

pub mod adjoint;
pub mod auto;
mod bdf;
mod dense;
mod field;
mod kvaerno5;
mod linear;
pub mod lu;
mod newton;
mod onestep;
mod pattern;
mod radau5;
mod rodas5;
pub mod sparse_lu;
mod work;

use std::fmt;
use std::str::FromStr;

pub use auto::{solve_auto, AutoOptions, AutoSolution, Switch};
pub use field::{Autonomous, FnJacField, JacField};
pub use pattern::{Colouring, ColumnView, JacobianPattern, PatternError};

use crate::error::{SolveError, UnknownMethod};
use crate::solution::Solution;
use crate::solve::validate_times;
use crate::stepsize::Controller;

/// A stiff solver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StiffMethod {
    /// Rosenbrock method of order 5(4), 8 stages, stiffly accurate, with a
    /// continuous extension of order 4 (Di Marzo 1993; the coefficients of
    /// OrdinaryDiffEq's `Rodas5`). One Jacobian, one `∂f/∂t` and one LU per
    /// step; no Newton iteration.
    Rodas5,
    /// ESDIRK of order 5(4), 7 stages, stiffly accurate, L-stable (Kværnø
    /// 2004; diffrax's `Kvaerno5` coefficients), simplified Newton per stage
    /// with Jacobian and LU reuse; cubic Hermite dense output.
    Kvaerno5,
    /// Variable-order (1–5), variable-step backward differentiation
    /// formulas in the quasi-constant-step form of scipy's `BDF` (numerical
    /// differentiation formulas, Shampine & Reichelt 1997), Newton with
    /// Jacobian and LU reuse.
    Bdf,
    /// Radau IIA of order 5, 3 stages (stage order 3, stiffly accurate,
    /// L-stable) in Hairer & Wanner's RADAU5 formulation: simplified Newton
    /// on the transformed stage system (one real and one complex LU),
    /// Jacobian and LU reuse, the filtered embedded error estimate,
    /// RADAU5's predictive step-size controller, and the collocation
    /// polynomial as dense output. No order reduction on very stiff
    /// problems, where Rosenbrock methods lose accuracy; fewest evaluations
    /// at tight tolerances (its error is usually well below `rtol`).
    Radau5,
}

const ALL: [StiffMethod; 4] = [StiffMethod::Rodas5, StiffMethod::Kvaerno5, StiffMethod::Bdf, StiffMethod::Radau5];

impl StiffMethod {
    /// The lower-case name used on the command line and in `.nde` files.
    pub fn name(self) -> &'static str {
        match self {
            StiffMethod::Rodas5 => "rodas5",
            StiffMethod::Kvaerno5 => "kvaerno5",
            StiffMethod::Bdf => "bdf",
            StiffMethod::Radau5 => "radau5",
        }
    }

    /// Every stiff method.
    pub fn all() -> &'static [StiffMethod] {
        &ALL
    }
}

impl fmt::Display for StiffMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for StiffMethod {
    type Err = UnknownMethod;

    /// Parses a method name, ignoring ASCII case (`"rodas5"`, `"BDF"`).
    fn from_str(s: &str) -> Result<StiffMethod, UnknownMethod> {
        ALL.iter()
            .copied()
            .find(|m| m.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownMethod { name: s.to_string(), known: ALL.iter().map(|m| m.name()).collect() })
    }
}

/// How to solve a stiff problem.
///
/// A separate type from [`crate::SolveOptions`]: its `method` is an
/// explicit Runge–Kutta [`crate::Method`] (a Butcher tableau the adjoints
/// reverse through), which the stiff methods are not.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StiffOptions {
    pub method: StiffMethod,
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// The first step (`None`: the heuristic of
    /// [`crate::stepsize::initial_step`]).
    pub dt: Option<f64>,
    /// Most steps attempted, accepted and rejected together, before giving
    /// up with [`SolveError::MaxStepsReached`].
    pub max_steps: usize,
    /// The step-size controller of `rodas5` and `kvaerno5` (`bdf` and
    /// `radau5` have their own). Default: the PI setting
    /// [`Controller::pi`], which rejects fewer steps (a rejected implicit
    /// step costs a factorisation).
    pub controller: Controller,
    /// `false`: step at the constant size `dt` (required), ignoring the
    /// error estimate, for convergence studies (`rodas5`, `kvaerno5` and
    /// `radau5`; not `bdf`). A Newton failure or singular matrix then ends
    /// the solve.
    pub adaptive: bool,
}

impl Default for StiffOptions {
    /// Rodas5 with `rtol = 1e-6`, `atol = 1e-9`, the initial-step
    /// heuristic, at most 100 000 steps and the PI controller.
    fn default() -> StiffOptions {
        StiffOptions {
            method: StiffMethod::Rodas5,
            rtol: 1e-6,
            atol: 1e-9,
            dt: None,
            max_steps: 100_000,
            controller: Controller::pi(),
            adaptive: true,
        }
    }
}

fn invalid(what: String) -> SolveError {
    SolveError::InvalidOptions { what }
}

fn validate(n: usize, y0: &[f64], t0: f64, saveat: &[f64], opts: &StiffOptions) -> Result<(), SolveError> {
    if n == 0 {
        return Err(invalid("the system has no state variables".into()));
    }
    if y0.len() != n {
        return Err(invalid(format!(
            "the initial state has {} values but the system has {n} state variables",
            y0.len()
        )));
    }
    validate_times(t0, saveat)?;
    if opts.max_steps == 0 {
        return Err(invalid("max_steps must be at least 1".into()));
    }
    if let Some(dt) = opts.dt {
        if !(dt.is_finite() && dt > 0.0) {
            return Err(invalid(format!("the first step dt must be a positive finite number, got {dt}")));
        }
    }
    for (name, v) in [("rtol", opts.rtol), ("atol", opts.atol)] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(invalid(format!("{name} must be a finite number >= 0, got {v}")));
        }
    }
    if opts.rtol == 0.0 && opts.atol == 0.0 {
        return Err(invalid("rtol and atol cannot both be 0".into()));
    }
    if !opts.adaptive {
        if opts.dt.is_none() {
            return Err(invalid("a constant-step solve (adaptive = false) needs a step size dt".into()));
        }
        if opts.method == StiffMethod::Bdf {
            return Err(invalid("bdf chooses its own step sizes and orders; it has no constant-step mode".into()));
        }
    }
    opts.controller.validate()
}

/// Solves the stiff problem `y' = f(t, y)` from `(t0, y0)` with
/// `opts.method`, returning the state at each time in `saveat` (sorted,
/// non-decreasing, all `>= t0`; the integration ends at the last one; it may
/// include `t0`). The statistics count evaluations of `f` (including those
/// of the initial-step heuristic), Jacobians, LU factorisations, Newton
/// iterations and steps.
pub fn solve_stiff(
    field: &dyn JacField,
    t0: f64,
    y0: &[f64],
    saveat: &[f64],
    opts: &StiffOptions,
) -> Result<Solution, SolveError> {
    let n = field.dim();
    validate(n, y0, t0, saveat, opts)?;
    if let Some(p) = field.jacobian_pattern() {
        p.validate(n).map_err(|e| invalid(e.to_string()))?;
    }
    let mut y = vec![0.0; saveat.len() * n];
    let problem = work::Problem { f: field, t0, y0, saveat };
    let stats = integrate_observed(&problem, opts, &mut y, &mut ())?;
    Ok(Solution { t: saveat.to_vec(), y, n_state: n, stats })
}

/// Integrates a validated problem with `opts.method`, writing one row of
/// `out` per save time and showing `obs` every accepted step.
pub(crate) fn integrate_observed(
    problem: &work::Problem<'_>,
    opts: &StiffOptions,
    out: &mut [f64],
    obs: &mut dyn dense::StepObserver,
) -> Result<crate::solution::Stats, SolveError> {
    match opts.method {
        StiffMethod::Rodas5 => onestep::integrate::<rodas5::Rodas5>(problem, opts, out, obs),
        StiffMethod::Kvaerno5 => onestep::integrate::<kvaerno5::Kvaerno5>(problem, opts, out, obs),
        StiffMethod::Bdf => bdf::integrate(problem, opts, out, obs),
        StiffMethod::Radau5 => onestep::integrate::<radau5::Radau5>(problem, opts, out, obs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_known_ones() {
        for m in StiffMethod::all() {
            assert_eq!(m.name().parse::<StiffMethod>(), Ok(*m));
            assert_eq!(m.to_string().to_uppercase().parse::<StiffMethod>(), Ok(*m));
        }
        let e = "radau".parse::<StiffMethod>().unwrap_err();
        assert_eq!(e.known, vec!["rodas5", "kvaerno5", "bdf", "radau5"]);
        assert!(e.to_string().contains("unknown solver `radau`"), "{e}");
    }
}
