//! examples/ou_fit.nde trains as it says: an ensemble loss (the mean and
//! variance over 256 sample paths against the data's) recovers an
//! Ornstein–Uhlenbeck process's rate, level and noise from 256 generated
//! paths, where pathwise training would shrink the noise to 0.

use std::path::Path;
use std::time::Instant;

use nde_compiler::driver::train::{TrainOptions, Trainer};
use nde_compiler::driver::{check_file, FrontendOptions};

#[test]
fn ou_fit_recovers_theta_mu_and_sigma_within_ten_percent() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/ou_fit.nde");
    let checked = check_file(&file, &FrontendOptions::default()).unwrap_or_else(|f| {
        panic!("{}", f.diagnostics.0.iter().map(|d| d.render_plain(&f.sources)).collect::<String>())
    });
    let program = &checked.program;
    let spec = &program.trains[0];
    let started = Instant::now();
    let mut trainer = Trainer::new(program, None, spec, &TrainOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let before = trainer.evaluate().unwrap().loss;
    while !trainer.is_finished() {
        trainer.step().unwrap_or_else(|e| panic!("{e}"));
    }
    let after = trainer.evaluate().unwrap().loss;
    let param = |name: &str| {
        let slot = trainer.model().params.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no `{name}`"));
        trainer.params()[slot.offset]
    };
    let (theta, mu, sigma) = (param("theta"), param("mu"), param("log_sigma").exp());
    eprintln!(
        "ou_fit: theta {theta:.4}, mu {mu:.4}, sigma {sigma:.4} after {} steps in {:.2?}; loss {before:.3e} -> {after:.3e}",
        trainer.steps_done(),
        started.elapsed()
    );
    for (name, got, truth) in [("theta", theta, 1.5), ("mu", mu, 0.5), ("sigma", sigma, 0.4)] {
        assert!((got - truth).abs() <= 0.1 * truth, "{name} = {got}, truth {truth}");
    }
    assert!(after < 0.05 * before, "loss {before} -> {after}");
}
