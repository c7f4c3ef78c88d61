//! Lowered functions evaluated with the reference interpreter against
//! values computed by hand.

use crate::driver::frontend::{compile_to_ir, FrontendOptions, MemoryLoader};
use crate::ir::{interp, ModelIr, ProgramIr};
use crate::span::SourceMap;

fn compile(src: &str) -> ProgramIr {
    let mut sources = SourceMap::new();
    let root = sources.add("main.nde", src);
    match compile_to_ir(&mut sources, root, &MemoryLoader::new(), &FrontendOptions::default()) {
        Ok(p) => p,
        Err(d) => panic!("{}", d.0.iter().map(|d| d.render_plain(&sources)).collect::<String>()),
    }
}

fn rhs(m: &ModelIr, t: f64, y: &[f64], p: &[f64]) -> Vec<f64> {
    interp::eval(&m.rhs, t, y, p).expect("rhs evaluates")
}

fn close(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= 1e-14 * (1.0 + y.abs()), "{a:?} vs {b:?}");
    }
}

const LORENZ: &str = "model lorenz {
  param sigma = 10.0
  param rho   = 28.0
  param beta  = 8 / 3
  state x = 1.0, y = 1.0, z = 1.0

  dx/dt = sigma * (y - x)
  dy/dt = x * (rho - z) - y
  dz/dt = x * y - beta * z
}
";

#[test]
fn lorenz_rhs_and_init() {
    let p = compile(LORENZ);
    let m = p.model("lorenz").expect("lorenz");
    assert_eq!((m.n_state(), m.n_param()), (3, 3));
    assert_eq!(m.rhs.name, "lorenz.rhs");
    assert_eq!(m.init.name, "lorenz.init");
    let names: Vec<&str> = m.states.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["x", "y", "z"]);
    // sigma (y - x), x (rho - z) - y, x y - beta z at (1, 2, 3).
    close(&rhs(m, 0.0, &[1.0, 2.0, 3.0], &m.param_values), &[10.0, 23.0, 2.0 - 8.0]);
    close(&rhs(m, 0.0, &[1.0, 2.0, 3.0], &[1.0, 2.0, 0.5]), &[1.0, -3.0, 0.5]);
    assert_eq!(interp::eval(&m.init, 0.0, &[], &m.param_values).expect("init"), [1.0, 1.0, 1.0]);
}

#[test]
fn mlp_with_known_weights() {
    let p = compile(
        "use std.nn.{mlp}\nmodel m {\n  state y: [2] = [0.3, -0.2]\n  net f = mlp(2 -> 3 -> 2, act = tanh, out = sigmoid)\n  dy/dt = f(y)\n}\n",
    );
    let m = &p.models[0];
    // f.W1 [3, 2], f.b1 [3], f.W2 [2, 3], f.b2 [2], row-major.
    let w1 = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
    let b1 = [0.0, 0.5, -1.0];
    let w2 = [1.0, -1.0, 2.0, 0.0, 1.0, 0.0];
    let b2 = [0.25, 0.0];
    let params: Vec<f64> = [&w1[..], &b1, &w2, &b2].concat();
    let y = [0.3, -0.2];
    let h = [(0.3f64).tanh(), (0.3f64).tanh(), (-0.9f64).tanh()];
    let o = [h[0] - h[1] + 2.0 * h[2] + 0.25, h[1]];
    let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
    close(&rhs(m, 0.0, &y, &params), &[sig(o[0]), sig(o[1])]);
}

#[test]
fn inlined_fns_evaluate_their_arguments_in_the_callers_scope() {
    let p = compile(
        "fn f(a, b) = a * b - b\nfn g(x) = f(x + 1, f(x, 2))\nfn h(x, y) = g(y) + f(y, x)\nmodel m {\n  param k = 3.0\n  state x = 1.0\n  dx/dt = h(k * x, g(x - k))\n}\n",
    );
    let m = &p.models[0];
    let f = |a: f64, b: f64| a * b - b;
    let g = |x: f64| f(x + 1.0, f(x, 2.0));
    let h = |x: f64, y: f64| g(y) + f(y, x);
    for (x, k) in [(1.0, 3.0), (-0.5, 2.0), (2.5, -1.0)] {
        close(&rhs(m, 0.0, &[x], &[k]), &[h(k * x, g(x - k))]);
    }
}

#[test]
fn time_lets_indexing_and_initial_states() {
    let p = compile(
        "model m {\n  param k = 2.0\n  state u: [2] = [k * cos(t), sin(t)]\n  state A: [2, 2] = [[1, 2], [3, 4]]\n  let w = u[1] * t\n  du/dt = [u[1], -u[0]] * w + A[:, 1]\n  dA/dt = A' @ A - [[1, 0], [0, 1]] * sum(A[0, :])\n}\n",
    );
    let m = &p.models[0];
    let t0 = 0.5;
    close(&interp::eval(&m.init, t0, &[], &[2.0]).expect("init"), &[2.0 * t0.cos(), t0.sin(), 1.0, 2.0, 3.0, 4.0]);
    let (t, u, a) = (1.5, [0.25, -2.0], [1.0, 2.0, 3.0, 4.0]);
    let y: Vec<f64> = [&u[..], &a].concat();
    let w = u[1] * t;
    let s = a[0] + a[1];
    // A' @ A for A = [[1, 2], [3, 4]] is [[10, 14], [14, 20]].
    let want = [u[1] * w + a[1], -u[0] * w + a[3], 10.0 - s, 14.0, 14.0, 20.0 - s];
    close(&rhs(m, t, &y, &[2.0]), &want);
}
