//! One step of a method in isolation, for golden tests and diagnostics:
//! the candidate state, the raw error estimate and the dense output of a
//! single step, computed by exactly the code the solvers use.
//!
//! Owns [`single_step`] and [`StepProbe`]. Allocates freely (it is not on
//! any hot path); never decides step sizes.

use super::explicit_rk::{dense, lincomb, step, Workspace};
use super::scheme::{Bosh3, Dopri5, Euler, Heun, Midpoint, Rk4, Scheme, Tsit5};
use super::Method;
use crate::error::SolveError;
use crate::term::VectorField;

/// The result of one step from `(t0, y0)` with step `h`.
pub struct StepProbe {
    pub t0: f64,
    pub h: f64,
    /// The propagated solution at `t0 + h`.
    pub y1: Vec<f64>,
    /// The local error estimate `h Σ (b - b̂)_i k_i` (adaptive methods only).
    pub err: Option<Vec<f64>>,
    /// The method's dense-output state (stages, end derivative).
    ws: Workspace,
    dense: fn(f64, f64, f64, &mut Workspace, &mut [f64]),
}

impl StepProbe {
    /// The method's dense output at time `t` (meaningful in `[t0, t0 + h]`).
    pub fn dense(&mut self, t: f64) -> Vec<f64> {
        let mut out = vec![0.0; self.ws.n];
        (self.dense)(self.t0, self.t0 + self.h, t, &mut self.ws, &mut out);
        out
    }
}

/// Takes one step of `method` from `(t0, y0)` with step `h` (any finite,
/// nonzero `h`; no step-size control).
pub fn single_step(method: Method, f: &dyn VectorField, t0: f64, y0: &[f64], h: f64) -> Result<StepProbe, SolveError> {
    match method {
        Method::Euler => probe::<Euler>(f, t0, y0, h),
        Method::Midpoint => probe::<Midpoint>(f, t0, y0, h),
        Method::Heun => probe::<Heun>(f, t0, y0, h),
        Method::Rk4 => probe::<Rk4>(f, t0, y0, h),
        Method::Bosh3 => probe::<Bosh3>(f, t0, y0, h),
        Method::Dopri5 => probe::<Dopri5>(f, t0, y0, h),
        Method::Tsit5 => probe::<Tsit5>(f, t0, y0, h),
    }
}

fn probe<S: Scheme>(f: &dyn VectorField, t0: f64, y0: &[f64], h: f64) -> Result<StepProbe, SolveError> {
    let n = f.dim();
    if y0.len() != n {
        return Err(SolveError::InvalidOptions {
            what: format!("the initial state has {} values but the system has {n} state variables", y0.len()),
        });
    }
    if !(h.is_finite() && h != 0.0 && t0.is_finite()) {
        return Err(SolveError::InvalidOptions {
            what: format!("a single step needs finite t0 and h != 0, got t0 = {t0}, h = {h}"),
        });
    }
    let mut ws = Workspace::new(n, S::SLOTS, f.scratch_len());
    ws.y.copy_from_slice(y0);
    ws.eval_first(f, t0);
    let t1 = t0 + h;
    step::<S>(f, t0, t1, &mut ws);
    let h = t1 - t0;
    let err = S::TABLEAU.b_err.map(|e| {
        let zero = vec![0.0; n];
        let mut err = vec![0.0; n];
        lincomb(&mut err, &zero, h, e, &ws.k);
        err
    });
    Ok(StepProbe { t0, h, y1: ws.y_new.clone(), err, ws, dense: dense::<S> })
}
