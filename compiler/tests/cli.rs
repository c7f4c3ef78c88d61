//! The `nde` command as a user meets it: exit codes, output formats, and
//! error messages, driven through the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn nde(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nde")).args(args).current_dir(repo()).output().expect("run nde")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nde-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write_model(name: &str, source: &str) -> String {
    let path = scratch(name);
    std::fs::write(&path, source).unwrap();
    path.display().to_string()
}

#[test]
fn check_accepts_every_example() {
    for entry in std::fs::read_dir(repo().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "nde") {
            let out = nde(&["check", path.to_str().unwrap()]);
            assert!(out.status.success(), "{}: {}", path.display(), text(&out.stderr));
        }
    }
}

#[test]
fn check_reports_errors_with_place_and_exit_1() {
    let file =
        write_model("bad.nde", "model m {\n  param W: [50, 3] = zeros\n  state y: [2] = [1, 2]\n  dy/dt = W @ y\n}\n");
    let out = nde(&["check", &file]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("error[E0301]"), "{err}");
    assert!(err.contains("bad.nde:4:11"), "{err}");
    assert!(err.contains("inner sizes 3 and 2 differ"), "{err}");
}

#[test]
fn missing_file_is_a_clear_error() {
    let out = nde(&["check", "no/such/file.nde"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read `no/such/file.nde`"), "{}", text(&out.stderr));
}

#[test]
fn run_writes_csv_with_a_header() {
    let out = nde(&["run", "examples/lorenz.nde", "--t1", "1", "--saves", "3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "t,x,y,z");
    assert_eq!(lines.len(), 4);
    assert!(lines[1].starts_with("0.0,1.0,1.0,1.0"));
    assert!(lines[3].starts_with("1.0,"));
}

#[test]
fn run_writes_npz_that_reads_back() {
    let path = scratch("lorenz.npz");
    let out = nde(&["run", "examples/lorenz.nde", "--at", "0:2:5", "-o", path.to_str().unwrap(), "--stats"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("nfe "), "{}", text(&out.stderr));
    let arrays = nde_runtime::io::read_npz(&path).unwrap();
    let t = arrays.iter().find(|a| a.name == "t").unwrap();
    let y = arrays.iter().find(|a| a.name == "y").unwrap();
    assert_eq!(t.data, vec![0.0, 0.5, 1.0, 1.5, 2.0]);
    assert_eq!(y.shape, vec![5, 3]);
    // numpy reads it too, where numpy is installed.
    let py =
        format!("import numpy as np; d = np.load('{}'); assert d['y'].shape == (5, 3), d['y'].shape", path.display());
    if let Ok(o) = Command::new("python3").args(["-c", "import numpy"]).output() {
        if o.status.success() {
            let o = Command::new("python3").args(["-c", &py]).output().unwrap();
            assert!(o.status.success(), "{}", text(&o.stderr));
        }
    }
}

#[test]
fn run_solves_a_batch_of_initial_states() {
    let y0 = scratch("y0.csv");
    std::fs::write(&y0, "x,y,z\n1,1,1\n2,2,2\n").unwrap();
    let out = nde(&[
        "run",
        "examples/lorenz.nde",
        "--t1",
        "1",
        "--saves",
        "2",
        "--y0",
        y0.to_str().unwrap(),
        "--threads",
        "2",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "traj,t,x,y,z");
    assert_eq!(lines.len(), 5);
    assert!(lines[3].starts_with("1.0,0.0,2.0,2.0,2.0"), "{csv}");
}

#[test]
fn fixed_step_methods_need_dt() {
    let out = nde(&["run", "examples/pendulum.nde", "--t1", "1", "--solver", "rk4"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--dt"), "{}", text(&out.stderr));
    let out = nde(&["run", "examples/pendulum.nde", "--t1", "1", "--solver", "rk4", "--dt", "0.01"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn unknown_solver_is_a_usage_error() {
    let out = nde(&["run", "examples/lorenz.nde", "--t1", "1", "--solver", "tsit6"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("tsit6"), "{}", text(&out.stderr));
}

#[test]
fn declared_solver_is_used() {
    let out = nde(&["run", "examples/spiral.nde", "--model", "truth", "--t1", "1", "--solver", "fast", "--stats"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn several_models_need_a_choice() {
    let out = nde(&["run", "examples/spiral.nde", "--t1", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--model"), "{}", text(&out.stderr));
}

#[test]
fn wrong_parameter_shapes_are_file_errors() {
    let params = scratch("bad_params.npz");
    nde_runtime::io::write_npz(&params, &[nde_runtime::io::Array::new("sigma", vec![2], vec![1.0, 2.0])]).unwrap();
    let out = nde(&["run", "examples/lorenz.nde", "--t1", "1", "--params", params.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4));
    assert!(text(&out.stderr).contains("sigma"), "{}", text(&out.stderr));
    let out = nde(&["run", "examples/lorenz.nde", "--t1", "1", "--params", "missing.npz"]);
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn parameters_load_by_name() {
    let params = scratch("rho.npz");
    nde_runtime::io::write_npz(&params, &[nde_runtime::io::Array::new("rho", vec![], vec![0.0])]).unwrap();
    // With rho = 0 the origin attracts: the state decays.
    let out = nde(&["run", "examples/lorenz.nde", "--t1", "20", "--saves", "2", "--params", params.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let last: Vec<f64> = text(&out.stdout).lines().last().unwrap().split(',').map(|v| v.parse().unwrap()).collect();
    assert!(last[1..].iter().all(|v| v.abs() < 1e-3), "{last:?}");
}

#[test]
fn blow_up_fails_with_the_time_and_writes_nothing() {
    let file = write_model("blowup.nde", "model blowup {\n  state y = 1.0\n  dy/dt = y^2\n}\n");
    let out_path = scratch("blowup.csv");
    let out = nde(&["run", &file, "--t1", "2", "-o", out_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("t = 1.0") || err.contains("t = 0.99"), "{err}");
    assert!(!out_path.exists());
}

#[test]
fn emit_prints_each_stage() {
    for stage in ["ast", "ir", "clif"] {
        let out = nde(&["emit", stage, "examples/lorenz.nde"]);
        assert!(out.status.success(), "{stage}: {}", text(&out.stderr));
        assert!(!out.stdout.is_empty(), "{stage}");
    }
    let ir = text(&nde(&["emit", "ir", "examples/lorenz.nde"]).stdout);
    assert!(ir.contains("lorenz"), "{ir}");
}

#[test]
fn help_teaches() {
    let out = nde(&["run", "--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for flag in ["--solver", "--rtol", "--params", "--y0", "--at", "--stats"] {
        assert!(help.contains(flag), "{flag} missing from help");
    }
}

#[test]
fn a_closed_output_pipe_ends_the_run_without_a_panic() {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_nde"))
        .args(["run", "examples/lorenz.nde", "--t1", "100", "--saves", "200000"])
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap(); // then dropped: the pipe closes
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(!text(&out.stderr).contains("panicked"), "{}", text(&out.stderr));
}

#[test]
fn sde_models_run_as_reproducible_sample_paths() {
    let run = |seed: &str| {
        let out = nde(&[
            "run",
            "examples/ou.nde",
            "--t1",
            "1",
            "--saves",
            "2",
            "--dt",
            "0.01",
            "--paths",
            "2000",
            "--noise-seed",
            seed,
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let a = run("5");
    assert_eq!(a, run("5"), "the same seed gives the same paths");
    assert_ne!(a, run("6"));
    // x(1) over the paths: OU mean mu + (x0 - mu) e^{-theta} and variance sigma²/(2 theta) (1 - e^{-2 theta}).
    let finals: Vec<f64> = a
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(1) == Some("1.0"))
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    assert_eq!(finals.len(), 2000);
    let (theta, mu, sigma) = (0.7f64, 1.5f64, 0.3f64);
    let mean_exact = mu * (1.0 - (-theta).exp());
    let var_exact = sigma * sigma / (2.0 * theta) * (1.0 - (-2.0 * theta).exp());
    let mean = finals.iter().sum::<f64>() / 2000.0;
    assert!((mean - mean_exact).abs() < 4.0 * (var_exact / 2000.0).sqrt(), "mean {mean} vs {mean_exact}");
}

#[test]
fn an_ito_model_refuses_a_stratonovich_solver() {
    let out = nde(&["run", "examples/gbm.nde", "--t1", "1", "--dt", "0.01", "--solver", "reversible_heun"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("Itô"), "{}", text(&out.stderr));
    let out = nde(&["run", "examples/gbm.nde", "--t1", "1", "--solver", "milstein"]);
    assert_eq!(out.status.code(), Some(2), "a fixed-step method without --dt");
}

/// Final values of every path of an SDE run (`--saves 2`, CSV with a `traj` column).
fn sde_finals(model: &str, paths: usize) -> Vec<f64> {
    let file = write_model("moments.nde", model);
    let n = paths.to_string();
    let out = nde(&["run", &file, "--t1", "1", "--saves", "2", "--dt", "0.01", "--paths", &n, "--noise-seed", "3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(1) == Some("1.0"))
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect()
}

fn mean_and_se(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

#[test]
fn stable_sde_classes_have_their_ito_moments() {
    // ALGORITHMS.md §4 tests (b) and (c), against the Euler–Maruyama chain's exact moments
    // (no time-step bias): geometric, E z_N = z0 (1 + γ dt)^N; linear noise with drift −a z,
    // E z_N² = z0² ((1 − a dt)² + σ² dt)^N.
    let (dt, steps) = (0.01f64, 100i32);
    let gsde = "model g {\n  state z = 0.8\n  dz = z * 0.5 dt + z * 0.3 dW\n}\n";
    let (mean, se) = mean_and_se(&sde_finals(gsde, 4000));
    let exact = 0.8 * (1.0 + 0.5 * dt).powi(steps);
    assert!((mean - exact).abs() < 4.0 * se, "GSDE: E z(1) = {mean} ± {se}, expected {exact}");

    let lnsde = "model l {\n  state z = 1.5\n  dz = -0.4 * z dt + 0.6 * z dW\n}\n";
    let squares: Vec<f64> = sde_finals(lnsde, 4000).iter().map(|z| z * z).collect();
    let (mean, se) = mean_and_se(&squares);
    let exact = 1.5f64.powi(2) * ((1.0 - 0.4 * dt).powi(2) + 0.36 * dt).powi(steps);
    assert!((mean - exact).abs() < 4.0 * se, "LNSDE: E z(1)² = {mean} ± {se}, expected {exact}");
    // Itô, not Stratonovich: the Stratonovich solution's second moment differs by far more than the error.
    let strat = 1.5f64.powi(2) * ((2.0 * (-0.4 + 0.18) + 0.36) * 1.0f64).exp();
    assert!((strat - exact).abs() > 8.0 * se);
}

#[test]
fn cde_models_run_along_their_data() {
    let out = nde(&["run", "examples/cde_linear.nde"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    let data = std::fs::read_to_string(repo().join("examples/cde_linear.csv")).unwrap();
    let data_rows = data.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).count() - 1;
    assert_eq!(csv.lines().count() - 1, data_rows, "one row per observation time:\n{csv}");
    assert!(csv.starts_with("t,z[0],z[1]\n0.0,1.0,0.4\n"), "{csv}");
}

#[test]
fn matrix_states_get_one_csv_column_per_entry() {
    let file = write_model("matrix.nde", "model m {\n  state W: [2, 2] = [[1, 0], [0, 1]]\n  dW/dt = -W\n}\n");
    let out = nde(&["run", &file, "--t1", "1", "--saves", "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("t,W[0][0],W[0][1],W[1][0],W[1][1]"));
    assert!(lines.all(|l| l.split(',').count() == 5), "{csv}");
}
