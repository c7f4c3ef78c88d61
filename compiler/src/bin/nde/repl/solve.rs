//! `:solve`, `:train` and `:plot`: the REPL's use of compiled kernels.
//!
//! Owns what these commands keep between entries: kernels compiled on first
//! use and cached by the model's IR (a redefinition that changes a model
//! compiles it again), the parameters training found (used by later
//! solves and training of the same model, dropped when the model changes),
//! the last solution and the last loss history (for `:plot`). Solves go
//! through the driver's one ODE entry (`driver::solve_ode`) and training
//! through `driver::train::Trainer`, as `nde run` and `nde train` do.

use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nde_compiler::codegen::JitOptions;
use nde_compiler::driver::train::{StepRecord, TrainFailure, TrainOptions, Trainer};
use nde_compiler::driver::{self, FrontendOptions, ModelField, ModelKernels, OdeSolver};
use nde_compiler::ir::print::print_model;
use nde_compiler::ir::training::BatchSpec;
use nde_compiler::ir::ModelIr;

use super::plot::{self, Figure, Series};
use super::{print, Repl, ReplError};

/// What the solve and train commands keep.
#[derive(Default)]
pub struct State {
    /// Compiled kernels by model name, with the IR text they were compiled from.
    kernels: HashMap<String, (String, Rc<ModelKernels>)>,
    /// Trained parameters by model name.
    trained: HashMap<String, Vec<f64>>,
    last: Option<Plotted>,
    history: Option<(String, Vec<StepRecord>)>,
}

/// The last solution, as columns against time.
struct Plotted {
    title: String,
    t: Vec<f64>,
    series: Vec<(String, Vec<f64>)>,
}

impl State {
    /// Forgets what belongs to the models in `changed`; returns the models
    /// whose trained parameters were dropped.
    pub fn forget(&mut self, changed: &[String]) -> Vec<String> {
        let mut dropped = Vec::new();
        for name in changed {
            self.kernels.remove(name);
            if self.trained.remove(name).is_some() {
                dropped.push(name.clone());
            }
        }
        dropped
    }

    /// The model's kernels, compiled now unless its IR is unchanged since the last time.
    fn kernels(&mut self, model: &ModelIr) -> Result<Rc<ModelKernels>, ReplError> {
        let ir = print_model(model);
        if let Some((cached, k)) = self.kernels.get(&model.name) {
            if *cached == ir {
                return Ok(k.clone());
            }
        }
        let k = driver::compile_model(model, &JitOptions::default())
            .map_err(|e| ReplError::Model(format!("code generation failed: {e}")))?;
        let k = Rc::new(k);
        self.kernels.insert(model.name.clone(), (ir, k.clone()));
        Ok(k)
    }

    /// The model's current parameters: trained ones if any, else its initial values.
    fn params(&self, model: &ModelIr) -> Vec<f64> {
        match self.trained.get(&model.name) {
            Some(p) if p.len() == model.param_values.len() => p.clone(),
            _ => model.param_values.clone(),
        }
    }
}

/// `key=value` options after a name.
fn options(words: &[&str], known: &[&str]) -> Result<HashMap<String, String>, ReplError> {
    let mut out = HashMap::new();
    for w in words {
        let (k, v) = w.split_once('=').ok_or_else(|| {
            ReplError::Usage(format!("expected KEY=VALUE, found `{w}` (options: {})", known.join(", ")))
        })?;
        let k = k.trim_start_matches('-').replace('-', "_");
        if !known.contains(&k.as_str()) {
            return Err(ReplError::Usage(format!("unknown option `{k}`; options: {}", known.join(", "))));
        }
        out.insert(k, v.to_string());
    }
    Ok(out)
}

fn number<T: std::str::FromStr>(opts: &HashMap<String, String>, key: &str) -> Result<Option<T>, ReplError> {
    opts.get(key).map(|v| v.parse::<T>().map_err(|_| ReplError::Usage(format!("{key}={v}: not a number")))).transpose()
}

const SOLVE_OPTIONS: &[&str] = &["t0", "t1", "saves", "at", "solver", "rtol", "atol", "dt", "max_steps"];

/// `:solve MODEL [t1=.. t0=.. saves=.. at=.. solver=.. rtol=.. atol=.. dt=.. max_steps=..]`.
pub fn solve(r: &mut Repl, args: &str) -> Result<(), ReplError> {
    let words: Vec<&str> = args.split_whitespace().collect();
    let program = r.session.program();
    let model = driver::select_model(program, words.first().copied()).map_err(|e| ReplError::Usage(e.to_string()))?;
    if model.is_sde() || model.is_cde() {
        let kind = if model.is_sde() { "an SDE" } else { "a controlled (CDE)" };
        return Err(ReplError::Usage(format!("`{}` is {kind} model: solve it with `nde run`", model.name)));
    }
    let opts = options(&words[1..], SOLVE_OPTIONS)?;
    let t0 = number::<f64>(&opts, "t0")?.unwrap_or(0.0);
    let saveat = match (opts.get("at"), number::<f64>(&opts, "t1")?) {
        (Some(at), _) => times(at)?,
        (None, Some(t1)) => linspace(t0, t1, number::<usize>(&opts, "saves")?.unwrap_or(101).max(2)),
        (None, None) => return Err(ReplError::Usage(format!("give the end time: :solve {} t1=10", model.name))),
    };
    if saveat.iter().any(|&t| t < t0) {
        return Err(ReplError::Usage(format!("output times start at t0 = {t0}")));
    }
    let solver = ode_solver(program, &opts)?;
    let model = model.clone();
    let params = r.solve.params(&model);
    let kernels = r.solve.kernels(&model)?;
    let field = ModelField::new(&kernels, &params);
    let y0 = driver::initial_state(&model, &params, t0)
        .map_err(|e| ReplError::Model(format!("evaluating the initial state: {e}")))?;
    let start = Instant::now();
    let solved = driver::solve_ode(&field, &solver, t0, &y0, &saveat).map_err(|e| ReplError::Solve(e.to_string()))?;
    let elapsed = start.elapsed();
    let sol = solved.solution;
    let n = model.n_state();
    let mut names = driver::state_columns(&model);
    names.extend(driver::output_columns(&model));
    let mut rows: Vec<Vec<f64>> = Vec::with_capacity(sol.t.len());
    for (k, y) in sol.y.chunks(n.max(1)).enumerate() {
        let mut row = y.to_vec();
        let out = driver::output_values(&model, &params, sol.t[k], y)
            .map_err(|e| ReplError::Model(format!("computing the outputs at t = {}: {e}", sol.t[k])))?;
        row.extend(out);
        rows.push(row);
    }
    let t_end = sol.t.last().copied().unwrap_or(t0);
    println!(
        "{}: {} from t = {} to {}, {} saves",
        model.name,
        solver.name(),
        print::short(t0),
        print::short(t_end),
        sol.t.len()
    );
    let last = rows.last().cloned().unwrap_or_default();
    let mut table = vec![vec!["".to_string(), format!("t = {}", print::short(t_end))]];
    table.extend(names.iter().zip(&last).map(|(name, v)| vec![name.clone(), print::short(*v)]));
    if table.len() > 25 {
        let more = table.len() - 21;
        table.truncate(21);
        table.push(vec![format!("… {more} more"), String::new()]);
    }
    print!("{}", print::table(&table, &[0]));
    let s = sol.stats;
    let mut line =
        format!("nfe {}  steps {} accepted, {} rejected  ({:.1} ms)", s.nfe, s.accepted, s.rejected, ms(elapsed));
    if s.njev > 0 || s.nlu > 0 {
        line += &format!("  njev {}  nlu {}  nnewton {}", s.njev, s.nlu, s.nnewton);
    }
    println!("{line}");
    let series =
        names.iter().enumerate().map(|(c, name)| (name.clone(), rows.iter().map(|r| r[c]).collect())).collect();
    r.solve.last = Some(Plotted { title: model.name.clone(), t: sol.t, series });
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `solver=NAME` (a declared solver or a method), else the session's only
/// solver declaration, else tsit5; with the tolerance options over it.
fn ode_solver(program: &nde_compiler::ir::ProgramIr, opts: &HashMap<String, String>) -> Result<OdeSolver, ReplError> {
    let usage = |e: driver::SolverChoiceError| ReplError::Usage(e.to_string());
    let spec = match opts.get("solver") {
        Some(name) => program.solver(name),
        None if program.solvers.len() == 1 => program.solvers.first(),
        None => None,
    };
    let solver = match spec {
        Some(s) => OdeSolver::named(&s.method).map_err(usage)?.with(
            driver::solver_option(s, "rtol"),
            driver::solver_option(s, "atol"),
            driver::solver_option(s, "dt"),
            driver::solver_option(s, "max_steps").map(|v| v as usize),
        ),
        None => OdeSolver::named(opts.get("solver").map(String::as_str).unwrap_or("tsit5")).map_err(usage)?,
    };
    let solver =
        solver.with(number(opts, "rtol")?, number(opts, "atol")?, number(opts, "dt")?, number(opts, "max_steps")?);
    solver.check().map_err(usage)?;
    Ok(solver)
}

/// `0,0.5,2` or `START:STOP:COUNT`.
fn times(spec: &str) -> Result<Vec<f64>, ReplError> {
    let bad = || ReplError::Usage(format!("at={spec}: expected a list `0,0.5,2` or START:STOP:COUNT"));
    let parts: Vec<&str> = spec.split(':').collect();
    let times = if let [a, b, n] = parts[..] {
        let (a, b, n) = (a.parse::<f64>(), b.parse::<f64>(), n.parse::<usize>());
        match (a, b, n) {
            (Ok(a), Ok(b), Ok(n)) if n >= 1 => linspace(a, b, n),
            _ => return Err(bad()),
        }
    } else {
        spec.split(',').map(|s| s.trim().parse::<f64>().map_err(|_| bad())).collect::<Result<Vec<_>, _>>()?
    };
    if times.is_empty() || times.iter().any(|t| !t.is_finite()) || times.windows(2).any(|w| w[1] < w[0]) {
        return Err(bad());
    }
    Ok(times)
}

fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![a];
    }
    (0..n).map(|i| if i == n - 1 { b } else { a + (b - a) * i as f64 / (n - 1) as f64 }).collect()
}

fn train_failure(e: TrainFailure) -> ReplError {
    match e {
        TrainFailure::Setup(_) | TrainFailure::Codegen(_) => ReplError::Model(e.to_string()),
        TrainFailure::Solve { .. } | TrainFailure::Optimizer { .. } => ReplError::Solve(e.to_string()),
        TrainFailure::File(_) | TrainFailure::BadCheckpoint(_) => ReplError::File(e.to_string()),
    }
}

/// `:train [LOSS] [STEPS]`: the session's train block for LOSS (or its only
/// one), from the parameters trained so far; Ctrl-C stops between steps.
pub fn train(r: &mut Repl, args: &str) -> Result<(), ReplError> {
    let mut loss = None;
    let mut steps = None;
    for w in args.split_whitespace() {
        match w.parse::<u64>() {
            Ok(n) => steps = Some(n),
            Err(_) => loss = Some(w),
        }
    }
    let program = r.session.program();
    let names: Vec<&str> = program.trains.iter().map(|t| t.loss.as_str()).collect();
    let spec = match (loss, program.trains.as_slice()) {
        (Some(l), trains) => trains.iter().find(|t| t.loss == l).ok_or_else(|| {
            ReplError::Usage(format!("no `train {l}` block; the session trains: {}", list_or_none(&names)))
        })?,
        (None, [only]) => only,
        (None, []) => return Err(ReplError::Usage("the session has no `train LOSS { ... }` block".into())),
        (None, _) => return Err(ReplError::Usage(format!("several train blocks ({}): name one", names.join(", ")))),
    };
    let spec = spec.clone();
    let windowed = match spec.batch {
        BatchSpec::Windows { length, .. } => {
            let data = program.loss(&spec.loss).map(|l| l.data.clone()).unwrap_or_default();
            Some(r.session.recheck(&FrontendOptions { data_times: vec![(data, length)], ..Default::default() })?)
        }
        _ => None,
    };
    let opts = TrainOptions { steps, ..Default::default() };
    let mut trainer = Trainer::new(r.session.program(), windowed.as_ref(), &spec, &opts).map_err(train_failure)?;
    let model = trainer.model().name.clone();
    if let Some(p) = r.solve.trained.get(&model).filter(|p| p.len() == trainer.params().len()) {
        trainer.set_params(p.clone());
    }
    let bar = ProgressBar::with_draw_target(Some(trainer.total_steps), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} steps  {msg}  eta {eta}  (Ctrl-C stops)")
        .map_err(|e| ReplError::Model(e.to_string()))?
        .progress_chars("=> ");
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    let start = Instant::now();
    let mut stopped = false;
    let mut failure = None;
    while !trainer.is_finished() {
        if super::interrupted() {
            stopped = true;
            break;
        }
        match trainer.step() {
            Ok(record) => {
                bar.set_position(record.step);
                bar.set_message(format!("loss {:.4e}", record.loss));
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    bar.finish_and_clear();
    let elapsed = start.elapsed();
    // The steps taken so far count, whatever stopped the loop.
    r.solve.trained.insert(model.clone(), trainer.params().to_vec());
    r.solve.history = Some((spec.loss.clone(), trainer.history.clone()));
    if let Some(e) = failure {
        return Err(train_failure(e));
    }
    let (first, last) = match (trainer.history.first(), trainer.history.last()) {
        (Some(a), Some(b)) => (a.loss, b.loss),
        _ => (f64::NAN, f64::NAN),
    };
    let done = trainer.steps_done();
    println!(
        "trained `{}` ({model}) for {done} steps in {:.2} s: loss {} -> {}",
        spec.loss,
        elapsed.as_secs_f64(),
        print::short(first),
        print::short(last)
    );
    if stopped {
        println!("interrupted after step {done} of {}; the parameters so far are kept", trainer.total_steps);
    } else {
        let eval = trainer.evaluate().map_err(train_failure)?;
        println!("on the whole data: loss {}, {:.0} NFE per solve", print::short(eval.loss), eval.nfe);
    }
    println!("`:solve {model}` now uses the trained parameters");
    Ok(())
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "nothing".into()
    } else {
        names.join(", ")
    }
}

/// `:plot [loss] [NAMES...] [FILE.svg|FILE.png]`.
pub fn plot(r: &mut Repl, args: &str) -> Result<(), ReplError> {
    let mut file = None;
    let mut names = Vec::new();
    for w in args.split_whitespace() {
        let lower = w.to_ascii_lowercase();
        if lower.ends_with(".svg") || lower.ends_with(".png") {
            file = Some(w);
        } else {
            names.push(w);
        }
    }
    let loss_plot;
    let (title, x_name, x, all): (&str, &str, &[f64], &[Series]) = if names == ["loss"] {
        let (loss, history) =
            r.solve.history.as_ref().ok_or_else(|| ReplError::Usage("no training yet: :train first".into()))?;
        let steps: Vec<f64> = history.iter().map(|h| h.step as f64).collect();
        loss_plot = (steps, vec![(loss.clone(), history.iter().map(|h| h.loss).collect::<Vec<f64>>())]);
        names.clear();
        ("training loss", "step", &loss_plot.0, &loss_plot.1)
    } else {
        let last =
            r.solve.last.as_ref().ok_or_else(|| ReplError::Usage("nothing to plot: :solve a model first".into()))?;
        (&last.title, "t", &last.t, &last.series)
    };
    let series: Vec<(String, Vec<f64>)> = if names.is_empty() {
        all.iter().take(10).cloned().collect()
    } else {
        let mut chosen = Vec::new();
        for n in &names {
            let found: Vec<_> = all
                .iter()
                .filter(|(c, _)| c == n || c.strip_prefix(n).is_some_and(|r| r.starts_with('[')))
                .cloned()
                .collect();
            if found.is_empty() {
                let known: Vec<&str> = all.iter().map(|(c, _)| c.as_str()).collect();
                return Err(ReplError::Usage(format!(
                    "no column `{n}` to plot; the solution has: {}",
                    known.join(", ")
                )));
            }
            chosen.extend(found);
        }
        chosen
    };
    match file {
        Some(path) => {
            let fig = Figure { title, x_name, x, series: &series };
            plot::save(Path::new(path), &fig).map_err(|e| ReplError::File(format!("{path}: {e}")))?;
            println!("plot written to {path}");
        }
        None => print!("{}", print::text_plot(x_name, x, &series, 64, 16)),
    }
    Ok(())
}
