//! The nde compiler: `.nde` text to native kernels.
//!
//! Stages, each in its own module, each boundary a printable data structure:
//! `syntax` (text -> [`syntax::ast::Module`]), `sema` (names, imports,
//! shapes), `lower` (checked program -> [`ir::ProgramIr`]), `ir` (the tensor
//! IR, its verifier, printer and reference interpreter), `autodiff`
//! (IR -> derivative IR: VJP, JVP, Jacobian, time derivative), `codegen`
//! (IR -> cranelift -> native kernels behind [`nde_runtime::abi`]), and
//! `driver` (orchestration, used by the `nde` binary and the library API).

pub mod autodiff;
pub mod codegen;
pub mod diag;
pub mod driver;
pub mod ir;
pub mod lower;
pub mod rng;
pub mod sema;
pub mod simplify;
pub mod span;
pub mod stdlib;
pub mod syntax;
