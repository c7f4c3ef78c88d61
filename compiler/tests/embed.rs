//! `nde build` end to end: models built into shared libraries, driven from
//! plain C programs (examples/embed/c) and Python ctypes
//! (examples/embed/python), compared bit for bit with `nde run`; error
//! codes from C; the exported symbols and library dependencies; exported
//! losses (`NAME_loss_LOSS`, examples/embed/c/loss.c) against `nde eval`,
//! the trainer's gradient and finite differences.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(what: &str, out: Output) -> Output {
    assert!(out.status.success(), "{what} failed ({:?}):\n{}\n{}", out.status, text(&out.stderr), text(&out.stdout));
    out
}

/// The folder with the two libraries, their headers, the C programs and y0 files (built once per test binary).
fn built() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("nde-embed-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for model in ["lorenz", "bench_mlp"] {
            let file = repo().join(format!("examples/{model}.nde"));
            let lib = dir.join(format!("lib{model}.so"));
            let out =
                Command::new(env!("CARGO_BIN_EXE_nde")).arg("build").arg(&file).arg("-o").arg(&lib).output().unwrap();
            ok(&format!("nde build {model}"), out);
            for (prog, src) in [("solve", "main.c"), ("errors", "errors.c")] {
                let out = Command::new("cc")
                    .current_dir(&dir)
                    .args(["-O2", "-std=c99", "-Wall", "-Werror"])
                    .arg(format!("-DMODEL={model}"))
                    .arg(repo().join("examples/embed/c").join(src))
                    .args(["-I.", "-L.", &format!("-l{model}"), "-Wl,-rpath,$ORIGIN", "-o"])
                    .arg(format!("{prog}_{model}"))
                    .output()
                    .unwrap();
                ok(&format!("cc {src} for {model}"), out);
            }
        }
        std::fs::write(dir.join("y0_lorenz.csv"), "x,y,z\n1,1,1\n2,0.5,-1\n-3.25,4,20\n").unwrap();
        std::fs::write(dir.join("y0_bench_mlp.csv"), "a,b\n0.6514164428243246,1.0975689513009366\n-1.5,0.25\n2,-2\n")
            .unwrap();
        dir
    })
}

/// The numbers of a CSV with a header (each row's cells parsed as f64).
fn numbers(csv: &str) -> Vec<Vec<f64>> {
    csv.lines().skip(1).filter(|l| !l.is_empty()).map(|l| l.split(',').map(|c| c.parse().unwrap()).collect()).collect()
}

fn assert_same_bits(ours: &str, theirs: &str, what: &str) {
    let (a, b) = (numbers(ours), numbers(theirs));
    assert_eq!(a.len(), b.len(), "{what}: row counts");
    assert_eq!(ours.lines().next(), theirs.lines().next(), "{what}: headers");
    for (i, (ra, rb)) in a.iter().zip(&b).enumerate() {
        let (ba, bb): (Vec<u64>, Vec<u64>) =
            (ra.iter().map(|v| v.to_bits()).collect(), rb.iter().map(|v| v.to_bits()).collect());
        assert_eq!(ba, bb, "{what}: row {i} differs: {ra:?} vs {rb:?}");
    }
}

/// `nde run` over the same initial states and times, CSV on stdout.
fn nde_run(model: &str, method: Option<&str>, tols: Option<(&str, &str)>) -> String {
    let dir = built();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nde"));
    cmd.arg("run").arg(repo().join(format!("examples/{model}.nde")));
    cmd.arg("--y0").arg(dir.join(format!("y0_{model}.csv"))).args(["--at", "0:2:9"]);
    if let Some(m) = method {
        cmd.args(["--solver", m]);
    }
    if let Some((r, a)) = tols {
        cmd.args(["--rtol", r, "--atol", a]);
    }
    text(&ok("nde run", cmd.output().unwrap()).stdout)
}

fn example_args(model: &str, method: Option<&str>, tols: Option<(&str, &str)>) -> Vec<String> {
    let mut args = vec![format!("y0_{model}.csv"), "0:2:9".to_string()];
    if let Some(m) = method {
        args.push(m.to_string());
        if let Some((r, a)) = tols {
            args.extend([r.to_string(), a.to_string()]);
        }
    }
    args
}

/// A model, a method (`None`: the library's default) and tolerances.
type Case = (&'static str, Option<&'static str>, Option<(&'static str, &'static str)>);

const CASES: [Case; 5] = [
    ("lorenz", Some("tsit5"), Some(("1e-8", "1e-10"))),
    ("lorenz", Some("rodas5"), Some(("1e-6", "1e-8"))),
    ("lorenz", None, None),
    ("bench_mlp", Some("dopri5"), Some(("1e-6", "1e-8"))),
    ("bench_mlp", Some("tsit5"), None),
];

#[test]
fn the_c_example_matches_nde_run_bit_for_bit() {
    let dir = built();
    for (model, method, tols) in CASES {
        let out = Command::new(dir.join(format!("solve_{model}")))
            .current_dir(dir)
            .args(example_args(model, method, tols))
            .output()
            .unwrap();
        let out = ok("the C example", out);
        assert!(text(&out.stderr).contains("unknown solver method"), "{}", text(&out.stderr));
        assert_same_bits(&text(&out.stdout), &nde_run(model, method, tols), &format!("C {model} {method:?}"));
    }
}

#[test]
fn the_python_example_matches_nde_run_bit_for_bit() {
    let numpy = Command::new("python3").args(["-c", "import numpy"]).output();
    if !numpy.is_ok_and(|o| o.status.success()) {
        eprintln!("note: skipping the Python example: python3 with numpy is not available");
        return;
    }
    let dir = built();
    for (model, method, tols) in CASES {
        let out = Command::new("python3")
            .current_dir(dir)
            .arg(repo().join("examples/embed/python/solve.py"))
            .arg(format!("./lib{model}.so"))
            .args(example_args(model, method, tols))
            .output()
            .unwrap();
        let out = ok("the Python example", out);
        assert_same_bits(&text(&out.stdout), &nde_run(model, method, tols), &format!("Python {model} {method:?}"));
    }
}

#[test]
fn misuse_from_c_returns_codes_and_messages() {
    let dir = built();
    for model in ["lorenz", "bench_mlp"] {
        let out = Command::new(dir.join(format!("errors_{model}"))).current_dir(dir).output().unwrap();
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{model}:\n{stdout}\n{}", text(&out.stderr));
        assert!(stdout.contains("0 failures") && stdout.lines().count() > 20, "{stdout}");
    }
}

/// The functions a header declares (`NAME_x(` at the start of a declaration).
fn declared(header: &str, model: &str) -> Vec<String> {
    let mut names: Vec<String> = header
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('#') && !l.starts_with("/*") && l.contains('('))
        .filter_map(|l| {
            let head = &l[..l.find('(')?];
            let name = head.rsplit([' ', '*']).next()?;
            name.starts_with(&format!("{model}_")).then(|| name.to_string())
        })
        .collect();
    names.sort();
    names
}

#[test]
fn a_library_exports_exactly_its_documented_symbols_and_needs_only_libc() {
    let dir = built();
    for model in ["lorenz", "bench_mlp"] {
        let lib = dir.join(format!("lib{model}.so"));
        let nm = ok("nm", Command::new("nm").args(["-D", "--defined-only"]).arg(&lib).output().unwrap());
        let mut exported: Vec<String> =
            text(&nm.stdout).lines().filter_map(|l| l.split_whitespace().nth(2).map(str::to_string)).collect();
        exported.sort();
        let header = std::fs::read_to_string(dir.join(format!("{model}.h"))).unwrap();
        let documented = declared(&header, model);
        assert!(documented.len() >= 20, "{documented:?}");
        assert_eq!(exported, documented, "{model}: exported vs declared in the header");
        let readelf = ok("readelf", Command::new("readelf").arg("-d").arg(&lib).output().unwrap());
        for line in text(&readelf.stdout).lines().filter(|l| l.contains("(NEEDED)")) {
            let allowed = ["libc.so", "libm.so", "ld-linux"];
            assert!(allowed.iter().any(|a| line.contains(a)), "{model} needs more than the C library: {line}");
        }
    }
}

#[test]
fn a_file_without_a_c_compiler_or_runtime_is_a_clear_error() {
    let dir = built();
    let run = |env: (&str, &str)| {
        Command::new(env!("CARGO_BIN_EXE_nde"))
            .arg("build")
            .arg(repo().join("examples/lorenz.nde"))
            .arg("-o")
            .arg(dir.join("libnever.so"))
            .env(env.0, env.1)
            .output()
            .unwrap()
    };
    let out = run(("CC", "/nonexistent/cc"));
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("cannot run the C compiler"), "{}", text(&out.stderr));
    let out = run(("NDE_EMBED_LIB", "/nonexistent/libnde_embed.a"));
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("NDE_EMBED_LIB"), "{}", text(&out.stderr));
    assert!(!dir.join("libnever.so").exists());
}

/// A small fit with everything a loss export handles: three trajectories
/// from an `.npz` (a missing value, a per-trajectory field `w`), an initial
/// state that reads a parameter (`x0`), the discrete and the interpolated
/// adjoint, `sol.nfe`/`sol.steps`; and two losses a library cannot export.
const FITME: &str = r#"model fitme {
  param k: [2] = [0.5, 0.3]
  param c = 0.2
  param x0 = 1.5
  state x: [2] = [x0, 2.0 * x0]
  dx/dt = -k * x + c * tanh(x)
}

data obs = load("obs.npz")
solver tight = dopri5(rtol = 1e-10, atol = 1e-12)

loss fit {
  let sol = solve(fitme, at = obs.t, with = tight)
  mean((sol.y - obs.y)^2) * obs.w
}

loss fit_i {
  let sol = solve(fitme, at = obs.t, with = tsit5(rtol = 1e-10, atol = 1e-12))
  mean(abs(sol.y - obs.y)^2) + 0.1 * mean(sol.y)
}

loss cost {
  let sol = solve(fitme, at = obs.t, with = bosh3(rtol = 1e-6))
  mean(sol.y^2) + 1e-3 * sol.nfe + 1e-4 * sol.steps
}

loss reg {
  let sol = solve(fitme, at = obs.t, with = tight)
  mean((sol.y - obs.y)^2) + 0.01 * sol.local_error
}

loss stiff {
  let sol = solve(fitme, at = obs.t, with = rodas5)
  mean((sol.y - obs.y)^2)
}

train stiff {
  optimizer = adam(lr = 1e-2)
  gradient = interpolated
}

train fit_i {
  optimizer = adam(lr = 1e-2)
  gradient = interpolated
}
"#;

/// `(model file, model, loss)` of each exported loss the tests drive from C.
fn loss_cases(dir: &Path) -> Vec<(PathBuf, &'static str, &'static str)> {
    let fitme = dir.join("fitme.nde");
    let spiral = repo().join("examples/spiral.nde");
    vec![
        (fitme.clone(), "fitme", "fit"),
        (fitme.clone(), "fitme", "fit_i"),
        (fitme, "fitme", "cost"),
        (spiral, "spiral", "fit"),
    ]
}

/// The folder with `libfitme.so` and `libspiral.so` (built with their
/// losses), `nde build`'s messages for fitme, and one `loss_MODEL_LOSS`
/// program (examples/embed/c/loss.c) per case.
fn built_losses() -> &'static (PathBuf, String) {
    static DIR: OnceLock<(PathBuf, String)> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("nde-embed-loss-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("fitme.nde"), FITME).unwrap();
        let t: Vec<f64> = (0..6).map(|i| 0.4 * i as f64).collect();
        let mut y = Vec::new();
        for b in 0..3 {
            for &ti in &t {
                y.push((1.5 + 0.2 * b as f64) * (-0.6 * ti).exp());
                y.push((3.0 - 0.1 * b as f64) * (-0.25 * ti).exp());
            }
        }
        y[(6 + 3) * 2] = f64::NAN;
        let arrays = [
            nde_runtime::io::Array::new("t", vec![6], t),
            nde_runtime::io::Array::new("y", vec![3, 6, 2], y),
            nde_runtime::io::Array::new("w", vec![3], vec![1.0, 0.5, 2.0]),
        ];
        nde_runtime::io::write_npz(&dir.join("obs.npz"), &arrays).unwrap();
        let mut notes = String::new();
        for (file, model) in [(dir.join("fitme.nde"), "fitme"), (repo().join("examples/spiral.nde"), "spiral")] {
            let out = Command::new(env!("CARGO_BIN_EXE_nde"))
                .arg("build")
                .arg(&file)
                .args(["--model", model, "-o"])
                .arg(dir.join(format!("lib{model}.so")))
                .output()
                .unwrap();
            notes.push_str(&text(&ok(&format!("nde build {model}"), out).stderr));
        }
        for (_, model, loss) in loss_cases(&dir) {
            let out = Command::new("cc")
                .current_dir(&dir)
                .args(["-O2", "-std=c99", "-Wall", "-Werror"])
                .arg(format!("-DMODEL={model}"))
                .arg(format!("-DLOSS={loss}"))
                .arg(repo().join("examples/embed/c/loss.c"))
                .args(["-I.", "-L.", &format!("-l{model}"), "-Wl,-rpath,$ORIGIN", "-lm", "-o"])
                .arg(format!("loss_{model}_{loss}"))
                .output()
                .unwrap();
            ok(&format!("cc loss.c for {model} {loss}"), out);
        }
        (dir, notes)
    })
}

/// What loss.c printed: the value, the value without a gradient, the
/// gradient, and the finite differences it was asked for.
struct LossRun {
    value: f64,
    value_only: f64,
    grad: Vec<f64>,
    fd: Vec<(usize, f64)>,
}

fn run_loss(model: &str, loss: &str, args: &[&str]) -> LossRun {
    let dir = &built_losses().0;
    let out = Command::new(dir.join(format!("loss_{model}_{loss}"))).current_dir(dir).args(args).output().unwrap();
    let out = ok(&format!("loss_{model}_{loss}"), out);
    let mut run = LossRun { value: f64::NAN, value_only: f64::NAN, grad: Vec::new(), fd: Vec::new() };
    for line in text(&out.stdout).lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["value", v] => run.value = v.parse().unwrap(),
            ["value_only", v] => run.value_only = v.parse().unwrap(),
            ["grad", i, v] => {
                assert_eq!(i.parse::<usize>().unwrap(), run.grad.len());
                run.grad.push(v.parse().unwrap());
            }
            ["fd", i, v] => run.fd.push((i.parse().unwrap(), v.parse().unwrap())),
            _ => panic!("unexpected line from loss.c: {line}"),
        }
    }
    run
}

/// The trainer's value and gradient over every trajectory (the Rust API's
/// `Loss::gradient`).
fn trainer_gradient(file: &Path, loss: &str) -> (f64, Vec<f64>) {
    use nde_compiler::driver::{self, train};
    let checked = driver::check_file(file, &driver::FrontendOptions::default()).unwrap_or_else(|_| panic!("check"));
    let trainer = train::evaluator(&checked.program, loss, &train::TrainOptions::default()).unwrap();
    let all: Vec<usize> = (0..trainer.n_trajectories()).collect();
    trainer.batch_gradient(&all).unwrap()
}

#[test]
fn an_exported_loss_is_nde_evals_value_and_the_trainers_gradient() {
    let dir = &built_losses().0;
    for (file, model, loss) in loss_cases(dir) {
        let run = run_loss(model, loss, &[]);
        let eval = Command::new(env!("CARGO_BIN_EXE_nde")).arg("eval").arg(&file).arg(loss).output().unwrap();
        let eval = text(&ok("nde eval", eval).stdout);
        assert_eq!(eval.trim(), format!("{loss} {}", run.value), "{model} {loss}: value vs nde eval");
        assert_eq!(run.value.to_bits(), run.value_only.to_bits(), "{model} {loss}: value with and without gradient");
        let (_, want) = trainer_gradient(&file, loss);
        assert_eq!(run.grad.len(), want.len(), "{model} {loss}");
        // The same kernels, solves and order of summation: the same bits
        // (`init`'s VJP is compiled here and interpreted by the trainer,
        // which could differ in the last bit if it called `exp` or `tanh`).
        for (i, (a, b)) in run.grad.iter().zip(&want).enumerate() {
            assert_eq!(a.to_bits(), b.to_bits(), "{model} {loss}: grad[{i}] = {a} vs the trainer's {b}");
        }
    }
}

#[test]
fn an_exported_gradient_matches_finite_differences_of_the_exported_value() {
    // The tight-tolerance losses: differences of the adaptive solve are
    // smooth to about the solver's tolerance.
    for loss in ["fit", "fit_i"] {
        let run = run_loss("fitme", loss, &["1e-6"]);
        assert_eq!(run.fd.len(), run.grad.len());
        for (i, fd) in run.fd {
            let g = run.grad[i];
            assert!((g - fd).abs() <= 1e-7 + 1e-6 * g.abs(), "fitme {loss}: grad[{i}] = {g}, central difference {fd}");
        }
    }
}

#[test]
fn losses_outside_the_exported_family_are_skipped_with_a_note() {
    let (dir, notes) = built_losses();
    assert!(notes.contains("loss `reg` is not exported: it reads `sol.local_error`"), "{notes}");
    assert!(notes.contains("loss `stiff` is not exported: it solves with `rodas5`"), "{notes}");
    assert!(notes.contains("losses: fit, fit_i, cost"), "{notes}");
    let header = std::fs::read_to_string(dir.join("fitme.h")).unwrap();
    let nm = ok("nm", Command::new("nm").args(["-D", "--defined-only"]).arg(dir.join("libfitme.so")).output().unwrap());
    let mut exported: Vec<String> =
        text(&nm.stdout).lines().filter_map(|l| l.split_whitespace().nth(2).map(str::to_string)).collect();
    exported.sort();
    assert_eq!(exported, declared(&header, "fitme"));
    for loss in ["fit", "fit_i", "cost"] {
        assert!(exported.contains(&format!("fitme_loss_{loss}")), "{exported:?}");
    }
    assert!(!exported.iter().any(|s| s.contains("reg") || s.contains("stiff")), "{exported:?}");
}

#[test]
fn the_python_example_gives_the_c_loss_bit_for_bit() {
    let numpy = Command::new("python3").args(["-c", "import numpy"]).output();
    if !numpy.is_ok_and(|o| o.status.success()) {
        eprintln!("note: skipping the Python example: python3 with numpy is not available");
        return;
    }
    let dir = &built_losses().0;
    for (model, loss) in [("fitme", "fit_i"), ("spiral", "fit")] {
        let c = run_loss(model, loss, &[]);
        let out = Command::new("python3")
            .current_dir(dir)
            .arg(repo().join("examples/embed/python/solve.py"))
            .arg(format!("./lib{model}.so"))
            .args(["--loss", loss])
            .output()
            .unwrap();
        let out = text(&ok("solve.py --loss", out).stdout);
        let mut lines = out.lines();
        assert_eq!(
            lines.next().and_then(|l| l.strip_prefix("value ")).map(|v| v.parse::<f64>().unwrap()),
            Some(c.value)
        );
        let grad: Vec<f64> = lines.map(|l| l.split_whitespace().nth(2).unwrap().parse().unwrap()).collect();
        assert_eq!(grad, c.grad, "{model} {loss}: Python vs C gradient");
    }
}
