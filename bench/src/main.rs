//! `nde-bench --problem P1|P2|P3|P4|P5|P6|P7 --threads 1|default`: nde's side of the shared
//! benchmark problems (`../shared/bench/README.md`), printed as JSON lines in
//! the peers' schema so `run_all.sh` (EXTRA_BENCH) tabulates both together.
//!
//! Timing follows the peers' `common.bench`: the first call timed alone, one
//! untimed warm-up, then at least 5 timed calls, continuing up to 1 s or 100
//! calls; the median is reported. `first_call_s` is nde's time to first
//! result: parse, check, lower, JIT and solve, from the file's text.

mod embed;
mod p4;
mod p7;

use std::path::{Path, PathBuf};
use std::time::Instant;

use nde_compiler::codegen::JitOptions;
use nde_compiler::driver::{self, FrontendOptions, ModelField};
use nde_compiler::ir::ModelIr;
use nde_runtime::io::{read_npz, Array};
use nde_runtime::term::VectorField;
use nde_runtime::{solve, solve_batch, Method, SolveOptions};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let problem = arg("--problem").unwrap_or_else(|| "P1".into());
    let threads = arg("--threads").unwrap_or_else(|| "1".into());
    let n_threads = if threads == "1" { 1 } else { 0 };
    let root = repo_root();
    match problem.as_str() {
        "P1" => p1(&root, &threads, n_threads),
        "P2" => p2(&root, &threads, n_threads),
        "P3" => p3(&root, &threads),
        "P4" => p4::run(&root, &threads),
        "P5" => p5(&root, &threads, n_threads),
        "P6" => p6(&root, &threads, n_threads),
        "P7" => p7::run(&root, &threads, arg("--states")),
        "embed" => embed::run(&root),
        _ => {} // problems nde does not run yet print nothing
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

struct Timing {
    first: f64,
    median: f64,
    min: f64,
    reps: usize,
}

fn bench(mut f: impl FnMut()) -> Timing {
    let t = Instant::now();
    f();
    let first = t.elapsed().as_secs_f64();
    f();
    let mut times = Vec::new();
    let mut spent = 0.0;
    while times.len() < 5 || (spent < 1.0 && times.len() < 100) {
        let t = Instant::now();
        f();
        let dt = t.elapsed().as_secs_f64();
        times.push(dt);
        spent += dt;
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Timing { first, median: times[times.len() / 2], min: times[0], reps: times.len() }
}

fn emit(problem: &str, variant: &str, batch: usize, threads: &str, t: &Timing, extra: &str) {
    println!(
        "{{\"peer\": \"nde\", \"problem\": \"{problem}\", \"variant\": \"{variant}\", \"batch\": {batch}, \"threads\": \"{threads}\", \
\"wall_s_median\": {:.6e}, \"wall_s_min\": {:.6e}, \"reps\": {}, \"first_call_s\": {:.6e}, \"version\": \"{}\", \"dtype\": \"float64\"{extra}}}",
        t.median,
        t.min,
        t.reps,
        t.first,
        env!("CARGO_PKG_VERSION")
    );
}

fn fmt_vec(v: &[f64]) -> String {
    format!("[{}]", v.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>().join(", "))
}

/// Checks and compiles the file's only model, with parameters from `arrays`
/// (by name) over its initial values.
fn load(file: &Path, arrays: &[Array]) -> (ModelIr, Vec<f64>, driver::ModelKernels) {
    let checked = driver::check_file(file, &FrontendOptions::default())
        .unwrap_or_else(|_| panic!("{} does not check", file.display()));
    let model = driver::select_model(&checked.program, None).unwrap().clone();
    let mut params = model.param_values.clone();
    driver::apply_param_arrays(&model, &mut params, arrays).unwrap();
    let kernels = driver::compile_model(&model, &JitOptions::default()).unwrap();
    (model, params, kernels)
}

fn p1(root: &Path, threads: &str, n_threads: usize) {
    let file = root.join("examples/bench_mlp.nde");
    let weights = root.join("../shared/bench/mlp_weights.npz");
    let arrays = read_npz(&weights).expect("shared bench weights");
    let y0_all = arrays.iter().find(|a| a.name == "y0").expect("y0").data.clone();
    let ts: Vec<f64> = (0..=10).map(|i| i as f64).collect();
    let opts = SolveOptions { method: Method::Dopri5, rtol: 1e-6, atol: 1e-8, ..Default::default() };

    // Time to first result: everything from the file's text to the solution.
    let start = Instant::now();
    let (_, params, kernels) = load(&file, &arrays);
    let field = ModelField::new(&kernels, &params);
    let first = solve(&field, 0.0, &y0_all[..2], &ts, &opts).unwrap();
    let first_result_s = start.elapsed().as_secs_f64();

    let t = bench(|| {
        std::hint::black_box(solve(&field, 0.0, &y0_all[..2], &ts, &opts).unwrap());
    });
    let s = first.stats;
    let extra = format!(
        ", \"nfe\": {}, \"steps\": {}, \"accepted\": {}, \"rejected\": {}, \"final_traj0\": {}, \"time_to_first_result_s\": {first_result_s:.6e}",
        s.nfe,
        s.accepted + s.rejected,
        s.accepted,
        s.rejected,
        fmt_vec(first.final_state())
    );
    emit("P1-mlp-forward", "Dopri5 (nde JIT)", 1, threads, &Timing { first: first_result_s, ..t }, &extra);

    // The right-hand-side kernel alone.
    let mut dy = [0.0; 2];
    let mut scratch = vec![0.0; field.scratch_len()];
    let calls = 100_000;
    let t = bench(|| {
        for i in 0..calls {
            let y = [y0_all[2 * (i % 1024)], y0_all[2 * (i % 1024) + 1]];
            field.eval(0.0, std::hint::black_box(&y), &mut dy, &mut scratch);
            std::hint::black_box(&dy);
        }
    });
    emit(
        "P1-mlp-forward",
        "rhs kernel x100000",
        1,
        threads,
        &t,
        &format!(", \"ns_per_call\": {:.1}", t.median / calls as f64 * 1e9),
    );

    // Batch 1024, each trajectory its own step size.
    let mut batch_sol = None;
    let t = bench(|| {
        batch_sol = Some(solve_batch(&field, 0.0, &y0_all, &ts, &opts, n_threads).unwrap());
    });
    let sol = batch_sol.unwrap();
    let nfe: u64 = sol.stats.iter().map(|s| s.nfe).sum();
    let max_steps = sol.stats.iter().map(|s| s.accepted + s.rejected).max().unwrap_or(0);
    let extra = format!(
        ", \"nfe\": {nfe}, \"max_steps\": {max_steps}, \"step_size\": \"per-trajectory\", \"final_traj0\": {}",
        fmt_vec(&sol.y[(ts.len() - 1) * 2..ts.len() * 2])
    );
    emit("P1-mlp-forward", "Dopri5 (nde JIT) per-trajectory", 1024, threads, &t, &extra);
}

fn p3(root: &Path, threads: &str) {
    let file = root.join("examples/lorenz.nde");
    for method in [Method::Tsit5, Method::Dopri5] {
        let start = Instant::now();
        let (model, params, kernels) = load(&file, &[]);
        let field = ModelField::new(&kernels, &params);
        let y0 = driver::initial_state(&model, &params, 0.0).unwrap();
        let opts = SolveOptions { method, rtol: 1e-8, atol: 1e-10, max_steps: 1_000_000, ..Default::default() };
        let first = solve(&field, 0.0, &y0, &[100.0], &opts).unwrap();
        let first_result_s = start.elapsed().as_secs_f64();
        let t = bench(|| {
            std::hint::black_box(solve(&field, 0.0, &y0, &[100.0], &opts).unwrap());
        });
        let s = first.stats;
        let extra = format!(
            ", \"nfe\": {}, \"steps\": {}, \"accepted\": {}, \"rejected\": {}, \"final\": {}",
            s.nfe,
            s.accepted + s.rejected,
            s.accepted,
            s.rejected,
            fmt_vec(first.final_state())
        );
        let name = format!("{} (nde JIT)", if method == Method::Tsit5 { "Tsit5" } else { "Dopri5" });
        emit("P3-lorenz", &name, 1, threads, &Timing { first: first_result_s, ..t }, &extra);
    }
}

/// The spiral demo (examples/spiral.nde): `P6_ITERS` training steps (default
/// 300, as the peers), each 20 windows of 10 times, RMSprop 1e-3; then the
/// mean absolute error over the whole trajectory. `NDE_P6_INIT` may name an
/// `.npz` with the starting weights (`f.W1`, ...): `bench/run.sh` writes the
/// peers' numpy-drawn ones there so all three start from the same numbers.
fn p6(root: &Path, threads: &str, n_threads: usize) {
    use nde_compiler::driver::train::{TrainOptions, Trainer};
    use nde_compiler::ir::training::BatchSpec;
    let iters: u64 = std::env::var("P6_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let file = root.join("examples/spiral.nde");
    let start = Instant::now();
    let checked = driver::check_file(&file, &FrontendOptions::default()).unwrap_or_else(|_| panic!("spiral.nde"));
    let spec = checked.program.trains[0].clone();
    let BatchSpec::Windows { length, .. } = spec.batch else { panic!("spiral.nde trains on windows") };
    let data = checked.program.loss(&spec.loss).unwrap().data.clone();
    let wopts = FrontendOptions { data_times: vec![(data, length)], ..Default::default() };
    let windowed = driver::check_file(&file, &wopts).unwrap_or_else(|_| panic!("spiral.nde (windows)"));
    let opts = TrainOptions { threads: n_threads, steps: Some(iters), ..Default::default() };
    let mut trainer = Trainer::new(&checked.program, Some(&windowed.program), &spec, &opts).unwrap();
    let init = std::env::var("NDE_P6_INIT").ok();
    if let Some(path) = &init {
        let arrays = read_npz(Path::new(path)).expect("NDE_P6_INIT");
        let mut params = trainer.params().to_vec();
        driver::apply_param_arrays(trainer.model(), &mut params, &arrays).unwrap();
        trainer.set_params(params);
    }
    let setup_s = start.elapsed().as_secs_f64();
    let mut times = Vec::with_capacity(iters as usize);
    let mut nfe = 0.0;
    let mut last = 0.0;
    while !trainer.is_finished() {
        let t = Instant::now();
        let r = trainer.step().expect("training step");
        times.push(t.elapsed().as_secs_f64());
        nfe += r.nfe;
        last = r.loss;
    }
    let total: f64 = times.iter().sum();
    let eval = trainer.evaluate().expect("full-trajectory solve");
    let mut rest = times[1..].to_vec();
    rest.sort_by(|a, b| a.total_cmp(b));
    let t = Timing { first: setup_s + times[0], median: rest[rest.len() / 2], min: rest[0], reps: rest.len() };
    let extra = format!(
        ", \"iters\": {iters}, \"first_iter_s\": {:.6e}, \"wall_s_mean\": {:.6e}, \"total_train_s\": {total:.6e}, \"setup_s\": {setup_s:.6e}, \
\"nfe_fwd_per_iter\": {:.2}, \"final_batch_loss\": {last:.6e}, \"full_traj_loss\": {:.6e}, \"nfe_full_traj\": {:.0}, \"init\": \"{}\", \
\"note\": \"float64; per-window step sizes; wall_s_* per training step after the first; nfe_fwd_per_iter is per window\"",
        times[0],
        total / times.len() as f64,
        nfe / iters as f64,
        eval.loss,
        eval.nfe,
        if init.is_some() { "numpy default_rng(0) normal(0, 0.1), as the peers" } else { "spiral.nde's initialisers" },
    );
    emit("P6-ode-demo-train", "ode_demo dopri5 rtol=1e-7 atol=1e-9 RMSprop(1e-3) (nde)", 20, threads, &t, &extra);
}

/// The bench MLP's loss gradient (`../shared/bench/README.md`, P2):
/// `L = mean_b Σ_i ||y_b(ts_i) − targets_i||²`, dopri5 rtol 1e-6 atol 1e-8,
/// through the discrete adjoint (diffrax's RecursiveCheckpointAdjoint
/// counterpart) and backsolve; batch 1 and 1024 (per-trajectory steps).
fn p2(root: &Path, threads: &str, n_threads: usize) {
    use nde_runtime::adjoint::{gradient, gradient_batch, Adjoint, BatchCotangent, BatchTimes, Cotangent};
    let file = root.join("examples/bench_mlp.nde");
    let arrays = read_npz(&root.join("../shared/bench/mlp_weights.npz")).expect("shared bench weights");
    let get = |name: &str| arrays.iter().find(|a| a.name == name).expect(name).data.clone();
    let (y0_all, targets, ts) = (get("y0"), get("targets"), get("ts"));
    let opts = SolveOptions { method: Method::Dopri5, rtol: 1e-6, atol: 1e-8, ..Default::default() };
    let (_, params, kernels) = load(&file, &arrays);
    let field = ModelField::new(&kernels, &params);
    let cot_rows = |y: &[f64]| -> (f64, Vec<f64>) {
        let d: Vec<f64> = y.iter().zip(targets.iter().cycle()).map(|(y, t)| y - t).collect();
        (d.iter().map(|x| x * x).sum(), d.iter().map(|x| 2.0 * x).collect())
    };
    for (name, adjoint) in [("discrete (checkpointed)", Adjoint::default()), ("backsolve", Adjoint::Backsolve)] {
        let mut out = (0.0, Vec::new());
        let t = bench(|| {
            let mut loss = 0.0;
            let (_, g) = gradient(&field, 0.0, &y0_all[..2], &ts, &opts, adjoint, None, &mut |sol| {
                let (l, c) = cot_rows(&sol.y);
                loss = l;
                Cotangent::states(c)
            })
            .unwrap();
            out = (loss, g.params);
        });
        let extra = format!(", \"loss\": {:.10e}, \"dL_dW1_first5\": {}", out.0, fmt_vec(&out.1[..5]));
        emit("P2-mlp-grad", &format!("{name} (nde JIT)"), 1, threads, &t, &extra);
    }
    let batch = y0_all.len() / 2;
    let mut loss = 0.0;
    let t = bench(|| {
        let (_, g) = gradient_batch(
            &field,
            BatchTimes::Shared { t0: 0.0, saveat: &ts },
            &y0_all,
            &opts,
            Adjoint::default(),
            n_threads,
            None,
            &mut |sol| {
                let (l, c) = cot_rows(&sol.y);
                loss = l / batch as f64;
                let mut cot = BatchCotangent::zeros(batch, ts.len() * 2);
                cot.y = c.iter().map(|x| x / batch as f64).collect();
                cot
            },
        )
        .unwrap();
        std::hint::black_box(g);
    });
    let extra = format!(", \"loss\": {loss:.10e}, \"step_size\": \"per-trajectory\"");
    emit("P2-mlp-grad", "discrete (checkpointed) (nde JIT) per-trajectory", batch, threads, &t, &extra);
}

/// The bench MLP neural SDE (P5): `dy = f(y) dt + 0.2 dW`, Euler–Maruyama,
/// dt 0.01 on [0, 1], 1024 paths from the shared initial states, saved at 11
/// times; each path its own stream of one seeded virtual Brownian tree
/// (reproducible, queryable in any order; the default leaf width for a
/// fixed step, narrower than dt), the paths advanced in lock-step chunks
/// through the batched drift kernel (the bits of path-by-path solves).
fn p5(root: &Path, threads: &str, n_threads: usize) {
    use nde_compiler::driver::sde::{ModelSdeField, SdeKernels};
    use nde_runtime::sde::{sde_solve_batch, SdeMethod, SdeOptions};
    let arrays = read_npz(&root.join("../shared/bench/mlp_weights.npz")).expect("shared bench weights");
    let y0_all = arrays.iter().find(|a| a.name == "y0").expect("y0").data.clone();
    let start = Instant::now();
    let file = root.join("examples/bench_mlp_sde.nde");
    let checked =
        driver::check_file(&file, &FrontendOptions::default()).unwrap_or_else(|_| panic!("bench_mlp_sde.nde"));
    let model = checked.program.models[0].clone();
    let mut params = model.param_values.clone();
    driver::apply_param_arrays(&model, &mut params, &arrays).unwrap();
    let kernels = SdeKernels::compile(&model, &JitOptions::default()).unwrap();
    let field = ModelSdeField::new(&kernels, &params);
    let ts: Vec<f64> = (0..=10).map(|i| i as f64 / 10.0).collect();
    let opts = SdeOptions { method: SdeMethod::EulerMaruyama, dt: Some(0.01), ..Default::default() };
    let first = sde_solve_batch(&field, 0.0, &y0_all, &ts, &opts, 0, n_threads).unwrap();
    let first_s = start.elapsed().as_secs_f64();
    let t = bench(|| {
        std::hint::black_box(sde_solve_batch(&field, 0.0, &y0_all, &ts, &opts, 0, n_threads).unwrap());
    });
    let b = y0_all.len() / 2;
    let finals: Vec<[f64; 2]> = (0..b).map(|i| [first.y[(i * 11 + 10) * 2], first.y[(i * 11 + 10) * 2 + 1]]).collect();
    let mean = [0, 1].map(|c| finals.iter().map(|f| f[c]).sum::<f64>() / b as f64);
    let std = [0, 1].map(|c| (finals.iter().map(|f| (f[c] - mean[c]).powi(2)).sum::<f64>() / (b - 1) as f64).sqrt());
    let tol = opts.resolved_brownian_tol(0.0, 1.0);
    let depth = nde_runtime::brownian::BrownianTree::new(0, 0.0, 1.0, 2, tol).map_or(0, |t| t.depth());
    let extra = format!(
        ", \"steps\": 100, \"brownian_tree_depth\": {depth}, \"mean_yT\": {}, \"std_yT\": {}",
        fmt_vec(&mean),
        fmt_vec(&std)
    );
    emit(
        "P5",
        "Euler-Maruyama + virtual Brownian tree (nde JIT), per path",
        b,
        threads,
        &Timing { first: first_s, ..t },
        &extra,
    );
}
