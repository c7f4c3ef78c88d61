//! `data`, `loss` and `train` through the front end: loading data files
//! (CSV and `.npz`, paths relative to the declaring file), the messages of
//! the E06xx/E07xx errors, and the defaults of a `train` block.

use std::path::PathBuf;

use crate::diag::Diagnostic;
use crate::driver::frontend::{compile_to_ir, FrontendOptions, MemoryLoader};
use crate::ir::training::{BatchSpec, DataSource, InitialState, TrainSpec};
use crate::ir::ProgramIr;
use crate::span::SourceMap;

const MODEL: &str = "model m {\n  param k = 0.5\n  state x: [2] = [1.0, 2.0]\n  dx/dt = -k * x\n}\n";

fn compile(root: &str, src: &str, loader: &MemoryLoader) -> (SourceMap, Result<ProgramIr, Vec<Diagnostic>>) {
    let mut sources = SourceMap::new();
    let file = sources.add(root, src);
    let r = compile_to_ir(&mut sources, file, loader, &FrontendOptions::default()).map_err(|d| d.0);
    (sources, r)
}

fn ok(root: &str, src: &str, loader: &MemoryLoader) -> ProgramIr {
    match compile(root, src, loader) {
        (_, Ok(p)) => p,
        (s, Err(d)) => panic!("unexpected errors:\n{}", d.iter().map(|d| d.render_plain(&s)).collect::<String>()),
    }
}

fn one_error(src: &str, loader: &MemoryLoader) -> Diagnostic {
    match compile("main.nde", src, loader) {
        (_, Ok(_)) => panic!("expected an error"),
        (_, Err(mut d)) => {
            assert_eq!(d.len(), 1, "{:?}", d.iter().map(|d| (&d.code, &d.message)).collect::<Vec<_>>());
            d.remove(0)
        }
    }
}

fn train_of(body: &str) -> TrainSpec {
    let src = format!(
        "{MODEL}data obs = generate(m, at = [0, 1, 2, 3], with = rk4(dt = 0.1))\n\
         loss fit = mse(solve(m, at = obs.t, with = rk4(dt = 0.1)).y, obs.y)\ntrain fit {{\n{body}\n}}\n"
    );
    ok("dir/main.nde", &src, &MemoryLoader::new()).trains.remove(0)
}

#[test]
fn invalid_data_files_name_the_file_and_line() {
    let loader = MemoryLoader::new().with("bad.csv", "t,x\n0,1\n1,abc\n");
    let d = one_error(&format!("{MODEL}data obs = load(\"bad.csv\")\n"), &loader);
    assert_eq!(d.code, "E0602");
    assert_eq!(d.message, "cannot load data from `bad.csv`");
    assert!(d.primary.message.starts_with("bad.csv, line 3, column `x`: "), "{}", d.primary.message);
    assert!(!d.primary.message.contains("hint"), "the hint is a hint, not part of the label");
    assert_eq!(d.hints.len(), 1);

    let d = one_error(&format!("{MODEL}data obs = load(\"gone.csv\")\n"), &MemoryLoader::new());
    assert_eq!(d.code, "E0602");
    assert!(d.primary.message.contains("cannot read gone.csv"), "{}", d.primary.message);

    let d = one_error(&format!("{MODEL}data obs = load(\"notes.txt\")\n"), &MemoryLoader::new());
    assert!(d.primary.message.contains("neither a `.csv` nor a `.npz`"), "{}", d.primary.message);
}

#[test]
fn data_paths_are_relative_to_the_declaring_file() {
    let loader = MemoryLoader::new().with("data/obs.csv", "t,a,b\n0,1,2\n1,0.5,\n");
    let src = format!("{MODEL}data obs = load(\"../data/obs.csv\")\nloss fit = mse(solve(m, at = obs.t, with = rk4(dt = 0.1)).y, obs.y)\n");
    let p = ok("models/main.nde", &src, &loader);
    let DataSource::Loaded { path, series } = &p.data[0].source else { panic!("{:?}", p.data[0]) };
    assert_eq!(path, &PathBuf::from("data/obs.csv"));
    assert_eq!((series.t.len(), series.columns.len(), series.n_traj), (2, 2, 1));
    assert_eq!((p.losses[0].layout.n_times, p.losses[0].layout.n_obs), (2, 2));
}

#[test]
fn npz_data_loads_through_load_bytes() {
    let dir = std::env::temp_dir().join(format!("nde-sema-npz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("obs.npz");
    let arrays = [
        nde_runtime::io::Array::new("t", vec![3], vec![0.0, 0.5, 1.0]),
        nde_runtime::io::Array::new("y", vec![2, 3, 2], (0..12).map(f64::from).collect()),
    ];
    nde_runtime::io::write_npz(&file, &arrays).expect("writes npz");
    let bytes = std::fs::read(&file).expect("reads npz");
    let _ = std::fs::remove_dir_all(&dir);
    let loader = MemoryLoader::new().with_bytes("obs.npz", bytes);
    let src = format!(
        "{MODEL}data obs = load(\"obs.npz\")\nloss fit = mse(solve(m, at = obs.t, with = rk4(dt = 0.1)).y, obs.y)\n\
         train fit {{\n  optimizer = adam(lr = 1e-3)\n  batch = trajectories(count = 2)\n}}\n"
    );
    let p = ok("main.nde", &src, &loader);
    let DataSource::Loaded { series, .. } = &p.data[0].source else { panic!("{:?}", p.data[0]) };
    assert_eq!((series.n_traj, series.columns.clone()), (2, vec!["y0".to_string(), "y1".to_string()]));
    assert_eq!(p.trains[0].batch, BatchSpec::Trajectories { count: 2 });
    assert_eq!(p.trains[0].initial, InitialState::Data);
}

#[test]
fn train_defaults() {
    let t = train_of("optimizer = adam(lr = 1e-3)\ncheckpoint = \"fit.ckpt.npz\"");
    assert_eq!(t.loss, "fit");
    assert_eq!((t.optimizer.rule.as_str(), t.optimizer.options.clone()), ("adam", vec![("lr".to_string(), 1e-3)]));
    assert_eq!((t.schedule.kind.as_str(), t.schedule.options.len()), ("constant", 0));
    assert_eq!((t.steps, t.batch, t.initial), (1000, BatchSpec::Full, InitialState::Model));
    assert_eq!((t.gradient.as_str(), t.adjoint_checkpoints, t.seed, t.clip), ("discrete", None, 0, None));
    assert_eq!(t.checkpoint, Some(PathBuf::from("dir/fit.ckpt.npz")));
    assert_eq!(t.checkpoint_every, 100);

    let t = train_of(
        "optimizer = rmsprop(lr = 0.01, centered = true, alpha = 0.9)\nbatch = windows(length = 4, count = 3)",
    );
    assert_eq!(t.batch, BatchSpec::Windows { length: 4, count: 3 });
    assert_eq!(t.initial, InitialState::Data, "windows start from the data");
    let opts = t.optimizer.options;
    assert_eq!(opts, [("lr".to_string(), 0.01), ("centered".to_string(), 1.0), ("alpha".to_string(), 0.9)]);
}

#[test]
fn masked_and_solution_errors_explain_themselves() {
    let data = format!("{MODEL}data obs = generate(m, at = [0, 1, 2], with = rk4(dt = 0.1))\n");
    let d = one_error(
        &format!("{data}loss fit {{\n  let sol = solve(m, at = obs.t, with = rk4(dt = 0.1))\n  sum(sol.y - obs.y @ [1, 1])\n}}\n"),
        &MemoryLoader::new(),
    );
    assert_eq!((d.code, d.message.as_str()), ("E0705", "missing observations cannot flow into a matrix product"));
    assert!(d.hints[0].contains("reduce it first"), "{:?}", d.hints);

    let d = one_error(
        &format!("{data}loss fit {{\n  let sol = solve(m, at = obs.t, with = rk4(dt = 0.1))\n  sol.y - obs.y\n}}\n"),
        &MemoryLoader::new(),
    );
    assert_eq!((d.code, d.primary.message.as_str()), ("E0704", "this is a [3, 2] tensor"));

    let d = one_error(
        &format!("{data}loss fit {{\n  let sol = solve(m, at = obs.t, with = rk4(dt = 0.1))\n  mean(sol)\n}}\n"),
        &MemoryLoader::new(),
    );
    assert_eq!((d.code, d.message.as_str()), ("E0707", "`sol` is a solution, not a tensor"));
    assert!(d.hints[0].starts_with("its values at the save times are `.y`"), "{:?}", d.hints);

    let d = one_error(&format!("{data}train fti {{\n  optimizer = adam(lr = 1)\n}}\nloss fit = mse(solve(m, at = obs.t, with = rk4(dt = 0.1)).y, obs.y)\n"), &MemoryLoader::new());
    assert_eq!((d.code, d.hints[0].as_str()), ("E0708", "did you mean `fit`?"));
}
