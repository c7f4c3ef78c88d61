//! Rendering diagnostics for the terminal (codespan-reporting). The only
//! place that prints `Diagnostic` data for people.

use codespan_reporting::term::{self, termcolor::ColorChoice, termcolor::StandardStream, Config};

use nde_compiler::diag::codespan::to_codespan;
use nde_compiler::diag::Diagnostic;
use nde_compiler::span::SourceMap;

/// Writes each diagnostic to stderr, coloured when stderr is a terminal.
pub fn emit(sources: &SourceMap, diagnostics: &[Diagnostic]) {
    let cs = to_codespan(sources, diagnostics);
    let choice =
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) { ColorChoice::Auto } else { ColorChoice::Never };
    let writer = StandardStream::stderr(choice);
    let config = Config::default();
    for (d, c) in diagnostics.iter().zip(&cs.diagnostics) {
        if term::emit_to_write_style(&mut writer.lock(), &config, &cs.files, c).is_err() {
            eprint!("{}", d.render_plain(sources));
        }
    }
}
