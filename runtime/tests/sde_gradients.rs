//! Gradients through SDE solves: the discrete adjoint of every method
//! against central finite differences on the same Brownian path, reversible
//! Heun's O(1)-memory adjoint against the discrete one (and its
//! reconstruction of the forward states), batches on any thread count.

use nde_runtime::brownian::BrownianTree;
use nde_runtime::sde::{sde_gradient, sde_gradient_batch, sde_solve, FnSde, Noise, SdeAdjoint, SdeMethod, SdeOptions};
use nde_runtime::SolveError;

/// Drift `f0 = a sin(y1) − y0`, `f1 = −b y1 y0`; diagonal diffusion
/// `g0 = c cos(y0)`, `g1 = c y1`; parameters `(a, b, c)`.
fn diagonal(p: [f64; 3]) -> FnSde {
    FnSde::new(
        2,
        Noise::Diagonal,
        |_, y, p, o| {
            o[0] = p[0] * y[1].sin() - y[0];
            o[1] = -p[1] * y[1] * y[0];
        },
        |_, y, p, o| {
            o[0] = p[2] * y[0].cos();
            o[1] = p[2] * y[1];
        },
    )
    .with_dg(|_, y, p, o| {
        o[0] = -0.5 * p[2] * p[2] * (2.0 * y[0]).sin();
        o[1] = p[2] * p[2] * y[1];
    })
    .with_params(
        p.to_vec(),
        |_, y, p, a, gy, gp| {
            gy[0] = -a[0] - a[1] * p[1] * y[1];
            gy[1] = a[0] * p[0] * y[1].cos() - a[1] * p[1] * y[0];
            gp[0] = a[0] * y[1].sin();
            gp[1] = -a[1] * y[1] * y[0];
            gp[2] = 0.0;
        },
        |_, y, p, a, gy, gp| {
            gy[0] = -a[0] * p[2] * y[0].sin();
            gy[1] = a[1] * p[2];
            gp[0] = 0.0;
            gp[1] = 0.0;
            gp[2] = a[0] * y[0].cos() + a[1] * y[1];
        },
    )
    .with_dg_vjp(|_, y, p, a, gy, gp| {
        let c = p[2];
        gy[0] = -a[0] * c * c * (2.0 * y[0]).cos();
        gy[1] = a[1] * c * c;
        gp[0] = 0.0;
        gp[1] = 0.0;
        gp[2] = -a[0] * c * (2.0 * y[0]).sin() + a[1] * 2.0 * c * y[1];
    })
}

/// The same drift with general noise `G = [[c y0, 0.3], [0.2, c cos(y1)]]`.
fn general(p: [f64; 3]) -> FnSde {
    FnSde::new(
        2,
        Noise::General { m: 2 },
        |_, y, p, o| {
            o[0] = p[0] * y[1].sin() - y[0];
            o[1] = -p[1] * y[1] * y[0];
        },
        |_, y, p, o| o.copy_from_slice(&[p[2] * y[0], 0.3, 0.2, p[2] * y[1].cos()]),
    )
    .with_params(
        p.to_vec(),
        |_, y, p, a, gy, gp| {
            gy[0] = -a[0] - a[1] * p[1] * y[1];
            gy[1] = a[0] * p[0] * y[1].cos() - a[1] * p[1] * y[0];
            gp[0] = a[0] * y[1].sin();
            gp[1] = -a[1] * y[1] * y[0];
            gp[2] = 0.0;
        },
        |_, y, p, a, gy, gp| {
            gy[0] = a[0] * p[2];
            gy[1] = -a[3] * p[2] * y[1].sin();
            gp[0] = 0.0;
            gp[1] = 0.0;
            gp[2] = a[0] * y[0] + a[3] * y[1].cos();
        },
    )
}

/// The same drift with additive, time-dependent noise `g = (c (1 + t), c/2)`.
fn additive(p: [f64; 3]) -> FnSde {
    FnSde::new(
        2,
        Noise::Diagonal,
        |_, y, p, o| {
            o[0] = p[0] * y[1].sin() - y[0];
            o[1] = -p[1] * y[1] * y[0];
        },
        |t, _, p, o| {
            o[0] = p[2] * (1.0 + t);
            o[1] = 0.5 * p[2];
        },
    )
    .additive()
    .with_params(
        p.to_vec(),
        |_, y, p, a, gy, gp| {
            gy[0] = -a[0] - a[1] * p[1] * y[1];
            gy[1] = a[0] * p[0] * y[1].cos() - a[1] * p[1] * y[0];
            gp[0] = a[0] * y[1].sin();
            gp[1] = -a[1] * y[1] * y[0];
            gp[2] = 0.0;
        },
        |t, _, _, a, gy, gp| {
            gy.fill(0.0);
            gp[0] = 0.0;
            gp[1] = 0.0;
            gp[2] = a[0] * (1.0 + t) + 0.5 * a[1];
        },
    )
}

/// Builds a field with parameters `p`.
type Make = fn([f64; 3]) -> FnSde;

const P: [f64; 3] = [0.8, 0.6, 0.4];
const Y0: [f64; 2] = [0.7, -0.3];
const SAVEAT: [f64; 3] = [0.3, 0.55, 1.0];

/// Loss weights on the saved states (rows `[3][2]`).
fn weights() -> Vec<f64> {
    (0..6).map(|i| 0.3 + 0.17 * i as f64 * if i % 2 == 0 { 1.0 } else { -1.0 }).collect()
}

fn loss(make: Make, p: [f64; 3], y0: &[f64], o: &SdeOptions, tree: &BrownianTree) -> f64 {
    let sol = sde_solve(&make(p), 0.0, y0, &SAVEAT, o, tree).unwrap();
    sol.y.iter().zip(weights()).map(|(y, w)| y * w).sum()
}

/// Central differences of the loss in `y0` then `p`.
fn finite_differences(make: Make, o: &SdeOptions, tree: &BrownianTree) -> Vec<f64> {
    let eps = 1e-6;
    let mut g = vec![];
    for i in 0..2 {
        let (mut a, mut b) = (Y0, Y0);
        a[i] += eps;
        b[i] -= eps;
        g.push((loss(make, P, &a, o, tree) - loss(make, P, &b, o, tree)) / (2.0 * eps));
    }
    for i in 0..3 {
        let (mut a, mut b) = (P, P);
        a[i] += eps;
        b[i] -= eps;
        g.push((loss(make, a, &Y0, o, tree) - loss(make, b, &Y0, o, tree)) / (2.0 * eps));
    }
    g
}

fn gradient(
    make: Make,
    o: &SdeOptions,
    tree: &BrownianTree,
    adjoint: SdeAdjoint,
) -> (Vec<f64>, nde_runtime::sde::SdeGradient) {
    let (_, g) = sde_gradient(&make(P), 0.0, &Y0, &SAVEAT, o, tree, adjoint, &mut |_| weights()).unwrap();
    ([g.y0.clone(), g.params.clone()].concat(), g)
}

fn assert_close(got: &[f64], want: &[f64], rel: f64, what: &str) {
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= rel * scale, "{what}: {got:?} vs {want:?}");
    }
}

#[test]
fn discrete_gradients_match_finite_differences() {
    let tree = BrownianTree::new(3, 0.0, 1.0, 2, 1e-4).unwrap();
    let cases: [(Make, SdeMethod); 6] = [
        (diagonal, SdeMethod::EulerMaruyama),
        (diagonal, SdeMethod::Milstein),
        (diagonal, SdeMethod::ReversibleHeun),
        (general, SdeMethod::EulerMaruyama),
        (general, SdeMethod::ReversibleHeun),
        (additive, SdeMethod::Sra1),
    ];
    for (make, method) in cases {
        let o = SdeOptions { method, dt: Some(0.02), ..SdeOptions::default() };
        let (g, info) = gradient(make, &o, &tree, SdeAdjoint::Discrete);
        let fd = finite_differences(make, &o, &tree);
        assert_close(&g, &fd, 1e-6, &method.to_string());
        assert!(g.iter().all(|v| v.abs() > 0.0) || method == SdeMethod::Sra1, "{method}: {g:?}");
        assert_eq!(info.backward.accepted, info.forward.accepted);
    }
}

/// Adaptive SRA1: finite differences would jump with the accepted steps,
/// so compare with the gradient of a fine fixed-step solve on the same path
/// (both approach the pathwise derivative).
#[test]
fn adaptive_sra1_gradient_approaches_the_fine_fixed_step_one() {
    let tree = BrownianTree::new(3, 0.0, 1.0, 2, (-16f64).exp2()).unwrap();
    let o = SdeOptions { method: SdeMethod::Sra1, dt: Some((-12f64).exp2()), ..SdeOptions::default() };
    let (fine, _) = gradient(additive, &o, &tree, SdeAdjoint::Discrete);
    let o = SdeOptions { method: SdeMethod::Sra1, adaptive: true, rtol: 1e-6, atol: 1e-6, ..SdeOptions::default() };
    let (g, info) = gradient(additive, &o, &tree, SdeAdjoint::Discrete);
    assert!(info.forward.rejected > 0 && info.backward.accepted == info.forward.accepted, "{info:?}");
    assert_close(&g, &fine, 1e-2, "adaptive sra1 vs fine fixed step");
}

#[test]
fn reversible_adjoint_matches_discrete_and_reconstructs_y0() {
    let tree = BrownianTree::new(4, 0.0, 1.0, 2, 1e-4).unwrap();
    for make in [diagonal as Make, general] {
        // 0.55 lies between grid points: the backward walk must find the
        // same shortened steps.
        let o = SdeOptions { method: SdeMethod::ReversibleHeun, dt: Some(0.02), ..SdeOptions::default() };
        let (d, _) = gradient(make, &o, &tree, SdeAdjoint::Discrete);
        let (r, info) = gradient(make, &o, &tree, SdeAdjoint::Reversible);
        assert_close(&r, &d, 1e-8, "reversible vs discrete");
        assert_close(&r, &finite_differences(make, &o, &tree), 1e-6, "reversible vs finite differences");
        let y0 = info.reconstructed_y0.unwrap();
        assert!((y0[0] - Y0[0]).abs() < 1e-12 && (y0[1] - Y0[1]).abs() < 1e-12, "{y0:?}");
        assert_eq!(info.peak_states, 0);
        assert_eq!(info.backward.accepted, 51);
    }
    // The reversible adjoint needs reversible Heun.
    let o = SdeOptions { method: SdeMethod::EulerMaruyama, dt: Some(0.01), ..SdeOptions::default() };
    let r = sde_gradient(&diagonal(P), 0.0, &Y0, &SAVEAT, &o, &tree, SdeAdjoint::Reversible, &mut |_| weights());
    assert!(matches!(r, Err(SolveError::InvalidOptions { .. })));
    // A cotangent of the wrong length, or not finite.
    let o = SdeOptions { method: SdeMethod::ReversibleHeun, dt: Some(0.01), ..SdeOptions::default() };
    let r = sde_gradient(&diagonal(P), 0.0, &Y0, &SAVEAT, &o, &tree, SdeAdjoint::Discrete, &mut |_| vec![1.0]);
    assert!(matches!(r, Err(SolveError::InvalidOptions { .. })));
    let mut w = weights();
    w[3] = f64::NAN;
    let r = sde_gradient(&diagonal(P), 0.0, &Y0, &SAVEAT, &o, &tree, SdeAdjoint::Discrete, &mut |_| w.clone());
    assert!(matches!(r, Err(SolveError::NonFiniteAdjoint { t }) if t == 0.55), "{r:?}");
}

#[test]
fn batch_gradients_are_bit_identical_and_sum_members_in_order() {
    let batch = 23;
    let y0s: Vec<f64> = (0..2 * batch).map(|i| 0.5 * (i as f64 * 0.71).cos()).collect();
    for (method, adjoint) in
        [(SdeMethod::Milstein, SdeAdjoint::Discrete), (SdeMethod::ReversibleHeun, SdeAdjoint::Reversible)]
    {
        let o = SdeOptions { method, dt: Some(0.05), ..SdeOptions::default() };
        let f = diagonal(P);
        let cot = |sol: &nde_runtime::BatchSolution| sol.y.iter().map(|y| 0.1 + y).collect::<Vec<f64>>();
        let (sol1, g1) = sde_gradient_batch(&f, 0.0, &y0s, &SAVEAT, &o, 77, adjoint, 1, &mut |s| cot(s)).unwrap();
        for threads in [3, 0] {
            let (sol, g) =
                sde_gradient_batch(&f, 0.0, &y0s, &SAVEAT, &o, 77, adjoint, threads, &mut |s| cot(s)).unwrap();
            assert_eq!((&sol, &g), (&sol1, &g1), "{method} on {threads} threads");
        }
        // Each member is sde_gradient on stream b of the batch's tree.
        // The batch's tree: leaves narrower than dt at a fixed step.
        let tree = BrownianTree::new(77, 0.0, 1.0, 2, o.resolved_brownian_tol(0.0, 1.0)).unwrap();
        let mut params = vec![0.0; 3];
        for b in 0..batch {
            let y0 = &y0s[2 * b..2 * b + 2];
            let (_, g) =
                sde_gradient(&f, 0.0, y0, &SAVEAT, &o, &tree.stream(b as u64), adjoint, &mut |s| cot_one(s)).unwrap();
            assert_eq!(&g.y0[..], &g1.y0[2 * b..2 * b + 2]);
            for (a, v) in params.iter_mut().zip(&g.params) {
                *a += v;
            }
        }
        assert_eq!(params, g1.params);
    }
}

fn cot_one(sol: &nde_runtime::Solution) -> Vec<f64> {
    sol.y.iter().map(|y| 0.1 + y).collect()
}
