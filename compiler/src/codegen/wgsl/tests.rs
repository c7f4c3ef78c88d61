//! The generated WGSL parses and validates (naga, the front end wgpu uses),
//! for every op in both precisions; literals are exact.

use super::*;
use crate::ir::random::{random_function, RandomConfig};
use crate::ir::{BinaryOp, Builder, Shape, UnaryOp};

/// Parses and validates `src` with `f64` allowed; the error names the line.
pub(crate) fn validate(src: &str) -> Result<(), String> {
    let module = naga::front::wgsl::parse_str(src).map_err(|e| e.emit_to_string(src))?;
    let caps = naga::valid::Capabilities::FLOAT64;
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
        .validate(&module)
        .map_err(|e| e.emit_to_string(src))?;
    Ok(())
}

fn check(f: &crate::ir::Function) {
    for p in [Precision::F32, Precision::F64] {
        let src = standalone_module(f, "k", p).unwrap();
        if let Err(e) = validate(&src) {
            panic!("{} in {p} does not validate:\n{e}\n{src}", f.name);
        }
    }
}

#[test]
fn prelude_validates_alone() {
    for p in [Precision::F32, Precision::F64] {
        validate(&prelude(p)).unwrap_or_else(|e| panic!("{p} prelude: {e}"));
    }
}

#[test]
fn every_op_validates() {
    let mut b = Builder::new("all", 6, 12);
    let y = b.state(0, Shape::vector(3));
    let m = b.param(0, Shape::matrix(3, 3));
    let pv = b.param(9, Shape::vector(3));
    let t = b.time();
    let mut outs = vec![];
    for u in UnaryOp::all_with_powi(&[0, 1, 2, 3, 7, -2]) {
        outs.push(b.unary(u, y));
    }
    for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow, BinaryOp::Min, BinaryOp::Max]
    {
        outs.push(b.binary(op, y, pv));
    }
    let my = b.matmul(m, y);
    let ym = b.matmul(y, m);
    let mm = b.matmul(m, m);
    let yy = b.matmul(y, y);
    let tr = b.transpose(mm);
    let s = b.sum(tr);
    let st = b.binary(BinaryOp::Mul, s, t);
    let sl0 = b.slice(mm, 0, 1, 2);
    let sl1 = b.slice(mm, 1, 1, 2);
    let ix0 = b.index(mm, 0, 2);
    let ix1 = b.index(mm, 1, 0);
    let cat0 = b.concat(vec![sl0, sl0], 0);
    let cat1 = b.concat(vec![sl1, m], 1);
    let c = b.constant(vec![1.0, -2.5, 3.0], Shape::vector(3));
    let cy = b.binary(BinaryOp::Add, c, y);
    let r = b.reshape(mm, Shape::vector(9));
    let y2 = b.state(3, Shape::vector(3));
    let bc = b.broadcast(yy, Shape::vector(3));
    for v in [my, ym, mm, yy, tr, st, sl0, sl1, ix0, ix1, cat0, cat1, cy, r, y2, bc] {
        outs.push(v);
    }
    for o in outs {
        b.output(o);
    }
    check(&b.finish());
}

#[test]
fn random_functions_validate() {
    for seed in 0..40 {
        check(&random_function(seed, &RandomConfig::default()));
    }
}

#[test]
fn literals_are_exact_and_non_finite_ones_are_refused() {
    for x in [0.1, -1.0 / 3.0, 6.02e23, 5e-324, f64::MAX, 1.0] {
        let s = Precision::F64.literal(x).unwrap();
        let digits = s.trim_start_matches('(').trim_end_matches(')').trim_end_matches("lf");
        assert_eq!(digits.parse::<f64>().unwrap(), x, "{s}");
    }
    let s = Precision::F32.literal(0.1).unwrap();
    assert_eq!(s.trim_end_matches('f').parse::<f32>().unwrap(), 0.1f32);
    assert!(matches!(Precision::F64.literal(f64::NAN), Err(WgslError::NonFiniteConstant(x)) if x.is_nan()));
    let mut b = Builder::new("inf", 1, 0);
    let y = b.state(0, Shape::scalar());
    let c = b.scalar(f64::INFINITY);
    let s = b.binary(BinaryOp::Add, y, c);
    b.output(s);
    assert!(matches!(function(&b.finish(), "k", Precision::F32), Err(WgslError::NonFiniteConstant(_))));
}

#[test]
fn dead_nodes_are_not_emitted_and_views_are_not_copied() {
    let mut b = Builder::new("views", 4, 0);
    let y = b.state(0, Shape::matrix(2, 2));
    let dead = b.unary(UnaryOp::Exp, y);
    let tr = b.transpose(y);
    let ix = b.index(tr, 0, 1);
    b.output(ix);
    let _ = dead;
    let src = function(&b.finish(), "k", Precision::F32).unwrap();
    assert!(!src.contains("nde_exp"), "{src}");
    assert!(!src.contains("var v"), "a view was materialised:\n{src}");
    // Row 1 of the transpose is column 1 of y: elements 1 and 3.
    assert!(src.contains("(*out)[i] = (*y)["), "{src}");
}
