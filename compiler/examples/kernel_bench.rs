//! Micro-benchmark of compiled kernels on the benchmark MLP
//! (`y ∈ R², 2 → 64 → 64 → 2`, tanh): compile time, single-trajectory
//! right-hand side (ns/call), and the batched kernel over 1024 trajectories
//! (ns per trajectory), with the runtime's SIMD routines and without
//! (all inline), plus the parts: the runtime's 64×64 matrix–vector product
//! and `tanh` over 64 elements called directly. Weights are random with the
//! real shapes.
//!
//! Run with `cargo run --release -p nde-compiler --example kernel_bench`.

use nde_compiler::codegen::{JitModule, JitOptions};
use nde_compiler::ir::{BinaryOp, Builder, Function, Shape, UnaryOp};
use nde_compiler::rng::SplitMix64;
use nde_runtime::linalg::{self, Routines};
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

/// Deterministic uniform numbers in [-s, s), from the compiler's generator.
fn random(n: usize, s: f64, rng: &mut SplitMix64) -> Vec<f64> {
    rng.vec(n, -s, s)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median over 31 runs of `reps` calls of `f`, in ns per call.
fn time(reps: usize, mut f: impl FnMut(usize)) -> f64 {
    median(
        (0..31)
            .map(|_| {
                let t = Instant::now();
                for c in 0..reps {
                    f(c);
                }
                t.elapsed().as_secs_f64() * 1e9 / reps as f64
            })
            .collect(),
    )
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

/// Compile time (ms), single ns/call, batched ns/trajectory; checks that
/// the result matches `want` bit for bit.
fn bench_kernels(f: &Function, opts: &JitOptions, p: &[f64], ys: &[f64], want: &mut Option<Vec<f64>>) -> [f64; 3] {
    let compile_ms = median(
        (0..7)
            .map(|_| {
                let t = Instant::now();
                let j = JitModule::compile(&[f], opts).expect("compile");
                drop(black_box(j));
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    );
    let jit = JitModule::compile(&[f], opts).expect("compile");
    let k = jit.kernel("mlp").expect("kernel").clone();
    assert_eq!(k.scratch_len, 0);
    let mut out = [0.0f64; 2];
    let single = time(20_000, |c| {
        let y = &ys[2 * (c % 256)..];
        // SAFETY: buffers sized from the kernel's metadata; `jit` lives.
        unsafe { (k.single)(c as f64, y.as_ptr(), p.as_ptr(), out.as_mut_ptr(), std::ptr::null_mut()) };
        black_box(&out);
    });
    let n = 1024;
    let tb = vec![0.5; n];
    let mut ob = vec![0.0; 2 * n];
    let mut scratch = vec![0.0; k.batch_scratch_len];
    let batch = time(20, |_| {
        // SAFETY: as above, with `n` rows of `ys`.
        unsafe { (k.batch)(n, tb.as_ptr(), ys.as_ptr(), p.as_ptr(), ob.as_mut_ptr(), scratch.as_mut_ptr()) };
        black_box(&ob);
    }) / n as f64;
    let bits: Vec<f64> = ob.clone();
    match want {
        Some(w) => assert!(w.iter().zip(&bits).all(|(a, b)| a.to_bits() == b.to_bits()), "variants differ"),
        None => *want = Some(bits),
    }
    [compile_ms, single, batch]
}

fn main() {
    let f = mlp(2, 64);
    let mut seed = SplitMix64::new(0x2545_f491_4f6c_dd1d);
    let p = random(f.n_param, 0.3, &mut seed);
    let ys = random(2 * 1024, 2.0, &mut seed);
    let base = JitOptions { verify_clif: false, ..JitOptions::default() };
    let mut want = None;
    let simd = Routines::host();
    println!("bench MLP 2-64-64-2 tanh ({} parameters); host SIMD routines: {}", f.n_param, simd.simd);
    for (name, opts) in [("routines", base.clone()), ("inline", JitOptions { simd_routines: false, ..base.clone() })] {
        let [c, s, b] = bench_kernels(&f, &opts, &p, &ys, &mut want);
        println!("  {name:9} compile {c:.2} ms, single rhs {s:.0} ns/call, batched rhs (1024) {b:.0} ns/trajectory");
    }

    // The parts, called directly.
    let w = random(64 * 64, 0.3, &mut seed);
    let x = random(64, 1.0, &mut seed);
    let mut y = vec![0.0; 64];
    let mv = time(100_000, |_| {
        linalg::matvec(&simd, 64, 64, black_box(&w), 64, &x, &mut y);
        black_box(&y);
    });
    let mvt = time(100_000, |_| {
        linalg::matvec_t(&simd, 64, 64, black_box(&w), 64, &x, 1, &mut y);
        black_box(&y);
    });
    let th = time(100_000, |_| {
        y.copy_from_slice(black_box(&x));
        linalg::tanh_in_place(&simd, &mut y);
        black_box(&y);
    });
    println!("  parts: matvec 64x64 {mv:.0} ns, matvec_t 64x64 {mvt:.0} ns, tanh x64 {th:.0} ns");

    let mut out = [0.0; 2];
    let ref_ns = time(20_000, |c| {
        reference(black_box(&ys[2 * (c % 256)..]), &p, &mut out);
        black_box(&out);
    });
    // Agreement with the plain Rust network.
    let mut want = [0.0; 2];
    reference(&ys, &p, &mut want);
    let jit = JitModule::compile(&[&f], &base).expect("compile");
    jit.run("mlp", 0.0, &ys[..2], &p, &mut out).expect("run");
    let diff = (out[0] - want[0]).abs().max((out[1] - want[1]).abs());
    println!("  plain Rust + libm tanh (reference): {ref_ns:.0} ns/call (max |diff| {diff:.1e})");
}
