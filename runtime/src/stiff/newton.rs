//! The simplified Newton iteration of the implicit methods, with its
//! convergence rules.
//!
//! Owns [`solve`]: find `z` with `z = base + c·f(t, z)` using the factors of
//! `I − c·J` already in [`Work::lu`]. Both implicit methods reduce to this
//! form: an ESDIRK stage (`c = hγ`, `base = y0 + h Σ a_ij f_j`) and a BDF
//! step (`c = h/α_k`, `base = y_pred − ψ`). Never factorises or evaluates a
//! Jacobian; deciding that is the callers' job.
//!
//! Rules (Hairer & Wanner's RADAU5 and scipy's `BDF`, the same in both):
//! - the iteration norm is the scaled RMS norm with `sc = atol + rtol·|y|`;
//! - the convergence rate is `θ_k = ‖Δ_k‖ / ‖Δ_{k−1}‖`; the iteration
//!   stops successfully once `η·‖Δ_k‖ ≤ κ` with `η = θ/(1 − θ)`, and with
//!   `κ = max(10·ε/rtol, min(0.03, √rtol))`; at the first iteration, where
//!   no rate is known yet, `η` is the previous solve's, damped as
//!   `max(η_old, ε)^0.8` (RADAU5's `FACCON`);
//! - it fails when `θ ≥ 1` (divergence), when the error predicted after the
//!   remaining iterations, `θ^(k_max − k)/(1 − θ)·‖Δ_k‖`, still exceeds `κ`
//!   (too slow; not in constant-step solves, which cannot retry smaller),
//!   when `f` is NaN or infinite, or after `k_max` iterations.

use super::work::{rms_scaled, Failure, Work};

/// When a one-step simplified-Newton method (`kvaerno5`, `radau5`)
/// evaluates a new Jacobian, and whether its factors are still those of
/// the current one: at the first attempt, at a new point after a slowly
/// converging step, and once more at the same step when the iteration
/// failed with a Jacobian from an earlier point.
pub(crate) struct JacobianReuse {
    /// A Jacobian has been evaluated.
    have: bool,
    /// It was evaluated at the current step's start.
    current: bool,
    /// The last converged iteration was slow: a new Jacobian is due at the
    /// next point.
    pub slow: bool,
    /// What the current factors were made for (`hγ`, or `h`; NaN: none).
    pub factors_for: f64,
}

impl JacobianReuse {
    pub fn new() -> JacobianReuse {
        JacobianReuse { have: false, current: false, slow: false, factors_for: f64::NAN }
    }

    /// Evaluates the Jacobian at `(t, y)`; the factors are then stale.
    pub fn refresh(&mut self, work: &mut Work<'_>, t: f64, y: &[f64]) {
        work.jacobian(t, y);
        self.have = true;
        self.current = true;
        self.slow = false;
        self.factors_for = f64::NAN;
    }

    /// At the start of an attempt from `(t, y)` (`fresh_point`: another
    /// point than the last attempt's): evaluates a Jacobian when there is
    /// none or the last step converged slowly. Returns whether it did.
    pub fn begin(&mut self, work: &mut Work<'_>, t: f64, y: &[f64], fresh_point: bool) -> bool {
        if fresh_point {
            self.current = false;
        }
        let due = !self.have || (fresh_point && self.slow);
        if due {
            self.refresh(work, t, y);
        }
        due
    }

    /// Whether a failed iteration may retry with a fresh Jacobian (the one
    /// it used is from an earlier point).
    pub fn stale(&self) -> bool {
        !self.current
    }
}

/// Newton's state carried from one solve to the next: the last `η`.
pub(crate) struct NewtonState {
    eta: f64,
    /// `κ`, fixed per solve.
    pub kappa: f64,
    /// Constant-step solves cannot retry with a smaller step, so their
    /// iteration only fails when it diverges (no "too slow" prediction).
    persistent: bool,
}

impl NewtonState {
    pub fn new(rtol: f64, persistent: bool) -> NewtonState {
        let kappa = (10.0 * f64::EPSILON / rtol).max(0.03f64.min(rtol.sqrt()));
        NewtonState { eta: 1.0, kappa, persistent }
    }

    /// Forget the last rate (after a new Jacobian or a failure).
    pub fn reset(&mut self) {
        self.eta = 1.0;
    }

    /// `η` for the first iteration of the next solve: the last one's,
    /// damped (`max(η_old, ε)^0.8`).
    pub fn first_eta(&self) -> f64 {
        self.eta.max(f64::EPSILON).powf(0.8)
    }

    /// Records the `η` of a converged solve, for the next one.
    pub fn converged(&mut self, eta: f64) {
        self.eta = eta;
    }

    /// Constant-step solves: no "too slow" prediction.
    pub fn persistent(&self) -> bool {
        self.persistent
    }
}

/// What a converged iteration did.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Converged {
    /// Iterations taken (each one `f` evaluation and one linear solve).
    pub iters: usize,
    /// The largest contraction rate seen (0 when there was one iteration).
    pub rate: f64,
}

/// Buffers for [`solve`], borrowed from the method's workspace.
pub(crate) struct Bufs<'b> {
    pub fz: &'b mut [f64],
    pub dz: &'b mut [f64],
    pub scale: &'b [f64],
}

/// Iterates `z ← z + (I − cJ)⁻¹ (base + c·f(t, z) − z)` from the initial
/// guess in `z`, at most `max_iter` times. On success `z` holds the
/// solution.
#[allow(clippy::too_many_arguments)]
pub(crate) fn solve(
    work: &mut Work<'_>,
    state: &mut NewtonState,
    t: f64,
    c: f64,
    base: &[f64],
    z: &mut [f64],
    max_iter: usize,
    bufs: Bufs<'_>,
) -> Result<Converged, Failure> {
    let Bufs { fz, dz, scale } = bufs;
    let kappa = state.kappa;
    let mut norm_old = f64::NAN;
    let mut max_rate = 0.0f64;
    for k in 0..max_iter {
        work.eval(t, z, fz);
        if fz.iter().any(|v| !v.is_finite()) {
            state.reset();
            return Err(Failure::Newton);
        }
        for i in 0..z.len() {
            dz[i] = base[i] + c * fz[i] - z[i];
        }
        work.lu.solve_in_place(dz);
        work.stats.nnewton += 1;
        let norm = rms_scaled(dz, scale);
        if !norm.is_finite() {
            state.reset();
            return Err(Failure::Newton);
        }
        let eta = if k == 0 {
            state.first_eta()
        } else {
            let rate = norm / norm_old;
            max_rate = max_rate.max(rate);
            let remaining = (max_iter - k) as i32;
            let too_slow = !state.persistent && rate.powi(remaining) / (1.0 - rate) * norm > kappa;
            if rate >= 1.0 || too_slow {
                state.reset();
                return Err(Failure::Newton);
            }
            rate / (1.0 - rate)
        };
        for (z, d) in z.iter_mut().zip(dz.iter()) {
            *z += d;
        }
        if norm == 0.0 || eta * norm <= kappa {
            state.converged(eta);
            return Ok(Converged { iters: k + 1, rate: max_rate });
        }
        norm_old = norm;
    }
    state.reset();
    Err(Failure::Newton)
}
