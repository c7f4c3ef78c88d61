//! Transposes: `x'' = x`, a vector or scalar is its own transpose, and
//! `(A@B)' = B'@A'` both ways. The last is exact: entry `(i, j)` of either
//! side adds the same products `A[j,k]·B[k,i]` in the same order `k = 0, 1, …`.

use super::{pat, rank_below, rule, Domain, Level, Rule};

const F: &str = "transpose";

pub(super) fn rules() -> Vec<Rule> {
    use Domain::*;
    use Level::*;
    vec![
        rule(
            F,
            Exact,
            "transpose-transpose",
            "(transpose (transpose ?x))",
            pat("?x"),
            None,
            &[("(transpose (transpose p@0:2x3))", Any)],
        ),
        rule(
            F,
            Exact,
            "transpose-low-rank",
            "(transpose ?x)",
            pat("?x"),
            Some(("?x is a scalar or vector", rank_below("?x", 2))),
            &[("(transpose y@0:3)", Any), ("(transpose (sum y@0:3))", Any)],
        ),
        rule(
            F,
            Exact,
            "transpose-matmul",
            "(transpose (matmul ?a ?b))",
            pat("(matmul (transpose ?b) (transpose ?a))"),
            None,
            &[("(transpose (matmul p@0:2x3 p@6:3x4))", Any), ("(transpose (matmul p@0:2x3 y@0:3))", Any)],
        ),
        rule(
            F,
            Exact,
            "matmul-transposes",
            "(matmul (transpose ?b) (transpose ?a))",
            pat("(transpose (matmul ?a ?b))"),
            None,
            &[("(matmul (transpose p@0:3x2) (transpose p@6:4x3))", Any)],
        ),
    ]
}
