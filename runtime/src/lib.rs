//! nde's runtime: solvers, step-size control, dense output, batched solves
//! and array I/O.
//!
//! It drives anything that implements [`term::VectorField`] and never depends
//! on the compiler or cranelift, so a shared library can link it alone and
//! solvers are tested against hand-written Rust systems.

pub mod abi;
pub mod io;
pub mod term;
