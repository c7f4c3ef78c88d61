//! `nde emit grad FILE [--model M] [--wrt NAME]` through the real binary.

use std::process::{Command, Output};

fn nde(args: &[&str]) -> Output {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    Command::new(env!("CARGO_BIN_EXE_nde")).current_dir(root).args(args).output().expect("run nde")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn prints_jacobian_gradients_and_time_derivative() {
    let o = nde(&["emit", "grad", "examples/lorenz.nde"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    for line in ["∂(dx/dt)/∂y = sigma", "∂(dy/dt)/∂x = rho - z", "aᵀ∂f/∂rho = a.y * x", "∂(dz/dt)/∂t = 0"]
    {
        assert!(out.lines().any(|l| l == line), "no `{line}` in\n{out}");
    }
}

#[test]
fn wrt_selects_one_name() {
    let o = nde(&["emit", "grad", "examples/bench_mlp.nde", "--wrt", "f.b3"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "// bench_mlp: a is the cotangent of dy/dt\naᵀ∂f/∂(f.b3) = a\n");

    let o = nde(&["emit", "grad", "examples/spiral.nde", "--model", "truth", "--wrt", "t"]);
    assert_eq!(text(&o.stdout), "// truth\n∂(dy/dt)/∂t = [0, 0]\n");
}

#[test]
fn bad_wrt_is_a_usage_error() {
    let o = nde(&["emit", "grad", "examples/lorenz.nde", "--wrt", "gamma"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("no state or parameter `gamma`; choose one of: x, y, z, sigma, rho, beta, y, t"));
    let o = nde(&["emit", "ir", "examples/lorenz.nde", "--wrt", "x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--wrt applies to `nde emit grad` only"), "{}", text(&o.stderr));
}
