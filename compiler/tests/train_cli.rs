//! `nde train` as a user meets it: a small fit that must converge, outputs
//! `nde run` accepts, a run killed mid-way that resumes to the same bits,
//! and the errors of bad set-ups.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nde_runtime::io::read_npz;

fn nde(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nde")).args(args).current_dir(repo()).output().expect("run nde")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn scratch(test: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nde-train-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exponential decay with an unknown rate and a small net correction,
/// fitted on windows of data generated from the true rate.
const DECAY: &str = r#"
use std.nn.{mlp}

model truth {
  state x: [2] = [1.0, -0.5]
  dx/dt = [-0.7 * x[0] + 0.3 * x[1], -0.3 * x[0] - 0.7 * x[1]]
}

model fit {
  state x: [2] = [1.0, -0.5]
  param k = 0.2
  net g = mlp(2 -> 8 -> 2, act = tanh)
  dx/dt = -k * x + 0.1 * g(x)
}

data obs = generate(truth, at = linspace(0, 5, 60), with = dopri5(rtol = 1e-8, atol = 1e-10))
solver s = tsit5(rtol = 1e-6, atol = 1e-8)

loss l {
  let sol = solve(fit, at = obs.t, with = s)
  mse(sol.y, obs.y)
}

train l {
  optimizer = adam(lr = 0.02)
  steps = 200
  batch = windows(length = 8, count = 6)
  seed = 3
}
"#;

fn write(test: &str, name: &str, text: &str) -> String {
    let path = scratch(test, name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn arrays(path: &str) -> Vec<(String, Vec<u64>)> {
    let mut a: Vec<(String, Vec<u64>)> = read_npz(Path::new(path))
        .unwrap()
        .into_iter()
        .map(|a| (a.name, a.data.iter().map(|x| x.to_bits()).collect()))
        .collect();
    a.sort();
    a
}

#[test]
fn training_lowers_the_loss_and_writes_parameters_that_run_accepts() {
    let file = write("fit", "decay.nde", DECAY);
    let out = scratch("fit", "p.npz").display().to_string();
    let plot = scratch("fit", "loss.svg").display().to_string();
    let hist = scratch("fit", "history.csv").display().to_string();
    let o = nde(&["train", &file, "-q", "--out", &out, "--plot", &plot, "--history", &hist]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let names: Vec<String> = arrays(&out).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["g.W1", "g.W2", "g.b1", "g.b2", "k"]);
    assert!(std::fs::read_to_string(&plot).unwrap().starts_with("<svg"));
    let history = std::fs::read_to_string(&hist).unwrap();
    let losses: Vec<f64> =
        history.lines().skip(1).map(|l| l.split(',').nth(1).unwrap().trim().parse().unwrap()).collect();
    assert_eq!(losses.len(), 200);
    let early: f64 = losses[..10].iter().sum::<f64>() / 10.0;
    let late: f64 = losses[190..].iter().sum::<f64>() / 10.0;
    assert!(late < 0.1 * early, "loss went from {early} to {late}");
    let run = nde(&["run", &file, "--model", "fit", "--params", &out, "--t1", "5", "--saves", "3"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
}

/// Trains `source` for `steps` steps twice: once straight through (one
/// thread), once killed (SIGKILL) after its first checkpoint and resumed
/// from it (two threads); the parameters must be the same bits.
fn kill_and_resume(test: &str, source: &str, steps: u64) {
    let file = write(test, "model.nde", source);
    let steps_arg = steps.to_string();
    let straight = scratch(test, "straight.npz").display().to_string();
    let o = nde(&["train", &file, "-q", "--steps", &steps_arg, "--out", &straight, "--threads", "1"]);
    assert!(o.status.success(), "{}", text(&o.stderr));

    let ckpt = scratch(test, "run.ckpt.npz");
    let mut child = Command::new(env!("CARGO_BIN_EXE_nde"))
        .args(["train", &file, "-q", "--steps", &steps_arg, "--threads", "2", "--checkpoint"])
        .arg(&ckpt)
        .args(["--checkpoint-every", "25", "--out"])
        .arg(scratch(test, "unused.npz"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !ckpt.exists() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().ok();
    child.wait().unwrap();
    let step = read_npz(&ckpt).unwrap().into_iter().find(|a| a.name == "step").unwrap().data[0];
    assert!(step < steps as f64, "the run finished before it could be killed; make it longer");

    let resumed = scratch(test, "resumed.npz").display().to_string();
    let o = nde(&["train", &file, "-q", "--steps", &steps_arg, "--resume", ckpt.to_str().unwrap(), "--out", &resumed]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(arrays(&straight), arrays(&resumed), "resumed at step {step}");
}

#[test]
fn a_killed_run_resumed_from_its_checkpoint_ends_with_the_same_parameters() {
    kill_and_resume("resume", DECAY, 1500);
}

#[test]
fn resuming_from_another_blocks_checkpoint_is_refused() {
    let file = write("foreign", "decay.nde", DECAY);
    let ckpt = scratch("foreign", "a.ckpt.npz").display().to_string();
    let out = scratch("foreign", "p.npz").display().to_string();
    let o = nde(&["train", &file, "-q", "--steps", "2", "--checkpoint", &ckpt, "--out", &out]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let other = write("foreign", "other.nde", &DECAY.replace("seed = 3", "seed = 4"));
    let o = nde(&["train", &other, "-q", "--resume", &ckpt, "--out", &out]);
    assert_eq!(o.status.code(), Some(4));
    assert!(text(&o.stderr).contains("different model or train block"), "{}", text(&o.stderr));
}

#[test]
fn a_file_without_train_blocks_is_a_usage_error() {
    let o = nde(&["train", "examples/lorenz.nde"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("no `train"), "{}", text(&o.stderr));
}

#[test]
fn bad_data_files_are_reported_with_file_and_line() {
    let model = "model m {\n  state x = 1.0\n  dx/dt = -x\n}\ndata obs = load(\"obs.csv\")\n";
    let cases = [
        ("t,x\n0,1\n1,2,3\n", "obs.csv, line 3", "ragged row"),
        ("t,x\n0,1\n0.5,2\n0.25,3\n", "obs.csv, line 4", "non-monotone times"),
        ("t,x,y\n0,1,nan\n1,2,\n", "column `y`", "all-NaN column"),
    ];
    for (i, (csv, expect, what)) in cases.iter().enumerate() {
        let test = format!("bad{i}");
        let file = write(&test, "m.nde", model);
        write(&test, "obs.csv", csv);
        let o = nde(&["check", &file]);
        assert_eq!(o.status.code(), Some(1), "{what}");
        let err = text(&o.stderr);
        assert!(err.contains("E0602") && err.contains(expect), "{what}: {err}");
        assert!(err.contains("m.nde:5:17"), "{what}: the error points at the path in the file: {err}");
    }
    let file = write("bad_missing", "m.nde", model);
    let o = nde(&["check", &file]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("obs.csv"), "{}", text(&o.stderr));
}

/// examples/ou_train.nde: θ and μ of an Ornstein–Uhlenbeck process fitted
/// pathwise on windows of one sample path of the true process.
#[test]
fn an_sde_fitted_on_a_sample_path_approaches_the_true_parameters() {
    let out = scratch("ou", "p.npz").display().to_string();
    let start = Instant::now();
    let o = nde(&["train", "examples/ou_train.nde", "-q", "--steps", "300", "--out", &out]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(start.elapsed() < Duration::from_secs(3), "took {:?}", start.elapsed());
    let params = read_npz(Path::new(&out)).unwrap();
    let value = |name: &str| params.iter().find(|a| a.name == name).unwrap().data[0];
    let (theta, mu) = (value("theta"), value("mu"));
    assert!((theta - 1.2).abs() < 0.2 * 1.2, "theta = {theta} (started at 0.5)");
    assert!((mu - 0.8).abs() < 0.2 * 0.8, "mu = {mu} (started at 0.0)");
}

/// A multiplicative-noise SDE trained with many short steps (long enough
/// to be killed mid-way).
const OU_LONG: &str = r#"
model truth {
  param theta = 1.2
  param mu = 0.8
  state x = 2.0
  dx = theta * (mu - x) dt + 0.1 * x dW
}
model ou {
  param theta = 0.5
  param mu = 0.0
  param s = 0.05
  state x = 2.0
  dx = theta * (mu - x) dt + s * x dW
}
data obs = generate(truth, at = linspace(0, 4, 41), with = euler_maruyama(dt = 0.01))
loss l {
  let sol = solve(ou, at = obs.t, with = euler_maruyama(dt = 0.05))
  mse(sol.y, obs.y)
}
train l {
  optimizer = adam(lr = 0.01)
  steps = 20000
  batch = windows(length = 6, count = 4)
  seed = 5
}
"#;

#[test]
fn a_killed_sde_run_resumed_from_its_checkpoint_ends_with_the_same_parameters() {
    kill_and_resume("sde_resume", OU_LONG, 20000);
}

#[test]
fn an_sde_model_with_a_continuous_adjoint_is_refused() {
    let file = write("sde_backsolve", "ou.nde", &OU_LONG.replace("seed = 5", "seed = 5\n  gradient = backsolve"));
    let o = nde(&["train", &file, "-q", "--steps", "2"]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains("E0706") && err.contains("`gradient = backsolve` with an SDE model"), "{err}");
}

/// examples/latent_sde.nde: the negative ELBO of a latent SDE (data misfit
/// plus the path KL carried as a state) falls by two orders of magnitude.
#[test]
fn a_latent_sde_learns_its_evidence_lower_bound() {
    let out = scratch("latent", "p.npz").display().to_string();
    let history = scratch("latent", "h.csv").display().to_string();
    let o = nde(&["train", "examples/latent_sde.nde", "-q", "--out", &out, "--history", &history]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let losses: Vec<f64> = std::fs::read_to_string(&history)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(losses.len(), 400);
    let first = losses[0];
    let last = losses[380..].iter().sum::<f64>() / 20.0;
    assert!(first > 50.0 && last < 1.5, "loss {first} -> {last}");
    // The KL state grew from 0 but stays moderate: the posterior departs
    // from the prior only as far as the data need.
    let o = nde(&[
        "run",
        "examples/latent_sde.nde",
        "--model",
        "latent",
        "--params",
        &out,
        "--dt",
        "0.02",
        "--at",
        "0:6:2",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let csv = text(&o.stdout);
    let kl: f64 = csv.lines().next_back().unwrap().split(',').next_back().unwrap().parse().unwrap();
    assert!(kl > 0.1 && kl < 50.0, "KL {kl}\n{csv}");
}
