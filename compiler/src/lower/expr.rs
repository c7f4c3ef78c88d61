//! Checked expressions to builder calls. `let`s and fn arguments are
//! lowered once, on first use, so unused ones cost nothing and shared ones
//! are computed once.

use crate::ir::training::LossLayout;
use crate::ir::{Builder, Shape, ValueId};
use crate::sema::{CheckedModel, LossInput, TExpr, TKind};

/// What a loss function needs to compute the solved model's outputs
/// (`sol.NAME`) from the rows of `sol.y`.
pub(crate) struct Readout<'t> {
    pub model: &'t CheckedModel,
    pub state_offsets: Vec<usize>,
    pub param_offsets: Vec<usize>,
}

/// The arguments of one inlined fn instance.
struct Frame<'t> {
    args: &'t [TExpr],
    vals: Vec<Option<ValueId>>,
    /// How many frames the call site saw: the arguments are lowered there.
    site_depth: usize,
}

/// Lowers expressions of one model into one function.
pub(crate) struct Lowerer<'t> {
    pub builder: Builder,
    state_offsets: &'t [usize],
    param_offsets: &'t [usize],
    lets: &'t [TExpr],
    let_vals: Vec<Option<ValueId>>,
    frames: Vec<Frame<'t>>,
    /// Where a loss function's inputs lie in its `y` buffer.
    loss_layout: Option<LossLayout>,
    /// Where a CDE's path `X(t)` and its derivative `dX/dt` lie in the `y`
    /// buffer (see [`Lowerer::with_control`]).
    control_at: Option<usize>,
    control_rate_at: Option<usize>,
    /// Where `t` is read from the `y` buffer instead of the time input (a
    /// model output inlined into a loss reads its save time).
    time_at: Option<usize>,
    /// The solved model, in a loss that reads its outputs.
    readout: Option<Readout<'t>>,
}

impl<'t> Lowerer<'t> {
    pub fn new(builder: Builder, state_offsets: &'t [usize], param_offsets: &'t [usize], lets: &'t [TExpr]) -> Self {
        Lowerer {
            builder,
            state_offsets,
            param_offsets,
            lets,
            let_vals: vec![None; lets.len()],
            frames: Vec::new(),
            loss_layout: None,
            control_at: None,
            control_rate_at: None,
            time_at: None,
            readout: None,
        }
    }

    /// A loss lowerer that computes `sol.NAME` from `readout`'s model.
    pub fn with_readout(self, readout: Readout<'t>) -> Self {
        Lowerer { readout: Some(readout), ..self }
    }

    /// Row `row` of `sol.NAME` (output `k` of the solved model): the
    /// output's expression with the states read from row `row` of `sol.y`
    /// and `t` from the save times.
    fn output_row(&mut self, k: usize, row: usize) -> ValueId {
        let layout = self.loss_layout.expect("outputs only in loss functions");
        let readout = self.readout.as_ref().expect("sema reads outputs only of a solved model");
        let model: &'t CheckedModel = readout.model;
        let base = layout.sol_y() + row * layout.n_state;
        let states: Vec<usize> = readout.state_offsets.iter().map(|o| base + o).collect();
        let params = readout.param_offsets.clone();
        let builder = std::mem::replace(&mut self.builder, Builder::new("", 0, 0));
        let mut inner = Lowerer::new(builder, &states, &params, &model.lets);
        inner.time_at = Some(layout.times() + row);
        let v = inner.lower(&model.outputs[k].value);
        self.builder = inner.builder;
        v
    }

    /// Rows `start .. start + len` of `sol.NAME` (`shape`: `[len]` or
    /// `[len, width]`), one output per save time, stacked.
    fn output_rows(&mut self, k: usize, start: usize, len: usize, shape: Shape) -> ValueId {
        let vals: Vec<ValueId> = (start..start + len)
            .map(|r| {
                let v = self.output_row(k, r);
                let len = self.builder.shape(v).len();
                let row_shape = if shape.rank() == 1 { Shape::vector(1) } else { Shape::matrix(1, len) };
                self.builder.reshape(v, row_shape)
            })
            .collect();
        self.builder.concat(vals, 0)
    }

    /// Reads `X(t)` from `y[at..]` and `dX/dt` from `y[rate_at..]` (when
    /// the function has it: a CDE's `rhs`, not its `init`).
    pub fn with_control(self, at: usize, rate_at: Option<usize>) -> Self {
        Lowerer { control_at: Some(at), control_rate_at: rate_at, ..self }
    }

    /// A lowerer for a loss function, whose inputs are laid out by `layout`.
    pub fn for_loss(builder: Builder, layout: LossLayout, lets: &'t [TExpr]) -> Self {
        Lowerer { loss_layout: Some(layout), ..Lowerer::new(builder, &[], &[], lets) }
    }

    /// Lowers a model-level expression.
    pub fn lower(&mut self, e: &'t TExpr) -> ValueId {
        self.go(e, 0)
    }

    /// `depth` frames are visible (`frames[..depth]`); `Arg` reads frame
    /// `depth - 1`. Frames above `depth` may exist while an argument of a
    /// lower frame is being lowered; they are not visible to it.
    fn go(&mut self, e: &'t TExpr, depth: usize) -> ValueId {
        let v = match &e.kind {
            TKind::Let(i) => {
                if let Some(v) = self.let_vals[*i] {
                    return v;
                }
                let lets = self.lets;
                let v = self.go(&lets[*i], 0);
                self.let_vals[*i] = Some(v);
                return v;
            }
            TKind::Arg(i) => {
                let frame = depth - 1;
                if let Some(v) = self.frames[frame].vals[*i] {
                    return v;
                }
                let (args, site) = (self.frames[frame].args, self.frames[frame].site_depth);
                let v = self.go(&args[*i], site);
                self.frames[frame].vals[*i] = Some(v);
                return v;
            }
            TKind::Inline { body, args } => {
                self.frames.push(Frame { args, vals: vec![None; args.len()], site_depth: depth });
                let top = self.frames.len();
                let v = self.go(body, top);
                self.frames.pop();
                return v;
            }
            TKind::Unary(op, a) => {
                let a = self.go(a, depth);
                self.builder.set_span(e.span);
                self.builder.unary(*op, a)
            }
            TKind::Binary(op, a, b) => {
                let (a, b) = (self.go(a, depth), self.go(b, depth));
                self.builder.set_span(e.span);
                self.builder.binary(*op, a, b)
            }
            TKind::Broadcast(a) => {
                let a = self.go(a, depth);
                self.builder.set_span(e.span);
                self.builder.broadcast(a, e.shape)
            }
            TKind::MatMul(a, b) => {
                let (a, b) = (self.go(a, depth), self.go(b, depth));
                self.builder.set_span(e.span);
                self.builder.matmul(a, b)
            }
            TKind::Transpose(a) => {
                let a = self.go(a, depth);
                self.builder.set_span(e.span);
                self.builder.transpose(a)
            }
            TKind::Sum(a) => {
                let a = self.go(a, depth);
                self.builder.set_span(e.span);
                self.builder.sum(a)
            }
            TKind::Index { arg, axis: 0, index } if output_view(arg).is_some() => {
                // One save time of an output (`sol.v[-1]`, `sol.v[r, j]`,
                // `sol.v[r, a:b]`): only that row is computed.
                let (k, inner) = output_view(arg).expect("matched");
                let row = self.output_row(k, *index);
                self.builder.set_span(e.span);
                match inner {
                    None => row,
                    Some(TKind::Index { index: j, .. }) => self.builder.index(row, 0, *j),
                    Some(TKind::Slice { start, len, .. }) => self.builder.slice(row, 0, *start, *len),
                    Some(_) => unreachable!("output_view gives an index or a slice"),
                }
            }
            TKind::Slice { arg, axis: 0, start, len } if matches!(arg.kind, TKind::LossInput(LossInput::Output(_))) => {
                // Some save times of an output: only those rows.
                let TKind::LossInput(LossInput::Output(k)) = arg.kind else { unreachable!("matched") };
                self.output_rows(k, *start, *len, e.shape)
            }
            TKind::Index { arg, axis, index } => {
                let a = self.go(arg, depth);
                self.builder.set_span(e.span);
                self.builder.index(a, *axis, *index)
            }
            TKind::Slice { arg, axis, start, len } => {
                let a = self.go(arg, depth);
                self.builder.set_span(e.span);
                self.builder.slice(a, *axis, *start, *len)
            }
            TKind::Concat { args, axis } => {
                let vals = args.iter().map(|a| self.go(a, depth)).collect();
                self.builder.set_span(e.span);
                self.builder.concat(vals, *axis)
            }
            TKind::Reshape(a) => {
                let a = self.go(a, depth);
                self.builder.set_span(e.span);
                self.builder.reshape(a, e.shape)
            }
            TKind::Const(v) => {
                self.builder.set_span(e.span);
                self.builder.constant(v.to_vec(), e.shape)
            }
            TKind::Time => {
                self.builder.set_span(e.span);
                match self.time_at {
                    Some(at) => self.builder.state(at, e.shape),
                    None => self.builder.time(),
                }
            }
            TKind::State(i) => {
                self.builder.set_span(e.span);
                self.builder.state(self.state_offsets[*i], e.shape)
            }
            TKind::Param(i) => {
                self.builder.set_span(e.span);
                self.builder.param(self.param_offsets[*i], e.shape)
            }
            TKind::Control => {
                let at = self.control_at.expect("sema allows `X(t)` only in a model with an input");
                self.builder.set_span(e.span);
                self.builder.state(at, e.shape)
            }
            TKind::ControlRate => {
                let at = self.control_rate_at.expect("sema makes `dX/dt` only in a CDE's equations");
                self.builder.set_span(e.span);
                self.builder.state(at, e.shape)
            }
            TKind::LossInput(input) => {
                let layout = self.loss_layout.expect("loss inputs only in loss functions");
                let offset = match input {
                    LossInput::SolY => layout.sol_y(),
                    LossInput::ObsY => layout.obs_y(),
                    LossInput::ObsMask => layout.obs_mask(),
                    LossInput::Times => layout.times(),
                    LossInput::Stat(s) => layout.stat(*s),
                    LossInput::SolPaths => layout.sol_y(),
                    LossInput::DataMean => layout.data_mean(),
                    LossInput::DataVar => layout.data_var(),
                    LossInput::DataStatMask => layout.data_stat_mask(),
                    LossInput::Field(offset) => layout.fields() + offset,
                    LossInput::Output(k) => return self.output_rows(*k, 0, e.shape.dim(0), e.shape),
                };
                self.builder.set_span(e.span);
                self.builder.state(offset, e.shape)
            }
            TKind::Masked { .. } => unreachable!("sema removes every mask from a checked loss"),
        };
        debug_assert_eq!(self.builder.shape(v), e.shape, "sema and the builder disagree on a shape");
        v
    }
}

/// For the operand of an index along axis 0: `(k, None)` when it is output
/// `k` itself (`sol.NAME`), `(k, Some(op))` when it is an index or a slice
/// of output `k` along axis 1 (`sol.NAME[.., j]`, the first step of
/// `sol.NAME[r, j]`); `None` otherwise.
fn output_view(arg: &TExpr) -> Option<(usize, Option<&TKind>)> {
    match &arg.kind {
        TKind::LossInput(LossInput::Output(k)) => Some((*k, None)),
        TKind::Index { arg: inner, axis: 1, .. } | TKind::Slice { arg: inner, axis: 1, .. } => match inner.kind {
            TKind::LossInput(LossInput::Output(k)) => Some((k, Some(&arg.kind))),
            _ => None,
        },
        _ => None,
    }
}
