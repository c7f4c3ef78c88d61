//! The builtins made for losses, `mse`, `mae`, `huber`, `cross_entropy`
//! and `accuracy` (E0302 for mismatched operands, E0317 for a bad `delta`), and
//! `linspace` (E0317), which makes the save times of `generate`. Each is
//! built from the ordinary operations, so it lowers, differentiates and
//! simplifies like anything the user writes; the reductions leave missing
//! observations out (see `consts::mean`).

use std::sync::Arc;

use crate::diag::Diagnostic;
use crate::ir::{BinaryOp, Shape, UnaryOp};
use crate::span::Span;
use crate::syntax::ast::Arg;

use super::builtins::MAX_ELEMENTS;
use super::checker::{Checker, Env};
use super::consts;
use super::shapes::elementwise_ok;
use super::tree::TExpr;

impl<'a> Checker<'a> {
    /// `mse(a, b) = mean((a - b)^2)` and `mae(a, b) = mean(abs(a - b))`.
    pub fn mean_error(&mut self, name: &str, squared: bool, a: TExpr, b: TExpr, span: Span) -> Option<TExpr> {
        let r = self.residual(name, a, b, span)?;
        let terms = consts::unary(if squared { UnaryOp::Powi(2) } else { UnaryOp::Abs }, r, span);
        Some(consts::mean(terms, span))
    }

    /// `a - b` for the losses, E0302 unless the shapes fit.
    fn residual(&mut self, name: &str, a: TExpr, b: TExpr, span: Span) -> Option<TExpr> {
        if !elementwise_ok(a.shape, b.shape) {
            self.report(
                Diagnostic::error("E0302", format!("shape mismatch in `{name}`"), span)
                    .label(format!("the arguments are {} and {}", a.shape, b.shape))
                    .hint("the prediction and the target need equal shapes, or one of them a scalar"),
            );
            return None;
        }
        Some(self.elementwise(BinaryOp::Sub, a, b, span))
    }

    /// `huber(a, b[, delta = 1])`: the mean over the entries of `r = a - b`
    /// of `0.5 r²` where `|r| <= delta`, `delta (|r| - 0.5 delta)` elsewhere,
    /// written `0.5 q² + delta (|r| - q)` with `q = min(|r|, delta)` so that
    /// its derivative is the usual one everywhere.
    pub fn huber(&mut self, env: &Env, args: &'a [Arg], span: Span) -> Option<TExpr> {
        let mut positional: Vec<&'a Arg> = Vec::new();
        let mut delta_arg: Option<&'a Arg> = None;
        let mut ok = true;
        for a in args {
            match &a.name {
                None => positional.push(a),
                Some(n) if n.name == "delta" && delta_arg.is_none() => delta_arg = Some(a),
                Some(n) => {
                    let msg = if n.name == "delta" {
                        "argument `delta` is given twice".to_string()
                    } else {
                        format!("`huber` has no argument named `{}`", n.name)
                    };
                    self.report(
                        Diagnostic::error("E0207", msg, n.span)
                            .label("unknown or repeated named argument")
                            .hint("`huber` takes (prediction, target, delta = 1.0)"),
                    );
                    ok = false;
                }
            }
        }
        if positional.len() == 3 && delta_arg.is_none() {
            delta_arg = positional.pop();
        }
        let vals: Vec<Option<TExpr>> = positional.iter().map(|a| self.expr(env, &a.value)).collect();
        let delta_val = delta_arg.map(|a| (self.expr(env, &a.value), a.value.span));
        if positional.len() != 2 {
            self.arg_count("huber", 2, args.len(), span);
            return None;
        }
        let delta = match delta_val {
            None => 1.0,
            Some((v, at)) => {
                let v = v?;
                match v.as_const().filter(|_| v.shape.is_scalar()).map(|c| c[0]) {
                    Some(d) if d.is_finite() && d > 0.0 => d,
                    _ => {
                        self.report(
                            Diagnostic::error("E0317", "invalid `delta`", at)
                                .label("expected a positive constant number")
                                .hint("`delta` is where the Huber loss turns from quadratic to linear"),
                        );
                        return None;
                    }
                }
            }
        };
        let mut vals = vals.into_iter().collect::<Option<Vec<_>>>()?;
        if !ok {
            return None;
        }
        let b = vals.pop().expect("two arguments");
        let a = vals.pop().expect("two arguments");
        let r = self.residual("huber", a, b, span)?;
        let abs = consts::unary(UnaryOp::Abs, r, span);
        let d = TExpr::scalar(delta, span);
        let q = consts::binary(BinaryOp::Min, abs.clone(), d.clone(), span);
        let quad = consts::binary(
            BinaryOp::Mul,
            TExpr::scalar(0.5, span),
            consts::unary(UnaryOp::Powi(2), q.clone(), span),
            span,
        );
        let lin = consts::binary(BinaryOp::Mul, d, consts::binary(BinaryOp::Sub, abs, q, span), span);
        Some(consts::mean(consts::binary(BinaryOp::Add, quad, lin, span), span))
    }

    /// The operands of a classification objective (`cross_entropy`,
    /// `accuracy`): no missing observations (E0705) and logits and target
    /// of one vector or matrix shape (E0302). `None` once reported.
    fn class_operands(
        &mut self,
        name: &str,
        logits: &TExpr,
        target: &TExpr,
        args: &'a [Arg],
        span: Span,
        per_logit: &str,
    ) -> Option<()> {
        for (v, a) in [logits, target].into_iter().zip(args) {
            if consts::is_masked(v) {
                self.masked_operand(&format!("`{name}`"), a.value.span);
                return None;
            }
        }
        if logits.shape.is_scalar() || logits.shape != target.shape {
            let label = if logits.shape.is_scalar() {
                "the logits are a scalar; expected a vector or a matrix (one row per sample)".to_string()
            } else {
                format!("the logits are {} but the target is {}", logits.shape, target.shape)
            };
            self.report(
                Diagnostic::error("E0302", format!("shape mismatch in `{name}`"), span)
                    .label(label)
                    .hint(format!("the target holds {per_logit} per logit")),
            );
            return None;
        }
        Some(())
    }

    /// `cross_entropy(logits, target)`: along the last axis, the mean over
    /// rows of `-Σ target · log_softmax(logits)`, with the row maximum
    /// subtracted before `exp` so that large logits do not overflow.
    pub fn cross_entropy(&mut self, logits: TExpr, target: TExpr, args: &'a [Arg], span: Span) -> Option<TExpr> {
        self.class_operands("cross_entropy", &logits, &target, args, span, "one probability (or a one-hot 1)")?;
        let s = Span::detached();
        let value = match *logits.shape.dims() {
            [k] => {
                let k = k as usize;
                let mut c = consts::index(logits.clone(), 0, 0, s);
                for j in 1..k {
                    c = consts::binary(BinaryOp::Max, c, consts::index(logits.clone(), 0, j, s), s);
                }
                let z = consts::binary(BinaryOp::Sub, logits, c, s);
                let lse = consts::unary(UnaryOp::Log, consts::sum(consts::unary(UnaryOp::Exp, z.clone(), s), s), s);
                let log_p = consts::binary(BinaryOp::Sub, z, lse, s);
                consts::unary(UnaryOp::Neg, consts::sum(consts::binary(BinaryOp::Mul, target, log_p, s), s), span)
            }
            [rows, k] => {
                let (rows, k) = (rows as usize, k as usize);
                let ones_row = TExpr::constant(Arc::from(vec![1.0; k]), Shape::matrix(1, k), s);
                let ones = TExpr::constant(Arc::from(vec![1.0; k]), Shape::vector(k), s);
                // A column vector spread over the k columns.
                let spread = |v: TExpr| {
                    let col = consts::reshape(v, Shape::matrix(rows, 1), s);
                    consts::matmul(col, ones_row.clone(), Shape::matrix(rows, k), s)
                };
                let mut c = consts::index(logits.clone(), 1, 0, s);
                for j in 1..k {
                    c = consts::binary(BinaryOp::Max, c, consts::index(logits.clone(), 1, j, s), s);
                }
                let z = consts::binary(BinaryOp::Sub, logits, spread(c), s);
                let row_sums = consts::matmul(consts::unary(UnaryOp::Exp, z.clone(), s), ones, Shape::vector(rows), s);
                let lse = consts::unary(UnaryOp::Log, row_sums, s);
                let log_p = consts::binary(BinaryOp::Sub, z, spread(lse), s);
                let total = consts::sum(consts::binary(BinaryOp::Mul, target, log_p, s), s);
                consts::binary(BinaryOp::Div, total, TExpr::scalar(-(rows as f64), s), span)
            }
            _ => unreachable!("rank checked"),
        };
        Some(value)
    }

    /// `accuracy(logits, target)`: along the last axis, the fraction of
    /// rows where the first maximum of `logits` sits where the first maximum
    /// of `target` does (a vector is one row). Built from the Heaviside
    /// step, whose derivative is zero: `row_k(v) = Π_{j<k} step(v_k − v_j) ·
    /// Π_{j>k} (1 − step(v_j − v_k))` is 1 exactly for the first argmax `k`,
    /// and a row is right when `Σ_k row_k(logits) · row_k(target) = 1`.
    /// Its size grows with the square of the number of classes.
    pub fn accuracy(&mut self, logits: TExpr, target: TExpr, args: &'a [Arg], span: Span) -> Option<TExpr> {
        self.class_operands("accuracy", &logits, &target, args, span, "one score (or a one-hot 1)")?;
        let s = Span::detached();
        let axis = logits.shape.rank() - 1;
        let k = logits.shape.dim(axis);
        let rows = if axis == 0 { 1 } else { logits.shape.dim(0) };
        // One column (a scalar for a vector) per class.
        let columns = |v: &TExpr| (0..k).map(|j| consts::index(v.clone(), axis, j, s)).collect::<Vec<_>>();
        let step = |x: TExpr| consts::unary(UnaryOp::Step, x, s);
        let first_max = |cols: &[TExpr], c: usize| {
            let mut acc: Option<TExpr> = None;
            for j in (0..k).filter(|&j| j != c) {
                let f = if j < c {
                    step(consts::binary(BinaryOp::Sub, cols[c].clone(), cols[j].clone(), s))
                } else {
                    let beaten = step(consts::binary(BinaryOp::Sub, cols[j].clone(), cols[c].clone(), s));
                    consts::binary(BinaryOp::Sub, TExpr::scalar(1.0, s), beaten, s)
                };
                acc = Some(match acc {
                    None => f,
                    Some(a) => consts::binary(BinaryOp::Mul, a, f, s),
                });
            }
            acc.unwrap_or_else(|| TExpr::constant(Arc::from(vec![1.0; cols[c].shape.len()]), cols[c].shape, s))
        };
        let (lc, tc) = (columns(&logits), columns(&target));
        let mut hits: Option<TExpr> = None;
        for c in 0..k {
            let both = consts::binary(BinaryOp::Mul, first_max(&lc, c), first_max(&tc, c), s);
            hits = Some(match hits {
                None => both,
                Some(h) => consts::binary(BinaryOp::Add, h, both, s),
            });
        }
        let hits = hits.expect("at least one class");
        let total = consts::sum(hits, s);
        Some(consts::binary(BinaryOp::Div, total, TExpr::scalar(rows as f64, s), span))
    }

    /// `linspace(start, stop, n)`: `n` constants from `start` to `stop`,
    /// both included, as numpy computes them (`start + i·step`, the last one
    /// exactly `stop`).
    pub fn linspace(&mut self, vals: Vec<TExpr>, args: &'a [Arg], span: Span) -> Option<TExpr> {
        let mut nums = [0.0; 3];
        for (k, (v, a)) in vals.iter().zip(args).enumerate() {
            let x = v.as_const().filter(|_| v.shape.is_scalar()).map(|c| c[0]);
            let problem = match x {
                None if v.as_const().is_none() => Some("not known at compile time".to_string()),
                None => Some(format!("a {} tensor, not a number", v.shape)),
                Some(x) if !x.is_finite() => Some(format!("{x} is not finite")),
                Some(x) if k == 2 && (x.fract() != 0.0 || x < 1.0 || x > MAX_ELEMENTS as f64) => {
                    Some(format!("{x} is not a whole number from 1 to {MAX_ELEMENTS}"))
                }
                Some(_) => None,
            };
            if let Some(why) = problem {
                self.report(
                    Diagnostic::error("E0317", "invalid `linspace` argument", a.value.span)
                        .label(why)
                        .hint("`linspace(start, stop, n)` takes two finite constants and a whole count"),
                );
                return None;
            }
            nums[k] = x.expect("checked");
        }
        let [start, stop, n] = nums;
        let n = n as usize;
        let step = if n > 1 { (stop - start) / (n - 1) as f64 } else { 0.0 };
        let mut values: Vec<f64> = (0..n).map(|i| start + i as f64 * step).collect();
        if n > 1 {
            values[n - 1] = stop;
        }
        Some(TExpr::constant(Arc::from(values), Shape::vector(n), span))
    }
}
