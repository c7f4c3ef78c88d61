//! The stable neural SDE templates of `std.sde` (ALGORITHMS §4), checked
//! through `nde run` on the moments each class must have when its networks
//! are set to constants: the drift network's last layer to zero weights and
//! bias `atanh(γ)` (so γ(t, z) = γ), the diffusion to σ(t) = σ (a = b = 0,
//! s = 0, c = 2σ since sigmoid(0) = ½).

use std::path::{Path, PathBuf};
use std::process::Command;

use nde_runtime::io::{write_npz, Array};

const FILE: &str = r#"
use std.sde.{lsde, lnsde, gsde}
model l = lsde(n = 2, hidden = 8, z0 = [0.5, -0.5])
model ln = lnsde(n = 2, hidden = 8, z0 = [1.0, 2.0])
model g = gsde(n = 2, hidden = 8, z0 = [1.0, 0.5])
"#;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nde-stable-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Parameters that make the drift γ and the diffusion σ constant.
fn constant_params(path: &Path, n: usize, hidden: usize, inputs: usize, gamma: f64, sigma: f64) {
    let a = |name: &str, shape: Vec<usize>, value: f64| Array {
        name: name.to_string(),
        data: vec![value; shape.iter().product()],
        shape,
    };
    let arrays = vec![
        a("drift.W1", vec![hidden, inputs], 0.1),
        a("drift.b1", vec![hidden], 0.0),
        a("drift.W2", vec![hidden, hidden], 0.1),
        a("drift.b2", vec![hidden], 0.0),
        a("drift.W3", vec![n, hidden], 0.0),
        a("drift.b3", vec![n], gamma.atanh()),
        a("s", vec![], 0.0),
        a("a", vec![n], 0.0),
        a("b", vec![n], 0.0),
        a("c", vec![n], 2.0 * sigma),
    ];
    write_npz(path, &arrays).unwrap();
}

/// Mean and variance over the paths of each state at t = 1.
fn moments_at_1(model: &str, params: &Path, paths: usize) -> Vec<(f64, f64)> {
    let file = scratch("stable.nde");
    std::fs::write(&file, FILE).unwrap();
    let paths_arg = paths.to_string();
    let o = Command::new(env!("CARGO_BIN_EXE_nde"))
        .args(["run", file.to_str().unwrap(), "--model", model, "--params", params.to_str().unwrap()])
        .args(["--t1", "1", "--dt", "0.01", "--at", "0:1:2", "--paths", &paths_arg, "--noise-seed", "11"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = String::from_utf8(o.stdout).unwrap();
    let rows: Vec<Vec<f64>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|x| x.parse().unwrap()).collect::<Vec<f64>>())
        .filter(|r| r[1] == 1.0)
        .collect();
    assert_eq!(rows.len(), paths);
    (2..rows[0].len())
        .map(|c| {
            let m = rows.iter().map(|r| r[c]).sum::<f64>() / paths as f64;
            let v = rows.iter().map(|r| (r[c] - m).powi(2)).sum::<f64>() / (paths - 1) as f64;
            (m, v)
        })
        .collect()
}

fn assert_within(what: &str, got: f64, want: f64, se: f64) {
    assert!((got - want).abs() < 4.0 * se, "{what}: {got} vs {want} (standard error {se})");
}

const PATHS: usize = 20_000;

#[test]
fn lsde_with_constant_drift_and_diffusion_is_brownian_motion_with_drift() {
    let p = scratch("l.npz");
    constant_params(&p, 2, 8, 2, 0.3, 0.4);
    let m = moments_at_1("l", &p, PATHS);
    for (i, z0) in [0.5, -0.5].into_iter().enumerate() {
        // z(1) = z0 + γ + σ W(1): mean z0 + γ, variance σ².
        assert_within("mean", m[i].0, z0 + 0.3, (0.16 / PATHS as f64).sqrt());
        assert_within("variance", m[i].1, 0.16, 0.16 * (2.0 / PATHS as f64).sqrt());
    }
}

#[test]
fn lnsde_with_constant_drift_has_the_mean_of_its_drift() {
    let p = scratch("ln.npz");
    constant_params(&p, 2, 8, 4, -0.2, 0.3);
    let m = moments_at_1("ln", &p, PATHS);
    for (i, z0) in [1.0, 2.0].into_iter().enumerate() {
        // dz = γ dt + σ z dW: E z(1) = z0 + γ; the noise is multiplicative,
        // Var z(1) = ∫ σ² E z(s)² ds with E z² solving m2' = 2γ m1 + σ² m2.
        let (g, s2) = (-0.2, 0.09);
        let var = {
            // m2(t) = e^{σ²t}(z0² + ∫ 2γ(z0 + γu) e^{−σ²u} du), integrated numerically.
            let steps = 100_000;
            let h = 1.0 / steps as f64;
            let mut m2 = z0 * z0;
            for k in 0..steps {
                let u = (k as f64 + 0.5) * h;
                m2 += h * (2.0 * g * (z0 + g * u) + s2 * m2);
            }
            m2 - (z0 + g) * (z0 + g)
        };
        assert_within("mean", m[i].0, z0 + g, (var / PATHS as f64).sqrt());
        assert_within("variance", m[i].1, var, var * (3.0 / PATHS as f64).sqrt());
    }
}

#[test]
fn gsde_with_constant_drift_and_diffusion_is_geometric_brownian_motion() {
    let p = scratch("g.npz");
    constant_params(&p, 2, 8, 4, 0.25, 0.3);
    let m = moments_at_1("g", &p, PATHS);
    for (i, z0) in [1.0f64, 0.5].into_iter().enumerate() {
        // z(1) = z0 exp((γ − σ²/2) + σ W(1)): E z = z0 e^γ, Var z = z0² e^{2γ}(e^{σ²} − 1).
        let mean = z0 * 0.25f64.exp();
        let var = z0 * z0 * 0.5f64.exp() * (0.09f64.exp() - 1.0);
        assert_within("mean", m[i].0, mean, (var / PATHS as f64).sqrt());
        assert_within("variance", m[i].1, var, var * (3.0 / PATHS as f64).sqrt());
    }
}
