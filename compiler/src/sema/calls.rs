//! Calls: what a callee resolves to (builtin, user fn, net), argument
//! binding (E0204, E0205, E0207), builtin shape rules (E0310, E0311), and
//! user fn instantiation — a fn is checked once per distinct tuple of
//! argument shapes (and compile-time argument values) and inlined.

use std::sync::Arc;

use crate::diag::Diagnostic;
use crate::ir::{BinaryOp, Shape};
use crate::span::Span;
use crate::syntax::ast::{Arg, Expr, ExprKind};

use super::builtins::{Builtin, MAX_CALL_DEPTH, MAX_ELEMENTS, MAX_FN_INSTANCES};
use super::checker::{ArgVal, Checker, Def, Env, EnvKind, InstKey, ItemRef, Local, LossLocal, Phase, Resolved};
use super::consts;
use super::shapes::elementwise_ok;
use super::tree::{TExpr, TKind};

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

impl<'a> Checker<'a> {
    /// Checks every argument (for their own errors) and returns nothing:
    /// used when the callee itself is wrong.
    fn check_args_only(&mut self, env: &Env, args: &'a [Arg]) {
        for a in args {
            self.expr(env, &a.value);
        }
    }

    /// E0205.
    pub fn arg_count(&mut self, name: &str, want: usize, got: usize, span: Span) {
        self.report(Diagnostic::error("E0205", format!("wrong number of arguments to `{name}`"), span).label(format!(
            "`{name}` takes {want} argument{} but {got} {} given",
            plural(want),
            if got == 1 { "was" } else { "were" }
        )));
    }

    /// E0207 for every named argument (for callees that take none).
    fn no_named_args(&mut self, name: &str, args: &[Arg]) -> bool {
        let mut ok = true;
        for a in args {
            if let Some(n) = &a.name {
                self.report(
                    Diagnostic::error("E0207", format!("`{name}` has no argument named `{}`", n.name), n.span)
                        .label("unknown named argument")
                        .hint(format!("pass it by position: `{name}(...)`")),
                );
                ok = false;
            }
        }
        ok
    }

    /// `callee(args)`.
    pub fn call(&mut self, env: &Env, callee: &'a Expr, args: &'a [Arg], span: Span) -> Option<TExpr> {
        let name = match &callee.kind {
            ExprKind::Name(n) => n,
            ExprKind::Call { .. } => {
                // Not checking the inner call: it is a layer constructor
                // (reported below) or a mistake this message covers.
                self.check_args_only(env, args);
                self.report(
                    Diagnostic::error("E0212", "a layer must be declared before it is applied", span)
                        .label("anonymous layer")
                        .hint("declare it in the model, `net g = linear(2 -> 3)`, then call `g(x)`"),
                );
                return None;
            }
            _ => {
                let v = self.expr(env, callee);
                self.check_args_only(env, args);
                if let Some(v) = v {
                    let what = self.describe(callee.span, "this expression");
                    self.report(
                        Diagnostic::error("E0204", format!("`{what}` is not a function"), callee.span)
                            .label(format!("a {} tensor", v.shape)),
                    );
                }
                return None;
            }
        };
        let not_fn = |this: &mut Self, what: &str| {
            this.report(
                Diagnostic::error("E0204", format!("`{name}` is not a function"), callee.span)
                    .label(format!("`{name}` is {what}")),
            );
        };
        match self.lookup(env, name) {
            Resolved::Local(Local::Net(i)) => {
                let EnvKind::Model(m) = env.kind else { unreachable!("nets live in models") };
                match m.nets.get(i).and_then(Option::as_ref) {
                    Some(net) if m.phase != Phase::ParamInit => self.apply_net(env, net, args, span),
                    Some(_) | None if m.phase == Phase::ParamInit => {
                        self.check_args_only(env, args);
                        self.report(
                            Diagnostic::error("E0309", "this value must be known at compile time", span)
                                .label(format!("`{name}` is a net, applied only when the model runs")),
                        );
                        None
                    }
                    _ => {
                        self.check_args_only(env, args);
                        None
                    }
                }
            }
            Resolved::Local(Local::Input) => self.path_call(env, name, args, span),
            Resolved::Def(Def::Fn(r)) => self.call_fn(env, r, args, span),
            Resolved::Builtin(b) => self.call_builtin(env, name, b, args, span),
            Resolved::Unknown => {
                self.unknown_name(env, name, callee.span);
                self.check_args_only(env, args);
                None
            }
            other => {
                self.check_args_only(env, args);
                match other {
                    Resolved::Init(_) => self.report(
                        Diagnostic::error(
                            "E0212",
                            format!("initialiser `{name}` used outside a param declaration"),
                            span,
                        )
                        .label("not allowed here")
                        .hint(format!("initialisers set a parameter's initial value: `param w: [4] = {name}(0.1)`")),
                    ),
                    Resolved::Def(Def::Layer(_)) => self.report(
                        Diagnostic::error("E0212", format!("layer constructor `{name}` used in an expression"), span)
                            .label("layers are declared, not called inline")
                            .hint(format!("declare it in the model: `net f = {name}(...)`, then apply `f(x)`")),
                    ),
                    Resolved::Arg(_) => not_fn(self, "a fn argument"),
                    Resolved::Local(Local::Time) => not_fn(self, "the time"),
                    Resolved::Local(Local::Param(_)) => not_fn(self, "a param"),
                    Resolved::Local(Local::State(_)) => not_fn(self, "a state"),
                    Resolved::Local(Local::Let(_)) => not_fn(self, "a `let` value"),
                    Resolved::LossLocal(LossLocal::Solution(_)) => not_fn(self, "a solution"),
                    Resolved::LossLocal(_) => not_fn(self, "a `let` value"),
                    Resolved::Def(Def::Data(_)) => not_fn(self, "a data set"),
                    Resolved::Def(Def::Loss(_)) => not_fn(self, "a loss"),
                    Resolved::Def(Def::Const(_)) => not_fn(self, "a `const`"),
                    Resolved::Def(Def::Model(_)) => not_fn(self, "a model"),
                    Resolved::Def(Def::Template(_)) => not_fn(self, "a model template"),
                    Resolved::Def(Def::Solver(_)) => not_fn(self, "a solver"),
                    _ => unreachable!("handled above"),
                }
                None
            }
        }
    }

    /// A user fn call: binds arguments by position and name, then inlines.
    fn call_fn(&mut self, env: &Env, r: ItemRef, args: &'a [Arg], span: Span) -> Option<TExpr> {
        let f = self.fn_item(r);
        let fname = &f.name.name;
        let mut bound: Vec<Option<usize>> = vec![None; f.params.len()];
        let mut ok = true;
        let mut positional = 0;
        for (k, a) in args.iter().enumerate() {
            match &a.name {
                None => {
                    if positional < bound.len() {
                        if bound[positional].is_some() {
                            let p = &f.params[positional].name;
                            self.report(
                                Diagnostic::error("E0207", format!("argument `{p}` is given twice"), a.value.span)
                                    .label(format!("`{p}` is already given by name")),
                            );
                            ok = false;
                        }
                        bound[positional] = Some(k);
                    }
                    positional += 1;
                }
                Some(n) => match f.params.iter().position(|p| p.name == n.name) {
                    Some(i) if bound[i].is_none() => bound[i] = Some(k),
                    Some(_) => {
                        self.report(
                            Diagnostic::error("E0207", format!("argument `{}` is given twice", n.name), n.span)
                                .label("already given"),
                        );
                        ok = false;
                    }
                    None => {
                        let params: Vec<&str> = f.params.iter().map(|p| p.name.as_str()).collect();
                        self.report(
                            Diagnostic::error("E0207", format!("`{fname}` has no argument named `{}`", n.name), n.span)
                                .label("unknown named argument")
                                .hint(format!("`{fname}` takes ({})", params.join(", "))),
                        );
                        ok = false;
                    }
                },
            }
        }
        let vals: Vec<Option<TExpr>> = args.iter().map(|a| self.expr(env, &a.value)).collect();
        if positional > f.params.len() || (ok && bound.iter().any(Option::is_none)) {
            self.arg_count(fname, f.params.len(), args.len(), span);
            return None;
        }
        if !ok {
            return None;
        }
        // Arguments in parameter order.
        let mut ordered = Vec::with_capacity(bound.len());
        for b in &bound {
            ordered.push(vals[b.expect("every parameter bound")].clone()?);
        }
        if let Some(a) = ordered.iter().find(|a| consts::is_masked(a)) {
            let span = a.span;
            self.masked_operand(&format!("a call of `{fname}`"), span);
            return None;
        }
        self.instantiate(r, ordered, span)
    }

    /// The body of fn `r` for these arguments, inlined at `span`.
    pub fn instantiate(&mut self, r: ItemRef, args: Vec<TExpr>, span: Span) -> Option<TExpr> {
        if self.recursive.contains(&r) {
            return None;
        }
        let key: InstKey = (
            r,
            args.iter().map(|a| (a.shape, a.as_const().map(|v| v.iter().map(|x| x.to_bits()).collect()))).collect(),
        );
        let body = match self.instances.get(&key) {
            Some(b) => b.clone(),
            None => {
                if self.call_stack.iter().any(|&(g, _)| g == r) {
                    // Only reachable through a cycle the call graph missed.
                    self.recursive.insert(r);
                    return None;
                }
                if self.instances.len() >= MAX_FN_INSTANCES {
                    // Each distinct tuple of constant arguments is its own
                    // instance, so constant-folded call chains can need
                    // exponentially many: stop before compile time explodes.
                    if !self.instance_budget_hit {
                        self.instance_budget_hit = true;
                        self.report(
                            Diagnostic::error("E0407", "too much compile-time work in fn calls", span)
                                .label(format!("checking this call needs more than {MAX_FN_INSTANCES} fn instances"))
                                .hint("each call with different constant arguments is specialised; pass a runtime value or simplify the chain of calls"),
                        );
                    }
                    return None;
                }
                if self.call_stack.len() >= MAX_CALL_DEPTH {
                    let name = &self.fn_item(r).name.name;
                    self.report(
                        Diagnostic::error("E0206", "fn calls nested too deeply", span)
                            .label(format!("this call of `{name}` is {MAX_CALL_DEPTH} calls deep"))
                            .hint("fns are inlined; flatten the chain of calls"),
                    );
                    return None;
                }
                let f = self.fn_item(r);
                let mut slot = 0;
                let vals: Vec<ArgVal> = f
                    .params
                    .iter()
                    .zip(&args)
                    .map(|(p, a)| {
                        let value = a.as_const().cloned();
                        let s = slot;
                        if value.is_none() {
                            slot += 1;
                        }
                        ArgVal { name: p.name.clone(), shape: a.shape, value, slot: s }
                    })
                    .collect();
                self.call_stack.push((r, span));
                let env = Env { module: r.module, kind: EnvKind::Fn(&vals) };
                let body = self.expr(&env, &f.body).map(Arc::new);
                self.call_stack.pop();
                self.instances.insert(key, body.clone());
                body
            }
        }?;
        let runtime: Vec<TExpr> = args.into_iter().filter(|a| a.as_const().is_none()).collect();
        Some(match body.as_const() {
            Some(v) => TExpr::constant(v.clone(), body.shape, span),
            None if runtime.is_empty() => TExpr { span, ..(*body).clone() },
            None => TExpr { shape: body.shape, kind: TKind::Inline { body, args: runtime }, span },
        })
    }

    /// A builtin call.
    fn call_builtin(&mut self, env: &Env, name: &str, b: Builtin, args: &'a [Arg], span: Span) -> Option<TExpr> {
        match b {
            Builtin::Reshape => return self.reshape(env, args, span),
            Builtin::Solve => return self.solve_as_value(env, args, span),
            Builtin::Huber => return self.huber(env, args, span),
            Builtin::Load | Builtin::Generate => {
                self.data_source_misplaced(name, span);
                return None;
            }
            _ => {}
        }
        let named_ok = self.no_named_args(name, args);
        let vals: Vec<Option<TExpr>> = args.iter().map(|a| self.expr(env, &a.value)).collect();
        let want = match b {
            Builtin::Pow
            | Builtin::Min
            | Builtin::Max
            | Builtin::Mse
            | Builtin::Mae
            | Builtin::CrossEntropy
            | Builtin::Accuracy => Some(2),
            Builtin::Linspace => Some(3),
            Builtin::Concat => None,
            _ => Some(1),
        };
        match want {
            Some(n) if n != args.len() => {
                self.arg_count(name, n, args.len(), span);
                return None;
            }
            None if args.is_empty() => {
                self.report(
                    Diagnostic::error("E0205", "`concat` needs at least one argument", span).label("nothing to join"),
                );
                return None;
            }
            _ => {}
        }
        if !named_ok {
            return None;
        }
        let mut vals: Vec<TExpr> = vals.into_iter().collect::<Option<_>>()?;
        let one = |v: &mut Vec<TExpr>| v.pop().expect("one argument");
        Some(match b {
            Builtin::Unary(op) => consts::unary(op, one(&mut vals), span),
            Builtin::Pow | Builtin::Min | Builtin::Max => {
                let y = vals.pop().expect("two arguments");
                let x = vals.pop().expect("two arguments");
                if !elementwise_ok(x.shape, y.shape) {
                    self.report(
                        Diagnostic::error("E0302", format!("shape mismatch in `{name}`"), span)
                            .label(format!("the arguments are {} and {}", x.shape, y.shape))
                            .hint("elementwise operands need equal shapes, or one of them a scalar"),
                    );
                    return None;
                }
                let op = match b {
                    Builtin::Pow => BinaryOp::Pow,
                    Builtin::Min => BinaryOp::Min,
                    _ => BinaryOp::Max,
                };
                self.elementwise(op, x, y, span)
            }
            Builtin::Sum => consts::sum_observed(one(&mut vals), span),
            Builtin::Mean => consts::mean(one(&mut vals), span),
            Builtin::Norm => consts::norm(one(&mut vals), span),
            Builtin::Transpose => consts::transpose(one(&mut vals), span),
            Builtin::Concat => return self.concat(vals, args, span),
            Builtin::Mse | Builtin::Mae => {
                let y = vals.pop().expect("two arguments");
                let x = vals.pop().expect("two arguments");
                return self.mean_error(name, b == Builtin::Mse, x, y, span);
            }
            Builtin::CrossEntropy => {
                let target = vals.pop().expect("two arguments");
                let logits = vals.pop().expect("two arguments");
                return self.cross_entropy(logits, target, args, span);
            }
            Builtin::Accuracy => {
                let target = vals.pop().expect("two arguments");
                let logits = vals.pop().expect("two arguments");
                return self.accuracy(logits, target, args, span);
            }
            Builtin::Linspace => return self.linspace(vals, args, span),
            Builtin::Reshape | Builtin::Solve | Builtin::Huber | Builtin::Load | Builtin::Generate => {
                unreachable!("handled above")
            }
        })
    }

    /// `concat(a, b, ...)` along axis 0; scalars count as length-1 vectors.
    fn concat(&mut self, vals: Vec<TExpr>, args: &'a [Arg], span: Span) -> Option<TExpr> {
        if let Some(v) = vals.iter().find(|v| consts::is_masked(v)) {
            self.masked_operand("`concat`", v.span);
            return None;
        }
        let vals: Vec<TExpr> = vals
            .into_iter()
            .map(|v| if v.shape.is_scalar() { consts::reshape(v.clone(), Shape::vector(1), v.span) } else { v })
            .collect();
        let first = vals[0].shape;
        for (v, a) in vals.iter().zip(args) {
            let fits = v.shape.rank() == first.rank() && (first.rank() == 1 || v.shape.dim(1) == first.dim(1));
            if !fits {
                let expected = match first.dims() {
                    [_] => "a vector or scalar".to_string(),
                    [_, n] => format!("a matrix with {n} columns"),
                    _ => unreachable!("scalars were promoted"),
                };
                self.report(
                    Diagnostic::error("E0310", "cannot concatenate these shapes", a.value.span)
                        .label(format!("expected {expected} like the first argument, found {}", v.shape))
                        .hint("`concat` joins along the first axis"),
                );
                return None;
            }
        }
        Some(consts::concat(vals, 0, span))
    }

    /// `reshape(x, [m, n])`.
    fn reshape(&mut self, env: &Env, args: &'a [Arg], span: Span) -> Option<TExpr> {
        let named_ok = self.no_named_args("reshape", args);
        if args.len() != 2 {
            self.check_args_only(env, args);
            self.arg_count("reshape", 2, args.len(), span);
            return None;
        }
        let x = self.expr(env, &args[0].value);
        let target = &args[1].value;
        let dims: Option<Vec<i64>> = match &target.kind {
            ExprKind::Array(items) if items.is_empty() => Some(vec![]),
            _ => self.expr(env, target).and_then(|t| match (t.as_const(), t.shape.rank()) {
                (Some(v), 1) if v.iter().all(|d| d.fract() == 0.0) => Some(v.iter().map(|&d| d as i64).collect()),
                _ => {
                    self.report(
                        Diagnostic::error("E0311", "reshape needs a constant shape", target.span)
                            .label("expected a list of whole numbers, like `[2, 3]`"),
                    );
                    None
                }
            }),
        };
        let (x, dims) = (x?, dims?);
        if !named_ok {
            return None;
        }
        let shape = match dims
            .iter()
            .map(|&d| usize::try_from(d).ok().filter(|&d| d > 0 && d <= MAX_ELEMENTS))
            .collect::<Option<Vec<_>>>()
        {
            Some(d) => Shape::from_dims(&d),
            None => None,
        };
        let Some(shape) = shape else {
            self.report(
                Diagnostic::error("E0311", "invalid reshape target", target.span)
                    .label("a shape has at most 2 axes, each at least 1"),
            );
            return None;
        };
        if consts::is_masked(&x) {
            self.masked_operand("`reshape`", x.span);
            return None;
        }
        if shape.len() != x.shape.len() {
            self.report(Diagnostic::error("E0311", "reshape changes the number of elements", span).label(format!(
                "{} has {} elements but {shape} has {}",
                x.shape,
                x.shape.len(),
                shape.len()
            )));
            return None;
        }
        Some(consts::reshape(x, shape, span))
    }
}
