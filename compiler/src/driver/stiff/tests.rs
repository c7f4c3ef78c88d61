//! The compiled Jacobian and time derivative against central finite
//! differences of the compiled right-hand side, solver choice from
//! declarations, and one solve through each kind of solver.

use nde_runtime::stiff::StiffMethod;
use nde_runtime::term::VectorField;
use nde_runtime::{Method, SolveError};

use super::*;
use crate::codegen::JitOptions;
use crate::driver::{check_source, compile_model, initial_state, FrontendOptions, FsLoader};
use crate::ir::ModelIr;
use crate::span::SourceMap;

fn model(name: &str, text: &str) -> ModelIr {
    let mut sources = SourceMap::new();
    let root = sources.add(name, text);
    let checked = match check_source(sources, root, &FsLoader, &FrontendOptions::default()) {
        Ok(c) => c,
        Err(f) => panic!("{name}: {}", f.diagnostics.0[0].render_plain(&f.sources)),
    };
    checked.program.models.into_iter().next().expect("one model")
}

const ROBERTSON: &str = include_str!("../../../../examples/robertson.nde");
const POLLUTION: &str = include_str!("../../../../examples/pollution.nde");
const VDPOL: &str = include_str!("../../../../examples/van_der_pol_stiff.nde");

/// Time-dependent, with a matrix product, a vector state and transcendental functions.
const MIXED: &str = "
model mixed {
  param A: [3, 3] = [[-2.0, 0.5, 0.1], [0.3, -1.0, 0.2], [0.0, 0.4, -3.0]]
  param w = 1.7
  state u: [3] = [0.5, -0.3, 0.8]
  state s = 0.2
  du/dt = A @ tanh(u) + sin(w * t) * [s, s^2, exp(-s)]
  ds/dt = -s * u[0] * cos(t) + log(1 + u[1]^2)
}
";

/// Checks `∂f/∂y` and `∂f/∂t` at the model's initial state, moved a little,
/// against central differences with a step scaled to each component.
fn check_derivatives(name: &str, text: &str, t: f64) {
    let m = model(name, text);
    let kernels = compile_model(&m, &JitOptions::default()).unwrap();
    let field = ModelField::new(&kernels, &m.param_values);
    let n = field.dim();
    let mut y = initial_state(&m, &m.param_values, 0.0).unwrap();
    for (i, v) in y.iter_mut().enumerate() {
        *v += 0.01 * (i as f64 + 1.0).sin() * (1.0 + v.abs());
    }
    let mut scratch = vec![0.0; field.scratch_len().max(field.jac_scratch_len())];
    let mut jac = vec![f64::NAN; n * n];
    field.jacobian(t, &y, &mut jac, &mut scratch);
    let mut dfdt = vec![f64::NAN; n];
    field.time_derivative(t, &y, &mut dfdt, &mut scratch);
    let (mut fp, mut fm) = (vec![0.0; n], vec![0.0; n]);
    let scale = jac.iter().fold(0.0f64, |a, v| a.max(v.abs())).max(1.0);
    for j in 0..n {
        let h = 1e-6 * (1.0 + y[j].abs());
        let (mut yp, mut ym) = (y.clone(), y.clone());
        yp[j] += h;
        ym[j] -= h;
        field.eval(t, &yp, &mut fp, &mut scratch);
        field.eval(t, &ym, &mut fm, &mut scratch);
        for i in 0..n {
            let fd = (fp[i] - fm[i]) / (2.0 * h);
            let got = jac[i * n + j];
            assert!((got - fd).abs() <= 1e-6 * scale, "{name}: ∂f{i}/∂y{j} = {got}, differences {fd}");
        }
    }
    let h = 1e-6 * (1.0 + t.abs());
    field.eval(t + h, &y, &mut fp, &mut scratch);
    field.eval(t - h, &y, &mut fm, &mut scratch);
    for i in 0..n {
        let fd = (fp[i] - fm[i]) / (2.0 * h);
        assert!((dfdt[i] - fd).abs() <= 1e-6 * (1.0 + fd.abs()), "{name}: ∂f{i}/∂t = {}, differences {fd}", dfdt[i]);
    }
}

#[test]
fn compiled_jacobians_match_central_differences() {
    check_derivatives("mixed", MIXED, 0.7);
    check_derivatives("robertson", ROBERTSON, 0.0);
    check_derivatives("pollution", POLLUTION, 0.0);
    check_derivatives("vdpol", VDPOL, 0.0);
}

#[test]
fn an_autonomous_model_has_a_zero_time_derivative() {
    let m = model("robertson", ROBERTSON);
    let kernels = compile_model(&m, &JitOptions::default()).unwrap();
    let field = ModelField::new(&kernels, &m.param_values);
    let mut out = vec![f64::NAN; 3];
    let mut scratch = vec![0.0; field.jac_scratch_len()];
    field.time_derivative(1.0, &[0.9, 1e-5, 0.1], &mut out, &mut scratch);
    assert_eq!(out, [0.0; 3]);
}

fn spec(method: &str, options: &[(&str, f64)]) -> SolverSpec {
    SolverSpec {
        name: "s".into(),
        method: method.into(),
        options: options.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

#[test]
fn declarations_choose_the_kind_of_solver() {
    let opts = [("rtol", 1e-8), ("atol", 1e-10), ("max_steps", 500.0)];
    match solver_from_spec(&spec("rodas5", &opts)).unwrap() {
        OdeSolver::Stiff(o) => {
            assert_eq!((o.method, o.rtol, o.atol, o.max_steps, o.dt), (StiffMethod::Rodas5, 1e-8, 1e-10, 500, None))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(solver_from_spec(&spec("bdf", &[])), Ok(OdeSolver::Stiff(o)) if o.method == StiffMethod::Bdf));
    assert!(matches!(solver_from_spec(&spec("kvaerno5", &[])), Ok(OdeSolver::Stiff(_))));
    let radau = solver_from_spec(&spec("radau5", &opts));
    assert!(matches!(radau, Ok(OdeSolver::Stiff(o)) if o.method == StiffMethod::Radau5 && o.rtol == 1e-8), "{radau:?}");
    match solver_from_spec(&spec("auto", &opts)).unwrap() {
        OdeSolver::Auto(o) => assert_eq!((o.rtol, o.atol, o.max_steps), (1e-8, 1e-10, 500)),
        other => panic!("{other:?}"),
    }
    match solver_from_spec(&spec("tsit5", &[("dt", 0.1)])).unwrap() {
        OdeSolver::Explicit(o) => assert_eq!((o.method, o.dt), (Method::Tsit5, Some(0.1))),
        other => panic!("{other:?}"),
    }
    assert_eq!(solver_from_spec(&spec("rk4", &[])), Err(SolverChoiceError::NeedsDt { method: "rk4" }));
    let unknown = solver_from_spec(&spec("radau", &[])).unwrap_err();
    assert!(unknown.to_string().contains("rodas5, kvaerno5, bdf, radau5, auto"), "{unknown}");
}

#[test]
fn explicit_adjoint_options_refuse_stiff_solvers_with_a_clear_message() {
    for method in ["rodas5", "kvaerno5", "bdf", "radau5", "auto"] {
        let e = crate::driver::solve_options(&spec(method, &[])).unwrap_err();
        assert!(e.contains("only the continuous adjoints"), "{e}");
        assert!(e.contains(method), "{e}");
    }
    assert!(crate::driver::solve_options(&spec("dopri5", &[])).is_ok());
}

#[test]
fn every_kind_of_solver_solves_a_compiled_model_alike() {
    let m = model("vdpol", VDPOL);
    let kernels = compile_model(&m, &JitOptions::default()).unwrap();
    let field = ModelField::new(&kernels, &m.param_values);
    let y0 = initial_state(&m, &m.param_values, 0.0).unwrap();
    let saveat = [0.0, 0.05, 0.1];
    let reference = solve_ode(
        &field,
        &OdeSolver::named("rodas5").unwrap().with(Some(1e-10), Some(1e-10), None, None),
        0.0,
        &y0,
        &saveat,
    )
    .unwrap()
    .solution;
    for name in ["rodas5", "kvaerno5", "bdf", "radau5", "auto", "tsit5"] {
        let solver = OdeSolver::named(name).unwrap().with(Some(1e-7), Some(1e-7), None, Some(10_000_000));
        let solved = solve_ode(&field, &solver, 0.0, &y0, &saveat).unwrap();
        for (a, r) in solved.solution.y.iter().zip(&reference.y) {
            assert!((a - r).abs() < 1e-4 * (1.0 + r.abs()), "{name}: {a} vs {r}");
        }
        assert_eq!(solved.switches.is_empty(), name != "auto", "{name}: {:?}", solved.switches);
        // A batch of two equal trajectories gives the single solve twice.
        let batch = solve_ode_batch(&field, &solver, 0.0, &[y0.clone(), y0.clone()].concat(), &saveat, 2).unwrap();
        assert_eq!(batch.y, [solved.solution.y.clone(), solved.solution.y.clone()].concat(), "{name}");
    }
}

#[test]
fn a_stiff_failure_in_a_batch_names_the_trajectory() {
    // y' = −y/(1 − t): the Jacobian becomes infinite at t = 1.
    let m = model("blowup", "model blowup {\n  state y = 1.0\n  dy/dt = -y / (1 - t)^2\n}\n");
    let kernels = compile_model(&m, &JitOptions::default()).unwrap();
    let field = ModelField::new(&kernels, &m.param_values);
    let solver = OdeSolver::named("rodas5").unwrap();
    let e = solve_ode_batch(&field, &solver, 0.0, &[1.0, 2.0], &[2.0], 1).unwrap_err();
    match &e {
        SolveError::InBatch { index: 0, error } => assert!(error.time().is_some_and(|t| t <= 1.0), "{error}"),
        other => panic!("{other:?}"),
    }
}
