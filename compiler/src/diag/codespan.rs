//! Diagnostics as codespan-reporting values: the one conversion that both
//! the `nde` command (to the terminal, coloured) and the Rust API (to a
//! string, plain) render through, so both show the same text.
//!
//! Never: write to a terminal or a file (the caller chooses where).

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label, Severity as CsSeverity};
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, Config};

use super::{Diagnostic, Severity};
use crate::span::{SourceMap, Span};

/// The source files and the diagnostics pointing into them.
pub struct Codespan {
    pub files: SimpleFiles<String, String>,
    pub diagnostics: Vec<CsDiagnostic<usize>>,
}

/// Converts `diagnostics` (hints become `hint: ...` notes; spans into files
/// `sources` does not hold are dropped).
pub fn to_codespan(sources: &SourceMap, diagnostics: &[Diagnostic]) -> Codespan {
    let mut files = SimpleFiles::new();
    let ids: Vec<usize> = sources.files().map(|(_, f)| files.add(f.name.clone(), f.text.clone())).collect();
    let diagnostics = diagnostics
        .iter()
        .map(|d| {
            let severity = match d.severity {
                Severity::Error => CsSeverity::Error,
                Severity::Warning => CsSeverity::Warning,
            };
            let label = |span: Span, message: &str, primary: bool| {
                let &id = ids.get(span.file.0 as usize)?;
                let l = if primary { Label::primary(id, span.range()) } else { Label::secondary(id, span.range()) };
                Some(l.with_message(message))
            };
            let labels = std::iter::once(label(d.primary.span, &d.primary.message, true))
                .chain(d.secondary.iter().map(|s| label(s.span, &s.message, false)))
                .flatten()
                .collect();
            CsDiagnostic::new(severity)
                .with_code(d.code)
                .with_message(&d.message)
                .with_labels(labels)
                .with_notes(d.hints.iter().map(|h| format!("hint: {h}")).collect())
        })
        .collect();
    Codespan { files, diagnostics }
}

/// The diagnostics as the `nde` command shows them, without colour.
pub fn render_string(sources: &SourceMap, diagnostics: &[Diagnostic]) -> String {
    let cs = to_codespan(sources, diagnostics);
    let config = Config::default();
    let mut out = String::new();
    for (d, c) in diagnostics.iter().zip(&cs.diagnostics) {
        match term::emit_into_string(&config, &cs.files, c) {
            Ok(text) => out += &text,
            Err(_) => out += &d.render_plain(sources),
        }
    }
    out
}
