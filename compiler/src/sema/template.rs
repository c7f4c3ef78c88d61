//! Model templates: `model lsde(n, hidden = 32) { ... }` declares a model
//! with compile-time parameters, and `model m = lsde(n = 4)` makes a model
//! of it (an *instance*), checked like any model with the parameters bound
//! to constants (E0420 for the arguments, E0421 for what cannot be
//! instantiated).
//!
//! A template is checked only through its instances, in its own module's
//! scope (so a stdlib template sees its own imports, not the user's); the
//! instance's arguments are evaluated in the instantiating file, the
//! defaults in the template's. Templates can be imported with `use`.
//!
//! Never: check a template without an instance, or let an instance's
//! arguments see the template's names.

use std::sync::Arc;

use crate::diag::Diagnostic;
use crate::syntax::ast::{InstanceItem, Item, Member, ModelItem};

use super::builtins::closest;
use super::checker::{ArgVal, Checker, Def, Env, EnvKind, ItemRef};
use super::tree::CheckedModel;

impl<'a> Checker<'a> {
    /// The template an instance names: its item and the module it lives in.
    /// Reports E0421 (and returns `None`) when the name is not a template.
    fn template_of(&mut self, module: usize, inst: &InstanceItem) -> Option<(ItemRef, &'a ModelItem)> {
        let name = &inst.template;
        let env = Env { module, kind: EnvKind::File };
        let what = match self.lookup(&env, &name.name) {
            super::checker::Resolved::Def(Def::Template(r)) => {
                let Item::Model(m) = self.item(r) else { unreachable!("a template is a model item") };
                return Some((r, m));
            }
            super::checker::Resolved::Def(Def::Model(_)) => "a model, not a template".to_string(),
            super::checker::Resolved::Unknown => "not defined".to_string(),
            _ => "not a model template".to_string(),
        };
        let mut d = Diagnostic::error("E0421", format!("`{}` is {what}", name.name), name.span)
            .label("instantiated here")
            .hint("a template declares its parameters after its name: `model lsde(n, hidden = 32) { ... }`");
        let templates: Vec<String> = self.scopes[module]
            .names
            .iter()
            .filter(|(_, e)| matches!(e.def, Def::Template(_)))
            .map(|(n, _)| n.clone())
            .collect();
        if let Some(s) = closest(&name.name, templates.iter().map(String::as_str)) {
            d = d.hint(format!("did you mean `{s}`?"));
        }
        self.report(d);
        None
    }

    /// Checks `model NAME = TEMPLATE(args)` of `module`: binds the
    /// template's parameters (named arguments, then defaults) and checks
    /// the template's body under the instance's name.
    pub(super) fn check_instance(&mut self, module: usize, inst: &'a InstanceItem) -> Option<CheckedModel> {
        let (tref, template) = self.template_of(module, inst)?;
        let params = template.template.as_deref().unwrap_or_default();
        let errors_before = self.diags.len();
        let mut values: Vec<Option<ArgVal>> = vec![None; params.len()];
        let here = Env { module, kind: EnvKind::File };
        for arg in &inst.args {
            let Some(name) = &arg.name else {
                self.report(
                    Diagnostic::error("E0420", "template arguments are named", arg.value.span)
                        .label("no parameter name")
                        .hint(format!("write `{} = ...`", params.first().map_or("n", |p| p.name.name.as_str()))),
                );
                continue;
            };
            let Some(i) = params.iter().position(|p| p.name.name == name.name) else {
                let mut d = Diagnostic::error(
                    "E0420",
                    format!("template `{}` has no parameter `{}`", inst.template.name, name.name),
                    name.span,
                )
                .label("unknown parameter")
                .with_secondary(template.name.span, "the template");
                if let Some(s) = closest(&name.name, params.iter().map(|p| p.name.name.as_str())) {
                    d = d.hint(format!("did you mean `{s}`?"));
                }
                self.report(d);
                continue;
            };
            if values[i].is_some() {
                self.report(
                    Diagnostic::error("E0420", format!("parameter `{}` is given twice", name.name), name.span)
                        .label("repeated"),
                );
                continue;
            }
            values[i] = self.template_value(&here, &name.name, &arg.value);
        }
        for (i, p) in params.iter().enumerate() {
            if values[i].is_some() {
                continue;
            }
            match &p.default {
                Some(default) => {
                    let there = Env { module: tref.module, kind: EnvKind::File };
                    values[i] = self.template_value(&there, &p.name.name, default);
                }
                None if self.diags.len() == errors_before => self.report(
                    Diagnostic::error(
                        "E0420",
                        format!("template `{}` needs a value for `{}`", inst.template.name, p.name.name),
                        inst.template.span,
                    )
                    .label(format!("`{}` missing", p.name.name))
                    .with_secondary(p.name.span, "declared without a default")
                    .hint(format!("pass it: `{}({} = ...)`", inst.template.name, p.name.name)),
                ),
                None => {}
            }
        }
        if let Some(span) = template.members.iter().find_map(|m| match m {
            Member::Input { span, .. } => Some(*span),
            _ => None,
        }) {
            self.report(
                Diagnostic::error("E0421", "a model template cannot declare an `input`", span)
                    .label("an input path reads a data set of the template's file")
                    .with_secondary(inst.name.span, "instantiated here")
                    .hint("write the controlled model in your file; templates hold ODE and SDE models"),
            );
        }
        if self.diags.len() > errors_before {
            return None;
        }
        let args = values.into_iter().collect::<Option<Vec<_>>>()?;
        self.check_model_as(tref.module, template, &inst.name, args)
    }

    /// A template argument or default: a compile-time value.
    fn template_value(&mut self, env: &Env, name: &str, value: &'a crate::syntax::ast::Expr) -> Option<ArgVal> {
        let v = self.expr(env, value)?;
        let v = self.require_const(v, "a template argument")?;
        let values: Arc<[f64]> = v.as_const()?.clone();
        Some(ArgVal { name: name.to_string(), shape: v.shape, value: Some(values), slot: 0 })
    }
}
