//! Diagnostics as data: an error code, a primary span with a label, secondary
//! labels and hints. Stages collect them; only the `nde` binary prints them
//! (`render_plain` here is a plain-text helper for tests; [`codespan`] is the
//! one conversion to codespan-reporting's form that the binary and the Rust
//! API render through).
//!
//! Codes are stable and grouped by stage: `E01xx` syntax, `E02xx` names and
//! imports, `E03xx` shapes and types, `E04xx` model structure, `E05xx` solver
//! and run configuration, `E06xx` data and parameter files, `E07xx` data sets,
//! losses and training blocks.

pub mod codespan;

use crate::span::{SourceMap, Span};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable code such as `E0301`.
    pub code: &'static str,
    pub message: String,
    /// The place the error is about, with a short label under the underline.
    pub primary: Label,
    pub secondary: Vec<Label>,
    /// How to fix it, where the compiler can tell.
    pub hints: Vec<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>, span: Span) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            primary: Label { span, message: String::new() },
            secondary: Vec::new(),
            hints: Vec::new(),
        }
    }

    /// Sets the label under the primary span.
    pub fn label(mut self, message: impl Into<String>) -> Self {
        self.primary.message = message.into();
        self
    }

    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label { span, message: message.into() });
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:col` of the primary span.
    pub fn location(&self, sources: &SourceMap) -> String {
        let span = self.primary.span;
        match (sources.get(span.file), sources.line_col(span.file, span.start)) {
            (Some(f), Some((l, c))) => format!("{}:{}:{}", f.name, l, c),
            _ => "<detached>".to_string(),
        }
    }

    /// Plain-text rendering (no colours): header, location, the source line
    /// with a caret underline, and hints. The binary uses codespan-reporting
    /// instead; this one is for tests, the library API and logs.
    pub fn render_plain(&self, sources: &SourceMap) -> String {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = format!("{sev}[{}]: {}\n  --> {}\n", self.code, self.message, self.location(sources));
        let span = self.primary.span;
        if let (Some(file), Some((line, col))) = (sources.get(span.file), sources.line_col(span.file, span.start)) {
            let text = file.text.lines().nth(line - 1).unwrap_or("");
            let width = line.to_string().len();
            let line_len = text.chars().count();
            let len = file.text[span.range().start.min(file.text.len())..span.range().end.min(file.text.len())]
                .chars()
                .count()
                .max(1)
                .min(line_len.saturating_sub(col - 1).max(1));
            out += &format!(
                "{:w$} |\n{line} | {text}\n{:w$} | {}{} {}\n",
                "",
                "",
                " ".repeat(col - 1),
                "^".repeat(len),
                self.primary.message,
                w = width
            );
        }
        for l in &self.secondary {
            out += &format!("  note: {} ({})\n", l.message, Diagnostic::error("", "", l.span).location(sources));
        }
        for h in &self.hints {
            out += &format!("  = hint: {h}\n");
        }
        out
    }
}

/// The diagnostics of one compilation, in the order found.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }
    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.0.extend(other);
    }
}
