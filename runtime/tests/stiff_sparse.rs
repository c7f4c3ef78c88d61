//! The stiff solvers' sparse path: a banded problem (the 1-D Brusselator of
//! Hairer & Wanner II §IV.10, `u` and `v` interleaved so the Jacobian has
//! bandwidth 2) solved with dense and sparse linear algebra gives the same
//! solution to round-off with every method; a field that writes its
//! Jacobian's values itself (never a dense matrix) agrees with one whose
//! values are gathered from its dense Jacobian; a malformed pattern is an
//! error, not a panic.

use nde_runtime::stiff::{solve_stiff, JacField, JacobianPattern, StiffMethod, StiffOptions};
use nde_runtime::term::VectorField;
use nde_runtime::SolveError;

/// `u_t = 1 + u²v − 4u + α u_xx`, `v_t = 3u − u²v + α v_xx` on `N` interior
/// points, `u = 1`, `v = 3` at both ends; state `[u_0, v_0, u_1, v_1, …]`.
struct Brusselator {
    points: usize,
    /// `None`: dense linear algebra; `Some`: sparse, with native values
    /// (`true`) or values gathered from the dense Jacobian (`false`).
    sparse: Option<bool>,
}

const ALPHA: f64 = 1.0 / 50.0;

impl Brusselator {
    fn c(&self) -> f64 {
        let dx = 1.0 / (self.points as f64 + 1.0);
        ALPHA / (dx * dx)
    }

    fn y0(&self) -> Vec<f64> {
        let dx = 1.0 / (self.points as f64 + 1.0);
        (0..self.points)
            .flat_map(|i| {
                let x = (i + 1) as f64 * dx;
                [1.0 + (2.0 * std::f64::consts::PI * x).sin(), 3.0]
            })
            .collect()
    }

    /// The entries of row `r`, by increasing column, with their values.
    fn row(&self, y: &[f64], r: usize, mut put: impl FnMut(usize, f64)) {
        let (i, comp) = (r / 2, r % 2);
        let (u, v) = (y[2 * i], y[2 * i + 1]);
        let c = self.c();
        // d/du and d/dv of the reaction terms.
        let (du, dv) = if comp == 0 { (2.0 * u * v - 4.0, u * u) } else { (3.0 - 2.0 * u * v, -u * u) };
        if i > 0 {
            put(r - 2, c);
        }
        put(2 * i, du - if comp == 0 { 2.0 * c } else { 0.0 });
        put(2 * i + 1, dv - if comp == 1 { 2.0 * c } else { 0.0 });
        if i + 1 < self.points {
            put(r + 2, c);
        }
    }

    fn pattern(&self) -> JacobianPattern {
        let y = vec![1.0; 2 * self.points];
        let rows: Vec<Vec<usize>> = (0..2 * self.points)
            .map(|r| {
                let mut cols = Vec::new();
                self.row(&y, r, |j, _| cols.push(j));
                cols
            })
            .collect();
        JacobianPattern::from_rows(&rows)
    }
}

impl VectorField for Brusselator {
    fn dim(&self) -> usize {
        2 * self.points
    }
    fn eval(&self, _t: f64, y: &[f64], dy: &mut [f64], _scratch: &mut [f64]) {
        let n = self.points;
        let c = self.c();
        for i in 0..n {
            let (u, v) = (y[2 * i], y[2 * i + 1]);
            let (ul, vl) = if i > 0 { (y[2 * i - 2], y[2 * i - 1]) } else { (1.0, 3.0) };
            let (ur, vr) = if i + 1 < n { (y[2 * i + 2], y[2 * i + 3]) } else { (1.0, 3.0) };
            let uuv = u * u * v;
            dy[2 * i] = 1.0 + uuv - 4.0 * u + c * (ul - 2.0 * u + ur);
            dy[2 * i + 1] = 3.0 * u - uuv + c * (vl - 2.0 * v + vr);
        }
    }
}

impl JacField for Brusselator {
    fn jacobian(&self, _t: f64, y: &[f64], jac: &mut [f64], _scratch: &mut [f64]) {
        let n = self.dim();
        jac.fill(0.0);
        for r in 0..n {
            self.row(y, r, |j, v| jac[r * n + j] = v);
        }
    }
    fn time_derivative(&self, _t: f64, _y: &[f64], out: &mut [f64], _scratch: &mut [f64]) {
        out.fill(0.0);
    }
    fn jacobian_pattern(&self) -> Option<JacobianPattern> {
        self.sparse.map(|_| self.pattern())
    }
    fn jac_values_scratch_len(&self) -> usize {
        match self.sparse {
            Some(true) => 0,
            _ => self.dim() * self.dim(),
        }
    }
    fn jacobian_values(&self, t: f64, y: &[f64], pattern: &JacobianPattern, values: &mut [f64], scratch: &mut [f64]) {
        if self.sparse != Some(true) {
            let n = self.dim();
            self.jacobian(t, y, &mut scratch[..n * n], &mut []);
            for i in 0..n {
                for k in pattern.rows[i]..pattern.rows[i + 1] {
                    values[k] = scratch[i * n + pattern.cols[k]];
                }
            }
            return;
        }
        let mut k = 0;
        for r in 0..self.dim() {
            self.row(y, r, |_, v| {
                values[k] = v;
                k += 1;
            });
        }
    }
}

fn solve(field: &Brusselator, method: StiffMethod) -> nde_runtime::Solution {
    let opts = StiffOptions { method, rtol: 1e-6, atol: 1e-8, ..StiffOptions::default() };
    solve_stiff(field, 0.0, &field.y0(), &[1.0, 5.0, 10.0], &opts).unwrap_or_else(|e| panic!("{method}: {e}"))
}

#[test]
fn a_banded_problem_gives_the_same_solution_dense_and_sparse() {
    let points = 100;
    for &method in StiffMethod::all() {
        let dense = solve(&Brusselator { points, sparse: None }, method);
        for native in [false, true] {
            let sparse = solve(&Brusselator { points, sparse: Some(native) }, method);
            let worst =
                dense.y.iter().zip(&sparse.y).map(|(a, b)| (a - b).abs() / (1e-8 + a.abs())).fold(0.0f64, f64::max);
            println!("{method:>8} native values {native}: worst relative difference {worst:e}");
            println!("  dense {:?}\n  sparse {:?}", dense.stats, sparse.stats);
            assert!(worst < 1e-9, "{method}: {worst:e}");
            assert_eq!(dense.stats.accepted, sparse.stats.accepted, "{method}");
        }
    }
}

#[test]
fn the_pattern_has_the_band_and_three_colours_per_species_pair() {
    let b = Brusselator { points: 50, sparse: Some(true) };
    let p = b.pattern();
    p.validate(100).unwrap();
    // Each row: itself, its partner species and two neighbours (one at the ends).
    assert_eq!(p.nnz(), 4 * 100 - 4);
    let colours = p.colouring(100);
    assert!(colours.n_colours <= 6, "{}", colours.n_colours);
}

#[test]
fn a_malformed_pattern_is_an_invalid_options_error() {
    struct Bad(Brusselator);
    impl VectorField for Bad {
        fn dim(&self) -> usize {
            self.0.dim()
        }
        fn eval(&self, t: f64, y: &[f64], dy: &mut [f64], s: &mut [f64]) {
            self.0.eval(t, y, dy, s)
        }
    }
    impl JacField for Bad {
        fn jacobian(&self, t: f64, y: &[f64], jac: &mut [f64], s: &mut [f64]) {
            self.0.jacobian(t, y, jac, s)
        }
        fn time_derivative(&self, t: f64, y: &[f64], out: &mut [f64], s: &mut [f64]) {
            self.0.time_derivative(t, y, out, s)
        }
        fn jacobian_pattern(&self) -> Option<JacobianPattern> {
            // A column past the end.
            Some(JacobianPattern { rows: vec![0, 1, 2, 3, 4], cols: vec![0, 1, 2, 9] })
        }
    }
    let b = Bad(Brusselator { points: 2, sparse: None });
    let y0 = b.0.y0();
    let err = solve_stiff(&b, 0.0, &y0, &[1.0], &StiffOptions::default()).unwrap_err();
    assert!(matches!(&err, SolveError::InvalidOptions { what } if what.contains("column 9")), "{err}");
}
