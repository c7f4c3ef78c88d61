//! How to solve an SDE: [`SdeMethod`], [`SdeOptions`], and their
//! validation against a field, times and a Brownian path (every bad input
//! becomes a typed [`SolveError`]). Never steps.

use std::fmt;
use std::str::FromStr;

use crate::brownian::BrownianTree;
use crate::error::{SolveError, UnknownMethod};
use crate::sde::term::{Noise, SdeField};
use crate::stepsize::Controller;

/// An SDE solver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SdeMethod {
    /// Euler–Maruyama (Itô): `y + f h + g ΔW`. Strong order 0.5 (1.0 for
    /// additive noise); one drift and one diffusion evaluation per step.
    EulerMaruyama,
    /// Milstein (Itô, diagonal noise):
    /// `y + f h + g ΔW + ½ g ∂g/∂y (ΔW² − h)`. Strong order 1.0; needs
    /// [`SdeField::diffusion_dg`].
    Milstein,
    /// Rößler's SRA1 for additive noise ([`SdeField::additive`]), two drift
    /// evaluations per step, with an embedded drift error estimate for
    /// adaptive steps. The tree provides no space-time Lévy area, so its
    /// term is zero and the strong order is 1.0 (1.5 with the area).
    Sra1,
    /// Reversible Heun (Stratonovich; Kidger et al. 2021, ALGORITHMS.md
    /// §3.1): one drift and one diffusion evaluation per step, algebraically
    /// reversible (O(1)-memory exact gradients). Strong order 0.5 (1.0 for
    /// additive noise).
    ReversibleHeun,
}

impl SdeMethod {
    /// Every method, in a fixed order.
    pub fn all() -> [SdeMethod; 4] {
        [SdeMethod::EulerMaruyama, SdeMethod::Milstein, SdeMethod::Sra1, SdeMethod::ReversibleHeun]
    }

    /// `"euler_maruyama"`, `"milstein"`, `"sra1"` or `"reversible_heun"`.
    pub fn name(self) -> &'static str {
        match self {
            SdeMethod::EulerMaruyama => "euler_maruyama",
            SdeMethod::Milstein => "milstein",
            SdeMethod::Sra1 => "sra1",
            SdeMethod::ReversibleHeun => "reversible_heun",
        }
    }

    /// Whether the method solves the Stratonovich equation (else Itô).
    pub fn is_stratonovich(self) -> bool {
        matches!(self, SdeMethod::ReversibleHeun)
    }

    /// Whether the method can adapt its step ([`SdeOptions::adaptive`]).
    pub fn has_error_estimate(self) -> bool {
        matches!(self, SdeMethod::Sra1)
    }
}

impl fmt::Display for SdeMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SdeMethod {
    type Err = UnknownMethod;
    fn from_str(s: &str) -> Result<SdeMethod, UnknownMethod> {
        SdeMethod::all().into_iter().find(|m| m.name() == s).ok_or_else(|| UnknownMethod {
            name: s.to_string(),
            known: SdeMethod::all().iter().map(|m| m.name()).collect(),
        })
    }
}

/// How to solve an SDE.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SdeOptions {
    /// The solver.
    pub method: SdeMethod,
    /// The step (fixed-step solves; required), or the first step of an
    /// adaptive solve (`None`: a hundredth of the interval).
    pub dt: Option<f64>,
    /// Adapt the step with the PID controller (only methods with an error
    /// estimate: [`SdeMethod::Sra1`]).
    pub adaptive: bool,
    /// Relative tolerance (adaptive solves).
    pub rtol: f64,
    /// Absolute tolerance (adaptive solves).
    pub atol: f64,
    /// Most steps attempted (accepted and rejected).
    pub max_steps: usize,
    /// The step-size controller of adaptive solves (error order 2).
    pub controller: Controller,
    /// Leaf width of the Brownian trees the batch entry points build
    /// (`None`: see [`SdeOptions::resolved_brownian_tol`]). Unused by
    /// [`crate::sde::sde_solve`], which is given its tree.
    pub brownian_tol: Option<f64>,
}

impl Default for SdeOptions {
    /// Euler–Maruyama, no step (must be given), fixed step, `rtol = 1e-3`,
    /// `atol = 1e-6`, 100 000 steps, diffrax's default controller.
    fn default() -> SdeOptions {
        SdeOptions {
            method: SdeMethod::EulerMaruyama,
            dt: None,
            adaptive: false,
            rtol: 1e-3,
            atol: 1e-6,
            max_steps: 100_000,
            controller: Controller::default(),
            brownian_tol: None,
        }
    }
}

impl SdeOptions {
    /// The leaf width of the Brownian tree the batch entry points build over
    /// `[t0, t1]` when [`SdeOptions::brownian_tol`] is `None`: `0.99 dt` for
    /// a fixed step, else `2^−20 (t1 − t0)` (the adaptive SRA1's steps are
    /// not known in advance). A given `brownian_tol` is returned as it is.
    ///
    /// Leaves narrower than the step put every grid point in its own leaf
    /// (two points a step apart cannot share one; the 1% margin absorbs the
    /// rounding of `t0 + k·dt`), so the path is exact in law at the grid
    /// points, with a tree only `⌈log2((t1 − t0) / (0.99 dt))⌉` levels deep:
    /// a step then costs about two normal variates per channel instead of
    /// the ~14 of a `2^−20` tree. Save times between grid points may share
    /// a leaf with a neighbour (exact to the leaf width, as any tree).
    pub fn resolved_brownian_tol(&self, t0: f64, t1: f64) -> f64 {
        match (self.brownian_tol, self.dt, self.adaptive) {
            (Some(tol), _, _) => tol,
            (None, Some(dt), false) => 0.99 * dt,
            _ => (t1 - t0) * (-20f64).exp2(),
        }
    }
}

fn invalid(what: String) -> SolveError {
    SolveError::InvalidOptions { what }
}

fn bad_times(what: String) -> SolveError {
    SolveError::InvalidTimes { what }
}

/// Checks options and times for a field (not the initial state or the
/// Brownian path).
pub(crate) fn validate(f: &dyn SdeField, t0: f64, saveat: &[f64], opts: &SdeOptions) -> Result<(), SolveError> {
    let n = f.dim();
    if n == 0 {
        return Err(invalid("the system has no state variables".into()));
    }
    if let Noise::General { m: 0 } = f.noise() {
        return Err(invalid("general noise needs at least one Brownian channel (m = 0)".into()));
    }
    crate::solve::validate_times(t0, saveat)?;
    if opts.max_steps == 0 {
        return Err(invalid("max_steps must be at least 1".into()));
    }
    let method = opts.method.name();
    match opts.dt {
        Some(dt) if !(dt.is_finite() && dt > 0.0) => {
            return Err(invalid(format!("the step size dt must be a positive finite number, got {dt}")));
        }
        Some(dt) if t0 + dt <= t0 => {
            return Err(invalid(format!("the step size dt = {dt} is too small to advance from t0 = {t0}")));
        }
        None if !opts.adaptive => {
            return Err(invalid(format!("{method} at a fixed step needs a step size dt")));
        }
        _ => {}
    }
    if opts.adaptive {
        if !opts.method.has_error_estimate() {
            return Err(invalid(format!(
                "{method} has no error estimate: use a fixed step dt (or sra1 for adaptive steps)"
            )));
        }
        for (name, v) in [("rtol", opts.rtol), ("atol", opts.atol)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(format!("{name} must be a finite number >= 0, got {v}")));
            }
        }
        if opts.rtol == 0.0 && opts.atol == 0.0 {
            return Err(invalid("rtol and atol cannot both be 0".into()));
        }
        opts.controller.validate()?;
    }
    if let Some(tol) = opts.brownian_tol {
        if !(tol.is_finite() && tol > 0.0) {
            return Err(invalid(format!("brownian_tol must be a positive finite number, got {tol}")));
        }
    }
    match opts.method {
        SdeMethod::Milstein if f.noise() != Noise::Diagonal => {
            return Err(invalid(format!(
                "milstein needs diagonal noise, but the system has general noise ({:?}); use euler_maruyama \
                 or reversible_heun",
                f.noise()
            )));
        }
        SdeMethod::Sra1 if !f.additive() => {
            return Err(invalid(
                "sra1 needs additive noise (a diffusion independent of the state); declare the noise additive \
                 or use euler_maruyama, milstein or reversible_heun"
                    .into(),
            ));
        }
        _ => {}
    }
    Ok(())
}

/// Checks that the tree covers `[t0, t_end]` with the field's channels.
pub(crate) fn check_tree(f: &dyn SdeField, tree: &BrownianTree, t0: f64, t_end: f64) -> Result<(), SolveError> {
    let m = f.noise().channels(f.dim());
    if tree.channels() != m {
        return Err(invalid(format!(
            "the Brownian path has {} channels but the system's noise needs {m}",
            tree.channels()
        )));
    }
    if tree.t0() > t0 || tree.t1() < t_end {
        return Err(bad_times(format!(
            "the Brownian path covers [{}, {}] but the solve runs over [{t0}, {t_end}]",
            tree.t0(),
            tree.t1()
        )));
    }
    Ok(())
}

/// The tree the batch entry points build for `[t0, t_end]` (a unit
/// interval when nothing is stepped).
pub(crate) fn batch_tree(
    f: &dyn SdeField,
    seed: u64,
    t0: f64,
    t_end: f64,
    opts: &SdeOptions,
) -> Result<BrownianTree, SolveError> {
    let t1 = if t_end > t0 { t_end } else { t0 + 1.0 };
    BrownianTree::new(seed, t0, t1, f.noise().channels(f.dim()), opts.resolved_brownian_tol(t0, t1))
}
