//! Parsing: `.nde` text -> [`ast::Module`].
//!
//! Owns the pest parser generated from `grammar/nde.pest` (the single source
//! of the surface syntax), the conversion of its pairs into the AST, and the
//! conversion of its errors into one [`Diagnostic`] with a stable `E01xx`
//! code (listed in [`codes`] and grammar/README.md).
//!
//! No pest type leaves this module: callers see the AST and diagnostics only.
//! Parsing stops at the first error; it never resolves names or checks
//! shapes (that is `sema`'s job).
//!
//! Layout: `grammar` (the derived parser), `build` (pairs -> AST),
//! `literal` (numbers, shape dimensions, string escapes), `errors` and
//! `hints` (pest errors -> diagnostics), `lex` (raw-text facts used to word
//! errors), [`print`] (the AST as text).

// A diagnostic is returned by value, as everywhere in the compiler; the
// error path runs at most once per file, so its size does not matter.
#![allow(clippy::result_large_err)]

pub mod ast;
mod build;
pub mod codes;
mod errors;
mod hints;
mod lex;
mod literal;
pub mod print;
#[cfg(test)]
mod tests;

use crate::diag::Diagnostic;
use crate::span::{FileId, Span};

mod grammar {
    //! The parser pest derives from the grammar; private to `syntax`.
    #[derive(pest_derive::Parser)]
    #[grammar = "../grammar/nde.pest"]
    pub(super) struct NdeParser;
}

pub use build::MAX_EXPR_DEPTH;
pub use lex::MAX_NESTING;

/// Parses one source file. Every node of the result carries a span in `file`;
/// on failure the diagnostic points at the first error in the text.
pub fn parse(text: &str, file: FileId) -> Result<ast::Module, Diagnostic> {
    use pest::Parser;
    // Refuse runaway nesting before the (recursive) parser sees it.
    if let Some(lex::Problem::TooDeep { at }) = lex::scan(text, text.len()).problem {
        return Err(errors::too_deep(Span::new(file, at, at + 1)));
    }
    let mut pairs =
        grammar::NdeParser::parse(grammar::Rule::module, text).map_err(|e| errors::convert(&e, text, file))?;
    match pairs.next() {
        Some(module) => build::module(module, file, text.len()),
        // pest yields the `module` pair for any input it accepts.
        None => Ok(ast::Module { items: Vec::new(), span: Span::new(file, 0, text.len()) }),
    }
}
