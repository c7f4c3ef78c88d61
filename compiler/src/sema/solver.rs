//! Checking `solver NAME = method(options)`: the method (E0501), option
//! names (E0502, E0504) and values (E0503), into an [`ir::SolverSpec`];
//! and the `with = ...` argument of `generate` and `solve`, which names a
//! solver or configures one inline.

use crate::diag::Diagnostic;
use crate::ir::SolverSpec;
use crate::span::Span;
use crate::syntax::ast::{Arg, Expr, ExprKind, Ident, SolverItem};

use super::builtins::{closest, SOLVER_METHODS, SOLVER_OPTIONS};
use super::checker::{Checker, Def, Env, EnvKind, Resolved};

impl<'a> Checker<'a> {
    /// Checks a solver declared in module `module`; `None` if it has errors.
    pub fn check_solver(&mut self, module: usize, s: &'a SolverItem) -> Option<SolverSpec> {
        self.solver_spec(module, &s.name.name, &s.method, &s.args)
    }

    /// `with = NAME` (a `solver` of this file), `with = method(options)` or
    /// `with = method`; `None` after an error. `what` names the call for
    /// messages (`generate`, `solve`).
    pub fn solver_arg(&mut self, module: usize, value: &'a Expr, what: &str) -> Option<SolverSpec> {
        let (method, args): (Ident, &'a [Arg]) = match &value.kind {
            ExprKind::Name(n) => {
                match self.lookup(&Env { module, kind: EnvKind::File }, n) {
                    Resolved::Def(Def::Solver(r)) => return self.solvers.get(&r).cloned(),
                    _ if SOLVER_METHODS.contains(&n.as_str()) => {}
                    Resolved::Unknown => {
                        let mut d = Diagnostic::error("E0202", format!("unknown solver `{n}`"), value.span)
                            .label("not a solver of this file or a solver method");
                        let names = self.solver_names(module);
                        let candidates = names.iter().map(String::as_str).chain(SOLVER_METHODS.iter().copied());
                        if let Some(s) = closest(n, candidates) {
                            d = d.hint(format!("did you mean `{s}`?"));
                        }
                        self.report(d);
                        return None;
                    }
                    _ => {
                        self.not_a_solver(value.span, what, &format!("`{n}` is not a solver"));
                        return None;
                    }
                }
                (Ident { name: n.clone(), span: value.span }, &[])
            }
            ExprKind::Call { callee, args } => {
                match &callee.kind {
                    ExprKind::Name(n) => {
                        if let Resolved::Def(Def::Solver(_)) = self.lookup(&Env { module, kind: EnvKind::File }, n) {
                            self.report(
                            Diagnostic::error("E0713", format!("solver `{n}` is already configured"), value.span)
                                .label("a declared solver takes no options here")
                                .hint(format!("write `with = {n}`, or configure a method inline: `with = dopri5(rtol = 1e-6)`")),
                        );
                            return None;
                        }
                        (Ident { name: n.clone(), span: callee.span }, args.as_slice())
                    }
                    _ => {
                        self.not_a_solver(value.span, what, "not a solver");
                        return None;
                    }
                }
            }
            _ => {
                self.not_a_solver(value.span, what, "not a solver");
                return None;
            }
        };
        let name = method.name.clone();
        self.solver_spec(module, &name, &method, args)
    }

    fn not_a_solver(&mut self, span: Span, what: &str, label: &str) {
        let code = if what == "generate" { "E0710" } else { "E0713" };
        self.report(
            Diagnostic::error(code, format!("`with` of `{what}` must be a solver"), span)
                .label(label.to_string())
                .hint("name a `solver` of this file, or configure one inline: `with = dopri5(rtol = 1e-6)`"),
        );
    }

    /// The names of the `solver`s declared in `module`, sorted.
    fn solver_names(&self, module: usize) -> Vec<String> {
        let mut names: Vec<String> = self.scopes[module]
            .names
            .iter()
            .filter(|(_, e)| matches!(e.def, Def::Solver(_)))
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names
    }

    /// Checks `method(args)` as the solver called `name`.
    fn solver_spec(&mut self, module: usize, name: &str, method: &Ident, args: &'a [Arg]) -> Option<SolverSpec> {
        let mut ok = true;
        let method_span = method.span;
        let method = method.name.as_str();
        if !SOLVER_METHODS.contains(&method) {
            let mut d = Diagnostic::error("E0501", format!("unknown solver method `{method}`"), method_span)
                .label("not a solver method");
            if let Some(m) = closest(method, SOLVER_METHODS.iter().copied()) {
                d = d.hint(format!("did you mean `{m}`?"));
            }
            self.report(d.hint(format!("methods: {}", SOLVER_METHODS.join(", "))));
            ok = false;
        }
        let env = Env { module, kind: EnvKind::File };
        let mut options: Vec<(String, f64)> = Vec::new();
        for a in args {
            let value = self.expr(&env, &a.value);
            let Some(name) = &a.name else {
                self.report(
                    Diagnostic::error("E0502", "solver options are named", a.value.span)
                        .label("positional option")
                        .hint(format!("write `option = value`; options: {}", SOLVER_OPTIONS.join(", "))),
                );
                ok = false;
                continue;
            };
            if !SOLVER_OPTIONS.contains(&name.name.as_str()) {
                let mut d = Diagnostic::error("E0502", format!("unknown solver option `{}`", name.name), name.span)
                    .label("not a solver option");
                if let Some(o) = closest(&name.name, SOLVER_OPTIONS.iter().copied()) {
                    d = d.hint(format!("did you mean `{o}`?"));
                }
                self.report(d.hint(format!("options: {}", SOLVER_OPTIONS.join(", "))));
                ok = false;
                continue;
            }
            if options.iter().any(|(n, _)| *n == name.name) {
                self.report(
                    Diagnostic::error("E0504", format!("option `{}` is set twice", name.name), name.span)
                        .label("set again here"),
                );
                ok = false;
                continue;
            }
            let Some(v) = value else {
                ok = false;
                continue;
            };
            let x = v.as_const().filter(|_| v.shape.is_scalar()).map(|c| c[0]);
            let problem = match x {
                None if v.as_const().is_none() => Some("not known at compile time".to_string()),
                None => Some(format!("a {} tensor, not a number", v.shape)),
                Some(x) if !x.is_finite() || x <= 0.0 => Some(format!("{x} is not a positive finite number")),
                Some(x) if name.name == "max_steps" && (x.fract() != 0.0 || x > 9.0e15) => {
                    Some(format!("{x} is not a whole number"))
                }
                Some(_) => None,
            };
            match (problem, x) {
                (Some(why), _) => {
                    self.report(
                        Diagnostic::error("E0503", format!("invalid value for `{}`", name.name), a.value.span)
                            .label(why)
                            .hint(if name.name == "max_steps" {
                                "`max_steps` is a positive whole number"
                            } else {
                                "tolerances and step sizes are positive constants"
                            }),
                    );
                    ok = false;
                }
                (None, Some(x)) => options.push((name.name.clone(), x)),
                (None, None) => unreachable!("no problem implies a value"),
            }
        }
        ok.then(|| SolverSpec { name: name.to_string(), method: method.to_string(), options })
    }
}
