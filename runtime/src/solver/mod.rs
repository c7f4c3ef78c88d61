//! Explicit Runge–Kutta solvers: tableaus, the generic stepper, and the
//! adaptive and fixed-step drivers.
//!
//! Owns everything between "here is a validated problem and a workspace"
//! and "here are the saved states": [`tableau`] (checked coefficient data),
//! `scheme` (each method as a type with its dense output), `explicit_rk`
//! (one step, error norm, dense evaluation), `adaptive` and `fixed` (the
//! time loops, which can show each accepted step to a `StepObserver`),
//! [`probe`] (single steps for tests and diagnostics) and [`Method`].
//! Option validation and batching live in [`mod@crate::solve`].
//!
//! Conventions shared by both drivers, chosen to match diffrax:
//! - the solver steps to the last save time and fills the other save times
//!   by each method's dense output (it never shortens a step to hit a save
//!   time); a save time equal to a step's end gets that step's state exactly;
//! - a step ending within 100 ulp of the end time is stretched to end
//!   exactly there (diffrax's `_clip_to_end`);
//! - the first stage of each step is the previous step's end derivative
//!   (FSAL for all methods: non-FSAL methods evaluate `f(t1, y1)` once per
//!   step, which their cubic Hermite dense output needs anyway).

mod adaptive;
mod explicit_rk;
mod fixed;
mod method;
pub mod probe;
mod scheme;
pub mod tableau;

pub use method::Method;

pub(crate) use adaptive::integrate as integrate_adaptive;
pub(crate) use adaptive::integrate_observed as integrate_adaptive_observed;
pub(crate) use explicit_rk::{error_norm, lincomb, step, stiffness, stiffness_ratio, stiffness_stage, Workspace};
pub(crate) use fixed::integrate as integrate_fixed;
pub(crate) use fixed::integrate_observed as integrate_fixed_observed;
pub(crate) use scheme::{Bosh3, Dopri5, Euler, Heun, Midpoint, Rk4, Scheme, Tsit5};

use crate::error::SolveError;
use crate::solution::Stats;
use crate::term::VectorField;

/// Sees every accepted step of a solve, for the adjoints
/// ([`crate::adjoint`]) that record the forward pass. Called after the step's
/// saves and before the workspace moves on, with `ws.y = y(t0)`,
/// `ws.y_new = y(t1)` and `ws.k` holding the step's derivative slots (slot
/// `S::END_SLOT` is `f(t1, y(t1))`). `()` observes nothing and compiles
/// away, which is what [`crate::solve()`] uses.
pub(crate) trait StepObserver {
    fn accepted(&mut self, t0: f64, t1: f64, ws: &Workspace);

    /// At the end of a successful adaptive solve: the step the controller
    /// proposed after the last step (to continue with, as diffrax carries
    /// its controller state across the intervals of a backward solve).
    #[inline(always)]
    fn finished(&mut self, _next_h: f64) {}
}

impl StepObserver for () {
    #[inline(always)]
    fn accepted(&mut self, _t0: f64, _t1: f64, _ws: &Workspace) {}
}

/// A validated initial-value problem: `y0` has `f.dim()` values, `saveat` is
/// non-empty, finite, non-decreasing and starts at or after `t0`.
#[derive(Clone, Copy)]
pub(crate) struct Problem<'a> {
    pub f: &'a dyn VectorField,
    pub t0: f64,
    pub y0: &'a [f64],
    pub saveat: &'a [f64],
}

impl Problem<'_> {
    pub fn t_end(&self) -> f64 {
        self.saveat.last().copied().unwrap_or(self.t0)
    }
}

/// `x` moved down by `n` representable values (diffrax's threshold `t1 - 100
/// ulp` for stretching the last step). `x` must be finite.
pub(crate) fn ulps_below(x: f64, n: u32) -> f64 {
    let mut v = x;
    for _ in 0..n {
        v = if v == 0.0 {
            -f64::from_bits(1)
        } else if v > 0.0 {
            f64::from_bits(v.to_bits() - 1)
        } else {
            f64::from_bits(v.to_bits() + 1)
        };
    }
    v
}

/// Common start of both drivers: loads `y0` into the workspace and handles
/// the trivial case. Returns `Some(stats)` when there is nothing to
/// integrate (every save time equals `t0`), after filling `out`.
pub(crate) fn start(p: &Problem<'_>, ws: &mut Workspace, out: &mut [f64]) -> Result<Option<Stats>, SolveError> {
    ws.nfe = 0;
    ws.y.copy_from_slice(p.y0);
    if p.y0.iter().any(|v| !v.is_finite()) {
        return Err(SolveError::NonFinite { t: p.t0 });
    }
    if p.t_end() <= p.t0 {
        for row in out.chunks_exact_mut(ws.n.max(1)) {
            row.copy_from_slice(p.y0);
        }
        return Ok(Some(Stats::default()));
    }
    ws.eval_first(p.f, p.t0);
    if ws.k[..ws.n].iter().any(|v| !v.is_finite()) {
        return Err(SolveError::NonFinite { t: p.t0 });
    }
    Ok(None)
}

/// Saves the dense output of the step `[t0, t1]` just taken at every
/// pending save time `<= t1`, advancing `next`.
#[inline]
pub(crate) fn save_step<S: Scheme>(
    saveat: &[f64],
    next: &mut usize,
    t0: f64,
    t1: f64,
    ws: &mut Workspace,
    out: &mut [f64],
) {
    let n = ws.n;
    while let Some(&t) = saveat.get(*next) {
        if t > t1 {
            break;
        }
        explicit_rk::dense::<S>(t0, t1, t, ws, &mut out[*next * n..(*next + 1) * n]);
        *next += 1;
    }
}
