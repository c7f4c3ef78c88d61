//! tests/grad/: the printed derivatives of each model (`nde emit grad`) match
//! the `.grad` snapshot beside it (rewritten when `NDE_BLESS=1`), first in
//! full, then for each `// wrt: NAME` line of the case; and the kernels
//! `compile_model` returns compute the derivative functions they claim to,
//! on every case and every example.

use crate::{cases, rel};
use nde_compiler::autodiff::print::{print_grad, GradFunctions};
use nde_compiler::codegen::{CompiledKernel, JitOptions};
use nde_compiler::driver::{self, FrontendOptions, KernelFunctions};
use nde_compiler::ir::{interp, Function, ModelIr};
use std::path::Path;

fn bless() -> bool {
    std::env::var_os("NDE_BLESS").is_some_and(|v| v == "1")
}

fn models(path: &Path) -> Vec<ModelIr> {
    match driver::check_file(path, &FrontendOptions::default()) {
        Ok(c) => c.program.models,
        Err(f) => panic!("{}: {}", rel(path), f.diagnostics.0[0].render_plain(&f.sources)),
    }
}

/// The snapshot text of one case.
fn printed(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("case");
    let wrts: Vec<&str> = text.lines().filter_map(|l| l.trim().strip_prefix("// wrt:")).map(str::trim).collect();
    let mut out = String::new();
    for m in models(path) {
        let funcs = KernelFunctions::of(&m).expect("kernel functions");
        let grads = GradFunctions { vjp: &funcs.vjp, jac: &funcs.jac, dfdt: &funcs.dfdt };
        out.push_str(&print_grad(&m, &grads, None).expect("print"));
        for wrt in &wrts {
            out.push_str(&format!("\n--wrt {wrt}\n"));
            out.push_str(&print_grad(&m, &grads, Some(wrt)).unwrap_or_else(|e| panic!("{}: {e}", rel(path))));
        }
    }
    out
}

#[test]
fn printed_derivatives_match_their_snapshots() {
    let mut failures = Vec::new();
    for path in cases("grad") {
        let got = printed(&path);
        let snapshot = path.with_extension("grad");
        if bless() {
            std::fs::write(&snapshot, &got).expect("write snapshot");
            continue;
        }
        match std::fs::read_to_string(&snapshot) {
            Ok(want) if want == got => {}
            Ok(want) => failures.push(format!(
                "{}: the derivatives differ from {} (NDE_BLESS=1 rewrites it)\n--- want\n{want}--- got\n{got}",
                rel(&path),
                rel(&snapshot)
            )),
            Err(_) => failures.push(format!("{}: no snapshot {}; run with NDE_BLESS=1", rel(&path), rel(&snapshot))),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn unknown_wrt_names_what_exists() {
    let m = &models(&crate::tests_dir().join("grad/lorenz.nde"))[0];
    let funcs = KernelFunctions::of(m).expect("kernel functions");
    let grads = GradFunctions { vjp: &funcs.vjp, jac: &funcs.jac, dfdt: &funcs.dfdt };
    let e = print_grad(m, &grads, Some("gamma")).expect_err("gamma is not in lorenz");
    assert_eq!(
        e.to_string(),
        "model `lorenz` has no state or parameter `gamma`; choose one of: x, y, z, sigma, rho, beta, y, t"
    );
}

/// Runs a compiled kernel on one trajectory and on a batch of two.
fn call(k: &CompiledKernel, t: f64, y: &[f64], p: &[f64]) -> (Vec<f64>, Vec<f64>) {
    assert_eq!((y.len(), p.len()), (k.n_state, k.n_param), "{}", k.name);
    let mut out = vec![f64::NAN; k.out_len];
    let mut scratch = vec![0.0; k.scratch_len];
    // SAFETY: buffers sized from the kernel's metadata; the module lives in the caller.
    unsafe { (k.single)(t, y.as_ptr(), p.as_ptr(), out.as_mut_ptr(), scratch.as_mut_ptr()) };
    let ys = [y, y].concat();
    let mut outs = vec![f64::NAN; 2 * k.out_len];
    let mut scratch = vec![0.0; k.batch_scratch_len];
    // SAFETY: as above, two rows.
    unsafe { (k.batch)(2, [t, t].as_ptr(), ys.as_ptr(), p.as_ptr(), outs.as_mut_ptr(), scratch.as_mut_ptr()) };
    (out, outs)
}

fn check_kernels(m: &ModelIr) {
    let funcs = KernelFunctions::of(m).expect("kernel functions");
    let kernels = driver::compile_model(m, &JitOptions::default()).expect("compile");
    // `n` states; the kernels read `ny` values (a CDE's rhs also reads its
    // path and the path's derivative, `ny = n + 2c`; `ny = n` otherwise).
    let (n, ny) = (m.n_state(), m.rhs.n_state);
    let pairs: [(&CompiledKernel, &Function, usize, usize); 5] = [
        (&kernels.rhs, &funcs.rhs, ny, n),
        (&kernels.vjp, &funcs.vjp, ny + n, ny + m.n_param()),
        (&kernels.jvp, &funcs.jvp, 2 * ny, n),
        (&kernels.jac, &funcs.jac, ny, n * ny),
        (&kernels.dfdt, &funcs.dfdt, ny, n),
    ];
    let x0 = vec![0.5; m.init.n_state];
    let y0 = interp::eval(&m.init, 0.0, &x0, &m.param_values).expect("init");
    for (k, f, n_state, out_len) in pairs {
        assert_eq!((k.name.as_str(), k.n_state, k.out_len), (f.name.as_str(), n_state, out_len), "{}", m.name);
        let y: Vec<f64> = (0..n_state).map(|i| y0.get(i).copied().unwrap_or(0.3 - 0.1 * i as f64) + 0.01).collect();
        let want = interp::eval(f, 0.7, &y, &m.param_values).expect("interpreter");
        let (single, batch) = call(k, 0.7, &y, &m.param_values);
        for (i, (g, w)) in single.iter().zip(&want).enumerate() {
            assert!((g - w).abs() <= 1e-10 * w.abs().max(1.0), "{}: element {i}: {g:e} vs {w:e}", k.name);
        }
        assert_eq!(batch, [&single[..], &single[..]].concat(), "{}: batch", k.name);
    }
}

#[test]
fn compiled_model_kernels_compute_the_derivative_functions() {
    let mut files = cases("grad");
    files.extend(cases("../examples"));
    for path in files {
        for m in models(&path) {
            check_kernels(&m);
        }
    }
}
