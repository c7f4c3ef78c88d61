//! Lowered loss functions evaluated with the reference interpreter against
//! values computed by hand: masked reductions over missing observations,
//! the loss builtins, statistics, the row-count override, and gradients
//! against finite differences.

use crate::autodiff;
use crate::driver::frontend::{compile_to_ir, FrontendOptions, MemoryLoader};
use crate::ir::training::{DataSource, LossIr, LossStat};
use crate::ir::{interp, verify, ProgramIr};
use crate::span::SourceMap;

/// Three times, two columns; NaN marks the missing values of `obs.csv`.
const OBS: [f64; 6] = [1.0, f64::NAN, 0.5, 0.25, f64::NAN, f64::NAN];
const OBS_CSV: &str = "t,x,y\n0,1.0,\n1,0.5,0.25\n2,,nan\n";
/// A solution for the loss inputs, `[3, 2]`.
const SOL: [f64; 6] = [0.9, 2.0, 0.75, -0.5, 3.0, 1.0];
const TIMES: [f64; 3] = [0.0, 1.0, 2.0];

const MODEL: &str = "model m {\n  param k = 0.5\n  state x = 1.0, y = 2.0\n  dx/dt = -k * x\n  dy/dt = -k * y\n}\n\
                     data obs = load(\"obs.csv\")\nsolver s = rk4(dt = 0.1)\n";

fn compile_with(src: &str, opts: &FrontendOptions) -> ProgramIr {
    let mut sources = SourceMap::new();
    let root = sources.add("main.nde", src);
    let loader = MemoryLoader::new().with("obs.csv", OBS_CSV);
    match compile_to_ir(&mut sources, root, &loader, opts) {
        Ok(p) => p,
        Err(d) => panic!("{}", d.0.iter().map(|d| d.render_plain(&sources)).collect::<String>()),
    }
}

/// Compiles `MODEL` plus `loss NAME = BODY` for each body; the losses in order.
fn losses(bodies: &[&str]) -> Vec<LossIr> {
    let mut src = MODEL.to_string();
    for (i, body) in bodies.iter().enumerate() {
        src += &format!("loss l{i} {{\n  let sol = solve(m, at = obs.t, with = s)\n  {body}\n}}\n");
    }
    compile_with(&src, &FrontendOptions::default()).losses
}

/// The loss's input buffer: `sol`, the observations (NaN = missing) as
/// values and mask, the times, and the statistics.
fn inputs(l: &LossIr, sol: &[f64], obs: &[f64], times: &[f64], stats: &[(LossStat, f64)]) -> Vec<f64> {
    let lay = l.layout;
    let mut y = vec![0.0; lay.len()];
    y[lay.sol_y()..lay.sol_y() + sol.len()].copy_from_slice(sol);
    for (i, &o) in obs.iter().enumerate() {
        y[lay.obs_y() + i] = if o.is_nan() { 0.0 } else { o };
        y[lay.obs_mask() + i] = if o.is_nan() { 0.0 } else { 1.0 };
    }
    y[lay.times()..lay.times() + times.len()].copy_from_slice(times);
    for &(s, v) in stats {
        y[lay.stat(s)] = v;
    }
    y
}

fn eval(l: &LossIr, y: &[f64]) -> f64 {
    verify::verify(&l.function).expect("the loss function verifies");
    let out = interp::eval(&l.function, 0.0, y, &vec![0.0; l.function.n_param]).expect("evaluates");
    assert_eq!(out.len(), 1, "a loss has one output");
    out[0]
}

fn close(got: f64, want: f64) {
    assert!((got - want).abs() <= 1e-13 * (1.0 + want.abs()), "got {got}, want {want}");
}

/// The observed pairs `(sol, obs)` of column `col` (or every column).
fn observed(col: Option<usize>) -> Vec<(f64, f64)> {
    (0..6).filter(|i| !OBS[*i].is_nan() && col.is_none_or(|c| i % 2 == c)).map(|i| (SOL[i], OBS[i])).collect()
}

#[test]
fn reductions_leave_missing_observations_out() {
    let ls = losses(&[
        "mean(abs(sol.y - obs.y))",
        "sum(sol.y - obs.y)",
        "norm(sol.y - obs.y)",
        "mse(sol.y, obs.y)",
        "mae(sol.y, obs.y)",
        "mean(sol.y[:, 0] - obs.y[:, 0])",
        "sum((sol.y - obs.y)'[1])",
        "sum(2 * obs.y)",
        "mean(obs.y[2])",
        "sum(obs.y[:, 0] * obs.y[:, 1])",
        "mean(sol.y)",
    ]);
    let y = inputs(&ls[0], &SOL, &OBS, &TIMES, &[]);
    let pairs = observed(None);
    let n = pairs.len() as f64;
    let want = [
        pairs.iter().map(|(s, o)| (s - o).abs()).sum::<f64>() / n,
        pairs.iter().map(|(s, o)| s - o).sum::<f64>(),
        pairs.iter().map(|(s, o)| (s - o).powi(2)).sum::<f64>().sqrt(),
        pairs.iter().map(|(s, o)| (s - o).powi(2)).sum::<f64>() / n,
        pairs.iter().map(|(s, o)| (s - o).abs()).sum::<f64>() / n,
        observed(Some(0)).iter().map(|(s, o)| s - o).sum::<f64>() / 2.0,
        observed(Some(1)).iter().map(|(s, o)| s - o).sum::<f64>(),
        2.0 * (1.0 + 0.5 + 0.25),
        // Row 2 is missing everywhere: the mean of nothing is 0.
        0.0,
        // Only row 1 has both columns.
        0.5 * 0.25,
        SOL.iter().sum::<f64>() / 6.0,
    ];
    for (i, (l, w)) in ls.iter().zip(want).enumerate() {
        assert_eq!(l.layout, ls[0].layout, "loss {i}");
        let got = eval(l, &y);
        assert!((got - w).abs() <= 1e-13 * (1.0 + w.abs()), "loss {i}: got {got}, want {w}");
    }
}

#[test]
fn huber_is_quadratic_then_linear() {
    let l = &losses(&["huber(sol.y, obs.y, delta = 0.5)"])[0];
    let obs = [0.0; 6];
    let sol = [0.1, -0.3, 0.5, 2.0, -4.0, 0.7];
    let y = inputs(l, &sol, &obs, &TIMES, &[]);
    let term = |r: f64| if r.abs() <= 0.5 { 0.5 * r * r } else { 0.5 * (r.abs() - 0.25) };
    close(eval(l, &y), sol.iter().map(|&r| term(r)).sum::<f64>() / 6.0);
}

#[test]
fn cross_entropy_matches_log_softmax_without_overflow() {
    let ls = losses(&["cross_entropy(sol.y, [[1, 0], [0.25, 0.75], [0, 1]])", "cross_entropy(sol.y[1], [0, 1])"]);
    let sol = [1000.0, 0.0, 0.5, -1.5, -2.0, 3.0];
    let target = [[1.0, 0.0], [0.25, 0.75], [0.0, 1.0]];
    let log_softmax = |a: f64, b: f64| {
        let m = a.max(b);
        let lse = m + ((a - m).exp() + (b - m).exp()).ln();
        (a - lse, b - lse)
    };
    let mut total = 0.0;
    for (r, t) in target.iter().enumerate() {
        let (la, lb) = log_softmax(sol[2 * r], sol[2 * r + 1]);
        total -= t[0] * la + t[1] * lb;
    }
    let y = inputs(&ls[0], &sol, &OBS, &TIMES, &[]);
    let got = eval(&ls[0], &y);
    assert!(got.is_finite(), "logits of 1000 must not overflow");
    close(got, total / 3.0);
    close(eval(&ls[1], &y), -log_softmax(0.5, -1.5).1);
}

#[test]
fn statistics_and_times_are_read_from_their_slots() {
    let l = &losses(&["mean(sol.t) + sol.local_error + 2 * sol.nfe + 3 * sol.sampled_stiffness"])[0];
    assert_eq!(l.stats_used, [LossStat::LocalError, LossStat::SampledStiffness, LossStat::Nfe]);
    let stats = [
        (LossStat::LocalError, 0.125),
        (LossStat::Stiffness, 100.0),
        (LossStat::SampledLocalError, 100.0),
        (LossStat::SampledStiffness, 0.5),
        (LossStat::Nfe, 37.0),
        (LossStat::Steps, 100.0),
    ];
    let y = inputs(l, &SOL, &OBS, &TIMES, &stats);
    close(eval(l, &y), 1.0 + 0.125 + 74.0 + 1.5);
}

#[test]
fn data_times_override_sets_the_rows_of_losses_only() {
    let src = format!("{MODEL}loss fit = mse(solve(m, at = obs.t, with = s).y, obs.y)\n");
    let full = compile_with(&src, &FrontendOptions::default());
    assert_eq!(full.losses[0].layout.n_times, 3);
    let opts = FrontendOptions { data_times: vec![("obs".into(), 2)], ..Default::default() };
    let windowed = compile_with(&src, &opts);
    let l = &windowed.losses[0];
    assert_eq!((l.layout.n_times, l.layout.n_state, l.layout.n_obs), (2, 2, 2));
    assert_eq!(l.function.n_state, l.layout.len());
    // (Debug text: the NaNs of missing values are not equal to themselves.)
    assert_eq!(format!("{:?}", windowed.data), format!("{:?}", full.data), "the data set itself is unchanged");
    assert_eq!(windowed.data[0].n_times(), 3);
    let y = inputs(l, &SOL[..4], &OBS[..4], &TIMES[..2], &[]);
    let pairs: Vec<(f64, f64)> = (0..4).filter(|&i| !OBS[i].is_nan()).map(|i| (SOL[i], OBS[i])).collect();
    close(eval(l, &y), pairs.iter().map(|(s, o)| (s - o).powi(2)).sum::<f64>() / pairs.len() as f64);
}

#[test]
fn loss_gradients_match_finite_differences() {
    let l = &losses(&["huber(sol.y, obs.y, delta = 0.5) + mse(sol.y, obs.y) + 0.1 * norm(sol.y - obs.y)"])[0];
    let vjp = autodiff::vjp(&l.function);
    verify::verify(&vjp).expect("the vjp verifies");
    let y = inputs(l, &SOL, &OBS, &TIMES, &[]);
    let mut ya = y.clone();
    ya.push(1.0);
    let grad = interp::eval(&vjp, 0.0, &ya, &[0.0]).expect("vjp evaluates");
    let h = 1e-6;
    for i in 0..6 {
        let (mut up, mut down) = (y.clone(), y.clone());
        up[l.layout.sol_y() + i] += h;
        down[l.layout.sol_y() + i] -= h;
        let fd = (eval(l, &up) - eval(l, &down)) / (2.0 * h);
        let g = grad[l.layout.sol_y() + i];
        assert!((g - fd).abs() <= 1e-7, "d loss / d sol.y[{i}]: {g} vs {fd}");
        if OBS[i].is_nan() {
            assert_eq!(g, 0.0, "a missing observation contributes nothing");
        }
    }
}

#[test]
fn linspace_is_numpys() {
    let p = compile_with(
        "model m {\n  state x = 1.0\n  dx/dt = -x\n}\ndata d = generate(m, at = linspace(0, 25, 1000), with = rk4(dt = 0.1))\n",
        &FrontendOptions::default(),
    );
    let DataSource::Generate { times, model, solver, .. } = &p.data[0].source else { panic!("{:?}", p.data[0]) };
    assert_eq!((model.as_str(), solver.method.as_str(), times.len()), ("m", "rk4", 1000));
    let step = 25.0 / 999.0;
    for (i, &t) in times.iter().enumerate().take(999) {
        assert_eq!(t, i as f64 * step, "time {i}");
    }
    assert_eq!(times[999], 25.0);
}
