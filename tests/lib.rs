//! nde's data-driven test suite. Each module walks one folder of cases
//! (`parse/`, `check/`, ...) and checks every file in it with one helper.
//! Set `NDE_BLESS=1` to rewrite snapshots.
//!
//! Error cases carry their expectations inline, as comment lines anywhere in
//! the file:
//!
//! ```text
//! // error: E0301 @ 12:11
//! ```
//!
//! meaning "a diagnostic with code E0301 whose primary span starts at line
//! 12, column 11". A case lists every error it expects; the test fails on a
//! missing or an unexpected one, and on any panic.

#[cfg(test)]
mod check;
#[cfg(test)]
mod corpus;
#[cfg(test)]
mod examples;
#[cfg(test)]
mod grad;
#[cfg(test)]
mod gradients;
#[cfg(test)]
mod stiff;

use std::path::{Path, PathBuf};

/// Root of the tests folder.
pub fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One expected diagnostic: code, 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expected {
    pub code: String,
    pub line: usize,
    pub col: usize,
}

/// The `// error: CODE @ LINE:COL` annotations of a case, in file order.
pub fn expected_errors(text: &str) -> Vec<Expected> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("// error:"))
        .filter_map(|rest| {
            let (code, pos) = rest.split_once('@')?;
            let (line, col) = pos.trim().split_once(':')?;
            Some(Expected {
                code: code.trim().to_string(),
                line: line.trim().parse().ok()?,
                col: col.trim().parse().ok()?,
            })
        })
        .collect()
}

/// The `.nde` files of a folder under `tests/`, sorted by name.
pub fn cases(folder: &str) -> Vec<PathBuf> {
    let dir = tests_dir().join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "nde"))
        .collect();
    files.sort();
    files
}

/// Path relative to the tests folder, for messages.
pub fn rel(path: &Path) -> String {
    path.strip_prefix(tests_dir()).unwrap_or(path).display().to_string()
}
