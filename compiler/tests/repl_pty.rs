//! `nde repl` on a pseudo-terminal (rexpect), as a person uses it: the
//! line editor's multi-line entry, redefinition and recompilation, tab
//! completion, an error followed by a correct entry, Ctrl-C at the prompt
//! and during `:train`, `:save` to a file `nde check` accepts, and the
//! history file.

#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::Command;

use rexpect::reader::Options;
use rexpect::session::{spawn_with_options, PtySession};

/// Generous: a loaded CI machine may be slow, and every wait is on output.
const TIMEOUT_MS: u64 = 30_000;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nde-repl-pty-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `nde repl ARGS` on a terminal, its history in `history`; waits for the first prompt.
fn start(args: &[&str], history: &Path) -> PtySession {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nde"));
    cmd.arg("repl").args(args).env("TERM", "xterm").env("NDE_HISTORY", history);
    cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap());
    let opts = Options::new().timeout_ms(Some(TIMEOUT_MS)).strip_ansi_escape_codes(true);
    let mut p = spawn_with_options(cmd, opts).expect("start nde repl on a pty");
    p.exp_string(":help for commands").unwrap();
    p.exp_string("nde> ").unwrap();
    p
}

/// Sends a line and waits until `expected` is printed.
fn enter(p: &mut PtySession, line: &str, expected: &str) {
    p.send_line(line).unwrap();
    if let Err(e) = p.exp_string(expected) {
        panic!("after `{line}`, expected `{expected}`: {e}");
    }
}

/// Types keys without Enter.
fn type_keys(p: &mut PtySession, keys: &str) {
    p.send(keys).unwrap();
    p.flush().unwrap();
}

fn quit(mut p: PtySession) {
    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();
}

/// Defines `k` and a model using it, the model typed over several lines
/// (the editor keeps reading until the braces balance; each line echoes).
fn define_decay(p: &mut PtySession) {
    enter(p, "const k = 1", "defined const k");
    p.exp_string("nde> ").unwrap();
    for line in ["model decay {", "  state x = 1.0", "  dx/dt = -k * x"] {
        p.send_line(line).unwrap();
        p.exp_string(line.trim()).unwrap();
    }
    enter(p, "}", "defined model decay");
    p.exp_string("nde> ").unwrap();
}

#[test]
fn multi_line_entry_redefinition_save_and_history() {
    let dir = scratch("multi");
    let history = dir.join("history");
    let mut p = start(&[], &history);
    define_decay(&mut p);
    enter(&mut p, ":solve decay t1=1 saves=2", "x  0.367879");
    // Redefining the constant updates the model that uses it, and the next solve recompiles it.
    enter(&mut p, "const k = 2", "updated (recompiled on next use): decay");
    enter(&mut p, ":solve decay t1=1 saves=2", "x  0.135335");
    let saved = dir.join("s.nde");
    enter(&mut p, &format!(":save {}", saved.display()), "saved 2 definitions");
    quit(p);

    let check = Command::new(env!("CARGO_BIN_EXE_nde")).arg("check").arg(&saved).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(text.contains("const k = 2") && !text.contains("const k = 1"), "{text}");

    // The history was written, and a new session recalls it with Up.
    let kept = std::fs::read_to_string(&history).unwrap();
    assert!(kept.contains(":solve decay t1=1 saves=2"), "{kept}");
    let mut p = start(&[], &history);
    type_keys(&mut p, "\x1b[A");
    p.exp_string(":quit").unwrap();
    type_keys(&mut p, "\x1b[A");
    p.exp_string(&format!(":save {}", saved.display())).unwrap();
    p.send_control('u').unwrap();
    enter(&mut p, "40 + 2", "42");
    quit(p);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn completion_errors_and_ctrl_c_at_the_prompt() {
    let dir = scratch("complete");
    let mut p = start(&[], &dir.join("history"));
    define_decay(&mut p);
    // Tab completes the command, then the model's name.
    type_keys(&mut p, ":sol\t");
    p.exp_string(":solve").unwrap();
    type_keys(&mut p, " dec\t");
    p.exp_string("decay").unwrap();
    enter(&mut p, " t1=1 saves=2", "decay: tsit5 from t = 0 to 1");
    // An error, shown like the compiler's, and the session goes on.
    enter(&mut p, "1 + foo", "unknown name `foo`");
    p.exp_string("^^^").unwrap();
    enter(&mut p, "k + 1", "[] f64");
    p.exp_string("2").unwrap();
    // Ctrl-C clears a half-typed line.
    type_keys(&mut p, "1 + ");
    p.exp_string("1 + ").unwrap();
    p.send_control('c').unwrap();
    p.exp_string("nde> ").unwrap();
    enter(&mut p, "20 + 1", "21");
    quit(p);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn ctrl_c_stops_training_and_keeps_the_session() {
    let dir = scratch("train");
    let file = dir.join("fit.nde");
    std::fs::write(
        &file,
        "model truth {\n  state x = 1.0\n  dx/dt = -0.5 * x\n}\n\
         model fitme {\n  param k = 0.1\n  state x = 1.0\n  dx/dt = -k * x\n}\n\
         data obs = generate(truth, at = linspace(0, 2, 21), with = tsit5)\n\
         loss fit {\n  let sol = solve(fitme, at = obs.t, with = tsit5)\n  mean((sol.y - obs.y)^2)\n}\n\
         train fit {\n  optimizer = adam(lr = 1e-4)\n  steps = 10\n}\n",
    )
    .unwrap();
    let mut p = start(&[file.to_str().unwrap()], &dir.join("history"));
    // Far more steps than the test waits for: only Ctrl-C ends it.
    enter(&mut p, ":train fit 100000000", "(Ctrl-C stops)");
    p.send_control('c').unwrap();
    p.exp_string("interrupted after step").unwrap();
    p.exp_string("nde> ").unwrap();
    // The trained parameters and the definitions are still there.
    enter(&mut p, ":solve fitme t1=2 saves=2", "fitme: tsit5");
    p.send_line(":list").unwrap();
    p.exp_regex(r"train\s+fit").unwrap();
    quit(p);
    std::fs::remove_dir_all(&dir).ok();
}
