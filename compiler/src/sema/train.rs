//! Checking `train LOSS { ... }`: the loss (E0708), each option's name and
//! value (E0706), the options' agreement with the loss and its data
//! (window lengths, trajectory counts, the initial state, statistics that
//! need the discrete adjoint), and defaults, into a [`TrainSpec`].

use std::path::{Path, PathBuf};

use crate::diag::Diagnostic;
use crate::ir::training::{BatchSpec, InitialState, LossStat, OptimizerSpec, ScheduleSpec, TrainSpec};
use crate::span::Span;
use crate::syntax::ast::{Arg, Expr, ExprKind, TrainItem};

use super::builtins::{closest, BATCHES, GRADIENTS, OPTIMIZERS, SCHEDULES, STIFF_SOLVER_METHODS, TRAIN_OPTIONS};
use super::checker::{Checker, Def, Env, EnvKind, Resolved};
use super::tree::CheckedLoss;

/// Largest whole number accepted for counts and seeds (2^53).
const MAX_WHOLE: f64 = 9_007_199_254_740_992.0;

/// What a numeric option must be.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// `> 0`, finite.
    Positive,
    /// `>= 0`, finite.
    NonNegative,
    /// In `[0, 1)`.
    Fraction,
    /// A whole number `>= 1`.
    Count,
    /// A whole number `>= 0`.
    Whole,
    /// `true` or `false`.
    Flag,
}

impl Kind {
    fn words(self) -> &'static str {
        match self {
            Kind::Positive => "a positive number",
            Kind::NonNegative => "a number >= 0",
            Kind::Fraction => "a number in [0, 1)",
            Kind::Count => "a whole number >= 1",
            Kind::Whole => "a whole number >= 0",
            Kind::Flag => "`true` or `false`",
        }
    }

    fn accepts(self, x: f64) -> bool {
        let whole = x.fract() == 0.0 && x <= MAX_WHOLE;
        x.is_finite()
            && match self {
                Kind::Positive => x > 0.0,
                Kind::NonNegative => x >= 0.0,
                Kind::Fraction => (0.0..1.0).contains(&x),
                Kind::Count => whole && x >= 1.0,
                Kind::Whole => whole && x >= 0.0,
                Kind::Flag => x == 0.0 || x == 1.0,
            }
    }
}

/// The kind of each option of an optimiser, schedule, batch or gradient.
fn option_kind(option: &str) -> Kind {
    match option {
        "lr" | "eps" | "gamma" => Kind::Positive,
        "beta1" | "beta2" | "alpha" => Kind::Fraction,
        "momentum" | "dampening" | "weight_decay" | "end" => Kind::NonNegative,
        "nesterov" | "centered" => Kind::Flag,
        "warmup" => Kind::Whole,
        _ => Kind::Count, // every, length, count, checkpoints
    }
}

/// A setting written `name` or `name(option = value, ...)`.
struct Choice<'a> {
    name: &'a str,
    span: Span,
    options: Vec<(String, f64)>,
    /// The place of each option's value, for later checks.
    places: Vec<Span>,
}

impl Choice<'_> {
    fn get(&self, option: &str) -> Option<(f64, Span)> {
        self.options.iter().zip(&self.places).find(|((n, _), _)| n == option).map(|((_, v), s)| (*v, *s))
    }
}

/// An E0706 diagnostic.
fn train_error(span: Span, message: impl Into<String>, label: impl Into<String>) -> Diagnostic {
    Diagnostic::error("E0706", message, span).label(label)
}

impl<'a> Checker<'a> {
    /// Checks a `train` block of module `module`; `None` if it has errors.
    /// `losses` are the losses that checked cleanly.
    pub fn check_train(&mut self, module: usize, t: &'a TrainItem, losses: &[CheckedLoss]) -> Option<TrainSpec> {
        let errors_before = self.diags.len();
        let env = Env { module, kind: EnvKind::File };
        let loss = match self.lookup(&env, &t.loss.name) {
            Resolved::Def(Def::Loss(_)) => losses.iter().find(|l| l.name == t.loss.name),
            other => {
                let what = match other {
                    Resolved::Unknown => "not defined".to_string(),
                    Resolved::Def(Def::Model(_)) => "a model".to_string(),
                    Resolved::Def(Def::Data(_)) => "a data set".to_string(),
                    _ => "not a loss".to_string(),
                };
                let mut d = Diagnostic::error("E0708", format!("`{}` is not a loss", t.loss.name), t.loss.span)
                    .label(format!("`{}` is {what}", t.loss.name));
                let names = self.loss_names(module);
                if let Some(s) = closest(&t.loss.name, names.iter().map(String::as_str)) {
                    d = d.hint(format!("did you mean `{s}`?"));
                }
                if names.is_empty() {
                    d = d.hint("`train NAME { ... }` minimises the `loss NAME` of this file; declare it first");
                } else {
                    d = d.hint(format!("the losses of this file: {}", names.join(", ")));
                }
                self.report(d);
                None
            }
        };

        let mut optimizer = None;
        let mut schedule = None;
        let mut clip = None;
        let mut steps = None;
        let mut batch = None;
        let mut initial = None;
        let mut gradient = None;
        let mut seed = None;
        let mut checkpoint = None;
        let mut checkpoint_every = None;
        let mut seen: Vec<(&str, Span)> = Vec::new();
        for o in &t.options {
            let name = o.name.name.as_str();
            if !TRAIN_OPTIONS.contains(&name) {
                let mut d =
                    train_error(o.name.span, format!("unknown `train` option `{name}`"), "not a `train` option");
                if let Some(s) = closest(name, TRAIN_OPTIONS.iter().copied()) {
                    d = d.hint(format!("did you mean `{s}`?"));
                }
                self.report(d.hint(format!("options: {}", TRAIN_OPTIONS.join(", "))));
                continue;
            }
            if let Some(&(_, first)) = seen.iter().find(|(n, _)| *n == name) {
                let d = train_error(o.name.span, format!("option `{name}` is set twice"), "set again here")
                    .with_secondary(first, "first set here");
                self.report(d);
                continue;
            }
            seen.push((name, o.name.span));
            let v = &o.value;
            match name {
                "optimizer" => optimizer = self.choice(module, v, "optimizer", OPTIMIZERS).map(|c| (c, v.span)),
                "schedule" => schedule = self.choice(module, v, "schedule", SCHEDULES),
                "batch" => batch = self.choice(module, v, "batch", BATCHES),
                "gradient" => gradient = self.choice(module, v, "gradient", GRADIENTS),
                "clip" => clip = self.number(module, v, name, Kind::Positive),
                "steps" => steps = self.number(module, v, name, Kind::Count).map(|x| (x as u64, v.span)),
                "seed" => seed = self.number(module, v, name, Kind::Whole).map(|x| x as u64),
                "checkpoint_every" => checkpoint_every = self.number(module, v, name, Kind::Count).map(|x| x as u64),
                "initial" => initial = self.initial(v),
                "checkpoint" => checkpoint = self.checkpoint_path(module, v),
                _ => unreachable!("every option is handled"),
            }
        }

        // The optimiser is required, and with it a learning rate.
        let optimizer = match optimizer {
            Some((c, span)) if c.get("lr").is_none() => {
                self.report(
                    train_error(span, "the optimizer needs a learning rate", "no `lr`")
                        .hint(format!("e.g. `optimizer = {}(lr = 1e-3)`", c.name)),
                );
                None
            }
            Some((c, span)) => {
                self.optimizer_rules(&c, span).then(|| OptimizerSpec { rule: c.name.into(), options: c.options })
            }
            None if !seen.iter().any(|(n, _)| *n == "optimizer") => {
                self.report(
                    train_error(t.loss.span, format!("`train {}` needs an `optimizer`", t.loss.name), "no optimizer")
                        .hint("e.g. `optimizer = adam(lr = 1e-3)`; optimizers: sgd, adam, adamw, rmsprop"),
                );
                None
            }
            None => None,
        };
        let steps_value = steps.map_or(1000, |(s, _)| s);
        if let Some(c) = &schedule {
            if let Some((warmup, at)) = c.get("warmup") {
                if warmup > steps_value as f64 {
                    let d = train_error(
                        at,
                        "warmup longer than the training",
                        format!("{warmup} warmup steps of {steps_value}"),
                    );
                    self.report(d.hint("the warmup must not exceed `steps`"));
                }
            }
            if c.name == "step" && c.get("every").is_none() {
                let d = train_error(c.span, "`step` needs `every`", "no `every`");
                self.report(d.hint("e.g. `schedule = step(every = 500, gamma = 0.5)`"));
            }
        }
        if let (Some(_), None) = (checkpoint_every, &checkpoint) {
            if let Some(&(_, at)) = seen.iter().find(|(n, _)| *n == "checkpoint_every") {
                let d = train_error(at, "`checkpoint_every` without `checkpoint`", "nothing is written");
                self.report(d.hint("name the file: `checkpoint = \"fit.ckpt.npz\"`"));
            }
        }
        let batch = match &batch {
            None if seen.iter().any(|(n, _)| *n == "batch") => None,
            None => Some(BatchSpec::Full),
            Some(c) => self.batch_spec(c),
        };
        let gradient_name = gradient.as_ref().map_or("discrete", |c| c.name).to_string();
        let adjoint_checkpoints = gradient.as_ref().and_then(|c| c.get("checkpoints")).map(|(x, _)| x as usize);

        // Checks against the loss and its data.
        if let (Some(loss), Some(batch)) = (loss, batch) {
            self.against_loss(t, loss, batch, initial, &gradient_name, gradient.as_ref().map(|c| c.span));
        }
        if self.diags.len() > errors_before {
            return None;
        }
        let (loss, optimizer, batch) = (loss?, optimizer?, batch?);
        let default_initial = match batch {
            _ if self.is_controlled(&loss.model) => InitialState::Model,
            BatchSpec::Full => InitialState::Model,
            _ => InitialState::Data,
        };
        let schedule = schedule.map_or_else(
            || ScheduleSpec { kind: "constant".into(), options: Vec::new() },
            |c| ScheduleSpec { kind: c.name.into(), options: c.options },
        );
        Some(TrainSpec {
            loss: loss.name.clone(),
            optimizer,
            schedule,
            clip,
            steps: steps_value,
            batch,
            initial: initial.map_or(default_initial, |(i, _)| i),
            gradient: gradient_name,
            adjoint_checkpoints,
            seed: seed.unwrap_or(0),
            checkpoint,
            checkpoint_every: checkpoint_every.unwrap_or(100),
        })
    }

    /// The names of the losses declared in `module`, sorted.
    fn loss_names(&self, module: usize) -> Vec<String> {
        let mut names: Vec<String> = self.scopes[module]
            .names
            .iter()
            .filter(|(_, e)| matches!(e.def, Def::Loss(_)))
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names
    }

    /// `name` or `name(options)` among `table`; every option checked.
    fn choice(
        &mut self,
        module: usize,
        v: &'a Expr,
        what: &str,
        table: &[(&'static str, &[&'static str])],
    ) -> Option<Choice<'static>> {
        let (name, args): (&str, &'a [Arg]) = match &v.kind {
            ExprKind::Name(n) => (n, &[]),
            ExprKind::Call { callee, args } => match &callee.kind {
                ExprKind::Name(n) => (n, args.as_slice()),
                _ => ("", &[]),
            },
            _ => ("", &[]),
        };
        let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
        let Some(&(name, allowed)) = table.iter().find(|(n, _)| *n == name) else {
            let label = if name.is_empty() { format!("not a {what}") } else { format!("`{name}` is not a {what}") };
            let mut d = train_error(v.span, format!("invalid `{what}`"), label);
            if let Some(s) = closest(name, names.iter().copied()).filter(|_| !name.is_empty()) {
                d = d.hint(format!("did you mean `{s}`?"));
            }
            self.report(d.hint(format!("choose one of: {}", names.join(", "))));
            return None;
        };
        let mut out = Choice { name, span: v.span, options: Vec::new(), places: Vec::new() };
        let mut ok = true;
        for a in args {
            let Some(n) = &a.name else {
                let d = train_error(a.value.span, format!("the options of `{name}` are named"), "positional option");
                let hint = if allowed.is_empty() {
                    format!("`{name}` takes no options")
                } else {
                    format!("write `option = value`; `{name}` takes {}", allowed.join(", "))
                };
                self.report(d.hint(hint));
                ok = false;
                continue;
            };
            if !allowed.contains(&n.name.as_str()) {
                let mut d = train_error(n.span, format!("`{name}` has no option `{}`", n.name), "unknown option");
                if let Some(s) = closest(&n.name, allowed.iter().copied()) {
                    d = d.hint(format!("did you mean `{s}`?"));
                }
                let hint = if allowed.is_empty() {
                    format!("`{name}` takes no options")
                } else {
                    format!("`{name}` takes {}", allowed.join(", "))
                };
                self.report(d.hint(hint));
                ok = false;
                continue;
            }
            if out.options.iter().any(|(o, _)| *o == n.name) {
                let d = train_error(n.span, format!("option `{}` is set twice", n.name), "set again here");
                self.report(d);
                ok = false;
                continue;
            }
            match self.number(module, &a.value, &n.name, option_kind(&n.name)) {
                Some(x) => {
                    out.options.push((n.name.clone(), x));
                    out.places.push(a.value.span);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// A constant of `kind` (booleans as 0 and 1); E0706 otherwise.
    fn number(&mut self, module: usize, v: &'a Expr, name: &str, kind: Kind) -> Option<f64> {
        if kind == Kind::Flag {
            if let ExprKind::Name(b) = &v.kind {
                if b == "true" || b == "false" {
                    return Some(if b == "true" { 1.0 } else { 0.0 });
                }
            }
            let d = train_error(v.span, format!("invalid value for `{name}`"), "expected `true` or `false`");
            self.report(d);
            return None;
        }
        let value = self.expr(&Env { module, kind: EnvKind::File }, v)?;
        let x = value.as_const().filter(|_| value.shape.is_scalar()).map(|c| c[0]);
        let why = match x {
            None if value.as_const().is_none() => "not known at compile time".to_string(),
            None => format!("a {} tensor, not a number", value.shape),
            Some(x) if !kind.accepts(x) => format!("{x} is not {}", kind.words()),
            Some(_) => return x,
        };
        let d = train_error(v.span, format!("invalid value for `{name}`"), why);
        self.report(d.hint(format!("`{name}` is {}", kind.words())));
        None
    }

    /// `initial = model | data`.
    fn initial(&mut self, v: &Expr) -> Option<(InitialState, Span)> {
        match &v.kind {
            ExprKind::Name(n) if n == "model" => Some((InitialState::Model, v.span)),
            ExprKind::Name(n) if n == "data" => Some((InitialState::Data, v.span)),
            _ => {
                let d = train_error(v.span, "invalid value for `initial`", "expected `model` or `data`");
                self.report(d.hint("`model`: the model's initial state; `data`: the first observation of each window"));
                None
            }
        }
    }

    /// `checkpoint = "file"`, resolved against the declaring file's folder.
    fn checkpoint_path(&mut self, module: usize, v: &Expr) -> Option<PathBuf> {
        let ExprKind::Str(path) = &v.kind else {
            let d = train_error(v.span, "invalid value for `checkpoint`", "expected a file name in quotes");
            self.report(d.hint("e.g. `checkpoint = \"fit.ckpt.npz\"`, relative to this file"));
            return None;
        };
        let file = &self.modules[module].file;
        let base = self.sources.get(*file).and_then(|f| Path::new(&f.name).parent().map(Path::to_path_buf));
        Some(base.unwrap_or_default().join(path))
    }

    /// The optimiser's options agree with each other (Nesterov momentum).
    fn optimizer_rules(&mut self, c: &Choice, span: Span) -> bool {
        if c.name == "sgd" && c.get("nesterov").is_some_and(|(x, _)| x == 1.0) {
            let momentum = c.get("momentum").map_or(0.0, |(x, _)| x);
            let dampening = c.get("dampening").map_or(0.0, |(x, _)| x);
            if momentum <= 0.0 || dampening != 0.0 {
                let d = train_error(span, "Nesterov momentum needs a momentum", "`nesterov = true`");
                self.report(d.hint("set `momentum` above 0 and leave `dampening` at 0"));
                return false;
            }
        }
        true
    }

    fn batch_spec(&mut self, c: &Choice) -> Option<BatchSpec> {
        let need = |this: &mut Self, option: &str| {
            let d = train_error(c.span, format!("`{}` needs `{option}`", c.name), format!("no `{option}`"));
            this.report(d.hint("e.g. `batch = windows(length = 10, count = 20)` or `trajectories(count = 8)`"));
        };
        match c.name {
            "full" => Some(BatchSpec::Full),
            "windows" => match (c.get("length"), c.get("count")) {
                (Some((length, _)), Some((count, _))) => {
                    Some(BatchSpec::Windows { length: length as usize, count: count as usize })
                }
                (None, _) => {
                    need(self, "length");
                    None
                }
                (_, None) => {
                    need(self, "count");
                    None
                }
            },
            _ => match c.get("count") {
                Some((count, _)) => Some(BatchSpec::Trajectories { count: count as usize }),
                None => {
                    need(self, "count");
                    None
                }
            },
        }
    }

    /// The batch, initial state and gradient fit the loss and its data.
    fn against_loss(
        &mut self,
        t: &TrainItem,
        loss: &CheckedLoss,
        batch: BatchSpec,
        initial: Option<(InitialState, Span)>,
        gradient: &str,
        gradient_span: Option<Span>,
    ) {
        let Some(data) = self.data_info.values().find(|d| d.name == loss.data).cloned() else { return };
        let batch_span = t.options.iter().find(|o| o.name.name == "batch").map_or(t.loss.span, |o| o.value.span);
        match batch {
            BatchSpec::Windows { length, .. } if length < 2 || length > data.n_times => {
                let d = train_error(
                    batch_span,
                    "invalid window length",
                    format!("{length} times; `{}` has {}", data.name, data.n_times),
                );
                self.report(d.hint(format!("a window spans from 2 to {} save times", data.n_times)));
            }
            BatchSpec::Trajectories { count } if count > data.n_traj => {
                let d = train_error(
                    batch_span,
                    "more trajectories than the data has",
                    format!("{count} per step; `{}` has {}", data.name, data.n_traj),
                );
                self.report(d.hint(format!("use at most `count = {}`", data.n_traj)));
            }
            _ => {}
        }
        self.stiff_against_loss(t, loss, gradient);
        if loss.layout.is_ensemble() {
            self.ensemble_train(loss, batch, batch_span, initial);
            self.sde_against_loss(t, loss, gradient, gradient_span);
            return;
        }
        if self.is_controlled(&loss.model) {
            self.cde_against_loss(t, loss, batch_span, batch, initial, gradient, gradient_span);
            return;
        }
        let windows = matches!(batch, BatchSpec::Windows { .. });
        let from_data = match initial {
            Some((i, _)) => i == InitialState::Data,
            None => !matches!(batch, BatchSpec::Full),
        };
        match initial {
            Some((InitialState::Model, at)) if windows => {
                let d =
                    train_error(at, "`initial = model` with windows", "each window starts at its first observation");
                self.report(d.hint("drop `initial` (windows start from the data), or train on `batch = full`"));
            }
            _ if from_data => {
                let at = initial.map_or(batch_span, |(_, s)| s);
                if data.n_obs != loss.layout.n_state {
                    let d = train_error(
                        at,
                        "the data cannot be an initial state",
                        format!(
                            "`{}` has {} value columns, model `{}` {} states",
                            data.name, data.n_obs, loss.model, loss.layout.n_state
                        ),
                    );
                    self.report(d.hint("starting from an observation needs one column per state value; use `initial = model` with `batch = full`"));
                }
            }
            _ => {}
        }
        let sde = self.models.values().find(|m| m.name == loss.model).map(|m| m.sde);
        if sde == Some(true) {
            self.sde_against_loss(t, loss, gradient, gradient_span);
            return;
        }
        if gradient == "reversible" {
            let d = train_error(
                gradient_span.unwrap_or(t.loss.span),
                "`gradient = reversible` with an ODE model",
                format!("`{}` has no noise terms", loss.model),
            );
            self.report(d.hint("`reversible` differentiates SDE models solved with reversible_heun; use `gradient = discrete`, `backsolve` or `interpolated`"));
        }
        if gradient != "discrete" {
            for stat in [LossStat::LocalError, LossStat::Stiffness] {
                if loss.stats_used.contains(&stat) {
                    let at = gradient_span.unwrap_or(t.loss.span);
                    let d = train_error(
                        at,
                        format!("`sol.{}` needs `gradient = discrete`", stat.name()),
                        format!("`{gradient}` cannot differentiate it"),
                    );
                    self.report(d.hint(format!(
                        "use `gradient = discrete`, or `sol.sampled_{}` which any gradient method supports",
                        stat.name()
                    )));
                }
            }
        }
    }

    /// A loss through a stiff solver trains only with a continuous adjoint
    /// (`gradient = interpolated` or `backsolve`) of `rodas5`, `radau5`,
    /// `kvaerno5` or `bdf` on an ODE model, without the solver-heuristic statistics (E0717).
    fn stiff_against_loss(&mut self, t: &TrainItem, loss: &CheckedLoss, gradient: &str) {
        let method = loss.solver.method.as_str();
        if !STIFF_SOLVER_METHODS.contains(&method) {
            return;
        }
        let heuristic =
            [LossStat::LocalError, LossStat::Stiffness, LossStat::SampledLocalError, LossStat::SampledStiffness]
                .into_iter()
                .find(|s| loss.stats_used.contains(s));
        let (message, label, hint) = if method == "auto" {
            (
                "gradients do not go through `auto`".to_string(),
                format!("loss `{}` solves with auto, which switches between tsit5 and rodas5", loss.name),
                "solve the loss with rodas5, radau5, kvaerno5 or bdf and `gradient = interpolated`, or with an explicit solver"
                    .to_string(),
            )
        } else if self.is_controlled(&loss.model) {
            (
                "a controlled model trains through explicit solvers only".to_string(),
                format!("loss `{}` solves controlled model `{}` with {method}", loss.name, loss.model),
                "use an explicit solver (tsit5, dopri5, ...) in the loss".to_string(),
            )
        } else if let Some(stat) = heuristic {
            (
                format!("`sol.{}` measures an explicit solver's steps", stat.name()),
                format!("loss `{}` solves with {method}", loss.name),
                format!("drop `sol.{}` from the loss, or solve it with an explicit solver", stat.name()),
            )
        } else if gradient == "discrete" {
            (
                "gradients through stiff solvers need a continuous adjoint".to_string(),
                format!(
                    "loss `{}` solves with {method}; the discrete adjoint cannot go through its Newton iterations",
                    loss.name
                ),
                "add `gradient = interpolated` (or `backsolve`) to the train block".to_string(),
            )
        } else {
            return;
        };
        self.report(Diagnostic::error("E0717", message, t.loss.span).label(label).hint(hint));
    }

    /// The gradient method and statistics of a loss that solves an SDE model.
    fn sde_against_loss(&mut self, t: &TrainItem, loss: &CheckedLoss, gradient: &str, gradient_span: Option<Span>) {
        let at = gradient_span.unwrap_or(t.loss.span);
        let method = loss.solver.method.as_str();
        match gradient {
            "backsolve" | "interpolated" => {
                let d = train_error(
                    at,
                    format!("`gradient = {gradient}` with an SDE model"),
                    format!("a continuous adjoint of ODEs; `{}` has noise terms", loss.model),
                );
                self.report(
                    d.hint("SDE models train with `gradient = discrete` (or `reversible` with reversible_heun)"),
                );
            }
            "reversible" if method != "reversible_heun" => {
                let d = train_error(
                    at,
                    "`gradient = reversible` needs the reversible_heun solver",
                    format!("loss `{}` solves with {method}", loss.name),
                );
                self.report(d.hint("solve with `reversible_heun(dt = ...)`, or use `gradient = discrete`"));
            }
            _ => {}
        }
        for stat in &loss.stats_used {
            if !matches!(stat, LossStat::Nfe | LossStat::Steps) {
                let d = train_error(
                    t.loss.span,
                    format!("`sol.{}` of an SDE solve", stat.name()),
                    format!("loss `{}` solves `{}`, which has noise terms", loss.name, loss.model),
                );
                self.report(
                    d.hint("the solver heuristics are for ODE solves; an SDE solve has `sol.nfe` and `sol.steps`"),
                );
            }
        }
    }
}
