//! P4: stiff problems, nde's side of the work-precision comparison of issue 6
//! (`bench/stiff.sh`, `bench/stiff_peers.py`).
//!
//! The compiled examples `examples/{robertson,hires,pollution}.nde` (ROBER,
//! HIRES and POLLU of the IVP test set) are solved to the test set's end time
//! through [`driver::solve_ode`] with `rodas5`, `kvaerno5`, `bdf`, `radau5`
//! and `auto` at `rtol` 1e-4 … 1e-12 (`radau5`: 1e-4 … 1e-13 on the 1–2–5
//! grid, 1e-4, 5e-5, 2e-5, 1e-5, …: its error is far below its tolerance,
//! and a decade of `rtol` moves it by more than a decade of accuracy, so a
//! decade apart its runs would straddle the peers' accuracies), `atol =
//! rtol · ratio` with the test set's ratio.
//! End times, ratios, initial states and reference solutions come from
//! `tests/data/stiff_reference.txt` (the same file the test suite checks the
//! examples against). Each line reports the achieved accuracy as the test
//! set does — `scd` (relative digits) and `mescd` (mixed digits, `atol/rtol`
//! added to `|ref|`) — with nfe, njev, nlu, Newton iterations, steps, and the
//! time of one solve (timing rules of the parent module: first call, one
//! warm-up, ≥ 5 timed calls, median). It also prints the shared P4 line
//! (`P4-robertson`: t = 1e5, rtol 1e-6, atol 1e-10) so `run_all.sh` tabulates
//! nde beside the peers' P4.
//!
//! Owns the reference-file parser and the digit measures; never writes files.

use std::fmt;
use std::path::Path;
use std::time::Instant;

use nde_compiler::driver::{self, ModelField, OdeSolver};

use super::{bench, emit, fmt_vec, load, Timing};

/// The problems: test-set name, example file.
const PROBLEMS: [(&str, &str); 3] = [("rober", "robertson.nde"), ("hires", "hires.nde"), ("pollu", "pollution.nde")];
/// The methods nde runs on each problem.
const METHODS: [&str; 5] = ["rodas5", "kvaerno5", "bdf", "radau5", "auto"];
/// The tolerances: rtol = 10^-k. The comparison's range is 1e-4 … 1e-10;
/// 1e-11 and 1e-12 are there so nde can reach the digits the peers' tightest
/// runs achieve (Radau's global error is far below its tolerance).
const RTOL_EXPONENTS: std::ops::RangeInclusive<i32> = 4..=12;
/// `radau5`'s tightest decade (see [`tolerances`]).
const RADAU5_LAST_EXPONENT: i32 = 13;

/// The `(label, rtol)` pairs `method` runs at: `1e-k` for `k` in
/// [`RTOL_EXPONENTS`]; for `radau5` also `5e-k` and `2e-k` between them,
/// down to 1e-13.
fn tolerances(method: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let (fine, last) = if method == "radau5" { (true, RADAU5_LAST_EXPONENT) } else { (false, *RTOL_EXPONENTS.end()) };
    for k in *RTOL_EXPONENTS.start()..=last {
        // 10^k is exact, so these quotients are the labels' values exactly.
        let decade = 10f64.powi(k);
        if fine && k > *RTOL_EXPONENTS.start() {
            out.push((format!("5e-{k}"), 5.0 / decade));
            out.push((format!("2e-{k}"), 2.0 / decade));
        }
        out.push((format!("1e-{k}"), 1.0 / decade));
    }
    out
}

/// One line of `tests/data/stiff_reference.txt`.
#[derive(Clone, Debug, PartialEq)]
pub struct Reference {
    pub file: String,
    pub t_end: f64,
    /// `atol / rtol`, the test set's setting.
    pub atol_ratio: f64,
    pub y0: Vec<f64>,
    pub y_end: Vec<f64>,
}

/// Why the reference file could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReferenceError {
    /// The file could not be read.
    Read { path: String, reason: String },
    /// A line does not have the five `|`-separated fields, or a number does not parse.
    Malformed { line: usize, what: String },
    /// No line names this example.
    Missing { file: String },
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReferenceError::Read { path, reason } => write!(f, "cannot read {path}: {reason}"),
            ReferenceError::Malformed { line, what } => write!(f, "stiff_reference.txt line {line}: {what}"),
            ReferenceError::Missing { file } => write!(f, "stiff_reference.txt has no line for {file}"),
        }
    }
}

impl std::error::Error for ReferenceError {}

/// Parses the reference file's text: `file | t_end | atol/rtol | y0 | y_end`
/// per line, `#` comments and blank lines skipped.
pub fn parse_references(text: &str) -> Result<Vec<Reference>, ReferenceError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let bad = |what: String| ReferenceError::Malformed { line: line_no, what };
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        if fields.len() != 5 {
            return Err(bad(format!("{} fields, expected 5", fields.len())));
        }
        let number = |s: &str| s.parse::<f64>().map_err(|_| bad(format!("`{s}` is not a number")));
        let numbers = |s: &str| s.split_whitespace().map(number).collect::<Result<Vec<f64>, _>>();
        let reference = Reference {
            file: fields[0].to_string(),
            t_end: number(fields[1])?,
            atol_ratio: number(fields[2])?,
            y0: numbers(fields[3])?,
            y_end: numbers(fields[4])?,
        };
        if reference.y0.len() != reference.y_end.len() {
            return Err(bad(format!("{} initial values but {} final ones", reference.y0.len(), reference.y_end.len())));
        }
        out.push(reference);
    }
    Ok(out)
}

/// The reference line for `file` from `root/tests/data/stiff_reference.txt`.
pub fn reference(root: &Path, file: &str) -> Result<Reference, ReferenceError> {
    let path = root.join("tests/data/stiff_reference.txt");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| ReferenceError::Read { path: path.display().to_string(), reason: e.to_string() })?;
    parse_references(&text)?
        .into_iter()
        .find(|r| r.file == file)
        .ok_or_else(|| ReferenceError::Missing { file: file.to_string() })
}

/// `(scd, mescd)` of `y` against `reference`, as the IVP test set defines
/// them: `−log10 max_i |y_i − r_i| / |r_i|` and
/// `−log10 max_i |y_i − r_i| / (atol/rtol + |r_i|)`.
pub fn digits(y: &[f64], reference: &[f64], atol_ratio: f64) -> (f64, f64) {
    let (mut rel, mut mixed) = (0.0f64, 0.0f64);
    for (y, r) in y.iter().zip(reference) {
        let e = (y - r).abs();
        rel = rel.max(e / r.abs());
        mixed = mixed.max(e / (atol_ratio + r.abs()));
    }
    (-rel.log10(), -mixed.log10())
}

/// CPU seconds of this process (user + system, from `/proc/self/stat`,
/// at 100 ticks per second) and busy seconds of the whole machine (from
/// `/proc/stat`): the peers' contention check.
fn cpu_and_busy_s() -> (f64, f64) {
    const TICK: f64 = 0.01;
    let own = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
            let rest = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            Some((rest.get(11)?.parse::<f64>().ok()? + rest.get(12)?.parse::<f64>().ok()?) * TICK)
        })
        .unwrap_or(0.0);
    let busy = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let v: Vec<f64> = s.lines().next()?.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
            let idle = v.get(3)? + v.get(4).copied().unwrap_or(0.0);
            Some((v.iter().take(8).sum::<f64>() - idle) * TICK)
        })
        .unwrap_or(0.0);
    (own, busy)
}

/// Runs every problem, method and tolerance, then the shared P4 line.
pub fn run(root: &Path, threads: &str) {
    for (name, file) in PROBLEMS {
        if let Err(e) = problem(root, threads, name, file) {
            eprintln!("P4 {name}: {e}");
        }
    }
    shared_robertson(root, threads);
}

fn problem(root: &Path, threads: &str, name: &str, file: &str) -> Result<(), ReferenceError> {
    let r = reference(root, file)?;
    let start = Instant::now();
    let (_, params, kernels) = load(&root.join("examples").join(file), &[]);
    let compile_s = start.elapsed().as_secs_f64();
    let field = ModelField::new(&kernels, &params);
    let saveat = [r.t_end];
    for method in METHODS {
        for (label, rtol) in tolerances(method) {
            let atol = rtol * r.atol_ratio;
            let Ok(base) = OdeSolver::named(method) else { continue };
            let solver = base.with(Some(rtol), Some(atol), None, Some(10_000_000));
            let variant = format!("{method} rtol={label}");
            let first = match driver::solve_ode(&field, &solver, 0.0, &r.y0, &saveat) {
                Ok(s) => s.solution,
                Err(e) => {
                    println!(
                        "{{\"peer\": \"nde\", \"problem\": \"P4-{name}\", \"variant\": \"{variant}\", \"method\": \"{method}\", \
\"rtol\": {rtol:e}, \"atol\": {atol:e}, \"error\": \"{}\"}}",
                        e.to_string().replace('"', "'")
                    );
                    continue;
                }
            };
            let (cpu0, busy0) = cpu_and_busy_s();
            let wall = Instant::now();
            let t = bench(|| {
                std::hint::black_box(driver::solve_ode(&field, &solver, 0.0, &r.y0, &saveat).ok());
            });
            let spent = wall.elapsed().as_secs_f64().max(1e-9);
            let (cpu1, busy1) = cpu_and_busy_s();
            let other_load = ((busy1 - busy0) - (cpu1 - cpu0)).max(0.0) / spent;
            let (scd, mescd) = digits(first.final_state(), &r.y_end, r.atol_ratio);
            let s = first.stats;
            let extra = format!(
                ", \"method\": \"{method}\", \"rtol\": {rtol:e}, \"atol\": {atol:e}, \"t_end\": {:e}, \"scd\": {scd:.4}, \
\"mescd\": {mescd:.4}, \"nfe\": {}, \"njev\": {}, \"nlu\": {}, \"nnewton\": {}, \"accepted\": {}, \"rejected\": {}, \
\"switches\": {}, \"compile_s\": {compile_s:.4e}, \"other_load_cores\": {other_load:.2}, \"final\": {}",
                r.t_end,
                s.nfe,
                s.njev,
                s.nlu,
                s.nnewton,
                s.accepted,
                s.rejected,
                s.switches,
                fmt_vec(first.final_state())
            );
            emit(&format!("P4-{name}"), &variant, 1, threads, &Timing { first: compile_s + t.first, ..t }, &extra);
        }
    }
    Ok(())
}

/// The shared benchmark's P4 (`../shared/bench/README.md`): Robertson to
/// t = 1e5 at rtol 1e-6, atol 1e-10, final state only.
fn shared_robertson(root: &Path, threads: &str) {
    let start = Instant::now();
    let (model, params, kernels) = load(&root.join("examples/robertson.nde"), &[]);
    let compile_s = start.elapsed().as_secs_f64();
    let field = ModelField::new(&kernels, &params);
    let Ok(y0) = driver::initial_state(&model, &params, 0.0) else { return };
    for method in ["rodas5", "kvaerno5", "bdf", "radau5"] {
        let Ok(base) = OdeSolver::named(method) else { continue };
        let solver = base.with(Some(1e-6), Some(1e-10), None, Some(1_000_000));
        let Ok(first) = driver::solve_ode(&field, &solver, 0.0, &y0, &[1e5]) else { continue };
        let t = bench(|| {
            std::hint::black_box(driver::solve_ode(&field, &solver, 0.0, &y0, &[1e5]).ok());
        });
        let s = first.solution.stats;
        let extra = format!(
            ", \"nfe\": {}, \"njev\": {}, \"nlu\": {}, \"steps_accepted\": {}, \"rejected\": {}, \"final\": {}",
            s.nfe,
            s.njev,
            s.nlu,
            s.accepted,
            s.rejected,
            fmt_vec(first.solution.final_state())
        );
        let variant = format!("{method} (nde JIT, analytic Jacobian)");
        emit("P4-robertson", &variant, 1, threads, &Timing { first: compile_s + t.first, ..t }, &extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_reference_file_has_the_three_problems_with_matching_sizes() {
        let root = super::super::repo_root();
        for (file, n, ratio) in [("robertson.nde", 3, 1e-4), ("hires.nde", 8, 1e-4), ("pollution.nde", 20, 1.0)] {
            let r = reference(&root, file).unwrap();
            assert_eq!((r.y0.len(), r.y_end.len()), (n, n), "{file}");
            assert_eq!(r.atol_ratio, ratio, "{file}");
        }
        assert_eq!(reference(&root, "nope.nde"), Err(ReferenceError::Missing { file: "nope.nde".into() }));
    }

    #[test]
    fn malformed_lines_are_reported_with_their_line_number() {
        let text = "# comment\n\na.nde | 1 | 1 | 1 2 | 3 4\nb.nde | 1 | x | 1 | 2\n";
        assert_eq!(
            parse_references(text),
            Err(ReferenceError::Malformed { line: 4, what: "`x` is not a number".into() })
        );
        assert!(matches!(parse_references("a | 1 | 1 | 1 2 | 3"), Err(ReferenceError::Malformed { line: 1, .. })));
        assert!(matches!(parse_references("a | 1 | 1"), Err(ReferenceError::Malformed { line: 1, .. })));
        let ok = parse_references("a.nde | 2.5 | 1e-4 | 1 0 | 0.5 0.25\n").unwrap();
        assert_eq!(ok[0].t_end, 2.5);
        assert_eq!(ok[0].y_end, vec![0.5, 0.25]);
    }

    #[test]
    fn radau5_runs_on_the_1_2_5_grid_the_others_in_decades() {
        let rodas: Vec<String> = tolerances("rodas5").into_iter().map(|(l, _)| l).collect();
        assert_eq!(rodas.first().map(String::as_str), Some("1e-4"));
        assert_eq!(rodas.len(), 9);
        let radau = tolerances("radau5");
        let labels: Vec<&str> = radau.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(&labels[..5], ["1e-4", "5e-5", "2e-5", "1e-5", "5e-6"]);
        assert_eq!(labels.len(), 1 + 3 * 9);
        assert_eq!(labels.last(), Some(&"1e-13"));
        for (label, rtol) in &radau {
            assert_eq!(label.parse::<f64>().unwrap(), *rtol, "{label}");
        }
    }

    #[test]
    fn digits_follow_the_test_set_definitions() {
        // relative error 1e-6 on the large component, absolute 1e-11 on the tiny one.
        let r = [1.0, 1e-12];
        let y = [1.0 + 1e-6, 1e-12 + 1e-11];
        let (scd, mescd) = digits(&y, &r, 1e-4);
        // scd is ruled by the tiny component (relative error 10), mescd by the large one.
        assert!((scd + 1.0).abs() < 1e-6, "{scd}");
        assert!((mescd - 6.0).abs() < 1e-3, "{mescd}");
        let (scd, mescd) = digits(&r, &r, 1.0);
        assert!(scd.is_infinite() && mescd.is_infinite());
    }
}
