//! Size and depth of a model after inlining (E0407). Sema checks each fn
//! instance once, but lowering expands every call site, so chains such as
//! `g1(x) = g0(g0(x))`, `g2(x) = g1(g1(x))`, ... double at each level. The
//! measures here are computed on the checked tree (shared fn bodies
//! memoised), so the check itself stays cheap; lowering can then rely on
//! producing a bounded IR with bounded recursion.

use std::collections::HashMap;
use std::sync::Arc;

use crate::diag::Diagnostic;
use crate::span::Span;

use super::checker::Checker;
use super::tree::{CheckedModel, TExpr, TKind};

/// Most IR nodes lowering may visit for one model (before sharing).
pub const MAX_INLINED_NODES: u64 = 1 << 22;

/// Deepest expression nesting lowering may recurse through.
pub const MAX_INLINED_DEPTH: u64 = 20_000;

/// Upper bounds on what lowering an expression visits.
#[derive(Clone, Copy, Debug, Default)]
struct Cost {
    size: u64,
    depth: u64,
}

struct Measure<'m> {
    bodies: HashMap<*const TExpr, Cost>,
    lets: &'m [Cost],
}

impl Measure<'_> {
    fn of(&mut self, e: &TExpr) -> Cost {
        let (size, depth) = match &e.kind {
            TKind::Const(_)
            | TKind::Time
            | TKind::State(_)
            | TKind::Param(_)
            | TKind::Arg(_)
            | TKind::LossInput(_)
            | TKind::Control
            | TKind::ControlRate => (0, 0),
            // A let is lowered once, where it is first used: its size is
            // counted with the model, its depth here.
            TKind::Let(i) => (0, self.lets.get(*i).map_or(0, |c| c.depth)),
            TKind::Inline { body, args } => {
                let b = self.body(body);
                let a: Vec<Cost> = args.iter().map(|x| self.of(x)).collect();
                let arg_depth = a.iter().map(|c| c.depth).max().unwrap_or(0);
                (
                    b.size.saturating_add(a.iter().map(|c| c.size).fold(0, u64::saturating_add)),
                    b.depth.saturating_add(arg_depth),
                )
            }
            TKind::Unary(_, a)
            | TKind::Broadcast(a)
            | TKind::Transpose(a)
            | TKind::Sum(a)
            | TKind::Reshape(a)
            | TKind::Index { arg: a, .. }
            | TKind::Slice { arg: a, .. } => {
                let c = self.of(a);
                (c.size, c.depth)
            }
            TKind::Binary(_, a, b) | TKind::MatMul(a, b) | TKind::Masked { value: a, mask: b } => {
                let (x, y) = (self.of(a), self.of(b));
                (x.size.saturating_add(y.size), x.depth.max(y.depth))
            }
            TKind::Concat { args, .. } => {
                let c: Vec<Cost> = args.iter().map(|x| self.of(x)).collect();
                (c.iter().map(|c| c.size).fold(0, u64::saturating_add), c.iter().map(|c| c.depth).max().unwrap_or(0))
            }
        };
        Cost { size: size.saturating_add(1), depth: depth.saturating_add(1) }
    }

    fn body(&mut self, body: &Arc<TExpr>) -> Cost {
        let key = Arc::as_ptr(body);
        if let Some(&c) = self.bodies.get(&key) {
            return c;
        }
        let c = self.of(body);
        self.bodies.insert(key, c);
        c
    }
}

/// Whether lowering `lets` and `exprs` stays within the budget: `None` if
/// so, else why not.
fn over_budget<'e>(lets: &[TExpr], exprs: impl Iterator<Item = &'e TExpr>) -> Option<String> {
    let mut let_costs: Vec<Cost> = Vec::with_capacity(lets.len());
    let mut bodies = HashMap::new();
    for l in lets {
        let mut ms = Measure { bodies: std::mem::take(&mut bodies), lets: &let_costs };
        let c = ms.of(l);
        bodies = ms.bodies;
        let_costs.push(c);
    }
    let mut ms = Measure { bodies, lets: &let_costs };
    let costs: Vec<Cost> = exprs.map(|e| ms.of(e)).collect();
    let size = costs.iter().chain(&let_costs).map(|c| c.size).fold(0, u64::saturating_add);
    let depth = costs.iter().chain(&let_costs).map(|c| c.depth).max().unwrap_or(0);
    if size > MAX_INLINED_NODES {
        Some(format!("inlining its fns makes more than {MAX_INLINED_NODES} operations"))
    } else if depth > MAX_INLINED_DEPTH {
        Some(format!("inlining its fns nests expressions more than {MAX_INLINED_DEPTH} levels deep"))
    } else {
        None
    }
}

const BUDGET_HINT: &str = "fns are inlined at every call: a fn that calls another fn twice doubles its size";

impl Checker<'_> {
    /// E0407 when lowering `m` would visit too many nodes or recurse too deeply.
    pub fn check_budget(&mut self, m: &CheckedModel) -> bool {
        let g = m.diffusion.iter().flat_map(|d| &d.g);
        let Some(why) = over_budget(&m.lets, m.rhs.iter().chain(m.states.iter().map(|s| &s.init)).chain(g)) else {
            return true;
        };
        self.report(
            Diagnostic::error("E0407", format!("model `{}` is too large after inlining", m.name), m.span)
                .label(why)
                .hint(BUDGET_HINT),
        );
        false
    }

    /// E0407 for a loss (its `lets` and `value`) too large to lower.
    pub fn check_loss_budget(&mut self, name: &str, span: Span, lets: &[TExpr], value: &TExpr) -> bool {
        let Some(why) = over_budget(lets, std::iter::once(value)) else {
            return true;
        };
        self.report(
            Diagnostic::error("E0407", format!("loss `{name}` is too large after inlining",), span)
                .label(why)
                .hint(BUDGET_HINT),
        );
        false
    }
}
