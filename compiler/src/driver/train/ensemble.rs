//! Ensembles in training: a loss with `solve(..., paths = N)` fits an SDE
//! model's distribution rather than its sample paths, and `generate(...,
//! paths = N)` draws the data for it.
//!
//! Owns the data statistics (`DATA.mean`, `DATA.var` and their mask,
//! [`DataStats`]), the sample paths of `generate` ([`generate_paths`]), an
//! ensemble training step and evaluation. A step solves the `N` paths from
//! the model's initial state over the data's whole span — path `b` of step
//! `k` on stream `b` of the Brownian tree seeded [`brownian_seed`]`(seed,
//! k, 0)`, evaluation on step 0's — evaluates the loss once on all of them,
//! takes the loss's vector–Jacobian product (a cotangent for each path's
//! rows) and differentiates every path with its cotangent
//! (`nde_runtime::sde::sde_gradient_batch`: members in parallel, summed in
//! path order, so the bits do not depend on the thread count). A step
//! draws nothing from the trainer's generator, so a resumed run repeats
//! an uninterrupted one bit for bit.
//!
//! Never: check the declarations (sema has; [`check_setup`] only guards the
//! trainer against edited programs) or print.

use nde_runtime::sde::{sde_gradient_batch, sde_solve_batch, SdeAdjoint, SdeField, SdeOptions};
use nde_runtime::{BatchSolution, SolveError};

use super::{brownian_seed, setup, Dynamics, Evaluation, Member, TrainFailure, Trainer, GENERATE_SEED};
use crate::driver::sde::{ModelSdeField, SdeKernels};
use crate::ir::training::{BatchSpec, InitialState, LossIr, LossLayout, TrainSpec};
use crate::ir::{self, ModelIr};
use nde_runtime::data::Series;

/// The mean and unbiased variance over a data set's trajectories of each
/// observed value, per save time and column (`[T, m]`, row-major), and
/// their mask: 1 where at least 2 trajectories are observed, else 0 (and
/// the statistics 0). Sums run in trajectory order.
#[derive(Clone, Debug, PartialEq)]
pub struct DataStats {
    pub mean: Vec<f64>,
    pub var: Vec<f64>,
    pub mask: Vec<f64>,
}

impl DataStats {
    /// The statistics of `data` (NaN = missing).
    pub fn of(data: &Series) -> DataStats {
        let (n_times, m) = (data.t.len(), data.columns.len());
        let len = n_times * m;
        let (mut mean, mut var, mut mask) = (vec![0.0; len], vec![0.0; len], vec![0.0; len]);
        let at = |traj: usize, i: usize| data.y[traj * len + i];
        for i in 0..len {
            let observed = || (0..data.n_traj).map(|b| at(b, i)).filter(|v| !v.is_nan());
            let count = observed().count();
            if count < 2 {
                continue;
            }
            let mu = observed().sum::<f64>() / count as f64;
            mean[i] = mu;
            var[i] = observed().map(|v| (v - mu) * (v - mu)).sum::<f64>() / (count - 1) as f64;
            mask[i] = 1.0;
        }
        DataStats { mean, var, mask }
    }

    /// Writes the rows `start .. start + layout.n_times` into the data
    /// statistics blocks of a loss input buffer.
    pub fn fill(&self, layout: &LossLayout, start: usize, input: &mut [f64]) {
        let m = layout.n_obs;
        let rows = start * m..(start + layout.n_times) * m;
        let len = rows.len();
        input[layout.data_mean()..layout.data_mean() + len].copy_from_slice(&self.mean[rows.clone()]);
        input[layout.data_var()..layout.data_var() + len].copy_from_slice(&self.var[rows.clone()]);
        input[layout.data_stat_mask()..layout.data_stat_mask() + len].copy_from_slice(&self.mask[rows]);
    }
}

/// `paths` sample paths of `field` from `y0`, saved at `times`: path `b`
/// on stream `b` of the tree seeded [`GENERATE_SEED`] (so path 0 is the
/// one path `generate` draws without `paths`), as rows `[paths][T][n]`.
pub fn generate_paths(
    field: &dyn SdeField,
    t0: f64,
    y0: &[f64],
    times: &[f64],
    opts: &SdeOptions,
    paths: usize,
) -> Result<Vec<f64>, SolveError> {
    let y0s = y0.repeat(paths);
    Ok(sde_solve_batch(field, t0, &y0s, times, opts, GENERATE_SEED, 0)?.y)
}

/// What an ensemble loss needs of the trainer's set-up (sema checks the
/// same; this guards a program edited after checking): an SDE model,
/// `batch = full`, `initial = model`.
pub fn check_setup(loss: &LossIr, model: &ModelIr, spec: &TrainSpec) -> Result<(), TrainFailure> {
    if !loss.layout.is_ensemble() {
        return Ok(());
    }
    let paths = loss.layout.paths;
    if !model.is_sde() {
        return Err(setup(format!(
            "loss `{}` solves {paths} paths of `{}`, which has no noise terms",
            loss.name, model.name
        )));
    }
    if spec.batch != BatchSpec::Full || spec.initial != InitialState::Model {
        return Err(setup(format!(
            "loss `{}` solves an ensemble of {paths} paths: it trains with `batch = full` and `initial = model`",
            loss.name
        )));
    }
    Ok(())
}

/// The one member an ensemble loss reads the data of: trajectory 0 from
/// its first time (sema allows `DATA.y` beside an ensemble only for data
/// with one trajectory).
const WHOLE: Member = Member { traj: 0, start: 0 };

impl Trainer {
    /// The loss inputs' statistics of an ensemble solve: `sol.nfe` and
    /// `sol.steps` are the means per path.
    fn ensemble_stats(sol: &BatchSolution) -> [f64; 6] {
        let per_path = |f: fn(&nde_runtime::Stats) -> f64| sol.stats.iter().map(f).sum::<f64>() / sol.batch as f64;
        [0.0, 0.0, 0.0, 0.0, per_path(|s| s.nfe as f64), per_path(|s| s.steps() as f64)]
    }

    fn sde_parts(&self) -> Result<(&SdeKernels, &SdeOptions, SdeAdjoint), TrainFailure> {
        match &self.dynamics {
            Dynamics::Sde { kernels, opts, adjoint } => Ok((kernels, opts, *adjoint)),
            _ => Err(setup(format!("an ensemble needs an SDE model; `{}` is not one", self.model.name))),
        }
    }

    /// Step `step` of an ensemble loss: its value, the gradient with respect
    /// to the parameters and the mean NFE per forward path (what
    /// `loss_gradient` returns for any other loss).
    pub(super) fn ensemble_loss_gradient(&self, step: u64) -> Result<(f64, Vec<f64>, f64), TrainFailure> {
        let (kernels, opts, adjoint) = self.sde_parts()?;
        let layout = self.full.layout;
        let (paths, n) = (layout.paths, self.model.n_state());
        let t = &self.data.t;
        let y0 = self.y0_of(WHOLE, t[0])?;
        let field = ModelSdeField::new(kernels, &self.params);
        let mut input = vec![0.0; layout.len()];
        let mut d_input = vec![0.0; layout.len()];
        let mut scratch = self.full.scratch();
        let mut direct = vec![0.0; self.params.len()];
        let mut loss = 0.0;
        let mut cotangent = |sol: &BatchSolution| {
            self.loss_input(&layout, WHOLE, &sol.y, &Self::ensemble_stats(sol), &mut input);
            loss = self.full.value(&input, &self.params, &mut scratch);
            self.full.gradient(&input, &self.params, 1.0, &mut d_input, &mut direct, &mut scratch);
            d_input[..sol.y.len()].to_vec()
        };
        let seed = brownian_seed(self.spec.seed, step, 0);
        let (sol, g) =
            sde_gradient_batch(&field, t[0], &y0.repeat(paths), t, opts, seed, adjoint, self.threads, &mut cotangent)
                .map_err(|error| TrainFailure::Solve { step, error })?;
        let mut grad = g.params;
        for (a, d) in grad.iter_mut().zip(&direct) {
            *a += d;
        }
        if let Some(init_vjp) = &self.init_vjp {
            // Every path starts at the same y0: its cotangent is the sum.
            let mut gy0 = vec![0.0; n];
            for row in g.y0.chunks_exact(n.max(1)) {
                for (a, d) in gy0.iter_mut().zip(row) {
                    *a += d;
                }
            }
            let out = ir::interp::eval(init_vjp, t[0], &gy0, &self.params)
                .map_err(|e| setup(format!("gradient of the initial state: {e}")))?;
            for (a, d) in grad.iter_mut().zip(&out[out.len() - self.params.len()..]) {
                *a += d;
            }
        }
        let nfe = Self::ensemble_stats(&sol)[4];
        Ok((loss, grad, nfe))
    }

    /// An ensemble loss's value at the current parameters on the paths of
    /// step 0 (so evaluations at the same parameters agree).
    pub(super) fn ensemble_evaluate(&self) -> Result<Evaluation, TrainFailure> {
        let (kernels, opts, _) = self.sde_parts()?;
        let layout = self.full.layout;
        let t = &self.data.t;
        let y0 = self.y0_of(WHOLE, t[0])?;
        let field = ModelSdeField::new(kernels, &self.params);
        let seed = brownian_seed(self.spec.seed, 0, 0);
        let sol = sde_solve_batch(&field, t[0], &y0.repeat(layout.paths), t, opts, seed, self.threads)
            .map_err(|error| TrainFailure::Solve { step: self.steps_done, error })?;
        let stats = Self::ensemble_stats(&sol);
        let mut input = vec![0.0; layout.len()];
        self.loss_input(&layout, WHOLE, &sol.y, &stats, &mut input);
        let loss = self.full.value(&input, &self.params, &mut self.full.scratch());
        Ok(Evaluation { loss, nfe: stats[4], steps: stats[5] })
    }
}

#[cfg(test)]
mod tests;
