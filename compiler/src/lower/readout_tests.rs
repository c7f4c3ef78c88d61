//! Model outputs inlined into losses (`sol.NAME`), per-trajectory data
//! fields (`DATA.NAME`) and `accuracy`, evaluated with the reference
//! interpreter against the model's own output functions and values
//! computed by hand.

use crate::autodiff;
use crate::driver::frontend::{compile_to_ir, FrontendOptions, MemoryLoader};
use crate::ir::training::LossIr;
use crate::ir::{interp, verify, InputBuf, ModelIr, Op, ProgramIr};
use crate::span::SourceMap;

const TIMES: [f64; 3] = [0.0, 0.5, 2.0];
/// `sol.y` for states `x, y`, `[3, 2]`.
const SOL: [f64; 6] = [1.0, -0.5, 0.25, 2.0, -1.5, 0.75];

/// Two trajectories of the three times, one column, `label: [2, 2]` and
/// `weight: [2]` fields.
fn npz() -> Vec<u8> {
    use nde_runtime::io::{write_npz, Array};
    let thread = format!("{:?}", std::thread::current().id()).replace(|c: char| !c.is_ascii_alphanumeric(), "");
    let dir = std::env::temp_dir().join(format!("nde-readout-{}-{thread}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("labelled.npz");
    let arrays = [
        Array::new("t", vec![3], TIMES.to_vec()),
        Array::new("y", vec![2, 3, 1], vec![1.0, f64::NAN, 3.0, 4.0, 5.0, 6.0]),
        Array::new("label", vec![2, 2], vec![0.0, 1.0, 1.0, 0.0]),
        Array::new("weight", vec![2], vec![0.5, 2.0]),
    ];
    write_npz(&path, &arrays).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

const MODEL: &str = "model m {\n  param k = 0.5\n  param w: [2] = [1.0, -2.0]\n  state x = 1.0, y = 2.0\n  \
                     let double = 2 * y\n  dx/dt = -k * x\n  dy/dt = -k * y\n  output e = k * x + t\n  \
                     output v = [x, double] + w\n}\ndata obs = load(\"obs.npz\")\nsolver s = rk4(dt = 0.1)\n";

fn compile(bodies: &[&str]) -> ProgramIr {
    let mut src = MODEL.to_string();
    for (i, body) in bodies.iter().enumerate() {
        src += &format!("loss l{i} {{\n  let sol = solve(m, at = obs.t, with = s)\n  {body}\n}}\n");
    }
    let mut sources = SourceMap::new();
    let root = sources.add("main.nde", src);
    let loader = MemoryLoader::new().with_bytes("obs.npz", npz());
    match compile_to_ir(&mut sources, root, &loader, &FrontendOptions::default()) {
        Ok(p) => p,
        Err(d) => panic!("{}", d.0.iter().map(|d| d.render_plain(&sources)).collect::<String>()),
    }
}

/// The input buffer with `sol.y = SOL`, the times and trajectory `traj`'s fields.
fn inputs(l: &LossIr, traj: usize) -> Vec<f64> {
    let lay = l.layout;
    let mut y = vec![0.0; lay.len()];
    y[..6].copy_from_slice(&SOL);
    y[lay.times()..lay.times() + 3].copy_from_slice(&TIMES);
    let label = [[0.0, 1.0], [1.0, 0.0]][traj];
    let weight = [0.5, 2.0][traj];
    y[lay.fields()..lay.fields() + 3].copy_from_slice(&[label[0], label[1], weight]);
    y
}

fn eval(l: &LossIr, y: &[f64], p: &[f64]) -> f64 {
    verify::verify(&l.function).expect("the loss function verifies");
    interp::eval(&l.function, 0.0, y, p).expect("evaluates")[0]
}

/// Output `k` of the model at save time `row`, by its own function.
fn output(m: &ModelIr, k: usize, row: usize) -> Vec<f64> {
    let f = &m.outputs[k].function;
    verify::verify(f).expect("the output function verifies");
    interp::eval(f, TIMES[row], &SOL[2 * row..2 * row + 2], &m.param_values).unwrap()
}

fn close(got: f64, want: f64) {
    assert!((got - want).abs() <= 1e-13 * (1.0 + want.abs()), "got {got}, want {want}");
}

#[test]
fn outputs_in_a_loss_are_the_model_outputs_at_each_save_time() {
    let p = compile(&[
        "sum(sol.e)",
        "sum(sol.v[-1]) + sol.v[0, 1]",
        "mean(sol.v)",
        "sum(sol.e * obs.t)",
        "sum(sol.v[1:3, 0]) + sum(sol.e[1:])",
    ]);
    let m = &p.models[0];
    assert_eq!(m.outputs.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["e", "v"]);
    // By hand: e = k x + t, v = [x, 2 y] + w at each row.
    let k = 0.5;
    for row in 0..3 {
        let (x, y) = (SOL[2 * row], SOL[2 * row + 1]);
        close(output(m, 0, row)[0], k * x + TIMES[row]);
        assert_eq!(output(m, 1, row), [x + 1.0, 2.0 * y - 2.0]);
    }
    let params = &m.param_values;
    let y = inputs(&p.losses[0], 0);
    let s: Vec<f64> = (0..3).map(|r| output(m, 0, r)[0]).collect();
    let v: Vec<Vec<f64>> = (0..3).map(|r| output(m, 1, r)).collect();
    close(eval(&p.losses[0], &y, params), s.iter().sum());
    close(eval(&p.losses[1], &y, params), v[2][0] + v[2][1] + v[0][1]);
    close(eval(&p.losses[2], &y, params), v.iter().flatten().sum::<f64>() / 6.0);
    close(eval(&p.losses[3], &y, params), s.iter().zip(TIMES).map(|(a, b)| a * b).sum());
    // Only the rows read are computed: loss 1 reads rows 0 and 2 of
    // `sol.y`, never row 1 (offset 2); loss 2 reads every row.
    let reads = |l: &LossIr, offset: u32| {
        l.function.nodes.iter().any(|n| matches!(n.op, Op::Input { buf: InputBuf::State, offset: o } if o == offset))
    };
    assert!(reads(&p.losses[1], 0) && reads(&p.losses[1], 4) && !reads(&p.losses[1], 2));
    assert!(reads(&p.losses[2], 2));
    close(eval(&p.losses[4], &y, params), v[1][0] + v[2][0] + s[1] + s[2]);
    assert!(!reads(&p.losses[4], 0) && reads(&p.losses[4], 2) && reads(&p.losses[4], 4));
}

#[test]
fn the_loss_gradient_reaches_the_readout_parameters_and_the_states() {
    let p = compile(&["sum(sol.e^2) + sum(sol.v[-1]^2)"]);
    let (m, l) = (&p.models[0], &p.losses[0]);
    let y = inputs(l, 0);
    let params = m.param_values.clone();
    let g = autodiff::vjp(&l.function);
    let mut buf = y.clone();
    buf.push(1.0);
    let out = interp::eval(&g, 0.0, &buf, &params).unwrap();
    let (d_input, d_params) = out.split_at(y.len());
    let h = 1e-6;
    let fd = |f: &dyn Fn(f64) -> f64| (f(h) - f(-h)) / (2.0 * h);
    for i in 0..params.len() {
        let want = fd(&|d| {
            let mut q = params.clone();
            q[i] += d;
            eval(l, &y, &q)
        });
        assert!((d_params[i] - want).abs() < 1e-6, "d/dp{i}: {} vs {want}", d_params[i]);
    }
    for i in 0..6 {
        let want = fd(&|d| {
            let mut z = y.clone();
            z[i] += d;
            eval(l, &z, &params)
        });
        assert!((d_input[i] - want).abs() < 1e-6, "d/dsol.y[{i}]: {} vs {want}", d_input[i]);
    }
    assert!(d_params.iter().all(|d| *d != 0.0), "k and w reach the loss: {d_params:?}");
}

#[test]
fn data_fields_are_the_trajectorys_values() {
    let p = compile(&["sum(sol.v[-1] * obs.label) + obs.weight"]);
    let (m, l) = (&p.models[0], &p.losses[0]);
    assert_eq!(l.layout.n_field, 3);
    let v = output(m, 1, 2);
    for (traj, (label, weight)) in [([0.0, 1.0], 0.5), ([1.0, 0.0], 2.0)].into_iter().enumerate() {
        let y = inputs(l, traj);
        close(eval(l, &y, &m.param_values), v[0] * label[0] + v[1] * label[1] + weight);
    }
}

#[test]
fn accuracy_compares_first_argmaxes_and_has_no_gradient() {
    // Constant operands fold: row 0 ties (first index wins: 0 = 0), row 1
    // disagrees, row 2 agrees on index 2 of 3.
    let p = compile(&[
        "accuracy([[1, 1, 0], [0, 2, 1], [0, 1, 3]], [[1, 0, 0], [0, 0, 1], [0, 0, 1]]) + 0 * sum(sol.y)",
        "accuracy(sol.y, [[1, 0], [0, 1], [1, 0]])",
        "accuracy(sol.y[1], [0, 1])",
        "accuracy(sol.v, sol.v)",
    ]);
    let m = &p.models[0];
    let y = inputs(&p.losses[0], 0);
    close(eval(&p.losses[0], &y, &m.param_values), 2.0 / 3.0);
    // SOL rows: [1, -0.5] -> 0 (target 0), [0.25, 2] -> 1 (target 1), [-1.5, 0.75] -> 1 (target 0).
    close(eval(&p.losses[1], &y, &m.param_values), 2.0 / 3.0);
    close(eval(&p.losses[2], &y, &m.param_values), 1.0);
    close(eval(&p.losses[3], &y, &m.param_values), 1.0);
    let mut tie = y.clone();
    tie[..2].copy_from_slice(&[0.5, 0.5]);
    close(eval(&p.losses[1], &tie, &m.param_values), 2.0 / 3.0);
    tie[..2].copy_from_slice(&[0.5, 0.5 + 1e-12]);
    close(eval(&p.losses[1], &tie, &m.param_values), 1.0 / 3.0);
    let g = autodiff::vjp(&p.losses[1].function);
    let mut buf = y.clone();
    buf.push(1.0);
    let out = interp::eval(&g, 0.0, &buf, &m.param_values).unwrap();
    assert!(out.iter().all(|d| *d == 0.0), "accuracy has a zero gradient: {out:?}");
}
