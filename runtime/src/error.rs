//! Typed errors of the solvers: why a solve failed, and where in time.
//!
//! Owns [`SolveError`] (returned by [`crate::solve()`], [`crate::solve_batch`],
//! [`crate::solve::solve_fixed`] and the gradients of [`crate::adjoint`]) and
//! [`UnknownMethod`] (from parsing a [`crate::Method`] name). Every message
//! names the time `t` at which the problem appeared and suggests what to
//! try; this module never prints and never panics.

use std::fmt;

/// Why a solve failed.
#[derive(Clone, Debug, PartialEq)]
pub enum SolveError {
    /// The step-size controller asked for a step `h` shorter than the
    /// smallest meaningful step at `t` (see [`crate::stepsize::min_step`]):
    /// the solution probably blows up or the problem is stiff there.
    StepSizeTooSmall { t: f64, h: f64 },
    /// The state or its derivative became NaN or infinite at `t`, and
    /// rejecting the step (shrinking it) could not avoid that.
    NonFinite { t: f64 },
    /// `max_steps` steps (accepted and rejected) were attempted and the
    /// integration had only reached `t`.
    MaxStepsReached { t: f64, max_steps: usize },
    /// A solver option is invalid (tolerances, step size, controller,
    /// state length).
    InvalidOptions { what: String },
    /// The output times are invalid (empty, not finite, out of order,
    /// before `t0`).
    InvalidTimes { what: String },
    /// A gradient's adjoint (the cotangent carried backwards in time, or a
    /// parameter gradient) became NaN or infinite at `t` during the backward
    /// pass of [`crate::adjoint::gradient`].
    NonFiniteAdjoint { t: f64 },
    /// The iteration matrix of a stiff solver (`I/(hγ) − J` for Rosenbrock
    /// methods, `I − hγJ` for implicit ones) could not be factorised at `t`
    /// with step `h`: the Jacobian `J` has NaN or infinite entries there
    /// (`not_finite`), or the matrix stayed exactly singular although the
    /// step was reduced several times.
    SingularMatrix { t: f64, h: f64, not_finite: bool },
    /// The Newton iteration of an implicit solver did not converge at `t`
    /// even with a fresh Jacobian and the step reduced to `h`, the smallest
    /// meaningful step there (see [`crate::stepsize::min_step`]).
    NewtonFailure { t: f64, h: f64 },
    /// Trajectory `index` of a batch failed.
    InBatch { index: usize, error: Box<SolveError> },
}

impl SolveError {
    /// The time at which the failure happened, if it is tied to one.
    pub fn time(&self) -> Option<f64> {
        match self {
            SolveError::StepSizeTooSmall { t, .. }
            | SolveError::NonFinite { t }
            | SolveError::NonFiniteAdjoint { t }
            | SolveError::MaxStepsReached { t, .. }
            | SolveError::SingularMatrix { t, .. }
            | SolveError::NewtonFailure { t, .. } => Some(*t),
            SolveError::InBatch { error, .. } => error.time(),
            SolveError::InvalidOptions { .. } | SolveError::InvalidTimes { .. } => None,
        }
    }
}

impl fmt::Display for SolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SolveError::StepSizeTooSmall { t, h } => write!(
                f,
                "step size collapsed to {h:.3e} at t = {t}: the solution may be singular there, or (with an \
                 explicit solver) the problem stiff; try rodas5, bdf or auto, or loosen rtol/atol"
            ),
            SolveError::NonFinite { t } => write!(
                f,
                "the state or its derivative became NaN or infinite at t = {t} (adaptive methods first \
                 retry with smaller steps): the solution may blow up there, or the model may divide by \
                 zero or take the log or sqrt of a negative number"
            ),
            SolveError::MaxStepsReached { t, max_steps } => write!(
                f,
                "gave up after {max_steps} steps at t = {t}: raise max_steps, loosen rtol/atol, \
                 or use a stiff solver if the problem is stiff"
            ),
            SolveError::NonFiniteAdjoint { t } => write!(
                f,
                "the gradient became NaN or infinite at t = {t} in the backward pass: the loss gradient or the \
                 model's derivatives may be non-finite there, or (backsolve) the backward integration may be \
                 unstable; try the discrete or interpolated adjoint or tighter tolerances"
            ),
            SolveError::SingularMatrix { t, h, not_finite: true } => write!(
                f,
                "the Jacobian has NaN or infinite entries at t = {t} (step {h:.3e}), so the stiff solver's \
                 iteration matrix cannot be factorised: the model's derivative may divide by zero or take the \
                 log or sqrt of a non-positive number there"
            ),
            SolveError::SingularMatrix { t, h, not_finite: false } => write!(
                f,
                "the stiff solver's iteration matrix is singular at t = {t} (last step {h:.3e}) and stayed \
                 singular for smaller steps: check the model's Jacobian there, or try another stiff method"
            ),
            SolveError::NewtonFailure { t, h } => write!(
                f,
                "the implicit solver's Newton iteration did not converge at t = {t}, even with a fresh Jacobian \
                 and the step reduced to {h:.3e}: the solution may blow up or leave the model's domain there, or \
                 the Jacobian may be wrong; try rodas5 or tighter tolerances"
            ),
            SolveError::InvalidOptions { what } => write!(f, "invalid solver options: {what}"),
            SolveError::InvalidTimes { what } => write!(f, "invalid output times: {what}"),
            SolveError::InBatch { index, error } => write!(f, "trajectory {index} of the batch: {error}"),
        }
    }
}

impl std::error::Error for SolveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SolveError::InBatch { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }
}

/// A solver name that [`crate::Method`] does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownMethod {
    /// The name as given.
    pub name: String,
    /// The names that are known, in [`crate::Method::all`] order.
    pub known: Vec<&'static str>,
}

impl fmt::Display for UnknownMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown solver `{}`; known solvers: {}", self.name, self.known.join(", "))
    }
}

impl std::error::Error for UnknownMethod {}
