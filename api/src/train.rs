//! Losses and training: [`Loss`] (a `loss` block's value and gradient with
//! respect to the parameters, as `nde eval` and `nde train` compute them)
//! and [`Training`] (a `train` block stepped by the trainer of `nde train`).
//!
//! Thin wrappers over `nde_compiler::driver::train::Trainer`: every solve,
//! adjoint, window draw and optimiser step is the driver's, so results are
//! the command's bit for bit. Never prints: progress goes to a callback.

use std::path::Path;

use nde_compiler::driver::train::Trainer;
use nde_runtime::io;

use crate::error::Error;
use crate::model::{check_params, Parameters};

/// One training step's record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// 1 for the first step.
    pub step: u64,
    /// The mean loss over the step's windows (or trajectories), before the update.
    pub loss: f64,
    /// Vector-field evaluations per forward solve (mean).
    pub nfe: f64,
    /// The gradient's global norm, before clipping.
    pub grad_norm: f64,
    /// The learning rate used.
    pub lr: f64,
}

/// A loss evaluated on its whole data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// The loss block's value (mean over trajectories).
    pub loss: f64,
    /// Vector-field evaluations per trajectory (mean).
    pub nfe: f64,
    /// Attempted steps per trajectory (mean).
    pub steps: f64,
}

/// A loss value with its gradient.
#[derive(Clone, Debug, PartialEq)]
pub struct LossGradient {
    /// The loss (mean over the data's trajectories).
    pub value: f64,
    /// `∂loss/∂p`, laid out like the model's parameters.
    pub gradient: Vec<f64>,
}

fn evaluation(e: nde_compiler::driver::train::Evaluation) -> Evaluation {
    Evaluation { loss: e.loss, nfe: e.nfe, steps: e.steps }
}

/// A `loss` block, compiled with its gradient, evaluated on every
/// trajectory of its data solved whole (with its `train` block's solver,
/// initial state and seed where the file has one).
///
/// ```
/// let source = r#"
/// model decay {
///   param k = 0.5
///   state x = 1.0
///   dx/dt = -k * x
/// }
/// model truth {
///   state x = 1.0
///   dx/dt = -0.7 * x
/// }
/// data obs = generate(truth, at = linspace(0, 2, 21), with = tsit5(rtol = 1e-10, atol = 1e-12))
/// loss fit {
///   let sol = solve(decay, at = obs.t, with = tsit5(rtol = 1e-10, atol = 1e-12))
///   mean((sol.y - obs.y)^2)
/// }
/// "#;
/// let program = nde::Program::from_source("decay.nde", source)?;
/// let mut loss = program.loss("fit")?;
/// let g = loss.gradient(&[0.5])?;
/// assert!(g.value > 0.0);
/// assert!(g.gradient[0] < 0.0, "a larger k fits better");
/// assert_eq!(loss.gradient(&[0.7])?.value < 1e-12, true);
/// # Ok::<(), nde::Error>(())
/// ```
pub struct Loss {
    trainer: Trainer,
}

impl std::fmt::Debug for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loss").field("name", &self.trainer.spec.loss).finish()
    }
}

impl Loss {
    pub(crate) fn new(trainer: Trainer) -> Loss {
        Loss { trainer }
    }

    /// The loss block's name.
    pub fn name(&self) -> &str {
        &self.trainer.spec.loss
    }

    /// The initial parameters of the model it solves.
    pub fn parameters(&self) -> Parameters {
        Parameters::of(self.trainer.model(), self.trainer.model().param_values.clone())
    }

    /// Number of trajectories of its data.
    pub fn n_trajectories(&self) -> usize {
        self.trainer.n_trajectories()
    }

    fn at(&mut self, params: &[f64]) -> Result<(), Error> {
        check_params(params, self.trainer.params().len())?;
        self.trainer.set_params(params.to_vec());
        Ok(())
    }

    /// The loss at `params` (what `nde eval` prints for them).
    pub fn value(&mut self, params: &[f64]) -> Result<Evaluation, Error> {
        self.at(params)?;
        Ok(evaluation(self.trainer.evaluate()?))
    }

    /// The loss at `params` and its gradient with respect to them, through
    /// the adjoint `nde train` uses, over every trajectory of the data
    /// solved whole (the value is the gradient pass's own forward solve).
    pub fn gradient(&mut self, params: &[f64]) -> Result<LossGradient, Error> {
        self.at(params)?;
        let trajectories: Vec<usize> = (0..self.trainer.n_trajectories()).collect();
        let (value, gradient) = self.trainer.batch_gradient(&trajectories)?;
        Ok(LossGradient { value, gradient })
    }
}

/// A `train` block ready to step: the trainer of `nde train` (same data,
/// windows, optimiser, seeds; a run and the command agree bit for bit).
///
/// ```no_run
/// let program = nde::Program::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/spiral.nde"))?;
/// let mut training = program.training("fit")?;
/// training.run(100, |step| {
///     if step.step % 10 == 0 {
///         println!("step {} loss {:.4e}", step.step, step.loss);
///     }
/// })?;
/// training.parameters().save_npz("spiral.params.npz")?;
/// # Ok::<(), nde::Error>(())
/// ```
pub struct Training {
    trainer: Trainer,
}

impl std::fmt::Debug for Training {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Training")
            .field("loss", &self.trainer.spec.loss)
            .field("steps_done", &self.trainer.steps_done())
            .finish()
    }
}

impl Training {
    pub(crate) fn new(trainer: Trainer) -> Training {
        Training { trainer }
    }

    /// The name of the loss it trains.
    pub fn name(&self) -> &str {
        &self.trainer.spec.loss
    }

    /// The block's `steps`.
    pub fn total_steps(&self) -> u64 {
        self.trainer.total_steps
    }

    /// Steps taken so far (also those restored by [`Training::resume`]).
    pub fn steps_done(&self) -> u64 {
        self.trainer.steps_done()
    }

    /// The current parameters.
    pub fn parameters(&self) -> Parameters {
        Parameters::of(self.trainer.model(), self.trainer.params().to_vec())
    }

    /// Starts from these parameters instead (before the first step).
    pub fn set_parameters(&mut self, params: &Parameters) -> Result<(), Error> {
        check_params(params.as_slice(), self.trainer.params().len())?;
        self.trainer.set_params(params.as_slice().to_vec());
        Ok(())
    }

    /// One optimisation step.
    pub fn step(&mut self) -> Result<Step, Error> {
        let r = self.trainer.step()?;
        Ok(Step { step: r.step, loss: r.loss, nfe: r.nfe, grad_norm: r.grad_norm, lr: r.lr })
    }

    /// `steps` more steps, calling `progress` after each.
    pub fn run(&mut self, steps: u64, mut progress: impl FnMut(&Step)) -> Result<(), Error> {
        for _ in 0..steps {
            let s = self.step()?;
            progress(&s);
        }
        Ok(())
    }

    /// The steps left of the block's `steps` (what `nde train` runs), calling `progress` after each.
    pub fn run_to_end(&mut self, mut progress: impl FnMut(&Step)) -> Result<(), Error> {
        while !self.trainer.is_finished() {
            let s = self.step()?;
            progress(&s);
        }
        Ok(())
    }

    /// Every step so far.
    pub fn history(&self) -> Vec<Step> {
        self.trainer
            .history
            .iter()
            .map(|r| Step { step: r.step, loss: r.loss, nfe: r.nfe, grad_norm: r.grad_norm, lr: r.lr })
            .collect()
    }

    /// The loss on the whole data at the current parameters (the summary of `nde train`).
    pub fn evaluate(&self) -> Result<Evaluation, Error> {
        Ok(evaluation(self.trainer.evaluate()?))
    }

    /// Writes a checkpoint (`.npz`, atomically) from which [`Training::resume`] continues bit for bit.
    pub fn checkpoint(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        Ok(self.trainer.write_checkpoint(path.as_ref())?)
    }

    /// Continues from a checkpoint of the same block.
    pub fn resume(&mut self, path: impl AsRef<Path>) -> Result<(), Error> {
        let arrays = io::read_npz(path.as_ref())?;
        Ok(self.trainer.restore(&arrays)?)
    }
}
