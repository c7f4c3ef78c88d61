//! Learning-rate schedules: the rate used at each optimiser step.
//!
//! Owns [`Schedule`]. Steps count from 0 (the first update uses
//! `lr(0)`), as optax's schedules and PyTorch's schedulers before their
//! first `step()`. Pure functions of the step; never allocates.

use super::{check, TrainError};

/// How the learning rate changes with the step number `k` (from 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// `lr(k) = lr`.
    Constant { lr: f64 },
    /// Linear warmup from `init` to `peak` over `warmup` steps, then cosine
    /// decay to `end` at step `total`, constant after (optax's
    /// `warmup_cosine_decay_schedule`):
    /// - `k < warmup`: `init + (peak − init) · k / warmup`;
    /// - else, with `p = min(k − warmup, total − warmup) / (total − warmup)`:
    ///   `end + (peak − end) · ½ (1 + cos(π p))` (`peak` if `total ==
    ///   warmup`).
    Cosine { init: f64, peak: f64, warmup: u64, total: u64, end: f64 },
    /// `lr · gamma^⌊k / every⌋` (PyTorch's `StepLR`).
    Step { lr: f64, every: u64, gamma: f64 },
}

impl Schedule {
    /// A constant rate.
    pub fn constant(lr: f64) -> Schedule {
        Schedule::Constant { lr }
    }

    /// Cosine decay from `peak` to 0 over `total` steps, no warmup.
    pub fn cosine(peak: f64, total: u64) -> Schedule {
        Schedule::Cosine { init: 0.0, peak, warmup: 0, total, end: 0.0 }
    }

    /// The learning rate of step `k`.
    pub fn lr(&self, k: u64) -> f64 {
        match *self {
            Schedule::Constant { lr } => lr,
            Schedule::Cosine { init, peak, warmup, total, end } => {
                if k < warmup {
                    return init + (peak - init) * (k as f64 / warmup as f64);
                }
                let span = total.saturating_sub(warmup);
                if span == 0 {
                    return peak;
                }
                let p = (k - warmup).min(span) as f64 / span as f64;
                end + (peak - end) * (0.5 * (1.0 + (std::f64::consts::PI * p).cos()))
            }
            Schedule::Step { lr, every, gamma } => {
                let n = k / every.max(1);
                lr * gamma.powf(n as f64)
            }
        }
    }

    /// Checks the parameters: rates finite and `>= 0`, `warmup <= total`,
    /// `every >= 1`, `gamma` finite and positive.
    pub fn validate(&self) -> Result<(), TrainError> {
        let rate = |name, v: f64| check(name, v, v >= 0.0, "a finite learning rate >= 0");
        match *self {
            Schedule::Constant { lr } => rate("lr", lr),
            Schedule::Cosine { init, peak, warmup, total, end } => {
                rate("init", init)?;
                rate("peak", peak)?;
                rate("end", end)?;
                if warmup > total {
                    return Err(TrainError::InvalidHyperparameter {
                        name: "warmup",
                        value: warmup as f64,
                        expected: "at most the total number of steps",
                    });
                }
                Ok(())
            }
            Schedule::Step { lr, every, gamma } => {
                rate("lr", lr)?;
                check("gamma", gamma, gamma > 0.0, "a positive finite factor")?;
                if every == 0 {
                    return Err(TrainError::InvalidHyperparameter {
                        name: "every",
                        value: 0.0,
                        expected: "at least 1 step",
                    });
                }
                Ok(())
            }
        }
    }
}
