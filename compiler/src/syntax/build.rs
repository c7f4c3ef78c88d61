//! Pest pairs -> AST. Runs only on text the grammar accepted; what it can
//! still reject is literal contents (numbers, shape dimensions, string
//! escapes; see `literal`) and expressions nested beyond
//! [`MAX_EXPR_DEPTH`]. Every node gets the span of the text it came from.
//!
//! Pairs the grammar makes only for error reporting (keywords, punctuation)
//! are skipped by [`parts`].

use super::ast::*;
use super::grammar::Rule;
use super::{codes, literal};
use crate::diag::Diagnostic;
use crate::span::{FileId, Span};

type Pair<'i> = pest::iterators::Pair<'i, Rule>;

/// The deepest expression tree the parser builds. Later stages walk
/// expressions recursively; this bound keeps them within a thread's stack.
pub const MAX_EXPR_DEPTH: u32 = 500;

/// The children of a pair that carry meaning: keywords and punctuation
/// dropped.
fn parts(pair: Pair<'_>) -> impl Iterator<Item = Pair<'_>> {
    pair.into_inner().filter(|p| {
        !matches!(
            p.as_rule(),
            Rule::assign
                | Rule::colon
                | Rule::comma
                | Rule::dot
                | Rule::lparen
                | Rule::rparen
                | Rule::lbrack
                | Rule::rbrack
                | Rule::lbrace
                | Rule::rbrace
                | Rule::arrow_op
                | Rule::kw_model
                | Rule::kw_param
                | Rule::kw_state
                | Rule::kw_net
                | Rule::kw_let
                | Rule::kw_const
                | Rule::kw_fn
                | Rule::kw_use
                | Rule::kw_solver
                | Rule::kw_data
                | Rule::kw_loss
                | Rule::kw_train
                | Rule::kw_noise
                | Rule::kw_input
                | Rule::kw_output
                | Rule::EOI
        )
    })
}

/// An expression and the depth of its tree (a leaf is 1).
struct Node {
    expr: Expr,
    depth: u32,
}

/// Builds the AST from the pair of the `module` rule.
pub(super) fn module(pair: Pair<'_>, file: FileId, text_len: usize) -> Result<Module, Diagnostic> {
    let b = Builder { file };
    let items = parts(pair).map(|p| b.item(p)).collect::<Result<_, _>>()?;
    Ok(Module { items, span: Span::new(file, 0, text_len) })
}

struct Builder {
    file: FileId,
}

/// The next meaningful child; the grammar guarantees it exists.
fn next<'i>(it: &mut impl Iterator<Item = Pair<'i>>, what: &str) -> Pair<'i> {
    match it.next() {
        Some(p) => p,
        // Unreachable for any text the grammar accepts.
        None => panic!("grammar and AST builder disagree: missing {what}"),
    }
}

impl Builder {
    fn span(&self, pair: &Pair<'_>) -> Span {
        let s = pair.as_span();
        Span::new(self.file, s.start(), s.end())
    }

    /// From the start of `pair` to the end of `last`. pest counts the
    /// whitespace after a rule's last token as part of the rule when an
    /// optional part could have followed, so spans of rules that end in an
    /// expression are closed with the expression's own (exact) span.
    fn until(&self, pair: Span, last: Span) -> Span {
        Span { end: last.end, ..pair }
    }

    fn ident(&self, pair: Pair<'_>) -> Ident {
        Ident { name: pair.as_str().to_string(), span: self.span(&pair) }
    }

    fn item(&self, pair: Pair<'_>) -> Result<Item, Diagnostic> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut it = parts(pair);
        Ok(match rule {
            Rule::use_item => Item::Use(self.use_item(next(&mut it, "use path"), span)?),
            Rule::const_item => {
                let name = self.ident(next(&mut it, "const name"));
                let mut value = next(&mut it, "const value");
                let mut shape = None;
                if value.as_rule() == Rule::shape {
                    shape = Some(self.shape(value)?);
                    value = next(&mut it, "const value");
                }
                let value = self.expr(value)?.expr;
                Item::Const(ConstItem { name, shape, span: self.until(span, value.span), value })
            }
            Rule::fn_item => {
                let name = self.ident(next(&mut it, "fn name"));
                let params = parts(next(&mut it, "fn params")).map(|p| self.ident(p)).collect();
                let body = self.expr(next(&mut it, "fn body"))?.expr;
                Item::Fn(FnItem { name, params, span: self.until(span, body.span), body })
            }
            Rule::model_item => {
                let name = self.ident(next(&mut it, "model name"));
                let mut members = Vec::new();
                let mut stratonovich = None;
                let mut template = None;
                for m in it {
                    match m.as_rule() {
                        Rule::model_calculus => stratonovich = Some(self.span(&m)),
                        Rule::template_params => template = Some(self.template_params(m)?),
                        _ => self.members(m, &mut members)?,
                    }
                }
                Item::Model(ModelItem { name, template, stratonovich, members, span })
            }
            Rule::instance_item => {
                let name = self.ident(next(&mut it, "model name"));
                let template = self.ident(next(&mut it, "template name"));
                let (args, _) = self.call_args(next(&mut it, "template args"))?;
                Item::Instance(InstanceItem { name, template, args, span })
            }
            Rule::solver_item => {
                let name = self.ident(next(&mut it, "solver name"));
                let method = self.ident(next(&mut it, "solver method"));
                let (args, _) = self.call_args(next(&mut it, "solver args"))?;
                Item::Solver(SolverItem { name, method, args, span })
            }
            Rule::data_item => {
                let name = self.ident(next(&mut it, "data name"));
                let source = self.expr(next(&mut it, "data source"))?.expr;
                Item::Data(DataItem { name, span: self.until(span, source.span), source })
            }
            Rule::loss_item => {
                let name = self.ident(next(&mut it, "loss name"));
                let body = next(&mut it, "loss body");
                if body.as_rule() != Rule::loss_body {
                    let value = self.expr(body)?.expr;
                    return Ok(Item::Loss(LossItem {
                        name,
                        lets: Vec::new(),
                        span: self.until(span, value.span),
                        value,
                    }));
                }
                let mut lets = Vec::new();
                let mut value = None;
                for p in parts(body) {
                    if p.as_rule() == Rule::loss_let {
                        let mut l = parts(p);
                        let name = self.ident(next(&mut l, "let name"));
                        let value = self.expr(next(&mut l, "let value"))?.expr;
                        lets.push(LossLet { span: name.span.to(value.span), name, value });
                    } else {
                        value = Some(self.expr(p)?.expr);
                    }
                }
                let value = value.expect("a loss body ends with its value");
                Item::Loss(LossItem { name, lets, value, span })
            }
            Rule::train_item => {
                let loss = self.ident(next(&mut it, "train loss"));
                let mut options = Vec::new();
                for p in it {
                    let mut o = parts(p);
                    let name = self.ident(next(&mut o, "option name"));
                    let v = next(&mut o, "option value");
                    let value = if v.as_rule() == Rule::option_word {
                        Expr { kind: ExprKind::Name(v.as_str().to_string()), span: self.span(&v) }
                    } else {
                        self.expr(v)?.expr
                    };
                    options.push(TrainOption { span: name.span.to(value.span), name, value });
                }
                Item::Train(TrainItem { loss, options, span })
            }
            other => unreachable!("not an item: {other:?}"),
        })
    }

    fn use_item(&self, pair: Pair<'_>, span: Span) -> Result<UseItem, Diagnostic> {
        let rule = pair.as_rule();
        let mut segments: Vec<Pair<'_>> = parts(pair).collect();
        let last = segments.pop().map(|p| (p.as_rule(), p));
        let (path, names) = match (rule, last) {
            (Rule::use_file, Some((Rule::use_names, names))) => {
                let string = next(&mut segments.into_iter(), "use file");
                let path = self.string(string.clone())?;
                (UsePath::File { path, span: self.span(&string) }, self.names(names))
            }
            (_, Some((Rule::use_names, names))) => {
                (UsePath::Module(segments.into_iter().map(|p| self.ident(p)).collect()), self.names(names))
            }
            (_, Some((_, name))) => {
                (UsePath::Module(segments.into_iter().map(|p| self.ident(p)).collect()), vec![self.ident(name)])
            }
            (_, None) => unreachable!("empty use path"),
        };
        Ok(UseItem { path, names, span })
    }

    fn names(&self, pair: Pair<'_>) -> Vec<Ident> {
        parts(pair).map(|p| self.ident(p)).collect()
    }

    fn shape(&self, pair: Pair<'_>) -> Result<ShapeAnn, Diagnostic> {
        let span = self.span(&pair);
        let dims = parts(pair)
            .map(|d| match d.as_rule() {
                Rule::ident => Ok(Dim::Name(self.ident(d))),
                _ => literal::shape_dim(d.as_str(), self.span(&d)).map(Dim::Size),
            })
            .collect::<Result<_, _>>()?;
        Ok(ShapeAnn { dims, span })
    }

    /// `(n, hidden = 32)` of a model template.
    fn template_params(&self, pair: Pair<'_>) -> Result<Vec<TemplateParam>, Diagnostic> {
        parts(pair)
            .map(|p| {
                let mut it = parts(p);
                let name = self.ident(next(&mut it, "template parameter"));
                let default = it.next().map(|e| self.expr(e)).transpose()?.map(|e| e.expr);
                Ok(TemplateParam { name, default })
            })
            .collect()
    }

    /// Appends the members of one declaration (`param a = 1, b = 2` gives two).
    fn members(&self, pair: Pair<'_>, out: &mut Vec<Member>) -> Result<(), Diagnostic> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut it = parts(pair);
        match rule {
            Rule::param_decl | Rule::state_decl => {
                for binding in it {
                    let span = self.span(&binding);
                    let mut b = parts(binding);
                    let name = self.ident(next(&mut b, "binding name"));
                    let mut value = next(&mut b, "binding value");
                    let mut shape = None;
                    if value.as_rule() == Rule::shape {
                        shape = Some(self.shape(value)?);
                        value = next(&mut b, "binding value");
                    }
                    let init = self.expr(value)?.expr;
                    let span = self.until(span, init.span);
                    out.push(if rule == Rule::param_decl {
                        Member::Param { name, shape, init, span }
                    } else {
                        Member::State { name, shape, init, span }
                    });
                }
            }
            Rule::net_decl => {
                let name = self.ident(next(&mut it, "net name"));
                let layer = self.expr(next(&mut it, "net layer"))?.expr;
                out.push(Member::Net { span: name.span.to(layer.span), name, layer });
            }
            Rule::let_decl => {
                let name = self.ident(next(&mut it, "let name"));
                let value = self.expr(next(&mut it, "let value"))?.expr;
                out.push(Member::Let { span: name.span.to(value.span), name, value });
            }
            Rule::ode_decl => {
                // `dNAME/dt`: the state's name follows the `d`.
                let lhs = next(&mut it, "equation left-hand side");
                let name = lhs.as_str()[1..].split(|c: char| !c.is_ascii_alphanumeric() && c != '_').next();
                let name = name.unwrap_or_default().to_string();
                let start = lhs.as_span().start() + 1;
                let state = Ident { span: Span::new(self.file, start, start + name.len()), name };
                let rhs = self.expr(next(&mut it, "equation right-hand side"))?.expr;
                out.push(Member::Ode { state, span: self.until(span, rhs.span), rhs });
            }
            Rule::noise_decl => {
                let name = self.ident(next(&mut it, "noise name"));
                let shape = self.shape(next(&mut it, "noise shape"))?;
                out.push(Member::Noise { span: name.span.to(shape.span), name, shape });
            }
            Rule::input_decl => {
                let name = self.ident(next(&mut it, "input name"));
                let source = self.expr(next(&mut it, "input source"))?.expr;
                out.push(Member::Input { span: name.span.to(source.span), name, source });
            }
            Rule::output_decl => {
                let name = self.ident(next(&mut it, "output name"));
                let value = self.expr(next(&mut it, "output value"))?.expr;
                out.push(Member::Output { span: name.span.to(value.span), name, value });
            }
            Rule::sde_decl => {
                let lhs = next(&mut it, "equation left-hand side");
                let start = lhs.as_span().start() + 1;
                let name = lhs.as_str()[1..].to_string();
                let state = Ident { span: Span::new(self.file, start, start + name.len()), name };
                let mut terms = Vec::new();
                let mut negate = false;
                for p in it {
                    match p.as_rule() {
                        Rule::add => negate = false,
                        Rule::sub => negate = true,
                        _ => terms.push(self.sde_term(p, negate)?),
                    }
                }
                let last = terms.last().map_or(state.span, |t: &SdeTerm| t.span);
                out.push(Member::Sde { state, span: self.until(span, last), terms });
            }
            other => unreachable!("not a member: {other:?}"),
        }
        Ok(())
    }

    /// `coef [@] dNAME`.
    fn sde_term(&self, pair: Pair<'_>, negate: bool) -> Result<SdeTerm, Diagnostic> {
        let span = self.span(&pair);
        let mut it = parts(pair);
        let coef = self.expr(next(&mut it, "coefficient"))?.expr;
        let mut d = next(&mut it, "differential");
        let matmul = d.as_rule() == Rule::noise_matmul;
        if matmul {
            d = next(&mut it, "differential");
        }
        let differential = self.ident(d);
        Ok(SdeTerm { negate, span: self.until(span, differential.span), coef, matmul, differential })
    }

    /// Makes a node, refusing trees deeper than [`MAX_EXPR_DEPTH`].
    fn node(&self, kind: ExprKind, span: Span, depth: u32) -> Result<Node, Diagnostic> {
        if depth > MAX_EXPR_DEPTH {
            return Err(Diagnostic::error(codes::TOO_DEEP, "expression nested too deeply", span)
                .label(format!("more than {MAX_EXPR_DEPTH} levels deep"))
                .hint("split it into several `let` definitions"));
        }
        Ok(Node { expr: Expr { kind, span }, depth })
    }

    fn binary(&self, op: BinaryOp, lhs: Node, rhs: Node) -> Result<Node, Diagnostic> {
        let span = lhs.expr.span.to(rhs.expr.span);
        let depth = lhs.depth.max(rhs.depth) + 1;
        self.node(ExprKind::Binary(op, Box::new(lhs.expr), Box::new(rhs.expr)), span, depth)
    }

    fn unary(&self, op: &Pair<'_>, operand: Node) -> Result<Node, Diagnostic> {
        let kind = if op.as_rule() == Rule::neg { UnaryOp::Neg } else { UnaryOp::Plus };
        let span = self.span(op).to(operand.expr.span);
        self.node(ExprKind::Unary(kind, Box::new(operand.expr)), span, operand.depth + 1)
    }

    /// `expr`, `product`: a left-associative chain `operand (op operand)*`.
    fn expr(&self, pair: Pair<'_>) -> Result<Node, Diagnostic> {
        match pair.as_rule() {
            Rule::expr | Rule::product | Rule::sde_coef => {
                let mut it = parts(pair);
                let mut acc = self.expr(next(&mut it, "operand"))?;
                while let Some(op) = it.next() {
                    let op = match op.as_rule() {
                        Rule::add => BinaryOp::Add,
                        Rule::sub => BinaryOp::Sub,
                        Rule::mul => BinaryOp::Mul,
                        Rule::div => BinaryOp::Div,
                        _ => BinaryOp::MatMul,
                    };
                    let rhs = self.expr(next(&mut it, "operand"))?;
                    acc = self.binary(op, acc, rhs)?;
                }
                Ok(acc)
            }
            Rule::unary => {
                let mut parts: Vec<Pair<'_>> = parts(pair).collect();
                let mut acc = self.power(parts.pop().expect("unary has an operand"))?;
                for op in parts.iter().rev() {
                    acc = self.unary(op, acc)?;
                }
                Ok(acc)
            }
            Rule::postfix => self.postfix(pair),
            other => unreachable!("not an expression: {other:?}"),
        }
    }

    /// `postfix (^ prefix* postfix)*`, folded from the right: `a ^ -b ^ c`
    /// is `a ^ (-(b ^ c))`.
    fn power(&self, pair: Pair<'_>) -> Result<Node, Diagnostic> {
        // Operands with the prefix signs written before them.
        let mut operands: Vec<(Vec<Pair<'_>>, Pair<'_>)> = Vec::new();
        let mut signs = Vec::new();
        for p in parts(pair) {
            match p.as_rule() {
                Rule::caret => {}
                Rule::neg | Rule::pos => signs.push(p),
                _ => operands.push((std::mem::take(&mut signs), p)),
            }
        }
        let mut acc: Option<Node> = None;
        for (signs, operand) in operands.into_iter().rev() {
            let mut base = self.postfix(operand)?;
            if let Some(exponent) = acc.take() {
                base = self.binary(BinaryOp::Pow, base, exponent)?;
            }
            for op in signs.iter().rev() {
                base = self.unary(op, base)?;
            }
            acc = Some(base);
        }
        Ok(acc.expect("power has an operand"))
    }

    /// `primary postfix_op*`, folded from the left.
    fn postfix(&self, pair: Pair<'_>) -> Result<Node, Diagnostic> {
        let mut it = parts(pair);
        let mut acc = self.primary(next(&mut it, "primary"))?;
        for op in it {
            let span = acc.expr.span.to(self.span(&op));
            let base = Box::new(acc.expr);
            let mut depth = acc.depth + 1;
            let kind = match op.as_rule() {
                Rule::call_args => {
                    let (args, d) = self.call_args(op)?;
                    depth = depth.max(d + 1);
                    ExprKind::Call { callee: base, args }
                }
                Rule::index => {
                    let mut indices = Vec::new();
                    for arg in parts(op) {
                        let (index, d) = self.index_arg(arg)?;
                        depth = depth.max(d + 1);
                        indices.push(index);
                    }
                    ExprKind::Index { base, indices }
                }
                Rule::field => ExprKind::Field { base, name: self.ident(next(&mut parts(op), "field name")) },
                _ => ExprKind::Transpose(base),
            };
            acc = self.node(kind, span, depth)?;
        }
        Ok(acc)
    }

    fn index_arg(&self, pair: Pair<'_>) -> Result<(IndexArg, u32), Diagnostic> {
        // Start of the slice up to its last token (the `:` or the stop value).
        let mut span = Span { end: pair.as_span().start() as u32, ..self.span(&pair) };
        let mut start = None;
        let mut stop = None;
        let mut is_slice = false;
        let mut depth = 0;
        for p in parts(pair) {
            if p.as_rule() == Rule::slice_rest {
                is_slice = true;
                let colon = p.clone().into_inner().next().map(|c| self.span(&c));
                span = span.to(colon.unwrap_or(span));
                if let Some(e) = parts(p).next() {
                    let n = self.expr(e)?;
                    depth = depth.max(n.depth);
                    span = span.to(n.expr.span);
                    stop = Some(n.expr);
                }
            } else {
                let n = self.expr(p)?;
                depth = depth.max(n.depth);
                span = span.to(n.expr.span);
                start = Some(n.expr);
            }
        }
        Ok(match (is_slice, start) {
            (false, Some(e)) => (IndexArg::Single(e), depth),
            (_, start) => (IndexArg::Slice { start, stop, span }, depth),
        })
    }

    /// The arguments of a call, and the depth of the deepest one.
    fn call_args(&self, pair: Pair<'_>) -> Result<(Vec<Arg>, u32), Diagnostic> {
        let mut args = Vec::new();
        let mut depth = 0;
        for p in parts(pair) {
            let (arg, d) = self.arg(p)?;
            depth = depth.max(d);
            args.push(arg);
        }
        Ok((args, depth))
    }

    /// `[name =] expr (-> expr)*`; several parts make an arrow chain.
    fn arg(&self, pair: Pair<'_>) -> Result<(Arg, u32), Diagnostic> {
        let mut name = None;
        let mut values = Vec::new();
        let mut depth = 0;
        for p in parts(pair) {
            if p.as_rule() == Rule::arg_name {
                name = Some(self.ident(next(&mut parts(p), "argument name")));
            } else {
                let n = self.expr(p)?;
                depth = depth.max(n.depth);
                values.push(n.expr);
            }
        }
        let value = match (values.first(), values.last()) {
            (Some(first), Some(last)) if values.len() > 1 => {
                let span = first.span.to(last.span);
                depth += 1;
                self.node(ExprKind::Arrow(values), span, depth)?.expr
            }
            _ => values.pop().expect("an argument has a value"),
        };
        Ok((Arg { name, value }, depth))
    }

    fn primary(&self, pair: Pair<'_>) -> Result<Node, Diagnostic> {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::number => {
                let value = literal::number(pair.as_str(), span)?;
                self.node(ExprKind::Number(value), span, 1)
            }
            Rule::string => self.node(ExprKind::Str(self.string(pair)?), span, 1),
            Rule::ident => self.node(ExprKind::Name(pair.as_str().to_string()), span, 1),
            Rule::paren => {
                // The parentheses belong to the span: `(a + b) * c` covers them.
                let mut inner = self.expr(next(&mut parts(pair), "parenthesised expression"))?;
                inner.expr.span = span;
                Ok(inner)
            }
            Rule::array => {
                let mut items = Vec::new();
                let mut depth = 0;
                for p in parts(pair) {
                    let n = self.expr(p)?;
                    depth = depth.max(n.depth);
                    items.push(n.expr);
                }
                self.node(ExprKind::Array(items), span, depth + 1)
            }
            other => unreachable!("not a primary: {other:?}"),
        }
    }

    fn string(&self, pair: Pair<'_>) -> Result<String, Diagnostic> {
        let body = next(&mut pair.into_inner(), "string body");
        literal::string(body.as_str(), body.as_span().start(), self.file)
    }
}
