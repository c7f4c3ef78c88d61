//! The API on its own: kernels agree with each other, gradients with
//! finite differences, errors carry their place, training is reproducible.

mod common;

use common::{example, temp};
use nde::{Error, ModelKind, Program, SolveSpec};

/// A two-parameter model fitted to data generated from a known truth.
const FIT: &str = r#"
model decay {
  param k = 0.5
  param c = 0.1
  state x = 1.0, v = 0.0
  dx/dt = v
  dv/dt = -k * x - c * v
}
model truth {
  state x = 1.0, v = 0.0
  dx/dt = v
  dv/dt = -0.8 * x - 0.3 * v
}
data obs = generate(truth, at = linspace(0, 3, 16), with = tsit5(rtol = 1e-10, atol = 1e-12))
loss fit {
  let sol = solve(decay, at = obs.t, with = dopri5(rtol = 1e-12, atol = 1e-12))
  mean((sol.y - obs.y)^2)
}
train fit {
  optimizer = adam(lr = 0.05)
  steps = 30
  gradient = discrete
}
"#;

#[test]
fn loss_gradient_matches_central_differences() {
    let program = Program::from_source("fit.nde", FIT).unwrap();
    let mut loss = program.loss("fit").unwrap();
    let p = [0.5, 0.1];
    let g = loss.gradient(&p).unwrap();
    assert!(g.value > 1e-4, "the initial guess does not fit: {}", g.value);
    let value = loss.value(&p).unwrap().loss;
    assert!((value - g.value).abs() <= 1e-12 * value, "{value} vs {}", g.value);
    for i in 0..2 {
        let h = 1e-6;
        let (mut up, mut down) = (p, p);
        up[i] += h;
        down[i] -= h;
        let fd = (loss.value(&up).unwrap().loss - loss.value(&down).unwrap().loss) / (2.0 * h);
        let err = (fd - g.gradient[i]).abs() / fd.abs().max(1e-8);
        assert!(err < 1e-5, "parameter {i}: adjoint {} vs central differences {fd}", g.gradient[i]);
    }
    assert!(matches!(loss.gradient(&[1.0]), Err(Error::InvalidArgument(_))));
    assert!(matches!(loss.gradient(&[f64::NAN, 0.0]), Err(Error::InvalidArgument(_))));
}

#[test]
fn training_reduces_the_loss_and_is_reproducible() {
    let program = Program::from_source("fit.nde", FIT).unwrap();
    assert_eq!(program.training_names(), ["fit"]);
    let mut a = program.training("fit").unwrap();
    let before = a.evaluate().unwrap().loss;
    let mut seen = Vec::new();
    a.run_to_end(|s| seen.push(s.step)).unwrap();
    assert_eq!(seen, (1..=30).collect::<Vec<u64>>());
    let after = a.evaluate().unwrap().loss;
    assert!(after < 0.1 * before, "training reduces the loss: {before} -> {after}");

    // Two runs agree bit for bit, and a resumed run continues the same way.
    let mut b = program.training("fit").unwrap();
    b.run(10, |_| {}).unwrap();
    let ckpt = temp("fit_ckpt.npz");
    b.checkpoint(&ckpt).unwrap();
    let mut c = program.training("fit").unwrap();
    c.resume(&ckpt).unwrap();
    assert_eq!(c.steps_done(), 10);
    c.run(20, |_| {}).unwrap();
    assert_eq!(c.parameters(), a.parameters());
    assert_eq!(a.history().len(), 30);
    assert!(matches!(program.training("nope"), Err(Error::NotFound { kind: "train block", .. })));
}

#[test]
fn kernels_agree_with_each_other() {
    let program = Program::from_file(example("bench_mlp.nde")).unwrap();
    let model = program.default_model().unwrap().compile().unwrap();
    assert_eq!(model.kind(), ModelKind::Ode);
    let (n, np) = (model.n_state(), model.n_param());
    let y = [0.3, -0.7];
    let jac = model.jacobian(0.0, &y).unwrap();
    // jvp with e_j is column j; vjp with e_i is row i.
    for j in 0..n {
        let mut e = vec![0.0; n];
        e[j] = 1.0;
        let mut col = vec![0.0; n];
        model.jvp(0.0, &y, &e, &mut col).unwrap();
        let mut row = vec![0.0; n];
        let mut gp = vec![0.0; np];
        model.vjp(0.0, &y, &e, &mut row, &mut gp).unwrap();
        for i in 0..n {
            assert!((col[i] - jac[i * n + j]).abs() < 1e-12);
            assert!((row[i] - jac[j * n + i]).abs() < 1e-12);
        }
    }
    // rhs against central differences of itself through the Jacobian.
    let h = 1e-6;
    let (mut f1, mut f2) = (vec![0.0; n], vec![0.0; n]);
    model.rhs(0.0, &[y[0] + h, y[1]], &mut f1).unwrap();
    model.rhs(0.0, &[y[0] - h, y[1]], &mut f2).unwrap();
    for i in 0..n {
        assert!(((f1[i] - f2[i]) / (2.0 * h) - jac[i * n]).abs() < 1e-6);
    }
    // Wrong lengths are errors, not panics.
    let mut short = vec![0.0; 1];
    assert!(matches!(model.rhs(0.0, &y, &mut short), Err(Error::InvalidArgument(_))));
    assert!(matches!(model.jvp(0.0, &y, &[1.0], &mut [0.0; 2]), Err(Error::InvalidArgument(_))));
    assert!(matches!(model.vjp(0.0, &y, &y, &mut [0.0; 2], &mut []), Err(Error::InvalidArgument(_))));
    assert!(matches!(model.jacobian(0.0, &[1.0; 3]), Err(Error::InvalidArgument(_))));
    assert!(matches!(model.solve_batch(&SolveSpec::new(0.0, 1.0), &[1.0; 3]), Err(Error::InvalidArgument(_))));
    assert!(matches!(model.solve_batch(&SolveSpec::new(0.0, 1.0), &[f64::NAN, 1.0]), Err(Error::InvalidArgument(_))));
}

#[test]
fn sde_models_have_a_drift_and_a_diffusion_but_no_jacobian() {
    let program = Program::from_file(example("ou.nde")).unwrap();
    let model = program.default_model().unwrap().compile().unwrap();
    assert_eq!(model.kind(), ModelKind::Sde);
    let mut dy = [0.0];
    model.rhs(0.0, &[0.5], &mut dy).unwrap();
    assert_eq!(dy, [0.7 * (1.5 - 0.5)]);
    assert_eq!(model.diffusion(0.0, &[0.5]).unwrap(), [0.3]);
    assert!(matches!(model.jacobian(0.0, &[0.5]), Err(Error::Unsupported(_))));
}

#[test]
fn compile_errors_carry_file_line_and_column() {
    let path = temp("broken.nde");
    std::fs::write(&path, "model m {\n  state x = 1.0\n  dx/dt = -k * x\n}\n").unwrap();
    let err = Program::from_file(&path).unwrap_err();
    let Error::Compile(errors) = &err else { panic!("expected a compile error, got {err}") };
    let d = &errors.diagnostics()[0];
    assert!(d.is_error);
    assert!(d.code.starts_with("E02"), "an unknown name: {}", d.code);
    assert_eq!((d.line, d.column), (3, 12));
    assert_eq!(d.file.as_deref(), path.to_str());
    let text = err.to_string();
    assert!(text.contains(&format!("{}:3:12", path.display())), "{text}");
    assert!(text.contains("dx/dt = -k * x"), "the source line is shown: {text}");
    assert!(!text.contains('\u{1b}'), "no colour codes");
    assert_eq!(errors.raw().len(), errors.diagnostics().len());

    // A missing file is a diagnostic too.
    let err = Program::from_file(temp("missing.nde")).unwrap_err();
    let Error::Compile(errors) = &err else { panic!("{err}") };
    assert_eq!(errors.diagnostics()[0].code, "E0601");
}

#[test]
fn lookups_and_options_fail_with_typed_errors() {
    let program = Program::from_file(example("spiral.nde")).unwrap();
    assert_eq!(program.model_names(), ["truth", "spiral"]);
    match program.default_model() {
        Err(Error::NotFound { kind: "model", available, .. }) => assert_eq!(available, ["truth", "spiral"]),
        other => panic!("{other:?}"),
    }
    match program.model("nope") {
        Err(e @ Error::NotFound { .. }) => assert!(e.to_string().contains("truth, spiral")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(program.loss("nope"), Err(Error::NotFound { kind: "loss", .. })));
    let truth = program.model("truth").unwrap().compile().unwrap();
    let spec = SolveSpec::new(0.0, 1.0);
    assert!(matches!(truth.solve(&spec.clone().method("nope")), Err(Error::Solver(_))));
    assert!(matches!(truth.solve(&spec.clone().method("rk4")), Err(Error::Solver(_))), "rk4 needs dt");
    // The file's declared solver is found by name.
    let fast = truth.solve(&spec.clone().method("fast")).unwrap();
    let dopri = truth.solve(&spec.clone().method("dopri5").tolerances(1e-7, 1e-9)).unwrap();
    assert_eq!(fast.states(), dopri.states());
    assert!(matches!(truth.solve(&spec.clone().save_at(&[0.5, 0.2])), Err(Error::InvalidArgument(_))));
    assert!(matches!(truth.solve(&SolveSpec::new(0.0, f64::NAN)), Err(Error::InvalidArgument(_))));
    // A failing solve is a `Solve` error.
    let err = truth.solve(&spec.clone().max_steps(3)).unwrap_err();
    assert!(matches!(err, Error::Solve(_)), "{err}");
    assert!(program.ir_text().contains("spiral"));
}

#[test]
fn parameters_by_name_and_seeded_initialisers() {
    let program = Program::from_file(example("spiral.nde")).unwrap();
    let model = program.model("spiral").unwrap();
    let names = model.parameter_names();
    assert!(names.iter().any(|n| n == "f.W1"), "{names:?}");
    let params = model.parameters();
    let w1 = model.parameter_variables().into_iter().find(|v| v.name == "f.W1").unwrap();
    assert_eq!(params.get("f.W1").unwrap().len(), w1.len);
    assert_eq!(w1.shape.iter().product::<usize>(), w1.len);
    assert!(matches!(params.get("W9"), Err(Error::NotFound { kind: "parameter", .. })));
    // Another seed draws other initial weights; the same seed the same ones.
    let other = Program::from_file_with(example("spiral.nde"), &nde::Options { seed: 3, threads: 1 }).unwrap();
    assert_ne!(other.model("spiral").unwrap().parameters().as_slice(), params.as_slice());
    let same = Program::from_file(example("spiral.nde")).unwrap();
    assert_eq!(same.model("spiral").unwrap().parameters(), params);
}

/// A GPU ensemble through the API agrees with the CPU batch solve to the
/// accuracy the tolerances imply (f64), or says why it cannot run: built
/// without the `gpu` feature, or no adapter (then `NDE_REQUIRE_GPU=1`, as CI
/// sets with Mesa's software driver installed, makes it a failure).
#[test]
fn a_gpu_ensemble_matches_the_cpu_batch_or_says_why_not() {
    let program = Program::from_file(example("lorenz.nde")).unwrap();
    let lorenz = program.model("lorenz").unwrap().compile().unwrap();
    let spec = SolveSpec::new(0.0, 1.0).saves(11).method("tsit5").tolerances(1e-9, 1e-11);
    let y0s: Vec<f64> = (0..8).flat_map(|b| [1.0 + 0.1 * b as f64, 1.0, 1.0]).collect();
    let options = nde::GpuOptions { precision: nde::Precision::F64, ..Default::default() };
    let gpu = match lorenz.solve_gpu(&spec, Some(&y0s), &options) {
        Ok(sol) => sol,
        Err(Error::Gpu(e)) => {
            let required = std::env::var("NDE_REQUIRE_GPU").is_ok_and(|v| v == "1");
            assert!(!(required && cfg!(feature = "gpu")), "NDE_REQUIRE_GPU=1 but: {e}");
            eprintln!("skipped: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let cpu = lorenz.solve_batch(&spec, &y0s).unwrap();
    assert_eq!((gpu.n_trajectories(), gpu.times()), (8, cpu.times()));
    for (g, c) in gpu.states().iter().zip(cpu.states()) {
        assert!((g - c).abs() <= 1e-6 * c.abs().max(1.0), "gpu {g} vs cpu {c}");
    }
    // A stiff method does not run on the device, and says so.
    let err = lorenz.solve_gpu(&spec.clone().method("rodas5"), Some(&y0s), &options).unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err}");
}
