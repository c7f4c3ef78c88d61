//! The AST as text, for `nde emit ast` and snapshot tests: one line per item
//! or member, indented, with expressions as S-expressions that make
//! precedence visible. Items and members end with their byte span
//! (`@start..end`), so snapshots also pin the spans.
//!
//! The output is deterministic and depends on nothing but the AST. This
//! module only formats; it never checks or changes the tree.
//!
//! ```
//! use nde_compiler::{span::FileId, syntax};
//!
//! let text = "model lorenz {\n  param sigma = 10.0\n  state x = 1.0\n  dx/dt = sigma * (y - x)\n}\n";
//! let module = syntax::parse(text, FileId(0)).expect("parses");
//! assert_eq!(
//!     syntax::print::print_module(&module),
//!     "model lorenz  @0..79\n  \
//!        param sigma = 10.0  @23..35\n  \
//!        state x = 1.0  @44..51\n  \
//!        dx/dt = (* sigma (- y x))  @54..77\n"
//! );
//! ```

use super::ast::*;
use crate::span::Span;
use std::fmt::Write;

/// Prints a module; see the module documentation for the format.
pub fn print_module(m: &Module) -> String {
    let mut out = String::new();
    for item in &m.items {
        print_item(&mut out, item);
    }
    out
}

/// Prints one expression as an S-expression, e.g. `(+ a (* b c))`.
pub fn print_expr(e: &Expr) -> String {
    let mut out = String::new();
    expr(&mut out, e);
    out
}

fn span_suffix(span: Span) -> String {
    format!("  @{}..{}", span.start, span.end)
}

fn names(list: &[Ident]) -> String {
    list.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
}

fn shape(s: &Option<ShapeAnn>) -> String {
    match s {
        Some(s) => {
            let dims: Vec<String> = s
                .dims
                .iter()
                .map(|d| match d {
                    Dim::Size(n) => n.to_string(),
                    Dim::Name(id) => id.name.clone(),
                })
                .collect();
            format!(": [{}]", dims.join(", "))
        }
        None => String::new(),
    }
}

fn print_item(out: &mut String, item: &Item) {
    let (line, span) = match item {
        Item::Use(u) => {
            let from = match &u.path {
                UsePath::Module(segments) => segments.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join("."),
                UsePath::File { path, .. } => format!("{path:?}"),
            };
            (format!("use {from}.{{{}}}", names(&u.names)), u.span)
        }
        Item::Const(c) => (format!("const {}{} = {}", c.name.name, shape(&c.shape), print_expr(&c.value)), c.span),
        Item::Fn(f) => (format!("fn {}({}) = {}", f.name.name, names(&f.params), print_expr(&f.body)), f.span),
        Item::Model(m) => {
            let calculus = if m.stratonovich.is_some() { " stratonovich" } else { "" };
            let template = match &m.template {
                None => String::new(),
                Some(params) => {
                    let ps: Vec<String> = params
                        .iter()
                        .map(|p| match &p.default {
                            None => p.name.name.clone(),
                            Some(d) => format!("{} = {}", p.name.name, print_expr(d)),
                        })
                        .collect();
                    format!("({})", ps.join(", "))
                }
            };
            let _ = writeln!(out, "model {}{template}{calculus}{}", m.name.name, span_suffix(m.span));
            for member in &m.members {
                let _ = writeln!(out, "  {}", print_member(member));
            }
            return;
        }
        Item::Data(d) => (format!("data {} = {}", d.name.name, print_expr(&d.source)), d.span),
        Item::Loss(l) => {
            let _ = writeln!(out, "loss {}{}", l.name.name, span_suffix(l.span));
            for x in &l.lets {
                let _ = writeln!(out, "  let {} = {}{}", x.name.name, print_expr(&x.value), span_suffix(x.span));
            }
            let _ = writeln!(out, "  value {}{}", print_expr(&l.value), span_suffix(l.value.span));
            return;
        }
        Item::Train(t) => {
            let _ = writeln!(out, "train {}{}", t.loss.name, span_suffix(t.span));
            for o in &t.options {
                let _ = writeln!(out, "  {} = {}{}", o.name.name, print_expr(&o.value), span_suffix(o.span));
            }
            return;
        }
        Item::Instance(i) => {
            let mut line = format!("model {} = {}", i.name.name, i.template.name);
            for a in &i.args {
                line.push(' ');
                arg(&mut line, a);
            }
            (line, i.span)
        }
        Item::Solver(s) => {
            let mut line = format!("solver {} = {}", s.name.name, s.method.name);
            for a in &s.args {
                line.push(' ');
                arg(&mut line, a);
            }
            (line, s.span)
        }
    };
    let _ = writeln!(out, "{line}{}", span_suffix(span));
}

fn print_member(member: &Member) -> String {
    let (line, span) = match member {
        Member::Param { name, shape: s, init, span } => {
            (format!("param {}{} = {}", name.name, shape(s), print_expr(init)), *span)
        }
        Member::State { name, shape: s, init, span } => {
            (format!("state {}{} = {}", name.name, shape(s), print_expr(init)), *span)
        }
        Member::Net { name, layer, span } => (format!("net {} = {}", name.name, print_expr(layer)), *span),
        Member::Let { name, value, span } => (format!("let {} = {}", name.name, print_expr(value)), *span),
        Member::Ode { state, rhs, span } => (format!("d{}/dt = {}", state.name, print_expr(rhs)), *span),
        Member::Noise { name, shape: s, span } => (format!("noise {}{}", name.name, shape(&Some(s.clone()))), *span),
        Member::Input { name, source, span } => (format!("input {} = {}", name.name, print_expr(source)), *span),
        Member::Output { name, value, span } => (format!("output {} = {}", name.name, print_expr(value)), *span),
        Member::Sde { state, terms, span } => {
            let mut line = format!("d{} =", state.name);
            for (i, t) in terms.iter().enumerate() {
                let sign = match (i, t.negate) {
                    (_, true) => " - ",
                    (0, false) => " ",
                    _ => " + ",
                };
                let at = if t.matmul { "@ " } else { "" };
                let _ = write!(line, "{sign}{} {at}{}", print_expr(&t.coef), t.differential.name);
            }
            (line, *span)
        }
    };
    line + &span_suffix(span)
}

fn arg(out: &mut String, a: &Arg) {
    match &a.name {
        Some(name) => {
            let _ = write!(out, "(= {} ", name.name);
            expr(out, &a.value);
            out.push(')');
        }
        None => expr(out, &a.value),
    }
}

/// `(head a b ...)`
fn list<'e>(out: &mut String, head: &str, items: impl IntoIterator<Item = &'e Expr>) {
    out.push('(');
    out.push_str(head);
    for e in items {
        out.push(' ');
        expr(out, e);
    }
    out.push(')');
}

fn expr(out: &mut String, e: &Expr) {
    match &e.kind {
        ExprKind::Number(v) => {
            let _ = write!(out, "{v:?}");
        }
        ExprKind::Str(s) => {
            let _ = write!(out, "{s:?}");
        }
        ExprKind::Name(n) => out.push_str(n),
        ExprKind::Unary(op, x) => {
            let head = match op {
                UnaryOp::Neg => "neg",
                UnaryOp::Plus => "pos",
            };
            list(out, head, [x.as_ref()]);
        }
        ExprKind::Binary(op, l, r) => {
            let head = match op {
                BinaryOp::Add => "+",
                BinaryOp::Sub => "-",
                BinaryOp::Mul => "*",
                BinaryOp::Div => "/",
                BinaryOp::Pow => "^",
                BinaryOp::MatMul => "@",
            };
            list(out, head, [l.as_ref(), r.as_ref()]);
        }
        ExprKind::Transpose(x) => list(out, "transpose", [x.as_ref()]),
        ExprKind::Call { callee, args } => {
            out.push_str("(call ");
            expr(out, callee);
            for a in args {
                out.push(' ');
                arg(out, a);
            }
            out.push(')');
        }
        ExprKind::Index { base, indices } => {
            out.push_str("(index ");
            expr(out, base);
            for i in indices {
                out.push(' ');
                match i {
                    IndexArg::Single(x) => expr(out, x),
                    IndexArg::Slice { start, stop, .. } => {
                        out.push_str("(:");
                        for bound in [start, stop] {
                            out.push(' ');
                            match bound {
                                Some(x) => expr(out, x),
                                None => out.push('_'),
                            }
                        }
                        out.push(')');
                    }
                }
            }
            out.push(')');
        }
        ExprKind::Field { base, name } => {
            out.push_str("(. ");
            expr(out, base);
            let _ = write!(out, " {})", name.name);
        }
        ExprKind::Array(items) => list(out, "array", items),
        ExprKind::Arrow(parts) => list(out, "->", parts),
    }
}
