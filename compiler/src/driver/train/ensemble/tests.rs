//! Ensemble training against hand computations and finite differences:
//! the data statistics with missing values (alone and through a lowered
//! loss), `generate(..., paths = N)`, the gradient of an ensemble loss,
//! and reproducibility (thread count, evaluation, resumed runs).

use std::sync::Arc;

use nde_runtime::data::Series;

use super::*;
use crate::driver::frontend::MemoryLoader;
use crate::driver::train::{materialize_data, TrainOptions};
use crate::driver::{check_source, FrontendOptions};
use crate::ir::training::{DataSource, DataSpec};
use crate::ir::ProgramIr;
use crate::span::SourceMap;

fn program(text: &str) -> ProgramIr {
    let mut sources = SourceMap::new();
    let root = sources.add("m.nde", text);
    match check_source(sources, root, &MemoryLoader::new(), &FrontendOptions::default()) {
        Ok(c) => c.program,
        Err(f) => panic!("{}", f.diagnostics.0.iter().map(|d| d.render_plain(&f.sources)).collect::<String>()),
    }
}

fn trainer(p: &ProgramIr, threads: usize) -> Trainer {
    let opts = TrainOptions { threads, ..Default::default() };
    Trainer::new(p, None, &p.trains[0], &opts).unwrap_or_else(|e| panic!("{e}"))
}

/// An OU model with multiplicative noise and a parameter in the initial
/// state (so the gradient also flows through `init`), fitted to 8 paths of
/// a truth.
const OU: &str = r#"
model truth {
  param theta = 1.2
  param mu = 0.8
  param s = 0.3
  state x = 2.0
  dx = theta * (mu - x) dt + s * x dW
}
model m {
  param theta = 0.6
  param mu = 0.3
  param s = 0.2
  param x0 = 1.5
  state x = x0
  dx = theta * (mu - x) dt + s * x dW
}
data obs = generate(truth, at = linspace(0, 2, 11), with = euler_maruyama(dt = 0.05), paths = 8)
loss fit {
  let sol = solve(m, at = obs.t, with = SOLVER, paths = 16)
  mse(sol.mean, obs.mean) + 2 * mse(sol.var, obs.var) + 1e-3 * sol.nfe
}
train fit {
  optimizer = adam(lr = 0.05)
  steps = 6
  gradient = GRADIENT
  seed = 11
}
"#;

fn ou(solver: &str, gradient: &str) -> ProgramIr {
    program(&OU.replace("SOLVER", solver).replace("GRADIENT", gradient))
}

/// 3 trajectories, 2 times, 2 columns, NaN = missing.
fn series_with_gaps() -> Series {
    let nan = f64::NAN;
    #[rustfmt::skip]
    let y = vec![
        1.0, 2.0,   4.0, nan,
        3.0, nan,   5.0, nan,
        8.0, 6.0,   nan, 1.0,
    ];
    Series::from_values(vec![0.0, 1.0], vec!["a".into(), "b".into()], 3, y).unwrap()
}

#[test]
fn data_statistics_leave_out_missing_values() {
    let s = DataStats::of(&series_with_gaps());
    // Entry by entry: [1, 3, 8], [2, 6], [4, 5], [1] (one observation: missing).
    assert_eq!(s.mask, [1.0, 1.0, 1.0, 0.0]);
    assert_eq!(s.mean, [4.0, 4.0, 4.5, 0.0]);
    assert_eq!(s.var, [13.0, 8.0, 0.5, 0.0]);
}

/// `DATA.mean` and `DATA.var` through sema, lowering, the loss kernel and
/// the trainer's input buffer: a loss of the statistics alone, by hand.
#[test]
fn a_loss_reads_the_data_statistics_with_their_mask() {
    let mut p = program(
        "model m {\n  param s = 0.5\n  state a = 1.0, b = 2.0\n  da = -a dt + s dW\n  db = -b dt + s dW\n}\n\
         data obs = generate(m, at = [0, 1], with = euler_maruyama(dt = 0.1), paths = 3)\n\
         loss l {\n  let sol = solve(m, at = obs.t, with = euler_maruyama(dt = 0.1), paths = 4)\n  \
         mean(obs.mean) + 10 * sum(obs.var) + 0 * mean(sol.var)\n}\n\
         train l {\n  optimizer = sgd(lr = 0.1)\n}\n",
    );
    p.data[0] = DataSpec {
        name: "obs".into(),
        source: DataSource::Loaded { path: "gaps.npz".into(), series: Arc::new(series_with_gaps()) },
    };
    let t = trainer(&p, 1);
    // mean over the 3 observed entries of [4, 4, 4.5] plus 10 × (13 + 8 + 0.5).
    let expect = 12.5 / 3.0 + 215.0;
    let got = t.evaluate().unwrap().loss;
    assert!((got - expect).abs() < 1e-12, "{got} vs {expect}");
}

#[test]
fn generate_draws_paths_whose_first_is_the_single_path() {
    let one = "model g {\n  param s = 0.3\n  state x = 1.0\n  dx = -x dt + s * x dW\n}\n\
               data d = generate(g, at = linspace(0, 1, 6), with = euler_maruyama(dt = 0.05)PATHS)\n";
    let data = |paths: &str| {
        let p = program(&one.replace("PATHS", paths));
        materialize_data(&p, &p.data[0], &Default::default()).unwrap()
    };
    let (single, many) = (data(""), data(", paths = 4"));
    assert_eq!((single.n_traj, many.n_traj), (1, 4));
    assert_eq!(many.y.len(), 4 * 6);
    assert_eq!(single.y, many.y[..6], "path 0 keeps its bits");
    for b in 1..4 {
        assert_eq!(many.y[b * 6], 1.0);
        assert_ne!(many.y[b * 6 + 5], many.y[5], "path {b} is another sample");
    }
}

/// The step's value is a smooth function of the parameters for fixed
/// seeds: its gradient matches central differences for every method.
#[test]
fn ensemble_gradients_match_central_differences() {
    for (solver, gradient) in [
        ("euler_maruyama(dt = 0.05)", "discrete"),
        ("milstein(dt = 0.05)", "discrete"),
        ("reversible_heun(dt = 0.05)", "reversible"),
    ] {
        let src = if solver.starts_with("reversible") {
            OU.replace("model m {", "model m stratonovich {").replace("s * x dW\n}\ndata", "s * sin(x) dW\n}\ndata")
        } else {
            OU.to_string()
        };
        let p = program(&src.replace("SOLVER", solver).replace("GRADIENT", gradient));
        let mut t = trainer(&p, 0);
        let p0 = t.params().to_vec();
        let (loss, grad, nfe) = t.loss_gradient(3, &[], &[]).unwrap();
        assert!(loss.is_finite() && nfe > 0.0, "{solver}: {loss} {nfe}");
        assert_eq!(grad.len(), 4);
        for i in 0..p0.len() {
            let h = 1e-6 * p0[i].abs().max(1.0);
            let mut at = |d: f64| {
                let mut q = p0.clone();
                q[i] += d;
                t.set_params(q);
                t.loss_gradient(3, &[], &[]).unwrap().0
            };
            let fd = (at(h) - at(-h)) / (2.0 * h);
            assert!(grad[i] != 0.0, "{solver}: dL/dp{i} is 0");
            assert!((fd - grad[i]).abs() <= 1e-6 * grad[i].abs().max(1.0), "{solver}: dL/dp{i} = {} vs {fd}", grad[i]);
        }
    }
}

#[test]
fn ensemble_steps_are_reproducible_on_any_thread_count_and_resume_exactly() {
    let p = ou("euler_maruyama(dt = 0.05)", "discrete");
    let (a, b) = (trainer(&p, 1), trainer(&p, 2));
    let step = a.loss_gradient(2, &[], &[]).unwrap();
    assert_eq!(step, b.loss_gradient(2, &[], &[]).unwrap(), "1 and 2 threads");
    assert_ne!(step.0, a.loss_gradient(3, &[], &[]).unwrap().0, "each step draws new paths");
    assert_eq!(a.evaluate().unwrap(), b.evaluate().unwrap());

    let mut whole = trainer(&p, 0);
    for _ in 0..4 {
        whole.step().unwrap();
    }
    let mut first = trainer(&p, 0);
    first.step().unwrap();
    first.step().unwrap();
    let saved = first.checkpoint();
    let mut resumed = trainer(&p, 0);
    resumed.restore(&saved).unwrap();
    resumed.step().unwrap();
    resumed.step().unwrap();
    assert_eq!(resumed.params(), whole.params());
    assert_eq!(resumed.history, whole.history);
}

#[test]
fn an_edited_program_cannot_train_an_ensemble_on_windows() {
    let p = ou("euler_maruyama(dt = 0.05)", "discrete");
    let mut spec = p.trains[0].clone();
    spec.batch = BatchSpec::Trajectories { count: 2 };
    let msg = match Trainer::new(&p, None, &spec, &TrainOptions::default()) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    assert!(msg.contains("`batch = full` and `initial = model`"), "{msg}");
}
