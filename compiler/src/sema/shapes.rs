//! Shape rules with their diagnostics: arithmetic operators (E0302), the
//! matrix product (E0301), indexing and slicing (E0303, E0304, E0308) and
//! array literals (E0305). Builds the checked nodes through `consts`, so
//! constant operands fold.

use crate::diag::Diagnostic;
use crate::ir::{BinaryOp, Shape, UnaryOp};
use crate::span::Span;
use crate::syntax::ast::{self, Expr, IndexArg};

use super::checker::{Checker, Env};
use super::consts::{self, matmul_shape};
use super::tree::TExpr;

/// Whether `text` is one parenthesised group, `( ... )`.
fn parenthesised(text: &str) -> bool {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 && i + 1 < text.len() {
                    return false;
                }
            }
            _ if depth == 0 => return false,
            _ => {}
        }
    }
    depth == 0 && text.starts_with('(')
}

/// `x'` as text, with parentheses when `x` is not a plain name.
fn transposed(text: &str) -> String {
    if text.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.') || parenthesised(text) {
        format!("{text}'")
    } else {
        format!("({text})'")
    }
}

fn op_symbol(op: ast::BinaryOp) -> &'static str {
    match op {
        ast::BinaryOp::Add => "+",
        ast::BinaryOp::Sub => "-",
        ast::BinaryOp::Mul => "*",
        ast::BinaryOp::Div => "/",
        ast::BinaryOp::Pow => "^",
        ast::BinaryOp::MatMul => "@",
    }
}

/// Elementwise operands: equal shapes or one scalar.
pub fn elementwise_ok(a: Shape, b: Shape) -> bool {
    a == b || a.is_scalar() || b.is_scalar()
}

impl<'a> Checker<'a> {
    /// `a op b`; `ea`, `eb` are the operands' source, for messages.
    pub fn binary(&mut self, op: ast::BinaryOp, a: TExpr, b: TExpr, ea: &Expr, eb: &Expr, span: Span) -> Option<TExpr> {
        let ir_op = match op {
            ast::BinaryOp::MatMul => return self.matmul(a, b, ea, eb, span),
            ast::BinaryOp::Add => BinaryOp::Add,
            ast::BinaryOp::Sub => BinaryOp::Sub,
            ast::BinaryOp::Mul => BinaryOp::Mul,
            ast::BinaryOp::Div => BinaryOp::Div,
            ast::BinaryOp::Pow => BinaryOp::Pow,
        };
        if !elementwise_ok(a.shape, b.shape) {
            let (ta, tb) = (self.describe(ea.span, "the left operand"), self.describe(eb.span, "the right operand"));
            let mut d = Diagnostic::error("E0302", format!("shape mismatch in elementwise `{}`", op_symbol(op)), span)
                .label(format!("{ta} is {} but {tb} is {}", a.shape, b.shape));
            if op == ast::BinaryOp::Mul && matmul_shape(a.shape, b.shape).is_some() {
                d = d.hint(format!("for a matrix product write `{ta} @ {tb}`"));
            } else if a.shape.rank() == 2 && consts::transpose(a.clone(), span).shape == b.shape {
                d = d.hint(format!("did you mean `{}`?", transposed(&ta)));
            } else {
                d = d.hint("elementwise operands need equal shapes, or one of them a scalar");
            }
            self.report(d);
            return None;
        }
        Some(self.elementwise(ir_op, a, b, span))
    }

    /// An elementwise operation on compatible operands; `^` by a constant
    /// integer becomes `Powi`.
    pub fn elementwise(&mut self, op: BinaryOp, a: TExpr, b: TExpr, span: Span) -> TExpr {
        if op == BinaryOp::Pow && b.shape.is_scalar() {
            if let Some(n) = consts::const_int(&b).and_then(|n| i32::try_from(n).ok()) {
                return match n {
                    1 => a,
                    _ => consts::unary(UnaryOp::Powi(n), a, span),
                };
            }
        }
        consts::binary(op, a, b, span)
    }

    fn matmul(&mut self, a: TExpr, b: TExpr, ea: &Expr, eb: &Expr, span: Span) -> Option<TExpr> {
        if let Some(v) = [&a, &b].into_iter().find(|v| consts::is_masked(v)) {
            self.masked_operand("a matrix product", v.span);
            return None;
        }
        if let Some(shape) = matmul_shape(a.shape, b.shape) {
            return Some(consts::matmul(a, b, shape, span));
        }
        let (ta, tb) = (self.describe(ea.span, "the left operand"), self.describe(eb.span, "the right operand"));
        let d = if a.shape.is_scalar() || b.shape.is_scalar() {
            Diagnostic::error("E0301", "matrix product with a scalar", span)
                .label(format!("{ta} is {} and {tb} is {}", a.shape, b.shape))
                .hint("`@` needs vectors or matrices; scale with `*`")
        } else {
            let ka = *a.shape.dims().last().expect("rank >= 1");
            let kb = b.shape.dims()[0];
            let mut d = Diagnostic::error("E0301", "shape mismatch in matrix product", span)
                .label(format!("{ta} is {} but {tb} is {}: inner sizes {ka} and {kb} differ", a.shape, b.shape));
            let at = consts::transpose(a.clone(), span).shape;
            let bt = consts::transpose(b.clone(), span).shape;
            if a.shape.rank() == 2 && matmul_shape(at, b.shape).is_some() {
                d = d.hint(format!("did you mean `{} @ {tb}`?", transposed(&ta)));
            } else if b.shape.rank() == 2 && matmul_shape(a.shape, bt).is_some() {
                d = d.hint(format!("did you mean `{ta} @ {}`?", transposed(&tb)));
            } else if matmul_shape(b.shape, a.shape).is_some() {
                d = d.hint(format!("did you mean `{tb} @ {ta}`?"));
            }
            d
        };
        self.report(d);
        None
    }

    /// A compile-time integer (an index or slice bound); E0304 otherwise.
    fn const_index(&mut self, env: &Env, e: &'a Expr) -> Option<i64> {
        let v = self.expr(env, e)?;
        if let Some(n) = consts::const_int(&v) {
            return Some(n);
        }
        let why = match v.as_const() {
            None => "not known at compile time".to_string(),
            Some(_) if !v.shape.is_scalar() => format!("a {} tensor, not a number", v.shape),
            Some(x) => format!("{} is not a whole number", x[0]),
        };
        self.report(
            Diagnostic::error("E0304", "an index must be a constant integer", e.span)
                .label(why)
                .hint("indices are fixed at compile time: use a number or a `const`"),
        );
        None
    }

    /// `base[indices]`.
    pub fn index(&mut self, env: &Env, base: &'a Expr, indices: &'a [IndexArg], span: Span) -> Option<TExpr> {
        let b = self.expr(env, base);
        enum Ix {
            One(i64, Span),
            Range(Option<i64>, Option<i64>, Span),
        }
        let mut ixs = Vec::new();
        let mut ok = true;
        for ix in indices {
            match ix {
                IndexArg::Single(e) => match self.const_index(env, e) {
                    Some(i) => ixs.push(Ix::One(i, e.span)),
                    None => ok = false,
                },
                IndexArg::Slice { start, stop, span } => {
                    let mut bound = |x: &'a Option<Expr>| match x {
                        Some(e) => self.const_index(env, e).map(Some),
                        None => Some(None),
                    };
                    match (bound(start), bound(stop)) {
                        (Some(s), Some(t)) => ixs.push(Ix::Range(s, t, *span)),
                        _ => ok = false,
                    }
                }
            }
        }
        let b = b?;
        let what = self.describe(base.span, "the value");
        if indices.len() > b.shape.rank() {
            self.report(Diagnostic::error("E0308", "too many indices", span).label(format!(
                "{what} is {} (rank {}) but {} ind{} given",
                b.shape,
                b.shape.rank(),
                indices.len(),
                if indices.len() == 1 { "ex is" } else { "ices are" }
            )));
            return None;
        }
        if !ok {
            return None;
        }
        // Resolve every position against its axis length.
        let mut picks = Vec::new(); // (axis, index) to drop
        let mut slices = Vec::new(); // (axis, start, len) to keep
        for (axis, ix) in ixs.iter().enumerate() {
            let n = b.shape.dim(axis) as i64;
            let norm = |i: i64| if i < 0 { i + n } else { i };
            match *ix {
                Ix::One(i, at) => {
                    let j = norm(i);
                    if !(0..n).contains(&j) {
                        self.report(
                            Diagnostic::error("E0303", format!("index {i} is out of range"), at)
                                .label(format!("{what} is {}: axis {axis} has {n} elements", b.shape))
                                .hint(format!("valid indices are 0..{} (or -{n}..-1 from the end)", n - 1)),
                        );
                        ok = false;
                    } else {
                        picks.push((axis, j as usize));
                    }
                }
                Ix::Range(s, t, at) => {
                    let (s, t) = (norm(s.unwrap_or(0)), norm(t.unwrap_or(n)));
                    if !(0 <= s && s < t && t <= n) {
                        let why = if s >= t && (0..=n).contains(&s) && (0..=n).contains(&t) {
                            "the slice is empty".to_string()
                        } else {
                            format!("axis {axis} has {n} elements")
                        };
                        self.report(
                            Diagnostic::error("E0303", "slice out of range", at)
                                .label(format!("{what} is {}: {why}", b.shape)),
                        );
                        ok = false;
                    } else {
                        slices.push((axis, s as usize, (t - s) as usize));
                    }
                }
            }
        }
        if !ok {
            return None;
        }
        let mut v = b;
        for (axis, start, len) in slices {
            v = consts::slice(v, axis, start, len, span);
        }
        for &(axis, i) in picks.iter().rev() {
            v = consts::index(v, axis, i, span);
        }
        Some(v)
    }

    /// `[a, b, ...]`: scalars make a vector, equal vectors make matrix rows.
    pub fn array(&mut self, env: &Env, items: &'a [Expr], span: Span) -> Option<TExpr> {
        let vals: Vec<Option<TExpr>> = items.iter().map(|x| self.expr(env, x)).collect();
        let vals: Vec<TExpr> = vals.into_iter().collect::<Option<_>>()?;
        let Some(first) = vals.first() else {
            self.report(
                Diagnostic::error("E0305", "empty array literal", span).label("an array needs at least one element"),
            );
            return None;
        };
        if let Some(v) = vals.iter().find(|v| consts::is_masked(v)) {
            self.masked_operand("an array literal", v.span);
            return None;
        }
        let want = first.shape;
        if want.rank() == 2 {
            self.report(
                Diagnostic::error("E0305", "array literal with more than 2 axes", span)
                    .label(format!("its elements are {want} matrices"))
                    .hint("tensors have at most 2 axes"),
            );
            return None;
        }
        for (v, item) in vals.iter().zip(items) {
            if v.shape != want {
                let what = if want.is_scalar() { "a scalar".to_string() } else { format!("{want} like the first row") };
                self.report(
                    Diagnostic::error("E0305", "ragged array literal", item.span)
                        .label(format!("expected {what}, found {}", v.shape))
                        .hint("every element of an array literal must have the same shape"),
                );
                return None;
            }
        }
        let row = match want.dims() {
            [] => Shape::vector(1),
            [n] => Shape::matrix(1, *n as usize),
            _ => unreachable!("rank checked"),
        };
        let rows = vals.into_iter().map(|v| {
            let s = v.span;
            consts::reshape(v, row, s)
        });
        Some(consts::concat(rows.collect(), 0, span))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn transposed_text() {
        assert_eq!(super::transposed("W"), "W'");
        assert_eq!(super::transposed("f.W1"), "f.W1'");
        assert_eq!(super::transposed("(C + 1)"), "(C + 1)'");
        assert_eq!(super::transposed("(a) + (b)"), "((a) + (b))'");
        assert_eq!(super::transposed("A + B"), "(A + B)'");
    }
}
