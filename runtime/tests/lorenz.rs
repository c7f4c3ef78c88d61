//! The P3 benchmark problem (PERFORMANCE.md): Lorenz to t = 100 with Tsit5
//! and Dopri5 at rtol 1e-8, atol 1e-10. The trajectory is chaotic, so
//! compare work, not the final state: diffrax needs 67,994 (Tsit5) and
//! 67,430 (Dopri5) evaluations, i.e. about 11,330 and 11,240 steps.
//! Run with `cargo test --release -p nde-runtime --test lorenz -- --nocapture`
//! to see timings.

mod common;

use std::time::Instant;

use common::lorenz;
use nde_runtime::{solve, Method, SolveOptions};

#[test]
fn lorenz_work_matches_diffrax() {
    let f = lorenz();
    for (m, diffrax_nfe) in [(Method::Tsit5, 67_994.0), (Method::Dopri5, 67_430.0)] {
        // diffrax 0.7.2 starts with dt0 = 0.01 (see goldens.rs); also run
        // with our initial-step heuristic.
        for dt in [Some(0.01), None] {
            let o = SolveOptions { method: m, rtol: 1e-8, atol: 1e-10, dt, ..Default::default() };
            let mut best = f64::INFINITY;
            let mut stats = None;
            for _ in 0..5 {
                let start = Instant::now();
                let sol = solve(&f, 0.0, &[1.0, 1.0, 1.0], &[100.0], &o).unwrap();
                best = best.min(start.elapsed().as_secs_f64());
                stats = Some(sol.stats);
            }
            let s = stats.unwrap();
            println!(
                "{m} dt0 {dt:?}: {} steps ({} accepted, {} rejected), nfe {}, best of 5 {:.3} ms ({:.0} ns/step)",
                s.steps(),
                s.accepted,
                s.rejected,
                s.nfe,
                best * 1e3,
                best * 1e9 / s.steps() as f64
            );
            let rel = (s.nfe as f64 - diffrax_nfe).abs() / diffrax_nfe;
            assert!(rel < 0.05, "{m}: nfe {} vs diffrax {diffrax_nfe} ({:.1}% off)", s.nfe, rel * 100.0);
        }
    }
}
