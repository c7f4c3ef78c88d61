//! Checker cases, through the whole front end (`compile_to_ir`):
//!
//! - `check/ok/NAME.nde` must compile; every lowered function (models and
//!   losses) must pass the IR verifier, and the printed program
//!   (`ir::print::print_program`) must equal the snapshot `NAME.ir`
//!   (rewritten with `NDE_BLESS=1`).
//! - `check/err/NAME.nde` must fail with exactly its `// error: CODE @ L:C`
//!   annotations, each diagnostic with a place and a label.
//!
//! No case may panic. `check/lib/` holds files the cases import, and data
//! files (`.csv`) the cases load.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use nde_compiler::diag::Diagnostics;
use nde_compiler::driver::frontend::{compile_to_ir, FrontendOptions, FsLoader};
use nde_compiler::ir::{self, ProgramIr};
use nde_compiler::span::SourceMap;

use crate::{cases, expected_errors, rel, Expected};

/// Compiles one file from disk, catching panics.
fn compile(path: &Path) -> Result<(SourceMap, Result<ProgramIr, Diagnostics>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading: {e}"))?;
    let mut sources = SourceMap::new();
    let root = sources.add(path.display().to_string(), text);
    let result =
        catch_unwind(AssertUnwindSafe(|| compile_to_ir(&mut sources, root, &FsLoader, &FrontendOptions::default())))
            .map_err(|p| {
                let msg =
                    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
                format!("panicked: {}", msg.unwrap_or_default())
            })?;
    Ok((sources, result))
}

/// The text snapshot of a program, with the tests folder written `<tests>`
/// so that paths of loaded files do not depend on the checkout.
fn snapshot(p: &ProgramIr) -> String {
    let tests = crate::tests_dir().display().to_string();
    ir::print::print_program(p).replace(&tests, "<tests>")
}

#[test]
fn ok_cases_compile_and_match_their_ir() {
    let bless = std::env::var_os("NDE_BLESS").is_some();
    let all = cases("check/ok");
    assert!(all.len() >= 8, "expected at least 8 ok cases, found {}", all.len());
    let mut failures = Vec::new();
    for path in &all {
        let name = rel(path);
        let (sources, result) = match compile(path) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let program = match result {
            Ok(p) => p,
            Err(d) => {
                let text: Vec<String> = d.0.iter().map(|d| d.render_plain(&sources)).collect();
                failures.push(format!("{name}: unexpected errors:\n{}", text.join("")));
                continue;
            }
        };
        for l in &program.losses {
            if let Err(e) = ir::verify::verify(&l.function) {
                failures.push(format!("{name}: {} fails verification: {e:?}", l.function.name));
            }
        }
        for m in &program.models {
            for f in [&m.rhs, &m.init] {
                if let Err(e) = ir::verify::verify(f) {
                    failures.push(format!("{name}: {} fails verification: {e:?}", f.name));
                }
            }
            if m.param_values.len() != m.n_param() {
                failures.push(format!(
                    "{name}: {} has {} param values for {} params",
                    m.name,
                    m.param_values.len(),
                    m.n_param()
                ));
            }
        }
        let got = snapshot(&program);
        let snap = path.with_extension("ir");
        if bless {
            std::fs::write(&snap, &got).expect("writing snapshot");
            continue;
        }
        match std::fs::read_to_string(&snap) {
            Ok(want) if want == got => {}
            Ok(_) => failures.push(format!("{name}: IR differs from {} (NDE_BLESS=1 to update):\n{got}", rel(&snap))),
            Err(_) => failures.push(format!("{name}: no snapshot {} (NDE_BLESS=1 to create)", rel(&snap))),
        }
    }
    assert!(failures.is_empty(), "{} of {} ok cases failed:\n\n{}", failures.len(), all.len(), failures.join("\n\n"));
}

#[test]
fn err_cases_report_exactly_their_annotations() {
    let all = cases("check/err");
    assert!(all.len() >= 30, "expected at least 30 err cases, found {}", all.len());
    let mut failures = Vec::new();
    for path in &all {
        let name = rel(path);
        let text = std::fs::read_to_string(path).expect("reading case");
        let mut want = expected_errors(&text);
        if want.is_empty() {
            failures.push(format!("{name}: no `// error:` annotation"));
            continue;
        }
        let (sources, result) = match compile(path) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let diags = match result {
            Ok(_) => {
                failures.push(format!("{name}: compiled without errors"));
                continue;
            }
            Err(d) => d,
        };
        let mut got = Vec::new();
        for d in &diags.0 {
            let rendered = d.render_plain(&sources);
            if d.primary.span.is_detached() || d.primary.message.is_empty() {
                failures.push(format!("{name}: a diagnostic without a place or label:\n{rendered}"));
            }
            let (line, col) = sources.line_col(d.primary.span.file, d.primary.span.start).unwrap_or((0, 0));
            got.push(Expected { code: d.code.to_string(), line, col });
        }
        want.sort();
        got.sort();
        if want != got {
            let show = |v: &[Expected]| {
                v.iter().map(|e| format!("{} @ {}:{}", e.code, e.line, e.col)).collect::<Vec<_>>().join(", ")
            };
            let rendered: Vec<String> = diags.0.iter().map(|d| d.render_plain(&sources)).collect();
            failures.push(format!(
                "{name}:\n  expected: {}\n  got:      {}\n{}",
                show(&want),
                show(&got),
                rendered.join("")
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} err cases failed:\n\n{}", failures.len(), all.len(), failures.join("\n\n"));
}

/// Every case with one line deleted, and with one line doubled, still
/// compiles or fails cleanly: no panic on broken input.
#[test]
fn mutated_cases_never_panic() {
    let mut failures = Vec::new();
    let mut runs = 0;
    for path in cases("check/ok").into_iter().chain(cases("check/err")) {
        let text = std::fs::read_to_string(&path).expect("reading case");
        let lines: Vec<&str> = text.lines().collect();
        for i in 0..lines.len() {
            for doubled in [false, true] {
                let mut mutated: Vec<&str> = lines.clone();
                if doubled {
                    mutated.insert(i, lines[i]);
                } else {
                    mutated.remove(i);
                }
                let mut sources = SourceMap::new();
                let root = sources.add(path.display().to_string(), mutated.join("\n"));
                let r = catch_unwind(AssertUnwindSafe(|| {
                    compile_to_ir(&mut sources, root, &FsLoader, &FrontendOptions::default()).map(|_| ())
                }));
                runs += 1;
                if r.is_err() {
                    let what = if doubled { "doubled" } else { "deleted" };
                    failures.push(format!("{} with line {} {what}", rel(&path), i + 1));
                }
            }
        }
    }
    assert!(runs > 500, "only {runs} mutations");
    assert!(failures.is_empty(), "panics:\n{}", failures.join("\n"));
}
