use super::checkpoint::{join_u64, split_u64};
use super::*;
use crate::driver::{check_file, FrontendOptions};

/// Checks `src` (written to a scratch file) and prepares its only train block.
fn trainer_of(test: &str, src: &str) -> Result<Trainer, TrainFailure> {
    trainer_edited(test, src, |_, _| {})
}

/// [`trainer_of`] with the checked program and train block changed by
/// `edit` first (to reach the trainer's own checks behind sema's).
fn trainer_edited(
    test: &str,
    src: &str,
    edit: impl Fn(&mut ProgramIr, &mut TrainSpec),
) -> Result<Trainer, TrainFailure> {
    let dir = std::env::temp_dir().join(format!("nde-train-unit-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.nde");
    std::fs::write(&path, src).unwrap();
    let check = |opts: &FrontendOptions| {
        check_file(&path, opts).unwrap_or_else(|e| panic!("{test}: {:?}", e.diagnostics)).program
    };
    let mut program = check(&FrontendOptions::default());
    let mut spec = program.trains[0].clone();
    let mut windowed = match spec.batch {
        BatchSpec::Windows { length, .. } => {
            let data = program.loss(&spec.loss).unwrap().data.clone();
            Some(check(&FrontendOptions { data_times: vec![(data, length)], ..Default::default() }))
        }
        _ => None,
    };
    edit(&mut program, &mut spec);
    if let Some(w) = windowed.as_mut() {
        edit(w, &mut spec.clone());
    }
    Trainer::new(&program, windowed.as_ref(), &spec, &TrainOptions::default())
}

/// An SDE training file: `MODEL` and `SOLVER` and `GRADIENT` filled in.
const SDE: &str = r#"
model truth {
  param theta = 1.2
  param mu = 0.8
  param sigma = 0.1
  state x = 2.0
  dx = theta * (mu - x) dt + sigma dW
}
MODEL
data obs = generate(truth, at = linspace(0, 3, 31), with = euler_maruyama(dt = 0.01))
loss fit {
  let sol = solve(m, at = obs.t, with = SOLVER)
  mse(sol.y, obs.y) + 1e-3 * sol.nfe
}
train fit {
  optimizer = adam(lr = 0.05)
  steps = 10
  batch = windows(length = 6, count = 4)
  gradient = GRADIENT
  seed = 7
}
"#;

/// Itô, multiplicative noise, a parameter in the diffusion.
const ITO: &str = "model m {\n  param theta = 0.6\n  param mu = 0.3\n  param s = 0.2\n  state x = 2.0\n  \
                       dx = theta * (mu - x) dt + s * x dW\n}";
/// Stratonovich, multiplicative noise.
const STRAT: &str = "model m stratonovich {\n  param theta = 0.6\n  param mu = 0.3\n  param s = 0.2\n  \
                         state x = 2.0\n  dx = theta * (mu - x) dt + s * sin(x) dW\n}";
/// Additive noise with a parameter.
const ADDITIVE: &str = "model m {\n  param theta = 0.6\n  param mu = 0.3\n  param s = 0.2\n  state x = 2.0\n  \
                            dx = theta * (mu - x) dt + s dW\n}";

fn sde_file(model: &str, solver: &str, gradient: &str) -> String {
    SDE.replace("MODEL", model).replace("SOLVER", solver).replace("GRADIENT", gradient)
}

/// Central differences of the step loss (same members, same Brownian seeds).
fn check_against_differences(test: &str, src: &str) {
    let mut t = trainer_of(test, src).unwrap_or_else(|e| panic!("{test}: {e}"));
    let members: Vec<Member> = t.starts.iter().step_by(5).copied().collect();
    assert!(members.len() >= 4);
    let p0 = t.params().to_vec();
    let (loss, grad, _) = t.loss_gradient(3, &members, &[]).unwrap();
    assert!(loss.is_finite() && grad.iter().all(|g| g.is_finite() && *g != 0.0), "{test}: {grad:?}");
    for i in 0..p0.len() {
        let h = 1e-6 * p0[i].abs().max(1.0);
        let at = |t: &mut Trainer, d: f64| {
            let mut p = p0.clone();
            p[i] += d;
            t.set_params(p);
            t.loss_gradient(3, &members, &[]).unwrap().0
        };
        let fd = (at(&mut t, h) - at(&mut t, -h)) / (2.0 * h);
        assert!((fd - grad[i]).abs() <= 1e-6 * grad[i].abs().max(1.0), "{test}: dL/dp{i} = {} vs {fd}", grad[i]);
    }
}

#[test]
fn sde_step_gradients_match_central_differences() {
    check_against_differences("fd_em", &sde_file(ITO, "euler_maruyama(dt = 0.05)", "discrete"));
    check_against_differences("fd_milstein", &sde_file(ITO, "milstein(dt = 0.05)", "discrete"));
    check_against_differences("fd_sra1", &sde_file(ADDITIVE, "sra1(dt = 0.05)", "discrete"));
    check_against_differences("fd_heun", &sde_file(STRAT, "reversible_heun(dt = 0.05)", "discrete"));
    check_against_differences("fd_rev", &sde_file(STRAT, "reversible_heun(dt = 0.05)", "reversible"));
}

#[test]
fn reversible_gradient_equals_the_discrete_one() {
    let make = |g: &str| trainer_of(&format!("rev_{g}"), &sde_file(STRAT, "reversible_heun(dt = 0.02)", g)).unwrap();
    let (d, r) = (make("discrete"), make("reversible"));
    let members: Vec<Member> = d.starts.clone();
    let (ld, gd, _) = d.loss_gradient(2, &members, &[]).unwrap();
    let (lr, gr, _) = r.loss_gradient(2, &members, &[]).unwrap();
    assert_eq!(ld.to_bits(), lr.to_bits());
    for (a, b) in gd.iter().zip(&gr) {
        assert!((a - b).abs() <= 1e-8 * a.abs().max(1.0), "{gd:?} vs {gr:?}");
    }
}

#[test]
fn sde_steps_draw_new_paths_but_are_reproducible() {
    let src = sde_file(ITO, "euler_maruyama(dt = 0.05)", "discrete");
    let t = trainer_of("repro", &src).unwrap();
    let members = t.starts[..3].to_vec();
    let a = t.loss_gradient(1, &members, &[]).unwrap();
    assert_eq!(a, t.loss_gradient(1, &members, &[]).unwrap());
    assert_ne!(a.0, t.loss_gradient(2, &members, &[]).unwrap().0, "step 2 draws other paths");
    assert_ne!(brownian_seed(7, 1, 0), brownian_seed(7, 1, 1));
    assert_ne!(brownian_seed(7, 1, 0), brownian_seed(7, 0, 1));
    assert_ne!(brownian_seed(7, 1, 0), brownian_seed(8, 1, 0));
    let e = t.evaluate().unwrap();
    assert_eq!(e, t.evaluate().unwrap(), "evaluation uses a fixed seed");
    assert!(e.nfe > 0.0 && e.loss.is_finite());
}

/// The set-ups an SDE (or ODE) model cannot train with, as the trainer
/// reports them when sema has not (the program edited after checking).
#[test]
fn mismatched_models_solvers_and_gradients_are_set_up_errors() {
    let sde = sde_file(ITO, "euler_maruyama(dt = 0.05)", "discrete");
    let ode = sde_file("model m {\n  param k = 1.0\n  state x = 2.0\n  dx/dt = -k * x\n}", "tsit5", "discrete");
    let gradient = |g: &'static str| move |_: &mut ProgramIr, s: &mut TrainSpec| s.gradient = g.to_string();
    let solver = |method: &'static str| {
        move |p: &mut ProgramIr, _: &mut TrainSpec| {
            for l in &mut p.losses {
                l.solver.method = method.to_string();
                l.solver.options = vec![("dt".to_string(), 0.05)];
            }
        }
    };
    let err = |test: &str, r: Result<Trainer, TrainFailure>| match r {
        Ok(_) => panic!("{test}: accepted"),
        Err(e) => e.to_string(),
    };
    let cases = [
        ("backsolve", err("backsolve", trainer_edited("e1", &sde, gradient("backsolve"))), "continuous adjoint"),
        ("interp", err("interp", trainer_edited("e2", &sde, gradient("interpolated"))), "continuous adjoint"),
        ("rev_em", err("rev_em", trainer_edited("e3", &sde, gradient("reversible"))), "needs the reversible_heun"),
        ("ode_solver", err("ode_solver", trainer_edited("e4", &sde, solver("rk4"))), "needs an SDE solver"),
        ("calculus", err("calculus", trainer_edited("e5", &sde, solver("reversible_heun"))), "is an Itô SDE but"),
        ("sde_solver", err("sde_solver", trainer_edited("e6", &ode, solver("euler_maruyama"))), "an SDE solver"),
        ("ode_rev", err("ode_rev", trainer_edited("e7", &ode, gradient("reversible"))), "for SDE models"),
    ];
    for (test, msg, expect) in cases {
        assert!(msg.contains(expect), "{test}: {msg}");
    }
    let stat = |p: &mut ProgramIr, _: &mut TrainSpec| {
        for l in &mut p.losses {
            l.stats_used.push(LossStat::SampledStiffness);
        }
    };
    let generate = sde.replace("with = euler_maruyama(dt = 0.01))", "with = tsit5)");
    let msg = err("generate", trainer_of("e9", &generate));
    assert!(msg.contains("data `obs`: model `truth` has noise terms, so it needs an SDE solver"), "{msg}");
    let msg = err("stat", trainer_edited("e8", &sde, stat));
    assert!(msg.contains("`sol.sampled_stiffness`, a solver heuristic"), "{msg}");
}

#[test]
fn generate_draws_one_sample_path_of_an_sde() {
    let t = trainer_of("generate", &sde_file(ITO, "euler_maruyama(dt = 0.05)", "discrete")).unwrap();
    let y = &t.data.y;
    assert_eq!(y.len(), 31);
    assert_eq!(y[0], 2.0);
    // Not the mean path 0.8 + 1.2 exp(-1.2 t).
    let mean = |t: f64| 0.8 + 1.2 * (-1.2 * t).exp();
    let off = (1..31).map(|i| (y[i] - mean(0.1 * i as f64)).abs()).fold(0.0, f64::max);
    assert!(off > 1e-3 && off < 0.5, "{off}");
    let again = trainer_of("generate2", &sde_file(ITO, "euler_maruyama(dt = 0.05)", "discrete")).unwrap();
    assert_eq!(again.data.y, t.data.y, "a fixed seed");
}

#[test]
fn u64_survives_the_round_trip_through_f64_pieces() {
    for x in [0, 1, u64::MAX, 0x9E37_79B9_7F4A_7C15, 12345678901234567890] {
        assert_eq!(join_u64(&split_u64(x)), Some(x));
    }
    assert_eq!(join_u64(&[1.5, 0.0, 0.0, 0.0]), None);
}
