//! Each method as a type: its tableau as an associated constant plus its
//! dense output, so the stepper is monomorphised per method and the
//! compiler sees every coefficient as a constant.
//!
//! Owns the [`Scheme`] trait, the unit types implementing it, and the dense
//! output weights. Dense output is always written in `f`-space as
//! `y(t0 + θh) = y0 + h Σ_i w_i(θ) k_i`, where `k_i` are the stage
//! derivatives and, for methods that are not FSAL, one extra slot holding
//! `f(t1, y1)`:
//! - Tsit5: its own 4th-order continuous extension (ALGORITHMS.md §1.4, the
//!   `r_ij` polynomials of OrdinaryDiffEq's `Tsit5Interp`);
//! - Dopri5: the 4th-order continuous extension of Shampine (1986), in the
//!   form of scipy's `RK45.P` matrix (equivalent to Hairer's and diffrax's);
//! - Bosh3 and the fixed-step methods: cubic Hermite interpolation through
//!   `y0, y1, f(t0, y0), f(t1, y1)`, written as weights on the stages via
//!   `y1 - y0 = h Σ b_i k_i`.
//!
//! Never evaluates the vector field or allocates.

// Published decimal expansions (see tableau.rs).
#![allow(clippy::excessive_precision)]

use super::tableau::{self, Tableau};

/// An explicit Runge–Kutta method with its dense output.
pub(crate) trait Scheme {
    const TABLEAU: &'static Tableau;
    /// Derivative slots the stepper keeps: the stages, plus one for
    /// `f(t1, y1)` unless the method is FSAL (then the last stage is it).
    const SLOTS: usize = Self::TABLEAU.c.len() + if Self::TABLEAU.fsal { 0 } else { 1 };
    /// Index of the slot holding `f(t1, y1)` after a step.
    const END_SLOT: usize = Self::SLOTS - 1;

    /// Writes the dense-output weights `w[0..SLOTS]` at `θ ∈ [0, 1]`.
    fn dense_weights(theta: f64, w: &mut [f64]) {
        hermite_weights(Self::TABLEAU.b, Self::END_SLOT, theta, w);
    }
}

/// Cubic Hermite weights: `y0 + h[h01(θ) Σ b_i k_i + h10(θ) k_0 + h11(θ) k_end]`.
fn hermite_weights(b: &[f64], end_slot: usize, theta: f64, w: &mut [f64]) {
    let t2 = theta * theta;
    let t3 = t2 * theta;
    let h01 = 3.0 * t2 - 2.0 * t3;
    let h10 = t3 - 2.0 * t2 + theta;
    let h11 = t3 - t2;
    for (wi, bi) in w.iter_mut().zip(b.iter().chain(std::iter::repeat(&0.0))) {
        *wi = h01 * bi;
    }
    w[0] += h10;
    w[end_slot] += h11;
}

pub(crate) struct Euler;
pub(crate) struct Midpoint;
pub(crate) struct Heun;
pub(crate) struct Rk4;
pub(crate) struct Bosh3;
pub(crate) struct Dopri5;
pub(crate) struct Tsit5;

impl Scheme for Euler {
    const TABLEAU: &'static Tableau = &tableau::EULER;
}
impl Scheme for Midpoint {
    const TABLEAU: &'static Tableau = &tableau::MIDPOINT;
}
impl Scheme for Heun {
    const TABLEAU: &'static Tableau = &tableau::HEUN;
}
impl Scheme for Rk4 {
    const TABLEAU: &'static Tableau = &tableau::RK4;
}
impl Scheme for Bosh3 {
    const TABLEAU: &'static Tableau = &tableau::BOSH3;
}

impl Scheme for Dopri5 {
    const TABLEAU: &'static Tableau = &tableau::DOPRI5;
    fn dense_weights(theta: f64, w: &mut [f64]) {
        for (wi, p) in w.iter_mut().zip(&tableau::DOPRI5_DENSE) {
            *wi = theta * (p[0] + theta * (p[1] + theta * (p[2] + theta * p[3])));
        }
    }
}

impl Scheme for Tsit5 {
    const TABLEAU: &'static Tableau = &tableau::TSIT5;
    fn dense_weights(theta: f64, w: &mut [f64]) {
        for (wi, r) in w.iter_mut().zip(&tableau::TSIT5_DENSE) {
            *wi = theta * (r[0] + theta * (r[1] + theta * (r[2] + theta * r[3])));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At θ = 1 every dense output reproduces the step's weights (with the
    /// end slot of non-FSAL methods weighted 0), and Σ w_i(θ) = θ. (Tsit5's
    /// polynomial coefficients reach ~90, so allow for their rounding.)
    fn check<S: Scheme>() {
        let mut w = vec![0.0; S::SLOTS];
        S::dense_weights(1.0, &mut w);
        for (i, wi) in w.iter().enumerate() {
            let bi = S::TABLEAU.b.get(i).copied().unwrap_or(0.0);
            assert!((wi - bi).abs() < 2e-14, "{}: w_{i}(1) = {wi}, b_{i} = {bi}", S::TABLEAU.name);
        }
        for theta in [0.0, 0.25, 0.5, 0.9] {
            S::dense_weights(theta, &mut w);
            let sum: f64 = w.iter().sum();
            assert!((sum - theta).abs() < 2e-14, "{}: Σ w({theta}) = {sum}", S::TABLEAU.name);
        }
    }

    #[test]
    fn dense_weights_are_consistent() {
        check::<Euler>();
        check::<Midpoint>();
        check::<Heun>();
        check::<Rk4>();
        check::<Bosh3>();
        check::<Dopri5>();
        check::<Tsit5>();
    }
}
