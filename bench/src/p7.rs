//! P7: the 1-D Brusselator (examples/brusselator_1d.nde) at 1k, 4k and 16k
//! states to t = 10 with rodas5 and bdf through the sparse Jacobian path
//! (`driver::sparse`: pattern from the IR, coloured JVPs, sparse LU).
//!
//! `--problem P7` runs each size in a child process of its own
//! (`--states N`), so each line's peak resident memory (`VmHWM` of
//! `/proc/self/status`) is that size's alone. The example's `const N = ...`
//! line is rewritten to `N = states / 2`. Per size and method: the solve's wall
//! time (the faster of two solves after one untimed warm-up solve), compile
//! time (check, lower, pattern, simplify and JIT), peak RSS, nfe, njev, nlu,
//! Newton iterations, accepted/rejected steps, the number of colours (JVPs
//! per Jacobian), nnz and the solution's `u` at the middle point at t = 10.
//! `P7_DENSE=1` adds a dense-LU solve at 1k states for comparison.

use std::path::Path;
use std::time::Instant;

use nde_compiler::codegen::JitOptions;
use nde_compiler::driver::sparse::{compile_sparse, JacobianChoice, SparseModelField};
use nde_compiler::driver::{self, FrontendOptions};
use nde_runtime::stiff::{solve_stiff, StiffMethod, StiffOptions};

use super::{emit, Timing};

const SIZES: [usize; 3] = [1000, 4000, 16000];

/// Runs every size in a child process, or one size with `--states`.
pub fn run(root: &Path, threads: &str, states: Option<String>) {
    match states.and_then(|s| s.parse::<usize>().ok()) {
        Some(n) => one(root, threads, n),
        None => {
            let exe = std::env::current_exe().expect("the benchmark's own path");
            for n in SIZES {
                let out = std::process::Command::new(&exe)
                    .args(["--problem", "P7", "--threads", threads, "--states", &n.to_string()])
                    .output()
                    .expect("run the benchmark for one size");
                print!("{}", String::from_utf8_lossy(&out.stdout));
                eprint!("{}", String::from_utf8_lossy(&out.stderr));
            }
        }
    }
}

/// `VmHWM` (peak resident set) and `VmRSS` in MiB.
fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn one(root: &Path, threads: &str, states: usize) {
    let points = states / 2;
    let path = root.join("examples/brusselator_1d.nde");
    let text = std::fs::read_to_string(&path).expect("examples/brusselator_1d.nde");
    let text = with_points(&text, points);
    let compile_start = Instant::now();
    let mut sources = nde_compiler::span::SourceMap::new();
    let file = sources.add("brusselator_1d.nde", text);
    let checked = driver::check_source(sources, file, &driver::FsLoader, &FrontendOptions::default())
        .unwrap_or_else(|_| panic!("brusselator_1d.nde with N = {points} does not check"));
    let model = checked.program.models.into_iter().next().expect("one model");
    let kernels = compile_sparse(&model, &JitOptions::default()).expect("compile");
    let compile_s = compile_start.elapsed().as_secs_f64();
    let params = model.param_values.clone();
    let y0 = driver::initial_state(&model, &params, 0.0).expect("initial state");
    let (_, rss_before) = memory_mib();

    let mut runs: Vec<(StiffMethod, JacobianChoice)> =
        vec![(StiffMethod::Rodas5, JacobianChoice::Sparse), (StiffMethod::Bdf, JacobianChoice::Sparse)];
    if std::env::var("P7_DENSE").is_ok_and(|v| v == "1") && states <= 1000 {
        runs.push((StiffMethod::Rodas5, JacobianChoice::Dense));
    }
    for (method, choice) in runs {
        let field = SparseModelField::with_choice(&kernels, &params, choice);
        let opts = StiffOptions { method, rtol: 1e-6, atol: 1e-6, ..StiffOptions::default() };
        let solve = || solve_stiff(&field, 0.0, &y0, &[10.0], &opts).expect("solve");
        let t = Instant::now();
        let sol = solve();
        let first = t.elapsed().as_secs_f64();
        let mut best = f64::INFINITY;
        for _ in 0..2 {
            let t = Instant::now();
            solve();
            best = best.min(t.elapsed().as_secs_f64());
        }
        let (hwm, _) = memory_mib();
        let s = sol.stats;
        let mid = sol.final_state()[points / 2];
        let kind = if choice == JacobianChoice::Sparse { "sparse LU" } else { "dense LU" };
        let variant = format!("{method} {kind}, {states} states, rtol=atol=1e-6");
        let extra = format!(
            ", \"states\": {states}, \"compile_s\": {compile_s:.4e}, \"peak_rss_mib\": {hwm:.1}, \
\"rss_before_solve_mib\": {rss_before:.1}, \"nfe\": {}, \"njev\": {}, \"nlu\": {}, \"nnewton\": {}, \
\"accepted\": {}, \"rejected\": {}, \"colours\": {}, \"nnz\": {}, \"u_mid_t10\": {mid:?}",
            s.nfe,
            s.njev,
            s.nlu,
            s.nnewton,
            s.accepted,
            s.rejected,
            kernels.colouring.n_colours,
            kernels.pattern.nnz()
        );
        let timing = Timing { first: compile_s + first, median: best, min: best, reps: 2 };
        emit("P7-brusselator-1d", &variant, 1, threads, &timing, &extra);
    }
}

/// The example's text with its `const N = ...` line set to `points`.
fn with_points(text: &str, points: usize) -> String {
    text.lines()
        .map(|l| if l.starts_with("const N = ") { format!("const N = {points}") } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}
