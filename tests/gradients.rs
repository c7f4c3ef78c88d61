//! Gradients of a loss through a solve of a compiled model: the compiled VJP
//! kernel drives the runtime's adjoints. The bench MLP's P2 loss
//! (`../shared/bench/README.md`) against the peers' reference, the three
//! adjoint methods against each other, and the discrete adjoint against
//! central finite differences of the whole solve.

use std::path::PathBuf;

use nde_compiler::codegen::JitOptions;
use nde_compiler::driver::{self, FrontendOptions, ModelField};
use nde_runtime::adjoint::{gradient, Adjoint, Cotangent};
use nde_runtime::io::{read_npz, Array};
use nde_runtime::{solve, Method, Solution, SolveOptions};

/// The P2 reference (torchdiffeq dopri8, rtol 1e-12): loss and dL/dW1[0, 0..5].
const REF_LOSS: f64 = 457.79150324592484;
const REF_DW1: [f64; 5] =
    [-102.15573443592577, 8.336456490569848, -1.4224394898004549, 3.85147047398458, -16.404374640695504];

struct Bench {
    model: nde_compiler::ir::ModelIr,
    params: Vec<f64>,
    kernels: driver::ModelKernels,
    y0: Vec<f64>,
    targets: Vec<f64>,
    ts: Vec<f64>,
}

fn bench() -> Option<Bench> {
    let repo = crate::tests_dir().parent().unwrap().to_path_buf();
    let weights: PathBuf = repo.join("../shared/bench/mlp_weights.npz");
    if !weights.exists() {
        return None;
    }
    let arrays = read_npz(&weights).unwrap();
    let get = |name: &str| -> &Array { arrays.iter().find(|a| a.name == name).unwrap() };
    let checked = driver::check_file(&repo.join("examples/bench_mlp.nde"), &FrontendOptions::default()).ok().unwrap();
    let model = checked.program.models[0].clone();
    let mut params = model.param_values.clone();
    driver::apply_param_arrays(&model, &mut params, &arrays).unwrap();
    let kernels = driver::compile_model(&model, &JitOptions::default()).unwrap();
    Some(Bench {
        y0: get("y0").data[..2].to_vec(),
        targets: get("targets").data.clone(),
        ts: get("ts").data.clone(),
        model,
        params,
        kernels,
    })
}

/// L = Σ_i ||y(ts_i) − targets_i||² and its gradient with respect to the saved states.
fn loss_and_cotangent(sol: &Solution, targets: &[f64]) -> (f64, Vec<f64>) {
    let diff: Vec<f64> = sol.y.iter().zip(targets).map(|(y, t)| y - t).collect();
    (diff.iter().map(|d| d * d).sum(), diff.iter().map(|d| 2.0 * d).collect())
}

fn grad(b: &Bench, params: &[f64], opts: &SolveOptions, adjoint: Adjoint) -> (f64, Vec<f64>) {
    let field = ModelField::new(&b.kernels, params);
    let mut loss = 0.0;
    let (_, g) = gradient(&field, 0.0, &b.y0, &b.ts, opts, adjoint, None, &mut |sol| {
        let (l, c) = loss_and_cotangent(sol, &b.targets);
        loss = l;
        Cotangent::states(c)
    })
    .unwrap();
    (loss, g.params)
}

fn loss_only(b: &Bench, params: &[f64], opts: &SolveOptions) -> f64 {
    let field = ModelField::new(&b.kernels, params);
    let sol = solve(&field, 0.0, &b.y0, &b.ts, opts).unwrap();
    loss_and_cotangent(&sol, &b.targets).0
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

#[test]
fn bench_mlp_gradient_matches_the_reference_by_every_method() {
    let Some(b) = bench() else { return };
    let w1 = b.model.params.iter().find(|p| p.name == "f.W1").unwrap().offset;
    let opts = SolveOptions { method: Method::Dopri5, rtol: 1e-6, atol: 1e-8, ..Default::default() };
    let mut grads = Vec::new();
    for adjoint in [Adjoint::default(), Adjoint::Backsolve, Adjoint::Interpolated] {
        let (loss, g) = grad(&b, &b.params, &opts, adjoint);
        assert!(rel(loss, REF_LOSS) < 1e-5, "{adjoint:?}: loss {loss}");
        for (k, r) in REF_DW1.iter().enumerate() {
            // rtol 1e-6 on the solve: the peers agree with each other to ~1e-4 here.
            assert!(rel(g[w1 + k], *r) < 1e-3, "{adjoint:?}: dL/dW1[0,{k}] = {} vs {r}", g[w1 + k]);
        }
        grads.push(g);
    }
    let norm = grads[0].iter().map(|g| g * g).sum::<f64>().sqrt();
    for g in &grads[1..] {
        let diff = g.iter().zip(&grads[0]).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
        assert!(diff / norm < 1e-3, "continuous vs discrete: relative difference {:e}", diff / norm);
    }
}

#[test]
fn discrete_gradient_matches_finite_differences_of_the_whole_solve() {
    let Some(b) = bench() else { return };
    let opts = SolveOptions { method: Method::Tsit5, rtol: 1e-10, atol: 1e-12, ..Default::default() };
    let (_, g) = grad(&b, &b.params, &opts, Adjoint::default());
    // A spread of parameters: W1, b1, W2, b2, W3, b3 entries.
    for slot in &b.model.params {
        for k in [0, slot.shape.len() / 2, slot.shape.len() - 1] {
            let i = slot.offset + k;
            let h = 1e-5 * b.params[i].abs().max(1e-2);
            let mut p = b.params.clone();
            p[i] += h;
            let up = loss_only(&b, &p, &opts);
            p[i] -= 2.0 * h;
            let down = loss_only(&b, &p, &opts);
            let fd = (up - down) / (2.0 * h);
            let err = (g[i] - fd).abs() / fd.abs().max(1.0);
            assert!(err < 1e-6, "{}[{k}]: adjoint {} vs finite difference {fd} ({err:e})", slot.name, g[i]);
        }
    }
}
