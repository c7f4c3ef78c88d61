//! Random well-shaped functions (seeded, `ir::random`): simplification
//! never changes their values and never costs more flops.
//!
//! Default level: every output bit-identical to the input's (NaNs alike)
//! at random points in `[-2, 2]` (half of them sprinkled with `±0`, `±1`,
//! `±inf` and NaN), or within 1e-12 relative where the one
//! inexact default rule (`exp-log`) fired. Fast-math: reassociation and
//! factoring change rounding in proportion to the magnitudes that cancel,
//! so the bound is `1e-9 · (1 + M)` with `M` the largest intermediate value
//! of the original at that point, and points where any intermediate is not
//! finite are skipped (fast-math assumes finite values).

use super::{close, eval, same_bits};
use crate::ir::random::{random_function, random_point, RandomConfig, Rng};
use crate::ir::verify::verify;
use crate::ir::{Function, ValueId};
use crate::simplify::{flops, simplify, SimplifyOptions, SimplifyReport};

const FUNCTIONS: u64 = 300;
const POINTS: usize = 4;

/// `f` with every live node as an output (to see intermediate magnitudes).
fn all_nodes(f: &Function) -> Function {
    let mut g = f.clone();
    g.outputs = (0..f.nodes.len() as u32).map(ValueId).collect();
    g
}

type Check = dyn Fn(&Function, &SimplifyReport, (f64, &[f64], &[f64]), &[f64], &[f64]) -> Result<(), String>;

fn run(opts: &SimplifyOptions, check: &Check) {
    let (mut before, mut after, mut changed) = (0u64, 0u64, 0);
    let mut failures = Vec::new();
    for seed in 0..FUNCTIONS {
        let f = random_function(seed, &RandomConfig::default());
        let (g, report) = simplify(&f, opts);
        if let Err(e) = verify(&g) {
            failures.push(format!("seed {seed}: {e}"));
            continue;
        }
        if report.flops_after > report.flops_before || flops(&g) != report.flops_after {
            failures.push(format!("seed {seed}: flops {} -> {}", report.flops_before, report.flops_after));
        }
        if report.kept_input.is_some() && report.kept_input != Some(crate::simplify::KeptInput::NotCheaper) {
            failures.push(format!("seed {seed}: kept the input: {:?}", report.kept_input));
        }
        before += report.flops_before;
        after += report.flops_after;
        changed += usize::from(report.flops_after < report.flops_before);
        let mut rng = Rng::new(seed);
        for k in 0..POINTS {
            let (t, mut y, mut p) = random_point(&f, &mut rng, -2.0, 2.0);
            if k % 2 == 1 {
                // Special values too: ±0, ±1, ±inf, NaN.
                for v in y.iter_mut().chain(p.iter_mut()) {
                    if rng.chance(0.2) {
                        *v = rng.pick(&[0.0, -0.0, 1.0, -1.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN]);
                    }
                }
            }
            let want = eval(&f, t, &y, &p);
            let got = eval(&g, t, &y, &p);
            if let Err(msg) = check(&f, &report, (t, &y, &p), &want, &got) {
                failures.push(format!("seed {seed} at t = {t}, y = {y:?}, p = {p:?}: {msg}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    eprintln!("{FUNCTIONS} random functions: {before} -> {after} flops, {changed} cheaper");
    assert!(changed > FUNCTIONS as usize / 4, "only {changed} functions got cheaper");
}

#[test]
fn default_level_never_changes_values_nor_adds_flops() {
    run(&SimplifyOptions::default(), &|_, report, _, want, got| {
        // Bit for bit, unless the one inexact default rule fired.
        let exact = !report.fired.iter().any(|(rule, _)| rule == "exp-log");
        for (k, (&a, &b)) in want.iter().zip(got).enumerate() {
            let ok = if exact { same_bits(a, b) } else { close(a, b, 1e-12) };
            if !ok {
                return Err(format!("output element {k}: {a:e} became {b:e} (exact: {exact})"));
            }
        }
        Ok(())
    });
}

#[test]
fn fast_math_stays_within_its_bound() {
    let opts = SimplifyOptions { fast_math: true, ..SimplifyOptions::default() };
    run(&opts, &|f, _, (t, y, p), want, got| {
        let inter = eval(&all_nodes(f), t, y, p);
        if inter.iter().any(|v| !v.is_finite()) {
            return Ok(());
        }
        let m = inter.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (k, (&a, &b)) in want.iter().zip(got).enumerate() {
            if (a - b).abs() > 1e-9 * (1.0 + m) {
                return Err(format!("output element {k}: {a:e} became {b:e} (largest intermediate {m:e})"));
            }
        }
        Ok(())
    });
}

#[test]
fn simplification_is_deterministic() {
    for seed in 0..40 {
        let f = random_function(seed, &RandomConfig { ops: 20, ..RandomConfig::default() });
        for opts in [SimplifyOptions::default(), SimplifyOptions { fast_math: true, ..SimplifyOptions::default() }] {
            let (a, ra) = simplify(&f, &opts);
            let (b, rb) = simplify(&f, &opts);
            // Compared as text: a NaN constant is not `==` to itself.
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "seed {seed}");
            assert_eq!(format!("{ra:?}"), format!("{rb:?}"), "seed {seed}");
        }
    }
}
