//! `nde simplify 'EXPR'` through the real binary: results, `--explain`,
//! `--fast-math`, `--shape`, and errors rendered like compiler diagnostics.

use std::process::{Command, Output};

fn nde(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nde")).args(args).output().expect("run nde")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn simplify(args: &[&str]) -> String {
    let mut all = vec!["simplify"];
    all.extend_from_slice(args);
    let o = nde(&all);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

#[test]
fn simplifies_and_prints_maths() {
    assert_eq!(simplify(&["x * 1 + -(-y)"]), "x + y\n");
    assert_eq!(simplify(&["exp(log(x)) + exp(log(exp(y)))"]), "exp(log(x)) + exp(y)\n");
    assert_eq!(simplify(&["(x + y) + z"]), "x + y + z\n");
    assert_eq!(simplify(&["a * b + a * c"]), "a * b + a * c\n");
    assert_eq!(simplify(&["--fast-math", "a * b + a * c"]), "a * (b + c)\n");
    assert_eq!(simplify(&["0 * x + t"]), "0 * x + t\n");
    assert_eq!(simplify(&["--fast-math", "0 * x + t"]), "t\n");
    assert_eq!(simplify(&["x / 4 - x / 3"]), "x * 0.25 - x / 3\n");
}

#[test]
fn shapes_make_tensors() {
    let out = simplify(&["--shape", "W=[2, 3]", "--shape", "v=[3]", "(W')' @ v * 1 + tanh(W @ v) * tanh(W @ v)"]);
    assert_eq!(out, "h1 = W @ v\nh2 = tanh(h1)\nh1 + h2 * h2\n");
    let out = simplify(&["--shape", "A=[2, 3]", "--shape", "B=[3, 4]", "((A @ B)')'"]);
    assert_eq!(out, "A @ B\n");
}

#[test]
fn explain_lists_each_rewrite() {
    let out = simplify(&["--explain", "-(-x) * 1"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].trim(), "-(-x) * 1");
    assert!(lines.iter().any(|l| l.contains("[mul-one]")), "{out}");
    assert!(lines.iter().any(|l| l.contains("[neg-neg]")), "{out}");
    assert!(lines.iter().any(|l| l.starts_with("flops 3 -> 0")), "{out}");
    assert_eq!(lines.last(), Some(&"x"));
}

#[test]
fn errors_are_diagnostics() {
    let o = nde(&["simplify", "x +* 2"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("error[E0101]") && err.contains("x +* 2"), "{err}");

    let o = nde(&["simplify", "--shape", "W=[2, 3]", "--shape", "v=[2]", "W @ v"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("error[E03"), "{}", stderr(&o));

    let o = nde(&["simplify", "frobnicate(x)"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unknown name `frobnicate`"), "{}", stderr(&o));

    let o = nde(&["simplify", "--shape", "W=2x3", "W"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--shape expects NAME=[DIMS]"), "{}", stderr(&o));

    let o = nde(&["simplify", "--shape", "Q=[2]", "x"]);
    assert_eq!(o.status.code(), Some(2));
}
