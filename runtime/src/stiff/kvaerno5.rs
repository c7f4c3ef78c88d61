//! Kvaerno5: the ESDIRK method of order 5(4) with 7 stages (the first
//! explicit), stiffly accurate and L-stable, with simplified Newton per
//! stage and Jacobian/LU reuse.
//!
//! Owns the coefficients (A. Kværnø, "Singly diagonally implicit
//! Runge–Kutta methods with an explicit first stage", BIT 44 (2004); the
//! values and stage predictors as in diffrax's `kvaerno5.py`), the step, the
//! reuse rules and the dense output (cubic Hermite, as diffrax). Never
//! decides on step sizes ([`super::onestep`] does).
//!
//! Stage `i ≥ 2` solves `Y_i = y0 + h Σ_{j<i} a_ij F_j + hγ f(t0 + c_i h,
//! Y_i)` with [`super::newton`] from the predictor `Y_i ≈ base + hγ Σ_j
//! α_ij F_j`, and takes `F_i = (Y_i − base)/(hγ)` (no extra evaluation;
//! Hairer & Wanner's advice for stiff problems). `y1 = Y_7`, and `F_7`
//! serves as `f(t1, y1)` for the next step's explicit first stage (FSAL)
//! and the dense output.
//!
//! Reuse rules (in the style of RADAU5 and CVODE):
//! - one Jacobian serves many steps; it is re-evaluated at the start of a
//!   step (i) when a Newton iteration fails while the Jacobian is older than
//!   the current point — then the same step is retried with the fresh
//!   Jacobian before any step-size reduction — and (ii) after an accepted
//!   step whose slowest Newton contraction rate exceeded [`SLOW_RATE`];
//! - the LU of `I − hγJ` is reused while `hγ` is unchanged, which the driver
//!   helps by keeping `h` when the controller would grow it by less than
//!   [`Kvaerno5::HOLD`] (1.2); any other change of `h`, and every new
//!   Jacobian, refactorises.

// Coefficients are written as published; stage and difference loops read
// clearer with indices.
#![allow(clippy::excessive_precision, clippy::needless_range_loop)]

use super::newton::{self, Bufs, JacobianReuse, NewtonState};
use super::onestep::OneStep;
use super::work::{hermite, Failure, Work};
use super::StiffOptions;

const S: usize = 7;
const GAMMA: f64 = 0.26;

/// Newton iterations per stage before the attempt fails (RADAU5's `NIT`);
/// constant-step solves, which cannot retry smaller, allow more.
const MAX_ITER: usize = 7;
const MAX_ITER_CONSTANT_STEP: usize = 50;

/// A step whose Newton iterations contracted slower than this gets a fresh
/// Jacobian at the next point.
pub(crate) const SLOW_RATE: f64 = 0.05;

const A: [[f64; S]; S] = [
    [0.0; S],
    [GAMMA, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [0.13, 0.84033320996790809, 0.0, 0.0, 0.0, 0.0, 0.0],
    [0.22371961478320505, 0.47675532319799699, -0.06470895363112615, 0.0, 0.0, 0.0, 0.0],
    [0.16648564323248321, 0.10450018841591720, 0.03631482272098715, -0.13090704451073998, 0.0, 0.0, 0.0],
    [0.13855640231268224, 0.0, -0.04245337201752043, 0.02446657898003141, 0.61943039072480676, 0.0, 0.0],
    [
        0.13659751177640291,
        0.0,
        -0.05496908796538376,
        -0.04118626728321046,
        0.62993304899016403,
        0.06962479448202728,
        0.0,
    ],
];

/// Stage predictors: the guess for `F_i` is `Σ_j α_ij F_j`.
const ALPHA: [[f64; S]; S] = [
    [0.0; S],
    [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [-1.366025403784441, 2.3660254037844357, 0.0, 0.0, 0.0, 0.0, 0.0],
    [-0.19650552613122207, 0.8113579546496623, 0.38514757148155954, 0.0, 0.0, 0.0, 0.0],
    [0.10375304369958693, 0.937994698066431, -0.04174774176601781, 0.0, 0.0, 0.0, 0.0],
    [-0.17281112873898072, 0.6235784481025847, 0.5492326806363959, 0.0, 0.0, 0.0, 0.0],
    [0.13855640231268224, 0.0, -0.04245337201752043, 0.02446657898003141, 0.61943039072480676, GAMMA, 0.0],
];

const C: [f64; S] = [0.0, 0.52, 1.230333209967908, 0.8957659843500759, 0.43639360985864756, 1.0, 1.0];

/// `b − b̂`: the solution weights are row 7 of `A` with `γ`, the embedded
/// ones row 6 with `γ`.
const B_ERR: [f64; S] = [
    A[6][0] - A[5][0],
    A[6][1] - A[5][1],
    A[6][2] - A[5][2],
    A[6][3] - A[5][3],
    A[6][4] - A[5][4],
    A[6][5] - GAMMA,
    GAMMA,
];

pub(crate) struct Kvaerno5 {
    n: usize,
    /// Stage derivatives `F_1..F_7`, back to back.
    fs: Vec<f64>,
    base: Vec<f64>,
    z: Vec<f64>,
    fz: Vec<f64>,
    dz: Vec<f64>,
    scale: Vec<f64>,
    err: Vec<f64>,
    newton: NewtonState,
    max_iter: usize,
    /// The Jacobian's reuse; its factors are made for `hγ`.
    jac: JacobianReuse,
}

impl Kvaerno5 {
    fn refresh_jacobian(&mut self, work: &mut Work<'_>, t: f64, y: &[f64]) {
        self.jac.refresh(work, t, y);
        self.newton.reset();
    }

    /// All stages from `(t, y)`; returns the slowest contraction rate.
    fn stages(&mut self, work: &mut Work<'_>, t: f64, h: f64, y: &[f64], f0: &[f64]) -> Result<f64, Failure> {
        let n = self.n;
        let c = h * GAMMA;
        if self.jac.factors_for != c {
            self.jac.factors_for = f64::NAN;
            work.factor(1.0, c)?;
            self.jac.factors_for = c;
        }
        self.fs[..n].copy_from_slice(f0);
        work.newton_scale(y, &mut self.scale);
        let mut slowest = 0.0f64;
        for i in 1..S {
            for k in 0..n {
                let (mut b, mut p) = (0.0, 0.0);
                for j in 0..i {
                    let fj = self.fs[j * n + k];
                    b += A[i][j] * fj;
                    p += ALPHA[i][j] * fj;
                }
                self.base[k] = y[k] + h * b;
                self.z[k] = self.base[k] + c * p;
            }
            let bufs = Bufs { fz: &mut self.fz, dz: &mut self.dz, scale: &self.scale };
            let conv =
                newton::solve(work, &mut self.newton, t + C[i] * h, c, &self.base, &mut self.z, self.max_iter, bufs)?;
            slowest = slowest.max(conv.rate);
            for k in 0..n {
                self.fs[i * n + k] = (self.z[k] - self.base[k]) / c;
            }
        }
        Ok(slowest)
    }
}

impl OneStep for Kvaerno5 {
    const ERROR_ORDER: u32 = 5;
    const HOLD: f64 = 1.2;

    fn new(work: &Work<'_>, opts: &StiffOptions) -> Kvaerno5 {
        let n = work.n;
        Kvaerno5 {
            n,
            fs: vec![0.0; S * n],
            base: vec![0.0; n],
            z: vec![0.0; n],
            fz: vec![0.0; n],
            dz: vec![0.0; n],
            scale: vec![0.0; n],
            err: vec![0.0; n],
            newton: NewtonState::new(opts.rtol, !opts.adaptive),
            max_iter: if opts.adaptive { MAX_ITER } else { MAX_ITER_CONSTANT_STEP },
            jac: JacobianReuse::new(),
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
        if self.jac.begin(work, t, y, fresh_point) {
            self.newton.reset();
        }
        let slowest = loop {
            match self.stages(work, t, h, y, f0) {
                Ok(rate) => break rate,
                // A stale Jacobian gets one fresh try at the same step.
                Err(Failure::Newton) if self.jac.stale() => self.refresh_jacobian(work, t, y),
                Err(e) => return Err(e),
            }
        };
        self.jac.slow = slowest > SLOW_RATE;
        let n = self.n;
        for k in 0..n {
            self.err[k] = h * (0..S).map(|j| B_ERR[j] * self.fs[j * n + k]).sum::<f64>();
        }
        Ok(work.error_norm(&self.err, y, &self.z))
    }

    fn y1(&self) -> &[f64] {
        &self.z
    }

    fn end_derivative(&mut self, _work: &mut Work<'_>, _t1: f64, f1: &mut [f64]) {
        f1.copy_from_slice(&self.fs[(S - 1) * self.n..]);
    }

    fn dense(&self, theta: f64, h: f64, y: &[f64], f0: &[f64], out: &mut [f64]) {
        hermite(theta, h, y, f0, &self.z, &self.fs[(S - 1) * self.n..], out);
    }

    fn append_dense(&self, _h: f64, y: &[f64], f0: &[f64], data: &mut Vec<f64>) {
        data.extend_from_slice(y);
        data.extend_from_slice(f0);
        data.extend_from_slice(&self.z);
        data.extend_from_slice(&self.fs[(S - 1) * self.n..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_sum_to_the_stage_times_and_weights_are_consistent() {
        for i in 1..S {
            let sum: f64 = A[i].iter().sum::<f64>() + GAMMA;
            assert!((sum - C[i]).abs() < 1e-12, "row {i}: {sum} vs {}", C[i]);
        }
        // Solution and embedded weights both sum to 1: the error weights to 0.
        assert!(B_ERR.iter().sum::<f64>().abs() < 1e-14);
        // The predictors are consistent extrapolations (rows sum to 1).
        for (i, row) in ALPHA.iter().enumerate().skip(1) {
            let sum: f64 = row.iter().sum();
            assert!((sum - 1.0).abs() < 1e-12, "predictor row {i}: {sum}");
        }
    }
}
