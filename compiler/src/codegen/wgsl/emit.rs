//! The body of one generated WGSL function: nodes in topological order,
//! each either an index view of its operand or a materialised value.
//!
//! Never: reorder reductions (sums run left to right from the first term,
//! as in the interpreter) or evaluate a node no output needs.

use std::fmt::Write;

use super::{Precision, WgslError, PARAM_BUFFER};
use crate::ir::{BinaryOp, Function, InputBuf, Op, UnaryOp, ValueId};

/// An index into a flat (row-major) tensor: a constant or a `u32` expression.
#[derive(Clone, Debug)]
enum Ix {
    C(u64),
    E(String),
}

impl Ix {
    fn text(&self) -> String {
        match self {
            Ix::C(c) => format!("{c}u"),
            Ix::E(e) => e.clone(),
        }
    }
    fn add(&self, k: u64) -> Ix {
        match self {
            Ix::C(c) => Ix::C(c + k),
            Ix::E(e) if k == 0 => Ix::E(e.clone()),
            Ix::E(e) => Ix::E(format!("({e} + {k}u)")),
        }
    }
    fn mul(&self, k: u64) -> Ix {
        match self {
            Ix::C(c) => Ix::C(c * k),
            Ix::E(e) if k == 1 => Ix::E(e.clone()),
            Ix::E(e) => Ix::E(format!("({e} * {k}u)")),
        }
    }
    fn div(&self, k: u64) -> Ix {
        match self {
            Ix::C(c) => Ix::C(c / k),
            Ix::E(e) if k == 1 => Ix::E(e.clone()),
            Ix::E(e) => Ix::E(format!("({e} / {k}u)")),
        }
    }
    fn rem(&self, k: u64) -> Ix {
        match self {
            Ix::C(c) => Ix::C(c % k),
            Ix::E(_) if k == 1 => Ix::C(0),
            Ix::E(e) => Ix::E(format!("({e} % {k}u)")),
        }
    }
    fn plus(&self, other: &Ix) -> Ix {
        match (self, other) {
            (Ix::C(a), Ix::C(b)) => Ix::C(a + b),
            (Ix::C(0), x) | (x, Ix::C(0)) => x.clone(),
            (a, b) => Ix::E(format!("({} + {})", a.text(), b.text())),
        }
    }
}

pub(super) struct Emitter<'a> {
    f: &'a Function,
    name: &'a str,
    p: Precision,
    live: Vec<bool>,
    /// Module-scope declarations (tensor constants).
    globals: String,
    body: String,
}

impl<'a> Emitter<'a> {
    pub fn new(f: &'a Function, name: &'a str, p: Precision) -> Self {
        let mut live = vec![false; f.nodes.len()];
        for &o in &f.outputs {
            live[o.index()] = true;
        }
        for i in (0..f.nodes.len()).rev() {
            if live[i] {
                for a in f.nodes[i].op.args() {
                    live[a.index()] = true;
                }
            }
        }
        Emitter { f, name, p, live, globals: String::new(), body: String::new() }
    }

    fn len(&self, id: ValueId) -> u64 {
        self.f.shape(id).len() as u64
    }

    /// Materialised nodes of one element are `let` scalars.
    fn is_scalar(&self, id: ValueId) -> bool {
        self.len(id) == 1
    }

    pub fn emit(mut self) -> Result<String, WgslError> {
        let t = self.p.ty();
        for i in 0..self.f.nodes.len() {
            if self.live[i] {
                self.node(ValueId(i as u32))?;
            }
        }
        let mut at = 0u64;
        for &o in &self.f.outputs.clone() {
            let len = self.len(o);
            self.fill(&format!("(*out)[{}]", "{I}"), len, |e, i| e.elem(o, &i), Some(at));
            at += len;
        }
        let ns = self.f.n_state.max(1);
        let no = self.f.output_len().max(1);
        let mut s = self.globals;
        let _ = writeln!(
            s,
            "fn {}(t: {t}, y: ptr<function, array<{t}, {ns}>>, out: ptr<function, array<{t}, {no}>>) {{",
            self.name
        );
        s.push_str(&self.body);
        s.push_str("}\n\n");
        Ok(s)
    }

    /// The value of element `i` of node `id` (flat, row-major).
    fn elem(&self, id: ValueId, i: &Ix) -> String {
        let node = self.f.node(id);
        match &node.op {
            Op::Input { buf: InputBuf::Time, .. } => "t".into(),
            Op::Input { buf: InputBuf::State, offset } => format!("(*y)[{}]", i.add(u64::from(*offset)).text()),
            Op::Input { buf: InputBuf::Param, offset } => {
                format!("{PARAM_BUFFER}[{}]", i.add(u64::from(*offset)).text())
            }
            Op::Const(v) if v.len() == 1 => self.p.lit(v[0]),
            Op::Const(_) => format!("{}_c{}[{}]", self.name, id.0, i.text()),
            Op::Broadcast(a) => self.elem(*a, &Ix::C(0)),
            Op::Reshape(a) => self.elem(*a, i),
            Op::Transpose(a) => {
                let s = self.f.shape(*a);
                if s.rank() < 2 {
                    return self.elem(*a, i);
                }
                // Node [n, m] from operand [m, n]: node (j, r) = operand (r, j).
                let (m, n) = (s.dim(0) as u64, s.dim(1) as u64);
                let (j, r) = (i.div(m), i.rem(m));
                self.elem(*a, &r.mul(n).plus(&j))
            }
            Op::Slice { arg, axis, start } => {
                let s = self.f.shape(*arg);
                let start = u64::from(*start);
                if s.rank() == 1 || *axis == 0 {
                    let cols = if s.rank() == 2 { s.dim(1) as u64 } else { 1 };
                    self.elem(*arg, &i.add(start * cols))
                } else {
                    let (cols, len) = (s.dim(1) as u64, node.shape.dim(1) as u64);
                    self.elem(*arg, &i.div(len).mul(cols).plus(&i.rem(len).add(start)))
                }
            }
            Op::Index { arg, axis, index } => {
                let s = self.f.shape(*arg);
                let k = u64::from(*index);
                if s.rank() == 1 {
                    self.elem(*arg, &Ix::C(k))
                } else if *axis == 0 {
                    self.elem(*arg, &i.add(k * s.dim(1) as u64))
                } else {
                    self.elem(*arg, &i.mul(s.dim(1) as u64).add(k))
                }
            }
            _ if self.is_scalar(id) => format!("v{}", id.0),
            _ => format!("{}[{}]", self.array(id), i.text()),
        }
    }

    /// Writes `len` elements with `value(i)` into `target` (with `{I}` the
    /// index), at offset `at` when given; a loop unless `len == 1`.
    fn fill(&mut self, target: &str, len: u64, value: impl Fn(&Self, Ix) -> String, at: Option<u64>) {
        let base = at.unwrap_or(0);
        if len == 1 {
            let v = value(self, Ix::C(0));
            let _ = writeln!(self.body, "  {} = {v};", target.replace("{I}", &format!("{base}u")));
            return;
        }
        let var = "i";
        let v = value(self, Ix::E(var.into()));
        let idx = Ix::E(var.into()).add(base).text();
        let _ = writeln!(
            self.body,
            "  for (var {var} = 0u; {var} < {len}u; {var}++) {{ {} = {v}; }}",
            target.replace("{I}", &idx)
        );
    }

    /// The module-scope array of a materialised tensor node.
    fn array(&self, id: ValueId) -> String {
        format!("{}_v{}", self.name, id.0)
    }

    /// Tensors live in module-scope `private` arrays (one per invocation,
    /// shared by every call of the function), not function locals: a
    /// driver that inlines each call (every solver stage) would otherwise
    /// give each inlined copy its own stack arrays, and lavapipe's
    /// per-invocation stack overflows on a 64-wide MLP.
    fn declare_array(&mut self, id: ValueId) {
        let _ = writeln!(self.globals, "var<private> {}: array<{}, {}>;", self.array(id), self.p.ty(), self.len(id));
    }

    /// Declares the storage of a materialised node and fills it.
    fn define(&mut self, id: ValueId, value: impl Fn(&Self, Ix) -> String) {
        let t = self.p.ty();
        let len = self.len(id);
        if len == 1 {
            let v = value(self, Ix::C(0));
            let _ = writeln!(self.body, "  let v{}: {t} = {v};", id.0);
        } else {
            self.declare_array(id);
            self.fill(&format!("{}[{{I}}]", self.array(id)), len, value, None);
        }
    }

    fn node(&mut self, id: ValueId) -> Result<(), WgslError> {
        let node = self.f.node(id);
        match &node.op {
            Op::Input { .. }
            | Op::Broadcast(_)
            | Op::Reshape(_)
            | Op::Transpose(_)
            | Op::Slice { .. }
            | Op::Index { .. } => {}
            Op::Const(v) => {
                if v.len() == 1 {
                    self.p.literal(v[0])?;
                } else {
                    let items: Vec<String> = v.iter().map(|&x| self.p.literal(x)).collect::<Result<_, _>>()?;
                    // Module scope: named after the function, so names stay unique.
                    let (t, n) = (self.p.ty(), v.len());
                    let _ = writeln!(
                        self.globals,
                        "var<private> {}_c{}: array<{t}, {n}> = array<{t}, {n}>({});",
                        self.name,
                        id.0,
                        items.join(", ")
                    );
                }
            }
            Op::Unary(u, a) => {
                let (u, a) = (*u, *a);
                self.define(id, |e, i| unary(u, &e.elem(a, &i), e.p));
            }
            Op::Binary(b, x, z) => {
                let (b, x, z) = (*b, *x, *z);
                self.define(id, |e, i| binary(b, &e.elem(x, &i), &e.elem(z, &i)));
            }
            Op::MatMul(a, b) => self.matmul(id, *a, *b),
            Op::Sum(a) => {
                // Written out left to right from the first term (no
                // accumulator loop: see `matmul`).
                let a = *a;
                let n = self.len(a);
                let t = self.p.ty();
                let sum = if n == 0 {
                    self.p.lit(0.0)
                } else {
                    (0..n).map(|q| self.elem(a, &Ix::C(q))).collect::<Vec<_>>().join(" + ")
                };
                let _ = writeln!(self.body, "  let v{}: {t} = {sum};", id.0);
            }
            Op::Concat { args, axis } => {
                let t = self.p.ty();
                let len = self.len(id);
                let target = if len == 1 { format!("s{}", id.0) } else { self.array(id) };
                if len == 1 {
                    let _ = writeln!(self.body, "  var s{}: {t};", id.0);
                } else {
                    self.declare_array(id);
                }
                let shape = node.shape;
                let args = args.clone();
                if *axis == 0 || shape.rank() < 2 {
                    let mut at = 0;
                    for a in args {
                        let l = self.len(a);
                        let tgt = if len == 1 { target.clone() } else { format!("{target}[{{I}}]") };
                        self.fill(&tgt, l, |e, i| e.elem(a, &i), Some(at));
                        at += l;
                    }
                } else {
                    let (rows, cols) = (shape.dim(0) as u64, shape.dim(1) as u64);
                    let mut at = 0;
                    for a in args {
                        let c = self.f.shape(a).dim(1) as u64;
                        let v = self.elem(a, &Ix::E("(r * ".to_string() + &c.to_string() + "u + j)"));
                        let _ = writeln!(
                            self.body,
                            "  for (var r = 0u; r < {rows}u; r++) {{ for (var j = 0u; j < {c}u; j++) {{ {target}[r * {cols}u + {at}u + j] = {v}; }} }}"
                        );
                        at += c;
                    }
                }
                if len == 1 {
                    let _ = writeln!(self.body, "  let v{0}: {t} = s{0};", id.0);
                }
            }
        }
        Ok(())
    }

    /// `[m,k]@[k,n]` with vectors promoted (`[k]` on the left is `[1,k]`,
    /// on the right `[k,1]`); each entry summed left to right from `a₀b₀`.
    fn matmul(&mut self, id: ValueId, a: ValueId, b: ValueId) {
        let (sa, sb) = (self.f.shape(a), self.f.shape(b));
        let (m, k) = if sa.rank() == 2 { (sa.dim(0) as u64, sa.dim(1) as u64) } else { (1, sa.dim(0) as u64) };
        let n = if sb.rank() == 2 { sb.dim(1) as u64 } else { 1 };
        let t = self.p.ty();
        let (ri, ci) = (Ix::E("r".into()), Ix::E("c".into()));
        let entry =
            |e: &Self, kk: &Ix| format!("{} * {}", e.elem(a, &ri.mul(k).plus(kk)), e.elem(b, &kk.mul(n).plus(&ci)));
        // Each entry is one left-to-right sum `a₀b₀ + a₁b₁ + …` written out
        // (WGSL's `+` associates to the left), inside loops over rows and
        // columns only: fewer nested loops, and nothing for a driver to
        // unroll or get wrong.
        let sum = if k == 0 {
            self.p.lit(0.0)
        } else {
            (0..k).map(|kk| entry(self, &Ix::C(kk))).collect::<Vec<_>>().join(" + ")
        };
        let len = m * n;
        let s = format!("s{}", id.0);
        let target = if len == 1 { s.clone() } else { format!("{}[r * {n}u + c]", self.array(id)) };
        if len == 1 {
            let _ = writeln!(self.body, "  var {s}: {t};");
        } else {
            self.declare_array(id);
        }
        let _ = writeln!(
            self.body,
            "  for (var r = 0u; r < {m}u; r++) {{ for (var c = 0u; c < {n}u; c++) {{\n    {target} = {sum};\n  }} }}"
        );
        if len == 1 {
            let _ = writeln!(self.body, "  let v{0}: {t} = {s};", id.0);
        }
    }
}

/// One element of a unary op; the helpers are the prelude's.
fn unary(op: UnaryOp, x: &str, p: Precision) -> String {
    let call = |f: &str| format!("{f}({x})");
    match op {
        UnaryOp::Neg => format!("(-{x})"),
        UnaryOp::Exp => call("nde_exp"),
        UnaryOp::Log => call("nde_log"),
        UnaryOp::Sin => call("nde_sin"),
        UnaryOp::Cos => call("nde_cos"),
        UnaryOp::Tan => call("nde_tan"),
        UnaryOp::Tanh => call("nde_tanh"),
        UnaryOp::Sqrt => call("sqrt"),
        UnaryOp::Abs => call("abs"),
        UnaryOp::Relu => call("nde_relu"),
        UnaryOp::Sigmoid => call("nde_sigmoid"),
        UnaryOp::Softplus => call("nde_softplus"),
        UnaryOp::Gelu => call("nde_gelu"),
        UnaryOp::Elu => call("nde_elu"),
        UnaryOp::Step => call("nde_step"),
        UnaryOp::Powi(n) => powi(x, n, p),
    }
}

/// `x^n` by the interpreter's square-and-multiply order, inline.
fn powi(x: &str, n: i32, p: Precision) -> String {
    let mut e = n.unsigned_abs();
    if e == 0 {
        return p.lit(1.0);
    }
    let t = p.ty();
    // A call of a local closure would need a helper per exponent; a chain
    // of `let`s inside a function expression is not WGSL, so spell the
    // product out with the squares as nested expressions.
    let mut base = format!("{t}({x})");
    let mut acc: Option<String> = None;
    loop {
        if e & 1 == 1 {
            acc = Some(match acc {
                None => base.clone(),
                Some(a) => format!("({a} * {base})"),
            });
        }
        e >>= 1;
        if e == 0 {
            break;
        }
        base = format!("({base} * {base})");
    }
    let r = acc.unwrap_or_else(|| p.lit(1.0));
    if n < 0 {
        format!("({} / {r})", p.lit(1.0))
    } else {
        r
    }
}

fn binary(op: BinaryOp, a: &str, b: &str) -> String {
    match op {
        BinaryOp::Add => format!("({a} + {b})"),
        BinaryOp::Sub => format!("({a} - {b})"),
        BinaryOp::Mul => format!("({a} * {b})"),
        BinaryOp::Div => format!("({a} / {b})"),
        BinaryOp::Pow => format!("nde_pow({a}, {b})"),
        BinaryOp::Min => format!("nde_min({a}, {b})"),
        BinaryOp::Max => format!("nde_max({a}, {b})"),
    }
}
