//! How a solve picks its solver and save times from a file's declarations
//! and a caller's overrides: the one rule `nde run` and the Rust API share.
//!
//! A requested name picks the declared solver of that name, else is a
//! method name; with no name, the file's only declared solver, else the
//! default method (`tsit5`; `euler_maruyama` or, for Stratonovich models,
//! `reversible_heun`). The caller's tolerances, step size and step limit
//! override the declaration's.
//!
//! Never: print, or read the command line (callers turn the errors into
//! their own messages).

use nde_runtime::sde::SdeOptions;

use super::sde;
use super::stiff::{OdeSolver, SolverChoiceError};
use crate::ir::{ModelIr, SolverSpec};

/// A caller's choice: a solver's or method's name, and overrides.
#[derive(Clone, Copy, Debug, Default)]
pub struct SolverRequest<'a> {
    pub name: Option<&'a str>,
    pub rtol: Option<f64>,
    pub atol: Option<f64>,
    pub dt: Option<f64>,
    pub max_steps: Option<usize>,
}

/// The declaration `name` picks, or the file's only one when no name is given.
pub fn declared_solver<'a>(name: Option<&str>, declared: &'a [SolverSpec]) -> Option<&'a SolverSpec> {
    match name {
        Some(name) => declared.iter().find(|s| s.name == name),
        None if declared.len() == 1 => declared.first(),
        None => None,
    }
}

/// The ODE solver of a request, its overrides applied and checked (a
/// fixed-step method needs `dt`).
pub fn ode_solver(req: &SolverRequest<'_>, declared: &[SolverSpec]) -> Result<OdeSolver, SolverChoiceError> {
    let solver = match declared_solver(req.name, declared) {
        Some(s) => OdeSolver::named(&s.method).map(|o| {
            let option = |key| super::solver_option(s, key);
            o.with(option("rtol"), option("atol"), option("dt"), option("max_steps").map(|v| v as usize))
        })?,
        None => OdeSolver::named(req.name.unwrap_or("tsit5"))?,
    };
    let solver = solver.with(req.rtol, req.atol, req.dt, req.max_steps);
    solver.check()?;
    Ok(solver)
}

/// Why an SDE solve's options could not be chosen.
#[derive(Clone, Debug, PartialEq)]
pub enum SdeChoiceError {
    /// Not an SDE method (or not one for this model), with the reason.
    Method(String),
    /// A fixed-step method without a step size.
    NeedsDt { method: String },
}

impl std::fmt::Display for SdeChoiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SdeChoiceError::Method(m) => f.write_str(m),
            SdeChoiceError::NeedsDt { method } => write!(f, "{method} takes fixed steps: give the step size dt"),
        }
    }
}

impl std::error::Error for SdeChoiceError {}

/// The SDE solver options of a request for `model`.
pub fn sde_options(
    req: &SolverRequest<'_>,
    declared: &[SolverSpec],
    model: &ModelIr,
) -> Result<SdeOptions, SdeChoiceError> {
    sde_options_of(declared_solver(req.name, declared), req, model)
}

/// The SDE solver options of the declaration `spec` (if any) with the
/// request's overrides over it, for `model`.
pub fn sde_options_of(
    spec: Option<&SolverSpec>,
    req: &SolverRequest<'_>,
    model: &ModelIr,
) -> Result<SdeOptions, SdeChoiceError> {
    let stratonovich = model.diffusion.as_ref().is_some_and(|d| d.stratonovich);
    let default = if stratonovich { "reversible_heun" } else { "euler_maruyama" };
    let name = spec.map(|s| s.method.as_str()).or(req.name).unwrap_or(default);
    let method = sde::sde_method(name, model).map_err(SdeChoiceError::Method)?;
    let option = |key| spec.and_then(|s| super::solver_option(s, key));
    let mut opts = SdeOptions { method, ..Default::default() };
    opts.dt = req.dt.or(option("dt"));
    opts.rtol = req.rtol.or(option("rtol")).unwrap_or(opts.rtol);
    opts.atol = req.atol.or(option("atol")).unwrap_or(opts.atol);
    opts.max_steps = req.max_steps.or(option("max_steps").map(|v| v as usize)).unwrap_or(opts.max_steps);
    opts.adaptive = method.has_error_estimate() && opts.dt.is_none();
    if opts.dt.is_none() && !opts.adaptive {
        return Err(SdeChoiceError::NeedsDt { method: method.to_string() });
    }
    Ok(opts)
}

/// `n` equally spaced points from `a` to `b`, the last exactly `b`; one
/// point is `[b]` (the save grid of `nde run --t1` and `--at A:B:N`).
pub fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![b];
    }
    (0..n).map(|i| if i == n - 1 { b } else { a + (b - a) * i as f64 / (n - 1) as f64 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_ends_exactly_and_one_point_is_the_end() {
        assert_eq!(linspace(0.0, 1.0, 1), [1.0]);
        let g = linspace(0.0, 0.3, 4);
        assert_eq!((g[0], g[3], g.len()), (0.0, 0.3, 4));
    }

    #[test]
    fn a_request_overrides_and_a_fixed_step_method_needs_dt() {
        let req = SolverRequest { name: Some("rk4"), ..Default::default() };
        assert!(matches!(ode_solver(&req, &[]), Err(SolverChoiceError::NeedsDt { .. })));
        let req = SolverRequest { name: Some("rk4"), dt: Some(0.1), ..Default::default() };
        assert_eq!(ode_solver(&req, &[]).map(|s| s.name()), Ok("rk4"));
        let req = SolverRequest { name: Some("nope"), ..Default::default() };
        assert!(matches!(ode_solver(&req, &[]), Err(SolverChoiceError::UnknownMethod { .. })));
    }
}
