//! Checkpointing and batches: every checkpoint budget gives the same
//! discrete gradient bit for bit with bounded stored states; the forward
//! pass is exactly `solve`; batched gradients are the sums of single ones
//! on any number of threads; the work each adjoint does.

mod adjoint_support;

use adjoint_support::{opts, save_times, weights, LotkaVolterra, TanhNet};
use nde_runtime::term::DiffField;
use nde_runtime::{
    gradient, gradient_batch, gradient_fixed, solve, solve_batch, Adjoint, BatchCotangent, BatchTimes, Cotangent,
    Gradient, Method, SolveOptions,
};

fn net() -> TanhNet {
    TanhNet::random(2, 8, 42)
}

const Y0: [f64; 2] = [0.8, -0.4];

/// Options for `m`: adaptive at rtol 1e-8, fixed-step methods at dt 0.01.
fn options(m: Method) -> SolveOptions {
    opts(m, 1e-8, if m.is_adaptive() { None } else { Some(0.01) })
}

fn grad(f: &dyn DiffField, o: &SolveOptions, ts: &[f64], adjoint: Adjoint) -> Gradient {
    let w = weights(ts.len() * 2, 9);
    gradient(f, 0.0, &Y0, ts, o, adjoint, None, &mut |_| Cotangent::states(w.clone())).expect("gradient").1
}

#[test]
fn every_checkpoint_budget_gives_the_same_bits() {
    let ts = save_times(6, 4.0);
    let f = net();
    for &m in Method::all() {
        let o = options(m);
        let all = grad(&f, &o, &ts, Adjoint::Discrete { checkpoints: Some(usize::MAX) });
        let steps = all.forward.accepted as usize;
        assert!(steps >= 12, "{m}: only {steps} steps");
        // Every state kept: each step recomputed exactly once.
        assert_eq!(all.peak_states, steps + 1, "{m}");
        let inner = all.recomputed / steps as u64;
        assert_eq!(all.recomputed, inner * steps as u64, "{m}");
        for c in [None, Some(1), Some(2), Some(3), Some(5), Some(steps - 1), Some(steps)] {
            let g = grad(&f, &o, &ts, Adjoint::Discrete { checkpoints: c });
            assert_eq!((&g.params, &g.y0), (&all.params, &all.y0), "{m} checkpoints {c:?}");
            if c.is_none() && steps < 64 {
                // A short solve: the forward pass kept every stage, nothing is recomputed.
                assert_eq!(g.recomputed, 0, "{m}");
            } else {
                assert!(g.recomputed >= all.recomputed, "{m} {c:?}");
            }
        }
    }
}

#[test]
fn stored_states_grow_logarithmically() {
    // Euler at dt = 0.001 over [0, 4]: 4000 steps.
    let ts = save_times(6, 4.0);
    let f = net();
    let o = opts(Method::Euler, 1e-6, Some(0.001));
    let full = grad(&f, &o, &ts, Adjoint::Discrete { checkpoints: Some(usize::MAX) });
    let n = full.forward.accepted as usize;
    assert_eq!(n, 4000);
    let log2n = (n as f64).log2();
    for c in [1usize, 4, 16, 64] {
        let g = grad(&f, &o, &ts, Adjoint::Discrete { checkpoints: Some(c) });
        assert_eq!(g.params, full.params);
        // At most c checkpoints plus a bisection stack of ⌈log₂ K⌉ + 1, K < 2n/c.
        let bound = c + (2.0 * n as f64 / c as f64).log2().ceil() as usize + 1;
        assert!(g.peak_states <= bound, "c = {c}: peak {} > {bound}", g.peak_states);
        // Recomputation: about n (1 + log₂K / 2) steps (one evaluation each).
        let k = (2.0 * n as f64 / c as f64).log2().ceil();
        let steps = g.recomputed as f64;
        assert!(steps <= n as f64 * (1.0 + k / 2.0) + n as f64, "c = {c}: {steps} recomputed steps");
    }
    let auto = grad(&f, &o, &ts, Adjoint::default());
    assert_eq!(auto.params, full.params);
    assert!(auto.peak_states as f64 <= 2.0 * log2n + 3.0, "default: peak {} for {n} steps", auto.peak_states);
    eprintln!(
        "{n} euler steps: store-all peak {} states, {} recomputed evals; default peak {}, {} recomputed evals",
        full.peak_states, full.recomputed, auto.peak_states, auto.recomputed
    );
}

#[test]
fn the_forward_pass_is_the_solve() {
    let ts = save_times(5, 3.0);
    let f = net();
    for &m in Method::all() {
        let o = options(m);
        let want = solve(&f, 0.0, &Y0, &ts, &o).unwrap();
        for adjoint in [Adjoint::default(), Adjoint::Backsolve, Adjoint::Interpolated] {
            let (sol, g) =
                gradient(&f, 0.0, &Y0, &ts, &o, adjoint, None, &mut |_| Cotangent::states(vec![0.0; 10])).unwrap();
            assert_eq!(sol, want, "{m} {}", adjoint.name());
            assert_eq!(g.forward, want.stats);
        }
        let o = opts(m, 1e-6, Some(0.03));
        let want = nde_runtime::solve::solve_fixed(&f, 0.0, &Y0, &ts, &o).unwrap();
        let (sol, _) =
            gradient_fixed(&f, 0.0, &Y0, &ts, &o, Adjoint::default(), None, &mut |_| Cotangent::states(vec![0.0; 10]))
                .unwrap();
        assert_eq!(sol, want, "{m} fixed");
    }
}

#[test]
fn batches_are_sums_of_single_gradients_on_any_thread_count() {
    let ts = save_times(4, 2.0);
    let f = LotkaVolterra { p: [1.5, 1.0, 1.0, 3.0] };
    let y0s: Vec<f64> = (0..7).flat_map(|b| [1.0 + 0.1 * b as f64, 1.2 - 0.05 * b as f64]).collect();
    let w = weights(7 * ts.len() * 2, 13);
    let rows = ts.len() * 2;
    for m in [Method::Tsit5, Method::Rk4] {
        let o = options(m);
        for adjoint in [Adjoint::default(), Adjoint::Backsolve, Adjoint::Interpolated] {
            // Singles, summed in trajectory order.
            let mut params = vec![0.0; 4];
            let mut dy0 = Vec::new();
            for (b, y0) in y0s.chunks(2).enumerate() {
                let cot = w[b * rows..(b + 1) * rows].to_vec();
                let (_, g) =
                    gradient(&f, 0.0, y0, &ts, &o, adjoint, None, &mut |_| Cotangent::states(cot.clone())).unwrap();
                for (p, v) in params.iter_mut().zip(&g.params) {
                    *p += v;
                }
                dy0.extend_from_slice(&g.y0);
            }
            let want_sol = solve_batch(&f, 0.0, &y0s, &ts, &o, 1).unwrap();
            for threads in [1, 2, 3, 0] {
                let times = BatchTimes::Shared { t0: 0.0, saveat: &ts };
                let (sol, g) = gradient_batch(&f, times, &y0s, &o, adjoint, threads, None, &mut |s| {
                    assert_eq!(s.batch, 7);
                    BatchCotangent::states(w.clone())
                })
                .unwrap();
                let what = format!("{m} {} threads {threads}", adjoint.name());
                assert_eq!(sol, want_sol, "{what}");
                assert_eq!((&g.params, &g.y0), (&params, &dy0), "{what}");
                assert_eq!(g.backward.len(), 7, "{what}");
            }
        }
    }
}

#[test]
fn costs_of_the_three_adjoints() {
    // The bench-like setting: the tanh net, tsit5 at rtol 1e-6, 10 save times.
    let ts = save_times(10, 5.0);
    let f = net();
    let o = opts(Method::Tsit5, 1e-6, None);
    let runs = [
        ("discrete (store all)", Adjoint::Discrete { checkpoints: Some(usize::MAX) }),
        ("discrete (default)", Adjoint::default()),
        ("backsolve", Adjoint::Backsolve),
        ("interpolated", Adjoint::Interpolated),
    ];
    for (name, adjoint) in runs {
        let g = grad(&f, &o, &ts, adjoint);
        let (fw, bw) = (g.forward, g.backward);
        eprintln!(
            "{name:22} forward nfe {:4} ({:3} steps); backward vjp {:4} ({:3} steps), f evals {:4}, peak states {}",
            fw.nfe,
            fw.steps(),
            bw.nfe,
            bw.steps(),
            g.recomputed,
            g.peak_states
        );
        match adjoint {
            Adjoint::Discrete { .. } => {
                // One VJP per inner stage and step at most (6 for Tsit5).
                assert!(bw.nfe <= 6 * fw.accepted, "{name}: {bw:?}");
                assert_eq!(bw.accepted, fw.accepted);
            }
            Adjoint::Backsolve => assert_eq!(g.recomputed, bw.nfe),
            Adjoint::Interpolated => {
                assert_eq!(g.recomputed, 0);
                assert_eq!(g.peak_states, 8 * fw.accepted as usize);
            }
        }
    }
}
