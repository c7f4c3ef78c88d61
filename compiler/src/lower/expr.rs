//! Checked expressions to builder calls. `let`s and fn arguments are
//! lowered once, on first use, so unused ones cost nothing and shared ones
//! are computed once.

use crate::ir::training::LossLayout;
use crate::ir::{Builder, ValueId};
use crate::sema::{LossInput, TExpr, TKind};

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
        }
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
                self.builder.time()
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
