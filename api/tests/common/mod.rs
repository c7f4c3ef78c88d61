//! Shared helpers of the `nde` crate's tests: paths, temporary files, and
//! the `nde` binary (built on demand through cargo, as it lives in another
//! package of the workspace).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("api/ has a parent").to_path_buf()
}

/// A file of `examples/`.
pub fn example(name: &str) -> PathBuf {
    repo().join("examples").join(name)
}

/// A fresh path in a per-process temporary folder.
pub fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nde-api-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary folder");
    dir.join(name)
}

/// The `nde` binary of this workspace: the one beside this test's own
/// executable (`target/<profile>/nde`, which `cargo test --workspace` builds
/// before any test runs, with the workspace's features), else built through
/// cargo with the same profile (`cargo test -p nde` alone).
pub fn nde_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let beside = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent()?.parent().map(|dir| dir.join(format!("nde{}", std::env::consts::EXE_SUFFIX))));
        if let Some(bin) = beside.filter(|b| b.is_file()) {
            return bin;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(repo()).args(["build", "-q", "-p", "nde-compiler", "--bin", "nde", "--message-format=json"]);
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let out = cmd.output().expect("run cargo build");
        assert!(out.status.success(), "cargo build of nde failed: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let key = "\"executable\":\"";
        let exe = stdout
            .lines()
            .filter(|l| l.contains("\"reason\":\"compiler-artifact\"") && l.contains("\"name\":\"nde\""))
            .find_map(|l| {
                let start = l.find(key)? + key.len();
                let end = start + l[start..].find('"')?;
                Some(PathBuf::from(&l[start..end]))
            })
            .expect("cargo names the nde executable");
        assert!(exe.exists(), "{} exists", exe.display());
        exe
    })
}

/// Runs `nde` in the repository root; panics unless it succeeds. Returns stdout.
pub fn nde(args: &[&str]) -> String {
    let out = Command::new(nde_binary()).current_dir(repo()).args(args).output().expect("run nde");
    assert!(out.status.success(), "nde {}: {}\n{}", args.join(" "), out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 output")
}
