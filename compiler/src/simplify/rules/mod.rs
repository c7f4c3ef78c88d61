//! The rewrite rules, grouped by family (one file each), and the table that
//! describes them.
//!
//! Every rule has a name, a [`Level`], a readable statement and concrete
//! example terms; the rule test evaluates both sides of every rule on random
//! inputs of its [`Domain`] with the reference interpreter, naming the rule
//! that fails. Domain guards read the analysis facts of the matched classes
//! (see [`super::analysis::Facts`]); a guarded rule never fires outside its
//! domain.
//!
//! Levels:
//! * [`Level::Exact`]: bit-identical results for every input (NaNs count as
//!   equal). No reassociation, no distribution or factoring.
//! * [`Level::Accurate`]: a mathematical identity whose right-hand side
//!   rounds less than the left (`exp(log x) = x` for `x ≥ 0`: within a few
//!   ulp, tested to 1e-12). On by default.
//! * [`Level::FastMath`]: only with `fast_math`: results may change through
//!   rounding (reassociation, factoring), overflow, infinities, NaNs and the
//!   sign of zero (`0·x = 0`, `x - x = 0`, `log(exp x) = x`,
//!   `sum(-x) = -sum(x)`).
//!
//! Never: add a rule without a name, a level and an example, or match on
//! anything that depends on hashing order.

mod broadcast;
mod fastmath;
mod functions;
mod identity;
mod sign;
mod transpose;

use std::sync::{Arc, OnceLock};

use egg::{Applier, ConditionalApplier, Id, Pattern, PatternAst, Rewrite, Subst, Symbol, Var};

use super::analysis::{Facts, TensorAnalysis, TensorGraph};
use super::convert::Kind;
use super::lang::{Sh, TensorLang};
use crate::ir::Shape;

/// How far a rule may change results; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Exact,
    Accurate,
    FastMath,
}

/// Where the rule test draws input values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// Any `f64`: random reals mixed with `±0`, `±1`, `±inf`, NaN, subnormals and huge values.
    Any,
    /// Random reals in `[-3, 3]`.
    Finite,
    /// Random reals in `[0.1, 3]`.
    Positive,
}

/// A term the rule rewrites (in the text form of [`super::lang`]) and the
/// domain of its inputs.
#[derive(Clone, Debug)]
pub struct Example {
    pub term: String,
    pub domain: Domain,
}

/// One rewrite rule and its description.
pub struct Rule {
    pub name: String,
    pub family: &'static str,
    pub level: Level,
    /// `lhs => rhs`, in the text form of [`super::lang`].
    pub statement: String,
    /// The domain condition, in words (empty if none).
    pub guard: &'static str,
    pub examples: Vec<Example>,
    pub rewrite: Rewrite<TensorLang, TensorAnalysis>,
}

/// A condition on the matched classes.
pub(crate) type Guard = Arc<dyn Fn(&TensorGraph, &Subst) -> bool + Send + Sync>;
/// Builds the right-hand side of a custom rule: the new class, or `None` to skip.
pub(crate) type Make = Arc<dyn Fn(&mut TensorGraph, Id, &Subst) -> Option<Id> + Send + Sync>;

/// What a rule rewrites to.
pub(crate) enum Rhs {
    Pattern(String),
    /// Built in Rust (a constant of the matched shape, a computed count); the text describes it.
    Custom(String, Make),
}

/// Every rule, in a fixed order.
pub fn table() -> Vec<Rule> {
    let mut rules = Vec::new();
    rules.extend(identity::rules());
    rules.extend(sign::rules());
    rules.extend(functions::rules());
    rules.extend(transpose::rules());
    rules.extend(broadcast::rules());
    rules.extend(fastmath::rules());
    rules
}

/// The rewrites to run at a level (`fast_math` adds the fast-math rules).
pub(crate) fn rewrites(fast_math: bool) -> &'static [Rewrite<TensorLang, TensorAnalysis>] {
    static EXACT: OnceLock<Vec<Rewrite<TensorLang, TensorAnalysis>>> = OnceLock::new();
    static FAST: OnceLock<Vec<Rewrite<TensorLang, TensorAnalysis>>> = OnceLock::new();
    let build =
        |fast: bool| table().into_iter().filter(|r| fast || r.level != Level::FastMath).map(|r| r.rewrite).collect();
    if fast_math {
        FAST.get_or_init(|| build(true))
    } else {
        EXACT.get_or_init(|| build(false))
    }
}

pub(crate) fn var(name: &str) -> Var {
    name.parse().unwrap_or_else(|e| panic!("bad variable {name}: {e:?}"))
}

fn pattern(text: &str) -> Pattern<TensorLang> {
    text.parse().unwrap_or_else(|e| panic!("bad pattern {text}: {e:?}"))
}

/// Builds a rule. Patterns are fixed text, so a parse failure is a bug
/// caught by every test that builds the table.
pub(crate) fn rule(
    family: &'static str,
    level: Level,
    name: impl Into<String>,
    lhs: &str,
    rhs: Rhs,
    guard: Option<(&'static str, Guard)>,
    examples: &[(&str, Domain)],
) -> Rule {
    let name = name.into();
    let searcher = pattern(lhs);
    let (guard_text, guard) = match guard {
        Some((text, g)) => (text, Some(g)),
        None => ("", None),
    };
    let (rhs_text, rewrite) = match rhs {
        Rhs::Pattern(text) => {
            let applier = pattern(&text);
            let rw = match guard {
                Some(g) => Rewrite::new(
                    name.as_str(),
                    searcher,
                    ConditionalApplier { condition: move |eg: &mut TensorGraph, _: Id, s: &Subst| g(eg, s), applier },
                ),
                None => Rewrite::new(name.as_str(), searcher, applier),
            };
            (text, rw)
        }
        Rhs::Custom(text, make) => (text, Rewrite::new(name.as_str(), searcher, Custom { guard, make })),
    };
    let rewrite = rewrite.unwrap_or_else(|e| panic!("bad rule {name}: {e}"));
    Rule {
        statement: format!("{lhs} => {rhs_text}"),
        name,
        family,
        level,
        guard: guard_text,
        examples: examples.iter().map(|&(term, domain)| Example { term: term.to_string(), domain }).collect(),
        rewrite,
    }
}

/// A rule whose right-hand side is built in Rust.
struct Custom {
    guard: Option<Guard>,
    make: Make,
}

impl Applier<TensorLang, TensorAnalysis> for Custom {
    fn apply_one(
        &self,
        egraph: &mut TensorGraph,
        eclass: Id,
        subst: &Subst,
        _searcher_ast: Option<&PatternAst<TensorLang>>,
        rule_name: Symbol,
    ) -> Vec<Id> {
        if let Some(g) = &self.guard {
            if !g(egraph, subst) {
                return vec![];
            }
        }
        let Some(new) = (self.make)(egraph, eclass, subst) else { return vec![] };
        if union(egraph, eclass, new, rule_name) {
            vec![eclass]
        } else {
            vec![]
        }
    }
}

/// Unions two classes, recording `rule` as the reason when explaining.
pub(crate) fn union(egraph: &mut TensorGraph, a: Id, b: Id, rule: Symbol) -> bool {
    if egraph.are_explanations_enabled() {
        egraph.union_trusted(a, b, rule)
    } else {
        egraph.union(a, b)
    }
}

/// Adds a tensor of `shape` whose elements all equal `value`.
pub(crate) fn add_splat(egraph: &mut TensorGraph, value: f64, shape: Shape) -> Id {
    let c = egraph.add(TensorLang::constant(Shape::SCALAR, &[value]));
    if shape.is_scalar() {
        return c;
    }
    let s = egraph.add(TensorLang::ShapeOf(Sh(shape)));
    egraph.add(TensorLang::Broadcast([c, s]))
}

/// Right-hand side: a splat of `value` with the matched class's shape.
pub(crate) fn splat_rhs(value: f64) -> Rhs {
    let make: Make = Arc::new(move |eg: &mut TensorGraph, id: Id, _: &Subst| {
        let shape = eg[id].data.shape();
        Some(add_splat(eg, value, shape))
    });
    Rhs::Custom(format!("{value:?} (every element)"), make)
}

/// Guard: the class bound to `v` is a constant whose every element has
/// exactly the bits of `value`.
pub(crate) fn splat_is(v: &str, value: f64) -> Guard {
    let v = var(v);
    Arc::new(move |eg, s| eg[s[v]].data.splat().is_some_and(|x| x.to_bits() == value.to_bits()))
}

/// Guard: the class bound to `v` is a constant splat satisfying `p`.
pub(crate) fn splat_where(v: &str, p: fn(f64) -> bool) -> Guard {
    let v = var(v);
    Arc::new(move |eg, s| eg[s[v]].data.splat().is_some_and(p))
}

/// Guard: the class bound to `v` has `facts`.
pub(crate) fn has(v: &str, facts: Facts) -> Guard {
    let v = var(v);
    Arc::new(move |eg, s| eg[s[v]].data.facts.has(facts))
}

/// Guard: the class bound to `v` has rank below `r`.
pub(crate) fn rank_below(v: &str, r: usize) -> Guard {
    let v = var(v);
    Arc::new(move |eg, s| eg[s[v]].data.shape().rank() < r)
}

/// Guard: the tensor bound to `x` has the shape literal bound to `shape`.
pub(crate) fn shape_is(x: &str, shape: &str) -> Guard {
    let (x, shape) = (var(x), var(shape));
    Arc::new(move |eg, s| eg[s[shape]].data.kind == Kind::Shape(eg[s[x]].data.shape()))
}

pub(crate) fn all(guards: Vec<Guard>) -> Guard {
    Arc::new(move |eg, s| guards.iter().all(|g| g(eg, s)))
}

pub(crate) fn any(guards: Vec<Guard>) -> Guard {
    Arc::new(move |eg, s| guards.iter().any(|g| g(eg, s)))
}

/// Pattern right-hand side.
pub(crate) fn pat(text: impl Into<String>) -> Rhs {
    Rhs::Pattern(text.into())
}
