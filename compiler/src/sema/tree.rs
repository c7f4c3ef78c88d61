//! The checked program: sema's output and lowering's only input.
//!
//! Every expression here is resolved (names are slot indices), shaped (every
//! node carries its static [`Shape`]) and constant-folded (a subexpression
//! whose inputs are all compile-time values is a [`TKind::Const`]). User
//! functions appear as [`TKind::Inline`] instances specialised to their
//! argument shapes. Lowering may rely on every shape rule of the IR builder
//! holding; a violation is a sema bug.

use std::sync::Arc;

use crate::ir::training::{DataSpec, LossLayout, LossStat, Sampling, TrainSpec};
use crate::ir::{BinaryOp, Control, NoiseShape, Shape, SolverSpec, UnaryOp};
use crate::span::Span;

/// A checked expression with its static shape.
#[derive(Clone, Debug, PartialEq)]
pub struct TExpr {
    pub kind: TKind,
    pub shape: Shape,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TKind {
    /// A compile-time value, row-major, `shape.len()` elements.
    Const(Arc<[f64]>),
    /// The time `t` (scalar).
    Time,
    /// State slot `i` of the model (index into [`CheckedModel::states`]).
    State(usize),
    /// Parameter slot `i` of the model (index into [`CheckedModel::params`]).
    Param(usize),
    /// The model's control path at the current time, `X(t)` (a vector of
    /// the path's channels); in a state's initial value, `X(t0)`.
    Control,
    /// The path's derivative `dX/dt` at the current time (same shape as
    /// [`TKind::Control`]); made by sema for `F @ dX` terms only.
    ControlRate,
    /// The `let` with index `i` (into [`CheckedModel::lets`]), computed once.
    Let(usize),
    /// Argument `i` of the innermost enclosing [`TKind::Inline`].
    Arg(usize),
    /// A user function instance: `body` reads its arguments through
    /// [`TKind::Arg`]. Arguments known at compile time were substituted into
    /// the body and are not listed.
    Inline {
        body: Arc<TExpr>,
        args: Vec<TExpr>,
    },
    Unary(UnaryOp, Box<TExpr>),
    /// Elementwise; operand shapes are equal or one of them is a scalar.
    Binary(BinaryOp, Box<TExpr>, Box<TExpr>),
    /// A scalar repeated to the node's shape.
    Broadcast(Box<TExpr>),
    /// numpy `@` for ranks 1 and 2.
    MatMul(Box<TExpr>, Box<TExpr>),
    /// Swaps the axes of a matrix (only built for rank 2).
    Transpose(Box<TExpr>),
    /// Sum of all elements.
    Sum(Box<TExpr>),
    /// Element `index` along `axis`, dropping the axis.
    Index {
        arg: Box<TExpr>,
        axis: usize,
        index: usize,
    },
    /// Elements `start..start + len` along `axis`, keeping it.
    Slice {
        arg: Box<TExpr>,
        axis: usize,
        start: usize,
        len: usize,
    },
    /// Joins operands of equal rank along `axis`.
    Concat {
        args: Vec<TExpr>,
        axis: usize,
    },
    /// Same elements, row-major, the node's shape.
    Reshape(Box<TExpr>),
    /// An input of a loss function (a block of its input buffer, see
    /// [`LossLayout`]). Only in [`CheckedLoss`] expressions.
    LossInput(LossInput),
    /// A value computed from observations with missing entries: `value`
    /// holds 0-filled observations, `mask` (same shape) is 1 where every
    /// observation the value depends on is present, 0 elsewhere. Made only
    /// while checking a loss, and only ever at the root of a value: every
    /// operation lifts it (elementwise ones, indexing, transposes) or
    /// removes it (the masked reductions `sum`, `mean`, `norm`, `mse`,
    /// `mae`, `huber`) or rejects it (E0705). A [`CheckedLoss`] never holds one.
    Masked {
        value: Box<TExpr>,
        mask: Box<TExpr>,
    },
}

/// The blocks of a loss function's input buffer (see [`LossLayout`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossInput {
    /// `sol.y`, `[T, n]`.
    SolY,
    /// `DATA.y`, `[T, m]`, missing values replaced by 0.
    ObsY,
    /// 1 where `DATA.y` is observed, `[T, m]`.
    ObsMask,
    /// `DATA.t` and `sol.t`, `[T]`.
    Times,
    /// A solver statistic, a scalar.
    Stat(LossStat),
    /// An ensemble solve's `N` sample paths, `[N, T·n]` (path `b`'s
    /// `[T, n]` solution flattened in row `b`); `sol.mean` and `sol.var`
    /// are built from it.
    SolPaths,
    /// `DATA.mean`, `[T, m]`, 0 where missing.
    DataMean,
    /// `DATA.var`, `[T, m]`, 0 where missing.
    DataVar,
    /// 1 where `DATA.mean` and `DATA.var` exist (at least 2 observations), `[T, m]`.
    DataStatMask,
    /// `sol.NAME` for the solved model's output `NAME` (index into
    /// [`CheckedModel::outputs`]): `[T]` for a scalar output, `[T, len]`
    /// for a vector one. Lowered by inlining the output's expression per
    /// save time, reading that row of `sol.y`, that time and `p`.
    Output(usize),
    /// `DATA.NAME` for a per-trajectory field: the member's trajectory's
    /// value, at this offset in the fields block of the [`LossLayout`].
    Field(usize),
}

impl TExpr {
    /// The compile-time value, if this is a constant.
    pub fn as_const(&self) -> Option<&Arc<[f64]>> {
        match &self.kind {
            TKind::Const(v) => Some(v),
            _ => None,
        }
    }

    /// A constant node.
    pub fn constant(values: Arc<[f64]>, shape: Shape, span: Span) -> TExpr {
        debug_assert_eq!(values.len(), shape.len());
        TExpr { kind: TKind::Const(values), shape, span }
    }

    /// A scalar constant.
    pub fn scalar(x: f64, span: Span) -> TExpr {
        TExpr::constant(Arc::from(vec![x]), Shape::scalar(), span)
    }
}

/// How a parameter gets its initial value.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamInit {
    /// Fixed values (a constant expression, a scalar already filled to the shape).
    Values(Arc<[f64]>),
    Zeros,
    Ones,
    /// Glorot (Xavier) uniform for a rank-2 `[fan_out, fan_in]` shape.
    Glorot,
    /// Normal with mean 0 and this standard deviation.
    Normal {
        std: f64,
    },
}

/// A checked `param` (or one parameter of a `net`).
#[derive(Clone, Debug, PartialEq)]
pub struct ParamDecl {
    /// Full name: `sigma`, or `f.W1` for a net's parameter.
    pub name: String,
    pub shape: Shape,
    pub init: ParamInit,
    pub span: Span,
}

/// A checked `state`.
#[derive(Clone, Debug, PartialEq)]
pub struct StateDecl {
    pub name: String,
    pub shape: Shape,
    /// The initial value, reading only `t`, params and constants; `shape` as the state.
    pub init: TExpr,
    pub span: Span,
}

/// A checked model.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedModel {
    pub name: String,
    /// The model's name in its declaration.
    pub span: Span,
    /// In declaration order.
    pub states: Vec<StateDecl>,
    /// In declaration order; a net's parameters in layer order at the net's place.
    pub params: Vec<ParamDecl>,
    /// The `let`s in definition order; each may read earlier ones.
    pub lets: Vec<TExpr>,
    /// `rhs[i]` is `dSTATE_i/dt` (an SDE's drift, a CDE's `F @ dX/dt + g`),
    /// with the shape of `states[i]`.
    pub rhs: Vec<TExpr>,
    /// The noise term of an SDE model; `None` for an ODE.
    pub diffusion: Option<CheckedDiffusion>,
    /// The control path of a CDE model (`input X = ...`): `rhs` then reads
    /// [`TKind::Control`] and [`TKind::ControlRate`], and `dz = F @ dX + g dt`
    /// is in `rhs` as `F @ dX/dt + g`; `None` for ODE and SDE models.
    pub control: Option<Control>,
    /// The `output`s, in declaration order.
    pub outputs: Vec<CheckedOutput>,
}

/// A checked `output NAME = expr` of a model.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedOutput {
    pub name: String,
    /// A scalar or a vector.
    pub shape: Shape,
    /// Reads `t`, states, params and the model's `let`s (never the path).
    pub value: TExpr,
    pub span: Span,
}

/// The checked noise term `g dW` of an SDE model.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedDiffusion {
    pub noise: NoiseShape,
    /// The model is marked `stratonovich` (Itô otherwise).
    pub stratonovich: bool,
    /// `g[i]` belongs to `states[i]`: with diagonal noise it has the state's
    /// shape; with general noise (`m` channels) it is `[len, m]` for a
    /// vector state of `len` entries and `[m]` for a scalar state. A state
    /// with an ODE equation gets zeros.
    pub g: Vec<TExpr>,
}

/// A checked `loss`: the solve it makes and its value, ready to lower.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedLoss {
    pub name: String,
    /// The loss's name in its declaration.
    pub span: Span,
    /// The solved model and its flat state and parameter lengths.
    pub model: String,
    pub n_param: usize,
    /// The data set whose times are the save times.
    pub data: String,
    pub solver: SolverSpec,
    pub sampling: Sampling,
    /// The statistics the value reads, in [`LossStat::ALL`] order.
    pub stats_used: Vec<LossStat>,
    pub layout: LossLayout,
    /// The loss's `let`s in order ([`TKind::Let`] indexes them).
    pub lets: Vec<TExpr>,
    /// The scalar value, reading [`TKind::LossInput`]s, lets and constants.
    pub value: TExpr,
}

/// Everything sema produces from the root file.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct CheckedProgram {
    pub models: Vec<CheckedModel>,
    pub solvers: Vec<SolverSpec>,
    /// `data` declarations (a loaded series or a recipe to generate one).
    pub data: Vec<DataSpec>,
    pub losses: Vec<CheckedLoss>,
    pub trains: Vec<TrainSpec>,
}
