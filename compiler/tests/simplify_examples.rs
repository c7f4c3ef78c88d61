//! Simplification on the example models: the right-hand side and every
//! derivative kernel of every model in `examples/` keep their values (1e-12
//! relative at random points, checked with the reference interpreter) and
//! never cost more; the derivative kernels of the bench MLP simplify within
//! the time budget. Run with `--nocapture` for the before/after table.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use expect_test::expect;
use nde_compiler::autodiff::{derived_name, Derivative};
use nde_compiler::driver::{self, FrontendOptions};
use nde_compiler::ir::infix::{print_infix, InfixNames};
use nde_compiler::ir::random::{random_point, Rng};
use nde_compiler::ir::{interp, Function, Slot};
use nde_compiler::simplify::{flops, simplify, SimplifyOptions};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

fn examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("examples"))
        .expect("examples/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "nde"))
        .collect();
    files.sort();
    files
}

/// Every model's rhs and its derivative kernels.
fn kernels() -> Vec<Function> {
    let mut out = Vec::new();
    for file in examples() {
        let checked = driver::check_file(&file, &FrontendOptions::default())
            .unwrap_or_else(|_| panic!("{} does not check", file.display()));
        for m in &checked.program.models {
            out.push(m.rhs.clone());
            for d in Derivative::ALL {
                let g = d.of(&m.rhs);
                assert_eq!(g.name, derived_name(&m.rhs, d));
                out.push(g);
            }
        }
    }
    out
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

/// The largest magnitude of any node of `f` at a point (fast-math error scale).
fn largest_intermediate(f: &Function, t: f64, y: &[f64], p: &[f64]) -> f64 {
    let mut all = f.clone();
    all.outputs = (0..f.nodes.len() as u32).map(nde_compiler::ir::ValueId).collect();
    interp::eval(&all, t, y, p).expect("runs").iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

#[test]
fn example_kernels_keep_their_values_and_get_no_dearer() {
    let fast = SimplifyOptions { fast_math: true, ..SimplifyOptions::default() };
    let (mut before, mut exact, mut fast_total) = (0, 0, 0);
    eprintln!("{:<22} {:>8} {:>8} {:>8}", "kernel (flops)", "input", "default", "fast");
    for f in kernels() {
        let (g, r) = simplify(&f, &SimplifyOptions::default());
        let (h, rf) = simplify(&f, &fast);
        eprintln!("{:<22} {:>8} {:>8} {:>8}", f.name, r.flops_before, r.flops_after, rf.flops_after);
        assert!(r.flops_after <= r.flops_before && rf.flops_after <= r.flops_before, "{}", f.name);
        assert_eq!(flops(&g), r.flops_after);
        before += r.flops_before;
        exact += r.flops_after;
        fast_total += rf.flops_after;
        let mut rng = Rng::new(3);
        for _ in 0..5 {
            let (t, y, p) = random_point(&f, &mut rng, -1.0, 1.0);
            let want = interp::eval(&f, t, &y, &p).expect("input runs");
            let got = interp::eval(&g, t, &y, &p).expect("result runs");
            let got_fast = interp::eval(&h, t, &y, &p).expect("fast-math result runs");
            let scale = 1.0 + largest_intermediate(&f, t, &y, &p);
            for (k, ((a, b), c)) in want.iter().zip(&got).zip(&got_fast).enumerate() {
                assert!(close(*a, *b), "{} element {k}: {a:e} became {b:e}", f.name);
                assert!((a - c).abs() <= 1e-9 * scale, "{} element {k}: {a:e} became {c:e} with fast-math", f.name);
            }
        }
    }
    eprintln!("total: {before} flops; default {exact}; fast-math {fast_total}");
    assert!(exact <= before);
    assert!(fast_total < before);
}

#[test]
fn bench_mlp_derivatives_simplify_quickly_and_deterministically() {
    let file = repo().join("examples/bench_mlp.nde");
    let Ok(checked) = driver::check_file(&file, &FrontendOptions::default()) else {
        panic!("bench_mlp does not check")
    };
    let rhs = &checked.program.models[0].rhs;
    let mut all = vec![rhs.clone()];
    all.extend(Derivative::ALL.iter().map(|d| d.of(rhs)));
    let opts = SimplifyOptions::default();
    let fast = SimplifyOptions { fast_math: true, ..SimplifyOptions::default() };
    // The first call builds the rule tables (once per process).
    let start = Instant::now();
    simplify(&all[0], &opts);
    simplify(&all[0], &fast);
    eprintln!("first calls (rule tables built): {:.2} ms", start.elapsed().as_secs_f64() * 1e3);
    let mut slowest = Duration::ZERO;
    for f in &all {
        let start = Instant::now();
        let (_, r) = simplify(f, &fast);
        eprintln!(
            "{:<16} fast-math: {:>8} -> {:>8} flops, {} iterations ({:?}), e-graph {} nodes, {:.2} ms",
            f.name,
            r.flops_before,
            r.flops_after,
            r.iterations,
            r.stop_reason,
            r.egraph_nodes,
            start.elapsed().as_secs_f64() * 1e3
        );
        let start = Instant::now();
        let (g, r) = simplify(f, &opts);
        let took = start.elapsed();
        slowest = slowest.max(took);
        eprintln!(
            "{:<16} {:>8} -> {:>8} flops, {} iterations ({:?}), e-graph {} nodes, {:.2} ms",
            f.name,
            r.flops_before,
            r.flops_after,
            r.iterations,
            r.stop_reason,
            r.egraph_nodes,
            took.as_secs_f64() * 1e3
        );
        assert_eq!(simplify(f, &opts).0, g, "{}: not deterministic", f.name);
    }
    // The budget is 50 ms per kernel in a release build; debug-built tests
    // (opt-level 2 here) get a generous margin.
    assert!(slowest < Duration::from_millis(500), "slowest kernel took {slowest:?}");
}

/// The infix form of a model's rhs, or of one of its derivatives (the
/// cotangent or direction slots named `a.NAME`), after simplification.
fn infix(file: &str, derivative: Option<Derivative>) -> String {
    let Ok(checked) = driver::check_file(&repo().join("examples").join(file), &FrontendOptions::default()) else {
        panic!("{file} does not check")
    };
    let m = &checked.program.models[0];
    let mut names = InfixNames::from_model(m);
    let f = match derivative {
        None => m.rhs.clone(),
        Some(d) => {
            let n = m.n_state();
            names.outputs.clear();
            names.states.extend(m.states.iter().map(|s| Slot {
                name: format!("a.{}", s.name),
                offset: s.offset + n,
                ..s.clone()
            }));
            d.of(&m.rhs)
        }
    };
    print_infix(&simplify(&f, &SimplifyOptions::default()).0, &names)
}

#[test]
fn infix_snapshots() {
    expect![[r#"
        dx/dt = sigma * (y - x)
        dy/dt = x * (rho - z) - y
        dz/dt = x * y - beta * z
    "#]]
    .assert_eq(&infix("lorenz.nde", None));
    expect![[r#"
        du/dt = [u[1], mu * (1 - u[0]^2) * u[1] - u[0]]
    "#]]
    .assert_eq(&infix("van_der_pol.nde", None));
    expect![[r#"
        dy/dt = f.W3 @ tanh(f.W2 @ tanh(f.W1 @ y + f.b1) + f.b2) + f.b3
    "#]]
    .assert_eq(&infix("bench_mlp.nde", None));
    expect![[r#"
        h1 = -9.81 / len
        out[0] = a.omega * h1 * cos(theta)
        out[1] = a.theta - a.omega * damping
        out[2] = -(a.omega * sin(theta) * (h1 / len))
        out[3] = -(a.omega * omega)
    "#]]
    .assert_eq(&infix("pendulum.nde", Some(Derivative::Vjp)));
    expect![[r#"
        h1 = tanh(f.W1 @ y + f.b1)
        h2 = tanh(f.W2 @ h1 + f.b2)
        h3 = a.y @ f.W3 * (1 - h2 * h2)
        h4 = h3 @ f.W2 * (1 - h1 * h1)
        out[0] = h4 @ f.W1
        out[1] = reshape(h4, [64, 1]) @ reshape(y, [1, 2])
        out[2] = h4
        out[3] = reshape(h3, [64, 1]) @ reshape(h1, [1, 64])
        out[4] = h3
        out[5] = reshape(a.y, [2, 1]) @ reshape(h2, [1, 64])
        out[6] = a.y
    "#]]
    .assert_eq(&infix("bench_mlp.nde", Some(Derivative::Vjp)));
}
