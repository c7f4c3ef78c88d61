//! Every runnable example's GPU ensemble shader validates (naga, the WGSL
//! front end wgpu uses), in both precisions and for each device method.
//! Needs no GPU and no `gpu` feature: the shaders are plain text.

use std::path::Path;

use nde_compiler::driver::gpu::{self, GpuError, GpuSolver, Precision};
use nde_compiler::driver::{self, FrontendOptions};
use nde_runtime::Method;

fn validate(src: &str) -> Result<(), String> {
    let module = naga::front::wgsl::parse_str(src).map_err(|e| e.emit_to_string(src))?;
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::FLOAT64)
        .validate(&module)
        .map_err(|e| e.emit_to_string(src))?;
    Ok(())
}

fn examples() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "nde"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_shader_validates() {
    let mut checked = 0;
    for path in examples() {
        let Ok(checked_file) = driver::check_file(&path, &FrontendOptions::default()) else {
            continue;
        };
        for model in &checked_file.program.models {
            let solvers = if model.is_sde() {
                vec![GpuSolver::EulerMaruyama { dt: 0.01, max_steps: 1000, seed: 7 }]
            } else {
                vec![gpu::ode(Method::Tsit5, 1e-6, 1e-9), gpu::ode(Method::Dopri5, 1e-6, 1e-9)]
            };
            for solver in &solvers {
                for p in [Precision::F32, Precision::F64] {
                    match gpu::ensemble_shader(model, solver, p, 11) {
                        Ok(src) => {
                            if let Err(e) = validate(&src) {
                                panic!("{} ({}, {p}): {e}", path.display(), model.name);
                            }
                            checked += 1;
                        }
                        // CDEs and Stratonovich models are refused with a reason, not translated.
                        Err(GpuError::Unsupported(why)) => assert!(!why.is_empty()),
                        Err(e) => panic!("{} ({}): {e}", path.display(), model.name),
                    }
                }
            }
        }
    }
    assert!(checked >= 20, "only {checked} shaders checked");
}

#[test]
fn unsupported_solvers_are_refused_with_a_reason() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/lorenz.nde");
    let checked =
        driver::check_file(&path, &FrontendOptions::default()).unwrap_or_else(|_| panic!("{} checks", path.display()));
    let model = &checked.program.models[0];
    let err = gpu::ensemble_shader(model, &gpu::ode(Method::Rk4, 1e-6, 1e-9), Precision::F32, 3).unwrap_err();
    assert!(err.to_string().contains("tsit5 and dopri5"), "{err}");
    let err =
        gpu::ensemble_shader(model, &GpuSolver::EulerMaruyama { dt: 0.1, max_steps: 10, seed: 0 }, Precision::F32, 3)
            .unwrap_err();
    assert!(matches!(err, GpuError::Unsupported(_)), "{err}");
    let ou = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/ou.nde");
    let checked = driver::check_file(&ou, &FrontendOptions::default()).unwrap_or_else(|_| panic!("ou.nde checks"));
    let err = gpu::ensemble_shader(&checked.program.models[0], &gpu::ode(Method::Tsit5, 1e-6, 1e-9), Precision::F32, 3)
        .unwrap_err();
    assert!(err.to_string().contains("Euler"), "{err}");
}
