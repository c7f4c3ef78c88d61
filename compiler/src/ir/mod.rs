//! The tensor IR: one expression DAG per kernel, backend-neutral.
//!
//! Owns [`Function`] (an arena of [`Node`]s in topological order, each with a
//! static [`Shape`]), the [`Builder`] that creates nodes with their shapes
//! and shares identical ones, the model description [`ModelIr`], the
//! verifier, the text printer and the reference interpreter (the oracle for
//! compiled code).
//!
//! Never: parse text, know about the AST or sema, or depend on a code
//! generator. Both the cranelift backend and a future GPU backend read this.
//!
//! Conventions: tensors are row-major `f64`; rank is 0, 1 or 2. Binary
//! elementwise ops take operands of equal shape (the builder inserts
//! [`Op::Broadcast`] for a scalar operand). A function reads three input
//! buffers (`t`, the flat state `y`, the flat parameters `p`) and writes its
//! outputs, concatenated row-major, to one output buffer.

pub mod infix;
pub mod interp;
pub mod print;
pub mod random;
pub mod training;
pub mod verify;

use crate::span::Span;
use std::collections::HashMap;
use std::fmt;

/// Static shape of a tensor of rank 0, 1 or 2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    rank: u8,
    dims: [u32; 2],
}

impl Shape {
    pub const SCALAR: Shape = Shape { rank: 0, dims: [1, 1] };

    pub fn scalar() -> Shape {
        Shape::SCALAR
    }
    pub fn vector(n: usize) -> Shape {
        Shape { rank: 1, dims: [n as u32, 1] }
    }
    pub fn matrix(m: usize, n: usize) -> Shape {
        Shape { rank: 2, dims: [m as u32, n as u32] }
    }
    /// From a dims list of length 0, 1 or 2 (`None` for rank > 2).
    pub fn from_dims(dims: &[usize]) -> Option<Shape> {
        match *dims {
            [] => Some(Shape::scalar()),
            [n] => Some(Shape::vector(n)),
            [m, n] => Some(Shape::matrix(m, n)),
            _ => None,
        }
    }
    pub fn rank(self) -> usize {
        self.rank as usize
    }
    /// The dimensions, `rank()` of them.
    pub fn dims(&self) -> &[u32] {
        &self.dims[..self.rank as usize]
    }
    pub fn dim(self, axis: usize) -> usize {
        assert!(axis < self.rank(), "axis {axis} of a rank-{} shape", self.rank);
        self.dims[axis] as usize
    }
    /// Number of elements.
    pub fn len(self) -> usize {
        self.dims().iter().map(|&d| d as usize).product()
    }
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
    pub fn is_scalar(self) -> bool {
        self.rank == 0
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.dims().iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

/// Index of a node in its [`Function`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

impl ValueId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The input buffers a function reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputBuf {
    /// The scalar time `t` (offset is always 0).
    Time,
    /// The flat state vector `y`.
    State,
    /// The flat parameter vector `p`.
    Param,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Exp,
    Log,
    Sin,
    Cos,
    Tan,
    Tanh,
    Sqrt,
    Abs,
    /// `max(x, 0)`
    Relu,
    /// `1 / (1 + exp(-x))`
    Sigmoid,
    /// `log(1 + exp(x))`, computed stably.
    Softplus,
    /// The tanh approximation: `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
    Gelu,
    /// `x` for `x > 0`, else `exp(x) - 1`.
    Elu,
    /// `x^n` for a constant integer `n` (repeated multiplication).
    Powi(i32),
    /// The Heaviside step: `1` for `x > 0`, `0` for `x <= 0` (either zero),
    /// NaN for NaN. Not in the surface language: autodiff makes it for the
    /// derivatives of `relu`, `abs`, `min` and `max`.
    Step,
}

impl UnaryOp {
    /// Every unary op but `Powi`, in declaration order (for tables and tests
    /// that must cover every op).
    pub const NON_POWI: [UnaryOp; 15] = [
        UnaryOp::Neg,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tan,
        UnaryOp::Tanh,
        UnaryOp::Sqrt,
        UnaryOp::Abs,
        UnaryOp::Relu,
        UnaryOp::Sigmoid,
        UnaryOp::Softplus,
        UnaryOp::Gelu,
        UnaryOp::Elu,
        UnaryOp::Step,
    ];

    /// Every unary op but `Powi`, then `Powi(n)` for each of `exponents`.
    pub fn all_with_powi(exponents: &[i32]) -> Vec<UnaryOp> {
        UnaryOp::NON_POWI.iter().copied().chain(exponents.iter().map(|&n| UnaryOp::Powi(n))).collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    /// `a^b` for real `b` (`exp(b log a)`; NaN for negative `a`).
    Pow,
    Min,
    Max,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Elements `offset .. offset + shape.len()` of an input buffer, row-major.
    Input {
        buf: InputBuf,
        offset: u32,
    },
    /// A constant tensor, row-major, `shape.len()` values.
    Const(Box<[f64]>),
    Unary(UnaryOp, ValueId),
    /// Elementwise; both operands have the node's shape.
    Binary(BinaryOp, ValueId, ValueId),
    /// A scalar repeated to the node's shape.
    Broadcast(ValueId),
    /// `[m,k]@[k,n] -> [m,n]`, `[m,k]@[k] -> [m]`, `[k]@[k,n] -> [n]`, `[k]@[k] -> []`.
    MatMul(ValueId, ValueId),
    /// Swaps the axes of a matrix (a vector or scalar is its own transpose).
    Transpose(ValueId),
    /// Sum of all elements, a scalar.
    Sum(ValueId),
    /// Elements `start .. start + node.shape.dim(axis)` along `axis`; rank kept.
    Slice {
        arg: ValueId,
        axis: u8,
        start: u32,
    },
    /// Element `index` along `axis`; that axis is removed.
    Index {
        arg: ValueId,
        axis: u8,
        index: u32,
    },
    /// Joins tensors of equal rank along `axis`.
    Concat {
        args: Vec<ValueId>,
        axis: u8,
    },
    /// Same elements, row-major, new shape.
    Reshape(ValueId),
}

impl Op {
    /// The same op with its operands renamed through `map` (operand `v`
    /// becomes `map[v]`): for passes that copy a function's nodes.
    pub fn remap(&self, map: &[ValueId]) -> Op {
        let m = |v: &ValueId| map[v.index()];
        match self {
            Op::Input { .. } | Op::Const(_) => self.clone(),
            Op::Unary(u, a) => Op::Unary(*u, m(a)),
            Op::Binary(b, x, y) => Op::Binary(*b, m(x), m(y)),
            Op::Broadcast(a) => Op::Broadcast(m(a)),
            Op::MatMul(a, b) => Op::MatMul(m(a), m(b)),
            Op::Transpose(a) => Op::Transpose(m(a)),
            Op::Sum(a) => Op::Sum(m(a)),
            Op::Slice { arg, axis, start } => Op::Slice { arg: m(arg), axis: *axis, start: *start },
            Op::Index { arg, axis, index } => Op::Index { arg: m(arg), axis: *axis, index: *index },
            Op::Concat { args, axis } => Op::Concat { args: args.iter().map(m).collect(), axis: *axis },
            Op::Reshape(a) => Op::Reshape(m(a)),
        }
    }

    /// The operands, in order.
    pub fn args(&self) -> Vec<ValueId> {
        match self {
            Op::Input { .. } | Op::Const(_) => vec![],
            Op::Unary(_, a)
            | Op::Broadcast(a)
            | Op::Transpose(a)
            | Op::Sum(a)
            | Op::Reshape(a)
            | Op::Slice { arg: a, .. }
            | Op::Index { arg: a, .. } => vec![*a],
            Op::Binary(_, a, b) | Op::MatMul(a, b) => vec![*a, *b],
            Op::Concat { args, .. } => args.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub op: Op,
    pub shape: Shape,
    /// The source the node came from ([`Span::detached`] for compiler-made nodes).
    pub span: Span,
}

/// One kernel: nodes in topological order and the outputs, written
/// concatenated (row-major) to the output buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    pub name: String,
    pub nodes: Vec<Node>,
    pub outputs: Vec<ValueId>,
    /// Length of the `y` buffer the function reads.
    pub n_state: usize,
    /// Length of the `p` buffer the function reads.
    pub n_param: usize,
}

impl Function {
    pub fn node(&self, id: ValueId) -> &Node {
        &self.nodes[id.index()]
    }
    pub fn shape(&self, id: ValueId) -> Shape {
        self.nodes[id.index()].shape
    }
    /// Total length of the output buffer.
    pub fn output_len(&self) -> usize {
        self.outputs.iter().map(|&o| self.shape(o).len()).sum()
    }
}

/// Builds a [`Function`], computing shapes and sharing structurally
/// identical nodes (so `tanh(W1@y+b1)` written twice is computed once).
///
/// Shape rules are enforced with panics: callers (lowering) work on a
/// shape-checked program, so a mismatch here is a compiler bug.
pub struct Builder {
    func: Function,
    dedup: HashMap<(OpKey, Shape), ValueId>,
    span: Span,
}

/// Hashable identity of an op (constants by bit pattern).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum OpKey {
    Input(InputBuf, u32),
    Const(Vec<u64>),
    Unary(UnaryOp, ValueId),
    Binary(BinaryOp, ValueId, ValueId),
    Broadcast(ValueId),
    MatMul(ValueId, ValueId),
    Transpose(ValueId),
    Sum(ValueId),
    Slice(ValueId, u8, u32),
    Index(ValueId, u8, u32),
    Concat(Vec<ValueId>, u8),
    Reshape(ValueId),
}

fn op_key(op: &Op) -> OpKey {
    match op {
        Op::Input { buf, offset } => OpKey::Input(*buf, *offset),
        Op::Const(v) => OpKey::Const(v.iter().map(|x| x.to_bits()).collect()),
        Op::Unary(u, a) => OpKey::Unary(*u, *a),
        Op::Binary(b, x, y) => OpKey::Binary(*b, *x, *y),
        Op::Broadcast(a) => OpKey::Broadcast(*a),
        Op::MatMul(a, b) => OpKey::MatMul(*a, *b),
        Op::Transpose(a) => OpKey::Transpose(*a),
        Op::Sum(a) => OpKey::Sum(*a),
        Op::Slice { arg, axis, start } => OpKey::Slice(*arg, *axis, *start),
        Op::Index { arg, axis, index } => OpKey::Index(*arg, *axis, *index),
        Op::Concat { args, axis } => OpKey::Concat(args.clone(), *axis),
        Op::Reshape(a) => OpKey::Reshape(*a),
    }
}

impl Builder {
    pub fn new(name: impl Into<String>, n_state: usize, n_param: usize) -> Self {
        Builder {
            func: Function { name: name.into(), nodes: Vec::new(), outputs: Vec::new(), n_state, n_param },
            dedup: HashMap::new(),
            span: Span::detached(),
        }
    }

    /// Sets the span recorded on nodes created from now on.
    pub fn set_span(&mut self, span: Span) {
        self.span = span;
    }

    pub fn shape(&self, id: ValueId) -> Shape {
        self.func.shape(id)
    }

    /// A node built so far (passes peek at operands to fold trivial cases).
    pub fn node(&self, id: ValueId) -> &Node {
        self.func.node(id)
    }

    /// Adds a node (or returns an identical existing one).
    pub fn push(&mut self, op: Op, shape: Shape) -> ValueId {
        let key = (op_key(&op), shape);
        if let Some(&id) = self.dedup.get(&key) {
            return id;
        }
        let id = ValueId(self.func.nodes.len() as u32);
        self.func.nodes.push(Node { op, shape, span: self.span });
        self.dedup.insert(key, id);
        id
    }

    pub fn time(&mut self) -> ValueId {
        self.push(Op::Input { buf: InputBuf::Time, offset: 0 }, Shape::scalar())
    }
    pub fn state(&mut self, offset: usize, shape: Shape) -> ValueId {
        assert!(offset + shape.len() <= self.func.n_state, "state slice out of range");
        self.push(Op::Input { buf: InputBuf::State, offset: offset as u32 }, shape)
    }
    pub fn param(&mut self, offset: usize, shape: Shape) -> ValueId {
        assert!(offset + shape.len() <= self.func.n_param, "param slice out of range");
        self.push(Op::Input { buf: InputBuf::Param, offset: offset as u32 }, shape)
    }
    pub fn constant(&mut self, values: Vec<f64>, shape: Shape) -> ValueId {
        assert_eq!(values.len(), shape.len(), "constant length");
        self.push(Op::Const(values.into_boxed_slice()), shape)
    }
    pub fn scalar(&mut self, x: f64) -> ValueId {
        self.constant(vec![x], Shape::scalar())
    }
    pub fn unary(&mut self, op: UnaryOp, a: ValueId) -> ValueId {
        let s = self.shape(a);
        self.push(Op::Unary(op, a), s)
    }
    /// Broadcasts a scalar to `shape` (identity if already that shape).
    pub fn broadcast(&mut self, a: ValueId, shape: Shape) -> ValueId {
        let s = self.shape(a);
        if s == shape {
            return a;
        }
        assert!(s.is_scalar(), "broadcast of non-scalar {s} to {shape}");
        self.push(Op::Broadcast(a), shape)
    }
    /// Elementwise with numpy scalar broadcasting.
    pub fn binary(&mut self, op: BinaryOp, a: ValueId, b: ValueId) -> ValueId {
        let (sa, sb) = (self.shape(a), self.shape(b));
        let shape = if sa == sb {
            sa
        } else if sa.is_scalar() {
            sb
        } else if sb.is_scalar() {
            sa
        } else {
            panic!("elementwise {op:?} of {sa} and {sb}");
        };
        let a = self.broadcast(a, shape);
        let b = self.broadcast(b, shape);
        self.push(Op::Binary(op, a, b), shape)
    }
    pub fn matmul(&mut self, a: ValueId, b: ValueId) -> ValueId {
        let (sa, sb) = (self.shape(a), self.shape(b));
        let shape = match (sa.dims(), sb.dims()) {
            ([m, k], [k2, n]) if k == k2 => Shape::matrix(*m as usize, *n as usize),
            ([m, k], [k2]) if k == k2 => Shape::vector(*m as usize),
            ([k], [k2, n]) if k == k2 => Shape::vector(*n as usize),
            ([k], [k2]) if k == k2 => Shape::scalar(),
            _ => panic!("matmul of {sa} and {sb}"),
        };
        self.push(Op::MatMul(a, b), shape)
    }
    pub fn transpose(&mut self, a: ValueId) -> ValueId {
        let s = self.shape(a);
        match s.dims() {
            [m, n] => self.push(Op::Transpose(a), Shape::matrix(*n as usize, *m as usize)),
            _ => a,
        }
    }
    pub fn sum(&mut self, a: ValueId) -> ValueId {
        if self.shape(a).is_scalar() {
            return a;
        }
        self.push(Op::Sum(a), Shape::scalar())
    }
    pub fn slice(&mut self, a: ValueId, axis: usize, start: usize, len: usize) -> ValueId {
        let s = self.shape(a);
        assert!(start + len <= s.dim(axis), "slice out of range");
        if start == 0 && len == s.dim(axis) {
            return a;
        }
        let mut dims: Vec<usize> = s.dims().iter().map(|&d| d as usize).collect();
        dims[axis] = len;
        let shape = Shape::from_dims(&dims).unwrap();
        self.push(Op::Slice { arg: a, axis: axis as u8, start: start as u32 }, shape)
    }
    pub fn index(&mut self, a: ValueId, axis: usize, index: usize) -> ValueId {
        let s = self.shape(a);
        assert!(index < s.dim(axis), "index out of range");
        let mut dims: Vec<usize> = s.dims().iter().map(|&d| d as usize).collect();
        dims.remove(axis);
        let shape = Shape::from_dims(&dims).unwrap();
        self.push(Op::Index { arg: a, axis: axis as u8, index: index as u32 }, shape)
    }
    pub fn concat(&mut self, args: Vec<ValueId>, axis: usize) -> ValueId {
        assert!(!args.is_empty(), "concat of nothing");
        if args.len() == 1 {
            return args[0];
        }
        let first = self.shape(args[0]);
        let mut dims: Vec<usize> = first.dims().iter().map(|&d| d as usize).collect();
        dims[axis] = 0;
        for &a in &args {
            let s = self.shape(a);
            assert_eq!(s.rank(), first.rank(), "concat of different ranks");
            for ax in 0..s.rank() {
                if ax != axis {
                    assert_eq!(s.dim(ax), first.dim(ax), "concat of mismatched shapes");
                }
            }
            dims[axis] += s.dim(axis);
        }
        let shape = Shape::from_dims(&dims).unwrap();
        self.push(Op::Concat { args, axis: axis as u8 }, shape)
    }
    pub fn reshape(&mut self, a: ValueId, shape: Shape) -> ValueId {
        let s = self.shape(a);
        assert_eq!(s.len(), shape.len(), "reshape of {s} to {shape}");
        if s == shape {
            return a;
        }
        self.push(Op::Reshape(a), shape)
    }
    /// Appends an output (written after the previous ones).
    pub fn output(&mut self, v: ValueId) {
        self.func.outputs.push(v);
    }
    pub fn finish(self) -> Function {
        self.func
    }
}

/// A named slot in a flat buffer (a state or parameter tensor).
#[derive(Clone, Debug, PartialEq)]
pub struct Slot {
    /// Full name: `x`, `sigma`, or `f.W1` for a net's parameter.
    pub name: String,
    pub shape: Shape,
    /// Offset of the first element in the flat buffer.
    pub offset: usize,
}

/// A compiled-ready model: its layout and its kernels as IR.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelIr {
    pub name: String,
    /// State tensors in declaration order; `rhs` writes their derivatives in this order.
    pub states: Vec<Slot>,
    /// Parameter tensors in declaration order (net parameters as `net.W1`, ...).
    pub params: Vec<Slot>,
    /// Initial parameter values (length `n_param`), from the initialisers, seeded.
    pub param_values: Vec<f64>,
    /// `dy/dt = rhs(t, y, p)`: reads `t`, `y`, `p`; output length
    /// [`ModelIr::n_state`]. For a CDE model (with a [`Control`] of `c`
    /// channels) its state buffer is `[y (n); X(t) (c); dX/dt (c)]`, so
    /// `rhs.n_state = n + 2c`, and `dz = F @ dX + g dt` is `dz/dt = F @ dX/dt + g`.
    pub rhs: Function,
    /// `y0 = init(t0, p)`: reads `t`, `p`; output length [`ModelIr::n_state`].
    /// No state, except for a CDE model: its state buffer is then `X(t0)`
    /// (`c` values), so that initial values may read `X(t)`.
    pub init: Function,
    /// The noise term `g(t, y, p) dW` of an SDE model (`rhs` is then its
    /// drift); `None` for an ODE.
    pub diffusion: Option<Diffusion>,
    /// The control path of a CDE model (`input X = hermite(data)`); `None`
    /// for ODE and SDE models.
    pub control: Option<Control>,
    /// The model's `output`s, in declaration order.
    pub outputs: Vec<Output>,
}

/// A model's `output NAME = expr`: a readout of the state, written by
/// `nde run` beside the states and read as `sol.NAME` in losses (where the
/// loss function inlines the same expression per save time).
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    pub name: String,
    /// A scalar or a vector.
    pub shape: Shape,
    /// `MODEL.out.NAME(t, y, p)`: reads `t`, the model's own `n` states
    /// (never a CDE's path) and `p`; output length `shape.len()`.
    pub function: Function,
}

/// The control path `X` of a CDE model: which data it interpolates and how.
/// The path itself is built at run time (`nde_runtime::path::ControlPath`)
/// from the data set's series.
#[derive(Clone, Debug, PartialEq)]
pub struct Control {
    /// The input's name in the model (`X`).
    pub name: String,
    /// The data set it interpolates.
    pub data: String,
    pub interpolation: nde_runtime::path::Interpolation,
    /// Time is channel 0 (`time = true`, the default).
    pub time_channel: bool,
    /// Per data column, the cumulative count of its observations is
    /// appended (`counts = true`; default `false`).
    pub counts: bool,
    /// Value columns of the data set.
    pub columns: usize,
    /// Channels of the path: `time_channel as usize + columns + (counts ? columns : 0)`.
    pub channels: usize,
}

impl Control {
    /// The runtime's options for building the path.
    pub fn path_options(&self) -> nde_runtime::path::PathOptions {
        nde_runtime::path::PathOptions { time_channel: self.time_channel, observation_counts: self.counts }
    }

    /// The interpolation's name in the language (`natural_cubic`, ...).
    pub fn interpolation_name(&self) -> &'static str {
        interpolation_name(self.interpolation)
    }
}

/// The language's name of an interpolation kind (`input X = NAME(data)`).
pub fn interpolation_name(kind: nde_runtime::path::Interpolation) -> &'static str {
    use nde_runtime::path::Interpolation;
    match kind {
        Interpolation::Linear => "linear",
        Interpolation::NaturalCubic => "natural_cubic",
        Interpolation::Hermite => "hermite",
        Interpolation::Rectilinear => "rectilinear",
    }
}

/// The shape of an SDE's noise (mirrors the runtime's `sde::Noise`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoiseShape {
    /// `dW` has one channel per state; `g` has the state's shape (`n` values).
    Diagonal,
    /// `noise W: [m]`: `dW` has `m` channels; `g` is `n × m`, row-major.
    General { m: usize },
}

impl NoiseShape {
    /// Brownian channels for a system of `n` states.
    pub fn channels(self, n: usize) -> usize {
        match self {
            NoiseShape::Diagonal => n,
            NoiseShape::General { m } => m,
        }
    }

    /// Entries of `g` for a system of `n` states.
    pub fn diffusion_len(self, n: usize) -> usize {
        match self {
            NoiseShape::Diagonal => n,
            NoiseShape::General { m } => n * m,
        }
    }
}

/// The diffusion of an SDE model: `dy = rhs(t, y, p) dt + g(t, y, p) dW`.
#[derive(Clone, Debug, PartialEq)]
pub struct Diffusion {
    pub noise: NoiseShape,
    /// The model is marked `stratonovich` (Itô otherwise).
    pub stratonovich: bool,
    /// `g(t, y, p)`: reads `t`, `y`, `p`; output length
    /// [`NoiseShape::diffusion_len`]`(n_state)`, flat (general noise: the
    /// states' `[len, m]` blocks stacked row by row).
    pub function: Function,
    /// `g` reads no state (additive noise).
    pub additive: bool,
}

impl ModelIr {
    /// Whether the model is an SDE (has a diffusion).
    pub fn is_sde(&self) -> bool {
        self.diffusion.is_some()
    }
    /// Whether the model is a CDE (has an `input` control path).
    pub fn is_cde(&self) -> bool {
        self.control.is_some()
    }
    /// Number of the model's own states (the flat length of its state
    /// slots). Equal to `rhs.n_state` except for a CDE model, whose `rhs`
    /// also reads the path and its derivative (see [`ModelIr::rhs`]).
    pub fn n_state(&self) -> usize {
        self.states.iter().map(|s| s.shape.len()).sum()
    }
    pub fn n_param(&self) -> usize {
        self.rhs.n_param
    }
}

/// A `solver NAME = method(options)` declaration after checking.
#[derive(Clone, Debug, PartialEq)]
pub struct SolverSpec {
    pub name: String,
    pub method: String,
    /// Checked options: `rtol`, `atol`, `dt`, `max_steps`, ... with numeric values.
    pub options: Vec<(String, f64)>,
}

/// Everything lowering produces from one file.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ProgramIr {
    pub models: Vec<ModelIr>,
    pub solvers: Vec<SolverSpec>,
    /// `data` declarations, in file order.
    pub data: Vec<training::DataSpec>,
    /// `loss` blocks, each lowered for its data's number of times (or the
    /// override in `FrontendOptions::data_times`).
    pub losses: Vec<training::LossIr>,
    /// `train` blocks.
    pub trains: Vec<training::TrainSpec>,
}

impl ProgramIr {
    pub fn model(&self, name: &str) -> Option<&ModelIr> {
        self.models.iter().find(|m| m.name == name)
    }
    pub fn solver(&self, name: &str) -> Option<&SolverSpec> {
        self.solvers.iter().find(|s| s.name == name)
    }
    pub fn data_set(&self, name: &str) -> Option<&training::DataSpec> {
        self.data.iter().find(|d| d.name == name)
    }
    pub fn loss(&self, name: &str) -> Option<&training::LossIr> {
        self.losses.iter().find(|l| l.name == name)
    }
}
