//! Rendering diagnostics for the terminal (codespan-reporting). The only
//! place that turns `Diagnostic` data into text for people.

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label, Severity as CsSeverity};
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, termcolor::ColorChoice, termcolor::StandardStream, Config};

use nde_compiler::diag::{Diagnostic, Severity};
use nde_compiler::span::SourceMap;

/// Writes each diagnostic to stderr, coloured when stderr is a terminal.
pub fn emit(sources: &SourceMap, diagnostics: &[Diagnostic]) {
    let mut files = SimpleFiles::new();
    let ids: Vec<usize> = sources.files().map(|(_, f)| files.add(f.name.clone(), f.text.clone())).collect();
    let choice =
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) { ColorChoice::Auto } else { ColorChoice::Never };
    let writer = StandardStream::stderr(choice);
    let config = Config::default();
    for d in diagnostics {
        let severity = match d.severity {
            Severity::Error => CsSeverity::Error,
            Severity::Warning => CsSeverity::Warning,
        };
        let mut labels = Vec::new();
        let mut push = |span: nde_compiler::span::Span, message: &str, primary: bool| {
            if let Some(&id) = ids.get(span.file.0 as usize) {
                let l = if primary { Label::primary(id, span.range()) } else { Label::secondary(id, span.range()) };
                labels.push(l.with_message(message));
            }
        };
        push(d.primary.span, &d.primary.message, true);
        for s in &d.secondary {
            push(s.span, &s.message, false);
        }
        let cs = CsDiagnostic::new(severity)
            .with_code(d.code)
            .with_message(&d.message)
            .with_labels(labels)
            .with_notes(d.hints.iter().map(|h| format!("hint: {h}")).collect());
        if term::emit_to_write_style(&mut writer.lock(), &config, &files, &cs).is_err() {
            eprint!("{}", d.render_plain(sources));
        }
    }
}
