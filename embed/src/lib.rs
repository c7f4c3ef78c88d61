//! The C ABI of the shared libraries that `nde build` makes.
//!
//! A library holds one model: its kernels compiled ahead of time (object
//! code from the compiler's IR), a *descriptor* ([`ModelDesc`], static data
//! written in C by `nde build`: sizes, names, default parameters, kernel
//! pointers, and the file's losses with their data: [`LossDesc`]) and
//! one-line C wrappers
//! `NAME_x(...) { return nde_embed_x(&DESCRIPTOR, ...); }`. This crate is
//! everything else, generic over the descriptor: handles holding a copy of
//! the parameters, checked kernel calls, solves through the runtime's
//! solvers (the same functions and options as `nde run`), loss values and
//! gradients through the runtime's adjoints (the same as `nde train`'s),
//! error codes and a per-thread error message. It is built as
//! a static library (`libnde_embed.a`) that `nde build` links into each
//! shared library.
//!
//! Every entry point validates its arguments (null pointers, buffer
//! lengths, non-finite numbers, method names) and returns an [`Code`];
//! every body runs under `catch_unwind`, so no call aborts the host
//! process. Numbers are the same bits as `nde run`'s: the kernels are the
//! JIT's code compiled ahead of time and the solves go through
//! `nde_runtime` with the same options.
//!
//! Never: depend on the compiler or cranelift, print, or let a panic cross
//! the C boundary. Layout changes of the descriptor bump [`ABI_VERSION`].

mod api;
mod desc;
mod error;
mod loss;
mod solve;

pub use api::*;
pub use desc::{KernelDesc, LossDesc, ModelDesc, ABI_VERSION};
pub use error::Code;
pub use loss::nde_embed_loss;
pub use solve::nde_embed_solve;

#[cfg(test)]
mod tests;
