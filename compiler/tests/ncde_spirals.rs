//! examples/ncde_spirals.nde, issue 5's acceptance test: a neural CDE trained
//! on irregularly sampled spirals (30% of the observations dropped) tells
//! clockwise from anticlockwise on the held-out test set at least 95% of
//! the time; through the driver API and through `nde train` + `nde eval`.
//! Also: the step gradient of a CDE loss (through outputs, data fields and
//! the initial state `z(t0) = embed(X(t0))`) against central differences.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nde_compiler::driver::train::{self, TrainOptions, Trainer};
use nde_compiler::driver::{check_file, FrontendOptions};
use nde_compiler::ir::ProgramIr;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn example() -> PathBuf {
    repo().join("examples/ncde_spirals.nde")
}

fn program() -> ProgramIr {
    check_file(&example(), &FrontendOptions::default())
        .unwrap_or_else(|_| panic!("ncde_spirals.nde must check"))
        .program
}

fn nde(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nde")).args(args).current_dir(repo()).output().expect("run nde")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Steps the tests train for (the example's block says more; a few dozen
/// already separate the classes).
const STEPS: u64 = 40;

#[test]
fn trained_ncde_classifies_held_out_spirals() {
    let program = program();
    let spec = program.trains.iter().find(|t| t.loss == "fit").expect("a `train fit` block").clone();
    let opts = TrainOptions { steps: Some(STEPS), ..Default::default() };
    let mut trainer = Trainer::new(&program, None, &spec, &opts).unwrap_or_else(|e| panic!("{e}"));
    let before = train::evaluator(&program, "test_accuracy", &opts).unwrap_or_else(|e| panic!("{e}"));
    let chance = before.evaluate().unwrap().loss;
    let first = trainer.step().unwrap().loss;
    while !trainer.is_finished() {
        trainer.step().unwrap();
    }
    let last = trainer.history.last().unwrap().loss;
    assert!(last < 0.3 * first, "training loss {first} -> {last}");

    let mut test = train::evaluator(&program, "test_accuracy", &opts).unwrap_or_else(|e| panic!("{e}"));
    test.set_params(trainer.params().to_vec());
    let accuracy = test.evaluate().unwrap().loss;
    assert!(accuracy >= 0.95, "test accuracy {accuracy} (untrained: {chance})");
    assert!(chance < 0.8, "the untrained model should not already classify ({chance})");
    // 128 test series: the accuracy is a multiple of 1/128.
    assert_eq!((accuracy * 128.0).round() / 128.0, accuracy);
}

/// The gradient of a CDE step equals central differences of its loss, for
/// every gradient method (a subset of the parameters, to keep it quick).
#[test]
fn cde_step_gradients_match_central_differences() {
    for gradient in ["discrete", "backsolve", "interpolated"] {
        let mut program = program();
        let mut spec = program.trains[0].clone();
        spec.gradient = gradient.to_string();
        program.trains[0] = spec.clone();
        if gradient != "discrete" {
            // A continuous adjoint matches the discrete gradient only as
            // the steps shrink: one RK4 step per observation interval is
            // too coarse for it.
            for l in &mut program.losses {
                l.solver.options = vec![("dt".to_string(), 0.02)];
            }
        }
        let opts = TrainOptions { threads: 2, ..Default::default() };
        let mut t = Trainer::new(&program, None, &spec, &opts).unwrap_or_else(|e| panic!("{e}"));
        let p0 = t.params().to_vec();
        let (loss, grad) = t.batch_gradient(&[0, 5, 64, 100]).unwrap();
        assert!(loss.is_finite());
        let model = t.model().clone();
        // embed.W (initial state), F.W1 (vector field), readout.b (output).
        let probes: Vec<usize> = ["embed.W", "F.W1", "readout.b"]
            .iter()
            .map(|name| model.params.iter().find(|p| p.name == *name).unwrap_or_else(|| panic!("{name}")).offset)
            .collect();
        for &i in &probes {
            let h = 1e-6;
            let mut at = |d: f64| {
                let mut p = p0.clone();
                p[i] += d;
                t.set_params(p);
                t.batch_gradient(&[0, 5, 64, 100]).unwrap().0
            };
            let fd = (at(h) - at(-h)) / (2.0 * h);
            let tol = if gradient == "discrete" { 1e-6 } else { 5e-3 };
            assert!(
                (fd - grad[i]).abs() <= tol * grad[i].abs().max(1e-2),
                "{gradient}: dL/dp[{i}] = {} vs central difference {fd}",
                grad[i]
            );
            t.set_params(p0.clone());
        }
    }
}

#[test]
fn nde_train_then_eval_reports_the_test_accuracy() {
    let dir = std::env::temp_dir().join(format!("nde-ncde-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let params = dir.join("spirals.params.npz").display().to_string();
    let file = example().display().to_string();
    let out = nde(&["train", &file, "--steps", &STEPS.to_string(), "-q", "-o", &params]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = nde(&["eval", &file, "--params", &params, "test_accuracy", "fit"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<(&str, f64)> = stdout
        .lines()
        .map(|l| {
            let (name, value) = l.split_once(' ').unwrap_or_else(|| panic!("`NAME VALUE`: {l}"));
            (name, value.parse().unwrap_or_else(|_| panic!("a number: {l}")))
        })
        .collect();
    assert_eq!(lines.iter().map(|(n, _)| *n).collect::<Vec<_>>(), ["test_accuracy", "fit"], "{stdout}");
    assert!(lines[0].1 >= 0.95, "{stdout}");
    assert!(lines[1].1 < 0.3, "{stdout}");

    // Every loss by default, at the initial parameters.
    let out = nde(&["eval", &file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).lines().map(|l| l.split(' ').next().unwrap()).collect::<Vec<_>>(),
        ["fit", "test_accuracy"]
    );

    // An unknown loss is a usage error naming the losses there are.
    let out = nde(&["eval", &file, "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no loss `nope`") && text(&out.stderr).contains("fit, test_accuracy"));

    // `nde run` writes the output columns after the states.
    let out = nde(&["run", &file, "--params", &params]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let header = text(&out.stdout).lines().next().unwrap_or_default().to_string();
    assert_eq!(header, "traj,t,z[0],z[1],z[2],z[3],z[4],z[5],z[6],z[7],logits[0],logits[1]");
    let _ = std::fs::remove_dir_all(&dir);
}
