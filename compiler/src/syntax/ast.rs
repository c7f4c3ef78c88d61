//! The abstract syntax tree: what the user wrote, with a [`Span`] on every
//! node. Produced by [`crate::syntax::parse`]; consumed by `sema`. No pest
//! type appears here.

use crate::span::Span;

/// A name as written, with its place.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// One parsed `.nde` file.
#[derive(Clone, Debug, PartialEq)]
pub struct Module {
    pub items: Vec<Item>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Use(UseItem),
    Const(ConstItem),
    Fn(FnItem),
    Model(ModelItem),
    Instance(InstanceItem),
    Solver(SolverItem),
    Data(DataItem),
    Loss(LossItem),
    Train(TrainItem),
}

impl Item {
    /// The span of the whole item, keyword included.
    pub fn span(&self) -> Span {
        match self {
            Item::Use(i) => i.span,
            Item::Const(i) => i.span,
            Item::Fn(i) => i.span,
            Item::Model(i) => i.span,
            Item::Instance(i) => i.span,
            Item::Solver(i) => i.span,
            Item::Data(i) => i.span,
            Item::Loss(i) => i.span,
            Item::Train(i) => i.span,
        }
    }
}

/// Where a `use` imports from.
#[derive(Clone, Debug, PartialEq)]
pub enum UsePath {
    /// `std.nn` — a module of the standard library, as dotted segments.
    Module(Vec<Ident>),
    /// `"helpers.nde"` — a file relative to the importing file.
    File { path: String, span: Span },
}

/// `use std.nn.{mlp, linear}` or `use "lib.nde".{f}`.
#[derive(Clone, Debug, PartialEq)]
pub struct UseItem {
    pub path: UsePath,
    pub names: Vec<Ident>,
    pub span: Span,
}

/// A shape annotation `[2, 3]` (`[]` is a scalar); a dimension may be the
/// name of a whole-number constant (`[n, 2]`), resolved by sema.
#[derive(Clone, Debug, PartialEq)]
pub struct ShapeAnn {
    pub dims: Vec<Dim>,
    pub span: Span,
}

/// One dimension of a [`ShapeAnn`].
#[derive(Clone, Debug, PartialEq)]
pub enum Dim {
    /// A literal size.
    Size(usize),
    /// A `const` or template parameter holding a whole number.
    Name(Ident),
}

impl ShapeAnn {
    /// The sizes, when every dimension is a literal.
    pub fn literal_dims(&self) -> Option<Vec<usize>> {
        self.dims.iter().map(|d| if let Dim::Size(n) = d { Some(*n) } else { None }).collect()
    }
}

/// `const NAME[: shape] = expr`
#[derive(Clone, Debug, PartialEq)]
pub struct ConstItem {
    pub name: Ident,
    pub shape: Option<ShapeAnn>,
    pub value: Expr,
    pub span: Span,
}

/// `fn name(a, b) = expr` — pure, shape-polymorphic.
#[derive(Clone, Debug, PartialEq)]
pub struct FnItem {
    pub name: Ident,
    pub params: Vec<Ident>,
    pub body: Expr,
    pub span: Span,
}

/// `model NAME [(template params)] [stratonovich] { members }`
#[derive(Clone, Debug, PartialEq)]
pub struct ModelItem {
    pub name: Ident,
    /// `Some` for a model template, `model lsde(n, hidden = 32) { ... }`:
    /// not a model itself, but instantiated by [`InstanceItem`]s with
    /// compile-time values for its parameters.
    pub template: Option<Vec<TemplateParam>>,
    /// The span of the `stratonovich` word, if the model has it (its SDE
    /// equations are then Stratonovich equations; Itô otherwise).
    pub stratonovich: Option<Span>,
    pub members: Vec<Member>,
    pub span: Span,
}

/// A parameter of a model template: a compile-time constant, with an
/// optional default value.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateParam {
    pub name: Ident,
    pub default: Option<Expr>,
}

/// `model NAME = TEMPLATE(name = value, ...)`: a model made from a template.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceItem {
    pub name: Ident,
    pub template: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

/// One declaration inside a model. `param a = 1, b = 2` yields two members.
#[derive(Clone, Debug, PartialEq)]
pub enum Member {
    /// `param NAME[: shape] = init` — `init` is a value or an initialiser call
    /// (`zeros`, `glorot`, `normal(std)`).
    Param { name: Ident, shape: Option<ShapeAnn>, init: Expr, span: Span },
    /// `state NAME[: shape] = init`
    State { name: Ident, shape: Option<ShapeAnn>, init: Expr, span: Span },
    /// `net NAME = layer(args)`; `layer` is a call expression.
    Net { name: Ident, layer: Expr, span: Span },
    /// `let NAME = expr`
    Let { name: Ident, value: Expr, span: Span },
    /// `dNAME/dt = expr`; `state` is the `NAME` part.
    Ode { state: Ident, rhs: Expr, span: Span },
    /// `noise NAME: [m]` — `m` Brownian channels, written `dNAME` in
    /// equations (general noise).
    Noise { name: Ident, shape: ShapeAnn, span: Span },
    /// `input NAME = source` — a control path, written `dNAME` in
    /// controlled equations and `NAME(t)` in expressions; `source` is an
    /// expression such as `hermite(series, time = true)` (sema checks its form).
    Input { name: Ident, source: Expr, span: Span },
    /// `output NAME = expr` — a named readout of the state (scalar or
    /// vector), `sol.NAME` in a loss and extra columns in `nde run`.
    Output { name: Ident, value: Expr, span: Span },
    /// `dNAME = f dt + g dW` or `dNAME = F @ dX + f dt` — a stochastic or
    /// controlled equation as a sum of terms; `state` is the `NAME` part.
    Sde { state: Ident, terms: Vec<SdeTerm>, span: Span },
}

/// One term of an SDE or CDE equation: `[-] coef dt`, `[-] coef dW`,
/// `[-] G @ dW` or `[-] F @ dX`.
#[derive(Clone, Debug, PartialEq)]
pub struct SdeTerm {
    /// Joined to the previous term by `-` (a sign written inside the first
    /// coefficient, `-y dt`, belongs to the coefficient).
    pub negate: bool,
    /// The coefficient: a product of unary operands.
    pub coef: Expr,
    /// `coef @ dW` (general noise, or a control `F @ dX`) rather than `coef dW`.
    pub matmul: bool,
    /// The differential as written, `d` included: `dt`, `dW`, `dX`.
    pub differential: Ident,
    /// From the coefficient to the differential.
    pub span: Span,
}

impl Member {
    /// The member's span: from its name to the end of its value. A
    /// declaration's keyword is left out because `param a = 1, b = 2` makes
    /// two members that share it; an equation starts at `dNAME`.
    pub fn span(&self) -> Span {
        match self {
            Member::Param { span, .. }
            | Member::State { span, .. }
            | Member::Net { span, .. }
            | Member::Let { span, .. }
            | Member::Ode { span, .. }
            | Member::Noise { span, .. }
            | Member::Input { span, .. }
            | Member::Output { span, .. }
            | Member::Sde { span, .. } => *span,
        }
    }

    /// The name the member defines (for an equation, its state).
    pub fn name(&self) -> &Ident {
        match self {
            Member::Param { name, .. }
            | Member::State { name, .. }
            | Member::Net { name, .. }
            | Member::Let { name, .. }
            | Member::Noise { name, .. }
            | Member::Input { name, .. }
            | Member::Output { name, .. } => name,
            Member::Ode { state, .. } | Member::Sde { state, .. } => state,
        }
    }
}

/// `solver NAME = method(options)`
#[derive(Clone, Debug, PartialEq)]
pub struct SolverItem {
    pub name: Ident,
    pub method: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

/// `data NAME = source`; the source is a call, `load("file")` or
/// `generate(model, at = times, with = solver)`, interpreted by sema.
#[derive(Clone, Debug, PartialEq)]
pub struct DataItem {
    pub name: Ident,
    pub source: Expr,
    pub span: Span,
}

/// `let NAME = value` inside a loss.
#[derive(Clone, Debug, PartialEq)]
pub struct LossLet {
    pub name: Ident,
    pub value: Expr,
    /// From the name to the end of the value.
    pub span: Span,
}

/// `loss NAME { lets value }` or `loss NAME = value` (no lets).
#[derive(Clone, Debug, PartialEq)]
pub struct LossItem {
    pub name: Ident,
    pub lets: Vec<LossLet>,
    /// The scalar the loss is: the expression after the last `let`.
    pub value: Expr,
    pub span: Span,
}

/// `name = value` inside a `train` block. The keywords `data` and `model`
/// as values (`initial = data`) arrive as [`ExprKind::Name`].
#[derive(Clone, Debug, PartialEq)]
pub struct TrainOption {
    pub name: Ident,
    pub value: Expr,
    /// From the name to the end of the value.
    pub span: Span,
}

/// `train LOSS { options }`.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainItem {
    /// The loss it minimises.
    pub loss: Ident,
    pub options: Vec<TrainOption>,
    pub span: Span,
}

/// A call argument, positional or `name = value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Plus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    /// `^`, elementwise power.
    Pow,
    /// `@`, matrix product.
    MatMul,
}

/// One position inside `x[...]`.
#[derive(Clone, Debug, PartialEq)]
pub enum IndexArg {
    /// `x[i]` — drops the axis.
    Single(Expr),
    /// `x[a:b]`, `x[:b]`, `x[a:]`, `x[:]` — keeps the axis.
    Slice { start: Option<Expr>, stop: Option<Expr>, span: Span },
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A number literal; integers are floats too (`8 / 3` is 2.666…).
    Number(f64),
    /// A string literal (file paths in `load`, `use`).
    Str(String),
    /// A name: a local, parameter, state, constant, function, layer, or `t`.
    Name(String),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// Postfix `'`.
    Transpose(Box<Expr>),
    /// `callee(args)`; the callee may itself be a call (`linear(2 -> 3)(x)`).
    Call {
        callee: Box<Expr>,
        args: Vec<Arg>,
    },
    /// `base[indices]`
    Index {
        base: Box<Expr>,
        indices: Vec<IndexArg>,
    },
    /// `base.name`
    Field {
        base: Box<Expr>,
        name: Ident,
    },
    /// `[a, b, c]` — a tensor literal or concatenation of its elements.
    Array(Vec<Expr>),
    /// `2 -> 64 -> 2` — layer sizes, only meaningful as a layer argument.
    Arrow(Vec<Expr>),
}
