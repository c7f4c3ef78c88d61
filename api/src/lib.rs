//! The nde language as a Rust library: compile a model from a file or a
//! string, inspect it, evaluate its right-hand side and derivatives, solve
//! it, differentiate a loss through its solves, and train it.
//!
//! This crate is a thin, stable facade over the compiler's driver
//! (`nde-compiler`) and the runtime (`nde-runtime`): the same code paths as
//! the `nde` command, so a solve here and `nde run` with the same options
//! give the same bits. It never prints; every failure is an [`Error`].
//!
//! # Quick start
//!
//! ```
//! // Check a file (or `Program::from_source(name, text)`).
//! let program = nde::Program::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/lorenz.nde"))?;
//! let model = program.model("lorenz")?;
//! assert_eq!(model.state_names(), ["x", "y", "z"]);
//! assert_eq!(model.parameter_names(), ["sigma", "rho", "beta"]);
//!
//! // JIT-compile its kernels; the result owns them and its parameters.
//! let mut lorenz = model.compile()?;
//! let y0 = lorenz.initial_state(0.0)?;
//! let mut dy = vec![0.0; lorenz.n_state()];
//! lorenz.rhs(0.0, &y0, &mut dy)?;
//! assert_eq!(dy, [0.0, 26.0, 1.0 - 8.0 / 3.0]);
//!
//! // Solve, with any method of the language (explicit, stiff, `auto`).
//! let times: Vec<f64> = (0..=10).map(|i| i as f64 * 0.1).collect();
//! let spec = nde::SolveSpec::new(0.0, 1.0).save_at(&times).method("tsit5").tolerances(1e-8, 1e-8);
//! let sol = lorenz.solve(&spec)?;
//! assert_eq!(sol.times(), times);
//! let x = sol.column("x", 0).unwrap();
//! assert_eq!(x.len(), 11);
//!
//! // Change a parameter by name and solve again, stiffly.
//! lorenz.parameters_mut().set("rho", &[10.0])?;
//! let stiff = lorenz.solve(&spec.clone().method("rodas5"))?;
//! assert!(stiff.stats()[0].njev > 0);
//! # Ok::<(), nde::Error>(())
//! ```
//!
//! Losses and training work on the file's `loss` and `train` blocks:
//! [`Program::loss`] gives a [`Loss`] with its value and gradient with
//! respect to the parameters, [`Program::training`] a [`Training`] stepped
//! exactly like `nde train`.
//!
//! # Errors
//!
//! A file that does not check gives [`Error::Compile`], whose `Display` is
//! the diagnostics rendered like the `nde` command's (with `file:line:col`
//! and the source line) and whose [`CompileErrors::diagnostics`] are the
//! same as data:
//!
//! ```
//! let err = nde::Program::from_source("bad.nde", "model m {\n  state x = 1.0\n  dx/dt = -k * x\n}\n").unwrap_err();
//! let nde::Error::Compile(errors) = &err else { panic!("{err}") };
//! let d = &errors.diagnostics()[0];
//! assert_eq!((d.file.as_deref(), d.line, d.column), (Some("bad.nde"), 3, 12));
//! assert!(err.to_string().contains("bad.nde:3:12"));
//! ```

#![deny(missing_docs)]

mod compiled;
mod error;
mod model;
mod program;
mod solve;
mod train;

pub use compiled::CompiledModel;
pub use error::{CompileErrors, Diagnostic, Error};
pub use model::{LoadReport, Model, ModelKind, Parameters, Variable};
pub use program::{Options, Program};
pub use solve::{Solution, SolveSpec};
pub use train::{Evaluation, Loss, LossGradient, Step, Training};

/// Options of a GPU ensemble solve ([`CompiledModel::solve_gpu`]): adapter, precision.
pub use nde_compiler::driver::gpu::{GpuOptions, Precision};
/// Where an `auto` solve switched between its explicit and stiff methods.
pub use nde_runtime::stiff::Switch;
/// Solver statistics of one trajectory (evaluations, steps, Jacobians, ...).
pub use nde_runtime::Stats;

/// The compiler, for what this facade does not cover (IR, code generation, the driver).
pub use nde_compiler as compiler;
/// The runtime (solvers, adjoints, array files), for what this facade does not cover.
pub use nde_runtime as runtime;
