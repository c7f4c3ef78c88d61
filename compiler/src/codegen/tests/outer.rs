//! Outer products (`[m, 1] @ [1, n]` into memory) and products with two or
//! three rows whose matrix has contiguous columns (`h @ W1` for a `[h, 2]`
//! weight): the routine and the inline code give the same bits, single and
//! batched, equal to the interpreter (outer products exactly) or to the
//! documented quad-lane order.

use super::routines::{check_same_bits, with_routines};
use super::{assert_bits, check_fn, run, Rng};
use crate::codegen::{emit_clif, JitModule};
use crate::ir::{Builder, Function, Shape};
use nde_runtime::linalg::Routines;

/// Outer products of `x ∈ Rᵐ` and `y ∈ Rⁿ` with the operands in every
/// place: the state (registers when short), contiguous parameters, a
/// column of a parameter matrix (stride 3), a row of one, and a transposed
/// column (a strided `y`, which the routine does not take).
fn outers(m: usize, n: usize) -> Function {
    let mut b = Builder::new("outer", m + n, 3 * m + 6 * n);
    let xs = b.state(0, Shape::vector(m));
    let ys = b.state(m, Shape::vector(n));
    let w = b.param(0, Shape::matrix(m, 3));
    let u = b.param(3 * m, Shape::matrix(3, n));
    let v = b.param(3 * m + 3 * n, Shape::matrix(n, 3));
    let x_state = b.reshape(xs, Shape::matrix(m, 1));
    let y_state = b.reshape(ys, Shape::matrix(1, n));
    let x_column = b.slice(w, 1, 1, 1);
    let y_row = b.slice(u, 0, 2, 1);
    let v_column = b.slice(v, 1, 2, 1);
    let y_strided = b.transpose(v_column);
    let products = [(x_state, y_row), (x_column, y_state), (x_state, y_strided), (x_column, y_row)];
    for (x, y) in products {
        let o = b.matmul(x, y);
        b.output(o);
    }
    b.finish()
}

#[test]
fn outer_products_are_exact_on_every_path() {
    let sizes = [(1, 4), (2, 64), (3, 5), (5, 3), (16, 16), (17, 2), (17, 9), (33, 70), (64, 64), (20, 130)];
    for (m, n) in sizes {
        let f = outers(m, n);
        check_same_bits(&f, (m * 1000 + n) as u64);
        // One rounding per element, as in the interpreter.
        check_fn(&f, 2.0, 0.0, 1.0, (m * 1000 + n) as u64);
    }
}

#[test]
fn outer_products_call_the_routine_where_it_pays() {
    let calls = |f: &Function, on: bool| {
        let text = emit_clif(f, &with_routines(on)).expect("clif");
        text.lines().filter(|l| l.contains(" call fn")).count()
    };
    let big = {
        let mut b = Builder::new("big", 128, 0);
        let x = b.state(0, Shape::matrix(64, 1));
        let y = b.state(64, Shape::matrix(1, 64));
        let o = b.matmul(x, y);
        b.output(o);
        b.finish()
    };
    if Routines::host().simd {
        // Once in the single kernel, once per member of the batch's tile and once in its remainder loop.
        assert_eq!(calls(&big, true), 1 + super::opts().batch_tile + 1);
    } else {
        assert_eq!(calls(&big, true), 0);
    }
    assert_eq!(calls(&big, false), 0);
    // Rows of two elements stay inline.
    assert_eq!(calls(&outers(17, 2), true), 0);
}

/// `x @ W` for `W: [k, r]`, from the parameters and from the state.
fn narrow(k: usize, r: usize) -> Function {
    let mut b = Builder::new("narrow", k + k * r, k * r);
    let x = b.state(0, Shape::vector(k));
    let wp = b.param(0, Shape::matrix(k, r));
    let ws = b.state(k, Shape::matrix(k, r));
    let xp = b.matmul(x, wp);
    let xs = b.matmul(x, ws);
    b.output(xp);
    b.output(xs);
    b.finish()
}

/// `Σ_c a(c) x[c]` in the quad-lane order of `nde_runtime::linalg::matvec`.
fn quad_lane(k: usize, a: impl Fn(usize) -> f64, x: &[f64]) -> f64 {
    let q = k / 4;
    let (mut s, from) = if q == 0 {
        (a(0) * x[0], 1)
    } else {
        let mut l = [0.0; 4];
        for (j, lj) in l.iter_mut().enumerate() {
            *lj = a(j) * x[j];
        }
        for c in 4..4 * q {
            l[c % 4] = a(c).mul_add(x[c], l[c % 4]);
        }
        ((l[0] + l[2]) + (l[1] + l[3]), 4 * q)
    };
    for (c, xc) in x.iter().enumerate().take(k).skip(from) {
        s = a(c).mul_add(*xc, s);
    }
    s
}

#[test]
fn two_and_three_row_products_take_the_quad_lane_order() {
    for k in [1, 2, 3, 4, 5, 7, 8, 31, 64, 65, 67, 130] {
        for r in [2, 3] {
            let f = narrow(k, r);
            let mut rng = Rng::new((k * 10 + r) as u64);
            // Magnitudes far apart, so that the order shows in the bits.
            let scale = |i: usize| [1.0, 1e6, 1e-6, 3.0][i % 4];
            let p: Vec<f64> = (0..f.n_param).map(|i| rng.uniform(-1.0, 1.0) * scale(i)).collect();
            let y: Vec<f64> = (0..f.n_state).map(|i| rng.uniform(-1.0, 1.0) * scale(i / 3)).collect();
            let (x, ws) = y.split_at(k);
            let mut want = Vec::new();
            for w in [&p[..], ws] {
                want.extend((0..r).map(|i| quad_lane(k, |c| w[c * r + i], x)));
            }
            for on in [true, false] {
                let j = JitModule::compile(&[&f], &with_routines(on)).expect("compile");
                assert_bits(&run(&j, &f, 0.0, &y, &p), &want, &format!("k {k} r {r} routines {on}"));
            }
            check_same_bits(&f, (k * 10 + r) as u64);
        }
    }
}
