//! The stiff problems of the IVP test set against their published
//! reference solutions, for every stiff method at several tolerances.
//!
//! Problems and reference values: F. Mazzia and F. Iavernaro (later with C.
//! Magherini), *Test Set for IVP Solvers*, University of Bari,
//! <https://archimede.uniba.it/~testset/> — the problem descriptions and
//! the `solut` subroutines of `rober.f`, `hires.f`, `vdpol.f`, `orego.f`
//! and `pollu.f` (reference solutions computed with RADAU5 in quadruple-like
//! precision, `rtol = atol = 1.1e-18`). ROBER at `t = 1e5` has no published
//! value; there the methods are checked against each other at tight
//! tolerance and against the conservation law `y1 + y2 + y3 = 1`.
//!
//! Accuracy is reported as the test set does: `scd = −log10(max_i |y_i −
//! ref_i| / |ref_i|)` (relative digits) and `mescd = −log10(max_i |y_i −
//! ref_i| / (atol/rtol + |ref_i|))` (mixed digits, which does not demand
//! relative accuracy of components far below `atol`). The assertions are on
//! `mescd` against the digits the tolerance asks for. Run with
//! `--nocapture` for the work-precision table.

// Reference values are written as published.
#![allow(clippy::excessive_precision)]

use std::time::Instant;

use nde_runtime::stiff::{solve_stiff, FnJacField, JacField, JacobianPattern, StiffMethod, StiffOptions};
use nde_runtime::term::VectorField;
use nde_runtime::Stats;

struct Problem {
    name: &'static str,
    field: Box<dyn JacField>,
    y0: Vec<f64>,
    t_end: f64,
    reference: Vec<f64>,
    /// `atol = ratio · rtol` (the test set's setting per problem).
    atol_ratio: f64,
}

fn rober(t_end: f64, reference: Vec<f64>) -> Problem {
    let field = FnJacField::new(
        3,
        |_t, y: &[f64], dy: &mut [f64]| {
            dy[0] = -0.04 * y[0] + 1e4 * y[1] * y[2];
            dy[2] = 3e7 * y[1] * y[1];
            dy[1] = -dy[0] - dy[2];
        },
        |_t, y: &[f64], j: &mut [f64]| {
            j.copy_from_slice(&[
                -0.04,
                1e4 * y[2],
                1e4 * y[1],
                0.04,
                -1e4 * y[2] - 6e7 * y[1],
                -1e4 * y[1],
                0.0,
                6e7 * y[1],
                0.0,
            ]);
        },
    );
    Problem { name: "rober", field: Box::new(field), y0: vec![1.0, 0.0, 0.0], t_end, reference, atol_ratio: 1e-4 }
}

fn hires() -> Problem {
    let field = FnJacField::new(
        8,
        |_t, y: &[f64], f: &mut [f64]| {
            f[0] = -1.71 * y[0] + 0.43 * y[1] + 8.32 * y[2] + 0.0007;
            f[1] = 1.71 * y[0] - 8.75 * y[1];
            f[2] = -10.03 * y[2] + 0.43 * y[3] + 0.035 * y[4];
            f[3] = 8.32 * y[1] + 1.71 * y[2] - 1.12 * y[3];
            f[4] = -1.745 * y[4] + 0.43 * (y[5] + y[6]);
            f[5] = -280.0 * y[5] * y[7] + 0.69 * y[3] + 1.71 * y[4] - 0.43 * y[5] + 0.69 * y[6];
            f[6] = 280.0 * y[5] * y[7] - 1.81 * y[6];
            f[7] = -f[6];
        },
        |_t, y: &[f64], j: &mut [f64]| {
            j.fill(0.0);
            let mut set = |r: usize, c: usize, v: f64| j[r * 8 + c] = v;
            set(0, 0, -1.71);
            set(0, 1, 0.43);
            set(0, 2, 8.32);
            set(1, 0, 1.71);
            set(1, 1, -8.75);
            set(2, 2, -10.03);
            set(2, 3, 0.43);
            set(2, 4, 0.035);
            set(3, 1, 8.32);
            set(3, 2, 1.71);
            set(3, 3, -1.12);
            set(4, 4, -1.745);
            set(4, 5, 0.43);
            set(4, 6, 0.43);
            set(5, 3, 0.69);
            set(5, 4, 1.71);
            set(5, 5, -280.0 * y[7] - 0.43);
            set(5, 6, 0.69);
            set(5, 7, -280.0 * y[5]);
            set(6, 5, 280.0 * y[7]);
            set(6, 6, -1.81);
            set(6, 7, 280.0 * y[5]);
            set(7, 5, -280.0 * y[7]);
            set(7, 6, 1.81);
            set(7, 7, -280.0 * y[5]);
        },
    );
    Problem {
        name: "hires",
        field: Box::new(field),
        y0: vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0057],
        t_end: 321.8122,
        reference: vec![
            0.7371312573325668e-3,
            0.1442485726316185e-3,
            0.5888729740967575e-4,
            0.1175651343283149e-2,
            0.2386356198831331e-2,
            0.6238968252742796e-2,
            0.2849998395185769e-2,
            0.2850001604814231e-2,
        ],
        atol_ratio: 1e-4,
    }
}

/// Van der Pol in the test set's scaled form (`VDPOL`): `y1' = y2`, `y2' =
/// ((1 − y1²) y2 − y1)/ε` with `ε = 1e-6`, i.e. μ = 1000 in time `t/μ`.
fn vdpol() -> Problem {
    const EPS: f64 = 1e-6;
    let field = FnJacField::new(
        2,
        |_t, y: &[f64], f: &mut [f64]| {
            f[0] = y[1];
            f[1] = ((1.0 - y[0] * y[0]) * y[1] - y[0]) / EPS;
        },
        |_t, y: &[f64], j: &mut [f64]| {
            j.copy_from_slice(&[0.0, 1.0, (-2.0 * y[0] * y[1] - 1.0) / EPS, (1.0 - y[0] * y[0]) / EPS]);
        },
    );
    Problem {
        name: "vdpol",
        field: Box::new(field),
        y0: vec![2.0, 0.0],
        t_end: 2.0,
        reference: vec![0.1706167732170483e1, -0.8928097010247975],
        atol_ratio: 1.0,
    }
}

fn orego() -> Problem {
    let field = FnJacField::new(
        3,
        |_t, y: &[f64], f: &mut [f64]| {
            f[0] = 77.27 * (y[1] + y[0] * (1.0 - 8.375e-6 * y[0] - y[1]));
            f[1] = (y[2] - (1.0 + y[0]) * y[1]) / 77.27;
            f[2] = 0.161 * (y[0] - y[2]);
        },
        |_t, y: &[f64], j: &mut [f64]| {
            j.copy_from_slice(&[
                77.27 * (1.0 - 2.0 * 8.375e-6 * y[0] - y[1]),
                77.27 * (1.0 - y[0]),
                0.0,
                -y[1] / 77.27,
                -(1.0 + y[0]) / 77.27,
                1.0 / 77.27,
                0.161,
                0.0,
                -0.161,
            ]);
        },
    );
    Problem {
        name: "orego",
        field: Box::new(field),
        y0: vec![1.0, 2.0, 3.0],
        t_end: 360.0,
        reference: vec![0.1000814870318523e1, 0.1228178521549917e4, 0.1320554942846706e3],
        atol_ratio: 1.0,
    }
}

const POLLU_K: [f64; 25] = [
    0.35, 26.6, 1.23e4, 8.6e-4, 8.2e-4, 1.5e4, 1.3e-4, 2.4e4, 1.65e4, 9.0e3, 2.2e-2, 1.2e4, 1.88, 1.63e4, 4.8e6,
    3.5e-4, 1.75e-2, 1.0e8, 4.44e11, 1.24e3, 2.1, 5.78, 4.74e-2, 1.78e3, 3.12,
];

/// The 20 species and 25 reactions of POLLU (Verwer 1994).
fn pollu() -> Problem {
    let field = FnJacField::new(
        20,
        |_t, y: &[f64], f: &mut [f64]| {
            let k = &POLLU_K;
            let r = [
                k[0] * y[0],
                k[1] * y[1] * y[3],
                k[2] * y[4] * y[1],
                k[3] * y[6],
                k[4] * y[6],
                k[5] * y[6] * y[5],
                k[6] * y[8],
                k[7] * y[8] * y[5],
                k[8] * y[10] * y[1],
                k[9] * y[10] * y[0],
                k[10] * y[12],
                k[11] * y[9] * y[1],
                k[12] * y[13],
                k[13] * y[0] * y[5],
                k[14] * y[2],
                k[15] * y[3],
                k[16] * y[3],
                k[17] * y[15],
                k[18] * y[15],
                k[19] * y[16] * y[5],
                k[20] * y[18],
                k[21] * y[18],
                k[22] * y[0] * y[3],
                k[23] * y[18] * y[0],
                k[24] * y[19],
            ];
            // Reaction numbers below are 1-based, as in the test set.
            let r = |i: usize| r[i - 1];
            f[0] = -r(1) - r(10) - r(14) - r(23) - r(24) + r(2) + r(3) + r(9) + r(11) + r(12) + r(22) + r(25);
            f[1] = -r(2) - r(3) - r(9) - r(12) + r(1) + r(21);
            f[2] = -r(15) + r(1) + r(17) + r(19) + r(22);
            f[3] = -r(2) - r(16) - r(17) - r(23) + r(15);
            f[4] = -r(3) + 2.0 * r(4) + r(6) + r(7) + r(13) + r(20);
            f[5] = -r(6) - r(8) - r(14) - r(20) + r(3) + 2.0 * r(18);
            f[6] = -r(4) - r(5) - r(6) + r(13);
            f[7] = r(4) + r(5) + r(6) + r(7);
            f[8] = -r(7) - r(8);
            f[9] = -r(12) + r(7) + r(9);
            f[10] = -r(9) - r(10) + r(8) + r(11);
            f[11] = r(9);
            f[12] = -r(11) + r(10);
            f[13] = -r(13) + r(12);
            f[14] = r(14);
            f[15] = -r(18) - r(19) + r(16);
            f[16] = -r(20);
            f[17] = r(20);
            f[18] = -r(21) - r(22) - r(24) + r(23) + r(25);
            f[19] = -r(25) + r(24);
        },
        |_t, y: &[f64], j: &mut [f64]| {
            j.fill(0.0);
            let k = |i: usize| POLLU_K[i - 1];
            let y = |i: usize| y[i - 1];
            // 1-based (row, column) as in the test set's jeval.
            let mut set = |r: usize, c: usize, v: f64| j[(r - 1) * 20 + (c - 1)] = v;
            set(1, 1, -k(1) - k(10) * y(11) - k(14) * y(6) - k(23) * y(4) - k(24) * y(19));
            set(1, 11, -k(10) * y(1) + k(9) * y(2));
            set(1, 6, -k(14) * y(1));
            set(1, 4, -k(23) * y(1) + k(2) * y(2));
            set(1, 19, -k(24) * y(1) + k(22));
            set(1, 2, k(2) * y(4) + k(9) * y(11) + k(3) * y(5) + k(12) * y(10));
            set(1, 13, k(11));
            set(1, 20, k(25));
            set(1, 5, k(3) * y(2));
            set(1, 10, k(12) * y(2));
            set(2, 4, -k(2) * y(2));
            set(2, 5, -k(3) * y(2));
            set(2, 11, -k(9) * y(2));
            set(2, 10, -k(12) * y(2));
            set(2, 19, k(21));
            set(2, 1, k(1));
            set(2, 2, -k(2) * y(4) - k(3) * y(5) - k(9) * y(11) - k(12) * y(10));
            set(3, 1, k(1));
            set(3, 4, k(17));
            set(3, 16, k(19));
            set(3, 19, k(22));
            set(3, 3, -k(15));
            set(4, 4, -k(2) * y(2) - k(16) - k(17) - k(23) * y(1));
            set(4, 2, -k(2) * y(4));
            set(4, 1, -k(23) * y(4));
            set(4, 3, k(15));
            set(5, 5, -k(3) * y(2));
            set(5, 2, -k(3) * y(5));
            set(5, 7, 2.0 * k(4) + k(6) * y(6));
            set(5, 6, k(6) * y(7) + k(20) * y(17));
            set(5, 9, k(7));
            set(5, 14, k(13));
            set(5, 17, k(20) * y(6));
            set(6, 6, -k(6) * y(7) - k(8) * y(9) - k(14) * y(1) - k(20) * y(17));
            set(6, 7, -k(6) * y(6));
            set(6, 9, -k(8) * y(6));
            set(6, 1, -k(14) * y(6));
            set(6, 17, -k(20) * y(6));
            set(6, 2, k(3) * y(5));
            set(6, 5, k(3) * y(2));
            set(6, 16, 2.0 * k(18));
            set(7, 7, -k(4) - k(5) - k(6) * y(6));
            set(7, 6, -k(6) * y(7));
            set(7, 14, k(13));
            set(8, 7, k(4) + k(5) + k(6) * y(6));
            set(8, 6, k(6) * y(7));
            set(8, 9, k(7));
            set(9, 9, -k(7) - k(8) * y(6));
            set(9, 6, -k(8) * y(9));
            set(10, 10, -k(12) * y(2));
            set(10, 2, -k(12) * y(10) + k(9) * y(11));
            set(10, 9, k(7));
            set(10, 11, k(9) * y(2));
            set(11, 11, -k(9) * y(2) - k(10) * y(1));
            set(11, 2, -k(9) * y(11));
            set(11, 1, -k(10) * y(11));
            set(11, 9, k(8) * y(6));
            set(11, 6, k(8) * y(9));
            set(11, 13, k(11));
            set(12, 11, k(9) * y(2));
            set(12, 2, k(9) * y(11));
            set(13, 13, -k(11));
            set(13, 11, k(10) * y(1));
            set(13, 1, k(10) * y(11));
            set(14, 14, -k(13));
            set(14, 10, k(12) * y(2));
            set(14, 2, k(12) * y(10));
            set(15, 1, k(14) * y(6));
            set(15, 6, k(14) * y(1));
            set(16, 16, -k(18) - k(19));
            set(16, 4, k(16));
            set(17, 17, -k(20) * y(6));
            set(17, 6, -k(20) * y(17));
            set(18, 17, k(20) * y(6));
            set(18, 6, k(20) * y(17));
            set(19, 19, -k(21) - k(22) - k(24) * y(1));
            set(19, 1, -k(24) * y(19) + k(23) * y(4));
            set(19, 4, k(23) * y(1));
            set(19, 20, k(25));
            set(20, 20, -k(25));
            set(20, 1, k(24) * y(19));
            set(20, 19, k(24) * y(1));
        },
    );
    let mut y0 = vec![0.0; 20];
    y0[1] = 0.2;
    y0[3] = 0.04;
    y0[6] = 0.1;
    y0[7] = 0.3;
    y0[8] = 0.01;
    y0[16] = 0.007;
    Problem {
        name: "pollu",
        field: Box::new(field),
        y0,
        t_end: 60.0,
        reference: vec![
            0.5646255480022769e-01,
            0.1342484130422339e+00,
            0.4139734331099427e-08,
            0.5523140207484359e-02,
            0.2018977262302196e-06,
            0.1464541863493966e-06,
            0.7784249118997964e-01,
            0.3245075353396018e+00,
            0.7494013383880406e-02,
            0.1622293157301561e-07,
            0.1135863833257075e-07,
            0.2230505975721359e-02,
            0.2087162882798630e-03,
            0.1396921016840158e-04,
            0.8964884856898295e-02,
            0.4352846369330103e-17,
            0.6899219696263405e-02,
            0.1007803037365946e-03,
            0.1772146513969984e-05,
            0.5682943292316392e-04,
        ],
        atol_ratio: 1.0,
    }
}

fn rober_1e11() -> Problem {
    rober(1e11, vec![0.2083340149701255e-07, 0.8333360770334713e-13, 0.9999999791665050])
}

struct Run {
    scd: f64,
    mescd: f64,
    stats: Stats,
    micros: f64,
}

fn run(p: &Problem, method: StiffMethod, rtol: f64) -> Run {
    let atol = rtol * p.atol_ratio;
    let opts = StiffOptions { method, rtol, atol, ..StiffOptions::default() };
    let start = Instant::now();
    let sol = solve_stiff(p.field.as_ref(), 0.0, &p.y0, &[p.t_end], &opts)
        .unwrap_or_else(|e| panic!("{} with {method} at rtol {rtol}: {e}", p.name));
    let micros = start.elapsed().as_secs_f64() * 1e6;
    let (mut rel, mut mixed) = (0.0f64, 0.0f64);
    for (y, r) in sol.final_state().iter().zip(&p.reference) {
        let e = (y - r).abs();
        rel = rel.max(e / r.abs());
        mixed = mixed.max(e / (p.atol_ratio + r.abs()));
    }
    Run { scd: -rel.log10(), mescd: -mixed.log10(), stats: sol.stats, micros }
}

/// Solves `p` with every method at every tolerance, prints the table and
/// checks the mixed digits against `−log10(rtol) − slack`, with `slack`
/// for the one-step methods and `bdf_slack` for BDF (whose global error is
/// typically 10–100 times its tolerance, as for scipy's BDF and other
/// multistep codes: the error of each step is controlled, not their sum).
fn check(p: &Problem, rtols: &[f64], slack: f64, bdf_slack: f64) {
    let mut short = Vec::new();
    println!("\n{} (t = {:e}, atol = {:e}·rtol)", p.name, p.t_end, p.atol_ratio);
    println!("method     rtol    scd  mescd  steps  rej    nfe  njev   nlu  newton   time");
    for &method in StiffMethod::all() {
        for &rtol in rtols {
            let r = run(p, method, rtol);
            let s = r.stats;
            println!(
                "{:<8} {:.0e} {:>6.2} {:>6.2} {:>6} {:>4} {:>6} {:>5} {:>5} {:>7} {:>6.0}µs",
                method.name(),
                rtol,
                r.scd,
                r.mescd,
                s.accepted,
                s.rejected,
                s.nfe,
                s.njev,
                s.nlu,
                s.nnewton,
                r.micros
            );
            let want = -rtol.log10() - if method == StiffMethod::Bdf { bdf_slack } else { slack };
            if r.mescd < want {
                short.push(format!(
                    "{} with {method} at rtol {rtol:.0e}: {:.2} mixed digits < {want:.2}",
                    p.name, r.mescd
                ));
            }
        }
    }
    assert!(short.is_empty(), "{short:#?}");
}

#[test]
fn rober_to_1e11() {
    check(&rober_1e11(), &[1e-4, 1e-7, 1e-10], 1.0, 2.0);
}

#[test]
fn hires_to_321() {
    check(&hires(), &[1e-4, 1e-7, 1e-10], 1.0, 2.0);
}

#[test]
fn vdpol_mu_1000() {
    check(&vdpol(), &[1e-5, 1e-7, 1e-10], 1.5, 2.0);
}

#[test]
fn oregonator() {
    // BDF at rtol 1e-10 reaches 7.4 digits here.
    check(&orego(), &[1e-4, 1e-7, 1e-10], 1.5, 2.7);
}

#[test]
fn pollution() {
    check(&pollu(), &[1e-4, 1e-7, 1e-10], 1.0, 2.0);
}

/// ROBER at `t = 1e5` (no published value): every method at tight
/// tolerance agrees with the others, and conserves `y1 + y2 + y3 = 1`.
#[test]
fn rober_to_1e5_methods_agree() {
    let p = rober(1e5, vec![]);
    let finals: Vec<Vec<f64>> = StiffMethod::all()
        .iter()
        .map(|&method| {
            let opts = StiffOptions { method, rtol: 1e-10, atol: 1e-14, ..StiffOptions::default() };
            let sol = solve_stiff(p.field.as_ref(), 0.0, &p.y0, &[1e5], &opts).unwrap();
            let y = sol.final_state().to_vec();
            assert!((y.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{method}: {y:?}");
            println!("rober(1e5) {method:>8}: {y:?}");
            y
        })
        .collect();
    for y in &finals[1..] {
        for (a, b) in y.iter().zip(&finals[0]) {
            assert!((a - b).abs() / b.abs() < 1e-8, "{a} vs {b}");
        }
    }
}

/// A field solved through sparse linear algebra: `inner` with a pattern
/// (its values gathered from `inner`'s dense Jacobian by the default
/// `jacobian_values`).
struct WithPattern<'a> {
    inner: &'a dyn JacField,
    pattern: JacobianPattern,
}

impl VectorField for WithPattern<'_> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn scratch_len(&self) -> usize {
        self.inner.scratch_len()
    }
    fn eval(&self, t: f64, y: &[f64], dy: &mut [f64], scratch: &mut [f64]) {
        self.inner.eval(t, y, dy, scratch)
    }
}

impl JacField for WithPattern<'_> {
    fn jac_scratch_len(&self) -> usize {
        self.inner.jac_scratch_len()
    }
    fn jacobian(&self, t: f64, y: &[f64], jac: &mut [f64], scratch: &mut [f64]) {
        self.inner.jacobian(t, y, jac, scratch)
    }
    fn time_derivative(&self, t: f64, y: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        self.inner.time_derivative(t, y, out, scratch)
    }
    fn jacobian_pattern(&self) -> Option<JacobianPattern> {
        Some(self.pattern.clone())
    }
}

/// POLLU's Jacobian (20 species, 82 of 400 entries structurally non-zero:
/// its entries are rate constants times concentrations, so a state with
/// every species positive shows them all) through the sparse LU gives the
/// dense LU's solution to round-off, with every method.
#[test]
fn pollution_sparse_and_dense_agree() {
    let p = pollu();
    let n = p.y0.len();
    let y: Vec<f64> = (0..n).map(|i| 0.1 + 0.01 * i as f64).collect();
    let mut jac = vec![0.0; n * n];
    p.field.jacobian(0.0, &y, &mut jac, &mut []);
    let rows: Vec<Vec<usize>> = (0..n).map(|i| (0..n).filter(|&j| jac[i * n + j] != 0.0).collect()).collect();
    let sparse = WithPattern { inner: p.field.as_ref(), pattern: JacobianPattern::from_rows(&rows) };
    assert_eq!(sparse.pattern.nnz(), 82);
    for &method in StiffMethod::all() {
        let opts = StiffOptions { method, rtol: 1e-7, atol: 1e-7, ..StiffOptions::default() };
        let at = [1.0, 10.0, p.t_end];
        let dense = solve_stiff(p.field.as_ref(), 0.0, &p.y0, &at, &opts).unwrap();
        let sp = solve_stiff(&sparse, 0.0, &p.y0, &at, &opts).unwrap();
        let worst = dense.y.iter().zip(&sp.y).map(|(a, b)| (a - b).abs() / (1e-7 + a.abs())).fold(0.0f64, f64::max);
        println!("pollu {method:>8}: dense {:?}\n               sparse {:?}\n  worst {worst:e}", dense.stats, sp.stats);
        assert!(worst < 1e-9, "{method}: sparse and dense differ by {worst:e} (relative)");
        assert_eq!(dense.stats.njev, sp.stats.njev, "{method}");
    }
}
