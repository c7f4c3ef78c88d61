//! Checking a `loss`: its `let`s, its one `solve(MODEL, at = DATA.t, with =
//! SOLVER)` (E0701, E0702, E0703, E0713), the solution's members (`sol.y`,
//! `sol.t`, the statistics, the model's outputs `sol.NAME` (in
//! [`super::outputs`]); E0707 for a solution used as a tensor), the data it
//! reads (E0711 for a second data set), a solve of a controlled model (the
//! data's columns, E0716, in [`super::control`]), and its value: a scalar
//! (E0704) with every missing observation reduced away (E0705).
//!
//! A loss is checked like a model body, with [`LossEnv`] for its `let`s and
//! [`LossState`] (on the checker) collecting the solves, data reads and
//! statistics met on the way. The result reads its inputs through
//! [`TKind::LossInput`] and is laid out by [`LossLayout`].

use std::collections::HashMap;

use crate::diag::Diagnostic;
use crate::ir::training::{LossLayout, LossStat, Sampling};
use crate::ir::{Shape, SolverSpec};
use crate::span::Span;
use crate::syntax::ast::{Arg, Expr, ExprKind, LossItem};

use super::builtins::{Builtin, SDE_SOLVER_METHODS};
use super::checker::{Checker, Def, Env, EnvKind, ItemRef, LossEnv, LossLocal, Resolved};
use super::consts;
use super::tree::{CheckedLoss, LossInput, TExpr, TKind};

/// One `solve(...)` of a loss, checked.
#[derive(Clone, Debug)]
pub(crate) struct SolveInfo {
    pub span: Span,
    pub model: String,
    pub n_state: usize,
    pub n_param: usize,
    /// The data set whose times are the save times.
    pub data: ItemRef,
    pub solver: SolverSpec,
    pub sampling: Sampling,
    /// Sample paths of an ensemble (`paths = N`); 1 for a single solve.
    pub paths: usize,
    /// The model's outputs (`sol.NAME`), name and shape.
    pub outputs: Vec<(String, Shape)>,
}

/// What checking a loss's expressions has met so far.
#[derive(Clone, Debug, Default)]
pub(crate) struct LossState {
    pub solves: Vec<SolveInfo>,
    /// Every `DATA.t` / `DATA.y` read, with its place.
    pub data_reads: Vec<(ItemRef, Span)>,
    /// The statistics read, in first-use order.
    pub stats: Vec<LossStat>,
    /// Calls of `solve` met, with errors or not.
    pub attempted: usize,
    /// The places of the `DATA.y` reads (E0715 beside an ensemble).
    pub obs_y_reads: Vec<Span>,
    /// Whether `DATA.mean` or `DATA.var` was read.
    pub data_stats: bool,
}

const SOLUTION_MEMBERS: &str = "`.y`, `.t`, `.local_error`, `.stiffness`, `.sampled_local_error`, \
                                `.sampled_stiffness`, `.nfe`, `.steps` (and `.mean`, `.var` of an ensemble), and the \
                                model's `output`s by name";

impl<'a> Checker<'a> {
    /// Checks a loss of module `module`; `None` if it has errors.
    pub fn check_loss(&mut self, module: usize, l: &'a LossItem) -> Option<CheckedLoss> {
        let errors_before = self.diags.len();
        self.loss = Some(LossState::default());
        let mut env = LossEnv::default();
        for x in &l.lets {
            env.all_lets.entry(x.name.name.clone()).or_insert(x.name.span);
        }
        let mut first: HashMap<&str, Span> = HashMap::new();
        let mut lets: Vec<TExpr> = Vec::new();
        for x in &l.lets {
            let name = &x.name;
            if self.check_reserved(name) {
                env.names.insert(name.name.clone(), LossLocal::Failed);
                continue;
            }
            let file_def = self.scopes[module].names.get(&name.name).map(|e| e.span);
            if let Some(prev) = first.get(name.name.as_str()).copied().or(file_def) {
                let mut d = Diagnostic::error("E0201", format!("`{}` is defined more than once", name.name), name.span)
                    .label(format!("`{}` defined again here", name.name));
                if !prev.is_detached() {
                    d = d.with_secondary(prev, "first defined here");
                }
                self.report(d.hint("rename one of them"));
                continue;
            }
            first.insert(&name.name, name.span);
            let local = match self.solve_args(&env, module, &x.value) {
                Some(args) => match self.check_solve(&Env { module, kind: EnvKind::Loss(&env) }, args, x.value.span) {
                    Some(info) => {
                        let state = self.loss.as_mut().expect("checking a loss");
                        state.solves.push(info);
                        LossLocal::Solution(state.solves.len() - 1)
                    }
                    None => LossLocal::Failed,
                },
                None => match self.expr(&Env { module, kind: EnvKind::Loss(&env) }, &x.value) {
                    Some(v) => {
                        let (v, mask) = consts::unmask(v);
                        let konst = v.as_const().cloned();
                        lets.push(v);
                        LossLocal::Value { index: lets.len() - 1, shape: lets[lets.len() - 1].shape, konst, mask }
                    }
                    None => LossLocal::Failed,
                },
            };
            env.names.insert(name.name.clone(), local);
        }
        let value = self.expr(&Env { module, kind: EnvKind::Loss(&env) }, &l.value);
        let state = self.loss.take().unwrap_or_default();

        let solve = self.the_solve(l, &state);
        if let Some(s) = &solve {
            for &(r, span) in &state.data_reads {
                if r != s.data {
                    let (read, solved) = (self.data_name(r), self.data_name(s.data));
                    self.report(
                        Diagnostic::error("E0711", format!("the loss reads a second data set, `{read}`"), span)
                            .label(format!("the loss solves at `{solved}.t`"))
                            .with_secondary(s.span, "the solve")
                            .hint(format!(
                                "a loss compares one solve with the data set it is saved at: use `{solved}`"
                            )),
                    );
                }
            }
            let n_traj = self.data_info.get(&s.data).map_or(1, |d| d.n_traj);
            if s.paths > 1 && n_traj > 1 && !state.obs_y_reads.is_empty() {
                let name = self.data_name(s.data);
                self.ensemble_reads_y(&name, n_traj, &state.obs_y_reads, s.span);
            }
        }
        let value = value.and_then(|v| self.loss_value(l, v));
        if let Some(v) = &value {
            for e in lets.iter().chain(std::iter::once(v)) {
                if let Some(span) = find_masked(e) {
                    // Every operation lifts, removes or rejects a mask; this
                    // catches one that slipped through.
                    self.masked_operand("this operation", span);
                }
            }
        }
        if self.diags.len() > errors_before {
            return None;
        }
        let (solve, value) = (solve?, value?);
        if !self.check_loss_budget(&l.name.name, l.name.span, &lets, &value) {
            return None;
        }
        let data = self.data_info.get(&solve.data)?.clone();
        let stats_used = LossStat::ALL.into_iter().filter(|s| state.stats.contains(s)).collect();
        Some(CheckedLoss {
            name: l.name.name.clone(),
            span: l.name.span,
            model: solve.model,
            n_param: solve.n_param,
            data: data.name,
            solver: solve.solver,
            sampling: solve.sampling,
            stats_used,
            layout: LossLayout {
                n_times: data.rows,
                n_state: solve.n_state,
                n_obs: data.n_obs,
                paths: solve.paths,
                data_stats: state.data_stats,
                n_field: data.n_field,
            },
            lets,
            value,
        })
    }

    fn data_name(&self, r: ItemRef) -> String {
        self.data_info.get(&r).map_or_else(|| "?".to_string(), |d| d.name.clone())
    }

    /// E0702 unless the loss made exactly one solve; that solve.
    fn the_solve(&mut self, l: &LossItem, state: &LossState) -> Option<SolveInfo> {
        match state.solves.as_slice() {
            [one] => Some(one.clone()),
            [] => {
                // A solve with errors was reported already.
                if state.attempted == 0 {
                    self.report(
                        Diagnostic::error("E0702", format!("loss `{}` solves no model", l.name.name), l.name.span)
                            .label("a loss needs exactly one `solve`")
                            .hint("e.g. `let sol = solve(model, at = obs.t, with = solver)`, then compare `sol.y` with `obs.y`"),
                    );
                }
                None
            }
            [first, rest @ ..] => {
                for s in rest {
                    self.report(
                        Diagnostic::error("E0702", "a loss solves one model once", s.span)
                            .label("a second `solve`")
                            .with_secondary(first.span, "the first `solve`")
                            .hint("bind the solve once, `let sol = solve(...)`, and use `sol` everywhere"),
                    );
                }
                None
            }
        }
    }

    /// The loss's value: a scalar with no mask left (E0704, E0705).
    fn loss_value(&mut self, l: &LossItem, v: TExpr) -> Option<TExpr> {
        if !v.shape.is_scalar() {
            self.report(
                Diagnostic::error("E0704", format!("loss `{}` is not a scalar", l.name.name), l.value.span)
                    .label(format!("this is a {} tensor", v.shape))
                    .hint("reduce it, e.g. with `mean(...)`, `sum(...)` or `mse(sol.y, obs.y)`"),
            );
            return None;
        }
        if consts::is_masked(&v) {
            self.report(
                Diagnostic::error("E0705", "the loss depends on observations that may be missing", l.value.span)
                    .label("this value is missing wherever an observation it reads is missing")
                    .hint("reduce with `sum`, `mean`, `norm`, `mse`, `mae` or `huber`: they leave missing values out"),
            );
            return None;
        }
        Some(v)
    }

    /// The arguments of `e` when it is a call of `solve`.
    fn solve_args(&self, env: &LossEnv, module: usize, e: &'a Expr) -> Option<&'a [Arg]> {
        let ExprKind::Call { callee, args } = &e.kind else { return None };
        let ExprKind::Name(n) = &callee.kind else { return None };
        let resolved = self.lookup(&Env { module, kind: EnvKind::Loss(env) }, n);
        matches!(resolved, Resolved::Builtin(Builtin::Solve)).then_some(args.as_slice())
    }

    /// Checks `solve(MODEL, at = DATA.t, with = SOLVER[, sampling = ...][,
    /// paths = N])`; E0701 outside a loss body.
    pub fn check_solve(&mut self, env: &Env, args: &'a [Arg], span: Span) -> Option<SolveInfo> {
        if !matches!(env.kind, EnvKind::Loss(_)) || self.loss.is_none() {
            self.solve_outside_loss(env, span);
            return None;
        }
        if let Some(state) = self.loss.as_mut() {
            state.attempted += 1;
        }
        let module = env.module;
        let usage = "solve(model, at = obs.t, with = solver)";
        let names = ["at", "with", "sampling", "paths"];
        let bound = self.bind_model_call("solve", "E0713", usage, args, &names, 2, span)?;
        let (model, at, with, sampling, ok) = (bound.model, bound.named[0]?, bound.named[1]?, bound.named[2], bound.ok);
        let paths = bound.named[3];
        let model = self.model_arg(module, model, "solve");
        let data = self.solve_at(env, at);
        let solver = self.solver_arg(module, with, "solve");
        let sampling = match sampling {
            None => Some(Sampling::default()),
            Some(e) => match &e.kind {
                ExprKind::Name(n) if n == "unbiased" => Some(Sampling::Unbiased),
                ExprKind::Name(n) if n == "biased" => Some(Sampling::Biased),
                _ => {
                    self.report(
                        Diagnostic::error("E0713", "invalid `sampling`", e.span)
                            .label("expected `unbiased` or `biased`")
                            .hint("`unbiased` draws a time from the whole span, `biased` one of the solver's steps"),
                    );
                    None
                }
            },
        };
        let (model, data, solver, sampling) = (model?, data?, solver?, sampling?);
        if !ok {
            return None;
        }
        let info = self.models.values().find(|m| m.name == model)?.clone();
        if info.sde != SDE_SOLVER_METHODS.contains(&solver.method.as_str()) {
            let (label, hint) = if info.sde {
                (
                    format!("{} is an ODE solver, but `{model}` has noise terms", solver.method),
                    "an SDE model is solved with euler_maruyama, milstein, sra1 or reversible_heun: \
                     `with = euler_maruyama(dt = 0.01)`",
                )
            } else {
                (
                    format!("{} is an SDE solver, but `{model}` has no noise terms", solver.method),
                    "an ODE model is solved with an ODE solver: `with = tsit5(rtol = 1e-6)`",
                )
            };
            self.report(
                Diagnostic::error("E0713", "the solver does not fit the model", with.span).label(label).hint(hint),
            );
            return None;
        }
        let paths = match paths {
            None => 1,
            Some(e) => {
                let values = self.data_info.get(&data).map_or(0, |d| d.rows * info.n_state);
                self.paths_arg(env, e, "solve", "E0713", &model, info.sde, values)?
            }
        };
        if info.controlled && !self.cde_solve_data(&model, info.control_columns, data, at.span) {
            return None;
        }
        if let Some(state) = self.loss.as_mut() {
            state.data_reads.push((data, at.span));
        }
        let outputs = info.outputs.clone();
        Some(SolveInfo {
            span,
            model,
            n_state: info.n_state,
            n_param: info.n_param,
            data,
            solver,
            sampling,
            paths,
            outputs,
        })
    }

    /// E0701 for a `solve` at `span` in `env`, which is not a loss.
    pub fn solve_outside_loss(&mut self, env: &Env, span: Span) {
        let inside = match env.kind {
            EnvKind::Fn(_) => "inside a `fn`",
            EnvKind::Model(_) => "inside a model",
            _ => "outside a loss",
        };
        self.report(
            Diagnostic::error("E0701", "`solve` outside a loss", span)
                .label(format!("`solve` {inside}"))
                .hint("a model is solved in a `loss` block: `let sol = solve(model, at = obs.t, with = solver)`"),
        );
    }

    /// `at = DATA.t` (E0703 for anything else): the data set.
    fn solve_at(&mut self, env: &Env, at: &'a Expr) -> Option<ItemRef> {
        if let ExprKind::Field { base, name } = &at.kind {
            if let ExprKind::Name(d) = &base.kind {
                if let Resolved::Def(Def::Data(r)) = self.lookup(env, d) {
                    if name.name == "t" {
                        // A data set with errors was reported already.
                        return self.data_info.contains_key(&r).then_some(r);
                    }
                    self.report(
                        Diagnostic::error("E0703", "a solve saves at the times of a data set", at.span)
                            .label(format!("`{d}.{}` is not a time grid", name.name))
                            .hint(format!("write `at = {d}.t`")),
                    );
                    return None;
                }
            }
        }
        let what = self.describe(at.span, "this");
        self.report(
            Diagnostic::error("E0703", "a solve saves at the times of a data set", at.span)
                .label(format!("`{what}` is not `DATA.t`"))
                .hint("write `at = obs.t` for a data set `obs`; to save at other times, declare them as data with `generate` or `load`"),
        );
        None
    }

    /// `base.name` for a data set, a solution or a `solve(...)` call:
    /// `Some(result)` when `base` is one of those, `None` otherwise.
    pub fn loss_field(
        &mut self,
        env: &Env,
        base: &'a Expr,
        name: &str,
        name_span: Span,
        span: Span,
    ) -> Option<Option<TExpr>> {
        match &base.kind {
            ExprKind::Name(b) => match self.lookup(env, b) {
                Resolved::Def(Def::Data(r)) => Some(self.data_field(env, r, b, name, name_span, span)),
                Resolved::LossLocal(LossLocal::Solution(i)) => {
                    let i = *i;
                    Some(self.solution_field(i, b, name, name_span, span))
                }
                Resolved::LossLocal(LossLocal::Failed) => Some(None),
                _ => None,
            },
            ExprKind::Call { callee, args } => {
                let ExprKind::Name(n) = &callee.kind else { return None };
                if !matches!(self.lookup(env, n), Resolved::Builtin(Builtin::Solve)) {
                    return None;
                }
                let Some(info) = self.check_solve(env, args, base.span) else { return Some(None) };
                let state = self.loss.as_mut().expect("check_solve succeeds only in a loss");
                state.solves.push(info);
                let i = state.solves.len() - 1;
                Some(self.solution_field(i, "solve(...)", name, name_span, span))
            }
            _ => None,
        }
    }

    /// A member of the solution of solve `i`.
    fn solution_field(&mut self, i: usize, base: &str, name: &str, name_span: Span, span: Span) -> Option<TExpr> {
        let state = self.loss.as_ref()?;
        let s = state.solves.get(i)?;
        let rows = self.data_info.get(&s.data)?.rows;
        let (n_state, paths) = (s.n_state, s.paths);
        let input = |input, shape| Some(TExpr { kind: TKind::LossInput(input), shape, span });
        match name {
            "y" if paths > 1 => {
                self.ensemble_y(base, paths, name_span);
                None
            }
            "y" => input(LossInput::SolY, Shape::matrix(rows, n_state)),
            "mean" | "var" => self.ensemble_stat(name, base, paths, Shape::matrix(rows, n_state), name_span, span),
            "t" => input(LossInput::Times, Shape::vector(rows)),
            _ if s.outputs.iter().any(|(n, _)| n == name) => self.solution_output(i, base, name, name_span, span),
            _ => match LossStat::from_name(name) {
                Some(stat) => {
                    let state = self.loss.as_mut()?;
                    if !state.stats.contains(&stat) {
                        state.stats.push(stat);
                    }
                    input(LossInput::Stat(stat), Shape::scalar())
                }
                None => {
                    self.report(
                        Diagnostic::error("E0315", format!("a solution has no member `{name}`"), name_span)
                            .label(format!("unknown member of `{base}`"))
                            .hint(format!("a solution has {SOLUTION_MEMBERS}")),
                    );
                    None
                }
            },
        }
    }

    /// `solve(...)` used as a value: E0707 (or E0701 outside a loss).
    pub fn solve_as_value(&mut self, env: &Env, args: &'a [Arg], span: Span) -> Option<TExpr> {
        if self.check_solve(env, args, span).is_some() {
            self.solution_as_value("solve(...)", span);
        }
        None
    }

    /// E0707: a solution where a tensor is needed.
    pub fn solution_as_value(&mut self, name: &str, span: Span) {
        self.report(
            Diagnostic::error("E0707", format!("`{name}` is a solution, not a tensor"), span)
                .label("used as a tensor")
                .hint(format!("its values at the save times are `.y`; it also has {SOLUTION_MEMBERS}")),
        );
    }

    /// E0705: a value with missing observations reaching `what`.
    pub fn masked_operand(&mut self, what: &str, span: Span) {
        self.report(
            Diagnostic::error("E0705", format!("missing observations cannot flow into {what}"), span)
                .label("this value depends on observations that may be missing")
                .hint("reduce it first with `sum`, `mean`, `norm`, `mse`, `mae` or `huber`, which leave missing values out; other operations take only elementwise results, indexing, slicing and transposes of data"),
        );
    }
}

/// The place of a [`TKind::Masked`] node anywhere in `e`, if any.
fn find_masked(e: &TExpr) -> Option<Span> {
    match &e.kind {
        TKind::Masked { .. } => Some(e.span),
        TKind::Const(_)
        | TKind::Time
        | TKind::State(_)
        | TKind::Param(_)
        | TKind::Let(_)
        | TKind::Arg(_)
        | TKind::LossInput(_)
        | TKind::Control
        | TKind::ControlRate => None,
        // A fn body cannot read data; only its arguments can carry a mask.
        TKind::Inline { args, .. } | TKind::Concat { args, .. } => args.iter().find_map(find_masked),
        TKind::Unary(_, a)
        | TKind::Broadcast(a)
        | TKind::Transpose(a)
        | TKind::Sum(a)
        | TKind::Reshape(a)
        | TKind::Index { arg: a, .. }
        | TKind::Slice { arg: a, .. } => find_masked(a),
        TKind::Binary(_, a, b) | TKind::MatMul(a, b) => find_masked(a).or_else(|| find_masked(b)),
    }
}
