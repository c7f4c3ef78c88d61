//! Symbolic differentiation on the tensor IR: structural IR → IR passes.
//!
//! Owns the derivative functions of a right-hand side `f(t, y, p)` (with
//! `n = f.n_state` states and `f.output_len()` outputs, `n` for a model):
//!
//! | pass | function | state buffer read | output |
//! |---|---|---|---|
//! | [`vjp`] (reverse mode) | `NAME.vjp` | `[y; a]`, `2n` | `aᵀ∂f/∂y` (`n`), then `aᵀ∂f/∂p` (`n_param`, laid out like `p`) |
//! | [`jvp`] (forward mode) | `NAME.jvp` | `[y; v]`, `2n` | `∂f/∂y · v` (`n`) |
//! | [`jacobian`] | `NAME.jac` | `y`, `n` | `∂f/∂y`, row-major: entry `[i, j]` = `∂f_i/∂y_j` |
//! | [`time_derivative`] | `NAME.dfdt` | `y`, `n` | `∂f/∂t` (`n`) |
//!
//! so every derivative kernel keeps the 5-argument kernel ABI: the
//! direction (`a` or `v`) is appended to the state buffer. `NAME` is the
//! forward function's name without its `.rhs` suffix.
//!
//! How: the forward nodes are copied into the builder first, then each
//! derivative rule (one per op, all in `rules`) adds nodes to the same
//! builder, so shared subexpressions — `tanh(W1@y + b1)`, `1 − tanh²` — are
//! computed once (the builder hash-conses). A derivative that is known to
//! be zero is never built: cotangents flow only into operands that depend on
//! an input being differentiated, and an input slot with no derivative gets
//! a zeros constant in the output. Jacobian rows are reverse sweeps seeded
//! with symbolic one-hot cotangents (see `cotangent`), so `W3ᵀ e_i` becomes
//! row `i` of `W3` (an `index`), never a product with a one-hot constant: a
//! row costs at most one VJP, and the local factors (`1 − tanh²`, …) are
//! shared by every row. Dead forward nodes are removed at the end. The
//! builder folds only exact identities (`x·1`, `a + (−b) = a − b`, …, see
//! `graph`); everything else is left to `simplify`.
//!
//! Non-smooth points: `relu'(0) = 0`, `abs'(0) = 0` (both via
//! [`crate::ir::UnaryOp::Step`]); `min` and `max` send the cotangent to the operand
//! they pick and, on ties, to the first operand; `pow(x, y)`'s derivative
//! in `y` is `x^y log x` (NaN for `x ≤ 0`, where `x^y` is not smooth in `y`).
//!
//! Never: trace values, take finite differences, or rely on the simplifier
//! to find a derivative (it only tidies what the rules build); never change
//! the forward computation (the copy is node for node).

mod cotangent;
mod graph;
pub mod print;
mod rules;
pub mod sparsity;
#[cfg(test)]
mod tests;

use cotangent::Ct;
use graph::Graph;

use crate::ir::{Function, InputBuf, Op, Shape, ValueId};

/// The kinds of derivative function, with their name suffixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Derivative {
    Vjp,
    Jvp,
    Jac,
    Dfdt,
}

impl Derivative {
    pub const ALL: [Derivative; 4] = [Derivative::Vjp, Derivative::Jvp, Derivative::Jac, Derivative::Dfdt];

    /// The suffix of the derivative function's name: `vjp`, `jvp`, `jac`, `dfdt`.
    pub fn suffix(self) -> &'static str {
        match self {
            Derivative::Vjp => "vjp",
            Derivative::Jvp => "jvp",
            Derivative::Jac => "jac",
            Derivative::Dfdt => "dfdt",
        }
    }

    /// Builds this derivative of `f`.
    pub fn of(self, f: &Function) -> Function {
        match self {
            Derivative::Vjp => vjp(f),
            Derivative::Jvp => jvp(f),
            Derivative::Jac => jacobian(f),
            Derivative::Dfdt => time_derivative(f),
        }
    }
}

/// The name of `f`'s derivative of kind `d`: `lorenz.rhs` → `lorenz.vjp`.
pub fn derived_name(f: &Function, d: Derivative) -> String {
    let base = f.name.strip_suffix(".rhs").unwrap_or(&f.name);
    format!("{base}.{}", d.suffix())
}

/// Reverse mode: `(t, [y; a], p) -> [aᵀ∂f/∂y; aᵀ∂f/∂p]`.
///
/// `f` must be well formed ([`crate::ir::verify::verify`]); the builder's
/// shape asserts fire otherwise (a compiler bug, not a user error).
pub fn vjp(f: &Function) -> Function {
    let n = f.n_state;
    let mut g = Graph::new(derived_name(f, Derivative::Vjp), n + f.output_len(), f.n_param);
    let map = g.copy_forward(f);
    let active = depends_on(f, |buf| matches!(buf, InputBuf::State | InputBuf::Param));
    let mut seeds = Vec::with_capacity(f.outputs.len());
    let mut offset = n;
    for &o in &f.outputs {
        let s = f.shape(o);
        seeds.push((o, Ct::Dense(g.b.state(offset, s))));
        offset += s.len();
    }
    let cts = reverse(&mut g, f, &map, &active, seeds);
    emit_region(&mut g, n, pieces(f, &cts, InputBuf::State));
    emit_region(&mut g, f.n_param, pieces(f, &cts, InputBuf::Param));
    prune(g.b.finish())
}

/// Forward mode: `(t, [y; v], p) -> ∂f/∂y · v`.
pub fn jvp(f: &Function) -> Function {
    let n = f.n_state;
    let mut g = Graph::new(derived_name(f, Derivative::Jvp), 2 * n, f.n_param);
    let map = g.copy_forward(f);
    let tangents = forward(&mut g, f, &map, |g, buf, offset, shape| {
        (buf == InputBuf::State).then(|| g.b.state(n + offset, shape))
    });
    emit_tangents(&mut g, f, &tangents);
    prune(g.b.finish())
}

/// The dense Jacobian `(t, y, p) -> ∂f/∂y`, row-major (`output_len × n`).
pub fn jacobian(f: &Function) -> Function {
    let n = f.n_state;
    let mut g = Graph::new(derived_name(f, Derivative::Jac), n, f.n_param);
    let map = g.copy_forward(f);
    let active = depends_on(f, |buf| buf == InputBuf::State);
    for &o in &f.outputs {
        let shape = f.shape(o);
        for index in 0..shape.len() {
            let seed = Ct::one_hot(shape, index, graph::Coef::Const(1.0));
            let cts = reverse(&mut g, f, &map, &active, vec![(o, seed)]);
            emit_region(&mut g, n, pieces(f, &cts, InputBuf::State));
        }
    }
    prune(g.b.finish())
}

/// The explicit time derivative `(t, y, p) -> ∂f/∂t`.
pub fn time_derivative(f: &Function) -> Function {
    let mut g = Graph::new(derived_name(f, Derivative::Dfdt), f.n_state, f.n_param);
    let map = g.copy_forward(f);
    let tangents = forward(&mut g, f, &map, |g, buf, _, _| (buf == InputBuf::Time).then(|| g.b.scalar(1.0)));
    emit_tangents(&mut g, f, &tangents);
    prune(g.b.finish())
}

/// Which nodes of `f` depend on an input buffer `seed` accepts.
fn depends_on(f: &Function, seed: impl Fn(InputBuf) -> bool) -> Vec<bool> {
    let mut active = Vec::with_capacity(f.nodes.len());
    for node in &f.nodes {
        let a = match node.op {
            Op::Input { buf, .. } => seed(buf),
            _ => node.op.args().iter().any(|a| active[a.index()]),
        };
        active.push(a);
    }
    active
}

/// A reverse sweep: the cotangent of every node of `f` reached from `seeds`
/// (old ids), flowing only into `active` operands.
fn reverse(
    g: &mut Graph,
    f: &Function,
    map: &[ValueId],
    active: &[bool],
    seeds: Vec<(ValueId, Ct)>,
) -> Vec<Option<Ct>> {
    let mut cts: Vec<Option<Ct>> = vec![None; f.nodes.len()];
    for (o, c) in seeds {
        if active[o.index()] {
            accumulate(g, &mut cts[o.index()], c);
        }
    }
    for i in (0..f.nodes.len()).rev() {
        let node = &f.nodes[i];
        if matches!(node.op, Op::Input { .. } | Op::Const(_)) {
            continue;
        }
        let Some(c) = cts[i].take() else { continue };
        let args = node.op.args();
        let want: Vec<bool> = args.iter().map(|a| active[a.index()]).collect();
        if !want.contains(&true) {
            continue;
        }
        let op = node.op.remap(map);
        g.b.set_span(node.span);
        let contributions = rules::vjp(g, &op, map[i], c, &want);
        for ((a, ct), wanted) in args.iter().zip(contributions).zip(want) {
            if let (Some(ct), true) = (ct, wanted) {
                accumulate(g, &mut cts[a.index()], ct);
            }
        }
    }
    g.b.set_span(crate::span::Span::detached());
    cts
}

fn accumulate(g: &mut Graph, slot: &mut Option<Ct>, c: Ct) {
    *slot = Some(match slot.take() {
        None => c,
        Some(prev) => prev.add(c, g),
    });
}

/// A forward sweep: the tangent of every node of `f`, inputs seeded by
/// `seed(graph, buffer, offset, shape)` (`None`: zero).
fn forward(
    g: &mut Graph,
    f: &Function,
    map: &[ValueId],
    mut seed: impl FnMut(&mut Graph, InputBuf, usize, Shape) -> Option<ValueId>,
) -> Vec<Option<ValueId>> {
    let mut tangents: Vec<Option<ValueId>> = Vec::with_capacity(f.nodes.len());
    for (i, node) in f.nodes.iter().enumerate() {
        let t = match node.op {
            Op::Input { buf, offset } => seed(g, buf, offset as usize, node.shape),
            Op::Const(_) => None,
            _ => {
                let ts: Vec<Option<ValueId>> = node.op.args().iter().map(|a| tangents[a.index()]).collect();
                if ts.iter().all(Option::is_none) {
                    None
                } else {
                    g.b.set_span(node.span);
                    let op = node.op.remap(map);
                    rules::jvp(g, &op, map[i], &ts)
                }
            }
        };
        tangents.push(t);
    }
    g.b.set_span(crate::span::Span::detached());
    tangents
}

/// Outputs the tangent of each of `f`'s outputs (zeros where there is none).
fn emit_tangents(g: &mut Graph, f: &Function, tangents: &[Option<ValueId>]) {
    for &o in &f.outputs {
        let t = match tangents[o.index()] {
            Some(t) => t,
            None => g.zeros(f.shape(o)),
        };
        g.b.output(t);
    }
}

/// The cotangents of `f`'s inputs from buffer `buf`: `(offset, cotangent)`.
fn pieces(f: &Function, cts: &[Option<Ct>], buf: InputBuf) -> Vec<(usize, Ct)> {
    f.nodes
        .iter()
        .zip(cts)
        .filter_map(|(node, ct)| match (&node.op, ct) {
            (Op::Input { buf: b, offset }, Some(ct)) if *b == buf => Some((*offset as usize, ct.clone())),
            _ => None,
        })
        .collect()
}

/// One stretch of an output region.
enum Segment {
    Zeros(usize),
    Value(ValueId),
}

/// Outputs a flat region of `len` elements holding `pieces` (cotangents of
/// inputs at their offsets; overlapping inputs add up), zeros elsewhere.
fn emit_region(g: &mut Graph, len: usize, mut pieces: Vec<(usize, Ct)>) {
    pieces.sort_by_key(|(offset, c)| (*offset, c.len(g)));
    let mut segments: Vec<Segment> = Vec::new();
    let mut at = 0;
    let mut k = 0;
    while k < pieces.len() {
        // The cluster of pieces overlapping pieces[k].
        let lo = pieces[k].0;
        let mut hi = lo + pieces[k].1.len(g);
        let mut end = k + 1;
        while end < pieces.len() && pieces[end].0 < hi {
            hi = hi.max(pieces[end].0 + pieces[end].1.len(g));
            end += 1;
        }
        if lo > at {
            segments.push(Segment::Zeros(lo - at));
        }
        if end == k + 1 {
            match &pieces[k].1 {
                Ct::Dense(v) => segments.push(Segment::Value(*v)),
                // Each entry is its own output, between runs of zeros.
                Ct::Sparse { shape, entries } => {
                    let mut at = 0;
                    for &(i, c) in entries {
                        segments.push(Segment::Zeros(i - at));
                        segments.push(Segment::Value(g.coef_value(c)));
                        at = i + 1;
                    }
                    segments.push(Segment::Zeros(shape.len() - at));
                }
            }
        } else {
            let mut total: Option<ValueId> = None;
            for (offset, c) in &pieces[k..end] {
                let offset = *offset;
                let v = c.dense(g);
                let v = g.flat(v);
                let v = g.pad(Shape::vector(hi - lo), 0, offset - lo, v);
                total = Some(match total {
                    None => v,
                    Some(t) => g.add(t, v),
                });
            }
            segments.extend(total.map(Segment::Value));
        }
        at = hi;
        k = end;
    }
    if len > at {
        segments.push(Segment::Zeros(len - at));
    }
    let mut zeros = 0;
    for s in segments {
        match s {
            Segment::Zeros(z) => zeros += z,
            Segment::Value(v) => {
                if zeros > 0 {
                    let z = g.zeros(Shape::vector(zeros));
                    g.b.output(z);
                    zeros = 0;
                }
                g.b.output(v);
            }
        }
    }
    if zeros > 0 {
        let z = g.zeros(Shape::vector(zeros));
        g.b.output(z);
    }
}

/// `f` without the nodes no output needs, renumbered.
fn prune(f: Function) -> Function {
    let mut live = vec![false; f.nodes.len()];
    for o in &f.outputs {
        live[o.index()] = true;
    }
    for i in (0..f.nodes.len()).rev() {
        if live[i] {
            for a in f.nodes[i].op.args() {
                live[a.index()] = true;
            }
        }
    }
    let mut map = vec![ValueId(u32::MAX); f.nodes.len()];
    let mut nodes = Vec::with_capacity(live.iter().filter(|&&l| l).count());
    for (i, node) in f.nodes.into_iter().enumerate() {
        if live[i] {
            map[i] = ValueId(nodes.len() as u32);
            nodes.push(crate::ir::Node { op: node.op.remap(&map), ..node });
        }
    }
    let outputs = f.outputs.iter().map(|o| map[o.index()]).collect();
    Function { nodes, outputs, ..f }
}
