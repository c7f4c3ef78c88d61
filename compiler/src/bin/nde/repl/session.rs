//! The REPL's session: the definitions entered so far, kept as source text.
//!
//! Owns the list of items (one per name, in definition order; a redefinition
//! replaces the item's text where it stands), assembling them into one module
//! that goes through the driver's front end exactly as a file does for
//! `nde check` (imports and data files relative to the working folder, or to
//! the folder of the last `:load`ed file), the mapping of diagnostics back to
//! the text the user typed (each entry is its own source, `<repl:3>`) or
//! loaded, and the synthetic model that evaluates a bare expression.
//!
//! Never: print, compile kernels, or accept a change that does not check
//! (the session stays as it was).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use nde_compiler::diag::{Diagnostic, Diagnostics};
use nde_compiler::driver::frontend::{self, FrontendOptions, FsLoader};
use nde_compiler::ir::print::print_model;
use nde_compiler::ir::{ModelIr, ProgramIr};
use nde_compiler::lower::lower_model;
use nde_compiler::span::{FileId, SourceMap, Span};
use nde_compiler::syntax::{self, ast};

use super::ReplError;

/// The model a bare expression is evaluated in, and the names inside it
/// (they start with `__`, so no user name collides).
const EXPR_MODEL: &str = "__nde_expr";
const EXPR_STATE: &str = "__nde_state";
const EXPR_VALUE: &str = "__nde_value";

/// Where an item's text came from: an entry typed at the prompt or a loaded file.
#[derive(Debug)]
pub struct Origin {
    /// `<repl:3>` or the file's path.
    pub name: String,
    pub text: String,
}

/// One definition of the session.
#[derive(Clone, Debug)]
pub struct Item {
    /// One item per key: the name (`train:LOSS` for a train block, `use:NAMES` for an import).
    key: String,
    /// The keyword: `const`, `fn`, `model`, `solver`, `data`, `loss`, `train`, `use`.
    pub kind: &'static str,
    /// The defined name (the imported names for a `use`).
    pub name: String,
    /// Names the item brings into scope.
    names: Vec<String>,
    /// The item's source, from its keyword to its end.
    pub text: String,
    origin: Rc<Origin>,
    /// Where `text` starts in `origin.text`.
    offset: usize,
}

/// What a successful definition did.
#[derive(Debug, Default)]
pub struct Defined {
    /// `(kind, name, replaced an earlier definition)`, in order.
    pub items: Vec<(&'static str, String, bool)>,
    /// Models not defined here whose IR changed (their kernels are rebuilt on next use).
    pub updated: Vec<String>,
    /// Every model whose IR changed or that is gone, defined here or not.
    pub changed_models: Vec<String>,
}

/// The free variables of `:simplify` and `:grad`: parameters of the
/// synthetic model, and at most one state (what `:grad` differentiates by).
#[derive(Clone, Debug, Default)]
pub struct Vars {
    /// Names with a shape (`[2]`, or `[]` for a scalar).
    pub params: Vec<(String, String)>,
    pub state: Option<(String, String)>,
}

/// A part of the assembled module and where it came from.
struct Segment {
    /// Positions of the module that map into this segment (clamped to it).
    region: std::ops::Range<usize>,
    /// Where the segment's text starts in the module.
    start: usize,
    len: usize,
    origin: Rc<Origin>,
    offset: usize,
}

pub struct Session {
    items: Vec<Item>,
    /// Folder the session's relative imports and data files are read from.
    base: PathBuf,
    /// The last file `:load` read (for `:reload`).
    loaded: Option<PathBuf>,
    /// Entries typed so far (names `<repl:N>`).
    entries: usize,
    /// The checked, lowered session.
    program: ProgramIr,
    seed: u64,
}

impl Session {
    pub fn new(seed: u64) -> Session {
        Session {
            items: Vec::new(),
            base: PathBuf::new(),
            loaded: None,
            entries: 0,
            program: ProgramIr::default(),
            seed,
        }
    }

    pub fn program(&self) -> &ProgramIr {
        &self.program
    }

    pub fn items(&self) -> &[Item] {
        &self.items
    }

    pub fn loaded(&self) -> Option<&Path> {
        self.loaded.as_deref()
    }

    /// A fresh origin for text typed at the prompt.
    pub fn entry(&mut self, text: &str) -> Rc<Origin> {
        self.entries += 1;
        Rc::new(Origin { name: format!("<repl:{}>", self.entries), text: text.to_string() })
    }

    /// Every name the session defines or imports (for completion and free variables).
    pub fn names(&self) -> Vec<String> {
        self.items.iter().flat_map(|i| i.names.iter().cloned()).collect()
    }

    /// Adds or replaces the items of `origin`'s text; the whole session is
    /// checked first and left unchanged if it has errors.
    pub fn define(&mut self, origin: Rc<Origin>) -> Result<Defined, ReplError> {
        let new = parse_items(&origin)?;
        self.apply(new, |_| true)
    }

    /// `:load FILE`: its items replace those of the same names; imports and
    /// data files are then read relative to its folder.
    pub fn load(&mut self, path: &Path) -> Result<Defined, ReplError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ReplError::File(format!("cannot read {}: {e}", path.display())))?;
        let origin = Rc::new(Origin { name: path.display().to_string(), text });
        let new = parse_items(&origin)?;
        let old_base = std::mem::replace(&mut self.base, path.parent().map(Path::to_path_buf).unwrap_or_default());
        // Items the file defined before but no longer does are dropped.
        let name = origin.name.clone();
        let keys: Vec<String> = new.iter().map(|i| i.key.clone()).collect();
        match self.apply(new, |i| i.origin.name != name || keys.contains(&i.key)) {
            Ok(d) => {
                self.loaded = Some(path.to_path_buf());
                Ok(d)
            }
            Err(e) => {
                self.base = old_base;
                Err(e)
            }
        }
    }

    /// The session as a `.nde` file, in definition order.
    pub fn source(&self) -> String {
        let mut text = String::from("// Saved by `nde repl`.\n\n");
        for item in &self.items {
            text.push_str(&item.text);
            text.push_str("\n\n");
        }
        text.truncate(text.trim_end().len());
        text.push('\n');
        text
    }

    /// Checks `items` (minus those `keep` rejects) with `new` applied; commits on success.
    fn apply(&mut self, new: Vec<Item>, keep: impl Fn(&Item) -> bool) -> Result<Defined, ReplError> {
        let mut items: Vec<Item> = self.items.iter().filter(|i| keep(i)).cloned().collect();
        let mut defined = Defined::default();
        for item in new {
            let replaced = match items.iter_mut().find(|i| i.key == item.key) {
                Some(slot) => {
                    *slot = item.clone();
                    true
                }
                None => {
                    items.push(item.clone());
                    false
                }
            };
            defined.items.push((item.kind, item.name.clone(), replaced));
        }
        let (text, segments) = assemble(&items);
        let opts = FrontendOptions { seed: self.seed, ..Default::default() };
        let program = self.frontend(&text, &segments, |s, root| frontend::compile_to_ir(s, root, &FsLoader, &opts))?;
        let before: HashMap<&str, String> =
            self.program.models.iter().map(|m| (m.name.as_str(), print_model(m))).collect();
        for m in &program.models {
            if before.get(m.name.as_str()) != Some(&print_model(m)) {
                defined.changed_models.push(m.name.clone());
                if !defined.items.iter().any(|(_, n, _)| n == &m.name) && before.contains_key(m.name.as_str()) {
                    defined.updated.push(m.name.clone());
                }
            }
        }
        for name in before.keys() {
            if program.model(name).is_none() {
                defined.changed_models.push(name.to_string());
            }
        }
        self.items = items;
        self.program = program;
        Ok(defined)
    }

    /// The session checked again with other front-end options (training on windows).
    pub fn recheck(&self, opts: &FrontendOptions) -> Result<ProgramIr, ReplError> {
        let (text, segments) = assemble(&self.items);
        let opts = FrontendOptions { seed: self.seed, ..opts.clone() };
        self.frontend(&text, &segments, |s, root| frontend::compile_to_ir(s, root, &FsLoader, &opts))
    }

    /// The free names of `expr` that the session does not define (in order
    /// of first use; not builtins, not `t`), or a syntax error in it.
    pub fn free_names(&self, expr: &Rc<Origin>) -> Result<Vec<String>, ReplError> {
        let mut names = Vec::new();
        if let Some(value) = parse_expression(expr)? {
            crate::simplify::collect(&value, &mut names);
        }
        let known = self.names();
        let reserved: Vec<&str> = nde_compiler::sema::reserved_names().collect();
        names.retain(|n| !known.contains(n) && !reserved.contains(&n.as_str()));
        Ok(names)
    }

    /// `expr` (an entry's text) as the right-hand side of a model of its own:
    /// `vars` its parameters and state, the session's names in scope. The
    /// model's `rhs` computes the expression's value (any shape).
    pub fn expression(&self, expr: &Rc<Origin>, vars: &Vars) -> Result<ModelIr, ReplError> {
        // Syntax errors first, on the expression alone (the wrapper's text never shows).
        parse_expression(expr)?;
        let mut items = self.items.clone();
        items.retain(|i| i.name != EXPR_MODEL);
        let mut wrapper = format!("model {EXPR_MODEL} {{\n");
        for (name, shape) in &vars.params {
            wrapper.push_str(&format!("  param {name}: {shape} = 0\n"));
        }
        match &vars.state {
            Some((name, shape)) => wrapper.push_str(&format!("  state {name}: {shape} = 0\n  d{name}/dt = {name}\n")),
            None => wrapper.push_str(&format!("  state {EXPR_STATE} = 0\n  d{EXPR_STATE}/dt = 0\n")),
        }
        wrapper.push_str(&format!("  let {EXPR_VALUE} =\n"));
        let (mut text, mut segments) = assemble(&items);
        let region_start = text.len();
        text.push_str(&wrapper);
        let start = text.len();
        text.push_str(&expr.text);
        text.push_str("\n}\n");
        segments.push(Segment {
            region: region_start..text.len() + 1,
            start,
            len: expr.text.len(),
            origin: expr.clone(),
            offset: 0,
        });
        let checked = self.frontend(&text, &segments, |s, root| frontend::check(s, root, &FsLoader))?;
        let mut model = checked
            .models
            .into_iter()
            .find(|m| m.name == EXPR_MODEL)
            .ok_or_else(|| ReplError::Model("internal error: the expression's model did not check".into()))?;
        let value = model
            .lets
            .last()
            .cloned()
            .ok_or_else(|| ReplError::Model("internal error: the expression's value is missing".into()))?;
        if vars.state.is_none() {
            model.states.clear();
        }
        model.rhs = vec![value];
        model.outputs.clear();
        Ok(lower_model(&model, self.seed))
    }

    /// Runs a front-end entry point on the assembled `text`, its diagnostics
    /// mapped back to the entries and files the text came from.
    fn frontend<T>(
        &self,
        text: &str,
        segments: &[Segment],
        run: impl FnOnce(&mut SourceMap, FileId) -> Result<T, Diagnostics>,
    ) -> Result<T, ReplError> {
        let mut sources = SourceMap::new();
        let root = sources.add(self.base.join("<session>").display().to_string(), text.to_string());
        run(&mut sources, root).map_err(|d| remap(sources, root, segments, d.0))
    }
}

/// The expression of an entry, parsed on its own (`None` if it parses as something else).
fn parse_expression(expr: &Rc<Origin>) -> Result<Option<ast::Expr>, ReplError> {
    let wrapper = format!("const {EXPR_VALUE} =\n{}", expr.text);
    let module = syntax::parse(&wrapper, FileId(0)).map_err(|d| {
        let segments = expression_segments(&wrapper, expr);
        remap(SourceMap::new(), FileId(0), &segments, vec![d])
    })?;
    if module.items.len() != 1 {
        return Err(ReplError::Usage("enter one expression, or definitions that start with their keyword".into()));
    }
    Ok(match module.items.into_iter().next() {
        Some(ast::Item::Const(c)) => Some(c.value),
        _ => None,
    })
}

/// The items of an origin's text, each with its key and names.
fn parse_items(origin: &Rc<Origin>) -> Result<Vec<Item>, ReplError> {
    let module = syntax::parse(&origin.text, FileId(0)).map_err(|d| {
        let mut sources = SourceMap::new();
        sources.add(origin.name.clone(), origin.text.clone());
        ReplError::Diagnostics { sources, diagnostics: vec![d] }
    })?;
    let mut items = Vec::new();
    for item in &module.items {
        let (kind, name, names) = match item {
            ast::Item::Use(u) => {
                let names: Vec<String> = u.names.iter().map(|n| n.name.clone()).collect();
                ("use", names.join(", "), names)
            }
            ast::Item::Const(c) => ("const", c.name.name.clone(), vec![c.name.name.clone()]),
            ast::Item::Fn(f) => ("fn", f.name.name.clone(), vec![f.name.name.clone()]),
            ast::Item::Model(m) => ("model", m.name.name.clone(), vec![m.name.name.clone()]),
            ast::Item::Instance(m) => ("model", m.name.name.clone(), vec![m.name.name.clone()]),
            ast::Item::Solver(s) => ("solver", s.name.name.clone(), vec![s.name.name.clone()]),
            ast::Item::Data(d) => ("data", d.name.name.clone(), vec![d.name.name.clone()]),
            ast::Item::Loss(l) => ("loss", l.name.name.clone(), vec![l.name.name.clone()]),
            ast::Item::Train(t) => ("train", t.loss.name.clone(), Vec::new()),
        };
        let key = match kind {
            "use" | "train" => format!("{kind}:{name}"),
            _ => name.clone(),
        };
        let range = item.span().range();
        let text = origin.text.get(range.clone()).unwrap_or_default().to_string();
        items.push(Item { key, kind, name, names, text, origin: origin.clone(), offset: range.start });
    }
    Ok(items)
}

/// The items as one module (blank lines between them), and their segments.
fn assemble(items: &[Item]) -> (String, Vec<Segment>) {
    let mut text = String::new();
    let mut segments = Vec::with_capacity(items.len());
    for item in items {
        let start = text.len();
        text.push_str(&item.text);
        segments.push(Segment {
            region: start..text.len() + 1,
            start,
            len: item.text.len(),
            origin: item.origin.clone(),
            offset: item.offset,
        });
        text.push_str("\n\n");
    }
    (text, segments)
}

/// The segments of a wrapper around an expression that ends it: every
/// position from the expression's start on maps into it.
fn expression_segments(wrapper: &str, expr: &Rc<Origin>) -> Vec<Segment> {
    let start = wrapper.len() - expr.text.len();
    vec![Segment { region: 0..wrapper.len() + 1, start, len: expr.text.len(), origin: expr.clone(), offset: 0 }]
}

/// Diagnostics on the assembled module moved to the entries and files its
/// segments came from (each added to `sources` once); a place between
/// segments stays in the module.
fn remap(mut sources: SourceMap, root: FileId, segments: &[Segment], mut diagnostics: Vec<Diagnostic>) -> ReplError {
    let mut ids: Vec<(Rc<Origin>, FileId)> = Vec::new();
    let mut move_span = |span: &mut Span| {
        if span.file != root {
            return;
        }
        let pos = span.start as usize;
        let Some(seg) = segments.iter().find(|s| s.region.contains(&pos)) else { return };
        let file = match ids.iter().find(|(o, _)| Rc::ptr_eq(o, &seg.origin)) {
            Some((_, id)) => *id,
            None => {
                let id = sources.add(seg.origin.name.clone(), seg.origin.text.clone());
                ids.push((seg.origin.clone(), id));
                id
            }
        };
        let clamp = |p: u32| seg.offset + (p as usize).saturating_sub(seg.start).min(seg.len);
        let (start, end) = (clamp(span.start), clamp(span.end));
        *span = Span::new(file, start, end.max(start));
    };
    for d in &mut diagnostics {
        move_span(&mut d.primary.span);
        d.secondary.iter_mut().for_each(|l| move_span(&mut l.span));
    }
    ReplError::Diagnostics { sources, diagnostics }
}
