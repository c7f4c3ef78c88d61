//! Broadcasts and reshapes: an elementwise op on broadcast scalars is the
//! broadcast of the scalar op (one evaluation instead of `n`), the sum of a
//! broadcast is a multiplication (exact for up to three elements: `x + x`
//! and `(x + x) + x` round once, like `2x` and `3x`; beyond that with
//! fast-math), and reshapes compose and vanish.

use std::sync::Arc;

use egg::{Id, Subst};

use super::{pat, rule, shape_is, var, Domain, Level, Make, Rhs, Rule};
use crate::ir::print::{binary_name, unary_name};
use crate::ir::{BinaryOp, Shape};
use crate::simplify::analysis::TensorGraph;
use crate::simplify::convert::Kind;
use crate::simplify::lang::{TensorLang, B, BINARY_OPS, UNARY_OPS};

const F: &str = "broadcast";

/// Right-hand side `?x * n` for `(sum (bcast ?x ?s))`, `n` the number of
/// elements of `?s`, if `n ≤ max`.
pub(crate) fn count_rhs(max: usize) -> Rhs {
    let (x, s) = (var("?x"), var("?s"));
    let make: Make = Arc::new(move |eg: &mut TensorGraph, _: Id, subst: &Subst| {
        let Kind::Shape(shape) = eg[subst[s]].data.kind else { return None };
        let n = shape.len();
        if n > max {
            return None;
        }
        let c = eg.add(TensorLang::constant(Shape::SCALAR, &[n as f64]));
        Some(eg.add(TensorLang::Binary(B(BinaryOp::Mul), [subst[x], c])))
    });
    Rhs::Custom("(mul ?x n), n = elements of ?s".into(), make)
}

pub(super) fn rules() -> Vec<Rule> {
    use Domain::*;
    use Level::*;
    let mut rules = Vec::new();
    for u in UNARY_OPS {
        let name = unary_name(u);
        let example = format!("({name} (bcast y@0:s #2x3))");
        rules.push(rule(
            F,
            Exact,
            format!("bcast-{name}"),
            &format!("({name} (bcast ?x ?s))"),
            pat(format!("(bcast ({name} ?x) ?s)")),
            None,
            &[(&example, Any)],
        ));
    }
    for b in BINARY_OPS {
        let name = binary_name(b);
        let example = format!("({name} (bcast y@0:s #3) (bcast p@0:s #3))");
        rules.push(rule(
            F,
            Exact,
            format!("bcast-{name}"),
            &format!("({name} (bcast ?a ?s) (bcast ?b ?s))"),
            pat(format!("(bcast ({name} ?a ?b) ?s)")),
            None,
            &[(&example, Any)],
        ));
    }
    rules.extend([
        rule(
            F,
            Exact,
            "sum-bcast",
            "(sum (bcast ?x ?s))",
            count_rhs(3),
            None,
            &[("(sum (bcast y@0:s #3))", Any), ("(sum (bcast y@0:s #2))", Any), ("(sum (bcast y@0:s #1x1))", Any)],
        ),
        rule(
            F,
            Exact,
            "reshape-reshape",
            "(reshape (reshape ?x ?s1) ?s2)",
            pat("(reshape ?x ?s2)"),
            None,
            &[("(reshape (reshape p@0:2x3 #6) #3x2)", Any)],
        ),
        rule(
            F,
            Exact,
            "reshape-same",
            "(reshape ?x ?s)",
            pat("?x"),
            Some(("?x has shape ?s", shape_is("?x", "?s"))),
            &[("(reshape p@0:2x3 #2x3)", Any)],
        ),
        rule(
            F,
            Exact,
            "reshape-bcast",
            "(reshape (bcast ?x ?s1) ?s2)",
            pat("(bcast ?x ?s2)"),
            None,
            &[("(reshape (bcast y@0:s #6) #2x3)", Any)],
        ),
        rule(
            F,
            Exact,
            "sum-reshape",
            "(sum (reshape ?x ?s))",
            pat("(sum ?x)"),
            None,
            &[("(sum (reshape p@0:2x3 #6))", Any)],
        ),
    ]);
    rules
}
