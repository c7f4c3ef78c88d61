//! Nets: checking `net NAME = mlp(...)` / `linear(...)` declarations
//! (sizes, `act`, `out`, `bias`; E0313), creating their parameters
//! (`NAME.W1`, `NAME.b1`, ...), and expanding an application `NAME(x)` into
//! matrix products, bias additions and activations (E0307 for a wrong input).

use crate::diag::Diagnostic;
use crate::ir::{BinaryOp, Shape, UnaryOp};
use crate::span::Span;
use crate::syntax::ast::{Arg, Expr, ExprKind, Ident};

use super::builtins::{Builtin, Layer, MAX_ELEMENTS};
use super::checker::{Checker, Def, Env, EnvKind, ItemRef, ModelEnv, Resolved};
use super::consts;
use super::tree::{ParamDecl, ParamInit, TExpr, TKind};

/// An activation: a builtin or a one-argument user fn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Act {
    Builtin(UnaryOp),
    Fn(ItemRef),
}

/// One affine layer of a net: parameter slots and output size.
#[derive(Clone, Debug)]
pub(crate) struct AffineLayer {
    pub w: usize,
    pub b: Option<usize>,
}

/// A checked net declaration.
#[derive(Clone, Debug)]
pub(crate) struct NetInfo {
    pub name: String,
    /// The input size `IN`.
    pub input: usize,
    pub layers: Vec<AffineLayer>,
    /// After every hidden layer.
    pub act: Option<Act>,
    /// After the last layer.
    pub out: Option<Act>,
    /// Field name (`W1`) to parameter slot.
    pub fields: Vec<(String, usize)>,
}

impl<'a> Checker<'a> {
    fn layer_error(&mut self, span: Span, msg: &str, label: String) {
        self.report(Diagnostic::error("E0313", msg.to_string(), span).label(label));
    }

    /// Checks `net NAME = layer(...)`; appends its parameters to `params`
    /// (slot numbers continue from `params.len()`).
    pub fn declare_net(
        &mut self,
        module: usize,
        model: &ModelEnv,
        name: &Ident,
        layer: &'a Expr,
        params: &mut Vec<ParamDecl>,
    ) -> Option<NetInfo> {
        // Sizes and activations see the model's names (to say that a param
        // is not a constant) in the constants-only phase.
        let file = Env { module, kind: EnvKind::Model(model) };
        let (callee, args) = match &layer.kind {
            ExprKind::Call { callee, args } => (callee, args),
            _ => {
                self.report(
                    Diagnostic::error("E0212", "a net is declared with a layer constructor", layer.span)
                        .label("expected a call such as `mlp(2 -> 64 -> 2, act = tanh)`")
                        .hint("layer constructors `mlp` and `linear` come from std.nn"),
                );
                return None;
            }
        };
        let kind = match &callee.kind {
            ExprKind::Name(n) => match self.lookup(&file, n) {
                Resolved::Def(Def::Layer(l)) => Some(l),
                Resolved::Unknown => {
                    self.unknown_name(&file, n, callee.span);
                    return None;
                }
                _ => None,
            },
            _ => None,
        };
        let Some(kind) = kind else {
            let what = self.describe(callee.span, "this");
            self.report(
                Diagnostic::error("E0212", format!("`{what}` is not a layer constructor"), callee.span)
                    .label("expected `mlp` or `linear`")
                    .hint("layer constructors come from std.nn: `use std.nn.{mlp, linear}`"),
            );
            return None;
        };
        let lname = match kind {
            Layer::Mlp => "mlp",
            Layer::Linear => "linear",
        };
        let mut sizes = None;
        let mut act = Some(Act::Builtin(UnaryOp::Tanh));
        let mut out = None;
        let mut bias = true;
        let mut ok = true;
        let mut seen: Vec<&str> = Vec::new();
        let mut positional = 0;
        for a in args {
            let Some(n) = &a.name else {
                positional += 1;
                if positional == 1 {
                    sizes = self.layer_sizes(&file, kind, &a.value);
                    ok &= sizes.is_some();
                }
                continue;
            };
            let known: &[&str] = match kind {
                Layer::Mlp => &["act", "out"],
                Layer::Linear => &["bias"],
            };
            if !known.contains(&n.name.as_str()) {
                self.report(
                    Diagnostic::error("E0207", format!("`{lname}` has no argument named `{}`", n.name), n.span)
                        .label("unknown named argument")
                        .hint(format!("`{lname}` takes: {}", known.join(", "))),
                );
                ok = false;
                continue;
            }
            if seen.contains(&n.name.as_str()) {
                self.report(
                    Diagnostic::error("E0207", format!("argument `{}` is given twice", n.name), n.span)
                        .label("already given"),
                );
                ok = false;
                continue;
            }
            seen.push(&n.name);
            match n.name.as_str() {
                "act" | "out" => match self.activation(&file, &a.value) {
                    Some(f) if n.name == "act" => act = Some(f),
                    Some(f) => out = Some(f),
                    None => ok = false,
                },
                _ => match &a.value.kind {
                    ExprKind::Name(b) if b == "true" || b == "false" => bias = b == "true",
                    _ => {
                        self.layer_error(
                            a.value.span,
                            "`bias` is `true` or `false`",
                            "expected `true` or `false`".into(),
                        );
                        ok = false;
                    }
                },
            }
        }
        if positional != 1 {
            self.report(
                Diagnostic::error("E0205", format!("wrong number of arguments to `{lname}`"), layer.span)
                    .label(format!(
                        "`{lname}` takes one positional argument, the layer sizes, but {positional} were given"
                    ))
                    .hint(format!("for example `{lname}(2 -> {}2)`", if kind == Layer::Mlp { "64 -> " } else { "" })),
            );
            return None;
        }
        let sizes = sizes?;
        if !ok {
            return None;
        }
        if let Some(pair) = sizes.windows(2).find(|p| p[0].saturating_mul(p[1]) > MAX_ELEMENTS) {
            self.layer_error(
                layer.span,
                "layer too large",
                format!("a {} x {} weight matrix has more than {MAX_ELEMENTS} elements", pair[1], pair[0]),
            );
            return None;
        }
        let mut net = NetInfo {
            name: name.name.clone(),
            input: sizes[0],
            layers: Vec::new(),
            act: if kind == Layer::Mlp { act } else { None },
            out: if kind == Layer::Mlp { out } else { None },
            fields: Vec::new(),
        };
        for (i, pair) in sizes.windows(2).enumerate() {
            let suffix = match kind {
                Layer::Mlp => format!("{}", i + 1),
                Layer::Linear => String::new(),
            };
            let (fan_in, fan_out) = (pair[0], pair[1]);
            let mut add = |field: String, shape: Shape, init: ParamInit| {
                let slot = params.len();
                params.push(ParamDecl { name: format!("{}.{field}", name.name), shape, init, span: name.span });
                net.fields.push((field, slot));
                slot
            };
            let w = add(format!("W{suffix}"), Shape::matrix(fan_out, fan_in), ParamInit::Glorot);
            let b = bias.then(|| add(format!("b{suffix}"), Shape::vector(fan_out), ParamInit::Zeros));
            net.layers.push(AffineLayer { w, b });
        }
        Some(net)
    }

    /// The sizes of `a -> b -> c`: constant positive integers.
    fn layer_sizes(&mut self, env: &Env, kind: Layer, e: &'a Expr) -> Option<Vec<usize>> {
        let ExprKind::Arrow(items) = &e.kind else {
            self.layer_error(e.span, "expected layer sizes", "write the sizes as `IN -> ... -> OUT`".into());
            return None;
        };
        if kind == Layer::Linear && items.len() != 2 {
            self.layer_error(
                e.span,
                "`linear` has one layer",
                format!("expected `IN -> OUT`, found {} sizes", items.len()),
            );
            return None;
        }
        let mut sizes = Vec::new();
        for x in items {
            let v = self.expr(env, x)?;
            match consts::const_int(&v) {
                Some(n) if n > 0 && n <= MAX_ELEMENTS as i64 => sizes.push(n as usize),
                _ => {
                    let label = match v.as_const() {
                        None => "not known at compile time".to_string(),
                        Some(_) if !v.shape.is_scalar() => format!("a {} tensor, not a size", v.shape),
                        Some(c) => format!("{} is not a positive whole number", c[0]),
                    };
                    self.layer_error(x.span, "invalid layer size", label);
                    return None;
                }
            }
        }
        Some(sizes)
    }

    /// `act = f` / `out = f`: a one-argument builtin or fn.
    fn activation(&mut self, env: &Env, e: &'a Expr) -> Option<Act> {
        let ExprKind::Name(n) = &e.kind else {
            self.layer_error(e.span, "an activation is a function name", "expected a name such as `tanh`".into());
            return None;
        };
        match self.lookup(env, n) {
            Resolved::Builtin(Builtin::Unary(op)) => Some(Act::Builtin(op)),
            Resolved::Def(Def::Fn(r)) if self.fn_item(r).params.len() == 1 => Some(Act::Fn(r)),
            Resolved::Unknown => {
                self.unknown_name(env, n, e.span);
                None
            }
            _ => {
                self.layer_error(e.span, "an activation is a one-argument function", format!("`{n}` is not one"));
                None
            }
        }
    }

    /// `net(x)`: `W @ h + b` per layer, activations between.
    pub fn apply_net(&mut self, env: &Env, net: &NetInfo, args: &'a [Arg], span: Span) -> Option<TExpr> {
        let EnvKind::Model(m) = env.kind else { unreachable!("nets live in models") };
        let vals: Vec<Option<TExpr>> = args.iter().map(|a| self.expr(env, &a.value)).collect();
        if let Some(n) = args.iter().find_map(|a| a.name.as_ref()) {
            self.report(
                Diagnostic::error("E0207", format!("net `{}` has no argument named `{}`", net.name, n.name), n.span)
                    .label("unknown named argument")
                    .hint(format!("apply it to one input: `{}(x)`", net.name)),
            );
            return None;
        }
        if args.len() != 1 {
            self.arg_count(&net.name, 1, args.len(), span);
            return None;
        }
        let x = vals.into_iter().next().flatten()?;
        let want = Shape::vector(net.input);
        if x.shape != want {
            let what = self.describe(args[0].value.span, "the input");
            self.report(
                Diagnostic::error("E0307", format!("wrong input shape for net `{}`", net.name), args[0].value.span)
                    .label(format!("`{}` expects {want} but {what} is {}", net.name, x.shape))
                    .hint(format!("the net was declared with input size {}", net.input)),
            );
            return None;
        }
        let param = |i: usize| m.param_shapes[i].map(|shape| TExpr { kind: TKind::Param(i), shape, span });
        let mut h = x;
        for (i, layer) in net.layers.iter().enumerate() {
            let w = param(layer.w)?;
            let shape = Shape::vector(w.shape.dim(0));
            h = consts::matmul(w, h, shape, span);
            if let Some(b) = layer.b {
                h = consts::binary(BinaryOp::Add, h, param(b)?, span);
            }
            let act = if i + 1 < net.layers.len() { net.act } else { net.out };
            h = match act {
                None => h,
                Some(Act::Builtin(op)) => consts::unary(op, h, span),
                Some(Act::Fn(r)) => {
                    let y = self.instantiate(r, vec![h], span)?;
                    if y.shape != shape {
                        let f = &self.fn_item(r).name.name;
                        self.report(
                            Diagnostic::error("E0313", format!("activation `{f}` changes the shape"), span)
                                .label(format!("`{f}` maps a {shape} layer output to {}", y.shape))
                                .hint("an activation must be elementwise"),
                        );
                        return None;
                    }
                    y
                }
            };
        }
        Some(h)
    }
}
