//! Gradients through nonlinear solves with parameters (Lotka–Volterra and a
//! small non-autonomous tanh network), save times between steps: the
//! discrete adjoint against central differences of the whole adaptive
//! solve, and the three adjoints against each other.

mod adjoint_support;

use adjoint_support::{central, loss, opts, rel_err, save_times, weights, LotkaVolterra, TanhNet};
use nde_runtime::term::DiffField;
use nde_runtime::{gradient, gradient_fixed, Adjoint, Cotangent, Gradient, Method, SolveOptions};

const LV: [f64; 4] = [1.5, 1.0, 1.0, 3.0];
const LV_Y0: [f64; 2] = [1.0, 1.2];
const NET_Y0: [f64; 2] = [0.8, -0.4];

fn lv(p: &[f64]) -> LotkaVolterra {
    LotkaVolterra { p: [p[0], p[1], p[2], p[3]] }
}

fn net(p: &[f64]) -> TanhNet {
    TanhNet { d: 2, h: 8, p: p.to_vec() }
}

fn net_params() -> Vec<f64> {
    TanhNet::random(2, 8, 42).p
}

/// The gradient of `w · y(ts)` by `adjoint`, with `fixed` choosing a
/// constant-step solve.
fn grad<F: DiffField>(f: &F, y0: &[f64], ts: &[f64], o: &SolveOptions, adjoint: Adjoint, fixed: bool) -> Gradient {
    let w = weights(ts.len() * y0.len(), 5);
    let run = if fixed { gradient_fixed } else { gradient };
    run(f, 0.0, y0, ts, o, adjoint, None, &mut |_| Cotangent::states(w.clone())).expect("gradient").1
}

/// Central differences of `w · y(ts)` in the parameters and in `y0`.
fn differences<F: DiffField>(
    make: &dyn Fn(&[f64]) -> F,
    p: &[f64],
    y0: &[f64],
    ts: &[f64],
    o: &SolveOptions,
    fixed: bool,
    rel: f64,
) -> (Vec<f64>, Vec<f64>) {
    let w = weights(ts.len() * y0.len(), 5);
    let by_p = |q: &[f64]| loss(make, q, y0, ts, o, fixed, &w);
    let by_y0 = |y: &[f64]| loss(make, p, y, ts, o, fixed, &w);
    (central(&by_p, p, rel), central(&by_y0, y0, rel))
}

#[test]
fn lotka_volterra_discrete_matches_differences_of_the_adaptive_solve() {
    let ts = save_times(9, 6.0);
    for m in [Method::Tsit5, Method::Dopri5] {
        let o = opts(m, 1e-11, None);
        let g = grad(&lv(&LV), &LV_Y0, &ts, &o, Adjoint::default(), false);
        let (fd_p, fd_y0) = differences(&lv, &LV, &LV_Y0, &ts, &o, false, 1e-3);
        let (ep, ey) = (rel_err(&g.params, &fd_p), rel_err(&g.y0, &fd_y0));
        assert!(ep < 1e-6 && ey < 1e-6, "{m}: params rel {ep:e}, y0 rel {ey:e}");
    }
}

#[test]
fn tanh_net_discrete_matches_differences_of_the_adaptive_solve() {
    let ts = save_times(7, 3.0);
    let p = net_params();
    for m in [Method::Tsit5, Method::Dopri5, Method::Bosh3] {
        let o = opts(m, 1e-11, None);
        let g = grad(&net(&p), &NET_Y0, &ts, &o, Adjoint::default(), false);
        let (fd_p, fd_y0) = differences(&net, &p, &NET_Y0, &ts, &o, false, 1e-3);
        let (ep, ey) = (rel_err(&g.params, &fd_p), rel_err(&g.y0, &fd_y0));
        assert!(ep < 1e-6 && ey < 1e-6, "{m}: params rel {ep:e}, y0 rel {ey:e}");
    }
}

#[test]
fn tanh_net_discrete_is_exact_at_fixed_step() {
    // Fixed steps: the gradient of the computed solution, to round-off.
    let ts = save_times(5, 2.0);
    let p = net_params();
    for &m in Method::all() {
        let o = opts(m, 1e-6, Some(0.07));
        let g = grad(&net(&p), &NET_Y0, &ts, &o, Adjoint::default(), true);
        let (fd_p, fd_y0) = differences(&net, &p, &NET_Y0, &ts, &o, true, 1e-3);
        let (ep, ey) = (rel_err(&g.params, &fd_p), rel_err(&g.y0, &fd_y0));
        assert!(ep < 1e-8 && ey < 1e-8, "{m}: params rel {ep:e}, y0 rel {ey:e}");
    }
}

/// Largest relative difference between two gradients (parameters and y0
/// together), relative to the larger entries.
fn gap(a: &Gradient, b: &Gradient) -> f64 {
    let (x, y): (Vec<f64>, Vec<f64>) =
        (a.params.iter().chain(&a.y0).copied().collect(), b.params.iter().chain(&b.y0).copied().collect());
    rel_err(&x, &y)
}

#[test]
fn the_three_adjoints_agree_to_the_tolerance() {
    let p = net_params();
    for rtol in [1e-6, 1e-9] {
        let o = opts(Method::Tsit5, rtol, None);
        type Run<'a> = Box<dyn Fn(Adjoint) -> Gradient + 'a>;
        let cases: [(&str, Run); 2] = [
            ("lotka-volterra", Box::new(|a| grad(&lv(&LV), &LV_Y0, &save_times(9, 6.0), &o, a, false))),
            ("tanh net", Box::new(|a| grad(&net(&p), &NET_Y0, &save_times(7, 3.0), &o, a, false))),
        ];
        for (name, run) in cases {
            let d = run(Adjoint::default());
            let b = run(Adjoint::Backsolve);
            let i = run(Adjoint::Interpolated);
            let (gb, gi) = (gap(&b, &d), gap(&i, &d));
            eprintln!("{name} rtol {rtol:e}: backsolve vs discrete {gb:.2e}, interpolated vs discrete {gi:.2e}");
            assert!(gb < 300.0 * rtol && gi < 300.0 * rtol, "{name} rtol {rtol:e}: {gb:e} {gi:e}");
        }
    }
}
