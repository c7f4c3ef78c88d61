//! The crate's one error type, [`Error`], and the compile diagnostics it
//! carries ([`CompileErrors`], [`Diagnostic`]).
//!
//! Owns turning the compiler's diagnostics into text (codespan-reporting,
//! never coloured, the same layout as the `nde` command's) and into data
//! (`file:line:col` of each). Never prints.

use std::fmt;

use nde_compiler::diag;
use nde_compiler::span::SourceMap;

/// Everything that can go wrong in this crate.
///
/// Compile errors keep their diagnostics ([`Error::Compile`]); the others
/// wrap the typed error of the stage that failed. `Display` gives a message
/// for people (for compile errors, the rendered diagnostics with source
/// excerpts and `file:line:col`).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The file does not parse or check (or cannot be read): its diagnostics.
    Compile(CompileErrors),
    /// No item of this kind has this name.
    NotFound {
        /// What was looked for: `model`, `loss`, `train block`, `parameter`, ...
        kind: &'static str,
        /// The name asked for (empty when none was given and the choice was ambiguous).
        name: String,
        /// The names that exist.
        available: Vec<String>,
    },
    /// An argument does not fit: a buffer of the wrong length, a non-finite
    /// value, output times out of order.
    InvalidArgument(String),
    /// The model cannot do what was asked (a Jacobian of an SDE model, a
    /// solve of a controlled model).
    Unsupported(String),
    /// The solver named cannot be used (unknown method, fixed step without `dt`).
    Solver(String),
    /// Code generation failed (a compiler bug rather than a user error).
    Codegen(String),
    /// Evaluating the model's initial state or outputs failed.
    Evaluate(String),
    /// A solve failed (step size too small, non-finite state, too many steps, ...).
    Solve(nde_runtime::SolveError),
    /// Parameter arrays do not match the model's parameters.
    Parameters(nde_compiler::driver::ParamError),
    /// Setting up or running a loss or a `train` block failed.
    Training(nde_compiler::driver::train::TrainFailure),
    /// Reading or writing a file (`.npz`, `.csv`).
    Io(nde_runtime::io::IoError),
    /// A GPU ensemble solve failed or could not start (no adapter, built
    /// without the `gpu` feature, a solver the device does not run, a
    /// trajectory's solve failure).
    Gpu(nde_compiler::driver::gpu::GpuError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Compile(e) => write!(f, "{e}"),
            Error::NotFound { kind, name, available } => {
                let list = if available.is_empty() { "none".to_string() } else { available.join(", ") };
                if name.is_empty() {
                    write!(f, "several of kind {kind} exist ({list}): name one")
                } else {
                    write!(f, "no {kind} named `{name}`; available: {list}")
                }
            }
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::Unsupported(m) | Error::Solver(m) | Error::Evaluate(m) => write!(f, "{m}"),
            Error::Codegen(m) => write!(f, "code generation failed: {m}"),
            Error::Solve(e) => write!(f, "{e}"),
            Error::Parameters(e) => write!(f, "{e}"),
            Error::Training(e) => write!(f, "{e}"),
            Error::Io(e) => write!(f, "{e}"),
            Error::Gpu(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Solve(e) => Some(e),
            Error::Parameters(e) => Some(e),
            Error::Training(e) => Some(e),
            Error::Io(e) => Some(e),
            Error::Gpu(e) => Some(e),
            _ => None,
        }
    }
}

impl From<nde_runtime::SolveError> for Error {
    fn from(e: nde_runtime::SolveError) -> Self {
        Error::Solve(e)
    }
}

impl From<nde_runtime::io::IoError> for Error {
    fn from(e: nde_runtime::io::IoError) -> Self {
        Error::Io(e)
    }
}

impl From<nde_compiler::driver::train::TrainFailure> for Error {
    fn from(e: nde_compiler::driver::train::TrainFailure) -> Self {
        Error::Training(e)
    }
}

impl From<nde_compiler::driver::ParamError> for Error {
    fn from(e: nde_compiler::driver::ParamError) -> Self {
        Error::Parameters(e)
    }
}

/// The diagnostics of a file that failed to compile, with the sources
/// needed to show them.
#[derive(Clone)]
pub struct CompileErrors {
    sources: SourceMap,
    raw: Vec<diag::Diagnostic>,
}

impl CompileErrors {
    pub(crate) fn new(sources: SourceMap, raw: Vec<diag::Diagnostic>) -> Self {
        CompileErrors { sources, raw }
    }

    /// Each diagnostic as data: code, message, `file:line:col`, hints.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        self.raw.iter().map(|d| Diagnostic::of(d, &self.sources)).collect()
    }

    /// The compiler's own diagnostics (spans into [`CompileErrors::sources`]).
    pub fn raw(&self) -> &[diag::Diagnostic] {
        &self.raw
    }

    /// The source files the spans point into.
    pub fn sources(&self) -> &SourceMap {
        &self.sources
    }

    /// The diagnostics rendered like the `nde` command shows them (without colour).
    pub fn render(&self) -> String {
        diag::codespan::render_string(&self.sources, &self.raw)
    }
}

impl fmt::Display for CompileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.render().trim_end())
    }
}

impl fmt::Debug for CompileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.diagnostics()).finish()
    }
}

/// One compile diagnostic as data.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// An error (else a warning).
    pub is_error: bool,
    /// The stable code, such as `E0301` (see the language reference).
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// The file the error is in, as it was named (`examples/lorenz.nde`, or
    /// the name given to [`crate::Program::from_source`]); `None` for an
    /// error that points at no source.
    pub file: Option<String>,
    /// 1-based line of the error's start (0 without a file).
    pub line: usize,
    /// 1-based column, in characters (0 without a file).
    pub column: usize,
    /// How to fix it, where the compiler can tell.
    pub hints: Vec<String>,
}

impl Diagnostic {
    fn of(d: &diag::Diagnostic, sources: &SourceMap) -> Diagnostic {
        let span = d.primary.span;
        let place = sources.get(span.file).zip(sources.line_col(span.file, span.start));
        let (file, line, column) = match place {
            Some((f, (line, col))) => (Some(f.name.clone()), line, col),
            None => (None, 0, 0),
        };
        Diagnostic {
            is_error: d.is_error(),
            code: d.code,
            message: d.message.clone(),
            file,
            line,
            column,
            hints: d.hints.clone(),
        }
    }

    /// `file:line:col` of the error (`<detached>` without a file).
    pub fn location(&self) -> String {
        match &self.file {
            Some(f) => format!("{f}:{}:{}", self.line, self.column),
            None => "<detached>".to_string(),
        }
    }
}
