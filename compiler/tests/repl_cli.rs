//! `nde repl` with piped standard input: a script that uses every command
//! runs to the end with exit status 0, its results on stdout; the first
//! error stops it with that error's status (diagnostics rendered against
//! the line typed); a `:save`d session passes `nde check`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nde-repl-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `nde repl ARGS` in the repository with `script` on stdin.
fn repl(args: &[&str], script: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nde"))
        .arg("repl")
        .args(args)
        .current_dir(repo())
        .env("NDE_HISTORY", "")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nde repl");
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The number after the first `name` that starts a line of `text` (a row of a `:solve` table).
fn number_after(text: &str, name: &str) -> f64 {
    let line = text.lines().find(|l| l.split_whitespace().next() == Some(name)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Every item kind, typed over several lines, then every command.
const SCRIPT: &str = r#"1 + 2
[[1, 2, 3], [4, 5, 6]] * 2
use std.nn.{mlp}
fn sq(v) = v * v
const k0 = 0.5
const A: [2, 2] = [[0, 1], [-1, 0]]
A @ [1, 2]
sq(3)
model truth {
  param k = k0
  state x = 1.0
  dx/dt = -k * x
}
model fitme {
  param k = 0.1
  state x = 1.0
  dx/dt = -k * x
}
model spin {
  state y: [2] = [1, 0]
  dy/dt = A @ y
}
solver s = tsit5(rtol = 1e-8, atol = 1e-10)
data obs = generate(truth, at = linspace(0, 2, 21), with = s)
loss fit {
  let sol = solve(fitme, at = obs.t, with = s)
  mean((sol.y - obs.y)^2)
}
train fit {
  optimizer = adam(lr = 0.05)
  steps = 50
}
:type A' @ A
:simplify x * 1 - (-y)
:grad sin(x) * x wrt x
:grad tanh(A @ v) wrt v: [2]
:ir truth
:ir k0
:solve truth t1=2 saves=5
:plot
:plot x PLOTDIR/truth.svg
:plot PLOTDIR/truth.png
const k0 = 0.25
:solve truth t1=2 saves=5
:solve spin at=0:3.14159265358979:3 solver=rodas5
:train fit 30
:plot loss
:solve fitme t1=2
:list
:save PLOTDIR/session.nde
:help
:quit
this line is never read
"#;

#[test]
fn a_script_runs_every_command() {
    let dir = scratch("all");
    let script = SCRIPT.replace("PLOTDIR", &dir.display().to_string());
    let out = repl(&[], &script);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(stderr, "", "no errors or warnings");
    let expect = |needle: &str| assert!(stdout.contains(needle), "missing `{needle}` in:\n{stdout}");
    // Expressions, with their shapes.
    expect("[] f64\n3\n");
    expect("[2, 3] f64\n2   4   6\n8  10  12\n");
    expect("[2] f64\n[2, -1]\n");
    expect("[] f64\n9\n");
    // Definitions, and a redefinition that updates the model using it.
    for item in ["use mlp", "fn sq", "const k0", "model truth", "solver s", "data obs", "loss fit", "train fit"] {
        expect(&format!("defined {item}\n"));
    }
    expect("redefined const k0\nupdated (recompiled on next use): truth\n");
    // Inspection.
    expect("[2, 2] f64\n");
    expect("x + y\n");
    expect("sin(x) + x * cos(x)\n");
    expect("// J = ∂(tanh(A @ v))/∂v: [2, 2] row-major, flat\n");
    expect("model truth (n_state = 1, n_param = 1)");
    expect("fn const k0(t, y[0], p[0]) -> [1] {");
    // Solves: exp(-0.5 * 2), then exp(-0.25 * 2) after the redefinition; half a turn of `spin` with rodas5.
    expect("truth: tsit5 from t = 0 to 2, 5 saves\n");
    expect("x  0.367879\n");
    expect("x  0.606531\n");
    expect("spin: rodas5 from t = 0 to 3.14159, 3 saves\n");
    let spin = stdout.split("spin: rodas5").nth(1).unwrap();
    assert!((number_after(spin, "y[0]") + 1.0).abs() < 1e-6, "{stdout}");
    expect("njev ");
    expect("nfe ");
    // Plots: the terminal one, then the files.
    expect("      * x\n");
    expect(&format!("plot written to {}", dir.join("truth.svg").display()));
    let svg = std::fs::read_to_string(dir.join("truth.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("truth"), "{svg}");
    assert_eq!(&std::fs::read(dir.join("truth.png")).unwrap()[1..4], b"PNG");
    // Training moves k from 0.1 (x(2) = 0.82) towards the data's 0.25 (x(2) = 0.61), and later solves use it.
    expect("trained `fit` (fitme) for 30 steps");
    expect("* fit\n");
    let fitted = stdout.split("fitme: tsit5 from t = 0 to 2").nth(1).unwrap();
    let x = number_after(fitted, "x");
    assert!(x < 0.7 && x > (-0.5f64).exp() - 0.05, "x(2) = {x} after training:\n{stdout}");
    // The rest.
    expect("const   k0\nconst   A\nmodel   truth\n");
    expect(":grad EXPR wrt X");
    assert!(!stdout.contains("never read"));
    let saved = dir.join("session.nde");
    expect(&format!("saved 11 definitions to {}", saved.display()));
    let check = Command::new(env!("CARGO_BIN_EXE_nde")).arg("check").arg(&saved).current_dir(repo()).output().unwrap();
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert!(text(&check.stdout).contains("ok (3 models: truth, fitme, spin)"), "{}", text(&check.stdout));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn load_reload_and_a_file_argument() {
    let dir = scratch("load");
    let file = dir.join("m.nde");
    std::fs::write(&file, "const r = 2\nmodel grow {\n  state x = 1\n  dx/dt = r * x\n}\n").unwrap();
    let script = format!(":solve grow t1=1 saves=2\n:reload\n:load {}\n:ir grow\n", file.display());
    let out = repl(&[file.to_str().unwrap()], &format!("grow\n{script}"));
    let stdout = text(&out.stdout);
    // `grow` is a model, not a value: an error, so the script stops there.
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.starts_with(&format!("loaded {} (2 definitions)\n", file.display())), "{stdout}");
    let out = repl(&[file.to_str().unwrap()], &script);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("x  7.38906\n"), "{stdout}");
    assert_eq!(stdout.matches(&format!("loaded {} (2 definitions)", file.display())).count(), 3, "{stdout}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_first_error_stops_a_script_with_its_status() {
    // A name error in an expression: rendered against the line typed, status 1.
    let out = repl(&[], "const a = 1\n1 + foo\n2 + 2\n");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("error[E0202]: unknown name `foo`"), "{stderr}");
    assert!(stderr.contains("<repl:2>:1:5"), "{stderr}");
    assert!(stderr.contains("1 │ 1 + foo"), "{stderr}");
    assert!(!text(&out.stdout).contains('4'), "the script stopped at the error");
    // An error inside a multi-line model points into it.
    let out = repl(&[], "model m {\n  state x = 1\n  dx/dt = -y\n}\n");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("<repl:1>:3:12"), "{stderr}");
    // Usage errors: status 2.
    let out = repl(&[], ":frobnicate\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown command `:frobnicate`"));
    let out = repl(&[], "model m {\n  state x = 1\n  dx/dt = -x\n}\n:solve m\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("give the end time: :solve m t1=10"), "{}", text(&out.stderr));
    // A solve that fails: status 3.
    let out = repl(&[], "model blow {\n  state x = 1\n  dx/dt = x^2\n}\n:solve blow t1=2\n");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    // A file that cannot be read: status 4.
    let out = repl(&[], ":load /nonexistent/m.nde\n");
    assert_eq!(out.status.code(), Some(4));
    assert!(text(&out.stderr).contains("cannot read /nonexistent/m.nde"));
}
