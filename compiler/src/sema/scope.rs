//! File-level names: each module's items and imports, the E0202 "unknown
//! name" report with its suggestions, the recursion check over fn calls, and
//! the evaluation of `const` items.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::diag::Diagnostic;
use crate::ir::Shape;
use crate::span::{FileId, Span};
use crate::stdlib;
use crate::syntax::ast::{self, Expr, ExprKind, IndexArg, Item};

use super::builtins::{self, closest, MAX_ELEMENTS};
use super::checker::{ArgVal, Checker, ConstSlot, Def, Entry, Env, EnvKind, ItemRef, Resolved};
use super::consts;
use super::tree::TExpr;
use super::ModuleOrigin;

/// The names each stdlib module exports (its fns, consts and intrinsics),
/// for "`mlp` is in std.nn" hints. Parsed once per process.
fn std_exports() -> &'static [(&'static str, Vec<String>)] {
    static EXPORTS: OnceLock<Vec<(&'static str, Vec<String>)>> = OnceLock::new();
    EXPORTS.get_or_init(|| {
        stdlib::MODULES
            .iter()
            .map(|m| {
                let mut names: Vec<String> = m.intrinsics.iter().map(|s| s.to_string()).collect();
                if let Ok(module) = crate::syntax::parse(m.source, FileId::DETACHED) {
                    names.extend(module.items.iter().filter_map(|it| match it {
                        Item::Fn(f) => Some(f.name.name.clone()),
                        Item::Const(c) => Some(c.name.name.clone()),
                        _ => None,
                    }));
                }
                (m.path, names)
            })
            .collect()
    })
}

/// Makes the [`Def`] of an item from its reference.
type MakeDef = fn(ItemRef) -> Def;

/// The name of an item that can be defined at file level.
fn item_name(item: &Item) -> Option<(&ast::Ident, MakeDef)> {
    match item {
        Item::Const(c) => Some((&c.name, Def::Const)),
        Item::Fn(f) => Some((&f.name, Def::Fn)),
        Item::Model(m) if m.template.is_some() => Some((&m.name, Def::Template)),
        Item::Model(m) => Some((&m.name, Def::Model)),
        Item::Instance(i) => Some((&i.name, Def::Model)),
        Item::Solver(s) => Some((&s.name, Def::Solver)),
        Item::Data(d) => Some((&d.name, Def::Data)),
        Item::Loss(l) => Some((&l.name, Def::Loss)),
        Item::Use(_) | Item::Train(_) => None,
    }
}

impl<'a> Checker<'a> {
    /// How a module is named in messages.
    pub fn module_name(&self, module: usize) -> String {
        match &self.modules[module].origin {
            ModuleOrigin::Root => {
                self.sources.get(self.modules[module].file).map_or_else(|| "this file".to_string(), |f| f.name.clone())
            }
            ModuleOrigin::Std(m) => m.path.to_string(),
            ModuleOrigin::File(path) => format!("\"{path}\""),
        }
    }

    /// Reports a definition of a reserved name (E0203) and says whether it was one.
    pub fn check_reserved(&mut self, name: &ast::Ident) -> bool {
        let Some(kind) = builtins::reserved_kind(&name.name) else {
            return false;
        };
        self.report(
            Diagnostic::error("E0203", format!("`{}` is {kind} and cannot be redefined", name.name), name.span)
                .label("reserved name")
                .hint("choose another name"),
        );
        true
    }

    /// Builds every module's scope: first their own items, then their imports.
    pub fn build_scopes(&mut self) {
        for m in 0..self.modules.len() {
            if let ModuleOrigin::Std(std) = &self.modules[m].origin {
                for &name in std.intrinsics {
                    if let Some(layer) = builtins::layer(name) {
                        let entry = Entry { def: Def::Layer(layer), span: Span::detached(), imported: false };
                        self.scopes[m].names.insert(name.to_string(), entry);
                    }
                }
            }
            for (i, item) in self.modules[m].ast.items.iter().enumerate() {
                let Some((name, def)) = item_name(item) else { continue };
                if self.check_reserved(name) {
                    continue;
                }
                self.define(m, name, def(ItemRef { module: m, item: i }), false);
            }
        }
        for m in 0..self.modules.len() {
            let uses = self.modules[m].ast.items.iter().filter_map(|it| match it {
                Item::Use(u) => Some(u),
                _ => None,
            });
            for (k, u) in uses.enumerate() {
                let Some(Some(target)) = self.modules[m].uses.get(k).copied() else { continue };
                for name in &u.names {
                    self.import(m, target, name);
                }
            }
        }
    }

    /// Adds a name to module `m`'s scope (E0201 when taken).
    fn define(&mut self, m: usize, name: &ast::Ident, def: Def, imported: bool) {
        if let Some(prev) = self.scopes[m].names.get(&name.name) {
            let prev_span = prev.span;
            let what = if imported { "imported" } else { "defined" };
            let mut d = Diagnostic::error("E0201", format!("`{}` is defined more than once", name.name), name.span)
                .label(format!("`{}` {what} again here", name.name));
            if !prev_span.is_detached() {
                d = d.with_secondary(prev_span, "first defined here");
            }
            self.report(d.hint("rename one of them"));
            return;
        }
        self.scopes[m].names.insert(name.name.clone(), Entry { def, span: name.span, imported });
    }

    /// `use target.{name}` in module `m`.
    fn import(&mut self, m: usize, target: usize, name: &ast::Ident) {
        let own = |e: &&Entry| !e.imported;
        match self.scopes[target].names.get(&name.name).filter(own).map(|e| e.def) {
            Some(def @ (Def::Const(_) | Def::Fn(_) | Def::Layer(_) | Def::Template(_))) => {
                self.define(m, name, def, true)
            }
            Some(Def::Model(_) | Def::Solver(_) | Def::Data(_) | Def::Loss(_)) => {
                let module = self.module_name(target);
                self.report(
                    Diagnostic::error("E0209", format!("`{}` in {module} cannot be imported", name.name), name.span)
                        .label("a model, solver, data set or loss")
                        .hint("only `fn`s, `const`s, layers and model templates can be imported"),
                );
            }
            None => {
                let module = self.module_name(target);
                let mut names: Vec<&str> =
                    self.scopes[target].names.iter().filter(|(_, e)| !e.imported).map(|(n, _)| n.as_str()).collect();
                names.sort();
                let mut d =
                    Diagnostic::error("E0209", format!("`{}` is not defined in {module}", name.name), name.span)
                        .label(format!("not in {module}"));
                if let Some(s) = closest(&name.name, names.iter().copied()) {
                    d = d.hint(format!("did you mean `{s}`?"));
                }
                if !names.is_empty() {
                    d = d.hint(format!("{module} defines: {}", names.join(", ")));
                }
                self.report(d);
            }
        }
    }

    /// E0202 for `name` at `span`, with suggestions.
    pub fn unknown_name(&mut self, env: &Env, name: &str, span: Span) {
        let mut d = Diagnostic::error("E0202", format!("unknown name `{name}`"), span).label("not found in this scope");
        let all_lets = match env.kind {
            EnvKind::Model(m) => Some(&m.all_lets),
            EnvKind::Loss(l) => Some(&l.all_lets),
            _ => None,
        };
        if let Some(lets) = all_lets {
            if let Some(&def) = lets.get(name) {
                let line = self.line_of(def);
                d = d.hint(format!("`{name}` is defined later, on line {line}; a `let` is visible only after it"));
                self.report(d);
                return;
            }
        }
        if name == "t" && matches!(env.kind, EnvKind::Loss(_)) {
            d = d.hint("a loss has no time `t`: the save times are `DATA.t` (or `sol.t`)");
        } else if name == "t" {
            d = d.hint("the time `t` is in scope only inside a model; pass it to a fn as an argument");
        } else if let Some((module, _)) = std_exports().iter().find(|(_, names)| names.iter().any(|n| n == name)) {
            d = d.hint(format!("`{name}` is in {module}: add `use {module}.{{{name}}}`"));
        } else {
            let names = self.visible_names(env);
            if let Some(s) = closest(name, names.iter().map(String::as_str)) {
                d = d.hint(format!("did you mean `{s}`?"));
            }
        }
        self.report(d);
    }

    /// Reports unknown names in every fn body and fn recursion (E0206).
    pub fn check_fn_bodies(&mut self) {
        let mut calls: HashMap<ItemRef, Vec<ItemRef>> = HashMap::new();
        let mut fns = Vec::new();
        for m in 0..self.modules.len() {
            for (i, item) in self.modules[m].ast.items.iter().enumerate() {
                let Item::Fn(f) = item else { continue };
                let r = ItemRef { module: m, item: i };
                fns.push(r);
                let mut seen = HashMap::new();
                for p in &f.params {
                    if self.check_reserved(p) {
                        continue;
                    }
                    if let Some(&first) = seen.get(&p.name) {
                        self.report(
                            Diagnostic::error("E0201", format!("parameter `{}` is declared twice", p.name), p.span)
                                .label("declared again here")
                                .with_secondary(first, "first declared here"),
                        );
                    }
                    seen.insert(p.name.clone(), p.span);
                }
                let args: Vec<ArgVal> = f
                    .params
                    .iter()
                    .map(|p| ArgVal { name: p.name.clone(), shape: Shape::scalar(), value: None, slot: 0 })
                    .collect();
                let env = Env { module: m, kind: EnvKind::Fn(&args) };
                let mut out = Vec::new();
                self.walk_names(&env, &f.body, &mut out);
                calls.insert(r, out);
            }
        }
        // Depth-first search for cycles, fns in source order.
        let mut done = std::collections::HashSet::new();
        for &start in &fns {
            let mut stack = Vec::new();
            self.find_cycles(start, &calls, &mut stack, &mut done);
        }
    }

    fn find_cycles(
        &mut self,
        f: ItemRef,
        calls: &HashMap<ItemRef, Vec<ItemRef>>,
        stack: &mut Vec<ItemRef>,
        done: &mut std::collections::HashSet<ItemRef>,
    ) {
        if done.contains(&f) {
            return;
        }
        if let Some(pos) = stack.iter().position(|&g| g == f) {
            let cycle = &stack[pos..];
            let names: Vec<&str> = cycle.iter().map(|&g| self.fn_item(g).name.name.as_str()).collect();
            let first = self.fn_item(f);
            let path = format!("{} -> {}", names.join(" -> "), first.name.name);
            let d = Diagnostic::error("E0206", format!("`{}` is recursive", first.name.name), first.name.span)
                .label(format!("calls itself: {path}"))
                .hint("fns are inlined at every call, so they cannot call themselves, even indirectly");
            self.recursive.extend(cycle.iter().copied());
            self.report(d);
            return;
        }
        stack.push(f);
        for &g in calls.get(&f).map(Vec::as_slice).unwrap_or(&[]) {
            self.find_cycles(g, calls, stack, done);
        }
        stack.pop();
        done.insert(f);
    }

    /// Resolves every name in a fn body (reporting unknown ones) and
    /// collects the fns it refers to.
    /// Data sets (E0709) and `solve`, `load`, `generate` (E0701, E0710)
    /// are reported here too, where a fn body mentions them, with the spans
    /// the checker would use if the fn were called.
    fn walk_names(&mut self, env: &Env, e: &Expr, calls: &mut Vec<ItemRef>) {
        match &e.kind {
            ExprKind::Number(_) | ExprKind::Str(_) => {}
            ExprKind::Name(n) => match self.lookup(env, n) {
                Resolved::Def(Def::Fn(r)) => calls.push(r),
                Resolved::Def(Def::Data(_)) => self.data_outside_loss(n, e.span),
                Resolved::Unknown => self.unknown_name(env, n, e.span),
                _ => {}
            },
            ExprKind::Unary(_, a) | ExprKind::Transpose(a) => self.walk_names(env, a, calls),
            ExprKind::Field { base, .. } => match &base.kind {
                ExprKind::Name(n) if matches!(self.lookup(env, n), Resolved::Def(Def::Data(_))) => {
                    self.data_outside_loss(n, e.span);
                }
                _ => self.walk_names(env, base, calls),
            },
            ExprKind::Call { callee, args } if self.special_call(env, callee, e.span) => {
                let _ = args;
            }
            ExprKind::Binary(_, a, b) => {
                self.walk_names(env, a, calls);
                self.walk_names(env, b, calls);
            }
            ExprKind::Call { callee, args } => {
                self.walk_names(env, callee, calls);
                for a in args {
                    self.walk_names(env, &a.value, calls);
                }
            }
            ExprKind::Index { base, indices } => {
                self.walk_names(env, base, calls);
                for ix in indices {
                    match ix {
                        IndexArg::Single(x) => self.walk_names(env, x, calls),
                        IndexArg::Slice { start, stop, .. } => {
                            for x in [start, stop].into_iter().flatten() {
                                self.walk_names(env, x, calls);
                            }
                        }
                    }
                }
            }
            ExprKind::Array(xs) | ExprKind::Arrow(xs) => {
                for x in xs {
                    self.walk_names(env, x, calls);
                }
            }
        }
    }

    /// Reports a call of `solve`, `load` or `generate` in a fn body; whether it was one.
    fn special_call(&mut self, env: &Env, callee: &Expr, span: Span) -> bool {
        let ExprKind::Name(n) = &callee.kind else { return false };
        match self.lookup(env, n) {
            Resolved::Builtin(builtins::Builtin::Solve) => {
                self.solve_outside_loss(env, span);
                true
            }
            Resolved::Builtin(builtins::Builtin::Load | builtins::Builtin::Generate) => {
                self.data_source_misplaced(n, span);
                true
            }
            _ => false,
        }
    }

    /// Evaluates every `const` of every module (so each error is reported once).
    pub fn check_consts(&mut self) {
        for m in 0..self.modules.len() {
            for (i, item) in self.modules[m].ast.items.iter().enumerate() {
                if matches!(item, Item::Const(_)) {
                    self.const_value(ItemRef { module: m, item: i }, None);
                }
            }
        }
    }

    /// The value of a `const`, evaluated on first use; `at` is the use site.
    pub fn const_value(&mut self, r: ItemRef, at: Option<Span>) -> Option<TExpr> {
        let c = self.const_item(r);
        let value = match self.consts.get(&r) {
            Some(ConstSlot::Done(v)) => v.clone(),
            Some(ConstSlot::Evaluating) => {
                let span = at.unwrap_or(c.name.span);
                self.report(
                    Diagnostic::error("E0206", format!("`{}` is defined in terms of itself", c.name.name), span)
                        .label("used while it is being defined")
                        .with_secondary(c.name.span, "defined here"),
                );
                return None;
            }
            None => {
                self.consts.insert(r, ConstSlot::Evaluating);
                let saved = std::mem::take(&mut self.call_stack);
                let v = self.eval_const(r.module, c);
                self.call_stack = saved;
                self.consts.insert(r, ConstSlot::Done(v.clone()));
                v
            }
        };
        value.map(|mut v| {
            v.span = at.unwrap_or(v.span);
            v
        })
    }

    fn eval_const(&mut self, module: usize, c: &'a ast::ConstItem) -> Option<TExpr> {
        let env = Env { module, kind: EnvKind::File };
        let ann = c.shape.as_ref().map(|s| (self.annotation(&env, s), s.span));
        let v = self.expr(&env, &c.value)?;
        let v = self.require_const(v, "a `const`")?;
        if let Some((Some(shape), span)) = ann {
            if v.shape != shape {
                self.report(
                    Diagnostic::error("E0306", format!("`{}` does not have its declared shape", c.name.name), span)
                        .label(format!("declared {shape} but the value is {}", v.shape))
                        .with_secondary(c.value.span, format!("this is {}", v.shape)),
                );
                return None;
            }
        }
        Some(v)
    }

    /// Checks a shape annotation (E0312 for rank > 2 or a zero dimension);
    /// a named dimension must be a whole-number constant visible in `env`
    /// (E0309 otherwise).
    pub fn annotation(&mut self, env: &Env, ann: &ast::ShapeAnn) -> Option<Shape> {
        let mut dims = Vec::with_capacity(ann.dims.len());
        for d in &ann.dims {
            match d {
                ast::Dim::Size(n) => dims.push(*n),
                ast::Dim::Name(id) => {
                    let v = match self.lookup(env, &id.name) {
                        Resolved::Arg(a) => a.value.clone().map(|v| TExpr::constant(v, a.shape, id.span)),
                        Resolved::Def(Def::Const(r)) => self.const_value(r, Some(id.span)),
                        _ => None,
                    };
                    match v.as_ref().and_then(consts::const_int) {
                        Some(n) if n >= 0 => dims.push(n as usize),
                        _ => {
                            self.report(
                                Diagnostic::error(
                                    "E0309",
                                    format!("`{}` is not a whole-number constant", id.name),
                                    id.span,
                                )
                                .label("a shape dimension")
                                .hint("a named dimension is a `const` or a template parameter holding a whole number"),
                            );
                            return None;
                        }
                    }
                }
            }
        }
        let too_big = !matches!(dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)), Some(n) if n <= MAX_ELEMENTS);
        let bad = if dims.len() > 2 {
            Some("tensors have at most 2 axes")
        } else if dims.contains(&0) {
            Some("every dimension must be at least 1")
        } else if too_big {
            Some("more elements than a tensor may have (16 Mi)")
        } else {
            None
        };
        if let Some(why) = bad {
            self.report(Diagnostic::error("E0312", "invalid shape", ann.span).label(why));
            return None;
        }
        Shape::from_dims(&dims)
    }

    /// E0309 unless `v` is a compile-time value.
    pub fn require_const(&mut self, v: TExpr, what: &str) -> Option<TExpr> {
        if v.as_const().is_some() {
            return Some(v);
        }
        self.report(
            Diagnostic::error("E0309", format!("{what} must be known at compile time"), v.span)
                .label("this depends on values known only when the model runs"),
        );
        None
    }
}
