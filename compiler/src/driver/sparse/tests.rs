//! The sparse path on the 1-D Brusselator example: its pattern from the IR
//! is the two coupled tridiagonal blocks, the colour sweep's values equal
//! the dense `jac` kernel's, and a stiff solve with sparse LU equals one
//! with dense LU to round-off for every method; the choice rule and the
//! errors.

use nde_runtime::stiff::{solve_stiff, StiffMethod, StiffOptions};

use super::*;
use crate::driver::{call_kernel, check_source, compile_model, initial_state, FrontendOptions, FsLoader};
use crate::span::SourceMap;

const BRUSSELATOR: &str = include_str!("../../../../examples/brusselator_1d.nde");

fn model(text: &str) -> ModelIr {
    let mut sources = SourceMap::new();
    let root = sources.add("test.nde", text);
    let checked = match check_source(sources, root, &FsLoader, &FrontendOptions::default()) {
        Ok(c) => c,
        Err(f) => panic!("{}", f.diagnostics.0[0].render_plain(&f.sources)),
    };
    checked.program.models.into_iter().next().expect("one model")
}

/// The example with `N` grid points (`2N` states).
fn brusselator(points: usize) -> ModelIr {
    let text = with_points(BRUSSELATOR, points);
    assert!(text.contains(&format!("\nconst N = {points}\n")));
    model(&text)
}

#[test]
fn the_brusselator_pattern_is_two_coupled_stencils_and_takes_six_jvps() {
    for points in [5, 50, 400] {
        let k = compile_sparse(&brusselator(points), &JitOptions::default()).unwrap();
        let n = 2 * points;
        assert_eq!(k.n(), n);
        // States [u; v]: row i of u reads u_{i−1}, u_i, u_{i+1} and v_i.
        let rows: Vec<Vec<usize>> = (0..n)
            .map(|r| {
                let (i, other) = (r % points, if r < points { points } else { 0 });
                let base = r - i;
                let mut cols: Vec<usize> = (i.saturating_sub(1)..(i + 2).min(points)).map(|j| base + j).collect();
                cols.push(other + i);
                cols
            })
            .collect();
        assert_eq!(k.pattern, JacobianPattern::from_rows(&rows), "N = {points}");
        assert_eq!(k.pattern.nnz(), 8 * points - 4);
        assert!(k.colouring.n_colours <= 6, "{} colours", k.colouring.n_colours);
        let want = if n >= SPARSE_MIN_STATES { JacobianChoice::Sparse } else { JacobianChoice::Dense };
        assert_eq!(k.choice(), want, "N = {points}");
    }
}

#[test]
fn colour_sweep_values_equal_the_dense_jacobian_kernel() {
    let m = brusselator(20);
    let n = 40;
    let sparse = compile_sparse(&m, &JitOptions::default()).unwrap();
    let dense = compile_model(&m, &JitOptions::default()).unwrap();
    let params = m.param_values.clone();
    let y: Vec<f64> = (0..n).map(|i| 1.0 + 0.1 * (i as f64 * 0.7).sin()).collect();
    let mut want = vec![0.0; n * n];
    let mut scratch = vec![0.0; dense.jac.scratch_len];
    call_kernel(&dense.jac, &params, 0.3, &y, &mut want, &mut scratch);

    let field = SparseModelField::with_choice(&sparse, &params, JacobianChoice::Sparse);
    let mut values = vec![0.0; sparse.pattern.nnz()];
    let mut scratch = vec![0.0; field.jac_values_scratch_len()];
    field.jacobian_values(0.3, &y, &sparse.pattern, &mut values, &mut scratch);
    let mut got = vec![0.0; n * n];
    let mut scratch = vec![0.0; field.jac_scratch_len()];
    field.jacobian(0.3, &y, &mut got, &mut scratch);
    for i in 0..n {
        for j in 0..n {
            let w = want[i * n + j];
            assert!((got[i * n + j] - w).abs() <= 1e-12 * w.abs().max(1.0), "[{i}, {j}]: {} vs {w}", got[i * n + j]);
            if let Ok(pos) = sparse.pattern.row(i).binary_search(&j) {
                assert_eq!(values[sparse.pattern.rows[i] + pos], got[i * n + j]);
            } else {
                assert_eq!(w, 0.0, "[{i}, {j}] is outside the pattern");
            }
        }
    }
}

#[test]
fn sparse_and_dense_solves_of_the_brusselator_agree_for_every_method() {
    let m = brusselator(50);
    let k = compile_sparse(&m, &JitOptions::default()).unwrap();
    let params = m.param_values.clone();
    let y0 = initial_state(&m, &params, 0.0).unwrap();
    let sparse = SparseModelField::new(&k, &params);
    assert_eq!(sparse.choice(), JacobianChoice::Sparse);
    let dense = SparseModelField::with_choice(&k, &params, JacobianChoice::Dense);
    assert!(dense.jacobian_pattern().is_none());
    for &method in StiffMethod::all() {
        let opts = StiffOptions { method, rtol: 1e-6, atol: 1e-8, ..StiffOptions::default() };
        let at = [1.0, 5.0, 10.0];
        let a = solve_stiff(&dense, 0.0, &y0, &at, &opts).unwrap();
        let b = solve_stiff(&sparse, 0.0, &y0, &at, &opts).unwrap();
        let worst = a.y.iter().zip(&b.y).map(|(a, b)| (a - b).abs() / (1e-8 + a.abs())).fold(0.0f64, f64::max);
        assert!(worst < 1e-9, "{method}: dense and sparse differ by {worst:e}");
        assert_eq!(a.stats.njev, b.stats.njev, "{method}");
        // The solution stays near the Brusselator's range (u, v in (0, 5)).
        assert!(b.y.iter().all(|v| v.is_finite() && *v > 0.0 && *v < 5.0), "{method}");
    }
}

#[test]
fn small_or_dense_systems_choose_dense_and_sdes_are_refused() {
    let lorenz = model(include_str!("../../../../examples/lorenz.nde"));
    let k = compile_sparse(&lorenz, &JitOptions::default()).unwrap();
    assert_eq!(k.choice(), JacobianChoice::Dense);
    // Large but dense: every output reads every state through a matrix parameter.
    assert_eq!(JacobianChoice::for_pattern(100, &JacobianPattern::dense(100)), JacobianChoice::Dense);
    let gbm = model(include_str!("../../../../examples/gbm.nde"));
    let e = compile_sparse(&gbm, &JitOptions::default()).err().expect("an SDE has no sparse stiff path");
    assert_eq!(e, SparseError::NotAnOde { model: "gbm".into() });
    assert!(e.to_string().contains("not an ODE"));
}

/// The example's text with its `const N = ...` line set to `points`.
fn with_points(text: &str, points: usize) -> String {
    text.lines()
        .map(|l| if l.starts_with("const N = ") { format!("const N = {points}") } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}
