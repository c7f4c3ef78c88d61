//! Checking one expression: dispatch over the AST, names in value position,
//! fields (`f.W1`), unary operators and transposes. Calls live in `calls`,
//! operators, indexing and literals in `shapes`.
//!
//! Every function returns `None` after an error it (or a callee) has
//! reported: that is the "error" shape, and it silences follow-on errors.

use crate::diag::Diagnostic;
use crate::ir::UnaryOp;
use crate::span::Span;
use crate::syntax::ast::{Expr, ExprKind, UnaryOp as AstUnary};

use super::checker::{Checker, Def, Env, EnvKind, Local, LossLocal, Phase, Resolved};
use super::consts;
use super::tree::{TExpr, TKind};

impl<'a> Checker<'a> {
    /// Checks `e` in `env`.
    pub fn expr(&mut self, env: &Env, e: &'a Expr) -> Option<TExpr> {
        match &e.kind {
            ExprKind::Number(x) => Some(TExpr::scalar(*x, e.span)),
            ExprKind::Str(_) => {
                self.report(
                    Diagnostic::error("E0315", "a string is not a value", e.span)
                        .label("strings only name files, as in `use \"lib.nde\".{f}`"),
                );
                None
            }
            ExprKind::Name(n) => self.name_value(env, n, e.span),
            ExprKind::Unary(op, a) => {
                let a = self.expr(env, a)?;
                Some(match op {
                    AstUnary::Neg => consts::unary(UnaryOp::Neg, a, e.span),
                    AstUnary::Plus => a,
                })
            }
            ExprKind::Binary(op, a, b) => {
                let (x, y) = (self.expr(env, a), self.expr(env, b));
                self.binary(*op, x?, y?, a, b, e.span)
            }
            ExprKind::Transpose(a) => {
                let a = self.expr(env, a)?;
                Some(consts::transpose(a, e.span))
            }
            ExprKind::Call { callee, args } => self.call(env, callee, args, e.span),
            ExprKind::Index { base, indices } => self.index(env, base, indices, e.span),
            ExprKind::Field { base, name } => self.field(env, base, &name.name, name.span, e.span),
            ExprKind::Array(items) => self.array(env, items, e.span),
            ExprKind::Arrow(items) => {
                for x in items {
                    self.expr(env, x);
                }
                self.report(
                    Diagnostic::error("E0316", "layer sizes outside a layer constructor", e.span)
                        .label("`a -> b` only describes the layers of `mlp(...)` or `linear(...)`"),
                );
                None
            }
        }
    }

    /// A name used as a value.
    fn name_value(&mut self, env: &Env, name: &str, span: Span) -> Option<TExpr> {
        let err = |code, msg: String, label: &str| Diagnostic::error(code, msg, span).label(label.to_string());
        match self.lookup(env, name) {
            Resolved::Arg(a) => Some(match &a.value {
                Some(v) => TExpr::constant(v.clone(), a.shape, span),
                None => TExpr { kind: TKind::Arg(a.slot), shape: a.shape, span },
            }),
            Resolved::Local(l) => {
                let EnvKind::Model(m) = env.kind else { unreachable!("model locals outside a model") };
                if m.phase == Phase::ParamInit && !matches!(l, Local::Net(_) | Local::Input) {
                    let what = match l {
                        Local::Time => "the time",
                        Local::Param(_) => "a param",
                        Local::State(_) => "a state",
                        _ => "a model value",
                    };
                    self.report(
                        err(
                            "E0309",
                            "this value must be known at compile time".into(),
                            &format!("`{name}` is {what}, known only when the model runs"),
                        )
                        .hint("param initial values and layer sizes may use numbers, `const`s and builtins"),
                    );
                    return None;
                }
                let state_init = m.phase == Phase::StateInit;
                match l {
                    Local::Time => Some(TExpr { kind: TKind::Time, shape: crate::ir::Shape::scalar(), span }),
                    Local::Param(i) => Some(TExpr { kind: TKind::Param(i), shape: m.param_shapes[i]?, span }),
                    Local::State(_) | Local::Let(_) if state_init => {
                        self.report(
                            err("E0406", format!("an initial state cannot use `{name}`"), "not available at t0")
                                .hint("a state's initial value may use `t`, params, nets and constants"),
                        );
                        None
                    }
                    Local::State(i) => {
                        let shape = m.state_shapes[i]?;
                        Some(TExpr { kind: TKind::State(i), shape, span })
                    }
                    Local::Let(i) => {
                        let v = m.lets[i].as_ref()?;
                        Some(match v.as_const() {
                            Some(c) => TExpr::constant(c.clone(), v.shape, span),
                            None => TExpr { kind: TKind::Let(i), shape: v.shape, span },
                        })
                    }
                    Local::Net(_) => {
                        self.report(
                            err("E0211", format!("net `{name}` is a function, not a value"), "used as a value")
                                .hint(format!("apply it: `{name}(x)`")),
                        );
                        None
                    }
                    Local::Input => {
                        self.path_as_value(name, span);
                        None
                    }
                }
            }
            Resolved::LossLocal(local) => match local {
                LossLocal::Value { index, shape, konst, mask } => {
                    let v = match konst {
                        Some(c) => TExpr::constant(c.clone(), *shape, span),
                        None => TExpr { kind: TKind::Let(*index), shape: *shape, span },
                    };
                    Some(consts::masked(v, mask.clone()))
                }
                LossLocal::Solution(_) => {
                    self.solution_as_value(name, span);
                    None
                }
                LossLocal::Failed => None,
            },
            Resolved::Def(Def::Data(_)) if !matches!(env.kind, EnvKind::Loss(_)) => {
                self.data_outside_loss(name, span);
                None
            }
            Resolved::Def(Def::Data(_)) => {
                self.report(
                    err("E0211", format!("`{name}` is a data set, not a value"), "used as a value")
                        .hint(format!("its times are `{name}.t` and its observed values `{name}.y`")),
                );
                None
            }
            Resolved::Def(Def::Loss(_)) => {
                self.report(err("E0211", format!("`{name}` is a loss, not a value"), "used as a value"));
                None
            }
            Resolved::Def(Def::Template(_)) => {
                self.report(err("E0211", format!("`{name}` is a model template, not a value"), "used as a value"));
                None
            }
            Resolved::Def(Def::Const(r)) => self.const_value(r, Some(span)),
            Resolved::Def(Def::Fn(_) | Def::Layer(_)) | Resolved::Builtin(_) => {
                self.report(
                    err("E0211", format!("`{name}` is a function, not a value"), "used as a value")
                        .hint(format!("call it: `{name}(...)`")),
                );
                None
            }
            Resolved::Def(Def::Model(_)) => {
                self.report(err("E0211", format!("`{name}` is a model, not a value"), "used as a value"));
                None
            }
            Resolved::Def(Def::Solver(_)) => {
                self.report(err("E0211", format!("`{name}` is a solver, not a value"), "used as a value"));
                None
            }
            Resolved::Init(_) => {
                self.report(
                    err("E0212", format!("initialiser `{name}` used outside a param declaration"), "not allowed here")
                        .hint(format!("initialisers set a parameter's initial value: `param W: [4, 2] = {name}`")),
                );
                None
            }
            Resolved::Unknown => {
                if let EnvKind::Model(m) = env.kind {
                    if m.phase == Phase::StateInit && m.all_lets.contains_key(name) {
                        self.report(
                            err("E0406", format!("an initial state cannot use `{name}`"), "not available at t0")
                                .hint("a state's initial value may use `t`, params, nets and constants"),
                        );
                        return None;
                    }
                }
                self.unknown_name(env, name, span);
                None
            }
        }
    }

    /// `base.name`: a net's parameter (`f.W1`), an input's channel count
    /// (`X.dim`), a data set's times or values (`obs.t`, `obs.y`), a
    /// solution's member (`sol.y`).
    fn field(&mut self, env: &Env, base: &'a Expr, name: &str, name_span: Span, span: Span) -> Option<TExpr> {
        if let Some(v) = self.loss_field(env, base, name, name_span, span) {
            return v;
        }
        if let ExprKind::Name(b) = &base.kind {
            if let Resolved::Local(Local::Input) = self.lookup(env, b) {
                return self.path_field(env, b, name, name_span, span);
            }
            if let (Resolved::Local(Local::Net(i)), EnvKind::Model(m)) = (self.lookup(env, b), &env.kind) {
                if m.phase == Phase::ParamInit {
                    self.report(
                        Diagnostic::error("E0309", "this value must be known at compile time", span)
                            .label(format!("`{b}.{name}` is a param, known only when the model runs")),
                    );
                    return None;
                }
                let net = m.nets.get(i)?.as_ref()?;
                let Some(&(_, p)) = net.fields.iter().find(|(f, _)| f == name) else {
                    let fields: Vec<&str> = net.fields.iter().map(|(f, _)| f.as_str()).collect();
                    self.report(
                        Diagnostic::error("E0315", format!("net `{b}` has no parameter `{name}`"), name_span)
                            .label("unknown field")
                            .hint(format!("its parameters are {}", fields.join(", "))),
                    );
                    return None;
                };
                return Some(TExpr { kind: TKind::Param(p), shape: m.param_shapes[p]?, span });
            }
        }
        let base_val = self.expr(env, base)?;
        let what = self.describe(base.span, "this value");
        self.report(
            Diagnostic::error("E0315", format!("`{what}` has no fields"), name_span)
                .label(format!("`{what}` is a {} tensor", base_val.shape))
                .hint("fields exist on nets (`f.W1`), data sets (`obs.y`) and solutions (`sol.y`)"),
        );
        None
    }
}
