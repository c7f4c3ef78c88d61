//! Fast-math rules: valid for real numbers, not for IEEE arithmetic. They
//! run only with `fast_math` and assume every value is finite and that
//! regrouping a sum does not matter.
//!
//! * Reassociation of `+` and `*`, and factoring `a·b + a·c = a·(b + c)`,
//!   `A@x + A@y = A@(x + y)` (never distribution: it only adds work). A stiff
//!   model that cancels large terms can lose every digit to these.
//! * Absorbing zeros: `0·x = 0` and `A@0 = 0` (NaN for infinite `x`),
//!   `x - x = 0`, `x / x = 1`, `x + 0 = x` and `0 - x = -x` (signed zeros).
//! * `log(exp x) = x` (overflow for `x > 709`), `√(x·x) = |x|` (overflow),
//!   `exp(a)·exp(b) = exp(a + b)` (rounding, overflow), `-(a - b) = b - a`
//!   (the sign of a zero), `x / c = x·(1/c)` (rounding), the sum of a
//!   broadcast of any length (rounding), the sum of a transpose (order).

use super::broadcast::count_rhs;
use super::identity::reciprocal_rhs;
use super::{pat, rule, splat_rhs, splat_where, Domain, Level, Rule};

const F: &str = "fast-math";

fn zero(v: f64) -> bool {
    v == 0.0
}

pub(super) fn rules() -> Vec<Rule> {
    use Domain::*;
    use Level::*;
    let r = |name: &str, lhs: &str, rhs: &str, ex: &str, domain: Domain| {
        rule(F, FastMath, name, lhs, pat(rhs), None, &[(ex, domain)])
    };
    vec![
        r("add-assoc", "(add (add ?a ?b) ?c)", "(add ?a (add ?b ?c))", "(add (add y@0:3 p@0:3) p@3:3)", Positive),
        r("add-assoc-rev", "(add ?a (add ?b ?c))", "(add (add ?a ?b) ?c)", "(add y@0:3 (add p@0:3 p@3:3))", Positive),
        r("mul-assoc", "(mul (mul ?a ?b) ?c)", "(mul ?a (mul ?b ?c))", "(mul (mul y@0:3 p@0:3) p@3:3)", Finite),
        r("mul-assoc-rev", "(mul ?a (mul ?b ?c))", "(mul (mul ?a ?b) ?c)", "(mul y@0:3 (mul p@0:3 p@3:3))", Finite),
        r(
            "factor",
            "(add (mul ?a ?b) (mul ?a ?c))",
            "(mul ?a (add ?b ?c))",
            "(add (mul y@0:3 p@0:3) (mul y@0:3 p@3:3))",
            Positive,
        ),
        r(
            "factor-sub",
            "(sub (mul ?a ?b) (mul ?a ?c))",
            "(mul ?a (sub ?b ?c))",
            "(sub (mul y@0:3 p@0:3) (mul y@0:3 p@3:3))",
            Positive,
        ),
        r(
            "matmul-factor-left",
            "(add (matmul ?a ?x) (matmul ?a ?y))",
            "(matmul ?a (add ?x ?y))",
            "(add (matmul p@0:2x3 y@0:3) (matmul p@0:2x3 y@3:3))",
            Positive,
        ),
        r(
            "matmul-factor-right",
            "(add (matmul ?x ?a) (matmul ?y ?a))",
            "(matmul (add ?x ?y) ?a)",
            "(add (matmul y@0:3 p@0:3x2) (matmul y@3:3 p@0:3x2))",
            Positive,
        ),
        rule(
            F,
            FastMath,
            "mul-zero",
            "(mul ?x ?z)",
            pat("?z"),
            Some(("?z is ±0", splat_where("?z", zero))),
            &[("(mul y@0:3 (bcast 0.0 #3))", Finite)],
        ),
        rule(
            F,
            FastMath,
            "zero-mul",
            "(mul ?z ?x)",
            pat("?z"),
            Some(("?z is ±0", splat_where("?z", zero))),
            &[("(mul -0.0 y@0:s)", Finite)],
        ),
        rule(
            F,
            FastMath,
            "matmul-zero-left",
            "(matmul ?z ?b)",
            splat_rhs(0.0),
            Some(("?z is ±0", splat_where("?z", zero))),
            &[("(matmul (bcast 0.0 #2x3) y@0:3)", Finite)],
        ),
        rule(
            F,
            FastMath,
            "matmul-zero-right",
            "(matmul ?a ?z)",
            splat_rhs(0.0),
            Some(("?z is ±0", splat_where("?z", zero))),
            &[("(matmul p@0:2x3 (bcast 0.0 #3x4))", Finite)],
        ),
        rule(F, FastMath, "sub-self-any", "(sub ?x ?x)", splat_rhs(0.0), None, &[("(sub y@0:3 y@0:3)", Finite)]),
        rule(F, FastMath, "div-self-any", "(div ?x ?x)", splat_rhs(1.0), None, &[("(div y@0:3 y@0:3)", Positive)]),
        rule(
            F,
            FastMath,
            "add-zero-any",
            "(add ?x ?z)",
            pat("?x"),
            Some(("?z is ±0", splat_where("?z", zero))),
            &[("(add y@0:3 (bcast 0.0 #3))", Finite)],
        ),
        rule(
            F,
            FastMath,
            "zero-sub",
            "(sub ?z ?x)",
            pat("(neg ?x)"),
            Some(("?z is ±0", splat_where("?z", zero))),
            &[("(sub (bcast 0.0 #3) y@0:3)", Finite)],
        ),
        r("neg-sub", "(neg (sub ?a ?b))", "(sub ?b ?a)", "(neg (sub y@0:3 p@0:3))", Finite),
        r("log-exp", "(log (exp ?x))", "?x", "(log (exp y@0:3))", Finite),
        r("sqrt-square", "(sqrt (mul ?x ?x))", "(abs ?x)", "(sqrt (mul y@0:3 y@0:3))", Finite),
        r("exp-add", "(mul (exp ?a) (exp ?b))", "(exp (add ?a ?b))", "(mul (exp y@0:3) (exp p@0:3))", Finite),
        r("sum-transpose", "(sum (transpose ?x))", "(sum ?x)", "(sum (transpose p@0:2x3))", Positive),
        rule(
            F,
            FastMath,
            "div-const",
            "(div ?x ?c)",
            reciprocal_rhs(),
            Some(("?c is finite and non-zero", splat_where("?c", |c| c.is_finite() && c != 0.0))),
            &[("(div y@0:3 (bcast 3.0 #3))", Finite)],
        ),
        rule(
            F,
            FastMath,
            "sum-bcast-any",
            "(sum (bcast ?x ?s))",
            count_rhs(usize::MAX),
            None,
            &[("(sum (bcast y@0:s #7))", Finite)],
        ),
    ]
}
