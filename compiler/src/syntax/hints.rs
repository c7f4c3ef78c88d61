//! Recognising common mistakes at a parse error: the ones with their own code
//! (keyword as a name, a member outside a model, a feature not supported
//! yet, ...) and the hints added to a plain syntax error (`:=`, `**`, a
//! missing `=` or `*`).
//!
//! Every check here looks at the text around the error position and at what
//! the parser expected there; none of them accepts or rejects input.

use super::codes;
use super::errors::Ctx;
use super::lex::{self, TokenKind};
use crate::diag::Diagnostic;

const ITEM_KEYWORDS: [&str; 8] = ["use", "const", "fn", "model", "solver", "data", "loss", "train"];
const MEMBER_KEYWORDS: [&str; 7] = ["param", "state", "net", "let", "noise", "input", "output"];

fn is_keyword(word: &str) -> bool {
    ITEM_KEYWORDS.contains(&word) || MEMBER_KEYWORDS.contains(&word)
}

/// A mistake with its own code, if the error position shows one.
pub(super) fn special(ctx: &Ctx<'_>) -> Option<Diagnostic> {
    misplaced_arrow(ctx)
        .or_else(|| unclosed_at_end(ctx))
        .or_else(|| keyword(ctx))
        .or_else(|| equation_form(ctx))
        .or_else(|| unknown_start(ctx))
        .or_else(|| unknown_char(ctx))
}

/// E0113: `->` outside a call argument.
fn misplaced_arrow(ctx: &Ctx<'_>) -> Option<Diagnostic> {
    if !ctx.text[ctx.at..].starts_with("->") {
        return None;
    }
    Some(
        Diagnostic::error(codes::MISPLACED_ARROW, "`->` is only allowed in a call argument", ctx.found_span())
            .label("not inside a call")
            .hint("`->` lists layer sizes, as in `mlp(2 -> 64 -> 2)`"),
    )
}

/// E0108: the file ends while a bracket is open.
fn unclosed_at_end(ctx: &Ctx<'_>) -> Option<Diagnostic> {
    if ctx.found != TokenKind::End {
        return None;
    }
    let open = *lex::scan(ctx.text, ctx.text.len()).open.last()?;
    let hint = format!("add the matching `{}`", lex::closer_of(open.ch));
    Some(unclosed(ctx, open, hint).with_secondary(ctx.found_span(), "the file ends here"))
}

fn unclosed(ctx: &Ctx<'_>, open: lex::Opener, hint: String) -> Diagnostic {
    Diagnostic::error(codes::UNCLOSED_DELIMITER, format!("unclosed `{}`", open.ch), ctx.span(open.at..open.at + 1))
        .label(format!("this `{}` is never closed", open.ch))
        .hint(hint)
}

/// Errors at a keyword: E0102 (used as a name), E0111 (a member outside a
/// model), E0114 (an item inside a model).
fn keyword(ctx: &Ctx<'_>) -> Option<Diagnostic> {
    let word = ctx.found_text();
    if ctx.found != TokenKind::Word || !is_keyword(word) {
        return None;
    }
    let e = &ctx.expected;
    let span = ctx.found_span();
    if e.name || e.expr {
        if e.expr && lex::starts_line(ctx.text, ctx.at) {
            // `let a =` with the value forgotten: the keyword is the next line.
            return None;
        }
        return Some(
            Diagnostic::error(codes::KEYWORD_AS_NAME, format!("`{word}` is a keyword"), span)
                .label("a keyword cannot be used as a name")
                .hint(format!("choose another name, e.g. `{word}_` or `my_{word}`")),
        );
    }
    if MEMBER_KEYWORDS.contains(&word) && e.item && !e.member {
        return Some(member_outside(ctx, format!("`{word}` declarations belong inside a model")));
    }
    if ITEM_KEYWORDS.contains(&word) && e.member {
        // More often than not, the model before was never closed.
        let open = lex::scan(ctx.text, ctx.at).open.last().copied();
        let unclosed_model = open.filter(|o| o.ch == '{' && !lex::scan(ctx.text, ctx.text.len()).open.is_empty());
        if let Some(open) = unclosed_model {
            return Some(unclosed(ctx, open, format!("close the model with `}}` before `{word}`")));
        }
        return Some(
            Diagnostic::error(codes::ITEM_IN_MODEL, format!("`{word}` cannot appear inside a model"), span)
                .label("not a model member")
                .hint(format!("move the `{word}` before the model, to the top level of the file")),
        );
    }
    None
}

fn member_outside(ctx: &Ctx<'_>, message: String) -> Diagnostic {
    Diagnostic::error(codes::MEMBER_OUTSIDE_MODEL, message, ctx.found_span())
        .label("outside any model")
        .hint("put it in a model: `model NAME { ... }`")
}

/// The parts of `dNAME ... ` at the error position: the name and the text
/// after it with spaces and tabs skipped.
fn differential<'a>(ctx: &Ctx<'a>) -> Option<(&'a str, &'a str)> {
    let word = ctx.found_text();
    let name = word.strip_prefix('d').filter(|n| !n.is_empty() && !n.starts_with(|c: char| c.is_ascii_digit()))?;
    let rest = ctx.text[ctx.found_range.end..].trim_start_matches([' ', '\t']);
    Some((name, rest))
}

/// Equations in the wrong place or form: E0111 outside a model, E0101 for a
/// left-hand side that is not `dx/dt`.
fn equation_form(ctx: &Ctx<'_>) -> Option<Diagnostic> {
    let e = &ctx.expected;
    if ctx.found != TokenKind::Word || !(e.item || e.member) {
        return None;
    }
    let (name, rest) = differential(ctx)?;
    let after_slash = rest.strip_prefix('/').map(|r| r.trim_start_matches([' ', '\t']));
    let is_ode = after_slash.and_then(|r| r.strip_prefix("dt")).is_some_and(|r| !r.starts_with(lex::is_ident_char));
    if e.item && !e.member && is_ode {
        return Some(member_outside(ctx, "equations belong inside a model".to_string()));
    }
    if !e.member {
        return None;
    }
    if after_slash.is_some() && !is_ode {
        // From `dx` to the end of the word after the `/`.
        let slash = ctx.text.len() - rest.len();
        let after = &ctx.text[slash + 1..];
        let word = after.trim_start_matches([' ', '\t']);
        let word_len = word.find(|c: char| !lex::is_ident_char(c)).unwrap_or(word.len());
        let span = ctx.span(ctx.found_range.start..ctx.text.len() - word.len() + word_len);
        return Some(
            Diagnostic::error(codes::SYNTAX, "expected `dt` after `/` in an equation", span)
                .label("the left-hand side of an equation")
                .hint(format!("an equation reads `d{name}/dt = ...`; time is always `t`")),
        );
    }
    None
}

/// E0112: an unknown word where an item or a member must start.
fn unknown_start(ctx: &Ctx<'_>) -> Option<Diagnostic> {
    let e = &ctx.expected;
    let starts_statement = !e.ops || lex::starts_line(ctx.text, ctx.at);
    if ctx.found != TokenKind::Word || !(e.item || e.member) || !starts_statement {
        return None;
    }
    let word = ctx.found_text();
    let (what, candidates): (&str, &[&str]) =
        if e.member { ("a model member", &MEMBER_KEYWORDS) } else { ("an item", &ITEM_KEYWORDS) };
    let mut d = Diagnostic::error(codes::UNKNOWN_START, format!("expected {what}, found `{word}`"), ctx.found_span())
        .label(format!("not {what}"));
    let closest = candidates.iter().map(|k| (lex::edit_distance(word, k), *k)).min();
    let followed_by_assign = ctx.text[ctx.found_range.end..].trim_start().starts_with('=');
    d = match closest {
        Some((dist, k)) if dist == 1 || (dist == 2 && word.len() >= 5) => d.hint(format!("did you mean `{k}`?")),
        _ if e.member && followed_by_assign => d.hint(format!(
            "a definition needs a keyword: `let {word} = ...`, `param {word} = ...` or `state {word} = ...`"
        )),
        _ if e.member => d.hint(
            "a model holds `param`, `state`, `net`, `let`, `noise` and `input` declarations and equations \
                 `dNAME/dt = ...`, `dNAME = f dt + g dW` or `dNAME = F @ dX`",
        ),
        _ => d.hint("a file holds `use`, `const`, `fn`, `model`, `solver`, `data`, `loss` and `train` items"),
    };
    Some(d)
}

/// E0116: a character that starts no token.
fn unknown_char(ctx: &Ctx<'_>) -> Option<Diagnostic> {
    let c = ctx.found_text().chars().next()?;
    if ctx.found != TokenKind::Symbol || c.is_whitespace() || "+-*/@^'()[]{}.,:=\"".contains(c) {
        return None;
    }
    let d = Diagnostic::error(codes::UNKNOWN_CHAR, format!("unexpected character `{c}`"), ctx.found_span())
        .label("not part of the language");
    Some(match c {
        ';' => d.hint("no `;` is needed: start the next declaration on a new line"),
        '#' => d.hint("comments start with `//`"),
        c if !c.is_ascii() => d.hint("names use ASCII letters, digits and `_`"),
        _ => d,
    })
}

/// Hints for a plain syntax error (E0101).
pub(super) fn for_syntax_error(ctx: &Ctx<'_>) -> Vec<String> {
    let e = &ctx.expected;
    let text = ctx.text;
    let at = ctx.at;
    let mut hints = Vec::new();
    // `pair` at the error position or one byte before it (ASCII only, so
    // byte offsets are safe).
    let around = |pair: &str| {
        let bytes = text.as_bytes();
        bytes[at..].starts_with(pair.as_bytes()) || (at > 0 && bytes[at - 1..].starts_with(pair.as_bytes()))
    };
    if around(":=") {
        hints.push("write `=`, not `:=`".to_string());
    }
    if around("**") {
        hints.push("use `^` for powers: `x^2`".to_string());
    }
    let operand = matches!(ctx.found, TokenKind::Word | TokenKind::Number | TokenKind::Str);
    if e.has("=") && operand && !e.ops && !e.has(",") {
        hints.push("a declaration reads `NAME = value`, e.g. `param a = 1.0`".to_string());
    }
    if e.ops && operand && !lex::starts_line(text, at) {
        let before = text[..at].trim_end();
        let prev = &before[before.trim_end_matches(|c: char| lex::is_ident_char(c) || c == '.').len()..];
        hints.push(if prev.is_empty() {
            "an operator is missing; a product is written with `*`".to_string()
        } else {
            format!("an operator is missing; a product is written `{prev} * {}`", ctx.found_text())
        });
    }
    if e.differential {
        hints.push(
            "each term of a stochastic or controlled equation is a coefficient and its differential: `f dt`, \
             `g dW`, `G @ dW` or `F @ dX`; a coefficient that is a sum needs parentheses: `(a + b) dt`"
                .to_string(),
        );
    }
    if e.tokens == ["("] {
        hints.push("the options go in parentheses, e.g. `tsit5(rtol = 1e-6)`; write `()` for none".to_string());
    }
    if e.tokens == ["["] {
        hints.push("a shape annotation reads `: [2, 3]`".to_string());
    }
    if e.tokens == ["{"] && !e.name {
        hints.push("a model's members go in braces: `model NAME { ... }`".to_string());
    }
    if e.expr && ctx.found_text() == "}" && in_loss_body(ctx) {
        hints.push(
            "a loss ends with its value after the `let`s; a value that starts with `(`, `[` or `-` continues \
             the `let` before it, so start it with a name or a number, or bind it with `let` and end with its name"
                .to_string(),
        );
    }
    if e.expr && ctx.found == TokenKind::Word && is_keyword(ctx.found_text()) {
        hints.push("the value before this line seems to be missing".to_string());
    }
    hints
}

/// Whether the innermost open `{` at the error is a loss body (`loss NAME {`).
fn in_loss_body(ctx: &Ctx<'_>) -> bool {
    let Some(open) = lex::scan(ctx.text, ctx.at).open.last().copied() else { return false };
    let before = ctx.text[..open.at].trim_end();
    let before_name = before.trim_end_matches(lex::is_ident_char).trim_end();
    open.ch == '{'
        && before_name.ends_with("loss")
        && !before_name.trim_end_matches("loss").ends_with(lex::is_ident_char)
}
