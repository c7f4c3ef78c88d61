//! End-to-end: every example compiles and solves, known solutions are met,
//! the bench MLP reproduces the shared reference, and nde's adaptive solvers
//! take the steps diffrax takes on the same problems.

use std::path::{Path, PathBuf};

use nde_compiler::codegen::JitOptions;
use nde_compiler::driver::{self, cde, solver_from_spec, FrontendOptions, ModelField};
use nde_compiler::ir::{ModelIr, ProgramIr};
use nde_runtime::io::read_npz;
use nde_runtime::{solve, Method, Solution, SolveOptions};

fn repo() -> PathBuf {
    crate::tests_dir().parent().unwrap().to_path_buf()
}

fn shared_bench() -> Option<PathBuf> {
    let dir = repo().join("../shared/bench");
    dir.join("mlp_weights.npz").exists().then_some(dir)
}

/// Compiles `file`, optionally loads parameters, and solves `model` at `saveat`.
fn run(file: &Path, model: Option<&str>, params: Option<&Path>, saveat: &[f64], opts: &SolveOptions) -> Solution {
    let checked = driver::check_file(file, &FrontendOptions::default())
        .unwrap_or_else(|f| panic!("{}: {}", file.display(), f.diagnostics.0[0].render_plain(&f.sources)));
    let model = driver::select_model(&checked.program, model).unwrap();
    let mut values = model.param_values.clone();
    if let Some(p) = params {
        driver::apply_param_arrays(model, &mut values, &read_npz(p).unwrap()).unwrap();
    }
    let kernels = driver::compile_model(model, &JitOptions::default()).unwrap();
    let field = ModelField::new(&kernels, &values);
    let y0 = driver::initial_state(model, &values, 0.0).unwrap();
    solve(&field, 0.0, &y0, saveat, opts).unwrap()
}

/// Solves a CDE model along the path of its data's first trajectory.
fn run_cde(program: &ProgramIr, model: &ModelIr, saveat: &[f64], opts: &SolveOptions) -> Solution {
    let control = cde::control_of(model).unwrap();
    let data = program.data_set(&control.data).unwrap();
    let series = driver::train::materialize_data(program, data, &JitOptions::default()).unwrap();
    let path = cde::control_paths(control, &series).unwrap().remove(0);
    let kernels = driver::compile_model(model, &JitOptions::default()).unwrap();
    let y0 = cde::initial_state(model, &model.param_values, &path).unwrap();
    cde::solve_cde(&kernels, &model.param_values, &path, &y0, saveat, opts).unwrap()
}

#[test]
fn cde_linear_example_follows_its_path() {
    // z(t0) = A X(t0) and dz = A @ dX: z(t) = A X(t) at every time.
    let file = repo().join("examples/cde_linear.nde");
    let checked = driver::check_file(&file, &FrontendOptions::default()).unwrap_or_else(|_| panic!("cde_linear"));
    let model = driver::select_model(&checked.program, None).unwrap();
    let control = cde::control_of(model).unwrap();
    assert_eq!((control.channels, model.n_state(), model.rhs.n_state), (3, 2, 8));
    let ts: Vec<f64> = (0..=40).map(|i| i as f64 * 0.1).collect();
    let opts = SolveOptions { rtol: 1e-10, atol: 1e-12, ..Default::default() };
    let sol = run_cde(&checked.program, model, &ts, &opts);
    let data = checked.program.data_set(&control.data).unwrap();
    let series = driver::train::materialize_data(&checked.program, data, &JitOptions::default()).unwrap();
    let path = cde::control_paths(control, &series).unwrap().remove(0);
    let a = &model.param_values;
    for (i, &t) in ts.iter().enumerate() {
        let mut x = [0.0; 3];
        path.evaluate(t, &mut x);
        for r in 0..2 {
            let want: f64 = (0..3).map(|j| a[r * 3 + j] * x[j]).sum();
            assert!((sol.row(i)[r] - want).abs() < 1e-9, "t = {t}: {:?} vs {want}", sol.row(i));
        }
    }
}

/// Solves an ODE model with the file's first ODE solver declaration
/// (the stiff examples declare a stiff one); `None` if it declares none.
fn run_declared(program: &ProgramIr, model: &ModelIr, saveat: &[f64]) -> Option<Solution> {
    let spec = program.solvers.iter().find(|s| solver_from_spec(s).is_ok())?;
    let solver = solver_from_spec(spec).unwrap();
    let kernels = driver::compile_model(model, &JitOptions::default()).unwrap();
    let field = ModelField::new(&kernels, &model.param_values);
    let y0 = driver::initial_state(model, &model.param_values, 0.0).unwrap();
    let solved = driver::solve_ode(&field, &solver, 0.0, &y0, saveat);
    Some(solved.unwrap_or_else(|e| panic!("{} with {}: {e}", model.name, spec.name)).solution)
}

#[test]
fn every_example_compiles_and_solves() {
    let mut seen = 0;
    for file in crate::cases("../examples") {
        let checked = driver::check_file(&file, &FrontendOptions::default())
            .unwrap_or_else(|f| panic!("{}: {}", file.display(), f.diagnostics.0[0].render_plain(&f.sources)));
        for model in &checked.program.models {
            let saveat = [0.0, 0.5, 1.0];
            let sol = if model.is_cde() {
                run_cde(&checked.program, model, &saveat, &SolveOptions::default())
            } else if let Some(sol) =
                (!model.is_sde()).then(|| run_declared(&checked.program, model, &saveat)).flatten()
            {
                sol
            } else {
                run(&file, Some(&model.name), None, &saveat, &SolveOptions::default())
            };
            assert!(sol.y.iter().all(|v| v.is_finite()), "{}: {}", file.display(), model.name);
            seen += 1;
        }
    }
    assert!(seen >= 12, "only {seen} example models");
}

#[test]
fn linear_example_meets_its_tolerance() {
    // y(t) = exp(-t/2) [cos 2t, -sin 2t]
    let ts: Vec<f64> = (0..=50).map(|i| i as f64 * 0.1).collect();
    for method in [Method::Bosh3, Method::Dopri5, Method::Tsit5] {
        for rtol in [1e-4, 1e-6, 1e-8] {
            let opts = SolveOptions { method, rtol, atol: rtol * 1e-2, ..Default::default() };
            let sol = run(&repo().join("examples/linear.nde"), None, None, &ts, &opts);
            let worst = ts
                .iter()
                .enumerate()
                .map(|(i, &t)| {
                    let exact = [(-t / 2.0).exp() * (2.0 * t).cos(), -(-t / 2.0).exp() * (2.0 * t).sin()];
                    let row = sol.row(i);
                    (row[0] - exact[0]).abs().max((row[1] - exact[1]).abs())
                })
                .fold(0.0, f64::max);
            assert!(worst < 20.0 * rtol, "{method:?} rtol {rtol}: error {worst:e}");
        }
    }
}

#[test]
fn bench_mlp_reproduces_the_shared_reference() {
    let Some(bench) = shared_bench() else { return };
    // Reference (scipy DOP853, rtol 1e-13): trajectory 0 of mlp_reference.json at t = 10.
    let reference = [10.158480764662137, -2.365058667090602];
    let ts: Vec<f64> = (0..=10).map(f64::from).collect();
    let weights = bench.join("mlp_weights.npz");
    let opts = SolveOptions { method: Method::Dopri5, rtol: 1e-10, atol: 1e-12, ..Default::default() };
    let sol = run(&repo().join("examples/bench_mlp.nde"), None, Some(&weights), &ts, &opts);
    let last = sol.final_state();
    for k in 0..2 {
        let rel = ((last[k] - reference[k]) / reference[k]).abs();
        assert!(rel < 1e-6, "component {k}: {} vs {} (rel {rel:e})", last[k], reference[k]);
    }
}

/// Step counts of diffrax 0.7.2 (Dopri5/Tsit5, default PIDController, first
/// step 0.01 — what `dt0=None` gives for a wrapped ODE term), measured with
/// `bench/diffrax_step_counts.py` on 2026-11-28: (accepted, rejected).
const DIFFRAX_P1_DOPRI5: (u64, u64) = (12, 1);
const DIFFRAX_P1_TSIT5: (u64, u64) = (13, 1);
const DIFFRAX_P3_DOPRI5: (u64, u64) = (9902, 1336);
const DIFFRAX_P3_TSIT5: (u64, u64) = (10059, 1273);

fn assert_within_5_percent(what: &str, ours: u64, theirs: u64) {
    let rel = (ours as f64 - theirs as f64).abs() / theirs as f64;
    assert!(rel <= 0.05, "{what}: nde {ours} vs diffrax {theirs} ({:.1}%)", rel * 100.0);
}

#[test]
fn accepted_steps_match_diffrax_on_the_bench_mlp() {
    let Some(bench) = shared_bench() else { return };
    let ts: Vec<f64> = (0..=10).map(f64::from).collect();
    for (method, (acc, rej)) in [(Method::Dopri5, DIFFRAX_P1_DOPRI5), (Method::Tsit5, DIFFRAX_P1_TSIT5)] {
        let opts = SolveOptions { method, rtol: 1e-6, atol: 1e-8, dt: Some(0.01), ..Default::default() };
        let sol = run(&repo().join("examples/bench_mlp.nde"), None, Some(&bench.join("mlp_weights.npz")), &ts, &opts);
        assert_eq!((sol.stats.accepted, sol.stats.rejected), (acc, rej), "{method:?}");
    }
}

#[test]
fn accepted_steps_match_diffrax_on_lorenz() {
    for (method, (acc, _)) in [(Method::Dopri5, DIFFRAX_P3_DOPRI5), (Method::Tsit5, DIFFRAX_P3_TSIT5)] {
        let opts = SolveOptions {
            method,
            rtol: 1e-8,
            atol: 1e-10,
            dt: Some(0.01),
            max_steps: 1_000_000,
            ..Default::default()
        };
        let sol = run(&repo().join("examples/lorenz.nde"), None, None, &[100.0], &opts);
        assert_within_5_percent(&format!("lorenz {method:?} accepted"), sol.stats.accepted, acc);
    }
}
