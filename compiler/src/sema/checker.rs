//! The checker's state and the environment an expression is checked in:
//! which names are visible (fn arguments, model members, a loss's `let`s,
//! the file's items and imports, builtins) and in which role (a `const`, a
//! param's initial value, a state's initial value, a model body, a loss).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::diag::Diagnostic;
use crate::ir::{Shape, SolverSpec};
use crate::span::{SourceMap, Span};
use crate::syntax::ast;

use super::builtins::{self, Builtin, Initialiser, Layer};
use super::data::DataInfo;
use super::layers::NetInfo;
use super::loss::LossState;
use super::tree::TExpr;
use super::{CheckOptions, LoadedModule};

/// An item of a loaded module: `module` indexes the module list, `item` the
/// module's `ast.items`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ItemRef {
    pub module: usize,
    pub item: usize,
}

/// What a file-level name stands for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Def {
    Const(ItemRef),
    Fn(ItemRef),
    Model(ItemRef),
    /// A model template (`model lsde(n, ...) { ... }`), instantiated by
    /// `model NAME = lsde(n = 4)`.
    Template(ItemRef),
    Solver(ItemRef),
    Data(ItemRef),
    Loss(ItemRef),
    Layer(Layer),
}

/// A name in a module's scope.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub def: Def,
    /// Where it was defined or imported.
    pub span: Span,
    /// Brought in by `use` (imports are not re-exported).
    pub imported: bool,
}

/// The file-level names of one module: its items and its imports.
#[derive(Clone, Debug, Default)]
pub(crate) struct ModuleScope {
    pub names: HashMap<String, Entry>,
}

/// A name declared inside a model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Local {
    Time,
    Param(usize),
    State(usize),
    Net(usize),
    Let(usize),
    /// The model's `input` path (read as `X(t)`, `X.dim` and `dX`).
    Input,
}

/// Which model member an expression belongs to; decides what it may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// A param's initial value: constants only.
    ParamInit,
    /// A state's initial value: `t`, params, nets and constants.
    StateInit,
    /// `let`s and equations: everything declared so far.
    Body,
    /// An `output`: like [`Phase::Body`], but not the path `X(t)` (E0415).
    Output,
}

/// The names a model's expressions see, beyond the file's.
#[derive(Debug)]
pub(crate) struct ModelEnv {
    /// Visible names (lets appear once defined).
    pub names: HashMap<String, Local>,
    /// `None` when the param's shape is unknown after an error.
    pub param_shapes: Vec<Option<Shape>>,
    /// `None` when the state's shape is unknown after an error.
    pub state_shapes: Vec<Option<Shape>>,
    /// `None` after an error in the declaration.
    pub nets: Vec<Option<NetInfo>>,
    /// A checked `let` (`None` after an error).
    pub lets: Vec<Option<TExpr>>,
    /// Every `let` of the model, for "defined later" hints.
    pub all_lets: HashMap<String, Span>,
    pub phase: Phase,
    /// The model's `input` declaration, once checked.
    pub input: Option<InputInfo>,
    /// A template instance's parameters, as compile-time constants.
    pub template_args: Vec<ArgVal>,
}

/// A model's `input NAME = kind(data, ...)` as expressions see it.
#[derive(Clone, Debug)]
pub(crate) struct InputInfo {
    pub name: String,
    /// The declaration (name to source).
    pub span: Span,
    /// `None` when the declaration had errors (already reported).
    pub control: Option<crate::ir::Control>,
}

impl InputInfo {
    /// The path's number of channels, if the declaration checked.
    pub fn channels(&self) -> Option<usize> {
        self.control.as_ref().map(|c| c.channels)
    }
}

/// What losses and `generate` need to know about a checked model.
#[derive(Clone, Debug)]
pub(crate) struct ModelInfo {
    pub name: String,
    /// Flat state length.
    pub n_state: usize,
    /// Flat parameter length.
    pub n_param: usize,
    /// The model has an `input` (a CDE): `generate` refuses it, a `solve`
    /// follows the paths of the data set it saves at.
    pub controlled: bool,
    /// The model has noise terms (an SDE): it needs an SDE solver.
    pub sde: bool,
    /// The model's `output`s (name and shape), in declaration order.
    pub outputs: Vec<(String, Shape)>,
    /// The value columns of the data a CDE's input was checked with
    /// (`None` for ODE and SDE models).
    pub control_columns: Option<usize>,
}

/// A `let` of a loss, as later expressions of the loss see it.
#[derive(Clone, Debug)]
pub(crate) enum LossLocal {
    /// A tensor: `TKind::Let(index)`, or the constant it folded to; `mask`
    /// when it depends on observations with missing values.
    Value { index: usize, shape: Shape, konst: Option<Arc<[f64]>>, mask: Option<TExpr> },
    /// `let sol = solve(...)`: the solve with this index in the loss.
    Solution(usize),
    /// Its definition had errors (already reported).
    Failed,
}

/// The names a loss's expressions see, beyond the file's.
#[derive(Debug, Default)]
pub(crate) struct LossEnv {
    /// Visible lets (each appears once defined).
    pub names: HashMap<String, LossLocal>,
    /// Every `let` of the loss, for "defined later" hints.
    pub all_lets: HashMap<String, Span>,
}

/// A fn argument as seen from the fn's body.
#[derive(Clone, Debug)]
pub(crate) struct ArgVal {
    pub name: String,
    pub shape: Shape,
    /// Known at compile time: substituted into the body.
    pub value: Option<Arc<[f64]>>,
    /// Index among the runtime (non-constant) arguments.
    pub slot: usize,
}

/// Where an expression is checked.
pub(crate) enum EnvKind<'e> {
    /// File level: `const` values, solver options, layer sizes.
    File,
    /// A fn body instantiated with these arguments.
    Fn(&'e [ArgVal]),
    Model(&'e ModelEnv),
    Loss(&'e LossEnv),
}

pub(crate) struct Env<'e> {
    /// The module whose file-level names are visible.
    pub module: usize,
    pub kind: EnvKind<'e>,
}

/// What a name resolves to in an [`Env`].
#[derive(Clone, Debug)]
pub(crate) enum Resolved<'e> {
    Arg(&'e ArgVal),
    Local(Local),
    LossLocal(&'e LossLocal),
    Def(Def),
    Builtin(Builtin),
    Init(Initialiser),
    Unknown,
}

/// Memo of `const` evaluation.
#[derive(Clone, Debug)]
pub(crate) enum ConstSlot {
    Evaluating,
    Done(Option<TExpr>),
}

/// Identity of a fn instance: the fn and each argument's shape and, when
/// known, its value (bit patterns).
pub(crate) type InstKey = (ItemRef, Vec<(Shape, Option<Vec<u64>>)>);

pub(crate) struct Checker<'a> {
    pub modules: &'a [LoadedModule],
    pub sources: &'a SourceMap,
    pub scopes: Vec<ModuleScope>,
    pub diags: Vec<Diagnostic>,
    pub consts: HashMap<ItemRef, ConstSlot>,
    pub instances: HashMap<InstKey, Option<Arc<TExpr>>>,
    /// Fn instances being checked, with their call sites (innermost last).
    pub call_stack: Vec<(ItemRef, Span)>,
    /// Fns on a call cycle (already reported; calls to them are errors).
    pub recursive: HashSet<ItemRef>,
    /// Set once E0407 has been reported for too many fn instances.
    pub instance_budget_hit: bool,
    /// Loaded data files and row-count overrides, from the front end.
    pub options: &'a CheckOptions,
    /// Every model of the root that checked cleanly, by its item.
    pub models: HashMap<ItemRef, ModelInfo>,
    /// Every solver of the root that checked cleanly, by its item.
    pub solvers: HashMap<ItemRef, SolverSpec>,
    /// Every data set that checked cleanly, by its item.
    pub data_info: HashMap<ItemRef, DataInfo>,
    /// The solves and data reads of the loss being checked.
    pub loss: Option<LossState>,
}

impl<'a> Checker<'a> {
    pub fn new(modules: &'a [LoadedModule], sources: &'a SourceMap, options: &'a CheckOptions) -> Self {
        Checker {
            modules,
            sources,
            scopes: vec![ModuleScope::default(); modules.len()],
            diags: Vec::new(),
            consts: HashMap::new(),
            instances: HashMap::new(),
            call_stack: Vec::new(),
            recursive: HashSet::new(),
            instance_budget_hit: false,
            options,
            models: HashMap::new(),
            solvers: HashMap::new(),
            data_info: HashMap::new(),
            loss: None,
        }
    }

    /// Records an error; inside a fn instance, notes the call that led there.
    pub fn report(&mut self, mut d: Diagnostic) {
        if let Some(&(item, call)) = self.call_stack.last() {
            if call != d.primary.span {
                let name = &self.fn_item(item).name.name;
                d = d.with_secondary(call, format!("in this call of `{name}`"));
            }
        }
        self.diags.push(d);
    }

    pub fn item(&self, r: ItemRef) -> &'a ast::Item {
        &self.modules[r.module].ast.items[r.item]
    }

    pub fn fn_item(&self, r: ItemRef) -> &'a ast::FnItem {
        match self.item(r) {
            ast::Item::Fn(f) => f,
            other => unreachable!("ItemRef of a fn points at {other:?}"),
        }
    }

    pub fn const_item(&self, r: ItemRef) -> &'a ast::ConstItem {
        match self.item(r) {
            ast::Item::Const(c) => c,
            other => unreachable!("ItemRef of a const points at {other:?}"),
        }
    }

    /// Resolves `name` in `env`: fn arguments or model members first, then
    /// the module's items and imports, then builtins and initialisers.
    pub fn lookup<'e>(&self, env: &Env<'e>, name: &str) -> Resolved<'e> {
        match env.kind {
            EnvKind::Fn(args) => {
                if let Some(a) = args.iter().find(|a| a.name == name) {
                    return Resolved::Arg(a);
                }
            }
            EnvKind::Model(m) => {
                if let Some(&l) = m.names.get(name) {
                    return Resolved::Local(l);
                }
                if let Some(a) = m.template_args.iter().find(|a| a.name == name) {
                    return Resolved::Arg(a);
                }
            }
            EnvKind::Loss(l) => {
                if let Some(local) = l.names.get(name) {
                    return Resolved::LossLocal(local);
                }
            }
            EnvKind::File => {}
        }
        if let Some(e) = self.scopes[env.module].names.get(name) {
            return Resolved::Def(e.def);
        }
        if let Some(b) = builtins::builtin(name) {
            return Resolved::Builtin(b);
        }
        if let Some(i) = builtins::initialiser(name) {
            return Resolved::Init(i);
        }
        Resolved::Unknown
    }

    /// Every name visible in `env`, for suggestions.
    pub fn visible_names(&self, env: &Env) -> Vec<String> {
        let mut out: Vec<String> = match env.kind {
            EnvKind::Fn(args) => args.iter().map(|a| a.name.clone()).collect(),
            EnvKind::Model(m) => m.names.keys().cloned().collect(),
            EnvKind::Loss(l) => l.names.keys().cloned().collect(),
            EnvKind::File => Vec::new(),
        };
        let mut file: Vec<String> = self.scopes[env.module].names.keys().cloned().collect();
        file.sort();
        out.sort();
        out.extend(file);
        out.extend(builtins::reserved_names().filter(|&n| n != "t").map(str::to_string));
        out
    }

    /// The source text of `span` if it is short and on one line (for labels).
    pub fn snippet(&self, span: Span) -> Option<&'a str> {
        let text = &self.sources.get(span.file)?.text;
        let s = text.get(span.range())?;
        (!s.is_empty() && s.len() <= 32 && !s.contains('\n')).then_some(s)
    }

    /// `text` for an operand in a message: its source or a description.
    pub fn describe(&self, span: Span, fallback: &str) -> String {
        self.snippet(span).map_or_else(|| fallback.to_string(), str::to_string)
    }

    /// 1-based line of a span's start, for hints.
    pub fn line_of(&self, span: Span) -> usize {
        self.sources.line_col(span.file, span.start).map_or(0, |(l, _)| l)
    }

    /// Diagnostics deduplicated (a fn body checked for two instances reports
    /// a mistake once) and sorted by place.
    pub fn finish_diagnostics(&mut self) -> Vec<Diagnostic> {
        let mut seen = HashSet::new();
        let mut out: Vec<Diagnostic> =
            std::mem::take(&mut self.diags).into_iter().filter(|d| seen.insert((d.code, d.primary.span))).collect();
        out.sort_by_key(|d| (d.primary.span.file, d.primary.span.start));
        out
    }
}
