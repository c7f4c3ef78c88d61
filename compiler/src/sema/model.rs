//! Checking a `model`: member names (E0201, E0203), params and their
//! initialisers (E0306, E0309, E0314), nets, states and their initial values
//! (E0406), `let`s, and equations (E0401–E0405).
//!
//! Order of work, so every expression sees what it may: params and nets in
//! declaration order (constants only), then states (`t`, params, nets),
//! then `let`s and equations in declaration order (a `let` is visible after
//! its definition).

use std::collections::{HashMap, HashSet};

use crate::diag::Diagnostic;
use crate::ir::Shape;
use crate::span::Span;
use crate::syntax::ast::{Expr, ExprKind, Ident, Member, ModelItem, ShapeAnn};

use super::builtins::{closest, Initialiser};
use super::checker::{Checker, Env, EnvKind, Local, ModelEnv, Phase, Resolved};
use super::consts;
use super::tree::{CheckedModel, ParamDecl, ParamInit, StateDecl, TExpr};

/// Placeholder param slot for names registered before their slot is known
/// (only ever read in the param-init phase, which rejects every local).
const PENDING: usize = usize::MAX;

impl<'a> Checker<'a> {
    /// Checks a model of module `module`; `None` if it has errors.
    pub fn check_model(&mut self, module: usize, model: &'a ModelItem) -> Option<CheckedModel> {
        let errors_before = self.diags.len();
        let mut env = ModelEnv {
            names: HashMap::from([("t".to_string(), Local::Time)]),
            param_shapes: Vec::new(),
            state_shapes: Vec::new(),
            nets: Vec::new(),
            lets: Vec::new(),
            all_lets: HashMap::new(),
            phase: Phase::ParamInit,
        };
        let rejected = self.declare_members(module, model, &mut env);
        let members = || model.members.iter().enumerate().filter(|(i, _)| !rejected.contains(i)).map(|(_, m)| m);

        // Params and nets, in declaration order.
        let mut params: Vec<ParamDecl> = Vec::new();
        for m in members() {
            match m {
                Member::Param { name, shape, init, span } => {
                    let decl = self.param(module, &env, name, shape.as_ref(), init, *span);
                    env.param_shapes.push(decl.as_ref().map(|d| d.shape));
                    if env.names.get(&name.name) == Some(&Local::Param(PENDING)) {
                        env.names.insert(name.name.clone(), Local::Param(params.len()));
                    }
                    params.push(decl.unwrap_or_else(|| ParamDecl {
                        name: name.name.clone(),
                        shape: Shape::scalar(),
                        init: ParamInit::Zeros,
                        span: *span,
                    }));
                }
                Member::Net { name, layer, .. } => {
                    let first = params.len();
                    let net = self.declare_net(module, &env, name, layer, &mut params);
                    env.param_shapes.extend(params[first..].iter().map(|p| Some(p.shape)));
                    env.nets.push(net);
                }
                _ => {}
            }
        }

        // States: initial values may read `t`, params and nets.
        env.phase = Phase::StateInit;
        let mut states = Vec::new();
        for m in members() {
            if let Member::State { name, shape, init, span } = m {
                let (shape, init) = self.state(module, &env, shape.as_ref(), init);
                env.state_shapes.push(shape);
                states.push((name, shape, init, *span));
            }
        }

        // Lets and equations, in declaration order.
        env.phase = Phase::Body;
        let mut rhs: Vec<Option<(Span, Option<TExpr>)>> = vec![None; states.len()];
        for m in members() {
            match m {
                Member::Let { name, value, .. } => {
                    let v = self.expr(&Env { module, kind: EnvKind::Model(&env) }, value);
                    env.names.insert(name.name.clone(), Local::Let(env.lets.len()));
                    env.lets.push(v);
                }
                Member::Ode { state, rhs: e, span } => {
                    let v = self.expr(&Env { module, kind: EnvKind::Model(&env) }, e);
                    self.equation(&env, state, v, e, *span, &states, &mut rhs);
                }
                _ => {}
            }
        }
        for (i, (name, _, _, _)) in states.iter().enumerate() {
            if rhs[i].is_none() {
                self.report(
                    Diagnostic::error("E0401", format!("state `{}` has no equation", name.name), name.span)
                        .label("declared here")
                        .hint(format!("add `d{}/dt = ...`", name.name)),
                );
            }
        }
        if states.is_empty() {
            self.report(
                Diagnostic::error("E0405", format!("model `{}` has no states", model.name.name), model.name.span)
                    .label("nothing to integrate")
                    .hint("declare one, e.g. `state x = 1.0`, with its equation `dx/dt = ...`"),
            );
        }
        if self.diags.len() > errors_before {
            return None;
        }
        let mut out_states = Vec::new();
        for (name, shape, init, span) in states {
            out_states.push(StateDecl { name: name.name.clone(), shape: shape?, init: init?, span });
        }
        Some(CheckedModel {
            name: model.name.name.clone(),
            span: model.name.span,
            states: out_states,
            params,
            lets: env.lets.into_iter().collect::<Option<_>>()?,
            rhs: rhs.into_iter().map(|r| r.and_then(|(_, v)| v)).collect::<Option<_>>()?,
        })
    }

    /// Registers member names (lets only for duplicate checks and hints).
    /// Returns the members rejected for a reserved or duplicate name (by
    /// position): they are skipped from then on.
    fn declare_members(&mut self, module: usize, model: &ModelItem, env: &mut ModelEnv) -> HashSet<usize> {
        let mut first: HashMap<&str, Span> = HashMap::new();
        let mut rejected = HashSet::new();
        let (mut n_states, mut n_nets) = (0, 0);
        for (index, m) in model.members.iter().enumerate() {
            let name = match m {
                Member::Param { name, .. }
                | Member::State { name, .. }
                | Member::Net { name, .. }
                | Member::Let { name, .. } => name,
                Member::Ode { .. } => continue,
            };
            if self.check_reserved(name) {
                rejected.insert(index);
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
                rejected.insert(index);
                continue;
            }
            first.insert(&name.name, name.span);
            let local = match m {
                Member::Param { .. } => Local::Param(PENDING),
                Member::State { .. } => {
                    n_states += 1;
                    Local::State(n_states - 1)
                }
                Member::Net { .. } => {
                    n_nets += 1;
                    Local::Net(n_nets - 1)
                }
                _ => {
                    env.all_lets.insert(name.name.clone(), name.span);
                    continue;
                }
            };
            env.names.insert(name.name.clone(), local);
        }
        rejected
    }

    /// A `param`: its shape and initialiser.
    fn param(
        &mut self,
        module: usize,
        env: &ModelEnv,
        name: &Ident,
        ann: Option<&ShapeAnn>,
        init: &'a Expr,
        span: Span,
    ) -> Option<ParamDecl> {
        let shape = match ann {
            Some(a) => Some(self.annotation(a)?),
            None => None,
        };
        let env = Env { module, kind: EnvKind::Model(env) };
        let decl = |shape, init| Some(ParamDecl { name: name.name.clone(), shape, init, span });
        if let Some((k, args)) = self.initialiser_call(&env, init) {
            let shape = shape.unwrap_or(Shape::scalar());
            let init = self.initialiser(&env, k, args, init.span, shape)?;
            return decl(shape, init);
        }
        let v = self.expr(&env, init)?;
        let v = self.require_const(v, "a param's initial value")?;
        let (shape, v) = self.fit(v, shape, ann.map(|a| a.span))?;
        decl(shape, ParamInit::Values(v.as_const().expect("checked constant").clone()))
    }

    /// `Some` when `init` is an initialiser, bare (`glorot`) or called (`normal(0.1)`).
    fn initialiser_call(
        &self,
        env: &Env,
        init: &'a Expr,
    ) -> Option<(Initialiser, Option<&'a [crate::syntax::ast::Arg]>)> {
        let (name, args) = match &init.kind {
            ExprKind::Name(n) => (n, None),
            ExprKind::Call { callee, args } => match &callee.kind {
                ExprKind::Name(n) => (n, Some(args.as_slice())),
                _ => return None,
            },
            _ => return None,
        };
        match self.lookup(env, name) {
            Resolved::Init(k) => Some((k, args)),
            _ => None,
        }
    }

    fn initialiser(
        &mut self,
        env: &Env,
        k: Initialiser,
        args: Option<&'a [crate::syntax::ast::Arg]>,
        span: Span,
        shape: Shape,
    ) -> Option<ParamInit> {
        let bad = |msg: &str, label: &str| Diagnostic::error("E0314", msg.to_string(), span).label(label.to_string());
        let name = match k {
            Initialiser::Zeros => "zeros",
            Initialiser::Ones => "ones",
            Initialiser::Glorot => "glorot",
            Initialiser::Normal => "normal",
        };
        let args = args.unwrap_or(&[]);
        if k != Initialiser::Normal {
            if !args.is_empty() {
                self.arg_count(name, 0, args.len(), span);
                return None;
            }
            if k == Initialiser::Glorot && shape.rank() != 2 {
                self.report(
                    bad("`glorot` needs a matrix shape", &format!("the param is {shape}"))
                        .hint("annotate it: `param W: [4, 2] = glorot`, or use `normal(0.1)`"),
                );
                return None;
            }
            return Some(match k {
                Initialiser::Zeros => ParamInit::Zeros,
                Initialiser::Ones => ParamInit::Ones,
                _ => ParamInit::Glorot,
            });
        }
        if args.len() != 1 {
            if args.is_empty() {
                self.report(bad("`normal` needs a standard deviation", "write `normal(0.1)`"));
            } else {
                self.arg_count(name, 1, args.len(), span);
            }
            return None;
        }
        if let Some(n) = args[0].name.as_ref().filter(|n| n.name != "std") {
            self.report(
                Diagnostic::error("E0207", format!("`normal` has no argument named `{}`", n.name), n.span)
                    .label("unknown named argument")
                    .hint("`normal` takes `std`"),
            );
            return None;
        }
        let v = self.expr(env, &args[0].value)?;
        let ok = v.shape.is_scalar() && v.as_const().is_some_and(|c| c[0].is_finite() && c[0] > 0.0);
        if !ok {
            self.report(
                Diagnostic::error("E0314", "invalid standard deviation", args[0].value.span)
                    .label("expected a positive constant number"),
            );
            return None;
        }
        Some(ParamInit::Normal { std: v.as_const().expect("checked")[0] })
    }

    /// Matches a value to an optional annotation: equal, or a scalar filled.
    fn fit(&mut self, v: TExpr, want: Option<Shape>, ann_span: Option<Span>) -> Option<(Shape, TExpr)> {
        let Some(want) = want else { return Some((v.shape, v)) };
        if v.shape == want {
            return Some((want, v));
        }
        if v.shape.is_scalar() {
            let span = v.span;
            return Some((want, consts::broadcast(v, want, span)));
        }
        self.report(
            Diagnostic::error("E0306", "initial value does not have the declared shape", ann_span.unwrap_or(v.span))
                .label(format!("declared {want} but the value is {}", v.shape))
                .with_secondary(v.span, format!("this is {}", v.shape)),
        );
        None
    }

    /// A `state`: its shape (known from the annotation even if the initial
    /// value fails) and initial value.
    fn state(
        &mut self,
        module: usize,
        env: &ModelEnv,
        ann: Option<&ShapeAnn>,
        init: &'a Expr,
    ) -> (Option<Shape>, Option<TExpr>) {
        let want = ann.map(|a| self.annotation(a));
        let v = self.expr(&Env { module, kind: EnvKind::Model(env) }, init);
        match (want, v) {
            (Some(None), _) => (None, None),
            (Some(Some(w)), None) => (Some(w), None),
            (None, None) => (None, None),
            (w, Some(v)) => match self.fit(v, w.flatten(), ann.map(|a| a.span)) {
                Some((s, v)) => (Some(s), Some(v)),
                None => (w.flatten(), None),
            },
        }
    }

    /// `dNAME/dt = rhs`: E0402, E0403, E0404.
    #[allow(clippy::too_many_arguments)]
    fn equation(
        &mut self,
        env: &ModelEnv,
        state: &Ident,
        v: Option<TExpr>,
        e: &Expr,
        span: Span,
        states: &[(&Ident, Option<Shape>, Option<TExpr>, Span)],
        rhs: &mut [Option<(Span, Option<TExpr>)>],
    ) {
        let i = match env.names.get(&state.name) {
            Some(Local::State(i)) => *i,
            other => {
                let (msg, label) = match other {
                    Some(Local::Param(_)) => {
                        (format!("`{}` is a param, not a state", state.name), "only states have equations")
                    }
                    Some(Local::Net(_)) => {
                        (format!("`{}` is a net, not a state", state.name), "only states have equations")
                    }
                    Some(Local::Time) => ("`t` is the time, not a state".to_string(), "only states have equations"),
                    _ => (format!("`{}` is not a state of this model", state.name), "no such state"),
                };
                let mut d = Diagnostic::error("E0403", format!("equation for {msg}"), span).label(label);
                let names = states.iter().map(|(n, ..)| n.name.as_str());
                if let (None, Some(s)) = (other, closest(&state.name, names)) {
                    d = d.hint(format!("did you mean `d{s}/dt`?"));
                }
                self.report(d);
                return;
            }
        };
        if let Some((first, _)) = rhs[i] {
            self.report(
                Diagnostic::error("E0402", format!("state `{}` has more than one equation", state.name), span)
                    .label("second equation")
                    .with_secondary(first, "first equation here")
                    .hint("each state has exactly one equation"),
            );
            return;
        }
        let checked = match (v, states[i].1) {
            (Some(v), Some(want)) if v.shape != want => {
                let mut d = Diagnostic::error(
                    "E0404",
                    format!("`d{}/dt` does not have the shape of `{}`", state.name, state.name),
                    e.span,
                )
                .label(format!("`{}` is {want} but the right-hand side is {}", state.name, v.shape));
                if v.shape.is_scalar() {
                    d = d.hint(format!(
                        "a scalar is not broadcast to the state's shape here; build the {want} derivative explicitly"
                    ));
                }
                self.report(d);
                None
            }
            (v, _) => v,
        };
        rhs[i] = Some((span, checked));
    }
}
