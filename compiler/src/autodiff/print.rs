//! Readable derivatives of a model (`nde emit grad`).
//!
//! Owns the choice of what to show and how to label it: the Jacobian by
//! blocks of state slots (`∂(dx/dt)/∂y`, one line per row of a vector
//! state), the reverse-mode parameter gradients (`aᵀ∂f/∂sigma`, with `a`
//! the cotangent of the right-hand side, named `a.NAME` per state, or `a`
//! for a single state), and the explicit time derivative (`∂(dx/dt)/∂t`).
//! The derivative functions are merged into one, so a subexpression they
//! share (`tanh(f.W1 @ y + f.b1)`) prints once as a `let` line; the infix
//! form itself is [`crate::ir::infix`].
//!
//! Never: build derivatives differently from the kernels (callers pass the
//! very functions they compile), or print anything itself.

use super::graph::Graph;
use crate::ir::infix::{print_infix, InfixNames};
use crate::ir::{Function, ModelIr, Op, Shape, Slot, ValueId};
use std::fmt;

/// The derivative functions of a model's right-hand side, as compiled.
pub struct GradFunctions<'a> {
    /// [`super::vjp`] of the right-hand side.
    pub vjp: &'a Function,
    /// [`super::jacobian`] of the right-hand side.
    pub jac: &'a Function,
    /// [`super::time_derivative`] of the right-hand side.
    pub dfdt: &'a Function,
}

/// `--wrt NAME` names no state, parameter, `y` or `t` of the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownWrt {
    pub name: String,
    pub model: String,
    /// What may be named instead.
    pub available: Vec<String>,
}

impl fmt::Display for UnknownWrt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "model `{}` has no state or parameter `{}`; choose one of: {}",
            self.model,
            self.name,
            self.available.join(", ")
        )
    }
}

impl std::error::Error for UnknownWrt {}

/// What to show.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Show<'n> {
    All,
    Time,
    /// Every Jacobian block (`y` when no state has that name).
    States,
    State(&'n str),
    Param(&'n str),
}

fn choose<'n>(model: &ModelIr, wrt: Option<&'n str>) -> Result<Show<'n>, UnknownWrt> {
    let Some(name) = wrt else { return Ok(Show::All) };
    if model.states.iter().any(|s| s.name == name) {
        return Ok(Show::State(name));
    }
    if model.params.iter().any(|s| s.name == name) {
        return Ok(Show::Param(name));
    }
    match name {
        "t" => Ok(Show::Time),
        "y" => Ok(Show::States),
        _ => {
            let mut available: Vec<String> = model.states.iter().chain(&model.params).map(|s| s.name.clone()).collect();
            available.extend(["y".to_string(), "t".to_string()]);
            Err(UnknownWrt { name: name.to_string(), model: model.name.clone(), available })
        }
    }
}

/// `name`, parenthesised when it is dotted (`f.W1` → `(f.W1)`).
fn wrt_label(name: &str) -> String {
    if name.contains('.') {
        format!("({name})")
    } else {
        name.to_string()
    }
}

/// The derivatives of `model` (restricted by `wrt`, see the module docs)
/// in readable maths.
pub fn print_grad(model: &ModelIr, grads: &GradFunctions, wrt: Option<&str>) -> Result<String, UnknownWrt> {
    let show = choose(model, wrt)?;
    // `n` states; `ny` values in the rhs's state buffer (a CDE's rhs also
    // reads its path and the path's derivative after the states).
    let (n, ny) = (model.n_state(), model.rhs.n_state);
    let mut g = Graph::new(format!("{}.grad", model.name), ny + n, model.n_param());
    let mut labels = Vec::new();

    let jac = flat_outputs(&mut g, grads.jac);
    for si in &model.states {
        for sj in &model.states {
            let wanted = match show {
                Show::All | Show::States => true,
                Show::State(name) => sj.name == name,
                _ => false,
            };
            if !wanted {
                continue;
            }
            for r in 0..si.shape.len() {
                let row = si.offset + r;
                let v = take(&mut g, &jac, row * ny + sj.offset, sj.shape);
                let of =
                    if si.shape.is_scalar() { format!("d{}/dt", si.name) } else { format!("d{}/dt[{r}]", si.name) };
                labels.push(format!("∂({of})/∂{}", wrt_label(&sj.name)));
                g.b.output(v);
            }
        }
    }

    let vjp = flat_outputs(&mut g, grads.vjp);
    for s in &model.params {
        if matches!(show, Show::All) || show == Show::Param(&s.name) {
            let v = take(&mut g, &vjp, ny + s.offset, s.shape);
            labels.push(format!("aᵀ∂f/∂{}", wrt_label(&s.name)));
            g.b.output(v);
        }
    }

    if matches!(show, Show::All | Show::Time) {
        let dfdt = flat_outputs(&mut g, grads.dfdt);
        for s in &model.states {
            let v = take(&mut g, &dfdt, s.offset, s.shape);
            labels.push(format!("∂(d{}/dt)/∂t", s.name));
            g.b.output(v);
        }
    }

    let single = model.states.len() == 1;
    let mut states = model.states.clone();
    states.extend(model.states.iter().map(|s| Slot {
        name: if single { "a".to_string() } else { format!("a.{}", s.name) },
        shape: s.shape,
        offset: ny + s.offset,
    }));
    if let Some(c) = &model.control {
        let shape = Shape::vector(c.channels);
        states.push(Slot { name: c.name.clone(), shape, offset: n });
        states.push(Slot { name: format!("d{}/dt", c.name), shape, offset: n + c.channels });
    }
    let names = InfixNames { states, params: model.params.clone(), outputs: labels };
    let mut text = format!("// {}", model.name);
    if labels_mention_cotangent(&names.outputs) {
        let k = model.states.len();
        let cot: Vec<&str> = names.states[k..2 * k].iter().map(|s| s.name.as_str()).collect();
        let of: Vec<String> = model.states.iter().map(|s| format!("d{}/dt", s.name)).collect();
        text.push_str(&format!(": {} is the cotangent of {}", cot.join(", "), of.join(", ")));
    }
    text.push('\n');
    text.push_str(&print_infix(&g.b.finish(), &names));
    Ok(text)
}

fn labels_mention_cotangent(labels: &[String]) -> bool {
    labels.iter().any(|l| l.starts_with("aᵀ"))
}

/// A function's outputs copied into `g`: `(node, flat length)` in order.
fn flat_outputs(g: &mut Graph, f: &Function) -> Vec<(ValueId, usize)> {
    let map = g.copy_forward(f);
    f.outputs.iter().map(|&o| (map[o.index()], f.shape(o).len())).collect()
}

/// Elements `start .. start + shape.len()` of the concatenated `outputs`, as `shape`.
fn take(g: &mut Graph, outputs: &[(ValueId, usize)], start: usize, shape: Shape) -> ValueId {
    let end = start + shape.len();
    // The overlapping outputs: (node, first element, element count).
    let mut parts = Vec::new();
    let mut at = 0;
    for &(v, len) in outputs {
        let (lo, hi) = (start.max(at), end.min(at + len));
        if lo < hi {
            parts.push((v, lo - at, hi - lo));
        }
        at += len;
    }
    let values = |g: &Graph, v: ValueId, from: usize, n: usize| match g.op(v) {
        Op::Const(c) => Some(c[from..from + n].to_vec()),
        _ => None,
    };
    if parts.iter().all(|&(v, from, n)| values(g, v, from, n).is_some()) {
        let c: Vec<f64> = parts.iter().flat_map(|&(v, from, n)| values(g, v, from, n).unwrap_or_default()).collect();
        return g.b.constant(c, shape);
    }
    if let [(v, 0, n)] = parts[..] {
        if n == g.shape(v).len() {
            return g.reshape(v, shape);
        }
    }
    // A vector of scalars and constants, element by element (it prints as `[a, b, …]`).
    if shape.rank() == 1 && parts.iter().all(|&(v, ..)| g.shape(v).is_scalar() || matches!(g.op(v), Op::Const(_))) {
        let mut elems = Vec::with_capacity(shape.len());
        for &(v, from, n) in &parts {
            match values(g, v, from, n) {
                Some(c) => elems.extend(c.into_iter().map(|x| g.b.scalar(x))),
                None => elems.push(v),
            }
        }
        let elems = elems.into_iter().map(|e| g.b.reshape(e, Shape::vector(1))).collect();
        return g.b.concat(elems, 0);
    }
    let pieces = parts
        .into_iter()
        .map(|(v, from, n)| {
            let flat = g.flat(v);
            g.b.slice(flat, 0, from, n)
        })
        .collect();
    let joined = g.b.concat(pieces, 0);
    g.b.reshape(joined, shape)
}
