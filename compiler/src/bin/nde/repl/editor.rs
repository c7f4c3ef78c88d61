//! Line editing for the REPL (rustyline): multi-line entry that continues
//! until brackets balance, tab completion of commands, names and file
//! paths, and where the history file lives.
//!
//! Owns what counts as a complete entry ([`is_complete`], also used for
//! piped input) and the completion candidates. Never evaluates anything.

use std::borrow::Cow;
use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

/// The REPL's commands, for completion and `:help`.
pub const COMMANDS: &[&str] = &[
    ":load",
    ":reload",
    ":type",
    ":simplify",
    ":grad",
    ":ir",
    ":solve",
    ":train",
    ":plot",
    ":save",
    ":list",
    ":help",
    ":quit",
];

/// Commands whose argument is a file path.
const PATH_COMMANDS: &[&str] = &[":load", ":save", ":plot"];

/// The language's keywords (item and member keywords), for completion.
const KEYWORDS: &[&str] =
    &["const", "fn", "model", "solver", "data", "loss", "train", "use", "param", "state", "net", "let", "output"];

/// Whether `text` is a whole entry: every `(`, `[` and `{` closed (outside
/// strings and comments) and no block comment open. An unmatched closing
/// bracket also ends the entry (the parser reports it).
pub fn is_complete(text: &str) -> bool {
    let mut depth: i64 = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            '"' => {
                // A string ends on its line.
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' | '\n' => break,
                        _ => {}
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    if c == '*' && chars.peek() == Some(&'/') {
                        chars.next();
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth <= 0
}

/// Where the history is kept: `$NDE_HISTORY` (empty: no history file),
/// else `$XDG_STATE_HOME/nde/history`, else `~/.local/state/nde/history`.
pub fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NDE_HISTORY") {
        return (!p.is_empty()).then(|| PathBuf::from(p));
    }
    let state = std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()).map(PathBuf::from).or_else(|| {
        std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".local/state"))
    })?;
    Some(state.join("nde").join("history"))
}

/// The rustyline helper: completion and multi-line validation.
pub struct ReplHelper {
    /// The session's names, refreshed after every change.
    pub names: Rc<RefCell<Vec<String>>>,
    files: FilenameCompleter,
}

impl ReplHelper {
    pub fn new(names: Rc<RefCell<Vec<String>>>) -> ReplHelper {
        ReplHelper { names, files: FilenameCompleter::new() }
    }

    /// Completions of the word ending at `pos` in `line`: `(start, candidates)`.
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let before = &line[..pos];
        let start = before
            .char_indices()
            .rev()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '.'))
            .map(|(i, c)| i + c.len_utf8())
            .unwrap_or(0);
        let word = &before[start..];
        let mut out: Vec<String> = if start == 0 && word.starts_with(':') {
            COMMANDS.iter().filter(|c| c.starts_with(word)).map(|c| c.to_string()).collect()
        } else {
            let mut all: Vec<String> = self.names.borrow().clone();
            all.extend(KEYWORDS.iter().map(|k| k.to_string()));
            all.extend(nde_compiler::sema::reserved_names().map(str::to_string));
            all.extend(nde_compiler::stdlib::MODULES.iter().map(|m| m.path.to_string()));
            all.retain(|n| !word.is_empty() && n.starts_with(word));
            all
        };
        out.sort();
        out.dedup();
        (start, out)
    }
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let command = line.split_whitespace().next().unwrap_or("");
        let in_argument = line.trim_start().len() > command.len() && line[..pos].trim_start().len() > command.len();
        if PATH_COMMANDS.contains(&command) && in_argument {
            return self.files.complete(line, pos, ctx);
        }
        let (start, names) = self.candidates(line, pos);
        Ok((start, names.into_iter().map(|n| Pair { display: n.clone(), replacement: n }).collect()))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        Cow::Borrowed(line)
    }
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        let input = ctx.input();
        if input.trim_start().starts_with(':') || is_complete(input) {
            Ok(ValidationResult::Valid(None))
        } else {
            Ok(ValidationResult::Incomplete)
        }
    }
}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_continue_until_brackets_balance() {
        assert!(is_complete("1 + 2"));
        assert!(!is_complete("model m {"));
        assert!(!is_complete("model m {\n  state x = f(1,"));
        assert!(is_complete("model m {\n  state x = 1\n  dx/dt = -x\n}"));
        assert!(is_complete("const s = \"{\""), "a bracket in a string does not count");
        assert!(is_complete("1 // (\n"), "nor one in a line comment");
        assert!(!is_complete("1 /* still open"));
        assert!(is_complete("1 /* ( */"));
        assert!(is_complete(")"), "an unmatched closing bracket ends the entry");
    }

    #[test]
    fn completes_commands_and_names() {
        let names = Rc::new(RefCell::new(vec!["lorenz".to_string(), "loss_fit".to_string()]));
        let h = ReplHelper::new(names);
        assert_eq!(h.candidates(":so", 3), (0, vec![":solve".to_string()]));
        assert_eq!(h.candidates(":solve lor", 10), (7, vec!["lorenz".to_string()]));
        let (start, c) = h.candidates("1 + tan", 7);
        assert_eq!(start, 4);
        assert!(c.contains(&"tanh".to_string()), "{c:?}");
        assert_eq!(h.candidates("x", 0).1, Vec::<String>::new());
    }
}
