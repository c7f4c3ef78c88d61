//! `nde repl`: an interactive session. Items (`const fn model data solver
//! loss train use`) are added to the session (a later definition of a name
//! replaces the earlier one, and whatever depends on it is checked and
//! lowered again); a bare expression is evaluated and printed with its
//! shape; `:commands` inspect, solve, train, plot and save.
//!
//! On a terminal it is a line editor (rustyline: history file, completion,
//! multi-line entry until brackets balance); with piped standard input it
//! runs the script, prints the results, and stops with the error's exit
//! status at the first error. Owns the read–evaluate–print loop, the
//! errors of a command ([`ReplError`]) and the Ctrl-C flag that interrupts
//! training. Never: a second front end or copies of run/train logic (the
//! session goes through the driver like a file does).

mod commands;
mod editor;
mod plot;
mod print;
mod session;
mod solve;

use std::cell::RefCell;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};

use nde_compiler::diag::Diagnostic;
use nde_compiler::span::SourceMap;
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{CompletionType, Config, Editor};

use crate::{exit, render};
use editor::{is_complete, ReplHelper};
use session::{Session, Vars};

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  nde repl\n  nde repl examples/lorenz.nde\n  nde repl < script.txt\n\n\
Type :help in the REPL for its commands. History: $NDE_HISTORY, else $XDG_STATE_HOME/nde/history, \
else ~/.local/state/nde/history.")]
pub struct ReplArgs {
    /// A .nde file to start with (as `:load FILE`).
    file: Option<PathBuf>,
    /// Seed for parameter initialisers (glorot, normal).
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Why an entry failed; the session is unchanged.
pub enum ReplError {
    /// Compiler diagnostics, with the sources to render them against.
    Diagnostics { sources: SourceMap, diagnostics: Vec<Diagnostic> },
    /// A command used wrongly (unknown command, missing argument, unknown name).
    Usage(String),
    /// The session's models cannot do what was asked (code generation, evaluation).
    Model(String),
    /// A solve or a training step failed.
    Solve(String),
    /// A file could not be read or written.
    File(String),
}

impl ReplError {
    /// The exit status of a piped script that stops on this error.
    fn code(&self) -> u8 {
        match self {
            ReplError::Diagnostics { .. } | ReplError::Model(_) => exit::MODEL_ERRORS,
            ReplError::Usage(_) => exit::USAGE,
            ReplError::Solve(_) => exit::SOLVE_FAILED,
            ReplError::File(_) => exit::FILE_ERROR,
        }
    }

    /// Prints the error to stderr (diagnostics as the compiler renders them).
    fn report(&self) {
        match self {
            ReplError::Diagnostics { sources, diagnostics } => render::emit(sources, diagnostics),
            ReplError::Usage(m) | ReplError::Model(m) | ReplError::Solve(m) | ReplError::File(m) => {
                eprintln!("error: {m}")
            }
        }
    }
}

/// What to do after an entry.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// Set by Ctrl-C (SIGINT) while a command runs; training checks it between steps.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether Ctrl-C was pressed since the command started.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// The REPL's state: the session's definitions and what commands keep.
pub struct Repl {
    session: Session,
    solve: solve::State,
    /// The session's names, shared with the line editor's completion.
    names: Rc<RefCell<Vec<String>>>,
}

/// The words an item starts with.
const ITEM_KEYWORDS: &[&str] = &["use", "const", "fn", "model", "solver", "data", "loss", "train"];

impl Repl {
    fn new(seed: u64) -> Repl {
        Repl { session: Session::new(seed), solve: solve::State::default(), names: Rc::default() }
    }

    /// Runs one entry: a command, one or more items, or an expression.
    pub fn execute(&mut self, entry: &str) -> Result<Flow, ReplError> {
        let text = entry.trim();
        if text.is_empty() {
            return Ok(Flow::Continue);
        }
        if let Some(command) = text.strip_prefix(':') {
            return commands::run(self, command);
        }
        let first = text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap_or("");
        let origin = self.session.entry(text);
        if ITEM_KEYWORDS.contains(&first) {
            let defined = self.session.define(origin)?;
            self.after_change(&defined);
            return Ok(Flow::Continue);
        }
        let model = self.session.expression(&origin, &Vars::default())?;
        let values = nde_compiler::ir::interp::eval(&model.rhs, 0.0, &[], &model.param_values)
            .map_err(|e| ReplError::Model(format!("evaluating the expression: {e}")))?;
        let shape = model.rhs.shape(model.rhs.outputs[0]);
        println!("{}", print::value(shape, &values));
        Ok(Flow::Continue)
    }

    /// Reports a change of the session and forgets what it made stale.
    fn after_change(&mut self, defined: &session::Defined) {
        for (kind, name, replaced) in &defined.items {
            println!("{} {kind} {name}", if *replaced { "redefined" } else { "defined" });
        }
        if !defined.updated.is_empty() {
            println!("updated (recompiled on next use): {}", defined.updated.join(", "));
        }
        for name in self.solve.forget(&defined.changed_models) {
            println!(
                "note: the trained parameters of `{name}` no longer fit it; it starts from its initial values again"
            );
        }
        *self.names.borrow_mut() = self.session.names();
    }
}

pub fn repl(args: &ReplArgs) -> u8 {
    let mut r = Repl::new(args.seed);
    let terminal = std::io::stdin().is_terminal();
    if let Some(file) = &args.file {
        match commands::load(&mut r, file) {
            Ok(()) => {}
            Err(e) => {
                e.report();
                if !terminal {
                    return e.code();
                }
            }
        }
    }
    if terminal {
        interactive(r)
    } else {
        piped(r)
    }
}

/// Runs the entries of standard input; stops at the first error with its status.
fn piped(mut r: Repl) -> u8 {
    let mut entry = String::new();
    let mut run = |entry: &str| -> Option<u8> {
        match r.execute(entry) {
            Ok(Flow::Continue) => None,
            Ok(Flow::Quit) => Some(0),
            Err(e) => {
                e.report();
                Some(e.code())
            }
        }
    };
    for line in std::io::stdin().lock().lines() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: reading standard input: {e}");
                return exit::FILE_ERROR;
            }
        };
        entry.push_str(&line);
        entry.push('\n');
        if entry.trim_start().starts_with(':') || is_complete(&entry) {
            if let Some(code) = run(&entry) {
                return code;
            }
            entry.clear();
        }
    }
    run(&entry).unwrap_or(0)
}

/// The line editor's loop.
fn interactive(mut r: Repl) -> u8 {
    install_sigint();
    let config = Config::builder().completion_type(CompletionType::List).auto_add_history(true).build();
    let mut rl: Editor<ReplHelper, FileHistory> = match Editor::with_config(config) {
        Ok(rl) => rl,
        Err(e) => {
            eprintln!("error: cannot start the line editor: {e}");
            return exit::FILE_ERROR;
        }
    };
    rl.set_helper(Some(ReplHelper::new(r.names.clone())));
    let history = editor::history_path();
    if let Some(path) = &history {
        let _ = rl.load_history(path);
    }
    println!("nde {} — :help for commands, :quit or Ctrl-D to leave", env!("CARGO_PKG_VERSION"));
    loop {
        match rl.readline("nde> ") {
            Ok(line) => {
                INTERRUPTED.store(false, Ordering::Relaxed);
                let flow = r.execute(&line);
                if let Some(path) = &history {
                    save_history(&mut rl, path);
                }
                match flow {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Quit) => break,
                    Err(e) => e.report(),
                }
            }
            // Ctrl-C at the prompt clears the line.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::FILE_ERROR;
            }
        }
    }
    0
}

fn save_history(rl: &mut Editor<ReplHelper, FileHistory>, path: &std::path::Path) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = rl.save_history(path) {
        eprintln!("warning: cannot save the history to {}: {e}", path.display());
    }
}

/// Ctrl-C while a command runs sets [`INTERRUPTED`] instead of ending the
/// process (at the prompt the line editor reads it as a key).
fn install_sigint() {
    #[cfg(unix)]
    {
        extern "C" fn on_sigint(_: libc::c_int) {
            INTERRUPTED.store(true, Ordering::Relaxed);
        }
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; installing it has no other preconditions.
        unsafe {
            libc::signal(libc::SIGINT, on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t);
        }
    }
}
