//! Benchmark of the derivative kernels of `examples/bench_mlp.nde`
//! (2 → 64 → 64 → 2, tanh; glorot weights and random biases): the
//! end-to-end compile time (read, parse, check, lower, differentiate,
//! simplify and JIT all five kernels), then ns per call of each
//! single-trajectory kernel (`rhs`, `vjp`, `jvp`, `jac`, `dfdt`) and per
//! trajectory of the batched ones over 1024 trajectories.
//!
//! The parameter and output buffers start on a 32-byte boundary. The
//! kernels are timed in interleaved rounds (one round of each kernel,
//! then the next round), and each ratio to `rhs` is the median of the
//! per-round ratios, so a burst of load on a shared machine shifts every
//! kernel alike rather than one of them.
//!
//! Run with `cargo run --release -p nde-compiler --example grad_bench`.
//! Diagnostics (after `--`):
//! - `--dump KERNEL` prints that kernel's prepared IR and cranelift IR;
//! - `--parts` times the VJP kernel restricted to each of its outputs and
//!   to all outputs but each one (where its time goes);
//! - `--align` times `rhs` and `vjp` with the parameter and output buffers
//!   at each offset from a 32-byte boundary;
//! - `--nodes "18;18,19"` times the VJP kernel computing only the listed
//!   IR nodes (`%18`, then `%18` and `%19`), to time its stages.

use nde_compiler::codegen::{emit_clif, CompiledKernel, JitModule, JitOptions};
use nde_compiler::driver::{self, FrontendOptions};
use nde_compiler::ir::{Function, ValueId};
use nde_compiler::rng::SplitMix64;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

const ROUNDS: usize = 31;
const NAMES: [&str; 5] = ["rhs", "vjp", "jvp", "jac", "dfdt"];

/// Deterministic uniform numbers in [-s, s), from the compiler's generator.
fn random(n: usize, s: f64, rng: &mut SplitMix64) -> Vec<f64> {
    rng.vec(n, -s, s)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// ns per call of one round of `calls` calls of `f(call index)`.
fn round(calls: usize, f: &mut dyn FnMut(usize)) -> f64 {
    let t = Instant::now();
    for c in 0..calls {
        f(c);
    }
    t.elapsed().as_secs_f64() * 1e9 / calls as f64
}

/// Per round, ns per call of each of `fs` (`calls` calls per round, the
/// functions taking turns round by round).
fn interleaved(calls: usize, fs: &mut [Box<dyn FnMut(usize) + '_>]) -> Vec<Vec<f64>> {
    let mut times = vec![Vec::with_capacity(ROUNDS); fs.len()];
    for f in fs.iter_mut() {
        round(calls / 4, f.as_mut());
    }
    for _ in 0..ROUNDS {
        for (f, t) in fs.iter_mut().zip(&mut times) {
            t.push(round(calls, f.as_mut()));
        }
    }
    times
}

/// Median time of each function and median ratio of each to the first.
fn summarise(times: &[Vec<f64>]) -> Vec<(f64, f64)> {
    times
        .iter()
        .map(|t| {
            let ratios = t.iter().zip(&times[0]).map(|(a, b)| a / b).collect();
            (median(t.clone()), median(ratios))
        })
        .collect()
}

/// A buffer whose elements start `d` elements past a 32-byte boundary (the
/// routines' speed depends a little on alignment, so the benchmark pins it;
/// `--align` shows every offset).
struct Aligned {
    buf: Vec<f64>,
    start: usize,
    len: usize,
}

impl Aligned {
    fn new(v: &[f64], d: usize) -> Aligned {
        let mut buf = vec![0.0; v.len() + 4];
        let start = (d + 4 - buf.as_ptr() as usize / 8 % 4) % 4;
        buf[start..start + v.len()].copy_from_slice(v);
        Aligned { buf, start, len: v.len() }
    }
    fn slice(&self) -> &[f64] {
        &self.buf[self.start..self.start + self.len]
    }
    fn slice_mut(&mut self) -> &mut [f64] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

/// A single-trajectory timing closure for `kernel`, cycling over `rows`
/// states from `ys`, its output `d_out` elements past a 32-byte boundary.
fn single<'a>(
    kernel: &'a CompiledKernel,
    ys: &'a [f64],
    rows: usize,
    p: &'a [f64],
    d_out: usize,
) -> Box<dyn FnMut(usize) + 'a> {
    let mut out = Aligned::new(&vec![0.0; kernel.out_len], d_out);
    let mut scratch = vec![0.0; kernel.scratch_len];
    let stride = kernel.n_state;
    Box::new(move |c| {
        let y = &ys[stride * (c % rows)..];
        let o = out.slice_mut();
        // SAFETY: buffers sized from the kernel's metadata; the module outlives the closure.
        unsafe { (kernel.single)(0.5, y.as_ptr(), p.as_ptr(), o.as_mut_ptr(), scratch.as_mut_ptr()) };
        black_box(o);
    })
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
    let (model, kernels) = compile();
    let funcs = driver::KernelFunctions::of(&model).expect("kernel functions");
    let mut seed = SplitMix64::new(0x2545_f491_4f6c_dd1d);
    let p: Vec<f64> =
        model.param_values.iter().zip(random(model.n_param(), 0.1, &mut seed)).map(|(w, r)| w + r).collect();
    let p = Aligned::new(&p, 0);
    let p = p.slice();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--dump") => {
            let name = args.get(1).map_or("vjp", String::as_str);
            let Some(i) = NAMES.iter().position(|n| *n == name) else {
                eprintln!("--dump: one of {NAMES:?}");
                std::process::exit(2);
            };
            let f = funcs.all()[i];
            println!("{f}\n{}", emit_clif(f, &opts).expect("clif"));
            return;
        }
        Some("--parts") => return parts(&funcs.vjp, p, &opts),
        Some("--align") => return alignments(&kernels.rhs, &kernels.vjp, p),
        Some("--nodes") => {
            let sets: Option<Vec<Vec<ValueId>>> = args.get(1).and_then(|list| {
                list.split(';')
                    .map(|set| set.split(',').map(|v| v.trim().parse().ok().map(ValueId)).collect())
                    .collect()
            });
            let Some(sets) = sets else {
                eprintln!("--nodes: node numbers, e.g. \"18;18,19\"");
                std::process::exit(2);
            };
            return time_outputs(&funcs.vjp, p, &opts, &sets);
        }
        Some(other) => {
            eprintln!("unknown option {other}: --dump KERNEL, --parts, --align or --nodes LIST");
            std::process::exit(2);
        }
        None => {}
    }

    let compile_ms = median(
        (0..11)
            .map(|_| {
                let t = Instant::now();
                black_box(compile());
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    );
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

    let ks: [&CompiledKernel; 5] = [&kernels.rhs, &kernels.vjp, &kernels.jvp, &kernels.jac, &kernels.dfdt];
    let n = model.n_state();
    let rows = 256;
    let ys = random(2 * n * rows, 1.0, &mut seed);
    let batch = 1024;
    let yb = random(2 * n * batch, 1.0, &mut seed);
    let tb = vec![0.5; batch];
    let mut singles: Vec<_> = ks.iter().map(|k| single(k, &ys, rows, p, 0)).collect();
    let single_times = summarise(&interleaved(20_000, &mut singles));
    let mut batches: Vec<Box<dyn FnMut(usize)>> = ks
        .iter()
        .map(|k| {
            let mut ob = vec![0.0; k.out_len * batch];
            let mut scratch = vec![0.0; k.batch_scratch_len];
            let (tb, yb) = (&tb, &yb);
            Box::new(move |_| {
                // SAFETY: as in `single`, `batch` rows.
                unsafe {
                    (k.batch)(batch, tb.as_ptr(), yb.as_ptr(), p.as_ptr(), ob.as_mut_ptr(), scratch.as_mut_ptr())
                };
                black_box(&ob);
            }) as Box<dyn FnMut(usize)>
        })
        .collect();
    let batch_times = summarise(&interleaved(20, &mut batches));
    for (k, name) in NAMES.iter().enumerate() {
        let ((s, sr), (b, br)) = (single_times[k], batch_times[k]);
        let b = b / batch as f64;
        println!(
            "  {name:4}: {s:6.0} ns/call ({sr:.2}× rhs), batched {b:6.0} ns/trajectory ({br:.2}× rhs); flops {} → {} simplified",
            raw[k], prepared[k]
        );
    }
}

/// Times the VJP kernel restricted to each of its outputs, to all outputs
/// but each one, and to all of them: where its time goes.
fn parts(f: &Function, p: &[f64], opts: &JitOptions) {
    let mut sets = vec![f.outputs.clone()];
    for i in 0..f.outputs.len() {
        sets.push(vec![f.outputs[i]]);
        sets.push(f.outputs.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, &v)| v).collect());
    }
    time_outputs(f, p, opts, &sets);
}

/// Times `f` with each of `sets` as its outputs (all timed in interleaved rounds).
fn time_outputs(f: &Function, p: &[f64], opts: &JitOptions, sets: &[Vec<ValueId>]) {
    let fs: Vec<Function> = sets.iter().map(|s| Function { outputs: s.clone(), ..f.clone() }).collect();
    let jits: Vec<JitModule> = fs.iter().map(|g| JitModule::compile(&[g], opts).expect("compile")).collect();
    let kernels: Vec<&CompiledKernel> = jits.iter().zip(&fs).map(|(j, g)| j.kernel(&g.name).expect("kernel")).collect();
    let mut seed = SplitMix64::new(0x9e37_79b9);
    let ys = random(f.n_state * 256, 1.0, &mut seed);
    let mut closures: Vec<_> = kernels.iter().map(|k| single(k, &ys, 256, p, 0)).collect();
    let times = summarise(&interleaved(20_000, &mut closures));
    for (set, (t, _)) in sets.iter().zip(times) {
        let names: Vec<String> = set.iter().map(|v| format!("%{}", v.index())).collect();
        println!("  {:>40}: {t:6.0} ns", names.join(" "));
    }
}

/// Times `rhs` and `vjp` with `p` and `out` at every offset from a 32-byte
/// boundary (the routines align their loads and stores; callers' buffers
/// come as they come).
fn alignments(rhs: &CompiledKernel, vjp: &CompiledKernel, p: &[f64]) {
    let mut seed = SplitMix64::new(0x5151);
    let ys = random(vjp.n_state * 256, 1.0, &mut seed);
    let ps: Vec<Aligned> = (0..4).map(|d| Aligned::new(p, d)).collect();
    for (dp, pd) in ps.iter().map(Aligned::slice).enumerate() {
        for dout in 0..4 {
            let mut fs = vec![single(rhs, &ys, 256, pd, dout), single(vjp, &ys, 256, pd, dout)];
            let t = summarise(&interleaved(20_000, &mut fs));
            let (bp, bo) = (8 * dp, 8 * dout);
            println!("  p +{bp:2} B, out +{bo:2} B: rhs {:4.0} ns, vjp {:5.0} ns ({:.2}×)", t[0].0, t[1].0, t[1].1);
        }
    }
}
