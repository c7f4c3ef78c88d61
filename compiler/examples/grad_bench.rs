//! Benchmark of the derivative kernels of `examples/bench_mlp.nde`
//! (2 → 64 → 64 → 2, tanh; glorot weights and random biases): the
//! end-to-end compile time (read, parse, check, lower, differentiate,
//! simplify and JIT all five kernels), then ns per call of each
//! single-trajectory kernel (`rhs`, `vjp`, `jvp`, `jac`, `dfdt`) and per
//! trajectory of the batched ones over 1024 trajectories.
//!
//! Run with `cargo run --release -p nde-compiler --example grad_bench`.

use nde_compiler::codegen::{CompiledKernel, JitOptions};
use nde_compiler::driver::{self, FrontendOptions};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

/// Deterministic uniform numbers in [-s, s).
fn random(n: usize, s: f64, seed: &mut u64) -> Vec<f64> {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            s * (2.0 * ((*seed >> 11) as f64 / (1u64 << 53) as f64) - 1.0)
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median over 31 rounds of `calls` calls of `f(call index)`, in ns per call.
fn time(calls: usize, mut f: impl FnMut(usize)) -> f64 {
    median(
        (0..31)
            .map(|_| {
                let t = Instant::now();
                for c in 0..calls {
                    f(c);
                }
                t.elapsed().as_secs_f64() * 1e9 / calls as f64
            })
            .collect(),
    )
}

fn main() {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/bench_mlp.nde");
    let opts = JitOptions { verify_clif: false, ..JitOptions::default() };
    let compile = || {
        let checked = driver::check_file(&file, &FrontendOptions::default()).unwrap_or_else(|_| panic!("bench_mlp"));
        let model = driver::select_model(&checked.program, None).expect("one model").clone();
        let kernels = driver::compile_model(&model, &opts).expect("compile");
        (model, kernels)
    };
    let compile_ms = median(
        (0..11)
            .map(|_| {
                let t = Instant::now();
                black_box(compile());
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    );
    let (model, kernels) = compile();
    let funcs = driver::KernelFunctions::of(&model).expect("kernel functions");
    let n = model.n_state();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let p: Vec<f64> =
        model.param_values.iter().zip(random(model.n_param(), 0.1, &mut seed)).map(|(w, r)| w + r).collect();
    println!("bench_mlp (2 → 64 → 64 → 2, tanh), {} parameters", model.n_param());
    println!("  parse → all five kernels ready: {compile_ms:.1} ms (median of 11)");
    let flops = nde_compiler::simplify::flops;
    let raw = [
        &model.rhs,
        &nde_compiler::autodiff::vjp(&model.rhs),
        &nde_compiler::autodiff::jvp(&model.rhs),
        &nde_compiler::autodiff::jacobian(&model.rhs),
        &nde_compiler::autodiff::time_derivative(&model.rhs),
    ]
    .map(flops);
    let prepared = funcs.all().map(flops);

    let ks: [(&str, &CompiledKernel); 5] = [
        ("rhs", &kernels.rhs),
        ("vjp", &kernels.vjp),
        ("jvp", &kernels.jvp),
        ("jac", &kernels.jac),
        ("dfdt", &kernels.dfdt),
    ];
    let rows = 256;
    let ys = random(2 * n * rows, 1.0, &mut seed);
    let batch = 1024;
    let yb = random(2 * n * batch, 1.0, &mut seed);
    let tb = vec![0.5; batch];
    let mut rhs_ns = 0.0;
    for (k, (name, kernel)) in ks.iter().enumerate() {
        let mut out = vec![0.0; kernel.out_len];
        let mut scratch = vec![0.0; kernel.scratch_len];
        let stride = kernel.n_state;
        let single = time(20_000, |c| {
            let y = &ys[stride * (c % rows)..];
            // SAFETY: buffers sized from the kernel's metadata; `kernels` lives.
            unsafe { (kernel.single)(0.5, y.as_ptr(), p.as_ptr(), out.as_mut_ptr(), scratch.as_mut_ptr()) };
            black_box(&out);
        });
        let mut ob = vec![0.0; kernel.out_len * batch];
        let mut bscratch = vec![0.0; kernel.batch_scratch_len];
        let batched = time(20, |_| {
            // SAFETY: as above, `batch` rows.
            unsafe {
                (kernel.batch)(batch, tb.as_ptr(), yb.as_ptr(), p.as_ptr(), ob.as_mut_ptr(), bscratch.as_mut_ptr())
            };
            black_box(&ob);
        }) / batch as f64;
        if k == 0 {
            rhs_ns = single;
        }
        println!(
            "  {name:4}: {single:6.0} ns/call ({:.2}× rhs), batched {batched:6.0} ns/trajectory; flops {} → {} simplified",
            single / rhs_ns,
            raw[k],
            prepared[k]
        );
    }
}
