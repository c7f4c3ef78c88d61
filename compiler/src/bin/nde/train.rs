//! `nde train`: run a file's `train` block with a progress bar, periodic
//! atomic checkpoints, resumption, a parameters `.npz` and a loss plot.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nde_compiler::driver::train::{StepRecord, TrainFailure, TrainOptions, Trainer};
use nde_compiler::driver::{self, Checked, FrontendOptions};
use nde_compiler::ir::training::{BatchSpec, TrainSpec};
use nde_runtime::io;

use crate::{exit, fail, render};

#[derive(clap::Args)]
pub struct TrainArgs {
    /// The .nde file with a `train LOSS { ... }` block.
    file: PathBuf,
    /// Which train block, by its loss's name (needed when the file has several).
    #[arg(long, value_name = "LOSS")]
    train: Option<String>,
    /// Number of optimisation steps in all (overrides the block's `steps`; a resumed run stops there too).
    #[arg(long)]
    steps: Option<u64>,
    /// Where to write the trained parameters (.npz, arrays named like the parameters: `f.W1`, ...).
    /// Default: FILE's name with `.params.npz`, in the current folder.
    #[arg(short, long)]
    out: Option<PathBuf>,
    /// Continue from a checkpoint written by an earlier run of the same block; the result is the same as an uninterrupted run.
    #[arg(long, value_name = "CHECKPOINT")]
    resume: Option<PathBuf>,
    /// Write checkpoints here (overrides the block's `checkpoint`).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Steps between checkpoints (overrides the block's `checkpoint_every`).
    #[arg(long)]
    checkpoint_every: Option<u64>,
    /// Start from these parameter values (.npz) instead of the initialisers.
    #[arg(long)]
    params: Option<PathBuf>,
    /// Draw the loss per step into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Write the loss history as CSV (step, loss, nfe, grad_norm, lr).
    #[arg(long, value_name = "FILE.csv")]
    history: Option<PathBuf>,
    /// Worker threads for a step's batch (0: all cores); results do not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Seed for parameter initialisers (glorot, normal).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// No progress bar; only the summary.
    #[arg(short, long)]
    quiet: bool,
}

pub fn train(args: &TrainArgs) -> u8 {
    match train_inner(args) {
        Ok(()) => 0,
        Err(code) => code,
    }
}

/// The exit code of a training failure.
fn failure_code(e: &TrainFailure) -> u8 {
    match e {
        TrainFailure::Setup(_) | TrainFailure::Codegen(_) => exit::MODEL_ERRORS,
        TrainFailure::Solve { .. } | TrainFailure::Optimizer { .. } => exit::SOLVE_FAILED,
        TrainFailure::File(_) | TrainFailure::BadCheckpoint(_) => exit::FILE_ERROR,
    }
}

pub(crate) fn report(e: TrainFailure) -> u8 {
    fail(failure_code(&e), e)
}

fn check(path: &Path, opts: &FrontendOptions) -> Result<Checked, u8> {
    driver::check_file(path, opts).map_err(|failure| {
        render::emit(&failure.sources, &failure.diagnostics.0);
        exit::MODEL_ERRORS
    })
}

/// The train block asked for, or the only one.
fn select<'p>(trains: &'p [TrainSpec], name: Option<&str>) -> Result<&'p TrainSpec, u8> {
    let names: Vec<&str> = trains.iter().map(|t| t.loss.as_str()).collect();
    match name {
        Some(n) => trains.iter().find(|t| t.loss == n).ok_or_else(|| {
            fail(exit::USAGE, format!("no `train {n}` block; the file trains: {}", list_or_none(&names)))
        }),
        None => match trains {
            [only] => Ok(only),
            [] => Err(fail(exit::USAGE, "the file has no `train LOSS { ... }` block")),
            _ => Err(fail(
                exit::USAGE,
                format!("the file has several train blocks ({}): choose one with --train", names.join(", ")),
            )),
        },
    }
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "nothing".into()
    } else {
        names.join(", ")
    }
}

fn train_inner(args: &TrainArgs) -> Result<(), u8> {
    let start = Instant::now();
    let opts = FrontendOptions { seed: args.seed, ..Default::default() };
    let checked = check(&args.file, &opts)?;
    let spec = select(&checked.program.trains, args.train.as_deref())?.clone();
    let windowed = match spec.batch {
        BatchSpec::Windows { length, .. } => {
            let data = checked.program.loss(&spec.loss).map(|l| l.data.clone()).unwrap_or_default();
            let opts = FrontendOptions { data_times: vec![(data, length)], ..opts.clone() };
            Some(check(&args.file, &opts)?)
        }
        _ => None,
    };
    let train_opts = TrainOptions { threads: args.threads, steps: args.steps, ..Default::default() };
    let mut trainer =
        Trainer::new(&checked.program, windowed.as_ref().map(|c| &c.program), &spec, &train_opts).map_err(report)?;
    if let Some(path) = &args.params {
        let mut params = trainer.params().to_vec();
        crate::run::load_params(path, trainer.model(), &mut params)?;
        trainer.set_params(params);
    }
    if let Some(path) = &args.resume {
        let arrays = io::read_npz(path).map_err(|e| fail(exit::FILE_ERROR, e))?;
        trainer.restore(&arrays).map_err(|e| fail(exit::FILE_ERROR, format!("{}: {e}", path.display())))?;
    }
    let checkpoint = args.checkpoint.clone().or_else(|| spec.checkpoint.clone());
    let every = args.checkpoint_every.unwrap_or(spec.checkpoint_every).max(1);
    let setup_time = start.elapsed();

    let bar = progress_bar(trainer.total_steps, trainer.steps_done(), args.quiet);
    let loop_start = Instant::now();
    let first = trainer.steps_done();
    while !trainer.is_finished() {
        let record = trainer.step().map_err(|e| {
            bar.abandon();
            report(e)
        })?;
        bar.set_position(record.step);
        bar.set_message(step_message(&record));
        if let Some(path) = &checkpoint {
            if record.step % every == 0 || trainer.is_finished() {
                trainer.write_checkpoint(path).map_err(|e| {
                    bar.abandon();
                    report(e)
                })?;
            }
        }
    }
    bar.finish_and_clear();
    let trained = trainer.steps_done() - first;
    let loop_time = loop_start.elapsed();

    let out = args.out.clone().unwrap_or_else(|| default_out(&args.file));
    io::write_npz(&out, &trainer.param_arrays()).map_err(|e| fail(exit::FILE_ERROR, e))?;
    if let Some(path) = &args.plot {
        plot_loss(path, &trainer.history).map_err(|e| fail(exit::FILE_ERROR, format!("{}: {e}", path.display())))?;
    }
    if let Some(path) = &args.history {
        write_history(path, &trainer.history).map_err(|e| fail(exit::FILE_ERROR, e))?;
    }
    let eval = trainer.evaluate().map_err(report)?;
    print_summary(&spec, &trainer, trained, loop_time, setup_time, &eval, &out);
    Ok(())
}

fn progress_bar(total: u64, done: u64, quiet: bool) -> ProgressBar {
    let target = if quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    let style = ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} steps  {msg}  {per_sec}  eta {eta}")
        .expect("a valid template")
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_position(done);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn step_message(r: &StepRecord) -> String {
    format!("loss {:.4e}  nfe/solve {:.0}", r.loss, r.nfe)
}

fn default_out(file: &Path) -> PathBuf {
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    PathBuf::from(format!("{stem}.params.npz"))
}

fn print_summary(
    spec: &TrainSpec,
    trainer: &Trainer,
    trained: u64,
    loop_time: Duration,
    setup_time: Duration,
    eval: &nde_compiler::driver::train::Evaluation,
    out: &Path,
) {
    let per_step = if trained > 0 { loop_time.as_secs_f64() / trained as f64 } else { 0.0 };
    let last = trainer.history.last().map(|r| r.loss).unwrap_or(f64::NAN);
    println!(
        "trained `{}` for {} steps ({} this run) in {:.2} s ({:.3} ms/step; setup {:.1} ms)",
        spec.loss,
        trainer.steps_done(),
        trained,
        loop_time.as_secs_f64(),
        per_step * 1e3,
        setup_time.as_secs_f64() * 1e3
    );
    println!(
        "last step loss {last:.6e}; on the whole data: loss {:.6e}, {:.0} NFE, {:.0} steps",
        eval.loss, eval.nfe, eval.steps
    );
    println!("parameters written to {}", out.display());
}

fn write_history(path: &Path, history: &[StepRecord]) -> Result<(), io::IoError> {
    let table = io::Table {
        columns: ["step", "loss", "nfe", "grad_norm", "lr"].map(String::from).to_vec(),
        data: history.iter().flat_map(|r| [r.step as f64, r.loss, r.nfe, r.grad_norm, r.lr]).collect(),
    };
    io::write_csv(path, &table)
}

/// Draws the loss per step (log scale) as SVG, written whole or not at all.
fn plot_loss(path: &Path, history: &[StepRecord]) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let points: Vec<(f64, f64)> =
        history.iter().filter(|r| r.loss.is_finite() && r.loss > 0.0).map(|r| (r.step as f64, r.loss)).collect();
    let (lo, hi) = points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(_, l)| (lo.min(l), hi.max(l)));
    let (lo, hi) = if lo.is_finite() { (lo * 0.9, hi * 1.1) } else { (1e-3, 1.0) };
    let last = history.last().map(|r| r.step as f64).unwrap_or(1.0).max(1.0);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 480)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("training loss", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..last, (lo..hi).log_scale())?;
        chart.configure_mesh().x_desc("step").y_desc("loss").draw()?;
        chart.draw_series(LineSeries::new(points, &BLUE))?;
        root.present()?;
    }
    io::write_atomic(path, |f| std::io::Write::write_all(f, svg.as_bytes()))?;
    Ok(())
}
