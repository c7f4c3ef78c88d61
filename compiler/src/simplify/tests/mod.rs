//! Tests of the simplifier: every rule on random inputs of its domain
//! (`rules`), random functions never change value nor cost more
//! (`property`), domain guards, folding, sharing and determinism
//! (`behaviour`).

mod behaviour;
mod property;
mod rules;

use egg::{Id, RecExpr};

use super::convert::from_recexpr;
use super::lang::TensorLang;
use crate::ir::interp;
use crate::ir::{Function, InputBuf};
use crate::span::Span;

/// `f` at `(t, y, p)`; panics with the function's name if it cannot run.
pub(super) fn eval(f: &Function, t: f64, y: &[f64], p: &[f64]) -> Vec<f64> {
    interp::eval(f, t, y, p).unwrap_or_else(|e| panic!("{}: {e}", f.name))
}

/// Bit-identical, NaNs counting as equal.
pub(super) fn same_bits(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Equal (±0 alike), both NaN, or within `rel` relative.
pub(super) fn close(a: f64, b: f64, rel: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= rel * a.abs().max(b.abs())
}

/// The function computing `expr` (one output) over inputs `y` and `p`
/// sized to what the expression reads, or at least `min`.
pub(super) fn term_function(expr: &RecExpr<TensorLang>, min: (usize, usize)) -> Function {
    let (mut n_state, mut n_param) = min;
    for node in expr.as_ref() {
        if let TensorLang::Input { buf, offset, shape } = node {
            let end = *offset as usize + shape.0.len();
            match buf.0 {
                InputBuf::State => n_state = n_state.max(end),
                InputBuf::Param => n_param = n_param.max(end),
                InputBuf::Time => {}
            }
        }
    }
    let mut with_root = expr.clone();
    let last = Id::from(expr.as_ref().len() - 1);
    with_root.add(TensorLang::Outputs(vec![last].into()));
    from_recexpr(&with_root, "term", n_state, n_param, |_| Span::detached()).unwrap_or_else(|e| panic!("{expr}: {e}"))
}
