//! Matrix products of every shape combination and layout.

use super::check_fn;
use crate::ir::{BinaryOp, Builder, Shape, UnaryOp, ValueId};

/// An `[r, c]` operand from `y` (varying) or `p` (shared), optionally
/// read through a transpose.
fn operand(b: &mut Builder, from_state: bool, offset: usize, r: usize, c: usize, transposed: bool) -> ValueId {
    let shape = if transposed { Shape::matrix(c, r) } else { Shape::matrix(r, c) };
    let v = if from_state { b.state(offset, shape) } else { b.param(offset, shape) };
    if transposed {
        b.transpose(v)
    } else {
        v
    }
}

#[test]
fn matrix_vector_all_layouts() {
    for (m, k) in [(1, 1), (2, 2), (3, 5), (4, 16), (17, 3), (64, 64), (33, 130), (5, 200)] {
        for (transposed, mat_in_state) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut b = Builder::new("mv", k + m * k, m * k + k);
            let x = b.state(0, Shape::vector(k));
            let a = operand(&mut b, mat_in_state, if mat_in_state { k } else { 0 }, m, k, transposed);
            let ax = b.matmul(a, x);
            // The vector from memory too (a parameter slice).
            let px = b.param(m * k, Shape::vector(k));
            let apx = b.matmul(a, px);
            b.output(ax);
            b.output(apx);
            let f = b.finish();
            check_fn(&f, 1.0, 1e-13, 1.0, (m * 1000 + k) as u64);
        }
    }
}

#[test]
fn vector_matrix_and_dot() {
    for (k, n) in [(1, 1), (2, 3), (7, 2), (16, 16), (64, 2), (3, 70), (100, 33)] {
        for transposed in [false, true] {
            let mut b = Builder::new("vm", k, k * n + k);
            let x = b.state(0, Shape::vector(k));
            let w = operand(&mut b, false, 0, k, n, transposed);
            let xw = b.matmul(x, w);
            let v = b.param(k * n, Shape::vector(k));
            let dot = b.matmul(x, v);
            let th = b.unary(UnaryOp::Tanh, xw);
            b.output(th);
            b.output(dot);
            let f = b.finish();
            check_fn(&f, 1.0, 1e-13, 1.0, (k * 100 + n) as u64);
        }
    }
}

#[test]
fn matrix_matrix_all_layouts() {
    for (m, k, n) in [(1, 1, 1), (2, 3, 2), (3, 4, 5), (20, 3, 4), (4, 70, 3), (18, 18, 18), (5, 2, 40)] {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut b = Builder::new("mm", m * k, k * n);
            let a = operand(&mut b, true, 0, m, k, ta);
            let w = operand(&mut b, false, 0, k, n, tb);
            let ab = b.matmul(a, w);
            let s = b.sum(ab);
            let r = b.binary(BinaryOp::Mul, ab, s);
            b.output(ab);
            b.output(r);
            let f = b.finish();
            check_fn(&f, 1.0, 1e-13, 1.0, (m * 10000 + k * 100 + n) as u64);
        }
    }
}

#[test]
fn products_of_views_and_state_dependent_matrices() {
    // A [6, 40] parameter; products with a row slice, a column, and with
    // an outer product of the state (varying matrix).
    let mut b = Builder::new("views", 40, 240);
    let y = b.state(0, Shape::vector(40));
    let w = b.param(0, Shape::matrix(6, 40));
    let rows = b.slice(w, 0, 2, 3);
    let r = b.matmul(rows, y);
    let col = b.index(w, 1, 7);
    let wt = b.transpose(w);
    let back = b.matmul(wt, col);
    let ycol = b.reshape(y, Shape::matrix(40, 1));
    let yrow = b.reshape(y, Shape::matrix(1, 40));
    let outer = b.matmul(ycol, yrow);
    let oy = b.matmul(outer, y);
    b.output(r);
    b.output(back);
    b.output(oy);
    let f = b.finish();
    check_fn(&f, 1.0, 1e-12, 1.0, 77);
}
