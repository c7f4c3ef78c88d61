//! Stochastic differential equations `dy = f(t, y) dt + g(t, y) dW`:
//! field traits, solvers and gradients, driven on reproducible Brownian
//! paths ([`crate::brownian`]).
//!
//! | module | owns |
//! |---|---|
//! | `term` | [`SdeField`], [`DiffSdeField`], [`Noise`], [`FnSde`] (closures, for tests) |
//! | `options` | [`SdeMethod`], [`SdeOptions`] and their validation |
//! | `grid` | the step points of fixed-step solves, walked both ways |
//! | `step` | one step of each method (one member, or a lock-step chunk), its VJP, reversible Heun's inverse |
//! | `solve` | [`sde_solve`], [`sde_solve_batch`] and the stepping loops (lock-step for fixed-step batches) |
//! | `adjoint` | [`sde_gradient`], [`sde_gradient_batch`], [`SdeAdjoint`] |
//!
//! Like the ODE side: typed [`crate::SolveError`]s for every bad input, no
//! allocation per step, and batches over rayon that give the same bits on
//! any number of threads (each member has its own stream of the Brownian
//! tree). Never prints.

mod adjoint;
mod grid;
mod options;
mod solve;
mod step;
pub mod term;

pub use adjoint::{sde_gradient, sde_gradient_batch, SdeAdjoint, SdeBatchGradient, SdeGradient};
pub use options::{SdeMethod, SdeOptions};
pub use solve::{sde_solve, sde_solve_batch};
pub use term::{DiffSdeField, FnSde, Noise, SdeField};
