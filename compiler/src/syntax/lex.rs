//! Lexical facts about raw source text, used only to explain parse errors:
//! where strings, comments and brackets open and close, and what token sits at
//! a given offset.
//!
//! The grammar (`grammar/nde.pest`) stays the only definition of the syntax.
//! This scanner follows its lexical rules (line and block comments, strings
//! that end on their line, `\` escapes) but never decides whether a file is
//! valid; it only helps word an error the parser has already found.

/// Brackets nested deeper than this are refused before parsing (E0115), so
/// that neither the parser nor later stages recurse without bound.
pub const MAX_NESTING: usize = 96;

/// An opening bracket that is not closed yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Opener {
    /// Byte offset of the bracket.
    pub at: usize,
    /// `(`, `[` or `{`.
    pub ch: char,
}

/// The first lexical problem of a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Problem {
    /// A `"` whose string reaches the end of its line or of the file.
    UnterminatedString { at: usize },
    /// A `/*` without its `*/`.
    UnterminatedComment { at: usize },
    /// A closing bracket with nothing open.
    StrayCloser { at: usize, ch: char },
    /// The bracket that goes past [`MAX_NESTING`].
    TooDeep { at: usize },
}

/// What [`scan`] learned about the text before its stop offset.
#[derive(Clone, Debug, Default)]
pub(super) struct Scan {
    /// The first problem that starts before the stop offset.
    pub problem: Option<Problem>,
    /// Brackets still open at the stop offset, outermost first.
    pub open: Vec<Opener>,
}

/// The bracket that closes `open`.
pub(super) fn closer_of(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        _ => '}',
    }
}

/// Scans `text` up to byte offset `stop` (exclusive). A string or comment
/// that starts before `stop` is followed to its end, so that an unterminated
/// one is reported even when it runs past `stop`.
pub(super) fn scan(text: &str, stop: usize) -> Scan {
    let bytes = text.as_bytes();
    let mut out = Scan::default();
    let mut i = 0;
    while i < bytes.len() && i < stop {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => match text[i + 2..].find("*/") {
                Some(n) => i = i + 2 + n + 2,
                None => {
                    out.problem = Some(Problem::UnterminatedComment { at: i });
                    return out;
                }
            },
            b'"' => match string_end(bytes, i) {
                Some(end) => i = end,
                None => {
                    out.problem = Some(Problem::UnterminatedString { at: i });
                    return out;
                }
            },
            c @ (b'(' | b'[' | b'{') => {
                out.open.push(Opener { at: i, ch: c as char });
                if out.open.len() > MAX_NESTING {
                    out.problem = Some(Problem::TooDeep { at: i });
                    return out;
                }
                i += 1;
            }
            c @ (b')' | b']' | b'}') => {
                if out.open.pop().is_none() {
                    out.problem = Some(Problem::StrayCloser { at: i, ch: c as char });
                    return out;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    out
}

/// The offset just past the closing quote of the string opened at `start`,
/// or `None` if the line or the file ends first.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Some(i + 1),
            b'\n' => return None,
            b'\\' if bytes.get(i + 1).is_some_and(|&b| b != b'\n') => i += 2,
            _ => i += 1,
        }
    }
    None
}

pub(super) fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The kind of token at an offset, as far as error messages care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TokenKind {
    /// Nothing but the end of the file.
    End,
    /// A name or a keyword.
    Word,
    /// A number literal (read as greedily as the grammar does).
    Number,
    /// A string literal, up to the end of its line.
    Str,
    /// Any other character, or one of the pairs `->`, `**`, `:=`, `==`.
    Symbol,
}

/// The token that starts at byte offset `at`: its kind and byte range.
pub(super) fn token_at(text: &str, at: usize) -> (TokenKind, std::ops::Range<usize>) {
    let rest = match text.get(at..) {
        Some(r) if !r.is_empty() => r,
        _ => return (TokenKind::End, text.len()..text.len()),
    };
    let first = rest.chars().next().unwrap_or(' ');
    let starts_number = first.is_ascii_digit() || (first == '.' && rest[1..].starts_with(|c: char| c.is_ascii_digit()));
    let len = if starts_number {
        number_len(rest)
    } else if first.is_ascii_alphabetic() || first == '_' {
        rest.find(|c: char| !is_ident_char(c)).unwrap_or(rest.len())
    } else if first == '"' {
        let line = rest.find('\n').unwrap_or(rest.len());
        string_end(rest.as_bytes(), 0).unwrap_or(line)
    } else if ["->", "**", ":=", "=="].iter().any(|p| rest.starts_with(p)) {
        2
    } else {
        first.len_utf8()
    };
    let kind = if starts_number {
        TokenKind::Number
    } else if first.is_ascii_alphabetic() || first == '_' {
        TokenKind::Word
    } else if first == '"' {
        TokenKind::Str
    } else {
        TokenKind::Symbol
    };
    (kind, at..at + len)
}

/// Length of the number lexeme at the start of `s`, matching the grammar's
/// greedy `number` rule (digits, letters, `_`, `.`, and a sign right after
/// `e` or `E`).
pub(super) fn number_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if (b == b'e' || b == b'E') && matches!(bytes.get(i + 1), Some(b'+' | b'-')) {
            i += 2;
        } else if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_col(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Whether only whitespace separates `at` from the start of its line.
pub(super) fn starts_line(text: &str, at: usize) -> bool {
    let before = text.get(..at).unwrap_or("");
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    before[line_start..].trim().is_empty()
}

/// Edit distance between two short words (for "did you mean").
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diag + usize::from(ca != cb)).min(above + 1).min(row[j] + 1);
            diag = above;
        }
    }
    row[b.len()]
}
