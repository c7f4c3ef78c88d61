//! The example models (and a non-autonomous one): every derivative against
//! finite differences, compiled and interpreted.

use super::{check_jit, check_point, Derivs, Rng};
use crate::driver::frontend::{compile_to_ir, FrontendOptions, MemoryLoader};
use crate::driver::{check_file, select_model, KernelFunctions};
use crate::ir::{interp, ModelIr};
use crate::span::SourceMap;
use std::path::PathBuf;

/// Checks `m`'s derivatives — both as the pass builds them and as the
/// driver compiles them (simplified) — at three points near its initial
/// state, with its parameters perturbed (so zero-initialised biases are not
/// special).
fn check_model(m: &ModelIr, seed: u64) {
    let k = KernelFunctions::of(m).expect("kernel functions");
    let prepared = Derivs { vjp: k.vjp, jvp: k.jvp, jac: k.jac, dfdt: k.dfdt };
    check_derivs(m, &Derivs::of(&m.rhs), seed);
    check_derivs(m, &prepared, seed);
}

fn check_derivs(m: &ModelIr, d: &Derivs, seed: u64) {
    let mut rng = Rng::new(seed);
    let p: Vec<f64> = m.param_values.iter().map(|v| v + rng.uniform(-0.1, 0.1)).collect();
    // A CDE's init reads X(t0) and its rhs `[y; X; dX/dt]`: random values there.
    let x0: Vec<f64> = (0..m.init.n_state).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let y0 = interp::eval(&m.init, 0.0, &x0, &p).expect("init");
    for point in 0..3 {
        let t = rng.uniform(0.0, 2.0);
        let mut y: Vec<f64> = y0.iter().map(|v| v + rng.uniform(-0.5, 0.5)).collect();
        y.extend((y.len()..m.rhs.n_state).map(|_| rng.uniform(-1.0, 1.0)));
        check_point(&m.rhs, d, t, &y, &p, &mut rng, &format!("{} point {point}", m.name));
        if point == 0 {
            check_jit(&m.rhs, d, t, &y, &p, &mut rng, &m.name);
        }
    }
}

/// Models of the stiff examples robertson.nde and pollution.nde.
const STIFF_EXAMPLES: &[&str] = &["robertson", "pollution"];

#[test]
fn every_example_model() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "nde"))
        .collect();
    files.sort();
    let mut seen = 0;
    for file in files {
        let checked = check_file(&file, &FrontendOptions::default()).unwrap_or_else(|_| panic!("{}", file.display()));
        for m in &checked.program.models {
            // The stiff test problems' rate constants (up to 4.4e11) times
            // states moved by ±0.5 make `f` so large that central
            // differences lose their digits to round-off; their Jacobians
            // are checked at their own scale in `driver::stiff`.
            if STIFF_EXAMPLES.contains(&m.name.as_str()) {
                continue;
            }
            check_model(m, seen);
            seen += 1;
        }
    }
    assert!(seen >= 8, "only {seen} example models");
    // bench_mlp really is the 2 → 64 → 64 → 2 network.
    let bench = check_file(&dir.join("bench_mlp.nde"), &FrontendOptions::default()).unwrap_or_else(|_| panic!());
    let m = select_model(&bench.program, None).expect("bench_mlp");
    assert_eq!(m.n_param(), 64 * 2 + 64 + 64 * 64 + 64 + 2 * 64 + 2);
}

#[test]
fn non_autonomous_model() {
    let src = "model forced {
  param omega = 1.3, amp = 0.7
  state x = 0.5, v: [2] = [0.1, -0.2]
  dx/dt = -x + amp * sin(omega * t) * v[0]
  dv/dt = [v[1] * exp(-0.3 * t), -omega^2 * sin(x) + t^2 * v[0] / (1 + t)]
}
";
    let mut sources = SourceMap::new();
    let root = sources.add("forced.nde", src);
    let program = match compile_to_ir(&mut sources, root, &MemoryLoader::new(), &FrontendOptions::default()) {
        Ok(p) => p,
        Err(d) => panic!("{}", d.0.iter().map(|d| d.render_plain(&sources)).collect::<String>()),
    };
    let m = &program.models[0];
    let dfdt = crate::autodiff::time_derivative(&m.rhs);
    let out = interp::eval(&dfdt, 0.0, &[0.5, 0.1, -0.2], &m.param_values).expect("dfdt");
    assert!(out.iter().any(|&v| v != 0.0), "{dfdt}");
    check_model(m, 77);
}
