//! Gradient clipping by global norm (optax's `clip_by_global_norm`).
//!
//! Owns [`global_norm`] and [`clip_by_global_norm`]. Never allocates.

use super::{check, TrainError};

/// The Euclidean norm of `g`, computed without overflow or underflow for
/// any finite entries (scaled by the largest magnitude). NaN if any entry
/// is NaN, infinite if any is infinite.
pub fn global_norm(g: &[f64]) -> f64 {
    let scale = g.iter().fold(0.0f64, |m, v| if v.is_nan() || m.is_nan() { f64::NAN } else { m.max(v.abs()) });
    if scale == 0.0 || !scale.is_finite() {
        return scale;
    }
    let sum: f64 = g.iter().map(|v| (v / scale) * (v / scale)).sum();
    scale * sum.sqrt()
}

/// Scales `g` in place so that its norm is at most `max_norm`:
/// `g ← g · max_norm / ‖g‖` when `‖g‖ > max_norm` (optax's rule; PyTorch's
/// `clip_grad_norm_` adds 1e-6 to the norm in the divisor). Returns the norm
/// before clipping. A non-finite norm leaves `g` unchanged, so the caller
/// can see it and skip the step. `max_norm` must be positive and finite.
pub fn clip_by_global_norm(g: &mut [f64], max_norm: f64) -> Result<f64, TrainError> {
    check("max_norm", max_norm, max_norm > 0.0, "a positive finite number")?;
    let norm = global_norm(g);
    if norm.is_finite() && norm > max_norm {
        let s = max_norm / norm;
        for v in g.iter_mut() {
            *v *= s;
        }
    }
    Ok(norm)
}
