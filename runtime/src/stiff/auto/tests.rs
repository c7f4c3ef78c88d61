//! `auto` on hand-written systems: the stability boundary it assumes, no
//! switch (and Tsit5's bits) on a non-stiff problem, a switch and far less
//! work than Tsit5 on Van der Pol at μ = 1000, and a switch back when the
//! stiffness fades.

use super::*;
use crate::solver::tableau::TSIT5;
use crate::stiff::{solve_stiff, FnJacField};
use crate::{solve, Method};

/// `R(z) = 1 + z bᵀ(I − zA)⁻¹𝟙` of an explicit tableau at real `z`.
fn stability_function(z: f64) -> f64 {
    let s = TSIT5.c.len();
    let mut g = vec![0.0; s];
    for i in 0..s {
        g[i] = 1.0 + z * TSIT5.a[i].iter().zip(&g).map(|(a, g)| a * g).sum::<f64>();
    }
    1.0 + z * TSIT5.b.iter().zip(&g).map(|(b, g)| b * g).sum::<f64>()
}

#[test]
fn the_boundary_is_where_tsit5_stops_being_stable_on_the_real_axis() {
    // Scan for the first x with |R(−x)| > 1, then bisect.
    let mut x = 0.0;
    while stability_function(-(x + 1e-3)).abs() <= 1.0 {
        x += 1e-3;
    }
    let (mut lo, mut hi) = (x, x + 1e-3);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if stability_function(-mid).abs() <= 1.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    assert!((lo - TSIT5_STABILITY_BOUNDARY).abs() < 5e-4, "boundary {lo}");
}

fn lorenz() -> impl JacField {
    FnJacField::new(
        3,
        |_t, y: &[f64], f: &mut [f64]| {
            f[0] = 10.0 * (y[1] - y[0]);
            f[1] = y[0] * (28.0 - y[2]) - y[1];
            f[2] = y[0] * y[1] - 8.0 / 3.0 * y[2];
        },
        |_t, y: &[f64], j: &mut [f64]| {
            j.copy_from_slice(&[-10.0, 10.0, 0.0, 28.0 - y[2], -1.0, -y[0], y[1], y[0], -8.0 / 3.0]);
        },
    )
}

#[test]
fn a_non_stiff_problem_never_switches_and_gets_tsit5s_bits() {
    let f = lorenz();
    let ts: Vec<f64> = (0..=100).map(|i| i as f64 * 0.2).collect();
    for rtol in [1e-4, 1e-6, 1e-9] {
        let auto =
            solve_auto(&f, 0.0, &[1.0, 1.0, 1.0], &ts, &AutoOptions { rtol, atol: rtol * 1e-3, ..Default::default() })
                .unwrap();
        let opts = SolveOptions { method: Method::Tsit5, rtol, atol: rtol * 1e-3, ..Default::default() };
        let tsit5 = solve(&f, 0.0, &[1.0, 1.0, 1.0], &ts, &opts).unwrap();
        assert!(auto.switches.is_empty(), "rtol {rtol}: {:?}", auto.switches);
        assert_eq!(auto.solution, tsit5, "rtol {rtol}");
    }
}

/// Van der Pol in the test set's scaling (`ε = 1e-6`, i.e. μ = 1000).
fn vdpol() -> impl JacField {
    const EPS: f64 = 1e-6;
    FnJacField::new(
        2,
        |_t, y: &[f64], f: &mut [f64]| {
            f[0] = y[1];
            f[1] = ((1.0 - y[0] * y[0]) * y[1] - y[0]) / EPS;
        },
        |_t, y: &[f64], j: &mut [f64]| {
            j.copy_from_slice(&[0.0, 1.0, (-2.0 * y[0] * y[1] - 1.0) / EPS, (1.0 - y[0] * y[0]) / EPS]);
        },
    )
}

#[test]
fn van_der_pol_switches_to_rodas5_and_costs_far_less_than_tsit5() {
    let f = vdpol();
    let t_end = 0.5;
    let rtol = 1e-6;
    let auto =
        solve_auto(&f, 0.0, &[2.0, 0.0], &[t_end], &AutoOptions { rtol, atol: rtol, ..Default::default() }).unwrap();
    let tsit5_opts = SolveOptions { rtol, atol: rtol, max_steps: 10_000_000, ..Default::default() };
    let tsit5 = solve(&f, 0.0, &[2.0, 0.0], &[t_end], &tsit5_opts).unwrap();
    let reference_opts = StiffOptions { rtol: 1e-11, atol: 1e-11, ..StiffOptions::default() };
    let reference = solve_stiff(&f, 0.0, &[2.0, 0.0], &[t_end], &reference_opts).unwrap();
    let s = auto.solution.stats;
    assert!(auto.switches.first().is_some_and(|w| w.to_stiff && w.t < 1e-3), "{:?}", auto.switches);
    assert_eq!(s.switches, auto.switches.len() as u64);
    assert!(s.njev > 0 && s.nlu > 0);
    assert!(s.nfe * 50 < tsit5.stats.nfe, "auto {} vs tsit5 {} evaluations", s.nfe, tsit5.stats.nfe);
    for (a, r) in auto.solution.final_state().iter().zip(reference.final_state()) {
        assert!((a - r).abs() < 1e-4 * (1.0 + r.abs()), "{a} vs {r}");
    }
}

#[test]
fn fading_stiffness_switches_back_to_tsit5() {
    // y' = −λ(t)(y − cos t) with λ = 1e4·e^{−10t} + 1: stiff early, mild later.
    let lambda = |t: f64| 1e4 * (-10.0 * t).exp() + 1.0;
    let f = FnJacField::with_time_derivative(
        1,
        move |t, y: &[f64], f: &mut [f64]| f[0] = -lambda(t) * (y[0] - t.cos()),
        move |t, _y: &[f64], j: &mut [f64]| j[0] = -lambda(t),
        move |t, y: &[f64], out: &mut [f64]| {
            out[0] = 1e5 * (-10.0 * t).exp() * (y[0] - t.cos()) - lambda(t) * t.sin();
        },
    );
    let ts: Vec<f64> = (0..=20).map(|i| i as f64 * 0.5).collect();
    let opts = AutoOptions { rtol: 1e-7, atol: 1e-9, ..Default::default() };
    let auto = solve_auto(&f, 0.0, &[0.0], &ts, &opts).unwrap();
    let to_stiff = auto.switches.iter().position(|s| s.to_stiff).expect("switched to rodas5");
    assert!(auto.switches[to_stiff + 1..].iter().any(|s| !s.to_stiff), "{:?}", auto.switches);
    let reference_opts = StiffOptions { rtol: 1e-11, atol: 1e-13, ..StiffOptions::default() };
    let reference = solve_stiff(&f, 0.0, &[0.0], &ts, &reference_opts).unwrap();
    for (a, r) in auto.solution.y.iter().zip(&reference.y) {
        assert!((a - r).abs() < 1e-5, "{a} vs {r}");
    }
    // Without switching back it stays with rodas5 to the end.
    let stay = solve_auto(&f, 0.0, &[0.0], &ts, &AutoOptions { switch_back: false, ..opts }).unwrap();
    assert_eq!(stay.switches.len(), 1);
}
