//! Function identities.
//!
//! `exp(log x) = x` holds for `x ≥ +0` (`log 0 = -inf`, `exp(-inf) = 0`)
//! and rounds less than the left side, so it runs by default where the
//! analysis knows `x` is non-negative (an `exp`, `abs`, square, ...); for a
//! negative `x` the left side is NaN, so it never fires on a plain input.
//! Integer powers: `x¹ = x`, `x⁰ = 1` (for every `x`, as the interpreter
//! defines it), `x² = x·x` both ways (the same multiplication), and
//! `(-x)² = x²`. Together with hash-consing these make the derivative of
//! `tanh`, `1 - tanh(x)²`, share the forward `tanh(x)` however it is
//! written.
//!
//! The fast-math ones are in [`super::fastmath`]: `log(exp x) = x`
//! overflows for `x > 709` (`log(inf) = inf`), `√(x²) = |x|` overflows for
//! `|x| > 1.3e154`.

use super::{has, pat, rule, splat_rhs, Domain, Level, Rule};
use crate::simplify::analysis::Facts;

const F: &str = "functions";

pub(super) fn rules() -> Vec<Rule> {
    use Domain::*;
    use Level::*;
    vec![
        rule(
            F,
            Accurate,
            "exp-log",
            "(exp (log ?x))",
            pat("?x"),
            Some(("?x ≥ +0 or NaN", has("?x", Facts::NONNEG))),
            &[
                ("(exp (log (exp y@0:3)))", Any),
                ("(exp (log (abs y@0:3)))", Any),
                ("(exp (log (mul y@0:s y@0:s)))", Any),
            ],
        ),
        rule(F, Exact, "powi-one", "(powi:1 ?x)", pat("?x"), None, &[("(powi:1 y@0:3)", Any)]),
        rule(F, Exact, "powi-zero", "(powi:0 ?x)", splat_rhs(1.0), None, &[("(powi:0 y@0:3)", Any)]),
        rule(F, Exact, "powi-two", "(powi:2 ?x)", pat("(mul ?x ?x)"), None, &[("(powi:2 (tanh y@0:3))", Any)]),
        rule(
            F,
            Exact,
            "square-powi",
            "(mul ?x ?x)",
            pat("(powi:2 ?x)"),
            None,
            &[("(mul (tanh y@0:3) (tanh y@0:3))", Any)],
        ),
        rule(F, Exact, "powi-two-neg", "(powi:2 (neg ?x))", pat("(powi:2 ?x)"), None, &[("(powi:2 (neg y@0:3))", Any)]),
    ]
}
