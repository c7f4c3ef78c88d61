//! Embedding nde in a Rust program through the `nde` crate only: load two
//! models, print what they are, solve a small batch of each and print the
//! trajectories as CSV (the format of `nde run`).
//!
//! Usage: `embed-rust-example [EXAMPLES_DIR]` (default: this repository's
//! `examples/`). Exit status 1 with the error's message on failure.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nde::{Program, SolveSpec};

fn main() -> ExitCode {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    match run(&dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &Path) -> Result<(), nde::Error> {
    // Lorenz: three initial states, solved with tsit5.
    let program = Program::from_file(dir.join("lorenz.nde"))?;
    let lorenz = program.model("lorenz")?.compile()?;
    describe(&lorenz);
    let y0s = [1.0, 1.0, 1.0, 1.0, 1.0, 1.1, -2.0, 3.0, 20.0];
    let spec = SolveSpec::new(0.0, 1.0).saves(5).method("tsit5").tolerances(1e-8, 1e-10);
    let sol = lorenz.solve_batch(&spec, &y0s)?;
    print!("{}", sol.to_csv());

    // The benchmark MLP: two initial states, solved with dopri5, after
    // halving its initial weights by name.
    let program = Program::from_file(dir.join("bench_mlp.nde"))?;
    let mut mlp = program.default_model()?.compile()?;
    describe(&mlp);
    let w1: Vec<f64> = mlp.parameters().get("f.W1")?.iter().map(|w| 0.5 * w).collect();
    mlp.parameters_mut().set("f.W1", &w1)?;
    let y0s = [0.6514164428243246, 1.0975689513009366, -0.5, 0.25];
    let spec = SolveSpec::new(0.0, 2.0).saves(3).method("dopri5").tolerances(1e-6, 1e-8);
    let sol = mlp.solve_batch(&spec, &y0s)?;
    print!("{}", sol.to_csv());
    let nfe: u64 = sol.stats().iter().map(|s| s.nfe).sum();
    println!("# {}: {} trajectories, {nfe} evaluations of f", mlp.name(), sol.n_trajectories());
    Ok(())
}

/// Prints a model's metadata as comment lines.
fn describe(model: &nde::CompiledModel) {
    println!("# model {} ({:?})", model.name(), model.kind());
    println!("# states ({}): {}", model.n_state(), model.state_names().join(", "));
    println!("# parameters ({} values): {}", model.n_param(), model.parameter_names().join(", "));
}
