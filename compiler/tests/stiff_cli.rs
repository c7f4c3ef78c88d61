//! `nde run` with stiff solvers and `auto`: the work counters of `--stats`,
//! the switch points, solve failures with their time and exit code 3, and
//! the clear error for training through a stiff solver.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn nde(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nde")).args(args).current_dir(repo()).output().expect("run nde")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write_model(name: &str, source: &str) -> String {
    let dir = std::env::temp_dir().join(format!("nde-stiff-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, source).unwrap();
    path.display().to_string()
}

/// The last CSV row of stdout, as numbers.
fn last_row(out: &Output) -> Vec<f64> {
    let stdout = text(&out.stdout);
    let line = stdout.lines().last().unwrap();
    line.split(',').map(|v| v.parse().unwrap()).collect()
}

#[test]
fn robertson_runs_with_its_declared_rodas5_and_prints_the_work() {
    let out = nde(&["run", "examples/robertson.nde", "--at", "0,1e11", "--stats"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let row = last_row(&out);
    // t, then y1..y3 against the test set's reference at 1e11.
    assert_eq!(row[0], 1e11);
    assert!((row[3] - 0.999999979166505).abs() < 1e-8, "{row:?}");
    assert!(((row[1] - 0.2083340149701255e-07) / 0.2083340149701255e-07).abs() < 1e-3, "{row:?}");
    assert!(stderr.contains("njev ") && stderr.contains("nlu ") && stderr.contains("nnewton 0"), "{stderr}");
}

#[test]
fn solver_flag_takes_stiff_methods_and_bdf_counts_newton_iterations() {
    for method in ["rodas5", "kvaerno5", "bdf"] {
        let out = nde(&["run", "examples/oregonator.nde", "--t1", "30", "--saves", "2", "--solver", method, "--stats"]);
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{method}: {stderr}");
        let newton: u64 = stderr.split("nnewton ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
        assert_eq!(newton > 0, method != "rodas5", "{method}: {stderr}");
    }
}

#[test]
fn auto_reports_where_it_switched() {
    let out = nde(&[
        "run",
        "examples/van_der_pol_stiff.nde",
        "--t1",
        "0.5",
        "--saves",
        "2",
        "--solver",
        "adaptive",
        "--stats",
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("switches ") && stderr.contains("rodas5 at t = "), "{stderr}");
    // The same by method name, with the tolerances on the command line.
    let out = nde(&["run", "examples/lorenz.nde", "--t1", "5", "--solver", "auto", "--rtol", "1e-8", "--stats"]);
    assert!(out.status.success());
    assert!(!text(&out.stderr).contains("switches"), "lorenz is not stiff: {}", text(&out.stderr));
}

#[test]
fn a_stiff_failure_names_its_time_and_exits_3() {
    // y = 1/(1 − t) blows up at t = 1.
    let file = write_model("blowup.nde", "model blowup {\n  state y = 1.0\n  dy/dt = y^2\n}\n");
    for method in ["rodas5", "kvaerno5", "bdf"] {
        let out = nde(&["run", &file, "--t1", "2", "--solver", method]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{method}: {stderr}");
        assert!(stderr.contains("at t = "), "{method}: {stderr}");
    }
}

#[test]
fn training_through_a_stiff_solver_is_a_clear_error() {
    let file = write_model(
        "stiff_train.nde",
        "model decay {\n  param k = 50.0\n  state x = 1.0\n  dx/dt = -k * x\n}\n\
         solver stiff = rodas5(rtol = 1e-6)\n\
         data obs = generate(decay, at = [0, 0.1, 0.2], with = stiff)\n\
         loss fit = mse(solve(decay, at = obs.t, with = stiff).y, obs.y)\n\
         train fit {\n  optimizer = adam(lr = 0.01)\n  steps = 2\n}\n",
    );
    let out = nde(&["train", &file]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("E0717") && stderr.contains("gradients through stiff solvers"), "{stderr}");
}

#[test]
fn unknown_solver_names_list_the_stiff_ones() {
    let out = nde(&["run", "examples/lorenz.nde", "--t1", "1", "--solver", "radau"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("rodas5, kvaerno5, bdf, radau5, auto"), "{stderr}");
}

/// A large stiff system goes through the sparse path (Jacobian from
/// coloured JVPs, sparse LU): the Brusselator refined to 2,000 states
/// solves in well under a second, where building the dense symbolic
/// Jacobian (n² entries) would take minutes; the sparse and the dense
/// paths agree on a small refinement (`driver::sparse` tests), and the
/// solution here keeps its physical ranges.
#[test]
fn a_large_stiff_model_is_solved_through_its_sparse_jacobian() {
    let source = std::fs::read_to_string(repo().join("examples/brusselator_1d.nde")).unwrap();
    assert!(source.contains("const N = 50"), "the example's size line changed");
    let path = write_model("bruss1000.nde", &source.replace("const N = 50", "const N = 1000"));
    let start = std::time::Instant::now();
    let out = nde(&["run", &path, "--solver", "rodas5", "--t1", "10", "--at", "0,10", "--stats"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(start.elapsed() < std::time::Duration::from_secs(20), "took {:?}", start.elapsed());
    let row = last_row(&out);
    assert_eq!(row.len(), 1 + 2000);
    // u and v stay positive and bounded (u ∈ (0, 4), v ∈ (0, 5) for these data).
    assert!(row[1..].iter().all(|&x| x > 0.0 && x < 5.0), "{:?}", &row[..8]);
    let njev: u64 = stderr.split("njev ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!(njev > 0 && njev < 200, "{stderr}");
}
