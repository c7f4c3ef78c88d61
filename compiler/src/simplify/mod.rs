//! Simplification of IR functions with an e-graph (egg), on a short leash.
//!
//! Owns the pass `Function -> Function` that the pipeline runs between
//! differentiation and code generation: the function's live nodes go into
//! an e-graph over [`lang::TensorLang`] (one e-node per IR op), the named
//! rules of [`rules`] run for a bounded number of iterations and e-nodes,
//! and the cheapest equivalent function under the flop model of [`cost`]
//! comes back out. All outputs of a function share one e-graph, so a
//! subexpression common to the forward value and its derivatives (such as
//! `tanh(W1@y + b1)`) is computed once.
//!
//! Guarantees:
//! * **Values.** By default only [`rules::Level::Exact`] rules (bit-identical
//!   results, NaNs alike) run, plus the one [`rules::Level::Accurate`] rule
//!   `exp(log x) = x` for `x ≥ 0` (its right side rounds less); constants
//!   fold through the reference interpreter, bit for bit. Reassociation,
//!   factoring and rules that change results for infinities, NaNs, signed
//!   zeros or overflow need [`SimplifyOptions::fast_math`].
//! * **Never worse, never failing.** The result is verified and costs no
//!   more flops (then nodes) than the input; otherwise the input comes back
//!   (dead nodes dropped, identical nodes shared). Saturation is never
//!   needed for correctness.
//! * **Deterministic.** The run is bounded by iterations and e-nodes, never
//!   by time; ties in extraction break by egg's node order. The same input
//!   gives the same output on every machine.
//!
//! Never: differentiate (that is `autodiff`, structurally), read the clock
//! to decide anything, or print.

pub mod analysis;
pub mod convert;
pub mod cost;
pub mod lang;
pub mod rules;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use egg::{EGraph, FlatTerm, Id, Language, Runner};

use crate::ir::verify::{verify, VerifyError};
use crate::ir::Function;
use crate::span::Span;

use analysis::TensorAnalysis;
use convert::{from_recexpr, rebuild, to_recexpr};
pub use cost::{flops, live_count};
use lang::TensorLang;

/// How hard to try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimplifyOptions {
    /// Also run the rules that may change results (reassociation, factoring,
    /// `0·x = 0`, ...). Off by default.
    pub fast_math: bool,
    /// At most this many rounds of rule application.
    pub iter_limit: usize,
    /// Stop growing the e-graph beyond this many e-nodes.
    pub node_limit: usize,
    /// Record which rewrites lead from the input to the result
    /// ([`SimplifyReport::applied`], [`SimplifyReport::steps`]); slower.
    pub explain: bool,
}

impl Default for SimplifyOptions {
    /// Limits that simplify the bench MLP's derivative kernels in a few
    /// milliseconds (see the crate's simplify tests for the measurement).
    fn default() -> Self {
        SimplifyOptions { fast_math: false, iter_limit: 12, node_limit: 20_000, explain: false }
    }
}

/// Why the rewriting stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// No rule could change the e-graph any more.
    Saturated,
    IterationLimit,
    NodeLimit,
    /// The input was not simplified (see [`SimplifyReport::kept_input`]).
    NotRun,
    Other(String),
}

/// Why the input came back instead of a rewritten function.
#[derive(Clone, Debug, PartialEq)]
pub enum KeptInput {
    /// The input failed verification; it is returned exactly as given.
    Malformed(VerifyError),
    /// The rewritten function was not cheaper.
    NotCheaper,
    /// The rewritten expression could not be turned back into IR (a bug in a
    /// rule; the message says where).
    Unbuildable(String),
}

/// One rewrite on the way from the input to the result (with `explain`).
#[derive(Clone, Debug, PartialEq)]
pub struct ExplainStep {
    /// The rule's name (`const-fold` for constant folding).
    pub rule: String,
    /// The rule was used right to left.
    pub backward: bool,
    /// The whole function after this step.
    pub result: Function,
}

/// What simplification did.
#[derive(Clone, Debug, PartialEq)]
pub struct SimplifyReport {
    /// [`flops`] of the input and of the result.
    pub flops_before: u64,
    pub flops_after: u64,
    /// Live nodes of the input and of the result.
    pub nodes_before: usize,
    pub nodes_after: usize,
    /// Rounds of rule application.
    pub iterations: usize,
    pub stop_reason: StopReason,
    /// Size of the e-graph at the end.
    pub egraph_nodes: usize,
    pub egraph_classes: usize,
    /// Each rule that changed the e-graph, with how often (by name).
    pub fired: Vec<(String, usize)>,
    /// With `explain`: the rules on the path from input to result, in order.
    pub applied: Vec<String>,
    /// With `explain`: each step of that path.
    pub steps: Vec<ExplainStep>,
    /// Set when the input was returned rather than a rewritten function.
    pub kept_input: Option<KeptInput>,
}

impl SimplifyReport {
    fn new(f: &Function) -> Self {
        let (flops, nodes) = (flops(f), live_count(f));
        SimplifyReport {
            flops_before: flops,
            flops_after: flops,
            nodes_before: nodes,
            nodes_after: nodes,
            iterations: 0,
            stop_reason: StopReason::NotRun,
            egraph_nodes: 0,
            egraph_classes: 0,
            fired: Vec::new(),
            applied: Vec::new(),
            steps: Vec::new(),
            kept_input: None,
        }
    }
}

/// Simplifies `f`. Never fails: if anything goes wrong, or the result is
/// not cheaper, the input comes back (rebuilt: dead nodes dropped,
/// identical nodes shared), and the report says why.
pub fn simplify(f: &Function, opts: &SimplifyOptions) -> (Function, SimplifyReport) {
    let mut report = SimplifyReport::new(f);
    if let Err(e) = verify(f) {
        report.kept_input = Some(KeptInput::Malformed(e));
        return (f.clone(), report);
    }
    let base = match rebuild(f) {
        Ok(g) => g,
        Err(e) => {
            report.kept_input = Some(KeptInput::Unbuildable(e.to_string()));
            return (f.clone(), report);
        }
    };
    let (expr, expr_ids) = to_recexpr(&base);
    let mut egraph = EGraph::new(TensorAnalysis::default());
    if opts.explain {
        egraph = egraph.with_explanations_enabled();
    }
    // Add node by node to know each node's class (for spans).
    let mut class_of: Vec<Id> = Vec::with_capacity(expr.as_ref().len());
    for node in expr.as_ref() {
        let n = node.clone().map_children(|c| class_of[usize::from(c)]);
        class_of.push(egraph.add(n));
    }
    let root = *class_of.last().unwrap_or(&Id::from(0usize));
    let mut runner: Runner<TensorLang, TensorAnalysis> = Runner::new(TensorAnalysis::default())
        .with_egraph(egraph)
        .with_iter_limit(opts.iter_limit)
        .with_node_limit(opts.node_limit)
        .with_time_limit(Duration::MAX)
        .run(rules::rewrites(opts.fast_math));
    report.iterations = runner.iterations.len();
    report.stop_reason = match &runner.stop_reason {
        Some(egg::StopReason::Saturated) => StopReason::Saturated,
        Some(egg::StopReason::IterationLimit(_)) => StopReason::IterationLimit,
        Some(egg::StopReason::NodeLimit(_)) => StopReason::NodeLimit,
        Some(other) => StopReason::Other(format!("{other:?}")),
        None => StopReason::Other("not stopped".into()),
    };
    report.egraph_nodes = runner.egraph.total_size();
    report.egraph_classes = runner.egraph.number_of_classes();
    let mut fired: BTreeMap<String, usize> = BTreeMap::new();
    for it in &runner.iterations {
        for (name, n) in &it.applied {
            *fired.entry(name.to_string()).or_default() += n;
        }
    }
    report.fired = fired.into_iter().collect();

    let keep = |mut report: SimplifyReport, why: KeptInput| {
        report.flops_after = flops(&base);
        report.nodes_after = live_count(&base);
        report.kept_input = Some(why);
        (base.clone(), report)
    };
    let original: HashSet<TensorLang> = expr
        .as_ref()
        .iter()
        .map(|n| n.clone().map_children(|c| runner.egraph.find(class_of[usize::from(c)])))
        .collect();
    let Some((best, classes)) = cost::extract(&runner.egraph, root, &original) else {
        return keep(report, KeptInput::Unbuildable("no finite-cost expression for the outputs".into()));
    };
    // Each class keeps the span of the first input node in it.
    let mut spans: HashMap<Id, Span> = HashMap::new();
    for (node, id) in base.nodes.iter().zip(&expr_ids) {
        if let (Some(id), false) = (id, node.span.is_detached()) {
            spans.entry(runner.egraph.find(class_of[usize::from(*id)])).or_insert(node.span);
        }
    }
    let span_of = |i: usize| classes.get(i).and_then(|c| spans.get(c)).copied().unwrap_or_else(Span::detached);
    let g = match from_recexpr(&best, &f.name, f.n_state, f.n_param, span_of) {
        Ok(g) => g,
        Err(e) => return keep(report, KeptInput::Unbuildable(e.to_string())),
    };
    let (flops_g, nodes_g) = (flops(&g), live_count(&g));
    if (flops_g, nodes_g) > (flops(&base), live_count(&base)) {
        return keep(report, KeptInput::NotCheaper);
    }
    report.flops_after = flops_g;
    report.nodes_after = nodes_g;
    if opts.explain {
        let mut explanation = runner.explain_equivalence(&expr, &best);
        for term in explanation.make_flat_explanation().iter().skip(1) {
            let (rule, backward) = step_rule(term).unwrap_or_else(|| ("?".to_string(), false));
            let after = from_recexpr(&term.get_recexpr(), &f.name, f.n_state, f.n_param, |_| Span::detached());
            if let Ok(result) = after {
                report.applied.push(rule.clone());
                report.steps.push(ExplainStep { rule, backward, result });
            }
        }
    }
    (g, report)
}

/// The rule a step of a flat explanation applies, and whether backwards.
fn step_rule(term: &FlatTerm<TensorLang>) -> Option<(String, bool)> {
    if let Some(r) = &term.forward_rule {
        return Some((r.to_string(), false));
    }
    if let Some(r) = &term.backward_rule {
        return Some((r.to_string(), true));
    }
    term.children.iter().find_map(step_rule)
}
