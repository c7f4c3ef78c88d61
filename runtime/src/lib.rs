//! nde's runtime: solvers, step-size control, dense output, batched solves
//! and array I/O.
//!
//! It drives anything that implements [`term::VectorField`] and never depends
//! on the compiler or cranelift, so a shared library can link it alone and
//! solvers are tested against hand-written Rust systems.

pub mod abi;
pub mod adjoint;
pub mod brownian;
pub mod data;
pub mod io;
pub mod kernel;
pub mod linalg;
pub mod ode;
pub mod path;
pub mod sde;
pub mod stiff;
pub mod term;
pub mod train;

pub mod error;
pub mod solution;
pub mod solve;
pub mod solver;
pub mod stepsize;

pub use adjoint::{
    gradient, gradient_batch, gradient_fixed, Adjoint, BatchCotangent, BatchGradient, BatchTimes, Cotangent, Gradient,
    Sampling, SamplingStrategy,
};
pub use brownian::{BrownianPath, BrownianTree};
pub use error::SolveError;
pub use sde::{sde_gradient, sde_gradient_batch, sde_solve, sde_solve_batch, SdeAdjoint, SdeMethod, SdeOptions};
pub use solution::{BatchSolution, Solution, Stats};
pub use solve::{solve, solve_batch, Controller, Method, SolveOptions};
pub use stiff::{solve_stiff, FnJacField, JacField, StiffMethod, StiffOptions};
