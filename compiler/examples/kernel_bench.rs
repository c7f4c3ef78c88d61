//! Micro-benchmark of compiled kernels on the benchmark MLP
//! (`y ∈ R², 2 → 64 → 64 → 2`, tanh): compile time, single-trajectory
//! right-hand side (ns/call), and the batched kernel over 1024 trajectories
//! (ns per trajectory). Weights are random with the real shapes.
//!
//! Run with `cargo run --release -p nde-compiler --example kernel_bench`.

use nde_compiler::codegen::{JitModule, JitOptions};
use nde_compiler::ir::{BinaryOp, Builder, Function, Shape, UnaryOp};
use std::hint::black_box;
use std::time::Instant;

fn mlp(d: usize, h: usize) -> Function {
    let n_param = h * d + h + h * h + h + d * h + d;
    let mut b = Builder::new("mlp", d, n_param);
    let y = b.state(0, Shape::vector(d));
    let shapes = [
        Shape::matrix(h, d),
        Shape::vector(h),
        Shape::matrix(h, h),
        Shape::vector(h),
        Shape::matrix(d, h),
        Shape::vector(d),
    ];
    let mut off = 0;
    let mut ps = Vec::new();
    for s in shapes {
        ps.push(b.param(off, s));
        off += s.len();
    }
    let z1 = b.matmul(ps[0], y);
    let a1 = b.binary(BinaryOp::Add, z1, ps[1]);
    let h1 = b.unary(UnaryOp::Tanh, a1);
    let z2 = b.matmul(ps[2], h1);
    let a2 = b.binary(BinaryOp::Add, z2, ps[3]);
    let h2 = b.unary(UnaryOp::Tanh, a2);
    let z3 = b.matmul(ps[4], h2);
    let out = b.binary(BinaryOp::Add, z3, ps[5]);
    b.output(out);
    b.finish()
}

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

/// The same network in plain Rust with libm `tanh`, for orientation.
fn reference(y: &[f64], p: &[f64], out: &mut [f64]) {
    let (w1, rest) = p.split_at(128);
    let (b1, rest) = rest.split_at(64);
    let (w2, rest) = rest.split_at(4096);
    let (b2, rest) = rest.split_at(64);
    let (w3, b3) = rest.split_at(128);
    let mut h1 = [0.0; 64];
    for i in 0..64 {
        h1[i] = (w1[2 * i] * y[0] + w1[2 * i + 1] * y[1] + b1[i]).tanh();
    }
    let mut h2 = [0.0; 64];
    for i in 0..64 {
        let s: f64 = (0..64).map(|k| w2[64 * i + k] * h1[k]).sum();
        h2[i] = (s + b2[i]).tanh();
    }
    for i in 0..2 {
        out[i] = (0..64).map(|k| w3[64 * i + k] * h2[k]).sum::<f64>() + b3[i];
    }
}

fn main() {
    let f = mlp(2, 64);
    let opts = JitOptions { verify_clif: false, ..JitOptions::default() };
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let p = random(f.n_param, 0.3, &mut seed);

    let compile_ms = median(
        (0..7)
            .map(|_| {
                let t = Instant::now();
                let j = JitModule::compile(&[&f], &opts).expect("compile");
                drop(black_box(j));
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    );
    let jit = JitModule::compile(&[&f], &opts).expect("compile");
    let k = jit.kernel("mlp").expect("kernel").clone();
    assert_eq!(k.scratch_len, 0);

    // Single trajectory.
    let ys = random(2 * 256, 2.0, &mut seed);
    let mut out = [0.0f64; 2];
    let calls = 20_000;
    let single_ns = median(
        (0..31)
            .map(|_| {
                let t = Instant::now();
                for c in 0..calls {
                    let y = &ys[2 * (c % 256)..];
                    // SAFETY: buffers sized from the kernel's metadata; `jit` lives.
                    unsafe { (k.single)(c as f64, y.as_ptr(), p.as_ptr(), out.as_mut_ptr(), std::ptr::null_mut()) };
                    black_box(&out);
                }
                t.elapsed().as_secs_f64() * 1e9 / calls as f64
            })
            .collect(),
    );

    // Batch of 1024.
    let n = 1024;
    let yb = random(2 * n, 2.0, &mut seed);
    let tb = vec![0.5; n];
    let mut ob = vec![0.0; 2 * n];
    let mut scratch = vec![0.0; k.batch_scratch_len];
    let batch_ns = median(
        (0..31)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..20 {
                    // SAFETY: as above, with `n` rows.
                    unsafe {
                        (k.batch)(n, tb.as_ptr(), yb.as_ptr(), p.as_ptr(), ob.as_mut_ptr(), scratch.as_mut_ptr())
                    };
                    black_box(&ob);
                }
                t.elapsed().as_secs_f64() * 1e9 / (20 * n) as f64
            })
            .collect(),
    );

    let ref_ns = median(
        (0..31)
            .map(|_| {
                let t = Instant::now();
                for c in 0..calls {
                    reference(black_box(&ys[2 * (c % 256)..]), &p, &mut out);
                    black_box(&out);
                }
                t.elapsed().as_secs_f64() * 1e9 / calls as f64
            })
            .collect(),
    );

    // Agreement with the plain Rust network.
    let mut want = [0.0; 2];
    reference(&ys, &p, &mut want);
    jit.run("mlp", 0.0, &ys[..2], &p, &mut out).expect("run");
    let diff = (out[0] - want[0]).abs().max((out[1] - want[1]).abs());

    println!("bench MLP 2-64-64-2 tanh ({} parameters)", f.n_param);
    println!("  compile (single + batch kernels): {compile_ms:.2} ms");
    println!("  single rhs:                        {single_ns:.0} ns/call");
    println!("  batched rhs, 1024 trajectories:    {batch_ns:.0} ns/trajectory");
    println!("  plain Rust + libm tanh (reference): {ref_ns:.0} ns/call (max |diff| {diff:.1e})");
}
