//! The CDE adapter against known solutions (a constant matrix integrates
//! the path exactly), the reference interpreter, exact gradients and
//! central finite differences.

use nde_runtime::adjoint::Adjoint;
use nde_runtime::data::Series;
use nde_runtime::path::Interpolation;
use nde_runtime::Method;

use super::*;
use crate::autodiff;
use crate::codegen::JitOptions;
use crate::driver::frontend::MemoryLoader;
use crate::driver::{check_source, compile_model, FrontendOptions};
use crate::ir::interp;
use crate::ir::training::DataSource;
use crate::ir::ProgramIr;
use crate::span::SourceMap;

/// Irregular times, a missing value in each column (so each channel has a
/// kink where it is first or last observed).
const CSV: &str = "t,a,b\n0.0,1.0,\n0.4,1.5,0.5\n1.1,0.5,1.0\n1.5,,-0.5\n2.5,2.0,0.0\n3.0,1.0,0.25\n";

fn program(text: &str) -> ProgramIr {
    let mut sources = SourceMap::new();
    let root = sources.add("m.nde", text);
    let loader = MemoryLoader::new().with("obs.csv", CSV);
    match check_source(sources, root, &loader, &FrontendOptions::default()) {
        Ok(c) => c.program,
        Err(f) => panic!("{}", f.diagnostics.0.iter().map(|d| d.render_plain(&f.sources)).collect::<String>()),
    }
}

fn series(p: &ProgramIr) -> Series {
    match &p.data[0].source {
        DataSource::Loaded { series, .. } => (**series).clone(),
        DataSource::Generate { .. } => panic!("loaded data expected"),
    }
}

/// The first path of the program's only CDE model.
fn path_of(p: &ProgramIr) -> ControlPath {
    let m = &p.models[0];
    control_paths(control_of(m).unwrap(), &series(p)).unwrap().remove(0)
}

fn tight() -> SolveOptions {
    SolveOptions { rtol: 1e-11, atol: 1e-12, ..Default::default() }
}

/// `dz = A @ dX` with `A` fixed.
fn linear_model(kind: &str, options: &str, channels: usize) -> String {
    let rows: Vec<String> = (0..2)
        .map(|i| {
            let r: Vec<String> =
                (0..channels).map(|j| format!("{}", 0.3 * (i as f64 + 1.0) - 0.2 * j as f64)).collect();
            format!("[{}]", r.join(", "))
        })
        .collect();
    format!(
        "data series = load(\"obs.csv\")\nmodel lin {{\n  input X = {kind}(series{options})\n  param A: [2, {channels}] = [{}]\n  \
         state z: [2] = [1.0, -1.0]\n  dz = A @ dX\n}}\n",
        rows.join(", ")
    )
}

#[test]
fn a_constant_matrix_integrates_the_path_exactly() {
    let cases = [
        ("linear", "", 3),
        ("natural_cubic", "", 3),
        ("hermite", "", 3),
        ("rectilinear", "", 3),
        ("hermite", ", counts = true", 5),
        ("linear", ", time = false, counts = true", 4),
    ];
    for (kind, options, c) in cases {
        let p = program(&linear_model(kind, options, c));
        let m = &p.models[0];
        assert_eq!((m.n_state(), m.rhs.n_state, m.init.n_state), (2, 2 + 2 * c, c), "{kind}{options}");
        let path = path_of(&p);
        assert_eq!(path.channels(), c);
        let kernels = compile_model(m, &JitOptions::default()).unwrap();
        let (t0, t1) = path.span();
        // Knots, points between them, and beyond the end (the path is constant there).
        let mut saveat: Vec<f64> = vec![t0];
        for w in path.knots().windows(2) {
            saveat.extend([w[0] + 0.3 * (w[1] - w[0]), w[1]]);
        }
        saveat.push(t1 + 0.7);
        let y0 = initial_state(m, &m.param_values, &path).unwrap();
        assert_eq!(y0, [1.0, -1.0]);
        for method in [Method::Tsit5, Method::Dopri5] {
            let opts = SolveOptions { method, ..tight() };
            let sol = solve_cde(&kernels, &m.param_values, &path, &y0, &saveat, &opts).unwrap();
            let a = &m.param_values;
            let mut x0 = vec![0.0; c];
            path.evaluate(t0, &mut x0);
            for (i, &s) in saveat.iter().enumerate() {
                let mut x = vec![0.0; c];
                path.evaluate(s, &mut x);
                for r in 0..2 {
                    let want = y0[r] + (0..c).map(|j| a[r * c + j] * (x[j] - x0[j])).sum::<f64>();
                    let got = sol.row(i)[r];
                    assert!((got - want).abs() < 1e-9, "{kind}{options} {method:?} t = {s}: {got} vs {want}");
                }
            }
            // Piecewise polynomials of degree <= 3 are integrated exactly by
            // each step: a step that saw the next piece's slope would be rejected.
            assert!(sol.stats.nfe > 0 && sol.stats.rejected == 0, "{kind}{options} {method:?}: {:?}", sol.stats);
        }
    }
}

/// A net-driven CDE with a drift term, a `let` of the path and an initial
/// state read from `X(t0)`.
const NET: &str = "use std.nn.{mlp}
data series = load(\"obs.csv\")
model ncde {
  input X = hermite(series)
  param W0: [2, 3] = [[0.5, -0.2, 0.1], [0.3, 0.4, -0.6]]
  net F = mlp(2 -> 6 -> 2 * X.dim, act = tanh)
  state z: [2] = W0 @ X(t)
  let drive = sum(X(t)) * 0.1
  dz = reshape(F(z), [2, X.dim]) @ dX - drive * z dt
}
";

#[test]
fn the_field_matches_the_interpreter() {
    let p = program(NET);
    let m = &p.models[0];
    let path = path_of(&p);
    let kernels = compile_model(m, &JitOptions::default()).unwrap();
    let params = &m.param_values;
    let field = CdeField::new(&kernels, params, &path).unwrap();
    assert_eq!((field.dim(), field.channels(), field.n_params()), (2, 3, params.len()));

    // The initial state reads X(t0).
    let y0 = initial_state(m, params, &path).unwrap();
    let mut x0 = [0.0; 3];
    path.evaluate(0.0, &mut x0);
    let w0 = &params[..6];
    for r in 0..2 {
        let want: f64 = (0..3).map(|j| w0[r * 3 + j] * x0[j]).sum();
        assert!((y0[r] - want).abs() < 1e-15, "{y0:?}");
    }

    let vjp = autodiff::vjp(&m.rhs);
    let mut scratch = vec![0.0; field.scratch_len().max(field.vjp_scratch_len())];
    for (t, y) in [(0.2, [0.3, -0.4]), (1.1, [1.0, 2.0]), (2.9, [-0.5, 0.25])] {
        let mut buf = y.to_vec();
        let (mut x, mut xd) = (vec![0.0; 3], vec![0.0; 3]);
        path.evaluate(t, &mut x);
        path.derivative(t, &mut xd);
        buf.extend(&x);
        buf.extend(&xd);
        let want = interp::eval(&m.rhs, t, &buf, params).unwrap();
        let mut got = [0.0; 2];
        field.eval(t, &y, &mut got, &mut scratch);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-12 * w.abs().max(1.0), "t = {t}: {got:?} vs {want:?}");
        }
        let a = [0.7, -1.3];
        buf.extend(a);
        let want = interp::eval(&vjp, t, &buf, params).unwrap();
        let (mut gy, mut gp) = ([0.0; 2], vec![0.0; params.len()]);
        field.vjp(t, &y, &a, &mut gy, &mut gp, &mut scratch);
        let want_gp = &want[2 + 6..];
        for (g, w) in gy.iter().chain(&gp).zip(want[..2].iter().chain(want_gp)) {
            assert!((g - w).abs() <= 1e-12 * w.abs().max(1.0), "t = {t}: vjp {g} vs {w}");
        }
    }
}

#[test]
fn derivative_comes_from_inside_the_interval() {
    // A linear path has kinks at its knots: at the end of an interval the
    // field must use that interval's slope, and zero beyond the span.
    let p = program(&linear_model("linear", "", 3));
    let m = &p.models[0];
    let path = path_of(&p);
    let kernels = compile_model(m, &JitOptions::default()).unwrap();
    let field = CdeField::new(&kernels, &m.param_values, &path).unwrap();
    let mut scratch = vec![0.0; field.scratch_len()];
    let y = [0.0, 0.0];
    let slope = |f: &CdeField<'_>, t: f64, scratch: &mut [f64]| {
        let mut dy = [0.0; 2];
        f.eval(t, &y, &mut dy, scratch);
        dy
    };
    let (k1, k2, k3) = (0.4, 1.1, 1.5);
    let inside = slope(&field.on_interval(k1, k2), 0.5 * (k1 + k2), &mut scratch);
    assert_eq!(slope(&field.on_interval(k1, k2), k2, &mut scratch), inside);
    assert_eq!(slope(&field.on_interval(k1, k2), k1, &mut scratch), inside);
    let next = slope(&field.on_interval(k2, k3), 0.5 * (k2 + k3), &mut scratch);
    assert_ne!(inside, next);
    assert_eq!(slope(&field.on_interval(k2, k3), k2, &mut scratch), next);
    assert_eq!(slope(&field.on_interval(3.0, 4.0), 3.0, &mut scratch), [0.0, 0.0]);
}

#[test]
fn gradient_of_a_constant_matrix_model_is_exact() {
    // L = w · z(T): dL/dA[i, j] = w_i (X_j(T) − X_j(t0)), dL/dz0 = w.
    for kind in ["linear", "hermite", "natural_cubic", "rectilinear"] {
        let p = program(&linear_model(kind, "", 3));
        let m = &p.models[0];
        let path = path_of(&p);
        let kernels = compile_model(m, &JitOptions::default()).unwrap();
        let y0 = [1.0, -1.0];
        let (t0, t1) = path.span();
        let saveat = [0.5 * (t0 + t1), t1];
        let w = [0.7, -0.4];
        for adjoint in [Adjoint::Discrete { checkpoints: None }, Adjoint::Backsolve, Adjoint::Interpolated] {
            let mut ct = |_: &Solution| vec![0.0, 0.0, w[0], w[1]];
            let (_, g) =
                gradient_cde(&kernels, &m.param_values, &path, &y0, &saveat, &tight(), adjoint, &mut ct).unwrap();
            let (mut x0, mut x1) = ([0.0; 3], [0.0; 3]);
            path.evaluate(t0, &mut x0);
            path.evaluate(t1, &mut x1);
            for (i, wi) in w.iter().enumerate() {
                assert!((g.y0[i] - wi).abs() < 1e-9, "{kind} {}: dz0 {:?}", adjoint.name(), g.y0);
                for j in 0..3 {
                    let want = wi * (x1[j] - x0[j]);
                    let got = g.params[i * 3 + j];
                    assert!((got - want).abs() < 1e-8, "{kind} {}: dA[{i},{j}] {got} vs {want}", adjoint.name());
                }
            }
        }
    }
}

#[test]
fn gradient_of_a_net_model_matches_finite_differences() {
    let p = program(NET);
    let m = &p.models[0];
    let path = path_of(&p);
    let kernels = compile_model(m, &JitOptions::default()).unwrap();
    let params = m.param_values.clone();
    let saveat = [0.3, 1.1, 2.0, 3.0];
    let opts = tight();
    let w: Vec<f64> = (0..saveat.len() * 2).map(|i| 0.3 + 0.1 * i as f64).collect();
    let loss = |p: &[f64], y0: &[f64]| {
        let sol = solve_cde(&kernels, p, &path, y0, &saveat, &opts).unwrap();
        sol.y.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>()
    };
    let y0 = initial_state(m, &params, &path).unwrap();
    let mut ct = |_: &Solution| w.clone();
    let (sol, g) = gradient_cde(&kernels, &params, &path, &y0, &saveat, &opts, Adjoint::default(), &mut ct).unwrap();
    assert_eq!(sol.y, solve_cde(&kernels, &params, &path, &y0, &saveat, &opts).unwrap().y);
    let h = 1e-6;
    // W0 only shapes y0 (not read by the rhs): its gradient is 0 here.
    for k in [6, 7, 12, 20, params.len() - 1] {
        let (mut up, mut down) = (params.clone(), params.clone());
        up[k] += h;
        down[k] -= h;
        let fd = (loss(&up, &y0) - loss(&down, &y0)) / (2.0 * h);
        assert!((g.params[k] - fd).abs() < 1e-6 * fd.abs().max(1.0), "param {k}: {} vs {fd}", g.params[k]);
    }
    for i in 0..2 {
        let (mut up, mut down) = (y0.clone(), y0.clone());
        up[i] += h;
        down[i] -= h;
        let fd = (loss(&params, &up) - loss(&params, &down)) / (2.0 * h);
        assert!((g.y0[i] - fd).abs() < 1e-6 * fd.abs().max(1.0), "y0[{i}]: {} vs {fd}", g.y0[i]);
    }
    assert!(g.backward.nfe > 0 && g.forward.nfe == sol.stats.nfe);
}

#[test]
fn saves_at_the_start_and_cotangents_there() {
    let p = program(&linear_model("hermite", "", 3));
    let m = &p.models[0];
    let path = path_of(&p);
    let kernels = compile_model(m, &JitOptions::default()).unwrap();
    let y0 = [1.0, -1.0];
    let sol = solve_cde(&kernels, &m.param_values, &path, &y0, &[0.0, 0.0], &tight()).unwrap();
    assert_eq!(sol.y, [1.0, -1.0, 1.0, -1.0]);
    let mut ct = |_: &Solution| vec![1.0, 2.0, 0.5, 0.0, 0.0, 0.0];
    let (_, g) =
        gradient_cde(&kernels, &m.param_values, &path, &y0, &[0.0, 0.0, 3.0], &tight(), Adjoint::default(), &mut ct)
            .unwrap();
    assert!((g.y0[0] - 1.5).abs() < 1e-12 && (g.y0[1] - 2.0).abs() < 1e-12, "{:?}", g.y0);
    assert!(g.params.iter().all(|&v| v.abs() < 1e-12));
}

#[test]
fn bad_paths_times_and_states_are_errors() {
    let p = program(&linear_model("hermite", "", 3));
    let m = &p.models[0];
    let kernels = compile_model(m, &JitOptions::default()).unwrap();
    let params = &m.param_values;
    let s = series(&p);
    // A path with counts has 5 channels, the model reads 3.
    let wide = ControlPath::from_series(
        Interpolation::Hermite,
        &s,
        nde_runtime::path::PathOptions { time_channel: true, observation_counts: true },
    )
    .unwrap()
    .remove(0);
    let e = CdeField::new(&kernels, params, &wide).err().expect("channel mismatch");
    assert!(matches!(&e, SolveError::InvalidOptions { what } if what.contains("5 channels")), "{e}");
    let path = path_of(&p);
    let e = solve_cde(&kernels, params, &path, &[1.0, 2.0], &[-1.0, 1.0], &tight()).unwrap_err();
    assert!(matches!(&e, SolveError::InvalidTimes { what } if what.contains("before the start")), "{e}");
    let e = solve_cde(&kernels, params, &path, &[1.0, 2.0], &[2.0, 1.0], &tight()).unwrap_err();
    assert!(matches!(e, SolveError::InvalidTimes { .. }), "{e}");
    let e = solve_cde(&kernels, params, &path, &[1.0], &[1.0], &tight()).unwrap_err();
    assert!(matches!(e, SolveError::InvalidOptions { .. }), "{e}");
    let e = CdeField::new(&kernels, &params[1..], &path).err().expect("param length");
    assert!(matches!(e, SolveError::InvalidOptions { .. }));
    let mut ct = |_: &Solution| vec![0.0; 3];
    let e =
        gradient_cde(&kernels, params, &path, &[1.0, 2.0], &[1.0], &tight(), Adjoint::default(), &mut ct).unwrap_err();
    assert!(matches!(e, SolveError::InvalidOptions { .. }), "{e}");

    // control_paths refuses a series with other columns; control_of an ODE.
    let narrow = Series::from_values(vec![0.0, 1.0], vec!["a".into()], 1, vec![0.0, 1.0]).unwrap();
    let e = control_paths(control_of(m).unwrap(), &narrow).unwrap_err();
    assert!(matches!(e, CdeError::Columns { expected: 2, found: 1, .. }), "{e}");
    let ode = program("model o {\n  state x = 1.0\n  dx/dt = -x\n}\n");
    assert!(matches!(control_of(&ode.models[0]), Err(CdeError::NotACde { .. })));
    let one = Series::from_values(vec![0.0], vec!["a".into(), "b".into()], 1, vec![0.0, 1.0]).unwrap();
    let e = control_paths(control_of(m).unwrap(), &one).unwrap_err();
    assert!(e.to_string().contains("series") && e.to_string().contains("at least 2"), "{e}");
}

#[test]
fn scalar_controlled_states_beside_an_ode_reading_the_path() {
    // s' = v · dX/dt; q' = -q + X_0(t) with X_0 = t (the time channel):
    // q(t) = t - 1 + 2 exp(-t) from q(0) = 1.
    let p = program(
        "data series = load(\"obs.csv\")\nmodel m {\n  input X = linear(series, counts = true)\n  \
         state s = 0.0\n  state q = 1.0\n  ds = [1.0, -2.0, 0.5, 0.25, -1.0] @ dX\n  dq/dt = -q + X(t)[0]\n}\n",
    );
    let m = &p.models[0];
    let path = path_of(&p);
    let kernels = compile_model(m, &JitOptions::default()).unwrap();
    let saveat = [0.7, 1.5, 3.0];
    let y0 = initial_state(m, &m.param_values, &path).unwrap();
    let sol = solve_cde(&kernels, &m.param_values, &path, &y0, &saveat, &tight()).unwrap();
    let v = [1.0, -2.0, 0.5, 0.25, -1.0];
    let mut x0 = [0.0; 5];
    path.evaluate(0.0, &mut x0);
    for (i, &t) in saveat.iter().enumerate() {
        let mut x = [0.0; 5];
        path.evaluate(t, &mut x);
        let s: f64 = (0..5).map(|j| v[j] * (x[j] - x0[j])).sum();
        let q = t - 1.0 + 2.0 * (-t).exp();
        assert!((sol.row(i)[0] - s).abs() < 1e-9, "s({t}) = {} vs {s}", sol.row(i)[0]);
        assert!((sol.row(i)[1] - q).abs() < 1e-8, "q({t}) = {} vs {q}", sol.row(i)[1]);
    }
}
