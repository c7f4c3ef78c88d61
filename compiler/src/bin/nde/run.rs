//! `nde run`: solve a model and write its trajectory.

use std::path::{Path, PathBuf};

use nde_compiler::codegen::JitOptions;
use nde_compiler::driver::cde;
use nde_compiler::driver::choice::{self, SdeChoiceError, SolverRequest};
use nde_compiler::driver::sde::{ModelSdeField, SdeKernels};
use nde_compiler::driver::train::materialize_data;
use nde_compiler::driver::{self, sparse, FrontendOptions, ModelField, OdeSolver, SolverChoiceError};
use nde_compiler::ir::{ModelIr, SolverSpec};
use nde_runtime::io::{self, Array, Table};
use nde_runtime::sde::{sde_solve_batch, SdeOptions};
use nde_runtime::stiff::{JacField, Switch};
use nde_runtime::{SolveOptions, Stats};

use crate::{exit, fail, render};

mod gpu;

#[derive(clap::Args)]
pub struct RunArgs {
    /// The .nde file.
    file: PathBuf,
    /// Which model to solve (needed when the file defines several).
    #[arg(long)]
    model: Option<String>,
    /// A solver declared in the file (`solver fast = tsit5(...)`) or a method:
    /// euler, midpoint, heun, rk4 (fixed step, need --dt), bosh3, dopri5, tsit5;
    /// stiff: rodas5, radau5, kvaerno5, bdf; auto (tsit5, switching to rodas5 where the problem is stiff).
    /// Default: the file's only solver declaration, else tsit5.
    #[arg(long)]
    solver: Option<String>,
    /// Relative tolerance of adaptive methods (default 1e-6, or the solver declaration's).
    #[arg(long)]
    rtol: Option<f64>,
    /// Absolute tolerance of adaptive methods (default 1e-9, or the solver declaration's).
    #[arg(long)]
    atol: Option<f64>,
    /// Step size: required for fixed-step methods; the first step for adaptive ones.
    #[arg(long)]
    dt: Option<f64>,
    /// Give up after this many steps (default 100000).
    #[arg(long)]
    max_steps: Option<usize>,
    /// Start time.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    t0: f64,
    /// End time (required unless --at is given).
    #[arg(long, allow_hyphen_values = true)]
    t1: Option<f64>,
    /// Number of equally spaced output times from t0 to t1, both included.
    #[arg(long, default_value_t = 101)]
    saves: usize,
    /// Output times: a list `0,0.5,2` or `START:STOP:COUNT` (COUNT equally spaced points).
    #[arg(long, allow_hyphen_values = true)]
    at: Option<String>,
    /// Parameter values from a numpy .npz (arrays named like the parameters: `f.W1`, or `W1` when unambiguous).
    #[arg(long)]
    params: Option<PathBuf>,
    /// Initial states for a batch: .npz (its only array, or the one named `y0`), .npy or .csv, shape [batch, n_state].
    #[arg(long)]
    y0: Option<PathBuf>,
    /// Output file: .csv (header `t`, then state names; `traj` first for a batch) or .npz (`t`, `y`). Default: CSV on stdout.
    #[arg(short, long)]
    out: Option<PathBuf>,
    /// Print the number of right-hand-side evaluations and steps to stderr (stiff solvers: also Jacobians,
    /// LU factorisations and Newton iterations; auto: where it switched method).
    #[arg(long)]
    stats: bool,
    /// Print the time each stage took to stderr.
    #[arg(long)]
    timings: bool,
    /// Worker threads for batches (0: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Seed for parameter initialisers (glorot, normal).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// SDE models: number of sample paths from the model's initial state (each its own Brownian motion).
    #[arg(long, default_value_t = 1)]
    paths: usize,
    /// SDE models: seed of the Brownian motion (path `b` uses stream `b` of it; same seed, same paths).
    #[arg(long, default_value_t = 0)]
    noise_seed: u64,
    /// Where to solve: cpu; gpu (the whole ensemble in one device kernel: tsit5/dopri5 for ODEs,
    /// euler_maruyama for Itô SDEs; needs a build with `--features gpu`); auto (a hardware GPU when one is
    /// found and the solver runs there, else the CPU, with a note).
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    device: Device,
    /// Arithmetic on the GPU (default f32; f64 needs an adapter with SHADER_F64, see `nde devices`).
    /// The CPU always computes in f64.
    #[arg(long, value_enum)]
    precision: Option<PrecisionArg>,
    /// GPU adapter to use (an index from `nde devices`; default: the best GPU found).
    #[arg(long)]
    adapter: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Device {
    Cpu,
    Gpu,
    Auto,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PrecisionArg {
    F32,
    F64,
}

pub fn run(args: &RunArgs) -> u8 {
    match run_inner(args) {
        Ok(()) => 0,
        Err(code) => code,
    }
}

fn run_inner(args: &RunArgs) -> Result<(), u8> {
    let opts = FrontendOptions { seed: args.seed, ..Default::default() };
    let (checked, frontend_time) = driver::timed(|| driver::check_file(&args.file, &opts));
    let checked = checked.map_err(|failure| {
        render::emit(&failure.sources, &failure.diagnostics.0);
        exit::MODEL_ERRORS
    })?;
    let model = driver::select_model(&checked.program, args.model.as_deref()).map_err(|e| fail(exit::USAGE, e))?;
    let mut params = model.param_values.clone();
    if let Some(path) = &args.params {
        load_params(path, model, &mut params)?;
    }
    if args.precision == Some(PrecisionArg::F32) && args.device == Device::Cpu {
        return Err(fail(exit::USAGE, "--precision f32 is for the GPU (--device gpu); the CPU computes in f64"));
    }
    if model.is_cde() {
        if args.device == Device::Gpu {
            return Err(fail(exit::USAGE, "controlled models (CDEs) run on the CPU only: use --device cpu"));
        }
        let solver = ode_solver(args, &checked.program.solvers)?;
        let solve_opts = solver.explicit().map_err(|_| {
            let why =
                format!("{} is a stiff solver; controlled models (CDEs) are solved with explicit ones", solver.name());
            fail(exit::USAGE, why)
        })?;
        return run_cde(args, &checked.program, model, &params, &solve_opts);
    }
    let saveat = output_times(args)?;
    if args.device != Device::Cpu && gpu::run(args, &checked.program.solvers, model, &params, &saveat)? {
        return Ok(());
    }
    if model.is_sde() {
        return run_sde(args, &checked.program.solvers, model, &params, &saveat);
    }
    let solver = ode_solver(args, &checked.program.solvers)?;

    // A stiff solve of a large system takes its Jacobian from compiled JVPs
    // (sparse when the pattern is, `driver::sparse`): the dense symbolic
    // Jacobian grows as n² and is not built for it.
    let large_stiff = !matches!(solver, OdeSolver::Explicit(_)) && model.n_state() >= sparse::SPARSE_MIN_STATES;
    let (output, codegen_time, solve_time) = if large_stiff {
        let (kernels, codegen_time) = driver::timed(|| sparse::compile_sparse(model, &JitOptions::default()));
        let kernels = kernels.map_err(|e| fail(exit::MODEL_ERRORS, format!("code generation failed: {e}")))?;
        let field = sparse::SparseModelField::new(&kernels, &params);
        let (output, solve_time) = driver::timed(|| solve_run(args, model, &params, &field, &solver, &saveat));
        (output?, codegen_time, solve_time)
    } else {
        let (kernels, codegen_time) = driver::timed(|| driver::compile_model(model, &JitOptions::default()));
        let kernels = kernels.map_err(|e| fail(exit::MODEL_ERRORS, format!("code generation failed: {e}")))?;
        let field = ModelField::new(&kernels, &params);
        let (output, solve_time) = driver::timed(|| solve_run(args, model, &params, &field, &solver, &saveat));
        (output?, codegen_time, solve_time)
    };

    write_output(args.out.as_deref(), model, &params, &output)?;
    if args.stats {
        print_stats(&output.stats);
        print_switches(&output.switches);
    }
    if args.timings {
        eprintln!(
            "timings: frontend {:.3} ms, codegen {:.3} ms, solve {:.3} ms",
            frontend_time.as_secs_f64() * 1e3,
            codegen_time.as_secs_f64() * 1e3,
            solve_time.as_secs_f64() * 1e3
        );
    }
    Ok(())
}

/// `nde run`'s ODE solve: from the model's initial state, or from each row of `--y0`.
fn solve_run<F: JacField>(
    args: &RunArgs,
    model: &ModelIr,
    params: &[f64],
    field: &F,
    solver: &OdeSolver,
    saveat: &[f64],
) -> Result<Output, u8> {
    match &args.y0 {
        None => {
            let y0 = driver::initial_state(model, params, saveat[0].min(args.t0))
                .map_err(|e| fail(exit::MODEL_ERRORS, format!("evaluating the initial state: {e}")))?;
            check_finite_state(model, &y0)?;
            let solved =
                driver::solve_ode(field, solver, args.t0, &y0, saveat).map_err(|e| fail(exit::SOLVE_FAILED, e))?;
            let sol = solved.solution;
            Ok(Output { t: sol.t, y: sol.y, batch: None, stats: vec![sol.stats], switches: solved.switches })
        }
        Some(path) => {
            let y0s = read_initial_states(path, model.n_state())?;
            let sol = driver::solve_ode_batch(field, solver, args.t0, &y0s, saveat, args.threads)
                .map_err(|e| fail(exit::SOLVE_FAILED, e))?;
            Ok(Output { t: sol.t, y: sol.y, batch: Some(sol.batch), stats: sol.stats, switches: Vec::new() })
        }
    }
}

/// The command line's solver request.
fn request(args: &RunArgs) -> SolverRequest<'_> {
    SolverRequest {
        name: args.solver.as_deref(),
        rtol: args.rtol,
        atol: args.atol,
        dt: args.dt,
        max_steps: args.max_steps,
    }
}

/// `nde run` for a controlled model (`input X = ...`): one solve per
/// trajectory of the input's data, from the path's first time, saved at the
/// data's times unless `--at`/`--t1` say otherwise.
fn run_cde(
    args: &RunArgs,
    program: &nde_compiler::ir::ProgramIr,
    model: &ModelIr,
    params: &[f64],
    opts: &SolveOptions,
) -> Result<(), u8> {
    let control = cde::control_of(model).map_err(|e| fail(exit::MODEL_ERRORS, e))?;
    let data = program
        .data_set(&control.data)
        .ok_or_else(|| fail(exit::MODEL_ERRORS, format!("no data set `{}`", control.data)))?;
    let series = materialize_data(program, data, &JitOptions::default()).map_err(|e| fail(exit::SOLVE_FAILED, e))?;
    let paths = cde::control_paths(control, &series).map_err(|e| fail(exit::MODEL_ERRORS, e))?;
    let saveat = if args.at.is_some() || args.t1.is_some() { output_times(args)? } else { series.t.clone() };
    let kernels = driver::compile_model(model, &JitOptions::default())
        .map_err(|e| fail(exit::MODEL_ERRORS, format!("code generation failed: {e}")))?;
    let (mut y, mut stats) = (Vec::new(), Vec::new());
    for (b, path) in paths.iter().enumerate() {
        let y0 = cde::initial_state(model, params, path)
            .map_err(|e| fail(exit::MODEL_ERRORS, format!("evaluating the initial state: {e}")))?;
        check_finite_state(model, &y0)?;
        let sol = cde::solve_cde(&kernels, params, path, &y0, &saveat, opts).map_err(|e| {
            let which = if paths.len() > 1 { format!("trajectory {b}: ") } else { String::new() };
            fail(exit::SOLVE_FAILED, format!("{which}{e}"))
        })?;
        y.extend(sol.y);
        stats.push(sol.stats);
    }
    let batch = (paths.len() > 1).then_some(paths.len());
    let output = Output { t: saveat, y, batch, stats, switches: Vec::new() };
    write_output(args.out.as_deref(), model, params, &output)?;
    if args.stats {
        print_stats(&output.stats);
    }
    Ok(())
}

/// `nde run` for a model with noise terms: `--paths` sample paths (or the
/// `--y0` batch) through an SDE solver, seeded by `--noise-seed`.
fn run_sde(args: &RunArgs, declared: &[SolverSpec], model: &ModelIr, params: &[f64], saveat: &[f64]) -> Result<(), u8> {
    let opts = sde_options(args, declared, model)?;
    let kernels = SdeKernels::compile(model, &JitOptions::default())
        .map_err(|e| fail(exit::MODEL_ERRORS, format!("code generation failed: {e}")))?;
    let field = ModelSdeField::new(&kernels, params);
    let n = model.n_state();
    let (y0s, batch) = sde_initial_states(args, model, params, n)?;
    let sol = sde_solve_batch(&field, args.t0, &y0s, saveat, &opts, args.noise_seed, args.threads)
        .map_err(|e| fail(exit::SOLVE_FAILED, e))?;
    let output = Output { t: sol.t, y: sol.y, batch, stats: sol.stats, switches: Vec::new() };
    write_output(args.out.as_deref(), model, params, &output)?;
    if args.stats {
        print_stats(&output.stats);
    }
    Ok(())
}

/// The SDE solver options of `--solver` (or the declaration, else the
/// model's default method) with the command line's over them.
fn sde_options(args: &RunArgs, declared: &[SolverSpec], model: &ModelIr) -> Result<SdeOptions, u8> {
    choice::sde_options(&request(args), declared, model).map_err(|e| match e {
        SdeChoiceError::NeedsDt { method } => {
            fail(exit::USAGE, format!("{method} takes fixed steps: give the step size with --dt"))
        }
        e => fail(exit::USAGE, e),
    })
}

/// An SDE run's initial states: the `--y0` rows, or the model's initial
/// state once per `--paths`; with the batch size when there is a batch.
fn sde_initial_states(
    args: &RunArgs,
    model: &ModelIr,
    params: &[f64],
    n: usize,
) -> Result<(Vec<f64>, Option<usize>), u8> {
    Ok(match &args.y0 {
        Some(path) => {
            let y0s = read_initial_states(path, n)?;
            let b = y0s.len() / n;
            (y0s, Some(b))
        }
        None => {
            let y0 = driver::initial_state(model, params, args.t0)
                .map_err(|e| fail(exit::MODEL_ERRORS, format!("evaluating the initial state: {e}")))?;
            check_finite_state(model, &y0)?;
            let paths = args.paths.max(1);
            (y0.repeat(paths), (paths > 1).then_some(paths))
        }
    })
}

/// Overwrites `params` from the arrays of a `.npz` named like the model's parameters, with notes on what it left alone.
pub fn load_params(path: &Path, model: &ModelIr, params: &mut [f64]) -> Result<(), u8> {
    let arrays = io::read_npz(path).map_err(|e| fail(exit::FILE_ERROR, e))?;
    let report = driver::apply_param_arrays(model, params, &arrays)
        .map_err(|e| fail(exit::FILE_ERROR, format!("{}: {e}", path.display())))?;
    if !report.kept.is_empty() {
        eprintln!("note: {} does not set {}; they keep their initial values", path.display(), report.kept.join(", "));
    }
    if !report.unused.is_empty() {
        eprintln!("note: ignoring arrays of {} that match no parameter: {}", path.display(), report.unused.join(", "));
    }
    Ok(())
}

struct Output {
    t: Vec<f64>,
    /// `[batch][t][n_state]` row-major (no batch axis for a single solve).
    y: Vec<f64>,
    batch: Option<usize>,
    stats: Vec<Stats>,
    /// Where an `auto` solve switched method (single solves only).
    switches: Vec<Switch>,
}

/// The ODE solver `--solver` (or the file's only declaration, else tsit5)
/// stands for, with `--rtol`, `--atol`, `--dt`, `--max-steps` over its options.
fn ode_solver(args: &RunArgs, declared: &[SolverSpec]) -> Result<OdeSolver, u8> {
    choice::ode_solver(&request(args), declared).map_err(|e| match e {
        SolverChoiceError::NeedsDt { method } => {
            fail(exit::USAGE, format!("{method} is a fixed-step method: give a step size with --dt"))
        }
        e => {
            let names: Vec<_> = declared.iter().map(|s| s.name.as_str()).collect();
            let extra = if names.is_empty() {
                String::new()
            } else {
                format!(" (solvers declared in the file: {})", names.join(", "))
            };
            fail(exit::USAGE, format!("{e}{extra}"))
        }
    })
}

fn output_times(args: &RunArgs) -> Result<Vec<f64>, u8> {
    let bad = |msg: String| fail(exit::USAGE, msg);
    let times: Vec<f64> = match &args.at {
        Some(spec) if spec.matches(':').count() == 2 => {
            let parts: Vec<&str> = spec.split(':').collect();
            let (a, b, n) =
                (parts[0].trim().parse::<f64>(), parts[1].trim().parse::<f64>(), parts[2].trim().parse::<usize>());
            match (a, b, n) {
                (Ok(a), Ok(b), Ok(n)) if n >= 1 => choice::linspace(a, b, n),
                _ => return Err(bad(format!("--at {spec}: expected START:STOP:COUNT, e.g. 0:10:11"))),
            }
        }
        Some(spec) => spec
            .split(',')
            .map(|s| s.trim().parse::<f64>().map_err(|_| bad(format!("--at: `{s}` is not a number"))))
            .collect::<Result<_, _>>()?,
        None => match args.t1 {
            Some(t1) => choice::linspace(args.t0, t1, args.saves.max(2)),
            None => return Err(bad("give the end time with --t1 (or output times with --at)".to_string())),
        },
    };
    if times.is_empty() || times.iter().any(|t| !t.is_finite()) {
        return Err(bad("output times must be finite numbers".to_string()));
    }
    if times.windows(2).any(|w| w[1] < w[0]) {
        return Err(bad("output times must be in increasing order".to_string()));
    }
    if times[0] < args.t0 {
        return Err(bad(format!("output time {} is before the start time t0 = {}", times[0], args.t0)));
    }
    Ok(times)
}

fn check_finite_state(model: &ModelIr, y0: &[f64]) -> Result<(), u8> {
    match y0.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(fail(
            exit::SOLVE_FAILED,
            format!("the initial state is not finite: {} = {}", driver::state_columns(model)[i], y0[i]),
        )),
    }
}

fn read_initial_states(path: &Path, n: usize) -> Result<Vec<f64>, u8> {
    let file_err = |e: io::IoError| fail(exit::FILE_ERROR, e);
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let (shape, data) = match ext {
        "npz" => {
            let arrays = io::read_npz(path).map_err(file_err)?;
            let pick = arrays.iter().find(|a| a.name == "y0").or(if arrays.len() == 1 { arrays.first() } else { None });
            let Some(a) = pick else {
                let names: Vec<_> = arrays.iter().map(|a| a.name.as_str()).collect();
                return Err(fail(
                    exit::FILE_ERROR,
                    format!("{}: no array named `y0` (arrays: {})", path.display(), names.join(", ")),
                ));
            };
            (a.shape.clone(), a.data.clone())
        }
        "npy" => {
            let a = io::read_npy(path).map_err(file_err)?;
            (a.shape, a.data)
        }
        "csv" => {
            let t = io::read_csv(path).map_err(file_err)?;
            (vec![t.rows(), t.columns.len()], t.data)
        }
        _ => return Err(fail(exit::USAGE, format!("{}: --y0 reads .npz, .npy or .csv", path.display()))),
    };
    let ok = match shape.as_slice() {
        [b, m] => *m == n && *b > 0,
        [m] => *m == n,
        _ => false,
    };
    if !ok {
        return Err(fail(
            exit::FILE_ERROR,
            format!("{}: initial states have shape {shape:?}; expected [batch, {n}]", path.display()),
        ));
    }
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(fail(
            exit::FILE_ERROR,
            format!("{}: initial state {} (row {}) is not finite", path.display(), i % n, i / n),
        ));
    }
    Ok(data)
}

/// Writes the trajectory: the states and, after them, the model's
/// `output`s computed at every saved state (CSV columns `logits[0]`, ...;
/// in `.npz` one array per output, `[T, len]` or `[batch, T, len]`).
fn write_output(out: Option<&Path>, model: &ModelIr, params: &[f64], o: &Output) -> Result<(), u8> {
    let n = model.n_state();
    let nt = o.t.len();
    let rows = o.y.len() / n.max(1);
    let width: usize = model.outputs.iter().map(|x| x.shape.len()).sum();
    let mut outputs = Vec::with_capacity(rows * width);
    for (row, y) in o.y.chunks(n.max(1)).enumerate() {
        let values = driver::output_values(model, params, o.t[row % nt], y)
            .map_err(|e| fail(exit::SOLVE_FAILED, format!("computing the outputs at t = {}: {e}", o.t[row % nt])))?;
        outputs.extend(values);
    }
    let is_npz = out.is_some_and(|p| p.extension().is_some_and(|e| e == "npz"));
    let result = if is_npz {
        let lead = |len: usize| {
            let mut shape = vec![nt, len];
            if let Some(b) = o.batch {
                shape.insert(0, b);
            }
            shape
        };
        let mut arrays = vec![Array::new("t", vec![nt], o.t.clone()), Array::new("y", lead(n), o.y.clone())];
        let mut at = 0;
        for x in &model.outputs {
            let len = x.shape.len();
            let values = outputs.chunks(width.max(1)).flat_map(|r| r[at..at + len].iter().copied()).collect();
            arrays.push(Array::new(x.name.clone(), lead(len), values));
            at += len;
        }
        io::write_npz(out.unwrap(), &arrays)
    } else {
        let mut columns = vec!["t".to_string()];
        columns.extend(driver::state_columns(model));
        columns.extend(driver::output_columns(model));
        let mut data = Vec::with_capacity(o.y.len() + rows * (width + 2));
        if o.batch.is_some() {
            columns.insert(0, "traj".to_string());
        }
        for (row, y) in o.y.chunks(n).enumerate() {
            if o.batch.is_some() {
                data.push((row / nt) as f64);
            }
            data.push(o.t[row % nt]);
            data.extend_from_slice(y);
            data.extend_from_slice(&outputs[row * width..(row + 1) * width]);
        }
        let table = Table { columns, data };
        match out {
            Some(path) => io::write_csv(path, &table),
            None => {
                let stdout = std::io::stdout();
                let mut lock = std::io::BufWriter::new(stdout.lock());
                io::write_csv_to(&mut lock, &table)
                    .and_then(|_| std::io::Write::flush(&mut lock))
                    .map_err(|e| io::IoError::Io { path: "<stdout>".into(), source: e })
            }
        }
    };
    result.map_err(|e| fail(exit::FILE_ERROR, e))
}

fn print_stats(stats: &[Stats]) {
    if let [s] = stats {
        let mut line = format!("nfe {}  steps {} accepted, {} rejected", s.nfe, s.accepted, s.rejected);
        if s.njev > 0 || s.nlu > 0 {
            line += &format!("  njev {}  nlu {}  nnewton {}", s.njev, s.nlu, s.nnewton);
        }
        eprintln!("{line}");
        return;
    }
    let total = |f: fn(&Stats) -> u64| stats.iter().map(f).sum::<u64>();
    let max_steps = stats.iter().map(|s| s.accepted + s.rejected).max().unwrap_or(0);
    eprintln!(
        "batch {}: nfe {} in total ({:.1} per trajectory)  steps {} accepted, {} rejected  (most steps in one trajectory: {max_steps})",
        stats.len(),
        total(|s| s.nfe),
        total(|s| s.nfe) as f64 / stats.len().max(1) as f64,
        total(|s| s.accepted),
        total(|s| s.rejected)
    );
    if stats.iter().any(|s| s.njev > 0) {
        eprintln!("njev {}  nlu {}  nnewton {} in total", total(|s| s.njev), total(|s| s.nlu), total(|s| s.nnewton));
    }
    if stats.iter().any(|s| s.switches > 0) {
        eprintln!("auto switched method {} times in total", total(|s| s.switches));
    }
}

/// `auto`'s switches, one line: `switches 2: rodas5 at t = 0.0012, tsit5 at t = 0.8`.
fn print_switches(switches: &[Switch]) {
    if switches.is_empty() {
        return;
    }
    let each: Vec<String> =
        switches.iter().map(|s| format!("{} at t = {}", if s.to_stiff { "rodas5" } else { "tsit5" }, s.t)).collect();
    eprintln!("switches {}: {}", switches.len(), each.join(", "));
}
