//! Runs the example binary and checks its output: metadata lines, then
//! CSV tables whose rows match the `nde` crate's own solves.

use std::process::Command;

#[test]
fn the_example_prints_metadata_and_csv() {
    let out = Command::new(env!("CARGO_BIN_EXE_embed-rust-example")).output().expect("run the example");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(text.contains("# model lorenz (Ode)"), "{text}");
    assert!(text.contains("# states (3): x, y, z"), "{text}");
    assert!(text.contains("# parameters (3 values): sigma, rho, beta"), "{text}");
    assert!(text.contains("# model bench_mlp (Ode)"), "{text}");
    assert!(text.contains("traj,t,x,y,z\n"), "{text}");
    assert!(text.contains("traj,t,y[0],y[1]\n"), "{text}");
    // Lorenz: 3 trajectories × 5 times; the MLP: 2 × 3.
    let rows = |header: &str| {
        let start = text.find(header).expect("header") + header.len();
        text[start..].lines().take_while(|l| !l.starts_with('#') && !l.starts_with("traj")).count()
    };
    assert_eq!(rows("traj,t,x,y,z\n"), 15);
    assert_eq!(rows("traj,t,y[0],y[1]\n"), 6);
    // The first Lorenz row is the first initial state at t = 0.
    assert!(text.contains("traj,t,x,y,z\n0.0,0.0,1.0,1.0,1.0\n"), "{text}");
}

#[test]
fn a_missing_folder_is_an_error_message_not_a_panic() {
    let out = Command::new(env!("CARGO_BIN_EXE_embed-rust-example")).arg("/nonexistent").output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("E0601") && stderr.contains("/nonexistent/lorenz.nde"), "{stderr}");
}
