//! Checking a `model`: member names (E0201, E0203), params and their
//! initialisers (E0306, E0309, E0314), nets, states and their initial values
//! (E0406), `let`s, equations (E0401–E0405), the stochastic part:
//! `noise` declarations, `dx = f dt + g dW` equations and `stratonovich`
//! (E0408–E0411), and the controlled part: `input` and `dz = F @ dX`
//! terms (E0412–E0416, mostly in [`super::control`]), and `output`s
//! (E0417, in [`super::outputs`]).
//!
//! Order of work, so every expression sees what it may: the `input` (its
//! channel count is a constant, `X.dim`), params and nets in declaration
//! order (constants only), then states (`t`, params, nets, `X(t)`), then
//! `let`s, equations and outputs in declaration order (a `let` is visible
//! after its definition).

use std::collections::{HashMap, HashSet};

use crate::diag::Diagnostic;
use crate::ir::Shape;
use crate::ir::{BinaryOp, NoiseShape, UnaryOp};
use crate::span::Span;
use crate::syntax::ast::{Expr, ExprKind, Ident, Member, ModelItem, SdeTerm, ShapeAnn};

use super::builtins::{closest, Initialiser};
use super::checker::{ArgVal, Checker, Env, EnvKind, Local, ModelEnv, Phase, Resolved};
use super::consts;
use super::tree::{CheckedDiffusion, CheckedModel, ParamDecl, ParamInit, StateDecl, TExpr};

/// What a term of an SDE equation contributes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TermKind {
    Drift,
    Diagonal,
    General {
        m: usize,
    },
    /// `F @ dX` for the input `X` of `c` channels (a part of the drift).
    Control {
        c: usize,
    },
}

/// A model's `noise NAME: [m]` declaration.
struct NoiseDecl {
    name: String,
    /// `None` when the declaration was invalid (already reported).
    m: Option<usize>,
    span: Span,
}

/// What the equations of a model have produced so far.
struct Equations {
    /// Per state: the first equation's span and its right-hand side (drift).
    rhs: Vec<Option<(Span, Option<TExpr>)>>,
    /// Per state: its diffusion, if its equation has noise terms.
    g: Vec<Option<TExpr>>,
    noise: Option<NoiseDecl>,
    /// The first diagonal (`g dW`) and general (`G @ dW`) noise terms.
    diagonal_at: Option<Span>,
    general_at: Option<Span>,
    /// The first control term (`F @ dX`).
    control_at: Option<Span>,
    /// An SDE equation had an error (already reported).
    failed: bool,
}

/// A state as the equations see it: name, shape (if known), initial value, span.
type StateRow<'s> = (&'s Ident, Option<Shape>, Option<TExpr>, Span);

/// Placeholder param slot for names registered before their slot is known
/// (only ever read in the param-init phase, which rejects every local).
const PENDING: usize = usize::MAX;

impl<'a> Checker<'a> {
    /// Checks a model of module `module`; `None` if it has errors.
    pub fn check_model(&mut self, module: usize, model: &'a ModelItem) -> Option<CheckedModel> {
        self.check_model_as(module, model, &model.name, Vec::new())
    }

    /// Checks `model` (of `module`) under the name `name`, its template
    /// parameters bound to `template_args` (empty for a plain model).
    pub fn check_model_as(
        &mut self,
        module: usize,
        model: &'a ModelItem,
        name: &Ident,
        template_args: Vec<ArgVal>,
    ) -> Option<CheckedModel> {
        let errors_before = self.diags.len();
        let mut env = ModelEnv {
            names: HashMap::from([("t".to_string(), Local::Time)]),
            param_shapes: Vec::new(),
            state_shapes: Vec::new(),
            nets: Vec::new(),
            lets: Vec::new(),
            all_lets: HashMap::new(),
            phase: Phase::ParamInit,
            input: None,
            template_args,
        };
        let rejected = self.declare_members(module, model, &mut env);
        let members = || model.members.iter().enumerate().filter(|(i, _)| !rejected.contains(i)).map(|(_, m)| m);

        // The input first: its channel count may size nets (`X.dim`).
        for m in members() {
            if let Member::Input { name, source, span } = m {
                env.input = Some(self.input_decl(module, name, source, *span));
            }
        }

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

        // The noise declaration, before any equation reads it.
        let mut eqs = Equations {
            rhs: vec![None; states.len()],
            g: vec![None; states.len()],
            noise: None,
            diagonal_at: None,
            general_at: None,
            control_at: None,
            failed: false,
        };
        for m in members() {
            if let Member::Noise { name, shape, span } = m {
                let file = Env { module, kind: EnvKind::Model(&env) };
                self.noise_decl(&file, name, shape, *span, &mut eqs.noise);
            }
        }

        // Lets, equations and outputs, in declaration order.
        env.phase = Phase::Body;
        let mut outputs = Vec::new();
        for m in members() {
            match m {
                Member::Let { name, value, .. } => {
                    let v = self.expr(&Env { module, kind: EnvKind::Model(&env) }, value);
                    env.names.insert(name.name.clone(), Local::Let(env.lets.len()));
                    env.lets.push(v);
                }
                Member::Ode { state, rhs: e, span } => {
                    let v = self.expr(&Env { module, kind: EnvKind::Model(&env) }, e);
                    self.equation(&env, state, v, e, *span, &states, &mut eqs.rhs);
                }
                Member::Sde { state, terms, span } => {
                    self.sde_equation(module, &env, state, terms, *span, &states, &mut eqs);
                }
                Member::Output { name, value, span } => {
                    env.phase = Phase::Output;
                    outputs.push(self.output(module, &env, name, value, *span));
                    env.phase = Phase::Body;
                }
                _ => {}
            }
        }
        for (i, (name, _, _, _)) in states.iter().enumerate() {
            if eqs.rhs[i].is_none() {
                self.report(
                    Diagnostic::error("E0401", format!("state `{}` has no equation", name.name), name.span)
                        .label("declared here")
                        .hint(format!("add `d{0}/dt = ...` (an ODE) or `d{0} = ... dt + ... dW` (an SDE)", name.name)),
                );
            }
        }
        let input_at = env.input.as_ref().map(|i| i.span);
        let diffusion = self.diffusion(model, &states, &mut eqs, input_at);
        let control = match &env.input {
            None => None,
            // A failed declaration (already reported, here or by the front end).
            Some(input) => Some(input.control.clone()?),
        };
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
            name: name.name.clone(),
            span: name.span,
            states: out_states,
            params,
            lets: env.lets.into_iter().collect::<Option<_>>()?,
            rhs: eqs.rhs.into_iter().map(|r| r.and_then(|(_, v)| v)).collect::<Option<_>>()?,
            diffusion: diffusion?,
            control,
            outputs: outputs.into_iter().collect::<Option<_>>()?,
        })
    }

    /// Registers member names (lets only for duplicate checks and hints).
    /// Returns the members rejected for a reserved or duplicate name (by
    /// position): they are skipped from then on.
    fn declare_members(&mut self, module: usize, model: &ModelItem, env: &mut ModelEnv) -> HashSet<usize> {
        let mut first: HashMap<&str, Span> = HashMap::new();
        let mut rejected = HashSet::new();
        let (mut n_states, mut n_nets) = (0, 0);
        let mut first_input: Option<Span> = None;
        for (index, m) in model.members.iter().enumerate() {
            let name = match m {
                Member::Param { name, .. }
                | Member::State { name, .. }
                | Member::Net { name, .. }
                | Member::Let { name, .. }
                | Member::Noise { name, .. }
                | Member::Input { name, .. }
                | Member::Output { name, .. } => name,
                Member::Ode { .. } | Member::Sde { .. } => continue,
            };
            if let Member::Input { span, .. } = m {
                if let Some(first) = first_input {
                    self.second_input(*span, first);
                    rejected.insert(index);
                    continue;
                }
                first_input = Some(*span);
            }
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
                // Not values: `W` is only ever read as `dW`, an output
                // only as `sol.NAME` in a loss.
                Member::Noise { .. } | Member::Output { .. } => continue,
                Member::Input { .. } => Local::Input,
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
        let env = Env { module, kind: EnvKind::Model(env) };
        let shape = match ann {
            Some(a) => Some(self.annotation(&env, a)?),
            None => None,
        };
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

    /// The state an equation is for (E0403), if it has no equation yet
    /// (E0402). `sde`: the equation is `dNAME = ...` (for the hints).
    fn equation_target(
        &mut self,
        env: &ModelEnv,
        state: &Ident,
        span: Span,
        states: &[StateRow<'_>],
        rhs: &[Option<(Span, Option<TExpr>)>],
        sde: bool,
    ) -> Option<usize> {
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
                    Some(Local::Input) => {
                        (format!("`{}` is an input path, not a state", state.name), "only states have equations")
                    }
                    _ => (format!("`{}` is not a state of this model", state.name), "no such state"),
                };
                let mut d = Diagnostic::error("E0403", format!("equation for {msg}"), span).label(label);
                let names = states.iter().map(|(n, ..)| n.name.as_str());
                if let (None, Some(s)) = (other, closest(&state.name, names)) {
                    d = d.hint(if sde {
                        format!("did you mean `d{s} = ...`?")
                    } else {
                        format!("did you mean `d{s}/dt`?")
                    });
                }
                self.report(d);
                return None;
            }
        };
        if let Some((first, _)) = rhs[i] {
            self.report(
                Diagnostic::error("E0402", format!("state `{}` has more than one equation", state.name), span)
                    .label("second equation")
                    .with_secondary(first, "first equation here")
                    .hint(format!(
                        "each state has exactly one equation: `d{0}/dt = ...` (an ODE), or `d{0} = ... dt + ... dW` \
                         (an SDE) or `d{0} = F @ dX + ... dt` (a CDE), not both",
                        state.name
                    )),
            );
            return None;
        }
        Some(i)
    }

    /// `noise NAME: [m]`: E0411 for a second declaration or a shape that is
    /// not a vector.
    fn noise_decl(&mut self, env: &Env, name: &Ident, shape: &ShapeAnn, span: Span, noise: &mut Option<NoiseDecl>) {
        if let Some(first) = noise {
            self.report(
                Diagnostic::error("E0411", "a model has at most one `noise` declaration", span)
                    .label("second `noise` declaration")
                    .with_secondary(first.span, "first declared here")
                    .hint(format!("declare all the Brownian channels at once: `noise {}: [m]`", first.name)),
            );
            return;
        }
        let m = match self.annotation(env, shape) {
            Some(s) if s.rank() == 1 => Some(s.len()),
            Some(s) => {
                self.report(
                    Diagnostic::error("E0411", "the shape of a `noise` must be a vector `[m]`", shape.span)
                        .label(format!("this is {s}"))
                        .hint(format!("`noise {}: [3]` declares 3 Brownian channels", name.name)),
                );
                None
            }
            None => None,
        };
        *noise = Some(NoiseDecl { name: name.name.clone(), m, span });
    }

    /// `dNAME = f dt + g dW`: the drift (E0404 per term), the diffusion
    /// (E0408 shapes, E0409 diagonal vs general, E0410 unknown differential).
    #[allow(clippy::too_many_arguments)]
    fn sde_equation(
        &mut self,
        module: usize,
        env: &ModelEnv,
        state: &Ident,
        terms: &'a [SdeTerm],
        span: Span,
        states: &[StateRow<'_>],
        eqs: &mut Equations,
    ) {
        let target = self.equation_target(env, state, span, states, &eqs.rhs, true);
        let want = target.and_then(|i| states[i].1);
        let mut drift: Option<TExpr> = None;
        let mut diffusion: Option<TExpr> = None;
        let mut ok = true;
        for term in terms {
            let v = self.expr(&Env { module, kind: EnvKind::Model(env) }, &term.coef);
            let kind = self.term_kind(env, term, eqs);
            let (Some(v), Some(kind), Some(want)) = (v, kind, want) else {
                ok = false;
                continue;
            };
            let v = match kind {
                TermKind::Drift => self.drift_term(state, term, v, want),
                TermKind::Control { c } => {
                    eqs.control_at.get_or_insert(term.span);
                    self.control_term(state, term, v, want, c)
                }
                TermKind::Diagonal => {
                    eqs.diagonal_at.get_or_insert(term.span);
                    self.diagonal_term(state, term, v, want)
                }
                TermKind::General { m } => {
                    eqs.general_at.get_or_insert(term.span);
                    self.general_term(state, term, v, want, m)
                }
            };
            let Some(v) = v else {
                ok = false;
                continue;
            };
            let is_drift = matches!(kind, TermKind::Drift | TermKind::Control { .. });
            let acc = if is_drift { &mut drift } else { &mut diffusion };
            *acc = Some(match acc.take() {
                None if term.negate => consts::unary(UnaryOp::Neg, v, term.span),
                None => v,
                Some(a) => {
                    let op = if term.negate { BinaryOp::Sub } else { BinaryOp::Add };
                    let span = a.span.to(term.span);
                    consts::binary(op, a, v, span)
                }
            });
        }
        eqs.failed |= !ok;
        let Some(i) = target else { return };
        let drift = match (ok, want) {
            (true, Some(want)) => {
                Some(drift.unwrap_or_else(|| TExpr::constant(vec![0.0; want.len()].into(), want, state.span)))
            }
            _ => None,
        };
        eqs.rhs[i] = Some((span, drift));
        eqs.g[i] = diffusion;
    }

    /// What a term's differential makes it: E0409, E0410.
    fn term_kind(&mut self, env: &ModelEnv, term: &SdeTerm, eqs: &Equations) -> Option<TermKind> {
        let d = &term.differential;
        if d.name == "dt" {
            if term.matmul {
                self.report(
                    Diagnostic::error("E0410", "`dt` cannot follow `@`", d.span)
                        .label("the drift is a coefficient times `dt`")
                        .hint("write `f dt`, without `@`"),
                );
                return None;
            }
            return Some(TermKind::Drift);
        }
        let channel = &d.name[1..];
        if let Some(input) = env.input.as_ref().filter(|i| i.name == channel) {
            // `None`: the input had errors (already reported).
            return input.channels().map(|c| TermKind::Control { c });
        }
        match &eqs.noise {
            Some(noise) if noise.name == channel => {
                if !term.matmul {
                    let m = noise.m.map_or("m".to_string(), |m| m.to_string());
                    self.report(
                        Diagnostic::error(
                            "E0409",
                            format!("`{}` is general noise: write `G @ {}`", d.name, d.name),
                            term.span,
                        )
                        .label("a diagonal noise term")
                        .with_secondary(noise.span, format!("`noise {channel}` declared here"))
                        .hint(format!(
                            "with `noise {channel}: [{m}]` every noise term is `G @ {}` with G: [len, {m}]; \
                                 without a `noise` declaration, `g dW` is diagonal noise",
                            d.name
                        )),
                    );
                    return None;
                }
                noise.m.map(|m| TermKind::General { m })
            }
            None if d.name == "dW" => {
                if term.matmul {
                    self.report(
                        Diagnostic::error("E0409", "`G @ dW` needs a `noise` declaration", term.span)
                            .label("general noise without its channels")
                            .hint("declare the Brownian channels, e.g. `noise W: [3]`; or write `g dW` for diagonal noise"),
                    );
                    return None;
                }
                Some(TermKind::Diagonal)
            }
            _ => {
                let mut known = match &eqs.noise {
                    Some(n) => format!("`dt` or `d{}` (the declared noise)", n.name),
                    None => "`dt` or `dW`".to_string(),
                };
                if let Some(input) = &env.input {
                    known = format!("{known} or `d{}` (the input)", input.name);
                }
                self.report(
                    Diagnostic::error("E0410", format!("unknown differential `{}`", d.name), d.span)
                        .label("not `dt`, a declared noise nor an input")
                        .hint(format!(
                            "a term ends with {known}; to use `d{channel}`, declare noise `noise {channel}: [m]` \
                             or a control path `input {channel} = hermite(data)`"
                        )),
                );
                None
            }
        }
    }

    /// A `f dt` term: the state's shape (E0404).
    fn drift_term(&mut self, state: &Ident, term: &SdeTerm, v: TExpr, want: Shape) -> Option<TExpr> {
        if v.shape == want {
            return Some(v);
        }
        let mut d = Diagnostic::error(
            "E0404",
            format!("the drift of `d{}` does not have the shape of `{}`", state.name, state.name),
            term.coef.span,
        )
        .label(format!("`{}` is {want} but this term is {}", state.name, v.shape));
        if v.shape.is_scalar() {
            d = d.hint(format!("a scalar drift is not broadcast; build the {want} drift explicitly"));
        }
        self.report(d);
        None
    }

    /// A `g dW` term: the state's shape or a scalar, broadcast (E0408).
    fn diagonal_term(&mut self, state: &Ident, term: &SdeTerm, v: TExpr, want: Shape) -> Option<TExpr> {
        if v.shape == want {
            return Some(v);
        }
        if v.shape.is_scalar() {
            let span = v.span;
            return Some(consts::broadcast(v, want, span));
        }
        self.report(
            Diagnostic::error(
                "E0408",
                format!("the diffusion of `d{}` does not have the shape of `{}`", state.name, state.name),
                term.coef.span,
            )
            .label(format!("`{}` is {want} but `g` is {}", state.name, v.shape))
            .hint(
                "with diagonal noise `g` has the state's shape (or is a scalar); for a matrix `G` declare \
                   `noise W: [m]` and write `G @ dW`",
            ),
        );
        None
    }

    /// A `G @ dW` term: `[len, m]` for a vector state, `[m]` for a scalar (E0408).
    fn general_term(&mut self, state: &Ident, term: &SdeTerm, v: TExpr, want: Shape, m: usize) -> Option<TExpr> {
        let expected = match want.rank() {
            0 => Shape::vector(m),
            1 => Shape::matrix(want.len(), m),
            _ => {
                self.report(
                    Diagnostic::error("E0408", "general noise needs a scalar or vector state", term.span)
                        .label(format!("`{}` is {want}", state.name))
                        .hint("use a vector state, or diagonal noise `g dW` without a `noise` declaration"),
                );
                return None;
            }
        };
        if v.shape == expected {
            return Some(v);
        }
        self.report(
            Diagnostic::error(
                "E0408",
                format!("`G` in `G @ {}` has the wrong shape", term.differential.name),
                term.coef.span,
            )
            .label(format!("expected {expected} (`{}` is {want}, {m} channels) but `G` is {}", state.name, v.shape))
            .hint(format!("`G @ {}` must have the state's shape: `G` is [state size, {m}]", term.differential.name)),
        );
        None
    }

    /// The model's diffusion once every equation is checked: `Some(None)`
    /// for an ODE, `None` on errors (E0409 mixed noise, E0411 a `noise` or
    /// `stratonovich` with no noise term, E0408 general noise on a matrix
    /// state, E0416 noise in a model with an `input`).
    fn diffusion(
        &mut self,
        model: &ModelItem,
        states: &[StateRow<'_>],
        eqs: &mut Equations,
        input_at: Option<Span>,
    ) -> Option<Option<CheckedDiffusion>> {
        if eqs.failed {
            return None;
        }
        // The diffusion cannot read the path (`X(t)` in `g`), so an input
        // and noise never meet, whether or not `dX` is used.
        if let (Some(noise), Some(control)) = (eqs.diagonal_at.or(eqs.general_at), eqs.control_at.or(input_at)) {
            self.noise_and_control(noise, control);
            return None;
        }
        if let (Some(diag), Some(general)) = (eqs.diagonal_at, eqs.general_at) {
            // Unreachable through term_kind (a declared noise makes every
            // term general); kept so the rule holds if that changes.
            self.report(
                Diagnostic::error("E0409", "diagonal and general noise in one model", diag)
                    .label("diagonal noise term")
                    .with_secondary(general, "general noise term"),
            );
            return None;
        }
        let noise = match (&eqs.noise, eqs.general_at, eqs.diagonal_at) {
            // An invalid declaration (already reported).
            (Some(NoiseDecl { m: None, .. }), _, _) => return None,
            (Some(n), None, _) => {
                self.report(
                    Diagnostic::error(
                        "E0411",
                        format!("`noise {}` is declared but no equation uses it", n.name),
                        n.span,
                    )
                    .label("unused")
                    .hint(format!("add a term `G @ d{}` to an equation, or remove the declaration", n.name)),
                );
                return None;
            }
            (Some(n), Some(_), _) => NoiseShape::General { m: n.m? },
            (None, _, Some(_)) => NoiseShape::Diagonal,
            (None, _, None) => {
                if let Some(at) = model.stratonovich {
                    self.report(
                        Diagnostic::error("E0411", "`stratonovich` on a model without noise", at)
                            .label("no equation has a `dW` term")
                            .hint("remove `stratonovich`, or add noise: `dx = f dt + g dW`"),
                    );
                    return None;
                }
                return Some(None);
            }
        };
        let mut g = Vec::with_capacity(states.len());
        for (i, (name, shape, _, _)) in states.iter().enumerate() {
            match (eqs.g[i].take(), shape) {
                (Some(v), _) => g.push(v),
                (None, Some(s)) => {
                    let zero_shape = match noise {
                        NoiseShape::Diagonal => *s,
                        NoiseShape::General { m } if s.is_scalar() => Shape::vector(m),
                        NoiseShape::General { m } => Shape::matrix(s.len(), m),
                    };
                    if let (NoiseShape::General { .. }, 2) = (noise, s.rank()) {
                        self.report(
                            Diagnostic::error("E0408", "general noise needs scalar or vector states", name.span)
                                .label(format!("`{}` is {s}", name.name))
                                .hint("the flat diffusion stacks one row block per state; use a vector state"),
                        );
                        return None;
                    }
                    g.push(TExpr::constant(vec![0.0; zero_shape.len()].into(), zero_shape, name.span));
                }
                (None, None) => return None,
            }
        }
        Some(Some(CheckedDiffusion { noise, stratonovich: model.stratonovich.is_some(), g }))
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
        let env = Env { module, kind: EnvKind::Model(env) };
        let want = ann.map(|a| self.annotation(&env, a));
        let v = self.expr(&env, init);
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
        states: &[StateRow<'_>],
        rhs: &mut [Option<(Span, Option<TExpr>)>],
    ) {
        let Some(i) = self.equation_target(env, state, span, states, rhs, false) else { return };
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
