//! pest's parse error -> one [`Diagnostic`] in plain words.
//!
//! pest reports the furthest position it reached and the rules it tried
//! there. This module turns those rules into words ("expected `=`", "expected
//! an expression"), points at the offending token, and recognises common
//! mistakes that deserve their own code or a hint (see [`super::codes`] and
//! grammar/README.md). It never changes what parses: the grammar decides,
//! this module only explains.

use super::grammar::Rule;
use super::lex::{self, Opener, Problem, TokenKind};
use super::{codes, hints};
use crate::diag::Diagnostic;
use crate::span::{FileId, Span};

/// What the parser would have accepted at the error position, as categories.
#[derive(Clone, Debug, Default)]
pub(super) struct Expected {
    pub expr: bool,
    pub name: bool,
    /// The start of an item (`use`, `const`, `fn`, `model`, `solver`,
    /// `data`, `loss`, `train`).
    pub item: bool,
    /// The start of a model member (a declaration keyword or `dNAME/dt`).
    pub member: bool,
    /// A binary or postfix operator continuing an expression.
    pub ops: bool,
    /// The differential ending a term of a stochastic or controlled
    /// equation (`dt`, `dW`, `dX`).
    pub differential: bool,
    pub end: bool,
    /// Punctuation, in the order of [`PUNCTUATION`].
    pub tokens: Vec<&'static str>,
}

/// Punctuation in the order it is listed in messages.
const PUNCTUATION: [&str; 11] = ["=", ":", "(", "{", "[", ".", "->", ",", ")", "]", "}"];

impl Expected {
    fn from_rules(rules: &[Rule]) -> Expected {
        let mut e = Expected::default();
        let mut tokens = Vec::new();
        for rule in rules {
            match rule {
                Rule::expr
                | Rule::product
                | Rule::unary
                | Rule::power
                | Rule::postfix
                | Rule::number
                | Rule::string
                | Rule::paren
                | Rule::array
                | Rule::neg
                | Rule::pos
                | Rule::arg
                | Rule::index_arg
                | Rule::loss_let
                | Rule::option_word => e.expr = true,
                Rule::ident | Rule::arg_name | Rule::binding | Rule::use_module | Rule::train_option => e.name = true,
                Rule::module
                | Rule::kw_use
                | Rule::kw_const
                | Rule::kw_fn
                | Rule::kw_model
                | Rule::kw_solver
                | Rule::kw_data
                | Rule::kw_loss
                | Rule::kw_train
                | Rule::use_item
                | Rule::const_item
                | Rule::fn_item
                | Rule::model_item
                | Rule::solver_item
                | Rule::data_item
                | Rule::loss_item
                | Rule::train_item => e.item = true,
                Rule::kw_param
                | Rule::kw_state
                | Rule::kw_net
                | Rule::kw_let
                | Rule::ode_lhs
                | Rule::ode_decl
                | Rule::param_decl
                | Rule::state_decl
                | Rule::net_decl
                | Rule::let_decl
                | Rule::kw_noise
                | Rule::noise_decl
                | Rule::kw_input
                | Rule::input_decl
                | Rule::kw_output
                | Rule::output_decl
                | Rule::sde_decl
                | Rule::sde_lhs => e.member = true,
                Rule::differential | Rule::noise_matmul => e.differential = true,
                Rule::add
                | Rule::sub
                | Rule::mul
                | Rule::div
                | Rule::matmul
                | Rule::caret
                | Rule::transpose
                | Rule::call_args
                | Rule::index
                | Rule::field => e.ops = true,
                Rule::EOI => e.end = true,
                Rule::assign => tokens.push("="),
                Rule::colon | Rule::slice_rest => tokens.push(":"),
                Rule::lparen | Rule::fn_params => tokens.push("("),
                Rule::lbrace | Rule::use_names | Rule::loss_body => tokens.push("{"),
                Rule::lbrack | Rule::shape => tokens.push("["),
                Rule::dot => tokens.push("."),
                Rule::arrow_op => tokens.push("->"),
                Rule::comma => tokens.push(","),
                Rule::rparen => tokens.push(")"),
                Rule::rbrack => tokens.push("]"),
                Rule::rbrace => tokens.push("}"),
                _ => {}
            }
        }
        // `(`, `[` and `.` after an expression are postfix operators, and a
        // `:` before `=` only starts an optional shape annotation.
        if e.ops {
            tokens.retain(|t| !matches!(*t, "(" | "[" | "."));
        }
        if tokens.contains(&"=") {
            tokens.retain(|t| *t != ":");
        }
        e.tokens = PUNCTUATION.iter().copied().filter(|p| tokens.contains(p)).collect();
        e
    }

    pub fn has(&self, token: &str) -> bool {
        self.tokens.contains(&token)
    }
}

/// The error position and what surrounds it.
pub(super) struct Ctx<'a> {
    pub text: &'a str,
    pub file: FileId,
    /// Byte offset of the error.
    pub at: usize,
    pub expected: Expected,
    pub found: TokenKind,
    /// The offending token's byte range.
    pub found_range: std::ops::Range<usize>,
}

impl<'a> Ctx<'a> {
    pub fn span(&self, range: std::ops::Range<usize>) -> Span {
        Span::new(self.file, range.start, range.end)
    }

    pub fn found_span(&self) -> Span {
        self.span(self.found_range.clone())
    }

    pub fn found_text(&self) -> &'a str {
        &self.text[self.found_range.clone()]
    }

    /// "`foo`", "the number `1.5`", "the end of the file".
    pub fn found_words(&self) -> String {
        match self.found {
            TokenKind::End => "the end of the file".to_string(),
            TokenKind::Number => format!("the number `{}`", self.found_text()),
            TokenKind::Str => "a string".to_string(),
            TokenKind::Word | TokenKind::Symbol => format!("`{}`", self.found_text()),
        }
    }

    pub fn line_col(&self, at: usize) -> String {
        let (l, c) = lex::line_col(self.text, at);
        format!("{l}:{c}")
    }
}

/// Converts pest's error on `text` into one diagnostic.
pub(super) fn convert(err: &pest::error::Error<Rule>, text: &str, file: FileId) -> Diagnostic {
    let at = match err.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let rules = match &err.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => positives.as_slice(),
        // pest's own resource limits ("stack limit reached").
        pest::error::ErrorVariant::CustomError { .. } => {
            return too_deep(Span::new(file, at, (at + 1).min(text.len())));
        }
    };
    let (found, found_range) = lex::token_at(text, at);
    let ctx = Ctx { text, file, at, expected: Expected::from_rules(rules), found, found_range };
    if let Some(d) = lexical(&ctx) {
        return d;
    }
    hints::special(&ctx).unwrap_or_else(|| generic(&ctx))
}

/// A lexical problem (unterminated string or comment, stray closer) at or
/// before the error position explains it best.
fn lexical(ctx: &Ctx<'_>) -> Option<Diagnostic> {
    let problem = lex::scan(ctx.text, ctx.at + 1).problem?;
    Some(match problem {
        Problem::UnterminatedString { at } => {
            let end = ctx.text[at..].find('\n').map_or(ctx.text.len(), |n| at + n);
            Diagnostic::error(codes::UNTERMINATED_STRING, "unterminated string", ctx.span(at..end))
                .label("this string has no closing `\"`")
                .hint("a string ends on the line it starts: add the closing `\"`")
        }
        Problem::UnterminatedComment { at } => {
            Diagnostic::error(codes::UNTERMINATED_COMMENT, "unterminated block comment", ctx.span(at..at + 2))
                .label("this comment is never closed")
                .hint("close it with `*/`")
        }
        Problem::StrayCloser { at, ch } => {
            let open = match ch {
                ')' => '(',
                ']' => '[',
                _ => '{',
            };
            Diagnostic::error(codes::STRAY_CLOSER, format!("unexpected `{ch}`"), ctx.span(at..at + 1))
                .label("nothing is open here")
                .hint(format!("remove it, or add the matching `{open}` before it"))
        }
        Problem::TooDeep { at } => too_deep(ctx.span(at..at + 1)),
    })
}

/// E0115, for brackets nested past [`lex::MAX_NESTING`] or pest's limits.
pub(super) fn too_deep(span: Span) -> Diagnostic {
    Diagnostic::error(codes::TOO_DEEP, "brackets nested too deeply", span)
        .label(format!("more than {} levels deep", lex::MAX_NESTING))
        .hint("split the expression into several `let` definitions")
}

/// What kind of bracket an opener is, for "to close the call opened at".
fn opener_words(text: &str, open: Opener) -> &'static str {
    let before = text[..open.at].trim_end();
    let prev = before.chars().next_back();
    let after_operand = prev.is_some_and(|c| lex::is_ident_char(c) || matches!(c, ')' | ']' | '\''));
    let word_before = before.trim_end_matches(lex::is_ident_char).trim_end();
    let prev_word = word_before.rsplit(|c: char| !lex::is_ident_char(c)).next().unwrap_or("");
    match open.ch {
        '(' if after_operand && prev_word == "fn" => "parameter list",
        '(' if after_operand => "call",
        '(' => "parenthesis",
        '[' if after_operand => "index",
        '[' if prev == Some(':') => "shape",
        '[' => "array",
        _ if prev_word == "model" => "model body",
        _ if prev_word == "loss" => "loss body",
        _ if prev_word == "train" => "train block",
        _ if prev == Some('.') => "name list",
        _ => "block",
    }
}

/// "a, b or c".
fn join_or(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// E0101: "expected X, found Y", with hints for common slips.
fn generic(ctx: &Ctx<'_>) -> Diagnostic {
    let e = &ctx.expected;
    let mut secondary = None;
    let operand = matches!(ctx.found, TokenKind::Word | TokenKind::Number | TokenKind::Str);
    let wanted = if e.expr {
        "an expression".to_string()
    } else if e.differential {
        "an operator or a differential (`dt`, `dW`, `dX`)".to_string()
    } else if e.ops && operand && !lex::starts_line(ctx.text, ctx.at) {
        // `sigma y`: two operands in a row on one line.
        "an operator".to_string()
    } else if e.name {
        "a name".to_string()
    } else if let Some(closer) = e.tokens.iter().copied().find(|t| matches!(*t, ")" | "]" | "}")) {
        let mut what = if closer == "}" && e.member {
            "a declaration, an equation or `}`".to_string()
        } else if e.has(",") {
            format!("`,` or `{closer}`")
        } else {
            format!("`{closer}`")
        };
        let open = lex::scan(ctx.text, ctx.at).open.last().copied();
        if let Some(open) = open.filter(|o| lex::closer_of(o.ch).to_string() == closer) {
            let kind = opener_words(ctx.text, open);
            what += &format!(" to close the {kind} opened at {}", ctx.line_col(open.at));
            secondary = Some((ctx.span(open.at..open.at + 1), format!("the {kind} opened here")));
        }
        what
    } else {
        let mut parts: Vec<String> = e.tokens.iter().map(|t| format!("`{t}`")).collect();
        if e.member {
            parts.push("a declaration or an equation".to_string());
        }
        if e.item {
            parts.push("an item".to_string());
        }
        if parts.is_empty() && e.ops {
            parts.push("an operator".to_string());
        }
        if parts.is_empty() && e.end {
            parts.push("the end of the file".to_string());
        }
        if parts.is_empty() {
            parts.push("something else".to_string());
        }
        join_or(&parts)
    };
    let message = format!("expected {wanted}, found {}", ctx.found_words());
    let mut d = Diagnostic::error(codes::SYNTAX, message, ctx.found_span()).label(format!("expected {wanted}"));
    if let Some((span, label)) = secondary {
        d = d.with_secondary(span, label);
    }
    for h in hints::for_syntax_error(ctx) {
        d = d.hint(h);
    }
    d
}
