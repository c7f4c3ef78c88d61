//! `nde-bench --problem embed`: the time of one right-hand-side call through
//! a library of `nde build` (dlopen, `NAME_rhs` through the C ABI, with its
//! argument checks) beside the same kernel called in-process from the JIT
//! (its function pointer, no checks), for the benchmark MLP and Lorenz.
//!
//! Needs `libnde_embed.a` (built with this crate: `cargo build --release -p
//! nde-bench` builds it as a dependency) and a C compiler. Prints one JSON
//! line per model: `jit_ns`, `c_abi_ns` (medians of 15 rounds of 200,000
//! calls, interleaved) and their ratio.

use std::ffi::{c_char, c_int, c_void, CString};
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use nde_compiler::codegen::JitOptions;
use nde_compiler::driver::build::{build_library, find_runtime, BuildOptions};
use nde_compiler::driver::{self, FrontendOptions};

type NewFn = unsafe extern "C" fn() -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void) -> c_int;
type RhsFn = unsafe extern "C" fn(*const c_void, f64, *const f64, usize, *mut f64, usize) -> c_int;

const CALLS: usize = 200_000;
const ROUNDS: usize = 15;

pub fn run(root: &Path) {
    for model in ["bench_mlp", "lorenz"] {
        if let Err(e) = one(root, model) {
            eprintln!("embed benchmark of {model}: {e}");
        }
    }
}

fn symbol<T: Copy>(lib: *mut c_void, name: &str) -> Result<T, String> {
    let c = CString::new(name).map_err(|e| e.to_string())?;
    // SAFETY: `lib` is a live handle from dlopen; the name is NUL-terminated.
    let p = unsafe { libc::dlsym(lib, c.as_ptr()) };
    if p.is_null() {
        return Err(format!("no symbol {name}"));
    }
    // SAFETY: `T` is the function pointer type the header declares for `name`.
    Ok(unsafe { std::mem::transmute_copy::<*mut c_void, T>(&p) })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn one(root: &Path, model_name: &str) -> Result<(), String> {
    let file = root.join(format!("examples/{model_name}.nde"));
    let checked = driver::check_file(&file, &FrontendOptions::default()).map_err(|_| "model errors".to_string())?;
    let model = &checked.program.models[0];
    let params = model.param_values.clone();
    let dir = std::env::temp_dir().join(format!("nde-bench-embed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let library = dir.join(format!("lib{model_name}.so"));
    let opts = BuildOptions {
        library: library.clone(),
        header: dir.join(format!("{model_name}.h")),
        runtime: find_runtime().map_err(|e| e.to_string())?,
        cc: std::env::var("CC").unwrap_or_else(|_| "cc".to_string()),
        jit: JitOptions::default(),
    };
    build_library(&checked.program, model, &params, &opts).map_err(|e| e.to_string())?;
    let kernels = driver::compile_model(model, &JitOptions::default()).map_err(|e| e.to_string())?;

    let path = CString::new(library.to_string_lossy().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: a path string; the library's constructors are the C library's only.
    let lib = unsafe { libc::dlopen(path.as_ptr() as *const c_char, libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if lib.is_null() {
        return Err("dlopen failed".to_string());
    }
    let new: NewFn = symbol(lib, &format!("{model_name}_new"))?;
    let free: FreeFn = symbol(lib, &format!("{model_name}_free"))?;
    let rhs: RhsFn = symbol(lib, &format!("{model_name}_rhs"))?;
    // SAFETY: the library's documented API.
    let h = unsafe { new() };
    let n = model.n_state();
    let y: Vec<f64> = (0..n).map(|i| 0.3 + 0.1 * i as f64).collect();
    let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
    let k = &kernels.rhs;
    let mut scratch = vec![0.0; k.scratch_len.max(1)];
    let (mut jit, mut abi) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for i in 0..CALLS {
            // SAFETY: buffers of the kernel's lengths; the module lives.
            unsafe {
                (k.single)(
                    black_box(i as f64 * 1e-9),
                    y.as_ptr(),
                    params.as_ptr(),
                    a.as_mut_ptr(),
                    scratch.as_mut_ptr(),
                )
            };
            black_box(&mut a);
        }
        jit.push(t.elapsed().as_secs_f64() / CALLS as f64);
        let t = Instant::now();
        for i in 0..CALLS {
            // SAFETY: the documented API with correct lengths.
            let code = unsafe { rhs(h, black_box(i as f64 * 1e-9), y.as_ptr(), n, b.as_mut_ptr(), n) };
            black_box((code, &mut b));
        }
        abi.push(t.elapsed().as_secs_f64() / CALLS as f64);
    }
    if a.iter().zip(&b).any(|(x, y)| x.to_bits() != y.to_bits()) {
        return Err(format!("the library's rhs differs from the JIT's: {a:?} vs {b:?}"));
    }
    // SAFETY: made by `new`, used by nothing else now.
    unsafe { free(h) };
    let (j, c) = (median(jit) * 1e9, median(abi) * 1e9);
    println!(
        "{{\"peer\": \"nde\", \"problem\": \"embed\", \"variant\": \"{model_name} rhs\", \"jit_ns\": {j:.2}, \"c_abi_ns\": {c:.2}, \"ratio\": {:.3}}}",
        c / j
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
