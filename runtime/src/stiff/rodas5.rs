//! Rodas5: the Rosenbrock method of order 5(4) with 8 stages, stiffly
//! accurate, and its order-4 continuous extension.
//!
//! Owns the coefficients (G. Di Marzo, "RODAS5(4) – Méthodes de Rosenbrock
//! d'ordre 5(4) adaptées aux problèmes différentiels-algébriques", Geneva
//! 1993, in the transformed form of Hairer & Wanner, *Solving ODEs II*,
//! §IV.7; the values are those of OrdinaryDiffEq's `Rodas5Tableau`), the
//! step and the dense output. Never decides on step sizes
//! ([`super::onestep`] does).
//!
//! One step from `(t0, y0)` with `W = I/(hγ) − J`, `J = ∂f/∂y(t0, y0)`:
//! ```text
//! U_i = y0 + Σ_{j<i} a_ij k_j
//! W k_i = f(t0 + c_i h, U_i) + h d_i ∂f/∂t(t0, y0) + Σ_{j<i} (C_ij / h) k_j
//! y1 = U_8 + k_8,  error estimate k_8
//! ```
//! (stiffly accurate: the last two rows of `a` are the solution weights).
//! Dense output: `y(θ) = (1−θ) y0 + θ (y1 + (1−θ)(K1 + θ (K2 + θ K3)))`
//! with `K_r = Σ_i H_ri k_i`.
//!
//! Cost: 7 evaluations of `f` per attempt (stages 2–8; stage 1 is `f(t0,
//! y0)`, evaluated once per accepted point as `f(t1, y1)` of the step
//! before), one Jacobian and one `∂f/∂t` per accepted point (reused after a
//! rejection), one LU and 8 linear solves per attempt.

// Coefficients are written as published; stage and difference loops read
// clearer with indices.
#![allow(clippy::excessive_precision, clippy::needless_range_loop)]

use super::onestep::OneStep;
use super::work::{Failure, Work};
use super::StiffOptions;

const S: usize = 8;
const GAMMA: f64 = 0.19;

/// `a_ij`, strictly lower triangular, row `i` = stage `i + 1`.
const A: [[f64; S]; S] = [
    [0.0; S],
    [2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [3.040894194418781, 1.041747909077569, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [2.576417536461461, 1.622083060776640, -0.9089668560264532, 0.0, 0.0, 0.0, 0.0, 0.0],
    [2.760842080225597, 1.446624659844071, -0.3036980084553738, 0.2877498600325443, 0.0, 0.0, 0.0, 0.0],
    [-14.09640773051259, 6.925207756232704, -41.47510893210728, 2.343771018586405, 24.13215229196062, 0.0, 0.0, 0.0],
    [-14.09640773051259, 6.925207756232704, -41.47510893210728, 2.343771018586405, 24.13215229196062, 1.0, 0.0, 0.0],
    [-14.09640773051259, 6.925207756232704, -41.47510893210728, 2.343771018586405, 24.13215229196062, 1.0, 1.0, 0.0],
];

/// `C_ij`, strictly lower triangular.
const C: [[f64; S]; S] = [
    [0.0; S],
    [-10.31323885133993, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [-21.04823117650003, -7.234992135176716, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [32.22751541853323, -4.943732386540191, 19.44922031041879, 0.0, 0.0, 0.0, 0.0, 0.0],
    [-20.69865579590063, -8.816374604402768, 1.260436877740897, -0.7495647613787146, 0.0, 0.0, 0.0, 0.0],
    [-46.22004352711257, -17.49534862857472, -289.6389582892057, 93.60855400400906, 318.3822534212147, 0.0, 0.0, 0.0],
    [
        34.20013733472935,
        -14.15535402717690,
        57.82335640988400,
        25.83362985412365,
        1.408950972071624,
        -6.551835421242162,
        0.0,
        0.0,
    ],
    [
        42.57076742291101,
        -13.80770672017997,
        93.98938432427124,
        18.77919633714503,
        -31.58359187223370,
        -6.685968952921985,
        -5.810979938412932,
        0.0,
    ],
];

/// Stage times `c_i`.
const CT: [f64; S] = [0.0, 0.38, 0.3878509998321533, 0.4839718937873840, 0.4570477008819580, 1.0, 1.0, 1.0];

/// `d_i = Σ_j γ_ij`, the weights of `h ∂f/∂t`.
const D: [f64; S] =
    [GAMMA, -0.1823079225333714636, -0.319231832186874912, 0.3449828624725343, -0.377417564392089818, 0.0, 0.0, 0.0];

/// Dense-output weights `H_ri`.
const H: [[f64; S]; 3] = [
    [
        27.354592673333357,
        -6.925207756232857,
        26.40037733258859,
        0.5635230501052979,
        -4.699151156849391,
        -1.6008677469422725,
        -1.5306074446748028,
        -1.3929872940716344,
    ],
    [
        44.19024239501722,
        1.3677947663381929e-13,
        202.93261852171622,
        -35.5669339789154,
        -181.91095152160645,
        3.4116351403665033,
        2.5793540257308067,
        2.2435122582734066,
    ],
    [
        -44.0988150021747,
        -5.755396159656812e-13,
        -181.26175034586677,
        56.99302194811676,
        183.21182741427398,
        -7.480257918273637,
        -5.792426076169686,
        -5.32503859794143,
    ],
];

pub(crate) struct Rodas5 {
    n: usize,
    /// Stage increments `k_1..k_8`, back to back.
    k: Vec<f64>,
    /// Stage value `U_i`.
    u: Vec<f64>,
    /// `f(U_i)`, then the right-hand side of stage `i`.
    rhs: Vec<f64>,
    /// `∂f/∂t(t0, y0)`.
    dfdt: Vec<f64>,
    y1: Vec<f64>,
}

impl OneStep for Rodas5 {
    const ERROR_ORDER: u32 = 5;
    const HOLD: f64 = 1.0;

    fn new(work: &Work<'_>, _opts: &StiffOptions) -> Rodas5 {
        let n = work.n;
        Rodas5 { n, k: vec![0.0; S * n], u: vec![0.0; n], rhs: vec![0.0; n], dfdt: vec![0.0; n], y1: vec![0.0; n] }
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
        let n = self.n;
        if fresh_point {
            work.jacobian(t, y);
            work.time_derivative(t, y, &mut self.dfdt);
            if self.dfdt.iter().any(|v| !v.is_finite()) {
                return Err(Failure::JacobianNotFinite);
            }
        }
        work.factor(1.0 / (h * GAMMA), 1.0)?;
        for s in 0..S {
            if s == 0 {
                self.rhs.copy_from_slice(f0);
            } else {
                self.u.copy_from_slice(y);
                for j in 0..s {
                    let a = A[s][j];
                    if a != 0.0 {
                        axpy(a, &self.k[j * n..(j + 1) * n], &mut self.u);
                    }
                }
                work.eval(t + CT[s] * h, &self.u, &mut self.rhs);
                for j in 0..s {
                    axpy(C[s][j] / h, &self.k[j * n..(j + 1) * n], &mut self.rhs);
                }
            }
            if D[s] != 0.0 {
                axpy(h * D[s], &self.dfdt, &mut self.rhs);
            }
            work.lu.solve_in_place(&mut self.rhs);
            self.k[s * n..(s + 1) * n].copy_from_slice(&self.rhs);
        }
        // `u` holds U_8; y1 = U_8 + k_8, and k_8 is the error estimate.
        let k8 = &self.k[(S - 1) * n..];
        for i in 0..n {
            self.y1[i] = self.u[i] + k8[i];
        }
        Ok(work.error_norm(k8, y, &self.y1))
    }

    fn y1(&self) -> &[f64] {
        &self.y1
    }

    fn end_derivative(&mut self, work: &mut Work<'_>, t1: f64, f1: &mut [f64]) {
        work.eval(t1, &self.y1, f1);
    }

    fn dense(&self, theta: f64, _h: f64, y: &[f64], _f0: &[f64], out: &mut [f64]) {
        for i in 0..self.n {
            out[i] = poly(theta, y[i], self.y1[i], self.kr(i));
        }
    }

    fn append_dense(&self, _h: f64, y: &[f64], _f0: &[f64], data: &mut Vec<f64>) {
        let n = self.n;
        data.extend_from_slice(y);
        data.extend_from_slice(&self.y1);
        for r in 0..3 {
            data.extend((0..n).map(|i| self.kr(i)[r]));
        }
    }
}

impl Rodas5 {
    /// `K1..K3` of component `i` for the last attempted step.
    #[inline]
    fn kr(&self, i: usize) -> [f64; 3] {
        let n = self.n;
        let mut kr = [0.0; 3];
        for (r, hr) in H.iter().enumerate() {
            kr[r] = (0..S).map(|s| hr[s] * self.k[s * n + i]).sum();
        }
        kr
    }
}

/// The continuous extension at `theta` of one component.
#[inline]
fn poly(theta: f64, y0: f64, y1: f64, kr: [f64; 3]) -> f64 {
    let one = 1.0 - theta;
    one * y0 + theta * (y1 + one * (kr[0] + theta * (kr[1] + theta * kr[2])))
}

/// The continuous extension at `theta` from a step's stored `y0`, `y1` and
/// `K1..K3` (the same bits as the step's own dense output).
pub(crate) fn continuous(theta: f64, y0: &[f64], y1: &[f64], k: [&[f64]; 3], out: &mut [f64]) {
    for i in 0..out.len() {
        out[i] = poly(theta, y0[i], y1[i], [k[0][i], k[1][i], k[2][i]]);
    }
}

#[inline]
fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_rows_are_the_solution_weights() {
        // Stiffly accurate: U_7 = U_6 + k_6 and U_8 = U_7 + k_7, so rows 7
        // and 8 extend row 6 by ones, and the stage times there are 1.
        for j in 0..5 {
            assert_eq!(A[6][j], A[5][j]);
            assert_eq!(A[7][j], A[5][j]);
        }
        assert_eq!((A[6][5], A[7][5], A[7][6]), (1.0, 1.0, 1.0));
        assert_eq!(&CT[5..], &[1.0, 1.0, 1.0]);
        assert_eq!(&D[5..], &[0.0, 0.0, 0.0]);
    }
}
