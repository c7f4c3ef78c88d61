//! Radau5: the three-stage Radau IIA collocation method of order 5 (stage
//! order 3, stiffly accurate, L-stable), in the formulation of Hairer &
//! Wanner's RADAU5 (*Solving ODEs II*, §IV.8).
//!
//! Owns the method's constants, the simplified Newton iteration on the
//! transformed stage system, the embedded error estimate, the step-size
//! controller, the reuse rules and the dense output (the collocation
//! polynomial). Never decides when a step is accepted or where the next
//! one starts ([`super::onestep`] does).
//!
//! # The step
//!
//! With `Z_i = Y_i − y0` the stage increments at `t0 + c_i h`, the stage
//! system is `Z = h (A ⊗ I) F(Z)`. Since `A⁻¹ = T Λ T⁻¹` with `Λ =
//! diag(γ, [[α, −β], [β, α]])` (one real eigenvalue and a complex pair), the
//! simplified Newton iteration in `W = (T⁻¹ ⊗ I) Z` splits into one real
//! `n × n` system and one complex one:
//! ```text
//! (γ/h − J) ΔW1 = (T⁻¹F)_1 − (γ/h) W1
//! ((α + iβ)/h − J) (ΔW2 + iΔW3) = [(T⁻¹F)_2 − (αW2 − βW3)/h] + i[(T⁻¹F)_3 − (βW2 + αW3)/h]
//! ```
//! each iteration costing three evaluations of `f` and two solves. The
//! complex matrix is factorised in complex arithmetic (`Linear<c64>`, dense
//! or sparse like the real one); each of the two factorisations counts as
//! one LU (as scipy counts them). `y1 = y0 + Z3`.
//!
//! Newton (RADAU5's rules): starting values from the last accepted step's
//! collocation polynomial, extrapolated to the new stage times (zero on
//! the first step); the norm is the scaled RMS of `ΔW` with `sc = atol +
//! rtol·|y0|`; the rate `θ` is `‖ΔW_k‖/‖ΔW_{k−1}‖` at the second
//! iteration and the geometric mean of the last two quotients after; it
//! stops once `η‖ΔW_k‖ ≤ κ` with `η = θ/(1 − θ)`, `κ` that of
//! [`super::newton`]. At the first iteration, where no rate is known yet,
//! `η` is the last solve's damped as `η^0.8` (so a step may converge in one
//! iteration), but never below [`FIRST_ETA_MIN`]: a rate carried over from
//! a nearly linear stretch must not accept a large first correction unseen
//! (on POLLU at `rtol = 1e-4` that costs three digits). It fails when
//! `θ ≥ 0.99`, when the error predicted after the iterations left,
//! `η θ^(k_max − 2 − k)‖ΔW_k‖`, exceeds `κ` (adaptive solves only), or after
//! [`MAX_ITER`] iterations.
//!
//! Error estimate: `err = (γ/h − J)⁻¹ (f(t0, y0) + Σ d_i Z_i / h)` (the
//! embedded order-3 solution with the extra node `t0`, filtered by the real
//! factors already at hand), measured with the shared norm; when it is
//! `≥ 1` on the first step or after a rejection it is replaced by the
//! stiff-robust `(γ/h − J)⁻¹ (f(t0, y0 + err) + Σ d_i Z_i / h)` (one more
//! evaluation). The `f(t0, y0)` of a step after the first is not evaluated:
//! it is the previous step's collocation derivative at its end, `(T Λ W)_3 /
//! h`, which the converged stages satisfy up to the Newton error (the
//! estimate's filter keeps that error at its own size), saving one
//! evaluation per step (Hairer & Wanner's advice for stiff problems: stage
//! derivatives from the stage values, not from `f`).
//!
//! Tolerances are used as given, as scipy's `Radau` does (not RADAU5's
//! transformed `0.1·rtol^(2/3)`): the estimate is of order 3 and the
//! solution of order 5, so the error achieved is usually well below `rtol`.
//!
//! Step size: RADAU5's predictive (Gustafsson) controller. The factor is
//! `fac·err^(−1/4)` with `fac = 0.9·(2·k_max + 1)/(2·k_max + k)` (`k` the
//! Newton iterations taken), bounded to `[0.2, 8]`; after the first accepted
//! step it is at most the predictive factor `(h/h_prev)·0.9·(err_prev /
//! err²)^(1/4)`; a step after a rejection does not grow; a rejected first
//! step shrinks tenfold. A Newton failure or a singular matrix halves `h`
//! ([`super::onestep::judge`]).
//!
//! Reuse: one Jacobian serves many steps. It is re-evaluated at the start
//! of a step (i) when the Newton iteration fails while the Jacobian is
//! older than the current point (the same step is retried before any
//! reduction), and (ii) after an accepted step whose last Newton rate
//! exceeded [`SLOW_RATE`]. Both LUs are kept while `h` is unchanged; an
//! accepted step keeps `h` when the controller would grow it by a factor in
//! `[1, 1.2]` and no new Jacobian is due (RADAU5's `QUOT1`, `QUOT2`).
//!
//! Dense output: the collocation polynomial through `(t0, y0)` and the
//! stages, `y(t0 + θh) = y0 + Σ_i ℓ_i(θ) Z_i` with `ℓ_i` the cubic Lagrange
//! basis on `{0, c1, c2, 1}` that vanishes at 0.
//!
//! Cost per step: `3·k` evaluations of `f` for `k` Newton iterations
//! (mostly 2 at tight tolerances, often 1 at loose ones), and one more for
//! the rare second error estimate.

// Constants are written to full precision; stage loops read clearer with
// indices.
#![allow(clippy::excessive_precision, clippy::needless_range_loop)]

use faer::c64;

use super::linear::Linear;
use super::newton::{JacobianReuse, NewtonState};
use super::onestep::OneStep;
use super::work::{Failure, Work};
use super::StiffOptions;
use crate::stepsize::Pid;

/// The nodes `c_i = (4 ∓ √6)/10, 1`.
const C: [f64; 3] = [0.15505102572168219018, 0.64494897427831780982, 1.0];

/// The real eigenvalue of `A⁻¹`.
const GAMMA: f64 = 3.6378342527444957322;
/// The complex pair `α ± iβ` of `A⁻¹`.
const ALPHA: f64 = 2.6810828736277521339;
const BETA: f64 = 3.0504301992474105694;

/// `T` with `T⁻¹ A⁻¹ T = diag(γ, [[α, −β], [β, α]])`: the real eigenvector,
/// then the real part and minus the imaginary part of the eigenvector of
/// `α + iβ`, each scaled to a last component of 1 (so `Z3 = W1 + W2`).
const T: [[f64; 3]; 3] = [
    [0.094438762488975241487, -0.14125529502095420843, -0.030029194105147424492],
    [0.25021312296533331138, 0.204129352293799932, 0.3829421127572619378],
    [1.0, 1.0, 0.0],
];

/// `T⁻¹`.
const TI: [[f64; 3]; 3] = [
    [4.1787185915519047273, 0.32768282076106238708, 0.52337644549944954804],
    [-4.1787185915519047273, -0.32768282076106238708, 0.47662355450055045196],
    [-0.50287263494578687595, 2.5719269498556054292, -0.59603920482822492497],
];

/// The error weights `d_i = −(13 + 7√6)/3, (−13 + 7√6)/3, −1/3`: the
/// embedded solution minus `y1` is `(h f(t0, y0) + Σ d_i Z_i)/γ`.
const D: [f64; 3] = [-10.048809399827415562, 1.3821427331607488958, -1.0 / 3.0];

/// Newton iterations per step before the attempt fails (RADAU5's `NIT`);
/// constant-step solves, which cannot retry smaller, allow more.
const MAX_ITER: usize = 7;
const MAX_ITER_CONSTANT_STEP: usize = 50;

/// An accepted step whose last Newton rate exceeded this gets a fresh
/// Jacobian at the next point (RADAU5's `THET`).
const SLOW_RATE: f64 = 0.001;

/// The smallest `η` the first iteration assumes: it converges alone only if
/// its correction is below `κ / 0.1`, whatever rate was carried over.
const FIRST_ETA_MIN: f64 = 0.1;

/// The controller's safety factor, bounds of a step's change, the factor
/// of a rejected first step, the widest growth that keeps `h` (and the
/// factors), and the floor of the error estimate.
const SAFETY: f64 = 0.9;
const FACTOR_MIN: f64 = 0.2;
const FACTOR_MAX: f64 = 8.0;
const FIRST_REJECTED: f64 = 0.1;
const HOLD_MAX: f64 = 1.2;
const ERR_FLOOR: f64 = 1e-10;

/// The cubic Lagrange basis on `{0, c1, c2, 1}` that vanishes at 0, at
/// `theta`: the collocation polynomial is `y0 + Σ_i ℓ_i(θ) Z_i`.
#[inline]
fn basis(theta: f64) -> [f64; 3] {
    let mut l = [0.0; 3];
    for j in 0..3 {
        let mut p = theta / C[j];
        for m in 0..3 {
            if m != j {
                p *= (theta - C[m]) / (C[j] - C[m]);
            }
        }
        l[j] = p;
    }
    l
}

/// The collocation polynomial of a step at `theta` from its start `y0` and
/// its stage increments `z` (the dense output of `radau5`, also read back
/// from the tape by [`super::dense`]).
pub(crate) fn collocation(theta: f64, y0: &[f64], z: [&[f64]; 3], out: &mut [f64]) {
    let l = basis(theta);
    for k in 0..out.len() {
        out[k] = y0[k] + l[0] * z[0][k] + l[1] * z[1][k] + l[2] * z[2][k];
    }
}

pub(crate) struct Radau5 {
    n: usize,
    /// Stage increments `Z_1..Z_3` of the last attempt, back to back.
    z: Vec<f64>,
    /// The same in transformed coordinates, `W = (T⁻¹ ⊗ I) Z`.
    w: Vec<f64>,
    /// `f` at the stages; after the iteration, work space of the error
    /// estimate.
    f: Vec<f64>,
    /// Newton increments `ΔW`.
    dw: Vec<f64>,
    /// The complex right-hand side and solution.
    cw: Vec<c64>,
    /// The last accepted step's `Z` and `h` (NaN: none yet).
    z_accepted: Vec<f64>,
    h_accepted: f64,
    ytmp: Vec<f64>,
    y1: Vec<f64>,
    err: Vec<f64>,
    scale: Vec<f64>,
    /// The factors of `((α + iβ)/h)·I − J` (the real ones are `work.lu`).
    complex_lu: Linear<c64>,
    newton: NewtonState,
    max_iter: usize,
    /// The Jacobian's reuse; its factors are made for `h`.
    jac: JacobianReuse,
    /// The last attempt's `h` and Newton iterations.
    h: f64,
    iters: usize,
    /// Accepted steps so far.
    accepted: u64,
    /// The last attempt was rejected or failed.
    rejected: bool,
    /// The last accepted step's error, at least 0.01 (the predictive
    /// controller's memory).
    err_accepted: f64,
}

impl Radau5 {
    /// Both factorisations for `h`, unless they are current.
    fn factor(&mut self, work: &mut Work<'_>, h: f64) -> Result<(), Failure> {
        if self.jac.factors_for == h {
            return Ok(());
        }
        self.jac.factors_for = f64::NAN;
        work.factor(GAMMA / h, 1.0)?;
        work.factor_into(&mut self.complex_lu, c64::new(ALPHA / h, BETA / h), 1.0)?;
        self.jac.factors_for = h;
        Ok(())
    }

    /// Starting values for step `h`: the last accepted step's collocation
    /// polynomial at the new stage times, relative to its end.
    fn start_values(&mut self, h: f64) {
        let n = self.n;
        if self.h_accepted.is_nan() {
            self.z.fill(0.0);
            self.w.fill(0.0);
            return;
        }
        let ratio = h / self.h_accepted;
        let (za, zb, zc) = (&self.z_accepted[..n], &self.z_accepted[n..2 * n], &self.z_accepted[2 * n..]);
        for i in 0..3 {
            let l = basis(1.0 + C[i] * ratio);
            for k in 0..n {
                self.z[i * n + k] = l[0] * za[k] + l[1] * zb[k] + l[2] * zc[k] - zc[k];
            }
        }
        for k in 0..n {
            let z = [self.z[k], self.z[n + k], self.z[2 * n + k]];
            for i in 0..3 {
                self.w[i * n + k] = TI[i][0] * z[0] + TI[i][1] * z[1] + TI[i][2] * z[2];
            }
        }
    }

    /// The simplified Newton iteration from the starting values in `z`,
    /// `w`; returns the iterations taken and the last rate (0 after one
    /// iteration).
    fn iterate(&mut self, work: &mut Work<'_>, t: f64, h: f64, y: &[f64]) -> Result<(usize, f64), Failure> {
        let n = self.n;
        let (g, a, b) = (GAMMA / h, ALPHA / h, BETA / h);
        let kappa = self.newton.kappa;
        let mut eta = self.newton.first_eta().max(FIRST_ETA_MIN);
        let (mut norm_old, mut quotient_old, mut theta) = (f64::NAN, f64::NAN, 0.0);
        for k in 0..self.max_iter {
            for i in 0..3 {
                for q in 0..n {
                    self.ytmp[q] = y[q] + self.z[i * n + q];
                }
                work.eval(t + C[i] * h, &self.ytmp, &mut self.f[i * n..(i + 1) * n]);
            }
            work.stats.nnewton += 1;
            if self.f.iter().any(|v| !v.is_finite()) {
                self.newton.reset();
                return Err(Failure::Newton);
            }
            for q in 0..n {
                let f = [self.f[q], self.f[n + q], self.f[2 * n + q]];
                let (w1, w2, w3) = (self.w[q], self.w[n + q], self.w[2 * n + q]);
                let tf = |i: usize| TI[i][0] * f[0] + TI[i][1] * f[1] + TI[i][2] * f[2];
                self.dw[q] = tf(0) - g * w1;
                self.cw[q] = c64::new(tf(1) - (a * w2 - b * w3), tf(2) - (b * w2 + a * w3));
            }
            work.lu.solve_in_place(&mut self.dw[..n]);
            self.complex_lu.solve_in_place(&mut self.cw);
            let mut sum = 0.0;
            for q in 0..n {
                let (re, im) = (self.cw[q].re, self.cw[q].im);
                self.dw[n + q] = re;
                self.dw[2 * n + q] = im;
                let s = self.scale[q];
                let (r1, r2, r3) = (self.dw[q] / s, re / s, im / s);
                sum += r1 * r1 + r2 * r2 + r3 * r3;
            }
            let norm = (sum / (3 * n) as f64).sqrt();
            if !norm.is_finite() {
                self.newton.reset();
                return Err(Failure::Newton);
            }
            if k > 0 {
                let quotient = norm / norm_old;
                theta = if k == 1 { quotient } else { (quotient * quotient_old).sqrt() };
                quotient_old = quotient;
                if theta >= 0.99 {
                    self.newton.reset();
                    return Err(Failure::Newton);
                }
                eta = theta / (1.0 - theta);
                let left = self.max_iter - 1 - k;
                if !self.newton.persistent() && left > 0 && eta * theta.powi(left as i32 - 1) * norm > kappa {
                    self.newton.reset();
                    return Err(Failure::Newton);
                }
            }
            for (w, d) in self.w.iter_mut().zip(&self.dw) {
                *w += d;
            }
            for q in 0..n {
                let w = [self.w[q], self.w[n + q], self.w[2 * n + q]];
                for i in 0..3 {
                    self.z[i * n + q] = T[i][0] * w[0] + T[i][1] * w[1] + T[i][2] * w[2];
                }
            }
            if norm == 0.0 || eta * norm <= kappa {
                self.newton.converged(eta);
                return Ok((k + 1, theta));
            }
            norm_old = norm.max(f64::EPSILON);
        }
        self.newton.reset();
        Err(Failure::Newton)
    }

    /// The scaled error of the step just solved (`y1` set).
    fn error(&mut self, work: &mut Work<'_>, t: f64, h: f64, y: &[f64], f0: &[f64]) -> f64 {
        let n = self.n;
        // `f[..n]` = Σ d_i Z_i / h, kept for the second estimate.
        let (dz, rest) = self.f.split_at_mut(n);
        for k in 0..n {
            dz[k] = (D[0] * self.z[k] + D[1] * self.z[n + k] + D[2] * self.z[2 * n + k]) / h;
            self.err[k] = f0[k] + dz[k];
        }
        work.lu.solve_in_place(&mut self.err);
        let mut e = work.error_norm(&self.err, y, &self.y1);
        if e >= 1.0 && (self.accepted == 0 || self.rejected) {
            for k in 0..n {
                self.ytmp[k] = y[k] + self.err[k];
            }
            let fe = &mut rest[..n];
            work.eval(t, &self.ytmp, fe);
            for k in 0..n {
                self.err[k] = fe[k] + dz[k];
            }
            work.lu.solve_in_place(&mut self.err);
            e = work.error_norm(&self.err, y, &self.y1);
        }
        e.max(ERR_FLOOR)
    }

    fn step(
        &mut self,
        work: &mut Work<'_>,
        t: f64,
        h: f64,
        y: &[f64],
        f0: &[f64],
        fresh_point: bool,
    ) -> Result<f64, Failure> {
        self.jac.begin(work, t, y, fresh_point);
        work.newton_scale(y, &mut self.scale);
        let (iters, theta) = loop {
            self.factor(work, h)?;
            self.start_values(h);
            match self.iterate(work, t, h, y) {
                Ok(done) => break done,
                // A stale Jacobian gets one fresh try at the same step.
                Err(Failure::Newton) if self.jac.stale() => self.jac.refresh(work, t, y),
                Err(e) => return Err(e),
            }
        };
        self.iters = iters;
        self.jac.slow = theta > SLOW_RATE;
        let n = self.n;
        for k in 0..n {
            self.y1[k] = y[k] + self.z[2 * n + k];
        }
        Ok(self.error(work, t, h, y, f0))
    }
}

impl OneStep for Radau5 {
    /// The estimate is `O(h⁴)`.
    const ERROR_ORDER: u32 = 4;
    const HOLD: f64 = HOLD_MAX;

    fn new(work: &Work<'_>, opts: &StiffOptions) -> Radau5 {
        let n = work.n;
        Radau5 {
            n,
            z: vec![0.0; 3 * n],
            w: vec![0.0; 3 * n],
            f: vec![0.0; 3 * n],
            dw: vec![0.0; 3 * n],
            cw: vec![c64::new(0.0, 0.0); n],
            z_accepted: vec![0.0; 3 * n],
            h_accepted: f64::NAN,
            ytmp: vec![0.0; n],
            y1: vec![0.0; n],
            err: vec![0.0; n],
            scale: vec![0.0; n],
            complex_lu: work.lu.twin(n),
            newton: NewtonState::new(work.rtol, !opts.adaptive),
            max_iter: if opts.adaptive { MAX_ITER } else { MAX_ITER_CONSTANT_STEP },
            jac: JacobianReuse::new(),
            h: f64::NAN,
            iters: 1,
            accepted: 0,
            rejected: false,
            err_accepted: 1.0,
        }
    }

    fn attempt(
        &mut self,
        work: &mut Work<'_>,
        t: f64,
        h: f64,
        y: &[f64],
        f0: &[f64],
        fresh_point: bool,
    ) -> Result<f64, Failure> {
        self.h = h;
        let outcome = self.step(work, t, h, y, f0, fresh_point);
        if outcome.is_err() {
            self.rejected = true;
        }
        outcome
    }

    /// RADAU5's predictive controller (module docs); `pid` is not used.
    fn control(&mut self, eest: f64, _pid: &mut Pid) -> (bool, f64) {
        let err = eest.max(ERR_FLOOR);
        let k = self.iters as f64;
        let m = MAX_ITER as f64;
        let fac = SAFETY.min(SAFETY * (2.0 * m + 1.0) / (2.0 * m + k));
        // `err = inf` gives 0, bounded to the smallest factor.
        let mut factor = (fac / err.powf(0.25)).clamp(FACTOR_MIN, FACTOR_MAX);
        if err >= 1.0 {
            self.rejected = true;
            if self.accepted == 0 {
                factor = FIRST_REJECTED;
            }
            return (false, factor);
        }
        if self.accepted > 0 {
            let predictive = (self.h / self.h_accepted) * SAFETY * (self.err_accepted / (err * err)).powf(0.25);
            factor = factor.min(predictive.clamp(FACTOR_MIN, FACTOR_MAX));
        }
        self.err_accepted = err.max(1e-2);
        if self.rejected {
            factor = factor.min(1.0);
        }
        self.rejected = false;
        if !self.jac.slow && (1.0..=HOLD_MAX).contains(&factor) {
            factor = 1.0;
        }
        (true, factor)
    }

    fn y1(&self) -> &[f64] {
        &self.y1
    }

    /// The collocation solution's derivative at `t1`, `(T Λ W)_3 / h` (no
    /// evaluation); also makes this step the one the next starting values
    /// are extrapolated from.
    fn end_derivative(&mut self, _work: &mut Work<'_>, _t1: f64, f1: &mut [f64]) {
        let n = self.n;
        // Row 3 of T is (1, 1, 0).
        for k in 0..n {
            f1[k] = (GAMMA * self.w[k] + ALPHA * self.w[n + k] - BETA * self.w[2 * n + k]) / self.h;
        }
        self.z_accepted.copy_from_slice(&self.z);
        self.h_accepted = self.h;
        self.accepted += 1;
    }

    fn dense(&self, theta: f64, _h: f64, y: &[f64], _f0: &[f64], out: &mut [f64]) {
        let n = self.n;
        collocation(theta, y, [&self.z[..n], &self.z[n..2 * n], &self.z[2 * n..]], out);
    }

    fn append_dense(&self, _h: f64, y: &[f64], _f0: &[f64], data: &mut Vec<f64>) {
        data.extend_from_slice(y);
        data.extend_from_slice(&self.z);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Radau IIA's `A` from its nodes: `a_ij = ∫_0^{c_i} L_j`, with `L_j`
    /// the quadratic Lagrange basis on `c` (exact polynomial integration).
    fn collocation_matrix() -> [[f64; 3]; 3] {
        let mut a = [[0.0; 3]; 3];
        for j in 0..3 {
            // L_j(s) = (s − p)(s − q) / d = (s² − (p + q)s + pq) / d.
            let (p, q) = match j {
                0 => (C[1], C[2]),
                1 => (C[0], C[2]),
                _ => (C[0], C[1]),
            };
            let d = (C[j] - p) * (C[j] - q);
            for i in 0..3 {
                let x = C[i];
                a[i][j] = (x * x * x / 3.0 - (p + q) * x * x / 2.0 + p * q * x) / d;
            }
        }
        a
    }

    fn mul(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
        let mut c = [[0.0; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                c[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
            }
        }
        c
    }

    fn inverse(a: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
        let det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
            + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
        let mut inv = [[0.0; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                let (r0, r1) = ((j + 1) % 3, (j + 2) % 3);
                let (c0, c1) = ((i + 1) % 3, (i + 2) % 3);
                inv[i][j] = (a[r0][c0] * a[r1][c1] - a[r0][c1] * a[r1][c0]) / det;
            }
        }
        inv
    }

    #[test]
    fn the_nodes_and_the_collocation_matrix_are_radau_iia() {
        // c1, c2 are the roots of 10c² − 8c + 1 (Radau right points).
        for c in &C[..2] {
            assert!((10.0 * c * c - 8.0 * c + 1.0).abs() < 1e-15, "{c}");
        }
        let a = collocation_matrix();
        for i in 0..3 {
            // Stage order 3: Σ_j a_ij c_j^{k−1} = c_i^k / k.
            for k in 1..=3 {
                let lhs: f64 = (0..3).map(|j| a[i][j] * C[j].powi(k - 1)).sum();
                assert!((lhs - C[i].powi(k) / k as f64).abs() < 1e-15, "row {i}, k {k}");
            }
        }
    }

    #[test]
    fn t_diagonalises_the_inverse_of_a() {
        let ainv = inverse(&collocation_matrix());
        let id = mul(&TI, &T);
        let lambda = mul(&mul(&TI, &ainv), &T);
        let want = [[GAMMA, 0.0, 0.0], [0.0, ALPHA, -BETA], [0.0, BETA, ALPHA]];
        for i in 0..3 {
            for j in 0..3 {
                let e = if i == j { 1.0 } else { 0.0 };
                assert!((id[i][j] - e).abs() < 1e-14, "T⁻¹T [{i}][{j}] = {}", id[i][j]);
                assert!((lambda[i][j] - want[i][j]).abs() < 1e-13, "Λ [{i}][{j}] = {}", lambda[i][j]);
            }
        }
    }

    #[test]
    fn the_embedded_solution_has_order_three() {
        // b̂ = b + (Dᵀ A)/γ with weight 1/γ on the node 0: Σ b̂ c^{k−1} = 1/k.
        let a = collocation_matrix();
        let b = a[2];
        let g0 = 1.0 / GAMMA;
        let bh: Vec<f64> = (0..3).map(|j| b[j] + g0 * (0..3).map(|i| D[i] * a[i][j]).sum::<f64>()).collect();
        let cond = |k: i32| -> f64 {
            let node0 = if k == 1 { g0 } else { 0.0 };
            node0 + (0..3).map(|j| bh[j] * C[j].powi(k - 1)).sum::<f64>() - 1.0 / k as f64
        };
        for k in 1..=3 {
            assert!(cond(k).abs() < 1e-14, "order condition {k}: {}", cond(k));
        }
        // And not order 4: the estimate is a true error estimate.
        assert!(cond(4).abs() > 1e-3);
    }

    #[test]
    fn the_dense_output_interpolates_the_stages() {
        let y0 = [1.0];
        let z = [[0.3], [-0.2], [0.5]];
        let mut out = [0.0];
        collocation(0.0, &y0, [&z[0], &z[1], &z[2]], &mut out);
        assert_eq!(out[0], 1.0);
        for i in 0..3 {
            collocation(C[i], &y0, [&z[0], &z[1], &z[2]], &mut out);
            assert!((out[0] - (1.0 + z[i][0])).abs() < 1e-15, "node {i}: {}", out[0]);
        }
    }
}
