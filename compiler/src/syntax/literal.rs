//! Checking and decoding literals the grammar reads loosely: numbers (E0103),
//! shape dimensions (E0104) and string escapes (E0105).
//!
//! The grammar reads a number greedily (`2x`, `1.2.3`) so that a malformed
//! one is reported as a whole, here, instead of as a puzzling error one token
//! later.

use super::codes;
use crate::diag::Diagnostic;
use crate::span::{FileId, Span};

/// Why a number lexeme is not a number, with the hint to give.
fn malformed(text: &str) -> Option<(String, Option<String>)> {
    let bytes = text.as_bytes();
    let digits = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let int_end = digits(0);
    let mut i = int_end;
    if bytes.get(i) == Some(&b'.') {
        let frac_end = digits(i + 1);
        if frac_end == i + 1 {
            let hint = (i + 1 == bytes.len()).then(|| format!("write `{text}0`"));
            return Some(("a decimal point must be followed by digits".into(), hint));
        }
        i = frac_end;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(bytes.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let exp_end = digits(j);
        if exp_end == j {
            return Some(("the exponent has no digits".into(), Some("write an exponent like `1e-7`".into())));
        }
        i = exp_end;
    }
    if i == bytes.len() {
        return None;
    }
    if bytes[i] == b'.' {
        return Some(("a number has at most one decimal point".into(), None));
    }
    let (num, rest) = text.split_at(i);
    let hint = rest
        .starts_with(|c: char| c.is_ascii_alphabetic())
        .then(|| format!("to multiply a number by a name, write `{num} * {rest}`"));
    Some((format!("`{rest}` cannot follow a number"), hint))
}

/// The value of a number literal, or E0103.
pub(super) fn number(text: &str, span: Span) -> Result<f64, Diagnostic> {
    if let Some((why, hint)) = malformed(text) {
        let d = Diagnostic::error(codes::BAD_NUMBER, format!("malformed number `{text}`"), span).label(why);
        return Err(match hint {
            Some(h) => d.hint(h),
            None => d,
        });
    }
    let value: f64 = text.parse().map_err(|_| {
        Diagnostic::error(codes::BAD_NUMBER, format!("malformed number `{text}`"), span).label("not a number")
    })?;
    if value.is_infinite() {
        return Err(Diagnostic::error(codes::BAD_NUMBER, format!("number `{text}` is too large"), span)
            .label("larger than the largest float64 (about 1.8e308)"));
    }
    let mantissa = text.split(['e', 'E']).next().unwrap_or("");
    if value == 0.0 && mantissa.bytes().any(|b| matches!(b, b'1'..=b'9')) {
        return Err(Diagnostic::error(codes::BAD_NUMBER, format!("number `{text}` is too small"), span)
            .label("closer to zero than the smallest float64 (about 4.9e-324)")
            .hint("write `0` if zero is meant"));
    }
    Ok(value)
}

/// A shape dimension: a whole-number literal. `is_name` when the user wrote
/// a name instead.
pub(super) fn shape_dim(text: &str, span: Span) -> Result<usize, Diagnostic> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        let d = Diagnostic::error(
            codes::BAD_SHAPE_DIM,
            format!("shape dimensions must be whole numbers, found `{text}`"),
            span,
        )
        .label("not a whole number");
        return Err(match text.strip_suffix(".0") {
            Some(whole) if whole.bytes().all(|b| b.is_ascii_digit()) => d.hint(format!("write `{whole}`")),
            _ => d,
        });
    }
    text.parse().map_err(|_| {
        Diagnostic::error(codes::BAD_SHAPE_DIM, format!("shape dimension `{text}` is too large"), span)
            .label("too large")
    })
}

/// Decodes the body of a string literal (the text between the quotes, which
/// starts at byte offset `start`): `\"` and `\\` are the only escapes.
pub(super) fn string(body: &str, start: usize, file: FileId) -> Result<String, Diagnostic> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some((_, e @ ('"' | '\\'))) => out.push(e),
            Some((j, e)) => {
                let span = Span::new(file, start + i, start + j + e.len_utf8());
                return Err(Diagnostic::error(codes::BAD_ESCAPE, format!("unknown escape `\\{e}` in a string"), span)
                    .label("not an escape")
                    .hint("the only escapes are `\\\"` and `\\\\`; write `\\\\` for a backslash"));
            }
            // The grammar never ends a string body on a lone backslash.
            None => out.push('\\'),
        }
    }
    Ok(out)
}
