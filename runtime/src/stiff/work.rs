//! What every stiff method shares: the validated problem, the Jacobian and
//! its LU, the work counters, the error norms and the start-up.
//!
//! Owns [`Problem`], [`Work`] (allocated once per solve; every evaluation of
//! `f`, `∂f/∂y` and `∂f/∂t` and every factorisation goes through it, so the
//! counts in [`Stats`] cannot drift from the work done), [`Failure`] (why a
//! step attempt failed), the norms and the initial step. Never decides on a
//! step.

use super::field::JacField;
use super::linear::Linear;
use super::lu::{LuError, Scalar};
use crate::error::SolveError;
use crate::solution::Stats;
use crate::stepsize::{select_initial_step, InitBufs};

/// A validated stiff problem: `y0` has `f.dim()` values, `saveat` is
/// non-empty, finite, non-decreasing and starts at or after `t0`.
#[derive(Clone, Copy)]
pub(crate) struct Problem<'a> {
    pub f: &'a dyn JacField,
    pub t0: f64,
    pub y0: &'a [f64],
    pub saveat: &'a [f64],
}

impl Problem<'_> {
    pub fn t_end(&self) -> f64 {
        self.saveat.last().copied().unwrap_or(self.t0)
    }
}

/// Why one attempt at a step failed (the step is then retried smaller).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The Newton iteration diverged, was predicted too slow, or met a
    /// non-finite `f`.
    Newton,
    /// The iteration matrix is exactly singular at this step size.
    Singular,
    /// The Jacobian has NaN or infinite entries: no step size can cure it.
    JacobianNotFinite,
}

impl From<LuError> for Failure {
    fn from(e: LuError) -> Failure {
        match e {
            LuError::NotFinite => Failure::JacobianNotFinite,
            LuError::Singular { .. } => Failure::Singular,
        }
    }
}

/// Buffers and counters shared by the methods.
pub(crate) struct Work<'a> {
    pub f: &'a dyn JacField,
    pub n: usize,
    pub rtol: f64,
    pub atol: f64,
    /// `∂f/∂y` at the point recorded by the method: row-major `n × n`, or
    /// the values of the field's pattern when `lu` is sparse (see
    /// `linear`; [`Work::jac_norm_inf`] reads either).
    pub jac: Vec<f64>,
    /// The factors of the last iteration matrix, dense or sparse.
    pub lu: Linear,
    scratch: Vec<f64>,
    pub stats: Stats,
}

impl<'a> Work<'a> {
    /// Buffers for `f`; sparse linear algebra when `f` has a valid
    /// Jacobian pattern ([`super::solve_stiff`] reports an invalid one
    /// before; any other caller gets dense linear algebra for it).
    pub fn new(f: &'a dyn JacField, rtol: f64, atol: f64) -> Work<'a> {
        let n = f.dim();
        let pattern = f.jacobian_pattern().filter(|p| p.validate(n).is_ok());
        let lu = Linear::new(n, pattern);
        let scratch = vec![0.0; f.scratch_len().max(lu.scratch_len(f))];
        Work { f, n, rtol, atol, jac: vec![0.0; lu.jac_len(n)], lu, scratch, stats: Stats::default() }
    }

    /// The infinity norm of the stored Jacobian (dense or sparse): for
    /// `auto`'s stiffness test, which reads `jac` as dense today.
    pub fn jac_norm_inf(&self) -> f64 {
        self.lu.norm_inf(&self.jac, self.n)
    }

    /// `out = f(t, y)`; counted.
    #[inline]
    pub fn eval(&mut self, t: f64, y: &[f64], out: &mut [f64]) {
        self.stats.nfe += 1;
        self.f.eval(t, y, out, &mut self.scratch);
    }

    /// `self.jac = ∂f/∂y (t, y)`; counted.
    pub fn jacobian(&mut self, t: f64, y: &[f64]) {
        self.stats.njev += 1;
        self.lu.evaluate(self.f, t, y, &mut self.jac, &mut self.scratch);
    }

    /// `out = ∂f/∂t (t, y)` (counted with the Jacobian it accompanies).
    pub fn time_derivative(&mut self, t: f64, y: &[f64], out: &mut [f64]) {
        self.f.time_derivative(t, y, out, &mut self.scratch);
    }

    /// Factorises `alpha·I − beta·J`; counted.
    pub fn factor(&mut self, alpha: f64, beta: f64) -> Result<(), Failure> {
        self.stats.nlu += 1;
        self.lu.factor_shifted(alpha, beta, &self.jac).map_err(Failure::from)
    }

    /// Factorises `alpha·I − beta·J` into `lu`, factors the method keeps
    /// besides [`Work::lu`] (built with [`Linear::twin`]; `radau5`'s complex
    /// pair); counted like [`Work::factor`].
    pub fn factor_into<T: Scalar>(&mut self, lu: &mut Linear<T>, alpha: T, beta: f64) -> Result<(), Failure> {
        self.stats.nlu += 1;
        lu.factor_shifted(alpha, beta, &self.jac).map_err(Failure::from)
    }

    /// The weights `sc_i = atol + rtol·|y_i|` of the Newton norm.
    pub fn newton_scale(&self, y: &[f64], scale: &mut [f64]) {
        for (s, y) in scale.iter_mut().zip(y) {
            *s = self.atol + self.rtol * y.abs();
        }
    }

    /// The scaled RMS error norm of ALGORITHMS.md §1.1: `sc_i = atol +
    /// rtol·max(|y0_i|, |y1_i|)`; `+inf` if anything is NaN or infinite (so
    /// the step is rejected, never accepted on a NaN comparison).
    pub fn error_norm(&self, err: &[f64], y0: &[f64], y1: &[f64]) -> f64 {
        let mut sum = 0.0;
        for ((e, a), b) in err.iter().zip(y0).zip(y1) {
            if *e == 0.0 {
                continue;
            }
            let r = e / (self.atol + self.rtol * a.abs().max(b.abs()));
            sum += r * r;
        }
        let norm = (sum / self.n as f64).sqrt();
        if norm.is_nan() || y1.iter().any(|v| !v.is_finite()) {
            f64::INFINITY
        } else {
            norm
        }
    }

    /// The first step: `dt` if given, else the heuristic with error order
    /// `error_order` (costs one evaluation), given `f0 = f(t0, y0)`.
    pub fn first_step(&mut self, p: &Problem<'_>, dt: Option<f64>, error_order: u32, f0: &[f64]) -> f64 {
        if let Some(dt) = dt {
            return dt;
        }
        let mut y1 = vec![0.0; self.n];
        let mut f1 = vec![0.0; self.n];
        self.stats.nfe += 1;
        let bufs = InitBufs { f0, y1: &mut y1, f1: &mut f1, scratch: &mut self.scratch };
        select_initial_step(p.f, p.t0, p.y0, self.rtol, self.atol, error_order, bufs)
    }
}

/// `sqrt(mean((x_i / sc_i)^2))`.
#[inline]
pub(crate) fn rms_scaled(x: &[f64], scale: &[f64]) -> f64 {
    let sum: f64 = x.iter().zip(scale).map(|(x, s)| (x / s) * (x / s)).sum();
    (sum / x.len().max(1) as f64).sqrt()
}

/// The common start: checks `y0` and `f(t0, y0)` for NaN, and handles the
/// trivial case (every save time equals `t0`) by filling `out`, returning
/// `true`. Otherwise leaves `f(t0, y0)` in `f0`.
pub(crate) fn start(p: &Problem<'_>, work: &mut Work<'_>, f0: &mut [f64], out: &mut [f64]) -> Result<bool, SolveError> {
    if p.y0.iter().any(|v| !v.is_finite()) {
        return Err(SolveError::NonFinite { t: p.t0 });
    }
    if p.t_end() <= p.t0 {
        for row in out.chunks_exact_mut(work.n) {
            row.copy_from_slice(p.y0);
        }
        return Ok(true);
    }
    work.eval(p.t0, p.y0, f0);
    if f0.iter().any(|v| !v.is_finite()) {
        return Err(SolveError::NonFinite { t: p.t0 });
    }
    Ok(false)
}

/// The error for a step size that fell below the smallest meaningful one
/// at `t`, given why the last attempt failed (`None`: its error estimate
/// was too large; `Some(inf)`-like NaN steps are `nan_step`).
pub(crate) fn collapse_error(t: f64, h: f64, last: Option<Failure>, nan_step: bool) -> SolveError {
    match last {
        Some(Failure::Newton) => SolveError::NewtonFailure { t, h },
        Some(Failure::Singular) => SolveError::SingularMatrix { t, h, not_finite: false },
        Some(Failure::JacobianNotFinite) => SolveError::SingularMatrix { t, h, not_finite: true },
        None if nan_step => SolveError::NonFinite { t },
        None => SolveError::StepSizeTooSmall { t, h },
    }
}

/// Cubic Hermite interpolation on `[t0, t0 + h]` at `theta` from the states
/// and derivatives at both ends (the dense output of `kvaerno5`).
#[inline]
pub(crate) fn hermite(theta: f64, h: f64, y0: &[f64], f0: &[f64], y1: &[f64], f1: &[f64], out: &mut [f64]) {
    let t2 = theta * theta;
    let t3 = t2 * theta;
    let h00 = 2.0 * t3 - 3.0 * t2 + 1.0;
    let h10 = t3 - 2.0 * t2 + theta;
    let h01 = -2.0 * t3 + 3.0 * t2;
    let h11 = t3 - t2;
    for i in 0..out.len() {
        out[i] = h00 * y0[i] + h10 * h * f0[i] + h01 * y1[i] + h11 * h * f1[i];
    }
}
