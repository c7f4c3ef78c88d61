//! The cost model (floating-point operations) and extraction.
//!
//! Owns the flop count of every op, for IR functions ([`flops`]) and for
//! e-nodes, and the extractor that picks the cheapest member of every
//! e-class.
//!
//! Flops per output element (per multiply-add pair for a matrix product):
//!
//! | op | flops |
//! |---|---|
//! | `add` `sub` `mul` `min` `max` `neg` `abs` `relu` `step` | 1 |
//! | `div` `sqrt` | 4 |
//! | `exp` `log` `sin` `cos` `tan` `tanh` `elu` | 20 (an inline polynomial or rational approximation) |
//! | `sigmoid` | 25 (`exp`, add, divide) |
//! | `gelu` | 30 |
//! | `softplus` | 45 (`exp`, `log1p`, max) |
//! | `pow` | 45 (`exp(b log a)`) |
//! | `powi(n)` | its multiplications (binary exponentiation), plus 4 for negative `n` |
//! | `matmul` `[m,k]@[k,n]` | `2 m n k` |
//! | `sum` of `n` elements | `n` |
//! | inputs, constants, `broadcast` `transpose` `slice` `index` `concat` `reshape` | 0 |
//!
//! Extraction compares (flops, nodes, new nodes): at equal flops the smaller
//! expression wins, at equal size the one closest to the input (so operand
//! order and the user's way of writing survive), and after that the first
//! e-node in egg's order (classes by id, nodes sorted), so the choice never
//! depends on hashing or timing.
//! Costs are summed as trees (a subexpression shared by two operands counts
//! twice, an operand used twice by one node once); the rebuilt function
//! shares identical nodes, and [`super::simplify`] keeps
//! its input if the result is not cheaper as a DAG.
//!
//! Never: return a negative or non-finite cost, or depend on iteration
//! order of a hash map.

use std::collections::{HashMap, HashSet};

use egg::{Id, Language, RecExpr};

use super::analysis::TensorGraph;
use super::convert::live_nodes;
use super::lang::TensorLang;
use crate::ir::{BinaryOp, Function, Op, Shape, UnaryOp};

/// Flops of one element of a unary op.
pub fn unary_flops(op: UnaryOp) -> u64 {
    match op {
        UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Relu | UnaryOp::Step => 1,
        UnaryOp::Sqrt => 4,
        UnaryOp::Exp | UnaryOp::Log | UnaryOp::Sin | UnaryOp::Cos | UnaryOp::Tan | UnaryOp::Tanh | UnaryOp::Elu => 20,
        UnaryOp::Sigmoid => 25,
        UnaryOp::Gelu => 30,
        UnaryOp::Softplus => 45,
        UnaryOp::Powi(n) => {
            let e = n.unsigned_abs();
            let muls = if e == 0 { 0 } else { (31 - e.leading_zeros()) + e.count_ones() - 1 };
            u64::from(muls) + if n < 0 { 4 } else { 0 }
        }
    }
}

/// Flops of one element of a binary op.
pub fn binary_flops(op: BinaryOp) -> u64 {
    match op {
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Min | BinaryOp::Max => 1,
        BinaryOp::Div => 4,
        BinaryOp::Pow => 45,
    }
}

/// What an op costs, independent of how its operands are named.
#[derive(Clone, Copy, Debug)]
enum Work {
    Unary(UnaryOp),
    Binary(BinaryOp),
    /// A matrix product with this inner dimension.
    MatMul(usize),
    /// A sum of this many elements.
    Sum(usize),
    Free,
}

fn work_flops(work: Work, out: Shape) -> u64 {
    let n = out.len() as u64;
    match work {
        Work::Unary(u) => n * unary_flops(u),
        Work::Binary(b) => n * binary_flops(b),
        Work::MatMul(k) => 2 * n * k as u64,
        Work::Sum(len) => len as u64,
        Work::Free => 0,
    }
}

/// The inner dimension of a matrix product whose left operand has shape `a`.
fn inner(a: Shape) -> usize {
    a.dims().last().map_or(1, |&d| d as usize)
}

/// Flops of one IR node of `f`.
pub fn node_flops(f: &Function, op: &Op, shape: Shape) -> u64 {
    let work = match op {
        Op::Unary(u, _) => Work::Unary(*u),
        Op::Binary(b, _, _) => Work::Binary(*b),
        Op::MatMul(a, _) => Work::MatMul(inner(f.shape(*a))),
        Op::Sum(a) => Work::Sum(f.shape(*a).len()),
        _ => Work::Free,
    };
    work_flops(work, shape)
}

/// Flops of one evaluation of `f` (its live nodes, each once).
pub fn flops(f: &Function) -> u64 {
    let live = live_nodes(f);
    f.nodes.iter().zip(live).filter(|(_, l)| *l).map(|(n, _)| node_flops(f, &n.op, n.shape)).sum()
}

/// Number of nodes the outputs of `f` depend on.
pub fn live_count(f: &Function) -> usize {
    live_nodes(f).into_iter().filter(|&l| l).count()
}

/// Flops of an e-node in `egraph`.
fn enode_flops(egraph: &TensorGraph, node: &TensorLang, out: Shape) -> u64 {
    let shape = |id: Id| egraph[id].data.shape();
    let work = match node {
        TensorLang::Unary(u, _) => Work::Unary(u.0),
        TensorLang::Binary(b, _) => Work::Binary(b.0),
        TensorLang::MatMul([a, _]) => Work::MatMul(inner(shape(*a))),
        TensorLang::Sum([a]) => Work::Sum(shape(*a).len()),
        _ => Work::Free,
    };
    work_flops(work, out)
}

/// An extraction cost: flops first, then the number of nodes, then the
/// number of nodes the input did not have (so ties keep the input's form).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Cost {
    flops: f64,
    nodes: f64,
    novel: f64,
}

impl Cost {
    fn better_than(self, other: Cost) -> bool {
        (self.flops, self.nodes, self.novel) < (other.flops, other.nodes, other.novel)
    }
}

/// The cheapest expression for `root` and, for each of its nodes, the
/// e-class it was chosen from; `original` holds the input's e-nodes
/// (canonical), preferred on ties. `None` if some class has no finite choice.
pub fn extract(
    egraph: &TensorGraph,
    root: Id,
    original: &HashSet<TensorLang>,
) -> Option<(RecExpr<TensorLang>, Vec<Id>)> {
    let mut classes: Vec<Id> = egraph.classes().map(|c| c.id).collect();
    classes.sort_unstable();
    let mut best: HashMap<Id, (Cost, usize)> = HashMap::with_capacity(classes.len());
    loop {
        let mut changed = false;
        for &id in &classes {
            let class = &egraph[id];
            for (i, node) in class.nodes.iter().enumerate() {
                let mut cost = Cost { flops: 0.0, nodes: 0.0, novel: 0.0 };
                let mut ready = true;
                // An operand used twice (`x * x`) is computed once.
                let mut kids: Vec<Id> = node.children().iter().map(|&c| egraph.find(c)).collect();
                kids.sort_unstable();
                kids.dedup();
                for c in kids {
                    match best.get(&c) {
                        Some((cc, _)) => {
                            cost.flops += cc.flops;
                            cost.nodes += cc.nodes;
                            cost.novel += cc.novel;
                        }
                        None => {
                            ready = false;
                            break;
                        }
                    }
                }
                if !ready {
                    continue;
                }
                let bookkeeping = matches!(node, TensorLang::ShapeOf(_) | TensorLang::Outputs(_));
                cost.flops += enode_flops(egraph, node, class.data.shape()) as f64;
                cost.nodes += if bookkeeping { 0.0 } else { 1.0 };
                cost.novel += if bookkeeping || original.contains(node) { 0.0 } else { 1.0 };
                let improves = match best.get(&id) {
                    None => true,
                    Some((old, j)) => cost.better_than(*old) || (*j == i && cost != *old),
                };
                if improves {
                    best.insert(id, (cost, i));
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    // Emit the chosen nodes in post-order (an explicit stack: expressions
    // can be deeper than the thread's stack).
    let mut expr = RecExpr::default();
    let mut classes_of = Vec::new();
    let mut done: HashMap<Id, Id> = HashMap::new();
    let mut stack = vec![(egraph.find(root), false)];
    while let Some((id, expanded)) = stack.pop() {
        if done.contains_key(&id) {
            continue;
        }
        let (_, i) = *best.get(&id)?;
        let node = &egraph[id].nodes[i];
        if expanded {
            let kids: Option<Vec<Id>> = node.children().iter().map(|&c| done.get(&egraph.find(c)).copied()).collect();
            let mut kids = kids?.into_iter();
            let n = node.clone().map_children(|_| kids.next().unwrap_or(root));
            done.insert(id, expr.add(n));
            classes_of.push(id);
        } else {
            stack.push((id, true));
            for &c in node.children().iter().rev() {
                let c = egraph.find(c);
                if !done.contains_key(&c) {
                    stack.push((c, false));
                }
            }
        }
    }
    Some((expr, classes_of))
}
