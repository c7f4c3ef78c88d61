//! Checking a model's `output NAME = expr` (E0417 for a value that is not a
//! scalar or a vector), and the members of a solution that name outputs
//! (`sol.NAME` in a loss, see [`super::loss`]).
//!
//! An output reads what an equation reads — `t`, states, params, nets and
//! the `let`s defined before it — except the control path `X(t)` (E0415,
//! reported by [`Checker::path_call`] in the [`Phase::Output`] phase): a
//! readout is a function of the state alone, so a loss can compute it from
//! the saved rows of `sol.y`.
//!
//! Never: make an output visible as a value inside the model (it is read
//! only through a solution), or accept a matrix output.

use crate::diag::Diagnostic;
use crate::ir::training::LossStat;
use crate::ir::Shape;
use crate::span::Span;
use crate::syntax::ast::{Expr, Ident};

use super::checker::{Checker, Env, EnvKind, ModelEnv, Phase};
use super::tree::{CheckedOutput, LossInput, TExpr, TKind};

/// The members every solution has, which an output may not shadow.
fn solution_member(name: &str) -> bool {
    matches!(name, "y" | "t" | "mean" | "var") || LossStat::from_name(name).is_some()
}

impl<'a> Checker<'a> {
    /// `output NAME = value` in `env` (in [`Phase::Output`]): `None` after
    /// an error.
    pub(super) fn output(
        &mut self,
        module: usize,
        env: &ModelEnv,
        name: &Ident,
        value: &'a Expr,
        span: Span,
    ) -> Option<CheckedOutput> {
        debug_assert_eq!(env.phase, Phase::Output);
        let v = self.expr(&Env { module, kind: EnvKind::Model(env) }, value);
        if solution_member(&name.name) {
            self.report(
                Diagnostic::error("E0417", format!("an output cannot be called `{}`", name.name), name.span)
                    .label(format!("`sol.{}` is a member of every solution", name.name))
                    .hint("rename the output; a solution's own members are `y`, `t`, `mean`, `var` and the solver statistics"),
            );
            return None;
        }
        let v = v?;
        if reads_path(&v, &env.lets) {
            let input = env.input.as_ref().map_or("X", |i| i.name.as_str());
            self.report(
                Diagnostic::error("E0415", format!("output `{}` reads the path `{input}`", name.name), value.span)
                    .label(format!("through a `let` that reads `{input}(t)`"))
                    .hint("an output is a function of the state alone in this version; compute it from states, params and nets"),
            );
            return None;
        }
        if v.shape.rank() > 1 {
            self.report(
                Diagnostic::error("E0417", format!("output `{}` is not a scalar or a vector", name.name), value.span)
                    .label(format!("this is a {} tensor", v.shape))
                    .hint(format!(
                        "an output is a scalar or a vector (a row per save time in `sol.{}`); flatten a matrix \
                         with `reshape(..., [{}])`",
                        name.name,
                        v.shape.len()
                    )),
            );
            return None;
        }
        Some(CheckedOutput { name: name.name.clone(), shape: v.shape, value: v, span })
    }
}

impl Checker<'_> {
    /// `sol.NAME` for the output `NAME` of solve `i`'s model: `[T]` for a
    /// scalar output, `[T, len]` for a vector one (E0713 for an ensemble).
    pub(super) fn solution_output(
        &mut self,
        i: usize,
        base: &str,
        name: &str,
        name_span: Span,
        span: Span,
    ) -> Option<TExpr> {
        let s = self.loss.as_ref()?.solves.get(i)?;
        let (paths, model) = (s.paths, s.model.clone());
        let (index, shape) = s.outputs.iter().enumerate().find(|(_, (n, _))| n == name).map(|(k, (_, sh))| (k, *sh))?;
        let rows = self.data_info.get(&s.data)?.rows;
        if paths > 1 {
            self.report(
                Diagnostic::error("E0713", format!("`{base}.{name}` of an ensemble solve"), name_span)
                    .label(format!("`{name}` is an output of `{model}`, but this solve draws {paths} paths"))
                    .hint("an ensemble is read through `sol.mean` and `sol.var`; read outputs from a single solve"),
            );
            return None;
        }
        let shape = if shape.is_scalar() { Shape::vector(rows) } else { Shape::matrix(rows, shape.len()) };
        Some(TExpr { kind: TKind::LossInput(LossInput::Output(index)), shape, span })
    }
}

/// Whether `e` reads the control path, directly or through a model `let`.
fn reads_path(e: &TExpr, lets: &[Option<TExpr>]) -> bool {
    match &e.kind {
        TKind::Control | TKind::ControlRate => true,
        TKind::Let(i) => lets.get(*i).and_then(Option::as_ref).is_some_and(|l| reads_path(l, lets)),
        TKind::Const(_) | TKind::Time | TKind::State(_) | TKind::Param(_) | TKind::Arg(_) | TKind::LossInput(_) => {
            false
        }
        TKind::Inline { body, args } => reads_path(body, lets) || args.iter().any(|a| reads_path(a, lets)),
        TKind::Concat { args, .. } => args.iter().any(|a| reads_path(a, lets)),
        TKind::Unary(_, a)
        | TKind::Broadcast(a)
        | TKind::Transpose(a)
        | TKind::Sum(a)
        | TKind::Reshape(a)
        | TKind::Index { arg: a, .. }
        | TKind::Slice { arg: a, .. } => reads_path(a, lets),
        TKind::Binary(_, a, b) | TKind::MatMul(a, b) => reads_path(a, lets) || reads_path(b, lets),
        TKind::Masked { value, mask } => reads_path(value, lets) || reads_path(mask, lets),
    }
}
