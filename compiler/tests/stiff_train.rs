//! Training through stiff solves: the trainer's gradient through a compiled
//! model's rodas5/kvaerno5/bdf/radau5 solve against finite differences of its
//! loss, `nde train` fitting Robertson's rate constants to data generated
//! with rodas5, and the refusals that remain (E0717).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nde_compiler::driver::train::{TrainOptions, Trainer};
use nde_compiler::driver::{check_file, FrontendOptions};
use nde_compiler::ir::ProgramIr;
use nde_runtime::io::read_npz;

/// Robertson's kinetics: data from the true rates, a model with the rates
/// as logarithms started off them, a loss that weights the small species.
const ROBERTSON: &str = r#"
model truth {
  param k1 = 0.04, k2 = 3e7, k3 = 1e4
  state y1 = 1.0, y2 = 0.0, y3 = 0.0
  dy1/dt = -k1 * y1 + k3 * y2 * y3
  dy2/dt = k1 * y1 - k3 * y2 * y3 - k2 * y2^2
  dy3/dt = k2 * y2^2
}

model fit {
  param a = -2.8, b = 16.5, c = 9.8
  state y1 = 1.0, y2 = 0.0, y3 = 0.0
  dy1/dt = -exp(a) * y1 + exp(c) * y2 * y3
  dy2/dt = exp(a) * y1 - exp(c) * y2 * y3 - exp(b) * y2^2
  dy3/dt = exp(b) * y2^2
}

solver stiff = rodas5(rtol = 1e-7, atol = 1e-12)
data obs = generate(truth, at = [0.1, 0.3, 1, 2, 4, 7, 10, 20, 40], with = stiff)

loss l {
  let sol = solve(fit, at = obs.t, with = stiff)
  mse(sol.y[:, 0], obs.y[:, 0]) + 1e8 * mse(sol.y[:, 1], obs.y[:, 1]) + mse(sol.y[:, 2], obs.y[:, 2])
}

train l {
  optimizer = adam(lr = 0.1)
  steps = 60
  gradient = interpolated
}
"#;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nde-stiff-train-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn write(name: &str, source: &str) -> PathBuf {
    let path = scratch(name);
    std::fs::write(&path, source).unwrap();
    path
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn nde(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nde")).args(args).current_dir(repo()).output().expect("run nde")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn program(name: &str, source: &str) -> ProgramIr {
    let path = write(name, source);
    check_file(&path, &FrontendOptions::default()).unwrap_or_else(|_| panic!("{name} must check")).program
}

#[test]
fn the_trainers_stiff_gradient_matches_finite_differences_of_its_loss() {
    for method in ["rodas5", "kvaerno5", "bdf", "radau5"] {
        let source = ROBERTSON.replace(
            "solve(fit, at = obs.t, with = stiff)",
            &format!("solve(fit, at = obs.t, with = {method}(rtol = 1e-10, atol = 1e-15))"),
        );
        let program = program(&format!("rober_{method}.nde"), &source);
        let spec = program.trains[0].clone();
        let mut trainer =
            Trainer::new(&program, None, &spec, &TrainOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let (loss, grad) = trainer.batch_gradient(&[0]).unwrap();
        let p0 = trainer.params().to_vec();
        assert!((trainer.evaluate().unwrap().loss - loss).abs() <= 1e-12 * loss, "{method}");
        let mut fd = Vec::new();
        for j in 0..p0.len() {
            let mut at = |d: f64| {
                let mut p = p0.clone();
                p[j] += d;
                trainer.set_params(p);
                trainer.evaluate().unwrap().loss
            };
            let h = 1e-4;
            fd.push((at(h) - at(-h)) / (2.0 * h));
        }
        let scale = fd.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (g, f) in grad.iter().zip(&fd) {
            assert!((g - f).abs() <= 1e-5 * scale, "{method}: gradient {grad:?}, differences {fd:?}");
        }
    }
}

#[test]
fn nde_train_fits_robertsons_rates_through_rodas5() {
    let file = write("rober.nde", ROBERTSON);
    let out = scratch("rober.npz").display().to_string();
    let hist = scratch("rober.csv").display().to_string();
    let o = nde(&["train", file.to_str().unwrap(), "-q", "--out", &out, "--history", &hist]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let history = std::fs::read_to_string(&hist).unwrap();
    let losses: Vec<f64> =
        history.lines().skip(1).map(|l| l.split(',').nth(1).unwrap().trim().parse().unwrap()).collect();
    assert_eq!(losses.len(), 60);
    assert!(losses[59] < 0.01 * losses[0], "loss went from {} to {}", losses[0], losses[59]);
    let params = read_npz(Path::new(&out)).unwrap();
    let rate = |name: &str| params.iter().find(|a| a.name == name).unwrap().data[0].exp();
    for (name, truth) in [("a", 0.04), ("b", 3e7), ("c", 1e4)] {
        let k = rate(name);
        assert!((k / truth - 1.0).abs() < 0.15, "rate {name}: {k} vs {truth}");
    }
}

#[test]
fn stiff_losses_without_a_continuous_adjoint_are_refused() {
    let discrete = ROBERTSON.replace("  gradient = interpolated\n", "");
    let auto = ROBERTSON.replace("with = stiff)\n  mse", "with = auto(rtol = 1e-7))\n  mse");
    for (name, source, message) in [
        ("discrete.nde", discrete, "need a continuous adjoint"),
        ("auto.nde", auto, "gradients do not go through `auto`"),
    ] {
        let file = write(name, &source);
        let o = nde(&["train", file.to_str().unwrap(), "-q"]);
        let stderr = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains("E0717") && stderr.contains(message), "{name}: {stderr}");
    }
}
