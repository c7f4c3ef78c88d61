//! Step-size control: diffrax's PID controller, its initial-step heuristic,
//! and the smallest step we consider meaningful.
//!
//! Owns [`Controller`] (the user-facing coefficients), the controller's
//! per-solve state, [`initial_step`] and [`min_step`]. Follows diffrax 0.7
//! (`_step_size_controller/pid.py`) exactly, so step counts match its:
//! accept iff the scaled error `EEst < 1`; factor
//! `safety · ε_n^c1 · ε_{n-1}^c2 · ε_{n-2}^c3` with `ε = 1/EEst`, clipped to
//! `[1, factormax]` on accept and `[factormin, safety]` on reject; the error
//! history only advances on accept (and an infinite or zero ε is stored as
//! 1). Never evaluates a step or touches the state beyond the heuristic.

use crate::error::SolveError;
use crate::term::VectorField;

/// Steps shorter than `MIN_STEP_REL · |t|` are treated as a collapse of the
/// step size ([`SolveError::StepSizeTooSmall`]): about 45 ulp of `t`, where
/// `t + h` barely differs from `t` and dense output becomes meaningless
/// (compare OrdinaryDiffEq's `dtmin = eps(t)`; diffrax has no minimum and
/// runs into `max_steps` instead).
pub const MIN_STEP_REL: f64 = 1e-14;

/// Where the next attempted step ends. `tprev` is its start, `proposed`
/// its start plus the controller's step; a step that would end past
/// `floor` (just short of `t_end`) is stretched to `t_end` after an
/// accepted step, and after a rejected one tries half the remaining span,
/// so no sliver of a last step is left. Shared by every adaptive loop.
pub(crate) fn next_step_end(tprev: f64, proposed: f64, accept: bool, floor: f64, t_end: f64) -> f64 {
    if proposed > floor {
        if accept {
            t_end
        } else {
            tprev + 0.5 * (t_end - tprev)
        }
    } else {
        proposed
    }
}

/// The smallest step allowed at time `t`: `MIN_STEP_REL · |t|`, and never
/// below the smallest normal `f64` (so near `t = 0` only a step that
/// underflows counts as collapsed).
pub fn min_step(t: f64) -> f64 {
    (MIN_STEP_REL * t.abs()).max(f64::MIN_POSITIVE)
}

/// Coefficients of diffrax's `PIDController`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Controller {
    pub pcoeff: f64,
    pub icoeff: f64,
    pub dcoeff: f64,
    /// Multiplies every proposed factor; must lie in `(0, 1)`.
    pub safety: f64,
    /// Smallest factor after a rejected step, in `(0, safety]`.
    pub factormin: f64,
    /// Largest factor after an accepted step, at least 1.
    pub factormax: f64,
}

impl Default for Controller {
    /// diffrax's defaults: an integral controller, `(P, I, D) = (0, 1, 0)`,
    /// safety 0.9, factors in `[0.2, 10]`.
    fn default() -> Controller {
        Controller { pcoeff: 0.0, icoeff: 1.0, dcoeff: 0.0, safety: 0.9, factormin: 0.2, factormax: 10.0 }
    }
}

impl Controller {
    /// diffrax's PI setting `(P, I) = (0.4, 0.3)`, the same law as
    /// OrdinaryDiffEq's default PI controller: fewer rejected steps.
    pub fn pi() -> Controller {
        Controller { pcoeff: 0.4, icoeff: 0.3, ..Controller::default() }
    }

    /// Checks the coefficients (finite; `0 < safety < 1`,
    /// `0 < factormin <= safety`, `factormax >= 1`).
    pub fn validate(&self) -> Result<(), SolveError> {
        let bad = |what: String| Err(SolveError::InvalidOptions { what });
        let all = [self.pcoeff, self.icoeff, self.dcoeff, self.safety, self.factormin, self.factormax];
        if all.iter().any(|v| !v.is_finite()) {
            return bad(format!("controller coefficients must be finite, got {self:?}"));
        }
        if !(self.safety > 0.0 && self.safety < 1.0) {
            return bad(format!("controller safety must lie in (0, 1), got {}", self.safety));
        }
        if !(self.factormin > 0.0 && self.factormin <= self.safety) {
            return bad(format!(
                "controller factormin must lie in (0, safety = {}], got {}",
                self.safety, self.factormin
            ));
        }
        if self.factormax < 1.0 {
            return bad(format!("controller factormax must be at least 1, got {}", self.factormax));
        }
        Ok(())
    }
}

/// The controller with its exponents divided by the error order, and its
/// error history: the inverse scaled errors of the last two accepted steps.
pub(crate) struct Pid {
    c1: f64,
    c2: f64,
    c3: f64,
    safety: f64,
    factormin: f64,
    factormax: f64,
    prev: f64,
    prev_prev: f64,
}

impl Pid {
    pub fn new(c: &Controller, error_order: u32) -> Pid {
        let k = f64::from(error_order);
        Pid {
            c1: (c.icoeff + c.pcoeff + c.dcoeff) / k,
            c2: -(c.pcoeff + 2.0 * c.dcoeff) / k,
            c3: c.dcoeff / k,
            safety: c.safety,
            factormin: c.factormin,
            factormax: c.factormax,
            prev: 1.0,
            prev_prev: 1.0,
        }
    }

    /// Decides on a step with scaled error `eest` (`+inf` for a non-finite
    /// step) and returns `(accept, factor)`: the next step is `h · factor`.
    #[inline]
    pub fn adapt(&mut self, eest: f64) -> (bool, f64) {
        let accept = eest < 1.0;
        let inv = 1.0 / eest;
        // A zero coefficient contributes exactly 1 (as diffrax skips it),
        // which also saves the `powf`.
        let pow = |x: f64, c: f64| if c == 0.0 { 1.0 } else { x.powf(c) };
        let raw = self.safety * pow(inv, self.c1) * pow(self.prev, self.c2) * pow(self.prev_prev, self.c3);
        let (lo, hi) = if accept { (1.0, self.factormax) } else { (self.factormin, self.safety) };
        // NaN-free clip: `max` then `min` (a NaN `raw` cannot arise: eest is
        // never NaN and the history is finite and positive).
        let factor = raw.max(lo).min(hi);
        if accept {
            let stored = if inv == 0.0 || inv.is_infinite() { 1.0 } else { inv };
            self.prev_prev = self.prev;
            self.prev = stored;
        }
        (accept, factor)
    }
}

/// `sqrt(mean((x_i / sc_i)^2))`, with a zero numerator counting 0 even when
/// its scale is 0 (possible only with `atol = 0`), and 0 for an empty vector.
fn rms_scaled(x: impl Iterator<Item = f64>, sc: impl Iterator<Item = f64>, n: usize) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let sum: f64 = x
        .zip(sc)
        .map(|(x, s)| {
            let r = if x == 0.0 { 0.0 } else { x / s };
            r * r
        })
        .sum();
    (sum / n as f64).sqrt()
}

/// Buffers for [`select_initial_step`], borrowed from the solver's workspace.
pub(crate) struct InitBufs<'a> {
    /// `f(t0, y0)`, already evaluated.
    pub f0: &'a [f64],
    /// Receives `y0 + h0 f0`.
    pub y1: &'a mut [f64],
    /// Receives `f(t0 + h0, y1)`.
    pub f1: &'a mut [f64],
    pub scratch: &'a mut [f64],
}

/// diffrax's `_select_initial_step` (Hairer, Nørsett & Wanner, *Solving
/// ODEs I*, §II.4), given `f0 = f(t0, y0)`; costs one evaluation. Returns a
/// finite positive step: where the heuristic would give NaN (a NaN `f1`, or
/// `atol = 0` with a zero state) it falls back to `h0`, and to `1e-6`.
pub(crate) fn select_initial_step(
    f: &dyn VectorField,
    t0: f64,
    y0: &[f64],
    rtol: f64,
    atol: f64,
    error_order: u32,
    bufs: InitBufs<'_>,
) -> f64 {
    let n = y0.len();
    let sc = || y0.iter().map(|y| atol + rtol * y.abs());
    let d0 = rms_scaled(y0.iter().copied(), sc(), n);
    let d1 = rms_scaled(bufs.f0.iter().copied(), sc(), n);
    let mut h0 = if d0 < 1e-5 || d1 < 1e-5 { 1e-6 } else { 0.01 * (d0 / d1) };
    if !(h0.is_finite() && h0 > 0.0) {
        h0 = 1e-6;
    }
    for ((y1, y), f0) in bufs.y1.iter_mut().zip(y0).zip(bufs.f0) {
        *y1 = y + h0 * f0;
    }
    f.eval(t0 + h0, bufs.y1, bufs.f1, bufs.scratch);
    let diff = bufs.f1.iter().zip(bufs.f0).map(|(a, b)| a - b);
    let d2 = rms_scaled(diff, sc(), n) / h0;
    // `f64::max` ignores a NaN operand, so a NaN d2 falls back to d1.
    let max_d = d1.max(d2);
    let h1 = if max_d <= 1e-15 { (h0 * 1e-3).max(1e-6) } else { (0.01 / max_d).powf(1.0 / f64::from(error_order)) };
    let h = (100.0 * h0).min(h1);
    if h.is_finite() && h > 0.0 {
        h
    } else {
        h0
    }
}

/// The initial step of diffrax's `_select_initial_step` for `y' = f(t, y)`
/// from `(t0, y0)` with tolerances `rtol`, `atol` and controller error order
/// `error_order` (5 for Tsit5/Dopri5, 3 for Bosh3). Costs two evaluations of
/// `f`; allocates its own buffers (the solvers use an allocation-free
/// version).
///
/// Note: diffrax 0.7.2's `diffeqsolve` never reaches this heuristic. It
/// wraps every term in a `WrapTerm` before `PIDController.init`, and
/// `_select_initial_step` returns 0.01 for anything that is not an
/// `ODETerm`; so diffrax runs with `dt0=None` start with a step of 0.01 (its
/// published step counts and NFE, e.g. P1's 79, are reproduced here with
/// `dt = Some(0.01)`). nde uses the heuristic, which scales with the problem.
/// Fails only if `y0` does not have `f.dim()` values.
pub fn initial_step(
    f: &dyn VectorField,
    t0: f64,
    y0: &[f64],
    rtol: f64,
    atol: f64,
    error_order: u32,
) -> Result<f64, SolveError> {
    let n = y0.len();
    if n != f.dim() {
        return Err(SolveError::InvalidOptions {
            what: format!("the initial state has {n} values but the system has {} state variables", f.dim()),
        });
    }
    let mut f0 = vec![0.0; n];
    let mut y1 = vec![0.0; n];
    let mut f1 = vec![0.0; n];
    let mut scratch = vec![0.0; f.scratch_len()];
    f.eval(t0, y0, &mut f0, &mut scratch);
    let bufs = InitBufs { f0: &f0, y1: &mut y1, f1: &mut f1, scratch: &mut scratch };
    Ok(select_initial_step(f, t0, y0, rtol, atol, error_order.max(1), bufs))
}
