//! Stochastic differential equations: terms, solvers and gradients.
//!
//! (Being built for issue 5; see `term` for the field traits.)

pub mod term;

pub use term::{DiffSdeField, Noise, SdeField};
