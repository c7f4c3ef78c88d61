//! Readable maths for a [`Function`] (`nde simplify`, `nde emit grad`).
//!
//! Owns the infix form: a `let` line for each non-trivial node used more
//! than once (`h1 = tanh(f.W1 @ y + f.b1)`), then one line per output
//! (`dy/dt = f.W2 @ h1 + f.b2`). Inputs are named by the model's state and
//! parameter slots (`x[0:2]` for part of a vector slot); a part of a buffer
//! that no slot covers prints as `state[3:5]` or `param[3:5]`. Operators follow the language's precedence
//! (see `grammar/README.md`); a broadcast scalar inside an elementwise op
//! prints as the scalar (numpy broadcasting). Deterministic: the output
//! depends only on the function and the names.
//!
//! Never: print anything but the function, or recurse over the expression
//! depth (every node is rendered once, in order).

use super::{BinaryOp, Function, InputBuf, ModelIr, Op, Shape, Slot, UnaryOp, ValueId};
use crate::ir::print::unary_name;

/// Names for a function's inputs and outputs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InfixNames {
    /// State slots (offsets into `y`).
    pub states: Vec<Slot>,
    /// Parameter slots (offsets into `p`).
    pub params: Vec<Slot>,
    /// The label of each output line; without one an output prints as
    /// `out[i] = …` (or bare, when the function has a single output).
    pub outputs: Vec<String>,
}

impl InfixNames {
    /// The slots of `m`, and outputs labelled `dNAME/dt` (for its `rhs`).
    pub fn from_model(m: &ModelIr) -> InfixNames {
        InfixNames {
            states: m.states.clone(),
            params: m.params.clone(),
            outputs: m.states.iter().map(|s| format!("d{}/dt", s.name)).collect(),
        }
    }
}

/// Precedence levels, loosest first.
const SUM: u8 = 1;
const PRODUCT: u8 = 2;
const PREFIX: u8 = 3;
const POWER: u8 = 4;
const ATOM: u8 = 5;

/// Constants with more elements print abbreviated.
const INLINE_CONST: usize = 16;

/// The infix form of `f` (see the module docs).
pub fn print_infix(f: &Function, names: &InfixNames) -> String {
    let live = live(f);
    let mut uses = vec![0usize; f.nodes.len()];
    for (i, node) in f.nodes.iter().enumerate() {
        if live[i] {
            for a in node.op.args() {
                uses[a.index()] += 1;
            }
        }
    }
    for o in &f.outputs {
        uses[o.index()] += 1;
    }
    let mut trivial = vec![false; f.nodes.len()];
    let mut text: Vec<(String, u8)> = Vec::with_capacity(f.nodes.len());
    let mut lets = Vec::new();
    let taken: Vec<&str> = names.states.iter().chain(&names.params).map(|s| s.name.as_str()).collect();
    let mut next_let = 1;
    for (i, node) in f.nodes.iter().enumerate() {
        if !live[i] {
            text.push((String::new(), ATOM));
            continue;
        }
        trivial[i] = match &node.op {
            Op::Input { .. } => true,
            Op::Const(v) => v.len() == 1,
            Op::Broadcast(a) | Op::Transpose(a) | Op::Index { arg: a, .. } | Op::Reshape(a) => trivial[a.index()],
            _ => false,
        };
        let rendered = render(f, ValueId(i as u32), names, &text);
        if uses[i] > 1 && !trivial[i] {
            let name = loop {
                let n = format!("h{next_let}");
                next_let += 1;
                if !taken.contains(&n.as_str()) {
                    break n;
                }
            };
            lets.push(format!("{name} = {}", rendered.0));
            text.push((name, ATOM));
        } else {
            text.push(rendered);
        }
    }
    let mut out = String::new();
    for l in lets {
        out.push_str(&l);
        out.push('\n');
    }
    for (k, o) in f.outputs.iter().enumerate() {
        let expr = &text[o.index()].0;
        match names.outputs.get(k) {
            Some(label) => out.push_str(&format!("{label} = {expr}\n")),
            None if f.outputs.len() == 1 => out.push_str(&format!("{expr}\n")),
            None => out.push_str(&format!("out[{k}] = {expr}\n")),
        }
    }
    out
}

fn live(f: &Function) -> Vec<bool> {
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
    live
}

fn wrap(t: &(String, u8), min: u8) -> String {
    if t.1 < min {
        format!("({})", t.0)
    } else {
        t.0.clone()
    }
}

/// A number as the language writes it (`2`, `0.5`, `-0`, `1e-7`).
pub fn number(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.into()
    } else if v == 0.0 && v.is_sign_negative() {
        "-0".into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:?}")
    }
}

fn constant(v: &[f64], shape: Shape) -> (String, u8) {
    if v.len() == 1 && shape.is_scalar() {
        let s = number(v[0]);
        let prec = if s.starts_with('-') { PREFIX } else { ATOM };
        return (s, prec);
    }
    let list = |xs: &[f64]| xs.iter().map(|&x| number(x)).collect::<Vec<_>>().join(", ");
    if v.len() > INLINE_CONST {
        return (format!("[{}, … ({} values)]", list(&v[..4]), v.len()), ATOM);
    }
    match shape.dims() {
        [_, n] => {
            let rows: Vec<String> = v.chunks(*n as usize).map(|r| format!("[{}]", list(r))).collect();
            (format!("[{}]", rows.join(", ")), ATOM)
        }
        _ => (format!("[{}]", list(v)), ATOM),
    }
}

fn shape_text(s: Shape) -> String {
    format!("{s}")
}

/// The name of an input: a slot, part of a slot, or the raw buffer.
fn input(buf: InputBuf, offset: usize, shape: Shape, names: &InfixNames) -> String {
    let (slots, raw) = match buf {
        InputBuf::Time => return "t".into(),
        InputBuf::State => (&names.states, "state"),
        InputBuf::Param => (&names.params, "param"),
    };
    let len = shape.len();
    let range = |name: &str, a: usize, n: usize| {
        if n == 1 && shape.is_scalar() {
            format!("{name}[{a}]")
        } else {
            format!("{name}[{a}:{}]", a + n)
        }
    };
    for s in slots {
        if offset == s.offset && len == s.shape.len() {
            return if shape == s.shape || s.shape.is_scalar() {
                s.name.clone()
            } else {
                format!("reshape({}, {})", s.name, shape_text(shape))
            };
        }
        if offset >= s.offset && offset + len <= s.offset + s.shape.len() && s.shape.rank() == 1 {
            return range(&s.name, offset - s.offset, len);
        }
    }
    range(raw, offset, len)
}

fn render(f: &Function, id: ValueId, names: &InfixNames, text: &[(String, u8)]) -> (String, u8) {
    let node = f.node(id);
    let t = |v: ValueId| &text[v.index()];
    // Inside an elementwise op a broadcast scalar prints as the scalar.
    let elem = |v: ValueId| match &f.node(v).op {
        Op::Broadcast(s) if text[v.index()].0.starts_with("broadcast(") => &text[s.index()],
        _ => &text[v.index()],
    };
    match &node.op {
        Op::Input { buf, offset } => (input(*buf, *offset as usize, node.shape, names), ATOM),
        Op::Const(v) => constant(v, node.shape),
        Op::Unary(UnaryOp::Neg, a) => (format!("-{}", wrap(t(*a), POWER)), PREFIX),
        Op::Unary(UnaryOp::Powi(n), a) => (format!("{}^{n}", wrap(t(*a), ATOM)), POWER),
        Op::Unary(u, a) => (format!("{}({})", unary_name(*u), t(*a).0), ATOM),
        Op::Binary(op, a, b) => {
            let (sym, prec) = match op {
                BinaryOp::Add => ("+", SUM),
                BinaryOp::Sub => ("-", SUM),
                BinaryOp::Mul => ("*", PRODUCT),
                BinaryOp::Div => ("/", PRODUCT),
                BinaryOp::Pow => {
                    return (format!("{}^{}", wrap(elem(*a), ATOM), wrap(elem(*b), PREFIX)), POWER);
                }
                BinaryOp::Min | BinaryOp::Max => {
                    let name = if *op == BinaryOp::Min { "min" } else { "max" };
                    return (format!("{name}({}, {})", elem(*a).0, elem(*b).0), ATOM);
                }
            };
            (format!("{} {sym} {}", wrap(elem(*a), prec), wrap(elem(*b), prec + 1)), prec)
        }
        Op::MatMul(a, b) => (format!("{} @ {}", wrap(t(*a), PRODUCT), wrap(t(*b), PREFIX)), PRODUCT),
        Op::Transpose(a) => (format!("{}'", wrap(t(*a), ATOM)), ATOM),
        Op::Sum(a) => (format!("sum({})", t(*a).0), ATOM),
        Op::Broadcast(a) => (format!("broadcast({}, {})", t(*a).0, shape_text(node.shape)), ATOM),
        Op::Reshape(a) => (format!("reshape({}, {})", t(*a).0, shape_text(node.shape)), ATOM),
        Op::Index { arg, axis, index } => {
            let pos = match (f.shape(*arg).rank(), axis) {
                (1, _) => format!("{index}"),
                (_, 0) => format!("{index}, :"),
                _ => format!(":, {index}"),
            };
            (format!("{}[{pos}]", wrap(t(*arg), ATOM)), ATOM)
        }
        Op::Slice { arg, axis, start } => {
            let end = *start as usize + node.shape.dims().get(*axis as usize).copied().unwrap_or(0) as usize;
            let range = format!("{start}:{end}");
            let pos = match (f.shape(*arg).rank(), axis) {
                (1, _) => range,
                (_, 0) => format!("{range}, :"),
                _ => format!(":, {range}"),
            };
            (format!("{}[{pos}]", wrap(t(*arg), ATOM)), ATOM)
        }
        Op::Concat { args, axis } => {
            // `[a, b]` when every part is a scalar made into a length-1 vector.
            let scalars: Option<Vec<&str>> = args
                .iter()
                .map(|&a| match &f.node(a).op {
                    Op::Reshape(s) if f.shape(*s).is_scalar() && text[a.index()].0.starts_with("reshape(") => {
                        Some(text[s.index()].0.as_str())
                    }
                    _ => None,
                })
                .collect();
            if let (Some(parts), 0) = (scalars, axis) {
                return (format!("[{}]", parts.join(", ")), ATOM);
            }
            let parts: Vec<&str> = args.iter().map(|&a| t(a).0.as_str()).collect();
            let axis = if *axis == 0 { String::new() } else { format!(", axis = {axis}") };
            (format!("concat({}{axis})", parts.join(", ")), ATOM)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Builder;

    fn slot(name: &str, shape: Shape, offset: usize) -> Slot {
        Slot { name: name.into(), shape, offset }
    }

    #[test]
    fn shared_nodes_get_lets_and_inputs_get_slot_names() {
        let mut b = Builder::new("f", 2, 6);
        let y = b.state(0, Shape::vector(2));
        let w = b.param(0, Shape::matrix(2, 2));
        let c = b.param(4, Shape::vector(2));
        let m = b.matmul(w, y);
        let s = b.binary(BinaryOp::Add, m, c);
        let h = b.unary(UnaryOp::Tanh, s);
        let sq = b.unary(UnaryOp::Powi(2), h);
        let one = b.scalar(1.0);
        let d = b.binary(BinaryOp::Sub, one, sq);
        let n = b.unary(UnaryOp::Neg, d);
        b.output(h);
        b.output(n);
        let f = b.finish();
        let names = InfixNames {
            states: vec![slot("y", Shape::vector(2), 0)],
            params: vec![slot("W", Shape::matrix(2, 2), 0), slot("b", Shape::vector(2), 4)],
            outputs: vec!["dy/dt".into()],
        };
        assert_eq!(print_infix(&f, &names), "h1 = tanh(W @ y + b)\ndy/dt = h1\nout[1] = -(1 - h1^2)\n");
    }

    #[test]
    fn precedence_and_structure() {
        let mut b = Builder::new("f", 3, 0);
        let y = b.state(0, Shape::vector(3));
        let y0 = b.index(y, 0, 0);
        let two = b.scalar(-2.0);
        let p = b.binary(BinaryOp::Mul, y0, two);
        let s = b.binary(BinaryOp::Sub, y0, p);
        let q = b.binary(BinaryOp::Sub, y0, s);
        let r = b.reshape(q, Shape::vector(1));
        let sl = b.slice(y, 0, 1, 2);
        let cat = b.concat(vec![r, sl], 0);
        let e = b.binary(BinaryOp::Pow, cat, y);
        b.output(e);
        let f = b.finish();
        let names = InfixNames { states: vec![slot("u", Shape::vector(3), 0)], ..Default::default() };
        assert_eq!(print_infix(&f, &names), "concat(reshape(u[0] - (u[0] - u[0] * -2), [1]), u[1:3])^u\n");
    }
}
