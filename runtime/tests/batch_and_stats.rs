//! Evaluation and step accounting (FSAL), scratch buffers, and batched
//! solves matching single solves bit for bit on any number of threads.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use common::{decay, linspace, lorenz, oscillator};
use nde_runtime::term::VectorField;
use nde_runtime::{solve, solve_batch, Method, SolveError, SolveOptions};

/// Wraps a field, counts its evaluations, and checks the buffers it gets.
struct Counting<F> {
    inner: F,
    scratch: usize,
    calls: AtomicU64,
}

impl<F: VectorField> Counting<F> {
    fn new(inner: F, scratch: usize) -> Self {
        Counting { inner, scratch, calls: AtomicU64::new(0) }
    }
    fn take(&self) -> u64 {
        self.calls.swap(0, Ordering::Relaxed)
    }
}

impl<F: VectorField> VectorField for Counting<F> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn scratch_len(&self) -> usize {
        self.scratch
    }
    fn eval(&self, t: f64, y: &[f64], dy: &mut [f64], scratch: &mut [f64]) {
        assert_eq!(y.len(), self.dim());
        assert_eq!(dy.len(), self.dim());
        assert!(scratch.len() >= self.scratch);
        scratch.fill(f64::NAN); // must not leak into results
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.eval(t, y, dy, &mut [])
    }
}

#[test]
fn adaptive_nfe_is_fsal() {
    let f = Counting::new(oscillator(), 7);
    for (m, per_step) in [(Method::Tsit5, 6), (Method::Dopri5, 6), (Method::Bosh3, 3)] {
        for (dt, startup) in [(None, 2), (Some(0.01), 1)] {
            let o = SolveOptions { method: m, dt, ..Default::default() };
            let sol = solve(&f, 0.0, &[1.0, 0.0], &linspace(0.0, 10.0, 21), &o).unwrap();
            let s = sol.stats;
            assert!(s.rejected > 0, "{m}: want some rejections to count: {s:?}");
            assert_eq!(f.take(), s.nfe, "{m}: reported nfe");
            assert_eq!(s.nfe, startup + per_step * s.steps(), "{m} dt {dt:?}: {s:?}");
        }
    }
}

#[test]
fn fixed_step_counts() {
    let f = Counting::new(decay(), 0);
    // (method, evaluations per step)
    for (m, per_step) in
        [(Method::Euler, 1), (Method::Midpoint, 2), (Method::Heun, 2), (Method::Rk4, 4), (Method::Tsit5, 6)]
    {
        for (dt, steps) in [(0.1, 10), (0.3, 4), (0.25, 4), (2.0, 1)] {
            let o = SolveOptions { method: m, dt: Some(dt), ..Default::default() };
            let sol = nde_runtime::solve::solve_fixed(&f, 0.0, &[1.0], &[0.5, 1.0], &o).unwrap();
            assert_eq!((sol.stats.accepted, sol.stats.rejected), (steps, 0), "{m} dt {dt}");
            assert_eq!(sol.stats.nfe, 1 + per_step * steps, "{m} dt {dt}");
            assert_eq!(f.take(), sol.stats.nfe);
        }
    }
}

#[test]
fn fixed_steps_land_on_the_grid_and_end_exactly() {
    // Euler at dt = 0.25 on y' = -y is y_k = 0.75^k; save times on the grid
    // get the step's state exactly, the end time too.
    let o = SolveOptions { method: Method::Euler, dt: Some(0.25), ..Default::default() };
    let sol = solve(&decay(), 0.0, &[1.0], &[0.25, 0.5, 1.0], &o).unwrap();
    assert_eq!(sol.y, [0.75, 0.75 * 0.75, 0.75f64.powi(4)]);
    // A last partial step: 0.3, 0.6, 0.9, then 0.1 to 1.0.
    let o = SolveOptions { method: Method::Euler, dt: Some(0.3), ..Default::default() };
    let sol = solve(&decay(), 0.0, &[1.0], &[1.0], &o).unwrap();
    let want = 0.7f64.powi(3) * 0.9;
    assert!((sol.y[0] - want).abs() < 1e-15, "{} vs {want}", sol.y[0]);
}

fn batch_inputs() -> (Vec<f64>, Vec<f64>) {
    let y0s: Vec<f64> = (0..13).flat_map(|i| [1.0 + 0.1 * i as f64, 1.0 - 0.05 * i as f64, 20.0 + i as f64]).collect();
    (y0s, linspace(0.0, 3.0, 7))
}

#[test]
fn batch_matches_single_solves_bit_for_bit() {
    let f = lorenz();
    let (y0s, ts) = batch_inputs();
    for o in [
        SolveOptions { rtol: 1e-8, atol: 1e-10, ..Default::default() },
        SolveOptions { method: Method::Bosh3, ..Default::default() },
        SolveOptions { method: Method::Rk4, dt: Some(0.01), ..Default::default() },
    ] {
        let singles: Vec<_> = y0s.chunks(3).map(|y0| solve(&f, 0.0, y0, &ts, &o).unwrap()).collect();
        for threads in [1, 2, 3, 0] {
            let b = solve_batch(&f, 0.0, &y0s, &ts, &o, threads).unwrap();
            assert_eq!((b.batch, b.n_state, b.t.as_slice()), (13, 3, ts.as_slice()));
            for (i, s) in singles.iter().enumerate() {
                assert_eq!(b.trajectory(i), s.y.as_slice(), "{} trajectory {i}, {threads} threads", o.method);
                assert_eq!(b.stats[i], s.stats);
                assert_eq!(b.row(i, 6), s.final_state());
            }
        }
    }
}

#[test]
fn batch_reports_the_first_failing_trajectory() {
    let (mut y0s, ts) = batch_inputs();
    y0s[3 * 5 + 1] = f64::NAN;
    y0s[3 * 9] = f64::INFINITY;
    for threads in [1, 4] {
        let err = solve_batch(&lorenz(), 0.0, &y0s, &ts, &SolveOptions::default(), threads).unwrap_err();
        assert_eq!(err, SolveError::InBatch { index: 5, error: Box::new(SolveError::NonFinite { t: 0.0 }) });
        assert!(err.to_string().starts_with("trajectory 5 of the batch: "), "{err}");
        assert!(std::error::Error::source(&err).is_some());
    }
}

#[test]
fn batch_shapes() {
    let ts = [1.0];
    let empty = solve_batch(&lorenz(), 0.0, &[], &ts, &SolveOptions::default(), 2).unwrap();
    assert_eq!((empty.batch, empty.y.len(), empty.stats.len()), (0, 0, 0));
    let err = solve_batch(&lorenz(), 0.0, &[1.0; 4], &ts, &SolveOptions::default(), 2).unwrap_err();
    assert!(matches!(err, SolveError::InvalidOptions { ref what } if what.contains("multiple")), "{err}");
    // Option errors are not wrapped in InBatch.
    let o = SolveOptions { rtol: -1.0, ..Default::default() };
    assert!(matches!(solve_batch(&lorenz(), 0.0, &[1.0; 6], &ts, &o, 2), Err(SolveError::InvalidOptions { .. })));
}
