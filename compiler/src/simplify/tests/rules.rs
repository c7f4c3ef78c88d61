//! The rule table, checked rule by rule: each example term goes into an
//! e-graph (without constant folding), the rule runs once, and every member
//! of the term's class is evaluated against the term on 100 random inputs
//! of the rule's domain: bit-identical for exact rules, within 1e-12
//! relative for the others. Failures name the rule.

use std::collections::HashSet;
use std::time::Duration;

use egg::{AstSize, EGraph, Extractor, Language, RecExpr, Runner, Symbol};

use super::{close, eval, same_bits, term_function};
use crate::ir::random::Rng;
use crate::simplify::analysis::TensorAnalysis;
use crate::simplify::lang::TensorLang;
use crate::simplify::rules::{self, Domain, Example, Level, Rule};

const POINTS: usize = 100;

fn value(rng: &mut Rng, domain: Domain) -> f64 {
    const SPECIAL: [f64; 12] =
        [0.0, -0.0, 1.0, -1.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 1e-310, -1e-310, 1e300, -1e300, 0.5];
    match domain {
        Domain::Any if rng.chance(0.25) => rng.pick(&SPECIAL),
        Domain::Any | Domain::Finite => rng.uniform(-3.0, 3.0),
        Domain::Positive => rng.uniform(0.1, 3.0),
    }
}

/// Checks one example of one rule; `Err` says what went wrong.
fn check(rule: &Rule, ex: &Example, seed: u64) -> Result<usize, String> {
    let term: RecExpr<TensorLang> = ex.term.parse().map_err(|e| format!("bad example: {e:?}"))?;
    let analysis = TensorAnalysis { fold: false };
    let mut egraph = EGraph::new(analysis);
    let root = egraph.add_expr(&term);
    let runner: Runner<TensorLang, TensorAnalysis> = Runner::new(analysis)
        .with_egraph(egraph)
        .with_iter_limit(1)
        .with_time_limit(Duration::MAX)
        .run([&rule.rewrite]);
    let name = Symbol::from(rule.name.as_str());
    let fired: usize = runner.iterations.iter().map(|i| i.applied.get(&name).copied().unwrap_or(0)).sum();
    if fired == 0 {
        return Err("the rule did not fire".into());
    }
    let eg = &runner.egraph;
    let lhs = term_function(&term, (0, 0));
    let extractor = Extractor::new(eg, AstSize);
    let mut variants = Vec::new();
    for node in &eg[eg.find(root)].nodes {
        let expr = node.build_recexpr(|id| extractor.find_best_node(id).clone());
        if expr != term {
            let f = term_function(&expr, (lhs.n_state, lhs.n_param));
            variants.push((expr, f));
        }
    }
    if variants.is_empty() {
        return Err("no rewritten form in the term's class".into());
    }
    let mut rng = Rng::new(seed);
    for _ in 0..POINTS {
        let t = value(&mut rng, ex.domain);
        let y: Vec<f64> = (0..lhs.n_state).map(|_| value(&mut rng, ex.domain)).collect();
        let p: Vec<f64> = (0..lhs.n_param).map(|_| value(&mut rng, ex.domain)).collect();
        let want = eval(&lhs, t, &y, &p);
        for (expr, f) in &variants {
            let got = eval(f, t, &y, &p);
            for (k, (&a, &b)) in want.iter().zip(&got).enumerate() {
                let ok = match rule.level {
                    Level::Exact => same_bits(a, b),
                    Level::Accurate | Level::FastMath => close(a, b, 1e-12),
                };
                if !ok {
                    return Err(format!("element {k}: {a:e} became {b:e} in {expr} at y = {y:?}, p = {p:?}"));
                }
            }
        }
    }
    Ok(variants.len())
}

#[test]
fn every_rule_holds_on_random_inputs_in_its_domain() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (i, rule) in rules::table().iter().enumerate() {
        if rule.examples.is_empty() {
            failures.push(format!("{}: no example", rule.name));
        }
        for ex in &rule.examples {
            match check(rule, ex, i as u64) {
                Ok(_) => checked += 1,
                Err(msg) => failures.push(format!("rule `{}` ({:?}) on {}: {msg}", rule.name, rule.level, ex.term)),
            }
        }
    }
    assert!(failures.is_empty(), "{} failing:\n{}", failures.len(), failures.join("\n"));
    assert!(checked >= rules::table().len());
}

#[test]
fn rules_have_unique_names_and_descriptions() {
    let table = rules::table();
    let mut names = HashSet::new();
    for r in &table {
        assert!(names.insert(r.name.clone()), "duplicate rule name {}", r.name);
        assert!(!r.name.is_empty() && !r.statement.is_empty() && !r.family.is_empty());
        assert!(r.statement.contains("=>"), "{}", r.statement);
        assert_eq!(r.rewrite.name.as_str(), r.name);
    }
    assert!(table.len() >= 60, "{} rules", table.len());
    // Fast-math rules never run by default.
    let default: HashSet<String> = rules::rewrites(false).iter().map(|r| r.name.to_string()).collect();
    for r in &table {
        assert_eq!(default.contains(&r.name), r.level != Level::FastMath, "{}", r.name);
    }
    assert_eq!(rules::rewrites(true).len(), table.len());
}
