//! Negations, the commonest residue of differentiation: `a + (-b)` is
//! `a - b` (IEEE defines subtraction that way), a product or quotient's
//! sign moves freely (the sign of a product is exact), and `abs`/`relu`
//! vanish on values known non-negative.
//!
//! Moving a negation out of a sum (`sum(-x) = -sum(x)`, also inside a
//! matrix product) keeps every value but the sign of an exact zero result
//! (`(-a) + (-b)` is `+0` where `-(a + b)` is `-0` when `a = -b`): those
//! rules wait for fast-math.

use super::{has, pat, rule, Domain, Level, Rule};
use crate::simplify::analysis::Facts;

const F: &str = "sign";

pub(super) fn rules() -> Vec<Rule> {
    use Domain::*;
    use Level::*;
    let r = |name: &str, lhs: &str, rhs: &str, ex: &str| rule(F, Exact, name, lhs, pat(rhs), None, &[(ex, Any)]);
    vec![
        r("neg-neg", "(neg (neg ?x))", "?x", "(neg (neg y@0:3))"),
        r("add-neg", "(add ?a (neg ?b))", "(sub ?a ?b)", "(add y@0:3 (neg p@0:3))"),
        r("neg-add", "(add (neg ?a) ?b)", "(sub ?b ?a)", "(add (neg y@0:3) p@0:3)"),
        r("sub-neg", "(sub ?a (neg ?b))", "(add ?a ?b)", "(sub y@0:2x2 (neg p@0:2x2))"),
        r("neg-mul-neg", "(mul (neg ?a) (neg ?b))", "(mul ?a ?b)", "(mul (neg y@0:3) (neg p@0:3))"),
        r("neg-mul", "(mul (neg ?a) ?b)", "(neg (mul ?a ?b))", "(mul (neg y@0:3) p@0:3)"),
        r("mul-neg", "(mul ?a (neg ?b))", "(neg (mul ?a ?b))", "(mul y@0:3 (neg p@0:3))"),
        r("neg-div-neg", "(div (neg ?a) (neg ?b))", "(div ?a ?b)", "(div (neg y@0:3) (neg p@0:3))"),
        r("neg-div", "(div (neg ?a) ?b)", "(neg (div ?a ?b))", "(div (neg y@0:3) p@0:3)"),
        r("div-neg", "(div ?a (neg ?b))", "(neg (div ?a ?b))", "(div y@0:3 (neg p@0:3))"),
        r("transpose-neg", "(transpose (neg ?x))", "(neg (transpose ?x))", "(transpose (neg p@0:2x3))"),
        r("abs-neg", "(abs (neg ?x))", "(abs ?x)", "(abs (neg y@0:3))"),
        r("abs-abs", "(abs (abs ?x))", "(abs ?x)", "(abs (abs y@0:3))"),
        rule(
            F,
            Exact,
            "abs-nonneg",
            "(abs ?x)",
            pat("?x"),
            Some(("?x ≥ +0 or NaN", has("?x", Facts::NONNEG))),
            &[("(abs (exp y@0:3))", Any), ("(abs (mul y@0:3 y@0:3))", Any)],
        ),
        rule(
            F,
            Exact,
            "relu-nonneg",
            "(relu ?x)",
            pat("?x"),
            Some(("?x ≥ +0 or NaN", has("?x", Facts::NONNEG))),
            &[("(relu (softplus y@0:3))", Any), ("(relu (relu y@0:3))", Any)],
        ),
        rule(
            F,
            FastMath,
            "sum-neg",
            "(sum (neg ?x))",
            pat("(neg (sum ?x))"),
            None,
            &[("(sum (neg y@0:4))", Any), ("(sum (neg p@0:2x3))", Any)],
        ),
        rule(
            F,
            FastMath,
            "matmul-neg-left",
            "(matmul (neg ?a) ?b)",
            pat("(neg (matmul ?a ?b))"),
            None,
            &[("(matmul (neg p@0:2x3) y@0:3)", Any), ("(matmul (neg y@0:3) p@0:3x2)", Any)],
        ),
        rule(
            F,
            FastMath,
            "matmul-neg-right",
            "(matmul ?a (neg ?b))",
            pat("(neg (matmul ?a ?b))"),
            None,
            &[("(matmul p@0:2x3 (neg y@0:3))", Any), ("(matmul p@0:2x3 (neg p@6:3x2))", Any)],
        ),
    ]
}
