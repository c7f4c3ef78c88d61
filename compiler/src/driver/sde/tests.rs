//! The SDE adapter against the reference interpreter, known values and
//! central finite differences.

use nde_runtime::sde::{DiffSdeField, Noise, SdeField};

use super::*;
use crate::driver::{check_source, FrontendOptions, FsLoader};
use crate::ir::interp;
use crate::span::SourceMap;

fn model(name: &str, text: &str) -> ModelIr {
    let mut sources = SourceMap::new();
    let root = sources.add(name, text);
    let checked = match check_source(sources, root, &FsLoader, &FrontendOptions::default()) {
        Ok(c) => c,
        Err(f) => panic!("{name}: {}", f.diagnostics.0[0].render_plain(&f.sources)),
    };
    checked.program.models.into_iter().next().expect("one model")
}

const OU: &str = include_str!("../../../../examples/ou.nde");
const GBM: &str = include_str!("../../../../examples/gbm.nde");

/// Two vector states with general noise (3 channels), one scalar state with
/// multiplicative general noise, and an ODE state (g = 0).
const GENERAL: &str = "
model two {
  noise W: [3]
  state y: [2] = [1.0, 0.0]
  state z = 0.5
  state q = 0.0
  param G: [2, 3] = [[0.1, 0.0, 0.2], [0.0, 0.3, 0.0]]
  param h: [3] = [1.0, 2.0, 3.0]
  param k = 0.7
  dy = -k * y dt + (G * tanh(y[0])) @ dW
  dz = sin(z) dt + (z^2 * h) @ dW
  dq/dt = z * y[1]
}
";

/// Diagonal noise whose `g_i` depends on other states too (the Milstein
/// term must keep only `∂g_i/∂y_i`).
const COUPLED: &str = "
model coupled {
  param s = 0.4
  state y: [2] = [0.3, -0.2]
  dy = -y dt + s * [y[0] * y[1], sin(y[1]) + y[0]^2] dW
}
";

const H: f64 = 1e-6;

struct Eval<'a> {
    field: &'a ModelSdeField<'a>,
    scratch: Vec<f64>,
}

impl Eval<'_> {
    fn drift(&mut self, t: f64, y: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.field.dim()];
        self.field.drift(t, y, &mut out, &mut self.scratch);
        out
    }
    fn g(&mut self, t: f64, y: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.field.noise().diffusion_len(self.field.dim())];
        self.field.diffusion(t, y, &mut out, &mut self.scratch);
        out
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(close(*g, *w, tol), "{what}[{i}]: got {g}, want {w}");
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Checks drift, diffusion and both VJPs against the interpreter and
/// central differences at `(t, y)` with the model's own parameters.
fn check_field(m: &ModelIr, t: f64, y: &[f64]) {
    let kernels = SdeKernels::compile(m, &JitOptions::default()).unwrap();
    let d = m.diffusion.as_ref().unwrap();
    let p = m.param_values.clone();
    let field = ModelSdeField::new(&kernels, &p);
    let n = field.dim();
    let len = field.noise().diffusion_len(n);
    assert_eq!(d.function.output_len(), len);
    let mut e = Eval { field: &field, scratch: vec![0.0; field.scratch_len()] };

    // Values against the reference interpreter.
    assert_close("drift", &e.drift(t, y), &interp::eval(&m.rhs, t, y, &p).unwrap(), 1e-12);
    assert_close("g", &e.g(t, y), &interp::eval(&d.function, t, y, &p).unwrap(), 1e-12);

    // VJPs against central differences, in y and in p.
    let a_f: Vec<f64> = (0..n).map(|i| 0.3 + 0.2 * i as f64).collect();
    let a_g: Vec<f64> = (0..len).map(|i| 0.5 - 0.15 * i as f64).collect();
    let (mut gy, mut gp) = (vec![0.0; n], vec![0.0; p.len()]);
    field.drift_vjp(t, y, &a_f, &mut gy, &mut gp, &mut e.scratch);
    let (mut hy, mut hp) = (vec![0.0; n], vec![0.0; p.len()]);
    field.diffusion_vjp(t, y, &a_g, &mut hy, &mut hp, &mut e.scratch);
    for j in 0..n {
        let (mut up, mut down) = (y.to_vec(), y.to_vec());
        up[j] += H;
        down[j] -= H;
        let fd_f = (dot(&a_f, &e.drift(t, &up)) - dot(&a_f, &e.drift(t, &down))) / (2.0 * H);
        let fd_g = (dot(&a_g, &e.g(t, &up)) - dot(&a_g, &e.g(t, &down))) / (2.0 * H);
        assert!(close(gy[j], fd_f, 1e-6), "drift vjp y[{j}]: {} vs fd {fd_f}", gy[j]);
        assert!(close(hy[j], fd_g, 1e-6), "g vjp y[{j}]: {} vs fd {fd_g}", hy[j]);
    }
    for j in 0..p.len() {
        let (mut up, mut down) = (p.clone(), p.clone());
        up[j] += H;
        down[j] -= H;
        let f = |q: &[f64], a: &[f64], func: &Function| dot(a, &interp::eval(func, t, y, q).unwrap());
        let fd_f = (f(&up, &a_f, &m.rhs) - f(&down, &a_f, &m.rhs)) / (2.0 * H);
        let fd_g = (f(&up, &a_g, &d.function) - f(&down, &a_g, &d.function)) / (2.0 * H);
        assert!(close(gp[j], fd_f, 1e-6), "drift vjp p[{j}]: {} vs fd {fd_f}", gp[j]);
        assert!(close(hp[j], fd_g, 1e-6), "g vjp p[{j}]: {} vs fd {fd_g}", hp[j]);
    }
}

/// `g_i ∂g_i/∂y_i` against central differences of the diffusion.
fn check_g_dg(m: &ModelIr, t: f64, y: &[f64]) -> Vec<f64> {
    let kernels = SdeKernels::compile(m, &JitOptions::default()).unwrap();
    let p = m.param_values.clone();
    let field = ModelSdeField::new(&kernels, &p);
    let n = field.dim();
    let mut e = Eval { field: &field, scratch: vec![0.0; field.scratch_len()] };
    let mut out = vec![0.0; n];
    let mut scratch = vec![0.0; field.scratch_len()];
    assert!(field.diffusion_dg(t, y, &mut out, &mut scratch), "diagonal noise provides g_dg");
    let g = e.g(t, y);
    for i in 0..n {
        let (mut up, mut down) = (y.to_vec(), y.to_vec());
        up[i] += H;
        down[i] -= H;
        let fd = g[i] * (e.g(t, &up)[i] - e.g(t, &down)[i]) / (2.0 * H);
        assert!(close(out[i], fd, 1e-6), "g_dg[{i}]: {} vs fd {fd}", out[i]);
    }
    out
}

#[test]
fn ou_kernels_have_the_known_values() {
    let m = model("ou.nde", OU);
    let d = m.diffusion.as_ref().unwrap();
    assert_eq!((d.noise, d.stratonovich, d.additive), (NoiseShape::Diagonal, false, true));
    let kernels = SdeKernels::compile(&m, &JitOptions::default()).unwrap();
    let p = m.param_values.clone();
    assert_eq!(p, [0.7, 1.5, 0.3]);
    let field = ModelSdeField::new(&kernels, &p);
    assert_eq!((field.dim(), field.noise(), field.additive(), field.n_params()), (1, Noise::Diagonal, true, 3));
    let mut e = Eval { field: &field, scratch: vec![0.0; field.scratch_len()] };
    // f = theta (mu - x), g = sigma.
    assert_close("drift", &e.drift(0.0, &[0.4]), &[0.7 * (1.5 - 0.4)], 1e-15);
    assert_close("g", &e.g(0.0, &[0.4]), &[0.3], 0.0);
    // Additive: g_dg = 0.
    assert_eq!(check_g_dg(&m, 0.0, &[0.4]), [0.0]);
    // aᵀ∂f/∂p = a [mu - x, theta, 0]; aᵀ∂g/∂p = a [0, 0, 1].
    let (mut gy, mut gp) = ([0.0], [0.0; 3]);
    let mut s = vec![0.0; field.scratch_len()];
    field.drift_vjp(0.0, &[0.4], &[2.0], &mut gy, &mut gp, &mut s);
    assert_close("drift gy", &gy, &[-1.4], 1e-15);
    assert_close("drift gp", &gp, &[2.0 * 1.1, 1.4, 0.0], 1e-15);
    field.diffusion_vjp(0.0, &[0.4], &[2.0], &mut gy, &mut gp, &mut s);
    assert_close("g gy", &gy, &[0.0], 0.0);
    assert_close("g gp", &gp, &[0.0, 0.0, 2.0], 0.0);
    check_field(&m, 0.3, &[0.4]);
}

#[test]
fn gbm_milstein_term_is_sigma_squared_x() {
    let m = model("gbm.nde", GBM);
    let d = m.diffusion.as_ref().unwrap();
    assert!(!d.additive);
    let (mu, sigma) = (m.param_values[0], m.param_values[1]);
    assert_eq!((mu, sigma), (0.1, 0.2));
    for x in [1.0, 2.5, -0.3] {
        let got = check_g_dg(&m, 0.0, &[x]);
        assert_close("g_dg", &got, &[sigma * sigma * x], 1e-14);
        check_field(&m, 0.0, &[x]);
    }
}

#[test]
fn diagonal_milstein_term_keeps_only_the_diagonal() {
    let m = model("coupled.nde", COUPLED);
    let y = [0.3, -0.2];
    let got = check_g_dg(&m, 0.0, &y);
    // g = s [y0 y1, sin(y1) + y0²]: g_0 ∂g_0/∂y_0 = s² y0 y1², g_1 ∂g_1/∂y_1 = s² (sin y1 + y0²) cos y1.
    let s2 = 0.4f64 * 0.4;
    let want = [s2 * y[0] * y[1] * y[1], s2 * (y[1].sin() + y[0] * y[0]) * y[1].cos()];
    assert_close("g_dg", &got, &want, 1e-13);
    check_field(&m, 0.0, &y);
}

#[test]
fn general_noise_stacks_rows_and_has_no_milstein_term() {
    let m = model("general.nde", GENERAL);
    let d = m.diffusion.as_ref().unwrap();
    assert_eq!((d.noise, d.additive), (NoiseShape::General { m: 3 }, false));
    let kernels = SdeKernels::compile(&m, &JitOptions::default()).unwrap();
    assert!(kernels.g_dg.is_none());
    let p = m.param_values.clone();
    let field = ModelSdeField::new(&kernels, &p);
    assert_eq!((field.dim(), field.noise()), (4, Noise::General { m: 3 }));
    let y = [0.4, -0.3, 0.8, 2.0];
    let mut e = Eval { field: &field, scratch: vec![0.0; field.scratch_len()] };
    let g = e.g(0.0, &y);
    // Rows: G tanh(y0) (2 × 3), z² h (1 × 3), zeros for the ODE state q.
    let th = 0.4f64.tanh();
    let z2 = 0.64;
    #[rustfmt::skip]
    let want = [
        0.1 * th, 0.0, 0.2 * th,
        0.0, 0.3 * th, 0.0,
        z2, 2.0 * z2, 3.0 * z2,
        0.0, 0.0, 0.0,
    ];
    assert_close("g", &g, &want, 1e-15);
    let mut out = [0.0; 4];
    let mut s = vec![0.0; field.scratch_len()];
    assert!(!field.diffusion_dg(0.0, &y, &mut out, &mut s), "no g_dg for general noise");
    check_field(&m, 0.1, &y);
}

#[test]
fn ode_models_are_refused() {
    let m = model("decay.nde", "model decay {\n  state x = 1.0\n  dx/dt = -x\n}\n");
    assert!(m.diffusion.is_none());
    let err = SdeKernels::compile(&m, &JitOptions::default()).err().unwrap();
    assert_eq!(err, SdeError::NotAnSde { model: "decay".into() });
    assert!(err.to_string().contains("is an ODE"), "{err}");
}

#[test]
fn stratonovich_is_carried_to_the_kernels() {
    let src = "model s stratonovich {\n  param sigma = 0.5\n  state x = 1.0\n  dx = -x dt + sigma * x dW\n}\n";
    let m = model("s.nde", src);
    let kernels = SdeKernels::compile(&m, &JitOptions::default()).unwrap();
    assert!(kernels.stratonovich);
    let p = m.param_values.clone();
    assert!(ModelSdeField::new(&kernels, &p).stratonovich());
}

const BENCH_MLP_SDE: &str = include_str!("../../../../examples/bench_mlp_sde.nde");

/// The batched drift, diffusion and Milstein term give the single kernels'
/// bits for every member (batches longer than a tile, odd sizes), and a
/// lock-step batch solve through the compiled kernels equals
/// member-by-member solves on the batch's streams, on any thread count.
#[test]
fn batched_methods_and_lockstep_solves_give_the_single_bits() {
    use nde_runtime::brownian::BrownianTree;
    use nde_runtime::sde::{sde_solve, sde_solve_batch, SdeMethod, SdeOptions};
    let cases = [
        ("bench_mlp_sde.nde", BENCH_MLP_SDE, SdeMethod::EulerMaruyama),
        ("coupled.nde", COUPLED, SdeMethod::Milstein),
        ("general.nde", GENERAL, SdeMethod::EulerMaruyama),
        ("gbm.nde", GBM, SdeMethod::ReversibleHeun),
        ("ou.nde", OU, SdeMethod::Sra1),
    ];
    for (name, src, method) in cases {
        let m = model(name, src);
        let kernels = SdeKernels::compile(&m, &JitOptions::default()).unwrap();
        let p = m.param_values.clone();
        let field = ModelSdeField::new(&kernels, &p);
        let (n, len) = (field.dim(), field.noise().diffusion_len(field.dim()));
        let batch = 131;
        let ys: Vec<f64> = (0..batch * n).map(|i| 0.9 * (i as f64 * 0.377).sin()).collect();
        let mut bs = vec![0.0; field.batch_scratch_len()];
        let mut s = vec![0.0; field.scratch_len()];
        let (mut fb, mut gb, mut db) = (vec![0.0; batch * n], vec![0.0; batch * len], vec![0.0; batch * n]);
        field.drift_batch(0.3, &ys, &mut fb, &mut bs);
        field.diffusion_batch(0.3, &ys, &mut gb, &mut bs);
        let has_dg = field.diffusion_dg_batch(0.3, &ys, &mut db, &mut bs);
        assert_eq!(has_dg, kernels.g_dg.is_some(), "{name}");
        for b in 0..batch {
            let y = &ys[b * n..(b + 1) * n];
            let (mut f1, mut g1, mut d1) = (vec![0.0; n], vec![0.0; len], vec![0.0; n]);
            field.drift(0.3, y, &mut f1, &mut s);
            field.diffusion(0.3, y, &mut g1, &mut s);
            assert_eq!(&fb[b * n..(b + 1) * n], &f1[..], "{name} drift member {b}");
            assert_eq!(&gb[b * len..(b + 1) * len], &g1[..], "{name} g member {b}");
            if has_dg {
                assert!(field.diffusion_dg(0.3, y, &mut d1, &mut s));
                assert_eq!(&db[b * n..(b + 1) * n], &d1[..], "{name} g_dg member {b}");
            }
        }
        // Solves: lock-step batch = one by one.
        let opts = SdeOptions { method, dt: Some(0.02), ..SdeOptions::default() };
        let saveat = [0.1, 0.25, 0.5];
        let y0s: Vec<f64> = ys[..70 * n].iter().map(|y| 0.3 * y).collect();
        let y0s = &y0s[..];
        let sol = sde_solve_batch(&field, 0.0, y0s, &saveat, &opts, 12, 1).unwrap_or_else(|e| panic!("{name}: {e}"));
        for threads in [3, 0] {
            assert_eq!(sde_solve_batch(&field, 0.0, y0s, &saveat, &opts, 12, threads).unwrap(), sol, "{name}");
        }
        let m_ch = field.noise().channels(n);
        let tree = BrownianTree::new(12, 0.0, 0.5, m_ch, opts.resolved_brownian_tol(0.0, 0.5)).unwrap();
        for b in [0, 1, 33, 64, 69] {
            let one = sde_solve(&field, 0.0, &y0s[b * n..(b + 1) * n], &saveat, &opts, &tree.stream(b as u64)).unwrap();
            assert_eq!(one.y, sol.trajectory(b), "{name} member {b}");
            assert_eq!(one.stats, sol.stats[b], "{name} member {b}");
        }
    }
}
