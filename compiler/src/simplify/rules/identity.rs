//! Algebraic identities with a neutral or absorbing constant, and
//! commutativity.
//!
//! The constant operand is matched through the analysis (a splat with exact
//! bits), so `x * 1` is found whatever the shape. `x + 0 = x` only holds
//! bit for bit when `x` is never `-0` (`-0 + 0 = +0`), `x - x = 0` only for
//! finite `x` (`inf - inf` is NaN), `x / x = 1` only for finite non-zero
//! `x`; without those facts they wait for fast-math. Dividing by a power of
//! two is multiplying by its (exact) reciprocal.

use std::sync::Arc;

use egg::{Id, Subst};

use super::{
    add_splat, all, any, has, pat, rule, splat_is, splat_rhs, splat_where, var, Domain, Level, Make, Rhs, Rule,
};
use crate::ir::BinaryOp;
use crate::simplify::analysis::{Facts, TensorGraph};
use crate::simplify::lang::{TensorLang, B};

const F: &str = "identity";

/// `c` is `±2^k` with an exactly representable, normal reciprocal.
pub(crate) fn power_of_two(c: f64) -> bool {
    c.is_normal() && c.to_bits() & ((1u64 << 52) - 1) == 0 && (1.0 / c).is_normal()
}

/// Right-hand side `x * (1 / c)` for `(div ?x ?c)` with `c` a splat.
pub(crate) fn reciprocal_rhs() -> Rhs {
    let (x, c) = (var("?x"), var("?c"));
    let make: Make = Arc::new(move |eg: &mut TensorGraph, _: Id, s: &Subst| {
        let value = eg[s[c]].data.splat()?;
        let shape = eg[s[c]].data.shape();
        let r = add_splat(eg, 1.0 / value, shape);
        Some(eg.add(TensorLang::Binary(B(BinaryOp::Mul), [s[x], r])))
    });
    Rhs::Custom("(mul ?x 1/?c)".into(), make)
}

pub(super) fn rules() -> Vec<Rule> {
    use Domain::*;
    use Level::*;
    let nnz = Facts::NOT_NEG_ZERO;
    vec![
        rule(
            F,
            Exact,
            "mul-one",
            "(mul ?x ?c)",
            pat("?x"),
            Some(("?c is 1", splat_is("?c", 1.0))),
            &[("(mul y@0:3 (bcast 1.0 #3))", Any), ("(mul p@0:2x2 c:2x2:1.0,1.0,1.0,1.0)", Any)],
        ),
        rule(
            F,
            Exact,
            "one-mul",
            "(mul ?c ?x)",
            pat("?x"),
            Some(("?c is 1", splat_is("?c", 1.0))),
            &[("(mul 1.0 y@1:s)", Any)],
        ),
        rule(
            F,
            Exact,
            "div-one",
            "(div ?x ?c)",
            pat("?x"),
            Some(("?c is 1", splat_is("?c", 1.0))),
            &[("(div y@0:3 (bcast 1.0 #3))", Any)],
        ),
        rule(
            F,
            Exact,
            "add-zero",
            "(add ?x ?z)",
            pat("?x"),
            Some((
                "?z is -0, or ?z is +0 and ?x is never -0",
                any(vec![splat_is("?z", -0.0), all(vec![splat_is("?z", 0.0), has("?x", nnz)])]),
            )),
            &[("(add (exp y@0:3) (bcast 0.0 #3))", Any), ("(add y@0:3 (bcast -0.0 #3))", Any)],
        ),
        rule(
            F,
            Exact,
            "zero-add",
            "(add ?z ?x)",
            pat("?x"),
            Some((
                "?z is -0, or ?z is +0 and ?x is never -0",
                any(vec![splat_is("?z", -0.0), all(vec![splat_is("?z", 0.0), has("?x", nnz)])]),
            )),
            &[("(add 0.0 (abs y@0:s))", Any), ("(add -0.0 y@0:s)", Any)],
        ),
        rule(
            F,
            Exact,
            "sub-zero",
            "(sub ?x ?z)",
            pat("?x"),
            Some((
                "?z is +0, or ?z is -0 and ?x is never -0",
                any(vec![splat_is("?z", 0.0), all(vec![splat_is("?z", -0.0), has("?x", nnz)])]),
            )),
            &[("(sub y@0:3 (bcast 0.0 #3))", Any), ("(sub (relu y@0:s) -0.0)", Any)],
        ),
        rule(
            F,
            Exact,
            "mul-minus-one",
            "(mul ?x ?c)",
            pat("(neg ?x)"),
            Some(("?c is -1", splat_is("?c", -1.0))),
            &[("(mul y@0:3 (bcast -1.0 #3))", Any)],
        ),
        rule(
            F,
            Exact,
            "minus-one-mul",
            "(mul ?c ?x)",
            pat("(neg ?x)"),
            Some(("?c is -1", splat_is("?c", -1.0))),
            &[("(mul -1.0 y@0:s)", Any)],
        ),
        rule(
            F,
            Exact,
            "div-minus-one",
            "(div ?x ?c)",
            pat("(neg ?x)"),
            Some(("?c is -1", splat_is("?c", -1.0))),
            &[("(div p@0:2x2 (bcast -1.0 #2x2))", Any)],
        ),
        rule(
            F,
            Exact,
            "div-power-of-two",
            "(div ?x ?c)",
            reciprocal_rhs(),
            Some(("?c is ±2^k with a normal reciprocal", splat_where("?c", power_of_two))),
            &[("(div y@0:3 (bcast 2.0 #3))", Any), ("(div y@0:s -0.25)", Any), ("(div y@0:s 1024.0)", Any)],
        ),
        rule(
            F,
            Exact,
            "sub-self",
            "(sub ?x ?x)",
            splat_rhs(0.0),
            Some(("?x is finite", has("?x", Facts::FINITE))),
            &[("(sub c:3:1.0,-2.0,3.5 c:3:1.0,-2.0,3.5)", Any)],
        ),
        rule(
            F,
            Exact,
            "div-self",
            "(div ?x ?x)",
            splat_rhs(1.0),
            Some(("?x is finite and non-zero", has("?x", Facts::FINITE.union(Facts::NONZERO)))),
            &[("(div c:2:3.0,-0.5 c:2:3.0,-0.5)", Any)],
        ),
        rule(F, Exact, "add-comm", "(add ?a ?b)", pat("(add ?b ?a)"), None, &[("(add y@0:3 p@0:3)", Any)]),
        rule(F, Exact, "mul-comm", "(mul ?a ?b)", pat("(mul ?b ?a)"), None, &[("(mul y@0:3 p@0:3)", Any)]),
    ]
}
