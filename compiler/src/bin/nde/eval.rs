//! `nde eval`: evaluate a file's losses once, on their whole data, at given
//! or initial parameters, and print one `NAME VALUE` line per loss.
//!
//! The evaluation is the trainer's ([`driver::train::evaluator`], the same
//! as the summary of `nde train`): every trajectory of the loss's data set
//! solved whole, the loss block's value averaged over them.

use std::path::PathBuf;

use nde_compiler::driver::train::{self, TrainOptions};
use nde_compiler::driver::{self, FrontendOptions};

use crate::{exit, fail, render};

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  nde eval examples/ncde_spirals.nde\n  \
nde train examples/ncde_spirals.nde -o spirals.npz && nde eval examples/ncde_spirals.nde --params spirals.npz test_accuracy\n\n\
Exit codes: 0 ok, 1 model errors, 2 unknown loss, 3 solve failed, 4 file error.")]
pub struct EvalArgs {
    /// The .nde file.
    file: PathBuf,
    /// Losses to evaluate, by name (default: every loss of the file, in file order).
    #[arg(value_name = "LOSS")]
    losses: Vec<String>,
    /// Parameter values (.npz, arrays named like the parameters: `f.W1`, ...); default: the initial values.
    #[arg(long)]
    params: Option<PathBuf>,
    /// Worker threads for the solves (0: all cores); results do not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Seed for parameter initialisers (glorot, normal), as in `nde train --seed`.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn eval(args: &EvalArgs) -> u8 {
    match eval_inner(args) {
        Ok(()) => 0,
        Err(code) => code,
    }
}

fn eval_inner(args: &EvalArgs) -> Result<(), u8> {
    let opts = FrontendOptions { seed: args.seed, ..Default::default() };
    let checked = driver::check_file(&args.file, &opts).map_err(|failure| {
        render::emit(&failure.sources, &failure.diagnostics.0);
        exit::MODEL_ERRORS
    })?;
    let program = &checked.program;
    let all: Vec<&str> = program.losses.iter().map(|l| l.name.as_str()).collect();
    let names: Vec<&str> =
        if args.losses.is_empty() { all.clone() } else { args.losses.iter().map(String::as_str).collect() };
    if names.is_empty() {
        return Err(fail(exit::USAGE, format!("{} declares no `loss`", args.file.display())));
    }
    if let Some(unknown) = names.iter().find(|n| !all.contains(n)) {
        let known = if all.is_empty() { "none".to_string() } else { all.join(", ") };
        return Err(fail(exit::USAGE, format!("no loss `{unknown}` in {}; its losses: {known}", args.file.display())));
    }
    let train_opts = TrainOptions { threads: args.threads, ..Default::default() };
    for name in names {
        let mut trainer = train::evaluator(program, name, &train_opts).map_err(crate::train::report)?;
        if let Some(path) = &args.params {
            let mut params = trainer.params().to_vec();
            crate::run::load_params(path, trainer.model(), &mut params)?;
            trainer.set_params(params);
        }
        let e = trainer.evaluate().map_err(crate::train::report)?;
        println!("{name} {}", e.loss);
    }
    Ok(())
}
