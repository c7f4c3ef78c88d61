//! Checking `data NAME = load("file")` and `data NAME = generate(model, at =
//! times, with = solver)` (E0710, E0602 for a file the front end could not
//! hand over) into an [`ir::training::DataSpec`], and reading a data set
//! inside a loss (`DATA.t`, `DATA.y`, a per-trajectory field `DATA.NAME`
//! of an `.npz` file; E0709 anywhere else).
//!
//! Files are never read here: the front end loads every `load("...")` of the
//! root file and passes the result in [`super::CheckOptions`].

use std::sync::Arc;

use crate::diag::Diagnostic;
use crate::ir::training::{DataSource, DataSpec};
use crate::ir::Shape;
use crate::span::Span;
use crate::syntax::ast::{Arg, DataItem, Expr, ExprKind};

use super::checker::{Checker, Def, Env, EnvKind, ItemRef, Resolved};
use super::consts;
use super::tree::{LossInput, TExpr, TKind};

/// What losses see of a data set that checked cleanly.
#[derive(Clone, Debug)]
pub(crate) struct DataInfo {
    pub name: String,
    /// Number of save times of the data itself.
    pub n_times: usize,
    /// Rows of `DATA.t` and `DATA.y` in losses: `n_times`, or the override
    /// of [`super::CheckOptions::data_times`].
    pub rows: usize,
    /// Value columns (`m`).
    pub n_obs: usize,
    /// Trajectories sharing the time grid.
    pub n_traj: usize,
    /// Per-trajectory fields (`DATA.NAME`): name, shape (scalar or `[k]`)
    /// and offset in the fields block of a loss's input.
    pub fields: Vec<(String, Shape, usize)>,
    /// Values of all fields together.
    pub n_field: usize,
}

const SOURCE_HINT: &str = "a data set is `load(\"file.csv\")` or `generate(model, at = times, with = solver)`";

/// The path of `load("path")` when the call has exactly that form: the
/// items the front end loads (and the only ones).
pub fn load_path(source: &Expr) -> Option<(&str, Span)> {
    let ExprKind::Call { callee, args } = &source.kind else { return None };
    match (&callee.kind, args.as_slice()) {
        (ExprKind::Name(n), [Arg { name: None, value: Expr { kind: ExprKind::Str(path), span } }]) if n == "load" => {
            Some((path.as_str(), *span))
        }
        _ => None,
    }
}

impl<'a> Checker<'a> {
    /// Checks the data item `r` of the root; `None` if it has errors.
    pub fn check_data(&mut self, r: ItemRef, d: &'a DataItem) -> Option<DataSpec> {
        let name = d.name.name.clone();
        let ExprKind::Call { callee, args } = &d.source.kind else {
            self.report(
                Diagnostic::error("E0710", "not a data source", d.source.span)
                    .label("expected `load(...)` or `generate(...)`")
                    .hint(SOURCE_HINT),
            );
            return None;
        };
        let callee_name = match &callee.kind {
            ExprKind::Name(n) => n.as_str(),
            _ => "",
        };
        let source = match callee_name {
            "load" => self.load_source(r, d, args)?,
            "generate" => self.generate_source(r.module, args, d.source.span)?,
            _ => {
                self.report(
                    Diagnostic::error("E0710", "not a data source", callee.span)
                        .label("expected `load` or `generate`")
                        .hint(SOURCE_HINT),
                );
                return None;
            }
        };
        let spec = DataSpec { name: name.clone(), source };
        let (n_times, n_obs, n_traj) = match &spec.source {
            DataSource::Loaded { series, .. } => (series.t.len(), series.columns.len(), series.n_traj),
            DataSource::Generate { model, times, paths, .. } => {
                let n_state = self.models.values().find(|m| &m.name == model).map_or(0, |m| m.n_state);
                (times.len(), n_state, *paths)
            }
        };
        let rows = self.options.data_times.iter().find(|(n, _)| *n == name).map_or(n_times, |&(_, rows)| rows.max(1));
        let (fields, n_field) = data_fields(&spec.source);
        self.data_info.insert(r, DataInfo { name, n_times, rows, n_obs, n_traj, fields, n_field });
        Some(spec)
    }

    /// `load("path")`: the series the front end loaded.
    fn load_source(&mut self, r: ItemRef, d: &'a DataItem, args: &'a [Arg]) -> Option<DataSource> {
        let Some((path, span)) = load_path(&d.source) else {
            let span = args.first().map_or(d.source.span, |a| a.value.span);
            self.report(
                Diagnostic::error("E0710", "`load` takes one file path", span)
                    .label("expected a string such as \"spiral.csv\"")
                    .hint("the path is relative to this file; `.csv` and `.npz` files can be loaded"),
            );
            return None;
        };
        match self.options.data_files.get(&r.item) {
            Some(Some(loaded)) => {
                Some(DataSource::Loaded { path: loaded.path.clone(), series: Arc::clone(&loaded.series) })
            }
            // Loading failed: the front end has reported it.
            Some(None) => None,
            None => {
                self.report(
                    Diagnostic::error("E0602", format!("`{path}` was not loaded"), span)
                        .label("no data file was provided for this declaration")
                        .hint("data files are read by the front end (`driver::frontend`), not by `sema::check`"),
                );
                None
            }
        }
    }

    /// `generate(model, at = times, with = solver[, paths = N])`.
    fn generate_source(&mut self, module: usize, args: &'a [Arg], span: Span) -> Option<DataSource> {
        let usage = "generate(model, at = linspace(0, 10, 100), with = dopri5(rtol = 1e-7))";
        let bound = self.bind_model_call("generate", "E0710", usage, args, &["at", "with", "paths"], 2, span)?;
        let (model, at, with, ok) = (bound.model, bound.named[0]?, bound.named[1]?, bound.ok);
        let model = self.model_arg(module, model, "generate");
        let times = self.save_times(module, at);
        let solver = self.solver_arg(module, with, "generate");
        let (model, times, solver) = (model?, times?, solver?);
        let paths = match bound.named[2] {
            None => 1,
            Some(e) => {
                let sde = self.models.values().find(|m| m.name == model).is_some_and(|m| m.sde);
                let env = Env { module, kind: EnvKind::File };
                self.paths_arg(&env, e, "generate", "E0710", &model, sde, 0)?
            }
        };
        ok.then_some(DataSource::Generate { model, times, solver, paths })
    }

    /// A model of this file named as a call's first argument: its name, or
    /// `None` (reported unless the model itself had errors).
    pub fn model_arg(&mut self, module: usize, e: &'a Expr, what: &str) -> Option<String> {
        let code = if what == "generate" { "E0710" } else { "E0713" };
        let ExprKind::Name(n) = &e.kind else {
            self.report(
                Diagnostic::error(code, format!("the first argument of `{what}` must be a model"), e.span)
                    .label("not a model name"),
            );
            return None;
        };
        match self.lookup(&Env { module, kind: EnvKind::File }, n) {
            Resolved::Def(Def::Model(r)) => match self.models.get(&r) {
                Some(m) if m.controlled && what == "generate" => {
                    let name = m.name.clone();
                    self.controlled_model_refused(&name, what, e.span);
                    None
                }
                m => m.map(|m| m.name.clone()),
            },
            Resolved::Unknown => {
                self.unknown_name(&Env { module, kind: EnvKind::File }, n, e.span);
                None
            }
            _ => {
                self.report(
                    Diagnostic::error(code, format!("the first argument of `{what}` must be a model"), e.span)
                        .label(format!("`{n}` is not a model")),
                );
                None
            }
        }
    }

    /// `at = times` of `generate`: a constant vector of at least two
    /// finite, strictly increasing times.
    fn save_times(&mut self, module: usize, at: &'a Expr) -> Option<Vec<f64>> {
        let v = self.expr(&Env { module, kind: EnvKind::File }, at)?;
        let bad = |this: &mut Self, label: String| {
            this.report(
                Diagnostic::error("E0710", "invalid save times", at.span)
                    .label(label)
                    .hint("write the times as a constant vector, e.g. `linspace(0, 10, 101)` or `[0, 0.5, 2]`"),
            );
        };
        let Some(values) = v.as_const() else {
            bad(self, "not known at compile time".into());
            return None;
        };
        if v.shape.rank() != 1 || values.len() < 2 {
            bad(self, format!("a {} tensor; expected a vector of at least 2 times", v.shape));
            return None;
        }
        if let Some(i) = values.iter().position(|x| !x.is_finite()) {
            bad(self, format!("time {i} is {}", values[i]));
            return None;
        }
        if let Some(i) = values.windows(2).position(|w| w[1] <= w[0]) {
            bad(self, format!("not strictly increasing: time {} is {} after {}", i + 1, values[i + 1], values[i]));
            return None;
        }
        Some(values.to_vec())
    }

    /// `DATA.name` for the data set `r`: `t`, `y`, `mean` or `var` in a
    /// loss (recording the read), E0709 anywhere else.
    pub fn data_field(
        &mut self,
        env: &Env,
        r: ItemRef,
        base: &str,
        name: &str,
        name_span: Span,
        span: Span,
    ) -> Option<TExpr> {
        if !matches!(env.kind, EnvKind::Loss(_)) || self.loss.is_none() {
            self.data_outside_loss(base, span);
            return None;
        }
        let info = self.data_info.get(&r)?.clone();
        if let Some(state) = self.loss.as_mut() {
            state.data_reads.push((r, span));
        }
        let input = |input, shape| TExpr { kind: TKind::LossInput(input), shape, span };
        match name {
            "t" => Some(input(LossInput::Times, Shape::vector(info.rows))),
            "mean" | "var" => self.data_stat(&info, name, base, span),
            "y" => {
                if let Some(state) = self.loss.as_mut() {
                    state.obs_y_reads.push(span);
                }
                let shape = Shape::matrix(info.rows, info.n_obs);
                let mask = TExpr { span: Span::detached(), ..input(LossInput::ObsMask, shape) };
                Some(consts::masked(input(LossInput::ObsY, shape), Some(mask)))
            }
            _ if info.fields.iter().any(|(n, _, _)| n == name) => {
                let (_, shape, offset) = info.fields.iter().find(|(n, _, _)| n == name).cloned()?;
                Some(input(LossInput::Field(offset), shape))
            }
            _ => {
                let fields: Vec<String> = info.fields.iter().map(|(n, _, _)| format!("`{base}.{n}`")).collect();
                let hint = if fields.is_empty() {
                    String::new()
                } else {
                    format!("; its per-trajectory fields are {}", fields.join(", "))
                };
                self.report(
                    Diagnostic::error("E0315", format!("data set `{base}` has no field `{name}`"), name_span)
                        .label("unknown field")
                        .hint(format!(
                            "`{base}.t` are the times, `{base}.y` the observed values, `{base}.mean` and \
                             `{base}.var` their mean and variance over the trajectories{hint}"
                        )),
                );
                None
            }
        }
    }

    /// E0710: `load(...)` or `generate(...)` used as a value.
    pub fn data_source_misplaced(&mut self, name: &str, span: Span) {
        self.report(
            Diagnostic::error("E0710", format!("`{name}` outside a data declaration"), span)
                .label("a data source, not a value")
                .hint(format!(
                    "declare the data set, `data obs = {name}(...)`, then read `obs.t` and `obs.y` in a loss"
                )),
        );
    }

    /// E0709: a data set read outside a loss.
    pub fn data_outside_loss(&mut self, name: &str, span: Span) {
        self.report(
            Diagnostic::error("E0709", format!("data set `{name}` is read outside a loss"), span)
                .label("data can only be read directly in a `loss`")
                .hint("data is read in `loss` blocks only, not in models, `fn`s, `const`s or `generate`"),
        );
    }
}

/// The per-trajectory fields of a data set (see [`DataInfo::fields`]) and
/// their total length: the arrays of a loaded `.npz` besides `t` and `y`
/// whose leading dimension is the number of trajectories.
fn data_fields(source: &DataSource) -> (Vec<(String, Shape, usize)>, usize) {
    let DataSource::Loaded { series, .. } = source else { return (Vec::new(), 0) };
    let mut offset = 0;
    let mut out = Vec::new();
    for f in &series.fields {
        let shape = f.width.map_or(Shape::scalar(), Shape::vector);
        out.push((f.name.clone(), shape, offset));
        offset += f.len();
    }
    (out, offset)
}

/// The arguments of a call `NAME(model, key = value, ...)` (`generate`,
/// `solve`): the model (the one positional argument) and the named ones in
/// the order of `names`, of which the first `required` must be given.
pub(super) struct ModelCall<'a> {
    pub model: &'a Expr,
    pub named: Vec<Option<&'a Expr>>,
    /// `false` if an argument was reported (an extra positional, an unknown
    /// or repeated name); the caller still checks what it can.
    pub ok: bool,
}

impl<'a> Checker<'a> {
    /// Binds the arguments of `call` (see [`ModelCall`]). Reports a second
    /// positional argument and a missing required one as `code`, unknown and
    /// repeated names as E0207; `None` when a required argument is missing.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn bind_model_call(
        &mut self,
        call: &str,
        code: &'static str,
        usage: &str,
        args: &'a [Arg],
        names: &[&str],
        required: usize,
        span: Span,
    ) -> Option<ModelCall<'a>> {
        let mut model = None;
        let mut named: Vec<Option<&'a Expr>> = vec![None; names.len()];
        let mut ok = true;
        for a in args {
            let slot = match &a.name {
                None if model.is_some() => {
                    self.report(
                        Diagnostic::error(code, format!("`{call}` takes one positional argument"), a.value.span)
                            .label("the model is the only positional argument")
                            .hint(format!("write `{usage}`")),
                    );
                    ok = false;
                    continue;
                }
                None => &mut model,
                Some(n) => match names.iter().position(|k| *k == n.name) {
                    Some(i) => &mut named[i],
                    None => {
                        let list = names.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
                        self.report(
                            Diagnostic::error("E0207", format!("`{call}` has no argument named `{}`", n.name), n.span)
                                .label("unknown named argument")
                                .hint(format!("`{call}` takes a model and {list}")),
                        );
                        ok = false;
                        continue;
                    }
                },
            };
            if slot.is_some() {
                self.report(Diagnostic::error("E0207", "argument given twice", a.value.span).label("already given"));
                ok = false;
                continue;
            }
            *slot = Some(&a.value);
        }
        let missing: Vec<String> = std::iter::once((model.is_none(), "the model".to_string()))
            .chain(names[..required].iter().zip(&named).map(|(k, v)| (v.is_none(), format!("`{k}`"))))
            .filter_map(|(m, w)| m.then_some(w))
            .collect();
        if !missing.is_empty() {
            self.report(
                Diagnostic::error(code, format!("incomplete `{call}`"), span)
                    .label(format!("missing {}", missing.join(" and ")))
                    .hint(format!("write `{usage}`")),
            );
            return None;
        }
        Some(ModelCall { model: model?, named, ok })
    }
}
