//! The Virtual Brownian Tree: reproducibility (same bits for the same
//! query, in any order, through the tree or a cursor), additivity, the law
//! of increments over many seeds, independence of streams and channels.

use nde_runtime::brownian::BrownianTree;
use nde_runtime::SolveError;

fn inc(tree: &BrownianTree, s: f64, u: f64) -> Vec<f64> {
    let mut out = vec![0.0; tree.channels()];
    tree.increment(s, u, &mut out).unwrap();
    out
}

#[test]
fn same_seed_same_bits_in_any_order_and_through_a_cursor() {
    let a = BrownianTree::new(42, -1.0, 3.0, 3, 1e-6).unwrap();
    let b = BrownianTree::new(42, -1.0, 3.0, 3, 1e-6).unwrap();
    let times: Vec<f64> = (0..40).map(|i| -1.0 + 4.0 * ((i as f64 * 0.618_033_988_7) % 1.0)).collect();
    let forward: Vec<Vec<f64>> = times.windows(2).map(|w| inc(&a, w[0], w[1])).collect();
    // Another tree, reverse order.
    let mut backward: Vec<Vec<f64>> = times.windows(2).rev().map(|w| inc(&b, w[0], w[1])).collect();
    backward.reverse();
    assert_eq!(forward, backward);
    // A cursor, forwards then backwards, gives the same bits.
    let mut path = a.path();
    let mut out = vec![0.0; 3];
    for (w, expect) in times.windows(2).zip(&forward) {
        path.increment(w[0], w[1], &mut out).unwrap();
        assert_eq!(&out, expect);
    }
    for (w, expect) in times.windows(2).zip(&forward).rev() {
        path.increment(w[0], w[1], &mut out).unwrap();
        assert_eq!(&out, expect);
    }
    // A sequential grid through the fast path.
    let mut grid = vec![0.0; 3 * 100];
    a.increments_on_grid(-1.0, 0.04, 100, &mut grid).unwrap();
    for k in 0..100 {
        let e = inc(&a, -1.0 + k as f64 * 0.04, -1.0 + (k + 1) as f64 * 0.04);
        assert_eq!(&grid[3 * k..3 * k + 3], &e[..]);
    }
    // Another seed differs.
    let c = BrownianTree::new(43, -1.0, 3.0, 3, 1e-6).unwrap();
    assert_ne!(inc(&c, 0.0, 1.0), inc(&a, 0.0, 1.0));
}

#[test]
fn increments_add_up() {
    let tree = BrownianTree::new(7, 0.0, 2.0, 2, 1e-8).unwrap();
    for &(s, t, u) in &[(0.1, 0.7, 1.9), (0.0, 1.0, 2.0), (0.333, 0.3331, 0.5), (1.2, 1.2, 1.7)] {
        let (a, b, c) = (inc(&tree, s, t), inc(&tree, t, u), inc(&tree, s, u));
        for i in 0..2 {
            assert!((a[i] + b[i] - c[i]).abs() <= 1e-14, "{s} {t} {u}: {} vs {}", a[i] + b[i], c[i]);
        }
    }
    // W(s, s) = 0 and W(u, s) = −W(s, u).
    assert_eq!(inc(&tree, 0.4, 0.4), vec![0.0, 0.0]);
    let (x, y) = (inc(&tree, 0.4, 1.3), inc(&tree, 1.3, 0.4));
    assert_eq!(x[0], -y[0]);
}

/// Over 10^5 seeds: `Var W(s,t) = t − s`, `Cov(W_a, W_b) = min(a, b)`,
/// independent channels and streams, each within 3 standard errors.
#[test]
fn law_over_many_seeds() {
    let n = 100_000;
    let (s, t, a, b) = (0.3, 0.77, 0.41, 1.3);
    let (mut var, mut mean, mut cov, mut chan, mut streams) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let base = BrownianTree::new(2024, 0.0, 2.0, 2, 1e-3).unwrap();
    let mut out = [0.0; 2];
    for k in 0..n {
        let tree = BrownianTree::new(k as u64, 0.0, 2.0, 2, 1e-3).unwrap();
        tree.increment(s, t, &mut out).unwrap();
        var += out[0] * out[0];
        mean += out[0];
        chan += out[0] * out[1];
        tree.increment(0.0, a, &mut out).unwrap();
        let wa = out[0];
        tree.increment(0.0, b, &mut out).unwrap();
        cov += wa * out[0];
        // Two streams of one tree.
        let (x, y) = (base.stream(2 * k as u64), base.stream(2 * k as u64 + 1));
        x.increment(0.0, 2.0, &mut out).unwrap();
        let wx = out[0];
        y.increment(0.0, 2.0, &mut out).unwrap();
        streams += wx * out[0] / 2.0;
    }
    let nf = n as f64;
    let (var, mean, cov, chan, streams) = (var / nf, mean / nf, cov / nf, chan / nf, streams / nf);
    let h = t - s;
    let check = |name: &str, got: f64, want: f64, se: f64| {
        assert!((got - want).abs() < 3.0 * se, "{name}: {got} vs {want} (3 se = {})", 3.0 * se);
    };
    check("mean", mean, 0.0, (h / nf).sqrt());
    check("variance", var, h, h * (2.0 / nf).sqrt());
    check("covariance", cov, a, ((a * b + a * a) / nf).sqrt());
    check("channels", chan, 0.0, (h * h / nf).sqrt());
    check("streams", streams, 0.0, (1.0 / nf).sqrt());
}

#[test]
fn bad_queries_are_errors() {
    assert!(matches!(BrownianTree::new(1, 1.0, 1.0, 1, 1e-3), Err(SolveError::InvalidTimes { .. })));
    assert!(matches!(BrownianTree::new(1, 0.0, f64::NAN, 1, 1e-3), Err(SolveError::InvalidTimes { .. })));
    assert!(matches!(BrownianTree::new(1, 0.0, 1.0, 0, 1e-3), Err(SolveError::InvalidOptions { .. })));
    assert!(matches!(BrownianTree::new(1, 0.0, 1.0, 1, 0.0), Err(SolveError::InvalidOptions { .. })));
    let tree = BrownianTree::new(1, 0.0, 1.0, 1, 1e-3).unwrap();
    assert_eq!(tree.depth(), 10);
    let mut out = [0.0];
    let err = tree.increment(0.5, 1.5, &mut out).unwrap_err();
    assert!(err.to_string().contains("t = 1.5"), "{err}");
    assert!(tree.path().increment(-0.1, 0.5, &mut out).is_err());
}

/// The batch entry points' default leaf width: `0.99 dt` at a fixed step
/// (depth `⌈log2((t1 − t0) / (0.99 dt))⌉`, every grid point in its own
/// leaf), `2^-20` of the interval for adaptive steps, a given width as given.
#[test]
fn default_tree_depth_follows_the_step() {
    use nde_runtime::sde::{SdeMethod, SdeOptions};
    let depth = |o: &SdeOptions, t0: f64, t1: f64| {
        BrownianTree::new(0, t0, t1, 1, o.resolved_brownian_tol(t0, t1)).unwrap().depth()
    };
    let fixed = SdeOptions { dt: Some(0.01), ..SdeOptions::default() };
    assert_eq!(fixed.resolved_brownian_tol(0.0, 1.0), 0.0099);
    assert_eq!(depth(&fixed, 0.0, 1.0), 7); // 2^-7 = 0.0078 <= 0.0099 < 2^-6
    assert_eq!(depth(&fixed, 2.0, 12.0), 10); // 10 / 2^10 = 0.0098
                                              // A dyadic step gets leaves of half a step (the margin).
    let fine = SdeOptions { dt: Some((-10f64).exp2()), ..SdeOptions::default() };
    assert_eq!(depth(&fine, 0.0, 1.0), 11);
    let adaptive = SdeOptions { method: SdeMethod::Sra1, adaptive: true, dt: Some(0.01), ..SdeOptions::default() };
    assert_eq!(depth(&adaptive, 0.0, 4.0), 20);
    let given = SdeOptions { brownian_tol: Some(1e-3), ..fixed };
    assert_eq!(depth(&given, 0.0, 1.0), 10);
    // Every grid point of the fixed step lies in its own leaf.
    let width = 1.0 / (1u64 << depth(&fixed, 0.0, 1.0)) as f64;
    let leaves: Vec<u64> = (0..=100).map(|k| ((k as f64 * 0.01) / width) as u64).collect();
    assert!(leaves.windows(2).all(|w| w[0] < w[1]), "{leaves:?}");
}
