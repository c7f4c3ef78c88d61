//! tests/parse/: every `ok/*.nde` parses and prints as the `.ast` snapshot
//! beside it (rewritten when `NDE_BLESS=1`); every `err/*.nde` fails with
//! exactly the one diagnostic its `// error: CODE @ LINE:COL` annotation
//! names. A panic in the parser is reported as a failure of that file.

use crate::{cases, expected_errors, rel, Expected};
use nde_compiler::diag::Diagnostic;
use nde_compiler::span::SourceMap;
use nde_compiler::syntax::{ast, parse, print::print_module};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

fn bless() -> bool {
    std::env::var_os("NDE_BLESS").is_some_and(|v| v == "1")
}

/// Parses one file, turning a panic into a message.
fn parse_file(path: &Path) -> Result<(SourceMap, Result<ast::Module, Diagnostic>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", rel(path)))?;
    let mut sources = SourceMap::new();
    let file = sources.add(rel(path), text.clone());
    // Boxed only to keep the closure's return value small.
    match catch_unwind(AssertUnwindSafe(|| Box::new(parse(&text, file)))) {
        Ok(result) => Ok((sources, *result)),
        Err(_) => Err(format!("{}: the parser panicked", rel(path))),
    }
}

/// Runs `check` on every case of `folder`, then fails once, listing every
/// failing file.
fn check_all(folder: &str, check: impl Fn(&Path) -> Result<(), String>) {
    let files = cases(folder);
    assert!(!files.is_empty(), "no cases in tests/{folder}");
    let failures: Vec<String> = files.iter().filter_map(|path| check(path).err()).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), files.len(), failures.join("\n\n"));
}

#[test]
fn parse_ok_cases_match_their_snapshots() {
    check_all("parse/ok", |path| {
        let (sources, result) = parse_file(path)?;
        let module = result.map_err(|d| format!("{}: should parse, but:\n{}", rel(path), d.render_plain(&sources)))?;
        let printed = print_module(&module);
        let snapshot = path.with_extension("ast");
        if bless() {
            std::fs::write(&snapshot, &printed).map_err(|e| format!("{}: {e}", rel(&snapshot)))?;
            return Ok(());
        }
        match std::fs::read_to_string(&snapshot) {
            Ok(want) if want == printed => Ok(()),
            Ok(want) => Err(format!(
                "{}: the AST differs from {} (NDE_BLESS=1 rewrites it)\n--- want\n{want}--- got\n{printed}",
                rel(path),
                rel(&snapshot)
            )),
            Err(_) => Err(format!("{}: no snapshot {}; run with NDE_BLESS=1", rel(path), rel(&snapshot))),
        }
    });
}

#[test]
fn parse_err_cases_fail_as_annotated() {
    check_all("parse/err", |path| {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", rel(path)))?;
        let want = match expected_errors(&text).as_slice() {
            [one] => one.clone(),
            other => return Err(format!("{}: needs exactly one `// error:` line, has {}", rel(path), other.len())),
        };
        let (sources, result) = parse_file(path)?;
        let d = match result {
            Ok(_) => return Err(format!("{}: parsed, but should fail with {want:?}", rel(path))),
            Err(d) => d,
        };
        let (line, col) = sources.line_col(d.primary.span.file, d.primary.span.start).unwrap_or((0, 0));
        let got = Expected { code: d.code.to_string(), line, col };
        if got == want {
            Ok(())
        } else {
            Err(format!(
                "{}: want {} @ {}:{}, got {} @ {}:{}\n{}",
                rel(path),
                want.code,
                want.line,
                want.col,
                got.code,
                got.line,
                got.col,
                d.render_plain(&sources)
            ))
        }
    });
}

/// The ok cases must not carry error annotations (a misplaced file).
#[test]
fn parse_ok_cases_have_no_error_annotations() {
    check_all("parse/ok", |path| {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", rel(path)))?;
        match expected_errors(&text).is_empty() {
            true => Ok(()),
            false => Err(format!("{}: an ok case with `// error:` annotations", rel(path))),
        }
    });
}
