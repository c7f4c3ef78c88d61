//! Training numerics that do not depend on the model: optimisers, learning
//! rate schedules and gradient clipping.
//!
//! Owns [`Optimizer`] (SGD with momentum, Adam, AdamW and RMSprop, with
//! saveable state so a resumed run continues bit for bit), [`Schedule`]
//! (constant, cosine with warmup, step decay), [`clip_by_global_norm`] and
//! [`TrainError`]. Works on flat `f64` parameter vectors; never touches
//! solvers, files or the terminal, and never panics on bad hyperparameters
//! or lengths (they are [`TrainError`]s).

mod clip;
mod optim;
mod schedule;

use std::fmt;

pub use clip::{clip_by_global_norm, global_norm};
pub use optim::{Optimizer, Rule};
pub use schedule::Schedule;

/// Why an optimiser, schedule or clipping call refused its input.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainError {
    /// A hyperparameter is out of its range.
    InvalidHyperparameter { name: &'static str, value: f64, expected: &'static str },
    /// A vector has the wrong length (parameters, gradient, saved state).
    LengthMismatch { what: String, expected: usize, got: usize },
    /// Saved optimiser state that does not fit this optimiser.
    BadState { what: String },
    /// Gradient entry `index` is NaN or infinite (the step was not taken).
    NonFiniteGradient { index: usize },
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::InvalidHyperparameter { name, value, expected } => {
                write!(f, "invalid {name} = {value}: expected {expected}")
            }
            TrainError::LengthMismatch { what, expected, got } => {
                write!(f, "{what} has {got} values, expected {expected}")
            }
            TrainError::BadState { what } => write!(f, "cannot restore the optimiser state: {what}"),
            TrainError::NonFiniteGradient { index } => write!(
                f,
                "gradient entry {index} is NaN or infinite; the step was skipped (try a smaller learning rate, \
                 gradient clipping, or tighter solver tolerances)"
            ),
        }
    }
}

impl std::error::Error for TrainError {}

/// Checks `lo <(=) value <(=) hi` (`value` finite), naming the range.
fn check(name: &'static str, value: f64, ok: bool, expected: &'static str) -> Result<(), TrainError> {
    if value.is_finite() && ok {
        Ok(())
    } else {
        Err(TrainError::InvalidHyperparameter { name, value, expected })
    }
}
