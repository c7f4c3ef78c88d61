//! Checking `solver NAME = method(options)`: the method (E0501), option
//! names (E0502, E0504) and values (E0503), into an [`ir::SolverSpec`].

use crate::diag::Diagnostic;
use crate::ir::SolverSpec;
use crate::syntax::ast::SolverItem;

use super::builtins::{closest, SOLVER_METHODS, SOLVER_OPTIONS};
use super::checker::{Checker, Env, EnvKind};

impl<'a> Checker<'a> {
    /// Checks a solver declared in module `module`; `None` if it has errors.
    pub fn check_solver(&mut self, module: usize, s: &'a SolverItem) -> Option<SolverSpec> {
        let mut ok = true;
        let method = s.method.name.as_str();
        if !SOLVER_METHODS.contains(&method) {
            let mut d = Diagnostic::error("E0501", format!("unknown solver method `{method}`"), s.method.span)
                .label("not a solver method");
            if let Some(m) = closest(method, SOLVER_METHODS.iter().copied()) {
                d = d.hint(format!("did you mean `{m}`?"));
            }
            self.report(d.hint(format!("methods: {}", SOLVER_METHODS.join(", "))));
            ok = false;
        }
        let env = Env { module, kind: EnvKind::File };
        let mut options: Vec<(String, f64)> = Vec::new();
        for a in &s.args {
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
        ok.then(|| SolverSpec { name: s.name.name.clone(), method: method.to_string(), options })
    }
}
