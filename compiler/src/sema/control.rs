//! Checking the controlled part of a model (a neural CDE): the `input`
//! declaration `input X = hermite(data, time = true, counts = false)`
//! (E0412, E0413), reading the path in expressions, `X(t)` and `X.dim`
//! (E0415, also for `X(t)` in an `output`), and the controlled terms
//! `F @ dX` of an equation (E0414); plus the v1 limits: no noise in a
//! controlled model (E0416), no `generate` of one (E0714, in
//! [`Checker::controlled_model_refused`]); and a `solve` of one in a loss,
//! which follows the paths of the data set it saves at (E0716 when that
//! data has other columns than the model's input, [`Checker::cde_solve_data`]).
//!
//! The number of channels `c` of the path is known here: `1` (time, unless
//! `time = false`) plus the data set's value columns, plus as many again
//! with `counts = true`. The data set is the one the front end loaded for
//! `load("...")`, or for `generate(model, ...)` has the generating model's
//! states as its columns.
//!
//! Never: read the data's values (the path is built at run time by
//! `driver::cde`), or accept anything but `X(t)` at the current time.

use nde_runtime::path::Interpolation;

use crate::diag::Diagnostic;
use crate::ir::{interpolation_name, Control, Shape};
use crate::span::Span;
use crate::syntax::ast::{Arg, Expr, ExprKind, Ident, Item, Member, SdeTerm};

use super::builtins::closest;
use super::checker::{Checker, Def, Env, EnvKind, InputInfo, ItemRef, Local, Phase, Resolved};
use super::tree::{TExpr, TKind};

const SOURCE_HINT: &str =
    "write `input X = hermite(data)` with a data set declared by `data NAME = load(\"file.csv\")`; \
                           the interpolations are `linear`, `natural_cubic`, `hermite` and `rectilinear`";

/// The interpolation a name stands for in an `input` source.
fn interpolation(name: &str) -> Option<Interpolation> {
    Interpolation::ALL.into_iter().find(|&k| interpolation_name(k) == name)
}

fn input_error(span: Span, message: impl Into<String>, label: impl Into<String>) -> Diagnostic {
    Diagnostic::error("E0412", message, span).label(label)
}

impl<'a> Checker<'a> {
    /// `input NAME = kind(data, time = .., counts = ..)`: E0412. The result
    /// has no [`Control`] after an error.
    pub(super) fn input_decl(&mut self, module: usize, name: &Ident, source: &'a Expr, span: Span) -> InputInfo {
        let control = self.input_source(module, name, source);
        InputInfo { name: name.name.clone(), span, control }
    }

    fn input_source(&mut self, module: usize, name: &Ident, source: &'a Expr) -> Option<Control> {
        let ExprKind::Call { callee, args } = &source.kind else {
            self.report(
                input_error(source.span, "not a control path", "expected an interpolation of a data set")
                    .hint(SOURCE_HINT),
            );
            return None;
        };
        let ExprKind::Name(kind_name) = &callee.kind else {
            self.report(input_error(callee.span, "not an interpolation", "expected a name").hint(SOURCE_HINT));
            return None;
        };
        let kind = interpolation(kind_name);
        if kind.is_none() {
            let names = Interpolation::ALL.map(interpolation_name);
            let mut d = input_error(
                callee.span,
                format!("unknown interpolation `{kind_name}`"),
                "not `linear`, `natural_cubic`, `hermite` or `rectilinear`",
            );
            if let Some(s) = closest(kind_name, names) {
                d = d.hint(format!("did you mean `{s}`?"));
            }
            self.report(d.hint(
                "`hermite` (C¹, no kinks) suits adaptive solvers; `linear` and `rectilinear` are C⁰, \
                 `natural_cubic` is C² but not causal",
            ));
        }
        let mut data = None;
        let mut time = None;
        let mut counts = None;
        let mut ok = true;
        for a in args {
            let (slot, what) = match &a.name {
                None if data.is_none() => {
                    data = Some(&a.value);
                    continue;
                }
                None => {
                    self.report(
                        input_error(a.value.span, "an input interpolates one data set", "a second positional argument")
                            .hint(format!("write `{kind_name}(data, time = true, counts = false)`")),
                    );
                    ok = false;
                    continue;
                }
                Some(n) if n.name == "time" => (&mut time, "time"),
                Some(n) if n.name == "counts" => (&mut counts, "counts"),
                Some(n) => {
                    self.report(
                        input_error(n.span, format!("an input has no option `{}`", n.name), "unknown option")
                            .hint("the options are `time` (a time channel, default `true`) and `counts` (observation counts, default `false`)"),
                    );
                    ok = false;
                    continue;
                }
            };
            if slot.is_some() {
                self.report(input_error(a.value.span, format!("`{what}` given twice"), "already given"));
                ok = false;
                continue;
            }
            match &a.value.kind {
                ExprKind::Name(b) if b == "true" || b == "false" => *slot = Some(b == "true"),
                _ => {
                    self.report(
                        input_error(a.value.span, format!("invalid value for `{what}`"), "expected `true` or `false`")
                            .hint(format!("write `{what} = true` or `{what} = false`")),
                    );
                    ok = false;
                }
            }
        }
        let Some(data) = data else {
            self.report(
                input_error(source.span, format!("`{kind_name}` needs a data set"), "no data set given")
                    .hint(format!("write `input {} = {kind_name}(data)`", name.name)),
            );
            return None;
        };
        let data = self.input_data(module, data);
        let (kind, (data, columns)) = (kind?, data?);
        if !ok {
            return None;
        }
        let (time_channel, counts) = (time.unwrap_or(true), counts.unwrap_or(false));
        let channels = usize::from(time_channel) + columns + if counts { columns } else { 0 };
        if channels == 0 {
            self.report(
                input_error(source.span, "the path has no channels", "no time channel and no data columns")
                    .hint("keep the time channel: `time = true`"),
            );
            return None;
        }
        Some(Control { name: name.name.clone(), data, interpolation: kind, time_channel, counts, columns, channels })
    }

    /// The data set an input interpolates: its name and number of value
    /// columns (E0412 for anything but a data set of this file).
    fn input_data(&mut self, module: usize, e: &'a Expr) -> Option<(String, usize)> {
        let ExprKind::Name(n) = &e.kind else {
            self.report(input_error(e.span, "not a data set", "expected the name of a data set").hint(SOURCE_HINT));
            return None;
        };
        let r = match self.lookup(&Env { module, kind: EnvKind::File }, n) {
            Resolved::Def(Def::Data(r)) => r,
            Resolved::Unknown => {
                let data_sets: Vec<&str> = self.modules[module]
                    .ast
                    .items
                    .iter()
                    .filter_map(|i| match i {
                        Item::Data(d) => Some(d.name.name.as_str()),
                        _ => None,
                    })
                    .collect();
                let mut d = input_error(e.span, format!("unknown data set `{n}`"), "no data set of this name");
                if let Some(s) = closest(n, data_sets.iter().copied()) {
                    d = d.hint(format!("did you mean `{s}`?"));
                }
                self.report(d.hint(format!("declare it: `data {n} = load(\"{n}.csv\")`")));
                return None;
            }
            _ => {
                self.report(
                    input_error(e.span, format!("`{n}` is not a data set"), "an input interpolates a data set")
                        .hint(SOURCE_HINT),
                );
                return None;
            }
        };
        let Item::Data(d) = self.item(r) else { return None };
        if let Some(loaded) = self.options.data_files.get(&r.item) {
            // `None`: the file could not be loaded (reported by the front end).
            return loaded.as_ref().map(|l| (n.clone(), l.series.columns.len()));
        }
        // `generate(model, ...)`: the model's states are the columns.
        let ExprKind::Call { args, .. } = &d.source.kind else { return None };
        let Some(Arg { name: None, value: Expr { kind: ExprKind::Name(m), .. } }) = args.first() else {
            return None;
        };
        match self.lookup(&Env { module, kind: EnvKind::File }, m) {
            Resolved::Def(Def::Model(mr)) => match self.models.get(&mr) {
                Some(info) if !info.controlled => Some((n.clone(), info.n_state)),
                _ if self.is_controlled_item(mr) => {
                    self.report(
                        input_error(
                            e.span,
                            format!("data set `{n}` is generated by the controlled model `{m}`"),
                            "a CDE cannot generate data",
                        )
                        .hint("generate the data with an ODE model, or load it from a file"),
                    );
                    None
                }
                // The model had errors (already reported).
                _ => None,
            },
            // Not a valid data source: the data declaration reports it.
            _ => None,
        }
    }

    /// Whether the item `r` is a model with an `input`.
    pub(super) fn is_controlled_item(&self, r: ItemRef) -> bool {
        matches!(self.item(r), Item::Model(m) if m.members.iter().any(|m| matches!(m, Member::Input { .. })))
    }

    /// A second `input` in a model (E0413).
    pub(super) fn second_input(&mut self, span: Span, first: Span) {
        self.report(
            Diagnostic::error("E0413", "a model has at most one `input`", span)
                .label("second `input`")
                .with_secondary(first, "first input here")
                .hint("this version drives a model by one control path; put every channel in one data set"),
        );
    }

    /// `X(args)` for the model's input `X`: `X(t)`, the path at the current
    /// time (E0415 for any other argument; E0309 where only constants are allowed).
    pub(super) fn path_call(&mut self, env: &Env, name: &str, args: &'a [Arg], span: Span) -> Option<TExpr> {
        let EnvKind::Model(m) = env.kind else { unreachable!("inputs live in models") };
        let at_t = match args {
            [Arg { name: None, value }] => {
                matches!(&value.kind, ExprKind::Name(n) if matches!(self.lookup(env, n), Resolved::Local(Local::Time)))
            }
            _ => false,
        };
        if m.phase == Phase::ParamInit {
            self.report(
                Diagnostic::error("E0309", "this value must be known at compile time", span)
                    .label(format!("`{name}` is a path, known only when the model runs"))
                    .hint(format!("its number of channels, `{name}.dim`, is a constant")),
            );
            return None;
        }
        if m.phase == Phase::Output {
            self.report(
                Diagnostic::error("E0415", format!("an output cannot read the path `{name}`"), span)
                    .label("an output is a function of the state")
                    .hint(format!(
                        "this version computes outputs from the saved states alone; keep what the readout needs                          from `{name}` in a state (e.g. `state x0: [{name}.dim] = {name}(t)` with `dx0/dt = 0 * x0`)"
                    )),
            );
            return None;
        }
        if !at_t {
            let label = match args {
                [Arg { name: None, .. }] => "not the current time `t`".to_string(),
                _ => format!("{} arguments", args.len()),
            };
            self.report(
                Diagnostic::error("E0415", format!("the path `{name}` is evaluated at the current time only"), span)
                    .label(label)
                    .hint(format!(
                        "write `{name}(t)`: this version reads the path where the solver is (in a state's \
                         initial value, at the initial time)"
                    )),
            );
            return None;
        }
        let c = m.input.as_ref().and_then(InputInfo::channels)?;
        Some(TExpr { kind: TKind::Control, shape: Shape::vector(c), span })
    }

    /// E0415: the input `X` used as a value.
    pub(super) fn path_as_value(&mut self, name: &str, span: Span) {
        self.report(
            Diagnostic::error("E0415", format!("`{name}` is a path, not a value"), span).label("used as a value").hint(
                format!(
                    "its value now is `{name}(t)`, its channel count `{name}.dim`; it drives an equation as \
                     `dz = F @ d{name}`"
                ),
            ),
        );
    }

    /// `X.field`: `X.dim`, the number of channels (a constant).
    pub(super) fn path_field(
        &mut self,
        env: &Env,
        base: &str,
        name: &str,
        name_span: Span,
        span: Span,
    ) -> Option<TExpr> {
        let EnvKind::Model(m) = env.kind else { unreachable!("inputs live in models") };
        if name != "dim" {
            self.report(
                Diagnostic::error("E0315", format!("path `{base}` has no field `{name}`"), name_span)
                    .label("unknown field")
                    .hint(format!("`{base}.dim` is its number of channels; its value is `{base}(t)`")),
            );
            return None;
        }
        let c = m.input.as_ref().and_then(InputInfo::channels)?;
        Some(TExpr::scalar(c as f64, span))
    }

    /// A `F @ dX` term: `F` is `[len, c]` for a vector state of `len`
    /// entries and `[c]` for a scalar state (E0414); the result, `F @
    /// dX/dt`, has the state's shape.
    pub(super) fn control_term(
        &mut self,
        state: &Ident,
        term: &SdeTerm,
        v: TExpr,
        want: Shape,
        c: usize,
    ) -> Option<TExpr> {
        let d = &term.differential.name;
        if !term.matmul {
            self.report(
                Diagnostic::error("E0414", format!("a control term is written `F @ {d}`"), term.span)
                    .label(format!("`{d}` without `@`"))
                    .hint(format!(
                        "`{d}` is a vector of {c} channels: write `F @ {d}` with F: [len, {c}] (or [{c}] for a scalar state)"
                    )),
            );
            return None;
        }
        let expected = match want.rank() {
            0 => Shape::vector(c),
            1 => Shape::matrix(want.len(), c),
            _ => {
                self.report(
                    Diagnostic::error("E0414", "a controlled equation needs a scalar or vector state", term.span)
                        .label(format!("`{}` is {want}", state.name))
                        .hint("use a vector state and `reshape` where the model needs a matrix"),
                );
                return None;
            }
        };
        if v.shape != expected {
            self.report(
                Diagnostic::error("E0414", format!("`F` in `F @ {d}` has the wrong shape"), term.coef.span)
                    .label(format!(
                        "expected {expected} (`{}` is {want}, the path has {c} channels) but `F` is {}",
                        state.name, v.shape
                    ))
                    .hint(format!(
                        "`F @ {d}` must have the state's shape: `F` is [state size, {c}]; from a net, \
                         `reshape(f(z), [{}, {c}])`",
                        want.len()
                    )),
            );
            return None;
        }
        let rate = TExpr { kind: TKind::ControlRate, shape: Shape::vector(c), span: term.differential.span };
        Some(TExpr { kind: TKind::MatMul(Box::new(v), Box::new(rate)), shape: want, span: term.span })
    }

    /// E0416: noise terms and a control path (its terms, or only its
    /// declaration) in one model.
    pub(super) fn noise_and_control(&mut self, noise: Span, control: Span) {
        self.report(
            Diagnostic::error("E0416", "a model has noise and a control path", noise)
                .label("a noise term")
                .with_secondary(control, "the control path")
                .hint("this version solves either an SDE (`dW`) or a CDE (`dX`); split them into two models"),
        );
    }

    /// E0714: `generate` of a controlled model.
    pub(super) fn controlled_model_refused(&mut self, model: &str, what: &str, span: Span) {
        self.report(
            Diagnostic::error("E0714", format!("`{what}` cannot solve the controlled model `{model}`"), span)
                .label("a model with an `input` (a CDE) follows the paths of a data set")
                .hint("generate data with an ODE or SDE model; a loss solves a CDE along its data: `solve(m, at = obs.t, with = s)`"),
        );
    }

    /// A `solve` of the controlled `model` saved at the data set `data`:
    /// its trajectories are the control paths, so it needs the value
    /// columns the model's `input` was checked with (E0716).
    pub(super) fn cde_solve_data(&mut self, model: &str, columns: Option<usize>, data: ItemRef, at: Span) -> bool {
        let (Some(want), Some(info)) = (columns, self.data_info.get(&data)) else { return true };
        if info.n_obs == want {
            return true;
        }
        let (name, found) = (info.name.clone(), info.n_obs);
        self.report(
            Diagnostic::error("E0716", format!("`{name}` cannot drive the controlled model `{model}`"), at)
                .label(format!("`{name}` has {found} value columns, the input of `{model}` was checked with {want}"))
                .hint(format!(
                    "a CDE solve follows the paths of the data set it saves at, one per trajectory: save at a data \
                     set with the {want} columns of the model's input (e.g. a test set of the same series)"
                )),
        );
        false
    }

    /// Whether `model` is a checked controlled model (a CDE).
    pub(super) fn is_controlled(&self, model: &str) -> bool {
        self.models.values().any(|m| m.name == model && m.controlled)
    }

    /// The `train` options of a loss that solves a CDE (E0706): whole
    /// trajectories (`full` or `trajectories(count)`, each solved along its
    /// own path), from the model's initial state (which may read `X(t0)`),
    /// a gradient method of `driver::cde::gradient_cde` (`discrete`,
    /// `backsolve`, `interpolated`), and of the statistics only `sol.nfe`
    /// and `sol.steps`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn cde_against_loss(
        &mut self,
        t: &crate::syntax::ast::TrainItem,
        loss: &super::tree::CheckedLoss,
        batch_span: Span,
        batch: crate::ir::training::BatchSpec,
        initial: Option<(crate::ir::training::InitialState, Span)>,
        gradient: &str,
        gradient_span: Option<Span>,
    ) {
        use crate::ir::training::{BatchSpec, InitialState, LossStat};
        let error = |span, message: String, label: String| Diagnostic::error("E0706", message, span).label(label);
        let model = &loss.model;
        if let BatchSpec::Windows { .. } = batch {
            let d = error(batch_span, "windows of a controlled model".into(), format!("`{model}` is a CDE"));
            self.report(d.hint(
                "a CDE is solved along the whole path of each trajectory: use `batch = full` or \
                 `batch = trajectories(count = ...)`",
            ));
        }
        if let Some((InitialState::Data, at)) = initial {
            let d = error(at, "`initial = data` with a controlled model".into(), format!("`{model}` is a CDE"));
            self.report(d.hint(
                "a CDE starts from its own initial state, which may read the path at the first time: \
                 `state z = f(X(t))`; drop `initial` (it is `model` for a CDE)",
            ));
        }
        if gradient == "reversible" {
            let d = error(
                gradient_span.unwrap_or(t.loss.span),
                "`gradient = reversible` with a controlled model".into(),
                format!("`{model}` has no noise terms"),
            );
            self.report(d.hint("a CDE trains with `gradient = discrete`, `backsolve` or `interpolated`"));
        }
        for stat in &loss.stats_used {
            if !matches!(stat, LossStat::Nfe | LossStat::Steps) {
                let d = error(
                    t.loss.span,
                    format!("`sol.{}` of a CDE solve", stat.name()),
                    format!("loss `{}` solves the controlled model `{model}`", loss.name),
                );
                self.report(d.hint(
                    "a CDE is solved knot to knot and has no solver heuristics in this version; \
                     `sol.nfe` and `sol.steps` are available",
                ));
            }
        }
    }
}
