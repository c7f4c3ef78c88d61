//! The `nde` command: check, run, train and inspect `.nde` models.
//!
//! Exit codes (stable, for scripts): 0 success; 1 the model file has errors;
//! 2 bad command line; 3 the solve failed (step size collapsed, non-finite
//! state, too many steps); 4 a data, parameter or output file could not be
//! read or written.

mod build;
mod devices;
mod emit;
mod eval;
mod render;
mod repl;
mod run;
mod simplify;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit statuses, see the module docs.
pub mod exit {
    pub const MODEL_ERRORS: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const SOLVE_FAILED: u8 = 3;
    pub const FILE_ERROR: u8 = 4;
}

#[derive(Parser)]
#[command(
    name = "nde",
    version,
    about = "nde: a language and compiler for neural differential equations",
    long_about = "nde compiles .nde model files (ODEs whose vector fields may contain small neural \
networks) to fused native kernels and solves them.\n\n\
Start with `nde check model.nde`, then `nde run model.nde --t1 10`. \
`nde emit ir model.nde` shows what the compiler made of it.",
    after_help = "Examples:\n  nde check examples/lorenz.nde\n  nde run examples/lorenz.nde --t1 100 --solver tsit5 --rtol 1e-8 --atol 1e-10 --stats\n  \
nde run examples/bench_mlp.nde --params ../shared/bench/mlp_weights.npz --at 0:10:11 -o out.npz\n  nde emit clif examples/pendulum.nde\n  nde train examples/spiral.nde --plot loss.svg\n  nde eval examples/ncde_spirals.nde --params ncde_spirals.params.npz\n\n\
Exit codes: 0 ok, 1 model errors, 2 bad command line, 3 solve failed, 4 file error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check a model file; print every error with its place. Exit 1 on errors.
    Check {
        /// The .nde file.
        file: PathBuf,
    },
    /// Solve a model and write its trajectory (CSV to stdout unless -o is given).
    Run(Box<run::RunArgs>),
    /// Print an intermediate form: the syntax tree, the tensor IR, the derivatives, or the cranelift IR of the kernels.
    Emit {
        /// What to print.
        #[arg(value_enum)]
        stage: emit::Stage,
        /// The .nde file.
        file: PathBuf,
        /// Which model (default: every model in the file).
        #[arg(long)]
        model: Option<String>,
        /// With `grad`: only the derivatives with respect to this state, parameter, `y` (all states) or `t`.
        #[arg(long, value_name = "NAME")]
        wrt: Option<String>,
    },
    /// Train a model: run a file's `train` block (progress bar, checkpoints, --resume) and write the parameters as .npz.
    Train(Box<train::TrainArgs>),
    /// Evaluate losses once (default: every loss of the file) at given or initial parameters; prints `NAME VALUE` lines.
    ///
    /// Each named loss is computed on its whole data set, without training: every trajectory solved from its
    /// start, the loss block averaged over them (as the summary of `nde train` does), at the parameters of
    /// --params (e.g. written by `nde train`) or at the initial values. One `NAME VALUE` line per loss, in the
    /// order asked for.
    ///
    /// A loss whose value is `accuracy(...)` gives the fraction of trajectories classified right. A loss
    /// declared only to be evaluated (on a test set) needs no `train` block.
    Eval(eval::EvalArgs),
    /// Simplify an expression given on the command line and print it as maths (`--explain` lists the rewrites).
    Simplify(simplify::SimplifyArgs),
    /// Compile a model into a shared library (libNAME.so) with a C header, for C, C++, Python (ctypes) or Rust hosts.
    ///
    /// The library holds the model's kernels compiled ahead of time (the same code `nde run` runs) and the
    /// solvers; it depends only on the C library and libm. Its API (documented in the header and in
    /// docs/embedding.md): metadata, NAME_rhs / NAME_rhs_batch / NAME_vjp / NAME_jac kernels, NAME_solve (method,
    /// tolerances, output times, a batch of initial states; the same bits as `nde run`), get/set parameters and
    /// the initial state. Errors are codes with a message (NAME_last_error), never an abort. Loss gradients are
    /// not exported yet (a note lists the file's losses). Only ODE models can be built.
    ///
    /// Needs a C compiler (`cc`, or $CC) and the static runtime libnde_embed.a, which
    /// `cargo build --release -p nde-embed` puts next to the `nde` executable (or name it with $NDE_EMBED_LIB).
    Build(Box<build::BuildArgs>),
    /// List the GPU adapters `nde run --device gpu` can use (backend, kind, f64 support).
    Devices,
    /// An interactive session: enter definitions and expressions, solve, train, plot (`:help` inside).
    Repl(repl::ReplArgs),
}

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check { file } => check(&file),
        Command::Run(args) => run::run(&args),
        Command::Emit { stage, file, model, wrt } => emit::emit(stage, &file, model.as_deref(), wrt.as_deref()),
        Command::Simplify(args) => simplify::simplify(&args),
        Command::Train(args) => train::train(&args),
        Command::Eval(args) => eval::eval(&args),
        Command::Repl(args) => repl::repl(&args),
        Command::Devices => devices::devices(),
        Command::Build(args) => build::build(&args),
    };
    ExitCode::from(code)
}

fn check(file: &std::path::Path) -> u8 {
    match nde_compiler::driver::check_file(file, &Default::default()) {
        Ok(checked) => {
            let models: Vec<_> = checked.program.models.iter().map(|m| m.name.as_str()).collect();
            println!(
                "{}: ok ({} model{}: {})",
                file.display(),
                models.len(),
                if models.len() == 1 { "" } else { "s" },
                models.join(", ")
            );
            0
        }
        Err(failure) => {
            render::emit(&failure.sources, &failure.diagnostics.0);
            let n = failure.diagnostics.0.iter().filter(|d| d.is_error()).count();
            eprintln!("{}: {n} error{}", file.display(), if n == 1 { "" } else { "s" });
            exit::MODEL_ERRORS
        }
    }
}

/// Lets a closed pipe end the process quietly, as it does other Unix tools
/// (`nde run m.nde | head`), instead of a panic in `println!`.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to the default before any thread
    // is started has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Prints `error: message` to stderr and returns `code`.
pub fn fail(code: u8, message: impl std::fmt::Display) -> u8 {
    eprintln!("error: {message}");
    code
}
