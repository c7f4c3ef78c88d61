//! The front end: source text to [`ProgramIr`]. Parses the root file, loads
//! and parses what it imports (stdlib modules from the embedded sources,
//! files through a [`FileLoader`], each once, cycles allowed), loads the
//! data files of the root's `data NAME = load("...")` declarations, runs
//! sema over all of them and lowers the root's models and losses.
//!
//! Owns import *loading* (E0208: unknown stdlib module, unreadable file) and
//! data file loading (E0602: unreadable or invalid `.csv` / `.npz`); what an
//! import may name and how data is used are sema's business. Renders nothing.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use nde_runtime::data::{DataError, Series};

use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::ProgramIr;
use crate::lower;
use crate::sema::{self, CheckOptions, CheckedProgram, LoadedData, LoadedModule, ModuleOrigin};
use crate::span::{FileId, SourceMap};
use crate::stdlib;
use crate::syntax::{self, ast};

/// Reads imported files and data files (a trait so tests and the REPL can
/// serve them from memory).
pub trait FileLoader {
    /// A text file (an imported `.nde`).
    fn load(&self, path: &Path) -> std::io::Result<String>;

    /// A file's bytes (a data file: `.csv` or `.npz`). By default, the text
    /// [`FileLoader::load`] returns.
    fn load_bytes(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        self.load(path).map(String::into_bytes)
    }
}

/// Reads files from disk.
#[derive(Clone, Copy, Debug, Default)]
pub struct FsLoader;

impl FileLoader for FsLoader {
    fn load(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn load_bytes(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(path)
    }
}

/// Serves files from memory (tests, the REPL, fuzzing).
#[derive(Clone, Debug, Default)]
pub struct MemoryLoader {
    files: HashMap<PathBuf, String>,
    binary: HashMap<PathBuf, Vec<u8>>,
}

impl MemoryLoader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file; `path` is matched after lexical normalisation.
    pub fn with(mut self, path: impl AsRef<Path>, text: impl Into<String>) -> Self {
        self.files.insert(normalise(path.as_ref()), text.into());
        self
    }

    /// Adds a binary file (an `.npz`), served by [`FileLoader::load_bytes`] only.
    pub fn with_bytes(mut self, path: impl AsRef<Path>, bytes: impl Into<Vec<u8>>) -> Self {
        self.binary.insert(normalise(path.as_ref()), bytes.into());
        self
    }
}

fn not_found() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")
}

impl FileLoader for MemoryLoader {
    fn load(&self, path: &Path) -> std::io::Result<String> {
        self.files.get(&normalise(path)).cloned().ok_or_else(not_found)
    }

    fn load_bytes(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        let path = normalise(path);
        match self.binary.get(&path) {
            Some(b) => Ok(b.clone()),
            None => self.files.get(&path).map(|t| t.clone().into_bytes()).ok_or_else(not_found),
        }
    }
}

/// Front-end settings.
#[derive(Clone, Debug, Default)]
pub struct FrontendOptions {
    /// Seed of the random parameter initialisers (`glorot`, `normal`).
    pub seed: u64,
    /// Treat data set NAME as having N save times when checking and
    /// lowering losses: `DATA.t`, `DATA.y` and the solution saved at
    /// `DATA.t` have N rows (for training on windows of N times). Everything
    /// else, the data sets themselves included, is unchanged.
    pub data_times: Vec<(String, usize)>,
}

/// Parses `root` (already in `sources`) and its imports (added to
/// `sources`), checks names and shapes, and lowers to IR. Collects every
/// diagnostic it can; `Err` if any is an error.
pub fn compile_to_ir(
    sources: &mut SourceMap,
    root: FileId,
    loader: &dyn FileLoader,
    opts: &FrontendOptions,
) -> Result<ProgramIr, Diagnostics> {
    let mut diags = Diagnostics::default();
    let modules = load_modules(sources, root, loader, &mut diags);
    if modules.is_empty() {
        return Err(diags);
    }
    let options = CheckOptions {
        data_files: load_data(sources, &modules[0], loader, &mut diags),
        data_times: opts.data_times.clone(),
    };
    let sources: &SourceMap = sources;
    let seed = opts.seed;
    let (program, found) = with_deep_stack(|| {
        let (checked, found) = sema::check_with(&modules, sources, &options);
        let program = (!found.has_errors()).then(|| lower::lower(&checked, seed));
        (program, found)
    });
    diags.extend(found.0);
    match program {
        Some(p) if !diags.has_errors() => Ok(p),
        _ => Err(diags),
    }
}

/// Parses and checks `root` and its imports (data files included), without lowering.
pub fn check(sources: &mut SourceMap, root: FileId, loader: &dyn FileLoader) -> Result<CheckedProgram, Diagnostics> {
    let mut diags = Diagnostics::default();
    let modules = load_modules(sources, root, loader, &mut diags);
    if modules.is_empty() {
        return Err(diags);
    }
    let options =
        CheckOptions { data_files: load_data(sources, &modules[0], loader, &mut diags), data_times: Vec::new() };
    let sources: &SourceMap = sources;
    let (program, found) = with_deep_stack(|| sema::check_with(&modules, sources, &options));
    diags.extend(found.0);
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(program)
    }
}

/// Stack for checking and lowering. Both recurse over expressions, and fn
/// inlining multiplies the nesting the parser allows (bounded by sema's
/// budget, see `MAX_INLINED_DEPTH`); a dedicated thread makes that depth
/// safe whatever thread the caller runs on. Only touched pages are committed.
const FRONTEND_STACK: usize = 256 << 20;

/// Runs `f` on a thread with [`FRONTEND_STACK`] bytes of stack (or on the
/// caller's thread if no thread can be started); panics propagate.
fn with_deep_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let slot = std::sync::Mutex::new(Some(f));
    let take = || slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    let spawned = std::thread::scope(|s| {
        let job = || take().map(|f| f());
        match std::thread::Builder::new().name("nde-frontend".into()).stack_size(FRONTEND_STACK).spawn_scoped(s, job) {
            Ok(h) => Some(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))),
            Err(_) => None,
        }
    });
    match spawned.flatten() {
        Some(v) => v,
        None => take().map(|f| f()).expect("the job runs once: on the thread or here"),
    }
}

/// Loads the data file of every `data NAME = load("path")` of the root
/// (E0602 for one that cannot be read or is invalid), by item index.
fn load_data(
    sources: &SourceMap,
    root: &LoadedModule,
    loader: &dyn FileLoader,
    diags: &mut Diagnostics,
) -> HashMap<usize, Option<LoadedData>> {
    let base =
        sources.get(root.file).and_then(|f| Path::new(&f.name).parent().map(Path::to_path_buf)).unwrap_or_default();
    let mut out = HashMap::new();
    for (i, item) in root.ast.items.iter().enumerate() {
        let ast::Item::Data(d) = item else { continue };
        let Some((path, span)) = sema::load_path(&d.source) else { continue };
        let full = normalise(&base.join(path));
        let loaded =
            read_series(&full, path, loader).map(|series| LoadedData { path: full.clone(), series: Arc::new(series) });
        match loaded {
            Ok(l) => {
                out.insert(i, Some(l));
            }
            Err(e) => {
                let mut d = Diagnostic::error("E0602", format!("cannot load data from `{path}`"), span).label(e.label);
                for h in e.hints {
                    d = d.hint(h);
                }
                diags.push(d);
                out.insert(i, None);
            }
        }
    }
    out
}

/// Why a data file could not be loaded, in words for a diagnostic.
struct LoadFailure {
    label: String,
    hints: Vec<String>,
}

impl From<DataError> for LoadFailure {
    fn from(e: DataError) -> Self {
        // The label is the whole message (file, line, column, what is wrong);
        // the hint moves to the diagnostic's hints.
        let hint = e.hint.clone();
        let label = DataError { hint: None, ..e }.to_string();
        LoadFailure { label, hints: hint.into_iter().collect() }
    }
}

/// Reads and parses one data file; `written` is the path as in the source.
fn read_series(full: &Path, written: &str, loader: &dyn FileLoader) -> Result<Series, LoadFailure> {
    let ext = full.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
    let csv = match ext.as_deref() {
        Some("csv") => true,
        Some("npz") => false,
        _ => {
            return Err(LoadFailure {
                label: format!("`{written}` is neither a `.csv` nor a `.npz` file"),
                hints: vec![
                    "save the observations as CSV with a header (`t,x,y`), or with numpy.savez(path, t=t, y=y)".into(),
                ],
            })
        }
    };
    let name = full.display().to_string();
    let bytes = loader.load_bytes(full).map_err(|e| LoadFailure {
        label: format!("cannot read {name}: {e}"),
        hints: vec!["the path is relative to the file that declares the data".into()],
    })?;
    if !csv {
        return Ok(Series::from_npz_bytes(&bytes, &name)?);
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Series::from_csv_text(&text, &name)?),
        Err(e) => {
            let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count();
            Err(LoadFailure {
                label: format!("{name}, line {line}: the text is not valid UTF-8"),
                hints: vec!["save the file as UTF-8 text".into()],
            })
        }
    }
}

/// Lexically normalises `a/./b/../c` to `a/c` (the loader may not be a file system).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Loads the root and, transitively, every module it imports. Empty if the
/// root does not parse.
fn load_modules(
    sources: &mut SourceMap,
    root: FileId,
    loader: &dyn FileLoader,
    diags: &mut Diagnostics,
) -> Vec<LoadedModule> {
    let text = sources.get(root).map(|f| f.text.clone()).unwrap_or_default();
    let ast = match syntax::parse(&text, root) {
        Ok(m) => m,
        Err(d) => {
            diags.push(d);
            return Vec::new();
        }
    };
    let root_name = sources.get(root).map(|f| f.name.clone()).unwrap_or_default();
    let mut modules = vec![LoadedModule { file: root, ast, origin: ModuleOrigin::Root, uses: Vec::new() }];
    let mut by_key: HashMap<String, usize> =
        HashMap::from([(format!("file:{}", normalise(Path::new(&root_name)).display()), 0)]);
    let mut next = 0;
    while next < modules.len() {
        let uses: Vec<ast::UseItem> = modules[next]
            .ast
            .items
            .iter()
            .filter_map(|it| match it {
                ast::Item::Use(u) => Some(u.clone()),
                _ => None,
            })
            .collect();
        let base = match &modules[next].origin {
            ModuleOrigin::Std(_) => PathBuf::new(),
            _ => sources
                .get(modules[next].file)
                .and_then(|f| Path::new(&f.name).parent().map(Path::to_path_buf))
                .unwrap_or_default(),
        };
        let mut resolved = Vec::with_capacity(uses.len());
        for u in &uses {
            let target = match &u.path {
                ast::UsePath::Module(segments) => load_std(sources, segments, &mut modules, &mut by_key, diags),
                ast::UsePath::File { path, span } => {
                    let full = normalise(&base.join(path));
                    let key = format!("file:{}", full.display());
                    if let Some(&i) = by_key.get(&key) {
                        Some(i)
                    } else {
                        match loader.load(&full) {
                            Ok(text) => {
                                let name = full.display().to_string();
                                let file = sources.add(name.clone(), text);
                                let parsed = parse_module(sources, file, ModuleOrigin::File(name), &mut modules, diags);
                                if let Some(i) = parsed {
                                    by_key.insert(key, i);
                                }
                                parsed
                            }
                            Err(e) => {
                                diags.push(
                                    Diagnostic::error("E0208", format!("cannot read `{path}`: {e}"), *span)
                                        .label(format!("looked for {}", full.display()))
                                        .hint("file imports are relative to the importing file"),
                                );
                                None
                            }
                        }
                    }
                }
            };
            resolved.push(target);
        }
        modules[next].uses = resolved;
        next += 1;
    }
    modules
}

/// `use std.x.{...}`: the embedded stdlib module, loaded once.
fn load_std(
    sources: &mut SourceMap,
    segments: &[ast::Ident],
    modules: &mut Vec<LoadedModule>,
    by_key: &mut HashMap<String, usize>,
    diags: &mut Diagnostics,
) -> Option<usize> {
    let path: Vec<&str> = segments.iter().map(|s| s.name.as_str()).collect();
    let path = path.join(".");
    let span = match (segments.first(), segments.last()) {
        (Some(a), Some(b)) => a.span.to(b.span),
        _ => return None,
    };
    let Some(std) = stdlib::module(&path) else {
        let mut d = Diagnostic::error("E0208", format!("unknown module `{path}`"), span).label("no such module");
        let names: Vec<&str> = stdlib::MODULES.iter().map(|m| m.path).collect();
        if let Some(s) = crate::sema::closest(&path, names.iter().copied()) {
            d = d.hint(format!("did you mean `{s}`?"));
        }
        diags.push(d.hint(format!(
            "the standard library has: {}; files are imported as `use \"file.nde\".{{name}}`",
            names.join(", ")
        )));
        return None;
    };
    let key = format!("std:{path}");
    if let Some(&i) = by_key.get(&key) {
        return Some(i);
    }
    let file = sources.add(std.file_name, std.source);
    let i = parse_module(sources, file, ModuleOrigin::Std(std), modules, diags)?;
    by_key.insert(key, i);
    Some(i)
}

fn parse_module(
    sources: &SourceMap,
    file: FileId,
    origin: ModuleOrigin,
    modules: &mut Vec<LoadedModule>,
    diags: &mut Diagnostics,
) -> Option<usize> {
    let text = &sources.get(file)?.text;
    match syntax::parse(text, file) {
        Ok(ast) => {
            modules.push(LoadedModule { file, ast, origin, uses: Vec::new() });
            Some(modules.len() - 1)
        }
        Err(d) => {
            diags.push(d);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_is_lexical() {
        assert_eq!(normalise(Path::new("a/./b/../c.nde")), PathBuf::from("a/c.nde"));
        assert_eq!(normalise(Path::new("../x.nde")), PathBuf::from("../x.nde"));
        assert_eq!(normalise(Path::new("tests/check/ok/../lib/h.nde")), PathBuf::from("tests/check/lib/h.nde"));
    }
}
