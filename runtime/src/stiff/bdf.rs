//! Variable-order (1–5), variable-step BDF in the quasi-constant-step form
//! of scipy's `BDF` (itself after Shampine & Reichelt, "The MATLAB ODE
//! suite", 1997): numerical differentiation formulas (NDF) kept as a
//! modified-divided-difference array `D`, rescaled when the step changes.
//!
//! Owns the formula constants, the difference array and its rescaling, the
//! step/order selection and the dense output, and its own time loop (BDF
//! does not use the PID controller). The Newton iteration is
//! [`super::newton`]; everything else it shares is in [`super::work`].
//!
//! One step of order `k` with step `h`: predict `y_p = Σ_{i≤k} D_i`, then
//! solve `d = c·f(t + h, y_p + d) − ψ` with `c = h/α_k` and `ψ = Σ_{i=1..k}
//! γ_i D_i / α_k` (at most [`NEWTON_MAXITER`] iterations); the local error
//! is `error_const_k · d`. Rules (scipy's):
//! - the Jacobian is evaluated at the start and again only when Newton fails
//!   with a Jacobian from an earlier point (at `(t + h, y_p)`, then the step
//!   is retried); the LU of `I − cJ` is redone after a new Jacobian, a step
//!   or order change following an accepted step, a Newton failure and the
//!   clipping of the last step, but kept after a rejection for accuracy
//!   (its `c` is then slightly off, which the Newton test tolerates);
//! - a Newton failure with a current Jacobian halves the step; an error
//!   above 1 shrinks it by `max(0.2, safety·err^(−1/(k+1)))` with
//!   `safety = 0.9·(2·4 + 1)/(2·4 + iterations)`;
//! - after `k + 1` accepted steps at the same step size and order, the
//!   orders `k − 1`, `k`, `k + 1` are compared by their error estimates and
//!   the one allowing the largest step is taken, growing the step by at
//!   most 10.
//!
//! Dense output between steps is the interpolating polynomial of the
//! difference array (scipy's `BdfDenseOutput`).

// Coefficients are written as published; stage and difference loops read
// clearer with indices.
#![allow(clippy::needless_range_loop)]

use super::dense::{DenseStep, StepObserver};
use super::newton::{self, Bufs, NewtonState};
use super::onestep::MAX_SINGULAR;
use super::work::{collapse_error, rms_scaled, start, Failure, Problem, Work};
use super::StiffOptions;
use crate::error::SolveError;
use crate::solution::Stats;
use crate::solver::ulps_below;
use crate::stepsize::min_step;

const MAX_ORDER: usize = 5;
/// Newton iterations per attempt (scipy's `NEWTON_MAXITER`).
const NEWTON_MAXITER: usize = 4;
const MIN_FACTOR: f64 = 0.2;
const MAX_FACTOR: f64 = 10.0;
/// The NDF modification `κ_k` (Shampine & Reichelt's table; `κ = 0` would
/// give plain BDF).
const KAPPA: [f64; MAX_ORDER + 1] = [0.0, -0.1850, -1.0 / 9.0, -0.0823, -0.0415, 0.0];

/// `γ_k = Σ_{j≤k} 1/j`, `α_k = (1 − κ_k) γ_k` and the error constants
/// `κ_k γ_k + 1/(k + 1)`.
struct Consts {
    gamma: [f64; MAX_ORDER + 2],
    alpha: [f64; MAX_ORDER + 2],
    error: [f64; MAX_ORDER + 2],
}

impl Consts {
    fn new() -> Consts {
        let mut c = Consts { gamma: [0.0; MAX_ORDER + 2], alpha: [0.0; MAX_ORDER + 2], error: [0.0; MAX_ORDER + 2] };
        for k in 1..=MAX_ORDER + 1 {
            c.gamma[k] = c.gamma[k - 1] + 1.0 / k as f64;
        }
        for k in 0..=MAX_ORDER + 1 {
            let kappa = KAPPA.get(k).copied().unwrap_or(0.0);
            c.alpha[k] = (1.0 - kappa) * c.gamma[k];
            c.error[k] = kappa * c.gamma[k] + 1.0 / (k as f64 + 1.0);
        }
        c
    }
}

/// Scipy's `compute_R`: `R[i][j] = Π_{l≤i} M[l][j]` with `M[0][·] = 1`,
/// `M[i][0] = 0` and `M[i][j] = (i − 1 − factor·j)/i` otherwise.
fn compute_r(order: usize, factor: f64, r: &mut [[f64; MAX_ORDER + 1]; MAX_ORDER + 1]) {
    for j in 0..=order {
        r[0][j] = 1.0;
    }
    for i in 1..=order {
        for j in 0..=order {
            let m = if j == 0 { 0.0 } else { (i as f64 - 1.0 - factor * j as f64) / i as f64 };
            r[i][j] = r[i - 1][j] * m;
        }
    }
}

/// The difference array `D` (`MAX_ORDER + 3` rows of `n`) and the buffers
/// of its rescaling.
struct Differences {
    n: usize,
    d: Vec<f64>,
    tmp: Vec<f64>,
}

impl Differences {
    fn row(&self, i: usize) -> &[f64] {
        &self.d[i * self.n..(i + 1) * self.n]
    }

    fn row_mut(&mut self, i: usize) -> &mut [f64] {
        let n = self.n;
        &mut self.d[i * n..(i + 1) * n]
    }

    /// Rescales rows `0..=order` for a step multiplied by `factor` (scipy's
    /// `change_D`: `D ← (R·U)ᵀ D` with `U = R(1)`).
    fn rescale(&mut self, order: usize, factor: f64) {
        let mut r = [[0.0; MAX_ORDER + 1]; MAX_ORDER + 1];
        let mut u = [[0.0; MAX_ORDER + 1]; MAX_ORDER + 1];
        compute_r(order, factor, &mut r);
        compute_r(order, 1.0, &mut u);
        let n = self.n;
        self.tmp[..(order + 1) * n].fill(0.0);
        for i in 0..=order {
            for k in 0..=order {
                // (R·U)[k][i]
                let ru: f64 = (0..=order).map(|l| r[k][l] * u[l][i]).sum();
                if ru != 0.0 {
                    for m in 0..n {
                        self.tmp[i * n + m] += ru * self.d[k * n + m];
                    }
                }
            }
        }
        self.d[..(order + 1) * n].copy_from_slice(&self.tmp[..(order + 1) * n]);
    }

    /// The interpolant through the last `order + 1` points at `te`, for the
    /// step that ended at `t` with (signed) step `h`.
    fn dense(&self, order: usize, t: f64, h: f64, te: f64, out: &mut [f64]) {
        interpolate(&self.d, self.n, order, t, h, te, out);
    }
}

/// The interpolant through the last `order + 1` points at `te`, from the
/// difference rows `d` (`n` values each, at least `order + 1` rows) of the
/// step that ended at `t` with (signed) step `h` (scipy's
/// `BdfDenseOutput`).
pub(crate) fn interpolate(d: &[f64], n: usize, order: usize, t: f64, h: f64, te: f64, out: &mut [f64]) {
    out.copy_from_slice(&d[..n]);
    let mut p = 1.0;
    for j in 0..order {
        let shift = t - h * j as f64;
        let denom = h * (j as f64 + 1.0);
        p *= (te - shift) / denom;
        for (o, d) in out.iter_mut().zip(&d[(j + 1) * n..(j + 2) * n]) {
            *o += d * p;
        }
    }
}

/// The dense output of one accepted BDF step, for a [`StepObserver`].
struct BdfStep<'a> {
    diffs: &'a Differences,
    order: usize,
    t: f64,
    h: f64,
}

impl DenseStep for BdfStep<'_> {
    fn eval(&self, theta: f64, out: &mut [f64]) {
        self.diffs.dense(self.order, self.t, self.h, self.t - self.h + theta * self.h, out);
    }
    fn append(&self, data: &mut Vec<f64>) {
        data.extend_from_slice(&self.diffs.d[..(self.order + 1) * self.diffs.n]);
    }
}

/// Integrates `p` with BDF, writing one row of `out` per save time.
pub(crate) fn integrate(
    p: &Problem<'_>,
    opts: &StiffOptions,
    out: &mut [f64],
    obs: &mut dyn StepObserver,
) -> Result<Stats, SolveError> {
    let n = p.f.dim();
    let mut work = Work::new(p.f, opts.rtol, opts.atol);
    let mut f0 = vec![0.0; n];
    if start(p, &mut work, &mut f0, out)? {
        return Ok(work.stats);
    }
    let k = Consts::new();
    let t_end = p.t_end();
    let floor = ulps_below(t_end, 100);
    let mut h_abs = work.first_step(p, opts.dt, 2, &f0);
    let mut diffs = Differences { n, d: vec![0.0; (MAX_ORDER + 3) * n], tmp: vec![0.0; (MAX_ORDER + 1) * n] };
    diffs.row_mut(0).copy_from_slice(p.y0);
    for (d, f) in diffs.row_mut(1).iter_mut().zip(&f0) {
        *d = f * h_abs;
    }
    let (mut y_pred, mut psi, mut base, mut z) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let (mut fz, mut dz, mut scale, mut err) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut newton_state = NewtonState::new(opts.rtol, false);
    let mut t = p.t0;
    let mut order = 1usize;
    let mut n_equal_steps = 0usize;
    let mut have_jac = false;
    let mut jac_current = false;
    // Where the Jacobian was evaluated (reported if it is not finite).
    let mut jac_t = t;
    let mut lu_valid = false;
    let mut next_save = 0usize;
    let mut last_failure: Option<Failure> = None;
    let mut nan_step = false;
    let mut singular_run = 0u32;

    while t < t_end {
        if work.stats.accepted + work.stats.rejected >= opts.max_steps as u64 {
            return Err(SolveError::MaxStepsReached { t, max_steps: opts.max_steps });
        }
        if h_abs < min_step(t) {
            return Err(collapse_error(t, h_abs, last_failure, nan_step));
        }
        let mut t_new = t + h_abs;
        if t_new > floor {
            t_new = t_end;
            diffs.rescale(order, (t_new - t) / h_abs);
            n_equal_steps = 0;
            lu_valid = false;
        }
        let h = t_new - t;
        h_abs = h;

        y_pred.fill(0.0);
        for i in 0..=order {
            for (y, d) in y_pred.iter_mut().zip(diffs.row(i)) {
                *y += d;
            }
        }
        psi.fill(0.0);
        for i in 1..=order {
            for (s, d) in psi.iter_mut().zip(diffs.row(i)) {
                *s += k.gamma[i] * d;
            }
        }
        for s in psi.iter_mut() {
            *s /= k.alpha[order];
        }
        for i in 0..n {
            base[i] = y_pred[i] - psi[i];
        }
        work.newton_scale(&y_pred, &mut scale);
        let c = h / k.alpha[order];

        // Newton, with one retry on a fresh Jacobian.
        let outcome = loop {
            if !have_jac {
                work.jacobian(t_new, &y_pred);
                (have_jac, jac_current, lu_valid, jac_t) = (true, true, false, t_new);
            }
            if !lu_valid {
                match work.factor(1.0, c) {
                    Ok(()) => lu_valid = true,
                    Err(Failure::JacobianNotFinite) => {
                        return Err(SolveError::SingularMatrix { t: jac_t, h, not_finite: true });
                    }
                    Err(e) => break Err(e),
                }
            }
            z.copy_from_slice(&y_pred);
            let bufs = Bufs { fz: &mut fz, dz: &mut dz, scale: &scale };
            match newton::solve(&mut work, &mut newton_state, t_new, c, &base, &mut z, NEWTON_MAXITER, bufs) {
                Ok(conv) => break Ok(conv.iters),
                Err(_) if !jac_current => {
                    work.jacobian(t_new, &y_pred);
                    (jac_current, lu_valid, jac_t) = (true, false, t_new);
                    newton_state.reset();
                }
                Err(e) => break Err(e),
            }
        };
        let iters = match outcome {
            Ok(iters) => {
                singular_run = 0;
                iters
            }
            Err(failure) => {
                if failure == Failure::Singular {
                    singular_run += 1;
                    if singular_run > MAX_SINGULAR {
                        return Err(SolveError::SingularMatrix { t, h, not_finite: false });
                    }
                }
                h_abs *= 0.5;
                diffs.rescale(order, 0.5);
                n_equal_steps = 0;
                lu_valid = false;
                last_failure = Some(failure);
                nan_step = false;
                work.stats.rejected += 1;
                continue;
            }
        };

        let safety = 0.9 * (2.0 * NEWTON_MAXITER as f64 + 1.0) / (2.0 * NEWTON_MAXITER as f64 + iters as f64);
        for i in 0..n {
            dz[i] = z[i] - y_pred[i];
        }
        work.newton_scale(&z, &mut scale);
        for i in 0..n {
            err[i] = k.error[order] * dz[i];
        }
        let error_norm = rms_scaled(&err, &scale);
        if error_norm > 1.0 || error_norm.is_nan() {
            let factor = if error_norm.is_finite() {
                MIN_FACTOR.max(safety * error_norm.powf(-1.0 / (order as f64 + 1.0)))
            } else {
                MIN_FACTOR
            };
            h_abs *= factor;
            diffs.rescale(order, factor);
            n_equal_steps = 0;
            last_failure = None;
            nan_step = !error_norm.is_finite();
            work.stats.rejected += 1;
            continue;
        }

        // Accepted.
        work.stats.accepted += 1;
        n_equal_steps += 1;
        let t_old = t;
        t = t_new;
        jac_current = false;
        last_failure = None;
        {
            let (lo, hi) = diffs.d.split_at_mut((order + 2) * n);
            let d_k1 = &mut lo[(order + 1) * n..];
            let d_k2 = &mut hi[..n];
            for i in 0..n {
                d_k2[i] = dz[i] - d_k1[i];
                d_k1[i] = dz[i];
            }
        }
        for i in (0..=order).rev() {
            let (lo, hi) = diffs.d.split_at_mut((i + 1) * n);
            for (a, b) in lo[i * n..].iter_mut().zip(&hi[..n]) {
                *a += b;
            }
        }
        while let Some(&ts) = p.saveat.get(next_save) {
            if ts > t {
                break;
            }
            let row = &mut out[next_save * n..(next_save + 1) * n];
            if ts == t {
                row.copy_from_slice(&z);
            } else {
                debug_assert!(ts >= t_old);
                diffs.dense(order, t, h, ts, row);
            }
            next_save += 1;
        }
        obs.accepted(t_old, t, &BdfStep { diffs: &diffs, order, t, h });
        if n_equal_steps < order + 1 {
            continue;
        }
        let norm_of = |row: usize, kc: f64, err: &mut [f64], d: &Differences| -> f64 {
            for (e, v) in err.iter_mut().zip(d.row(row)) {
                *e = kc * v;
            }
            rms_scaled(err, &scale)
        };
        let error_m = if order > 1 { norm_of(order, k.error[order - 1], &mut err, &diffs) } else { f64::INFINITY };
        let error_p =
            if order < MAX_ORDER { norm_of(order + 2, k.error[order + 1], &mut err, &diffs) } else { f64::INFINITY };
        let factors = [
            error_m.powf(-1.0 / order as f64),
            error_norm.powf(-1.0 / (order as f64 + 1.0)),
            error_p.powf(-1.0 / (order as f64 + 2.0)),
        ];
        // The first largest wins (numpy's argmax); an error of 0 gives +inf.
        let mut best = 0;
        for (i, f) in factors.iter().enumerate() {
            if *f > factors[best] {
                best = i;
            }
        }
        order = order + best - 1;
        let factor = MAX_FACTOR.min(safety * factors[best]);
        h_abs *= factor;
        diffs.rescale(order, factor);
        n_equal_steps = 0;
        lu_valid = false;
    }
    while next_save < p.saveat.len() {
        let row = &mut out[next_save * n..(next_save + 1) * n];
        row.copy_from_slice(diffs.row(0));
        next_save += 1;
    }
    Ok(work.stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_constants_match_the_ndf_table() {
        let k = Consts::new();
        assert!((k.gamma[3] - (1.0 + 0.5 + 1.0 / 3.0)).abs() < 1e-15);
        // Order 1 NDF: α = (1 + 0.185)·1, error constant −0.185 + 1/2.
        assert!((k.alpha[1] - 1.185).abs() < 1e-15);
        assert!((k.error[1] - 0.315).abs() < 1e-15);
        // Order 5 is plain BDF: error constant 1/6.
        assert!((k.error[5] - 1.0 / 6.0).abs() < 1e-15);
    }

    #[test]
    fn rescaling_by_one_is_the_identity_and_halving_matches_a_polynomial() {
        // y(t) = 1 + 2t + 3t² sampled with h = 1 at t = 0: backward
        // differences D_0 = y(0), D_1 = ∇y, D_2 = ∇²y.
        let y = |t: f64| 1.0 + 2.0 * t + 3.0 * t * t;
        let (y0, ym1, ym2) = (y(0.0), y(-1.0), y(-2.0));
        let d0 = vec![y0, y0 - ym1, y0 - 2.0 * ym1 + ym2];
        let mut diffs = Differences { n: 1, d: vec![0.0; MAX_ORDER + 3], tmp: vec![0.0; MAX_ORDER + 1] };
        diffs.d[..3].copy_from_slice(&d0);
        diffs.rescale(2, 1.0);
        for (a, b) in diffs.d[..3].iter().zip(&d0) {
            assert!((a - b).abs() < 1e-14, "{a} vs {b}");
        }
        // With h = 0.5 the differences are those of y at 0, −0.5, −1.
        diffs.rescale(2, 0.5);
        let (a, b, c) = (y(0.0), y(-0.5), y(-1.0));
        let want = [a, a - b, a - 2.0 * b + c];
        for (got, want) in diffs.d[..3].iter().zip(want) {
            assert!((got - want).abs() < 1e-13, "{got} vs {want}");
        }
    }
}
