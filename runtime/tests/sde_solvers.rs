//! SDE solvers: strong orders on geometric Brownian motion and OU, the weak
//! law of Euler–Maruyama, reversible Heun's reference value, save times off
//! the grid, adaptive SRA1, batches on any number of threads, and errors.

use nde_runtime::brownian::BrownianTree;
use nde_runtime::sde::{sde_solve, sde_solve_batch, FnSde, Noise, SdeField, SdeMethod, SdeOptions};
use nde_runtime::SolveError;

fn slope(h: &[f64], err: &[f64]) -> f64 {
    let xs: Vec<f64> = h.iter().map(|v| v.ln()).collect();
    let ys: Vec<f64> = err.iter().map(|v| v.ln()).collect();
    let n = xs.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let num: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let den: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    num / den
}

fn opts(method: SdeMethod, dt: f64) -> SdeOptions {
    SdeOptions { method, dt: Some(dt), ..SdeOptions::default() }
}

const MU: f64 = 0.5;
const SIGMA: f64 = 0.8;

/// `dX = μX dt + σX dW` (Itô), with `g ∂g/∂x = σ² x` for Milstein.
fn gbm() -> FnSde {
    FnSde::new(1, Noise::Diagonal, |_, y, _, o| o[0] = MU * y[0], |_, y, _, o| o[0] = SIGMA * y[0])
        .with_dg(|_, y, _, o| o[0] = SIGMA * SIGMA * y[0])
}

const THETA: f64 = 1.0;
const OU_SIGMA: f64 = 0.5;

/// `dX = −θX dt + σ dW` (additive).
fn ou() -> FnSde {
    FnSde::new(1, Noise::Diagonal, |_, y, _, o| o[0] = -THETA * y[0], |_, _, _, o| o[0] = OU_SIGMA).additive()
}

/// Mean strong error at `T = 1` over `paths` paths against `exact(path)`
/// for each step `2^-k`.
fn strong_errors(
    f: &FnSde,
    method: SdeMethod,
    ks: &[i32],
    paths: u64,
    tol: f64,
    exact: &dyn Fn(&BrownianTree) -> f64,
) -> (Vec<f64>, Vec<f64>) {
    let base = BrownianTree::new(99, 0.0, 1.0, 1, tol).unwrap();
    let hs: Vec<f64> = ks.iter().map(|&k| (-k as f64).exp2()).collect();
    let mut errs = vec![0.0; ks.len()];
    for p in 0..paths {
        let tree = base.stream(p);
        let x = exact(&tree);
        for (e, &h) in errs.iter_mut().zip(&hs) {
            let sol = sde_solve(f, 0.0, &[1.0], &[1.0], &opts(method, h), &tree).unwrap();
            *e += (sol.final_state()[0] - x).abs() / paths as f64;
        }
    }
    (hs, errs)
}

#[test]
fn strong_order_on_geometric_brownian_motion() {
    let exact = |tree: &BrownianTree| {
        let mut w = [0.0];
        tree.increment(0.0, 1.0, &mut w).unwrap();
        ((MU - 0.5 * SIGMA * SIGMA) + SIGMA * w[0]).exp()
    };
    let ks = [3, 4, 5, 6, 7, 8];
    let f = gbm();
    let (h, e) = strong_errors(&f, SdeMethod::EulerMaruyama, &ks, 500, (-10f64).exp2(), &exact);
    let p = slope(&h, &e);
    assert!((p - 0.5).abs() < 0.1, "Euler–Maruyama strong order {p}, errors {e:?}");
    let (h, e) = strong_errors(&f, SdeMethod::Milstein, &ks, 500, (-10f64).exp2(), &exact);
    let p = slope(&h, &e);
    assert!((p - 1.0).abs() < 0.1, "Milstein strong order {p}, errors {e:?}");
}

#[test]
fn strong_order_one_on_additive_noise() {
    let f = ou();
    for method in [SdeMethod::Sra1, SdeMethod::ReversibleHeun, SdeMethod::EulerMaruyama] {
        let fine = (-12f64).exp2();
        let reference = |tree: &BrownianTree| {
            sde_solve(&f, 0.0, &[1.0], &[1.0], &opts(method, fine), tree).unwrap().final_state()[0]
        };
        let (h, e) = strong_errors(&f, method, &[3, 4, 5, 6, 7], 500, fine, &reference);
        let p = slope(&h, &e);
        assert!((p - 1.0).abs() < 0.1, "{method} strong order {p} on OU, errors {e:?}");
    }
}

/// Euler–Maruyama's OU at `t = 1` over 10^5 paths: the sample mean and
/// variance match the scheme's exact discrete law `x0 (1 − θh)^N`,
/// `σ² h Σ_{k<N} (1 − θh)^{2k}` within 3 standard errors.
#[test]
fn weak_law_of_euler_maruyama_on_ou() {
    let (n_paths, h) = (100_000, (-7f64).exp2());
    let o = SdeOptions { brownian_tol: Some(h), ..opts(SdeMethod::EulerMaruyama, h) };
    let y0 = vec![1.0; n_paths];
    let sol = sde_solve_batch(&ou(), 0.0, &y0, &[1.0], &o, 5, 0).unwrap();
    let xs = &sol.y;
    let nf = n_paths as f64;
    let mean = xs.iter().sum::<f64>() / nf;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (nf - 1.0);
    let a = 1.0 - THETA * h;
    let steps = 128;
    let want_mean = a.powi(steps);
    let want_var = OU_SIGMA * OU_SIGMA * h * (0..steps).map(|k| a.powi(2 * k)).sum::<f64>();
    assert!((mean - want_mean).abs() < 3.0 * (want_var / nf).sqrt(), "mean {mean} vs {want_mean}");
    assert!((var - want_var).abs() < 3.0 * want_var * (2.0 / nf).sqrt(), "variance {var} vs {want_var}");
}

/// ALGORITHMS.md §3.1 test (a): `y' = −y`, `Δt = 0.1`, `y(20)`.
#[test]
fn reversible_heun_reference_value() {
    let f = FnSde::new(1, Noise::Diagonal, |_, y, _, o| o[0] = -y[0], |_, _, _, o| o[0] = 0.0);
    let tree = BrownianTree::new(0, 0.0, 20.0, 1, 1e-3).unwrap();
    let sol = sde_solve(&f, 0.0, &[1.0], &[20.0], &opts(SdeMethod::ReversibleHeun, 0.1), &tree).unwrap();
    let want = -2904.249147070162;
    let got = sol.final_state()[0];
    assert!(((got - want) / want).abs() < 1e-10, "{got} vs {want}");
    assert_eq!(sol.stats.accepted, 200);
    assert_eq!(sol.stats.nfe, 2 + 2 * 200);
}

/// Save times between grid points shorten the step that reaches them and
/// the next step continues to the grid; a save one rounding away from a
/// grid point replaces it.
#[test]
fn save_times_off_the_grid() {
    let f = FnSde::new(1, Noise::Diagonal, |_, y, _, o| o[0] = -y[0], |_, _, _, o| o[0] = 0.0);
    let tree = BrownianTree::new(0, 0.0, 1.0, 1, 1e-3).unwrap();
    let saveat = [0.0, 0.05, 0.3, 1.0];
    let sol = sde_solve(&f, 0.0, &[1.0], &saveat, &opts(SdeMethod::EulerMaruyama, 0.1), &tree).unwrap();
    // Points: 0.05, 0.1, 0.2, 0.3 (0.30000000000000004 dropped), 0.4, …, 0.9, 1.0.
    let mut pts = vec![0.05, 0.1, 0.2, 0.3];
    pts.extend((4..=10).map(|k| if k == 10 { 1.0 } else { k as f64 * 0.1 }));
    let (mut t, mut y, mut expect) = (0.0, 1.0, vec![1.0]);
    for &p in &pts {
        y += (p - t) * -y;
        t = p;
        if saveat.contains(&p) {
            expect.push(y);
        }
    }
    assert_eq!(sol.y, expect);
    assert_eq!(sol.stats.accepted, pts.len() as u64);
}

/// Adaptive SRA1 lands on the save times, needs more steps for a tighter
/// tolerance, and approaches a fine fixed-step solve on the same path.
#[test]
fn adaptive_sra1() {
    let f = FnSde::new(
        2,
        Noise::Diagonal,
        |_, y, _, o| {
            o[0] = y[1];
            o[1] = -25.0 * y[0] * (1.0 + y[0] * y[0]);
        },
        |t, _, _, o| {
            o[0] = 0.0;
            o[1] = 0.05 * (1.0 + t);
        },
    )
    .additive();
    let tree = BrownianTree::new(11, 0.0, 2.0, 2, (-18f64).exp2()).unwrap();
    let saveat = [0.5, 1.0, 2.0];
    let fine = sde_solve(&f, 0.0, &[1.0, 0.0], &saveat, &opts(SdeMethod::Sra1, (-15f64).exp2()), &tree).unwrap();
    let mut last = (0, f64::INFINITY);
    for rtol in [1e-3, 1e-5, 1e-7] {
        let o = SdeOptions { adaptive: true, rtol, atol: rtol, dt: None, ..opts(SdeMethod::Sra1, 1.0) };
        let sol = sde_solve(&f, 0.0, &[1.0, 0.0], &saveat, &o, &tree).unwrap();
        let err = sol.y.iter().zip(&fine.y).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(sol.stats.accepted > last.0 as u64, "rtol {rtol}: {:?}", sol.stats);
        assert!(err < last.1, "rtol {rtol}: error {err} not below {}", last.1);
        assert!(sol.stats.rejected > 0 || rtol > 1e-4);
        last = (sol.stats.accepted as usize, err);
    }
    assert!(last.1 < 1e-3, "error {}", last.1);
}

/// A batch gives the same bits on 1, 3 and all threads, and equals
/// member-by-member solves on the tree's streams.
#[test]
fn batches_are_bit_identical_on_any_thread_count() {
    let general = FnSde::new(
        2,
        Noise::General { m: 3 },
        |_, y, _, o| {
            o[0] = y[1];
            o[1] = -y[0];
        },
        |_, y, _, o| {
            o.copy_from_slice(&[0.1 * y[0], 0.2, 0.0, 0.05, 0.1 * y[1], 0.3]);
        },
    );
    let y0s: Vec<f64> = (0..2 * 37).map(|i| (i as f64 * 0.37).sin()).collect();
    let saveat = [0.25, 0.5, 1.0];
    for (f, method, m) in [
        (&gbm(), SdeMethod::Milstein, 1),
        (&general, SdeMethod::EulerMaruyama, 3),
        (&general, SdeMethod::ReversibleHeun, 3),
        (&ou(), SdeMethod::Sra1, 1),
    ] {
        let n = f.dim();
        let y0s = &y0s[..n * 37];
        let o = opts(method, 0.01);
        let one = sde_solve_batch(f, 0.0, y0s, &saveat, &o, 8, 1).unwrap();
        for threads in [3, 0] {
            assert_eq!(sde_solve_batch(f, 0.0, y0s, &saveat, &o, 8, threads).unwrap(), one, "{method}");
        }
        // The batch's tree: the default leaf width 0.99 dt at a fixed step.
        let tree = BrownianTree::new(8, 0.0, 1.0, m, 0.0099).unwrap();
        assert_eq!(o.resolved_brownian_tol(0.0, 1.0), 0.0099);
        for b in [0, 17, 36] {
            let sol = sde_solve(f, 0.0, &y0s[b * n..(b + 1) * n], &saveat, &o, &tree.stream(b as u64)).unwrap();
            assert_eq!(sol.y, one.trajectory(b), "{method} member {b}");
        }
    }
}

#[test]
fn bad_input_is_a_typed_error() {
    let tree = BrownianTree::new(0, 0.0, 1.0, 1, 1e-3).unwrap();
    let general = FnSde::new(1, Noise::General { m: 2 }, |_, _, _, o| o[0] = 0.0, |_, _, _, o| o.fill(1.0));
    let no_dg = FnSde::new(1, Noise::Diagonal, |_, _, _, o| o[0] = 0.0, |_, y, _, o| o[0] = y[0]);
    let tree2 = BrownianTree::new(0, 0.0, 1.0, 2, 1e-3).unwrap();
    let msg = |r: Result<_, SolveError>| r.map(|_: nde_runtime::Solution| ()).unwrap_err().to_string();
    let e = msg(sde_solve(&general, 0.0, &[1.0], &[1.0], &opts(SdeMethod::Milstein, 0.1), &tree2));
    assert!(e.contains("diagonal noise"), "{e}");
    let e = msg(sde_solve(&no_dg, 0.0, &[1.0], &[1.0], &opts(SdeMethod::Milstein, 0.1), &tree));
    assert!(e.contains("diffusion_dg"), "{e}");
    let e = msg(sde_solve(&gbm(), 0.0, &[1.0], &[1.0], &opts(SdeMethod::Sra1, 0.1), &tree));
    assert!(e.contains("additive"), "{e}");
    let o = SdeOptions { adaptive: true, ..opts(SdeMethod::EulerMaruyama, 0.1) };
    let e = msg(sde_solve(&gbm(), 0.0, &[1.0], &[1.0], &o, &tree));
    assert!(e.contains("no error estimate"), "{e}");
    let o = SdeOptions { dt: None, ..opts(SdeMethod::EulerMaruyama, 0.1) };
    let e = msg(sde_solve(&gbm(), 0.0, &[1.0], &[1.0], &o, &tree));
    assert!(e.contains("needs a step size"), "{e}");
    let e = msg(sde_solve(&gbm(), 0.0, &[1.0], &[2.0], &opts(SdeMethod::EulerMaruyama, 0.1), &tree));
    assert!(e.contains("covers [0, 1]"), "{e}");
    let e = msg(sde_solve(&gbm(), 0.0, &[1.0], &[1.0], &opts(SdeMethod::EulerMaruyama, 0.1), &tree2));
    assert!(e.contains("2 channels"), "{e}");
    let e = msg(sde_solve(&gbm(), 0.0, &[1.0, 2.0], &[1.0], &opts(SdeMethod::EulerMaruyama, 0.1), &tree));
    assert!(e.contains("2 values"), "{e}");
    let e = msg(sde_solve(&gbm(), 0.0, &[1.0], &[0.5, 0.2], &opts(SdeMethod::EulerMaruyama, 0.1), &tree));
    assert!(e.contains("non-decreasing"), "{e}");
    let blow = FnSde::new(1, Noise::Diagonal, |_, y, _, o| o[0] = y[0] * y[0], |_, _, _, o| o[0] = 0.0);
    let r = sde_solve(&blow, 0.0, &[1e3], &[1.0], &opts(SdeMethod::EulerMaruyama, 0.1), &tree);
    assert!(matches!(r, Err(SolveError::NonFinite { .. })), "{r:?}");
    let o = SdeOptions { max_steps: 5, ..opts(SdeMethod::EulerMaruyama, 0.1) };
    let r = sde_solve(&gbm(), 0.0, &[1.0], &[1.0], &o, &tree);
    assert!(matches!(r, Err(SolveError::MaxStepsReached { max_steps: 5, .. })), "{r:?}");
    assert_eq!("milstein".parse::<SdeMethod>().unwrap(), SdeMethod::Milstein);
    assert!("heun".parse::<SdeMethod>().unwrap_err().to_string().contains("reversible_heun"));
}

/// Lock-step batches fail member by member as member-by-member solves do:
/// the first failing member is reported with the error `sde_solve` gives it
/// on its stream, on any thread count; other failures are reported for
/// every member alike.
#[test]
fn lockstep_batch_errors_are_those_of_single_solves() {
    // y' = y² blows up from large starts, only for some members.
    let blow = FnSde::new(1, Noise::Diagonal, |_, y, _, o| o[0] = y[0] * y[0], |_, _, _, o| o[0] = 0.1);
    let mut y0s: Vec<f64> = (0..150).map(|i| 0.01 * i as f64).collect();
    y0s[97] = 1e3;
    y0s[140] = 1e6;
    let o = opts(SdeMethod::EulerMaruyama, 0.1);
    let tree = BrownianTree::new(4, 0.0, 1.0, 1, o.resolved_brownian_tol(0.0, 1.0)).unwrap();
    let single = sde_solve(&blow, 0.0, &y0s[97..98], &[1.0], &o, &tree.stream(97)).unwrap_err();
    assert!(matches!(single, SolveError::NonFinite { .. }), "{single:?}");
    for threads in [1, 3, 0] {
        match sde_solve_batch(&blow, 0.0, &y0s, &[1.0], &o, 4, threads) {
            Err(SolveError::InBatch { index: 97, error }) => assert_eq!(*error, single),
            r => panic!("{threads} threads: {r:?}"),
        }
    }
    // A non-finite start is reported for its member, before later blow-ups.
    y0s[20] = f64::NAN;
    match sde_solve_batch(&blow, 0.0, &y0s, &[1.0], &o, 4, 1) {
        Err(SolveError::InBatch { index: 20, error }) => assert!(error.to_string().contains("not finite"), "{error}"),
        r => panic!("{r:?}"),
    }
    // Step limits and a missing Milstein term fail every member alike.
    let few = SdeOptions { max_steps: 3, ..o };
    match sde_solve_batch(&gbm(), 0.0, &[1.0; 9], &[1.0], &few, 4, 1) {
        Err(SolveError::InBatch { index: 0, error }) => {
            assert!(matches!(*error, SolveError::MaxStepsReached { max_steps: 3, .. }), "{error:?}")
        }
        r => panic!("{r:?}"),
    }
    let no_dg = FnSde::new(1, Noise::Diagonal, |_, _, _, o| o[0] = 0.0, |_, y, _, o| o[0] = y[0]);
    let e = sde_solve_batch(&no_dg, 0.0, &[1.0; 9], &[1.0], &opts(SdeMethod::Milstein, 0.1), 4, 1).unwrap_err();
    assert!(e.to_string().contains("diffusion_dg"), "{e}");
    // Successful members carry the single solve's stats.
    let sol = sde_solve_batch(&gbm(), 0.0, &[1.0; 9], &[0.5, 1.0], &o, 4, 0).unwrap();
    let one = sde_solve(&gbm(), 0.0, &[1.0], &[0.5, 1.0], &o, &tree.stream(8)).unwrap();
    assert_eq!(sol.stats[8], one.stats);
    assert_eq!(sol.trajectory(8), &one.y[..]);
}
