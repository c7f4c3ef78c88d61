//! Control paths for neural CDEs: interpolation through the data, scipy's
//! natural spline, the Hermite formula of ALGORITHMS §3.3, the rectilinear
//! path, missing values, observation counts, derivatives against finite
//! differences, and a CDE solved with the ODE solver.

use nde_runtime::data::Series;
use nde_runtime::path::{ControlPath, Interpolation, PathError, PathOptions};
use nde_runtime::term::FnField;
use nde_runtime::{solve, SolveOptions};

const NAN: f64 = f64::NAN;

/// Irregular times.
const T: [f64; 6] = [0.0, 0.7, 1.5, 2.0, 3.4, 4.1];
/// Channel 0, fully observed.
const X0: [f64; 6] = [1.0, -0.5, 2.0, 0.3, 1.7, -1.2];
/// Channel 1, observed at rows 1, 2, 4.
const X1: [f64; 6] = [NAN, 0.4, -1.1, NAN, 2.5, NAN];
/// Channel 2, observed at rows 0, 3, 4, 5.
const X2: [f64; 6] = [0.3, NAN, NAN, -0.8, 1.1, 0.9];

/// The three channels, row-major `[6][3]`.
fn data() -> Vec<f64> {
    (0..T.len()).flat_map(|k| [X0[k], X1[k], X2[k]]).collect()
}

fn all_channels() -> PathOptions {
    PathOptions { time_channel: true, observation_counts: true }
}

fn eval(p: &ControlPath, t: f64) -> Vec<f64> {
    let mut out = vec![0.0; p.channels()];
    p.evaluate(t, &mut out);
    out
}

fn deriv(p: &ControlPath, t: f64) -> Vec<f64> {
    let mut out = vec![0.0; p.channels()];
    p.derivative(t, &mut out);
    out
}

fn deriv_left(p: &ControlPath, t: f64) -> Vec<f64> {
    let mut out = vec![0.0; p.channels()];
    p.derivative_left(t, &mut out);
    out
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

/// Points strictly inside every segment of `p`, plus the segment index.
fn interior_points(p: &ControlPath) -> Vec<f64> {
    p.knots().windows(2).flat_map(|w| [0.13, 0.5, 0.91].map(|f| w[0] + f * (w[1] - w[0]))).collect()
}

/// The cumulative observation counts of one channel.
fn counts(x: &[f64]) -> Vec<f64> {
    x.iter()
        .scan(0.0, |c, v| {
            *c += if v.is_nan() { 0.0 } else { 1.0 };
            Some(*c)
        })
        .collect()
}

#[test]
fn every_kind_passes_through_the_knots() {
    let x = data();
    let cols = [X0, X1, X2];
    for kind in Interpolation::ALL {
        let p = ControlPath::new(kind, &T, &x, 3, all_channels()).unwrap();
        assert_eq!(p.channels(), 7, "{kind}: time + 3 values + 3 counts");
        for (k, &tk) in T.iter().enumerate() {
            // Rectilinear: data row k sits at index-time 2k.
            let s = if kind == Interpolation::Rectilinear { 2.0 * k as f64 } else { tk };
            let v = eval(&p, s);
            assert_eq!(v[0], tk, "{kind}: time channel at row {k}");
            for (c, col) in cols.iter().enumerate() {
                if !col[k].is_nan() {
                    assert_eq!(v[1 + c], col[k], "{kind}: channel {c} at row {k}");
                }
                assert_eq!(v[4 + c], counts(col)[k], "{kind}: count of channel {c} at row {k}");
            }
        }
    }
}

#[test]
fn natural_cubic_matches_scipy() {
    // From $HOME/peers-venv/bin/python, scipy 1.17.1:
    //   cs = CubicSpline(T, X0, bc_type="natural"); cs(q), cs(q, 1)
    //   cs2 = CubicSpline(T[[1, 2, 4]], [0.4, -1.1, 2.5], bc_type="natural"); cs2(q2), cs2(q2, 1)
    let q = [0.2, 0.7, 1.1, 1.9, 2.5, 3.0, 3.9, 4.05];
    let v = [
        0.21444951664876472,
        -0.5,
        1.002135338345865,
        0.6502983458646622,
        0.25762812643854555,
        1.4515513272978366,
        -0.1107793463249972,
        -0.9222646443915916,
    ];
    let d = [
        -3.610437701396348,
        1.7442481203007518,
        4.445714285714286,
        -3.97607067669173,
        1.9436259014884154,
        2.0399923277581706,
        -5.214415068282954,
        -5.540226599662423,
    ];
    let q2 = [0.9, 1.5, 2.2, 3.0];
    let v2 = [-0.07971491228070182, -1.1, -0.7304478301015697, 1.2350646352723909];
    let d2 = [-2.328764619883041, -0.7580409356725146, 1.6338681132656205, 3.0447637734687594];

    let opts = PathOptions { time_channel: false, observation_counts: false };
    let p = ControlPath::new(Interpolation::NaturalCubic, &T, &data(), 3, opts).unwrap();
    for i in 0..q.len() {
        assert!(close(eval(&p, q[i])[0], v[i], 1e-13), "X({}) = {:?}, scipy {}", q[i], eval(&p, q[i]), v[i]);
        assert!(close(deriv(&p, q[i])[0], d[i], 1e-12), "X'({}) = {:?}, scipy {}", q[i], deriv(&p, q[i]), d[i]);
    }
    // The channel with missing values is the spline through its observations only.
    for i in 0..q2.len() {
        assert!(close(eval(&p, q2[i])[1], v2[i], 1e-13), "channel 1 at {}", q2[i]);
        assert!(close(deriv(&p, q2[i])[1], d2[i], 1e-12), "channel 1' at {}", q2[i]);
    }
    // Natural: zero second derivative at both ends (finite difference of X').
    for (t, dir) in [(T[0], 1.0), (T[5], -1.0)] {
        let h = 1e-5 * dir;
        let second = (deriv(&p, t + h)[0] - deriv(&p, t)[0]) / h;
        assert!(second.abs() < 1e-3, "X''({t}) = {second}");
    }
}

#[test]
fn hermite_follows_the_backward_difference_formula() {
    let opts = PathOptions { time_channel: false, observation_counts: false };
    let p = ControlPath::new(Interpolation::Hermite, &T, &X0, 1, opts).unwrap();
    let m: Vec<f64> = (0..T.len() - 1).map(|k| (X0[k + 1] - X0[k]) / (T[k + 1] - T[k])).collect();
    let m_before = |k: usize| if k == 0 { m[0] } else { m[k - 1] };

    // The derivative at knot t_k is m_{k-1} from both sides (m_{-1} = m_0).
    for k in 0..T.len() {
        let want = if k == T.len() - 1 { m[k - 1] } else { m_before(k) };
        assert!(close(deriv(&p, T[k])[0], want, 1e-12), "right derivative at t_{k}");
        assert!(close(deriv_left(&p, T[k])[0], want, 1e-12), "left derivative at t_{k}");
        if k > 0 {
            let below = deriv(&p, T[k] - 1e-9)[0];
            assert!(close(below, want, 1e-6), "derivative just below t_{k}: {below} vs {want}");
        }
    }
    // X(t_k + s) = x_k + m_{k-1} s + 2 (m_k - m_{k-1}) s²/Δ - (m_k - m_{k-1}) s³/Δ².
    for k in 0..T.len() - 1 {
        let delta = T[k + 1] - T[k];
        for f in [0.1, 0.35, 0.5, 0.8] {
            let s = f * delta;
            let dm = m[k] - m_before(k);
            let want = X0[k] + m_before(k) * s + 2.0 * dm * s * s / delta - dm * s * s * s / (delta * delta);
            let want_d = m_before(k) + 4.0 * dm * s / delta - 3.0 * dm * s * s / (delta * delta);
            assert!(close(eval(&p, T[k] + s)[0], want, 1e-13), "X on segment {k} at s = {s}");
            assert!(close(deriv(&p, T[k] + s)[0], want_d, 1e-12), "X' on segment {k} at s = {s}");
        }
    }
}

#[test]
fn linear_derivative_is_the_segment_slope() {
    let p = ControlPath::new(Interpolation::Linear, &T, &X0, 1, PathOptions::default()).unwrap();
    for k in 0..T.len() - 1 {
        let slope = (X0[k + 1] - X0[k]) / (T[k + 1] - T[k]);
        for t in [T[k], 0.5 * (T[k] + T[k + 1]), T[k + 1] - 1e-3] {
            assert!(close(deriv(&p, t)[1], slope, 1e-12), "X'({t}) on segment {k}");
            assert_eq!(deriv(&p, t)[0], 1.0, "time channel");
        }
        // At the knot ending the segment: the left derivative is this slope.
        assert!(close(deriv_left(&p, T[k + 1])[1], slope, 1e-12), "left derivative at t_{}", k + 1);
        let mid = 0.5 * (T[k] + T[k + 1]);
        assert!(close(eval(&p, mid)[1], 0.5 * (X0[k] + X0[k + 1]), 1e-14), "midpoint of segment {k}");
    }
}

#[test]
fn rectilinear_visits_time_then_values() {
    let x: Vec<f64> = (0..T.len()).flat_map(|k| [X0[k], X2[k]]).collect();
    let p = ControlPath::new(Interpolation::Rectilinear, &T, &x, 2, PathOptions::default()).unwrap();
    let n = T.len();
    assert_eq!(p.span(), (0.0, 2.0 * (n - 1) as f64));
    assert_eq!(p.knots(), (0..2 * n - 1).map(|i| i as f64).collect::<Vec<_>>().as_slice());
    // Channel 2 filled forward: rows 1 and 2 hold row 0's value.
    let x2 = [0.3, 0.3, 0.3, -0.8, 1.1, 0.9];
    for k in 0..n {
        assert_eq!(eval(&p, 2.0 * k as f64), vec![T[k], X0[k], x2[k]], "point 2k = (t_k, x_k), k = {k}");
        if k + 1 < n {
            let s = 2.0 * k as f64 + 1.0;
            assert_eq!(eval(&p, s), vec![T[k + 1], X0[k], x2[k]], "point 2k+1 = (t_(k+1), x_k), k = {k}");
            // First half: only time moves; second half: only the values.
            assert_eq!(deriv(&p, s - 0.5), vec![T[k + 1] - T[k], 0.0, 0.0], "time leg {k}");
            assert_eq!(deriv(&p, s + 0.5), vec![0.0, X0[k + 1] - X0[k], x2[k + 1] - x2[k]], "value leg {k}");
            let half = eval(&p, s - 0.5);
            assert!(close(half[0], 0.5 * (T[k] + T[k + 1]), 1e-15), "halfway along time leg {k}");
        }
    }
    // A channel first observed late is held at its first observation before it.
    let late = [NAN, NAN, 2.0, NAN, 3.0, NAN];
    let q = ControlPath::new(Interpolation::Rectilinear, &T, &late, 1, PathOptions::default()).unwrap();
    let seen: Vec<f64> = (0..n).map(|k| eval(&q, 2.0 * k as f64)[1]).collect();
    assert_eq!(seen, [2.0, 2.0, 2.0, 2.0, 3.0, 3.0]);
}

#[test]
fn missing_values_fit_the_observed_points_only() {
    let no_extra = PathOptions { time_channel: false, observation_counts: false };
    let x = data();
    for kind in [Interpolation::Linear, Interpolation::NaturalCubic, Interpolation::Hermite] {
        let p = ControlPath::new(kind, &T, &x, 3, no_extra).unwrap();
        for (c, col) in [X1, X2].iter().enumerate() {
            let rows: Vec<usize> = (0..T.len()).filter(|&k| !col[k].is_nan()).collect();
            let t_obs: Vec<f64> = rows.iter().map(|&k| T[k]).collect();
            let x_obs: Vec<f64> = rows.iter().map(|&k| col[k]).collect();
            let alone = ControlPath::new(kind, &t_obs, &x_obs, 1, no_extra).unwrap();
            let (first, last) = (t_obs[0], t_obs[t_obs.len() - 1]);
            let mut probes = interior_points(&p);
            probes.extend_from_slice(&T);
            for t in probes {
                let (v, d) = (eval(&p, t)[1 + c], deriv(&p, t)[1 + c]);
                if t < first {
                    assert_eq!((v, d), (x_obs[0], 0.0), "{kind}, channel {}: flat before {first}", 1 + c);
                } else if t > last {
                    assert_eq!((v, d), (x_obs[x_obs.len() - 1], 0.0), "{kind}, channel {}: flat after", 1 + c);
                } else {
                    assert!(close(v, eval(&alone, t)[0], 1e-12), "{kind}, channel {} at {t}", 1 + c);
                    if t < last {
                        assert!(close(d, deriv(&alone, t)[0], 1e-11), "{kind}, channel {}' at {t}", 1 + c);
                    }
                }
            }
        }
    }
}

#[test]
fn observation_counts_are_cumulative() {
    let x = data();
    let p = ControlPath::new(Interpolation::Linear, &T, &x, 3, all_channels()).unwrap();
    assert_eq!(counts(&X1), [0.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
    for k in 0..T.len() - 1 {
        let mid = eval(&p, 0.5 * (T[k] + T[k + 1]));
        for (c, col) in [X0, X1, X2].iter().enumerate() {
            let n = counts(col);
            assert!(close(mid[4 + c], 0.5 * (n[k] + n[k + 1]), 1e-15), "count {c} mid segment {k}");
        }
    }
    let end = eval(&p, T[5]);
    assert_eq!(&end[4..], &[6.0, 3.0, 4.0]);
    // Without the time channel the counts follow the values directly.
    let q = ControlPath::new(Interpolation::Hermite, &T, &x, 3, PathOptions { time_channel: false, ..all_channels() })
        .unwrap();
    assert_eq!(q.channels(), 6);
    assert_eq!(&eval(&q, T[3])[3..], &[4.0, 2.0, 2.0]);
}

#[test]
fn derivative_matches_finite_differences() {
    let x = data();
    for kind in Interpolation::ALL {
        let p = ControlPath::new(kind, &T, &x, 3, all_channels()).unwrap();
        let h = 1e-6;
        for t in interior_points(&p) {
            let (up, down, d) = (eval(&p, t + h), eval(&p, t - h), deriv(&p, t));
            for c in 0..p.channels() {
                let fd = (up[c] - down[c]) / (2.0 * h);
                assert!(close(d[c], fd, 1e-7), "{kind}: channel {c} at {t}: {} vs {fd}", d[c]);
            }
        }
    }
}

#[test]
fn outside_the_span_the_path_is_flat() {
    for kind in Interpolation::ALL {
        let p = ControlPath::new(kind, &T, &data(), 3, all_channels()).unwrap();
        let (lo, hi) = p.span();
        assert_eq!(eval(&p, lo - 1.0), eval(&p, lo), "{kind}");
        assert_eq!(eval(&p, hi + 1.0), eval(&p, hi), "{kind}");
        assert!(deriv(&p, lo - 1e-9).iter().chain(&deriv(&p, hi + 1e-9)).all(|&d| d == 0.0), "{kind}");
        assert!(eval(&p, NAN).iter().chain(&deriv(&p, NAN)).all(|d| d.is_nan()), "{kind}");
        // At the ends the derivative is the one from inside.
        assert_eq!(deriv(&p, hi), deriv_left(&p, hi), "{kind}");
        assert_eq!(deriv(&p, lo), deriv_left(&p, lo), "{kind}");
        let (at_end, inside) = (deriv(&p, hi), deriv(&p, hi - 1e-9));
        assert!(at_end.iter().zip(&inside).all(|(a, b)| close(*a, *b, 1e-6)), "{kind}: {at_end:?} vs {inside:?}");
        assert!(at_end.iter().any(|&d| d != 0.0), "{kind}: the path still moves at its end");
    }
}

/// `dz/dt = A · dX/dt` with constant `A` (2 × channels) integrates to
/// `z(T) = z0 + A (X(T) − X(t0))`; solved knot to knot so that each step
/// sees one polynomial piece (right derivative at its start, left at its end).
#[test]
fn cde_with_constant_field_integrates_the_path_increment() {
    for kind in Interpolation::ALL {
        let p = ControlPath::new(kind, &T, &data(), 3, all_channels()).unwrap();
        let v = p.channels();
        let a: Vec<f64> = (0..2 * v).map(|i| ((i * 7 + 3) % 11) as f64 / 5.0 - 1.0).collect();
        let mut z = vec![0.5, -1.5];
        let z0 = z.clone();
        let o = SolveOptions { rtol: 1e-11, atol: 1e-13, ..Default::default() };
        for w in p.knots().windows(2) {
            let end = w[1];
            let f = FnField::new(2, |t, _z: &[f64], dz: &mut [f64]| {
                let mut dx = [0.0; 7];
                if t < end {
                    p.derivative(t, &mut dx[..v]);
                } else {
                    p.derivative_left(t, &mut dx[..v]);
                }
                for (i, d) in dz.iter_mut().enumerate() {
                    *d = (0..v).map(|j| a[i * v + j] * dx[j]).sum();
                }
            });
            let sol = solve(&f, w[0], &z, &[end], &o).unwrap();
            // Each piece is a polynomial of degree <= 3 in t, which Tsit5 integrates
            // exactly: a wrong one-sided derivative at a knot shows up as rejections.
            assert_eq!(sol.stats.rejected, 0, "{kind} on [{}, {end}]: {:?}", w[0], sol.stats);
            z = sol.final_state().to_vec();
        }
        let (lo, hi) = p.span();
        let dx: Vec<f64> = eval(&p, hi).iter().zip(eval(&p, lo)).map(|(b, a)| b - a).collect();
        for i in 0..2 {
            let want = z0[i] + (0..v).map(|j| a[i * v + j] * dx[j]).sum::<f64>();
            assert!((z[i] - want).abs() < 1e-9, "{kind}: z_{i}(T) = {}, want {want}", z[i]);
        }
    }
}

#[test]
fn batch_equals_one_path_per_series() {
    let mut x = data();
    let mut second = data();
    second.iter_mut().for_each(|v| *v = 2.0 * *v - 1.0);
    second[3] = NAN; // row 1, channel 0 now missing
    x.extend_from_slice(&second);
    let full: Vec<f64> = (0..18).map(|i| (i as f64 * 0.37).sin()).collect();
    x.extend_from_slice(&full);
    for kind in Interpolation::ALL {
        let paths = ControlPath::batch(kind, &T, &x, 3, all_channels()).unwrap();
        assert_eq!(paths.len(), 3);
        for (b, path) in paths.iter().enumerate() {
            let one = ControlPath::new(kind, &T, &x[b * 18..(b + 1) * 18], 3, all_channels()).unwrap();
            assert_eq!(path, &one, "{kind}: series {b}");
            assert_eq!(path.kind(), kind);
        }
    }
    let series = Series {
        t: T.to_vec(),
        columns: vec!["a".into(), "b".into(), "c".into()],
        n_traj: 3,
        y: x.clone(),
        fields: Vec::new(),
    };
    let from = ControlPath::from_series(Interpolation::Hermite, &series, PathOptions::default()).unwrap();
    assert_eq!(from, ControlPath::batch(Interpolation::Hermite, &T, &x, 3, PathOptions::default()).unwrap());
}

#[test]
fn bad_input_is_a_typed_error() {
    let lin = Interpolation::Linear;
    let o = PathOptions::default();
    let err = |r: Result<ControlPath, PathError>| r.unwrap_err();
    let cases = [
        (err(ControlPath::new(lin, &[1.0], &[2.0], 1, o)), PathError::TooFewKnots { n: 1 }, "at least 2"),
        (
            err(ControlPath::new(lin, &[0.0, NAN], &[1.0, 2.0], 1, o)),
            PathError::NonFiniteTime { row: 1, value: NAN },
            "row 1",
        ),
        (
            err(ControlPath::new(lin, &[0.0, 1.0, 1.0], &[1.0, 2.0, 3.0], 1, o)),
            PathError::NotIncreasing { row: 2, prev: 1.0, value: 1.0 },
            "strictly increasing",
        ),
        (err(ControlPath::new(lin, &[0.0, 1.0], &[], 0, o)), PathError::NoChannels, "no channels"),
        (
            err(ControlPath::new(lin, &[0.0, 1.0], &[1.0, 2.0, 3.0], 2, o)),
            PathError::Ragged { rows: 2, channels: 2, len: 3 },
            "4 values each",
        ),
        (
            err(ControlPath::new(lin, &[0.0, 1.0], &[1.0, 2.0, f64::INFINITY, 3.0], 2, o)),
            PathError::NonFiniteValue { row: 1, channel: 0, t: 1.0, value: f64::INFINITY },
            "channel 0 at row 1 (t = 1)",
        ),
        (
            err(ControlPath::new(lin, &[0.0, 1.0], &[1.0, NAN, 2.0, NAN], 2, o)),
            PathError::EmptyChannel { channel: 1 },
            "channel 1 has no observation",
        ),
        (
            err(ControlPath::batch(lin, &[0.0, 1.0], &[1.0, 2.0, NAN, NAN], 1, o).map(|_| unreachable!())),
            PathError::InSeries { index: 1, error: Box::new(PathError::EmptyChannel { channel: 0 }) },
            "series 1: channel 0",
        ),
        (
            err(ControlPath::batch(lin, &[0.0, 1.0], &[1.0, 2.0, 3.0], 1, o).map(|_| unreachable!())),
            PathError::Ragged { rows: 2, channels: 1, len: 3 },
            "3 values",
        ),
    ];
    for (got, want, text) in cases {
        // NaN fields never compare equal: compare the messages too.
        if !matches!(want, PathError::NonFiniteTime { .. }) {
            assert_eq!(got, want);
        }
        assert_eq!(got.to_string(), want.to_string());
        assert!(got.to_string().contains(text), "{got}");
    }
}
