//! Training CDE models: a loss that solves a controlled model (`input X =
//! hermite(data)`, `dz = F @ dX`), typically a neural CDE classifier.
//!
//! Owns the setup of such a loss ([`dynamics`]: the model's kernels, the
//! solver, the adjoint and one control path per trajectory of the data set
//! the loss saves at — so a test set is solved along its own series with the
//! same model), a training step's gradient and the evaluation on the whole
//! data. Member `b` of a step is trajectory `b`'s whole series, solved from
//! the model's initial state at the start of its path (which may read
//! `X(t0)`) knot to knot by [`cde::gradient_cde`] with any of its adjoints
//! (`discrete`, `backsolve`, `interpolated`); the initial state's own
//! parameter gradient comes from `init`'s VJP at `[X(t0); dL/dy0]`.
//! Members are solved in parallel and added in member order, so a step's
//! result does not depend on the thread count.
//!
//! Never: check the declarations (sema has: whole trajectories, `initial =
//! model`, no solver heuristics; the checks here only guard the trainer
//! against edited programs) or print.

use rayon::prelude::*;

use nde_runtime::adjoint::Adjoint;
use nde_runtime::data::Series;
use nde_runtime::path::ControlPath;
use nde_runtime::{Solution, SolveOptions};

use super::{
    adjoint_of, is_sde_method, setup, solve_options, Dynamics, Evaluation, Member, TrainFailure, TrainOptions, Trainer,
};
use crate::driver::{cde, compile_model, ModelKernels};
use crate::ir::training::{BatchSpec, InitialState, LossIr, LossLayout, LossStat, TrainSpec};
use crate::ir::{self, ModelIr};

/// The [`Dynamics::Cde`] of a loss that solves the controlled `model` at
/// `data` (already materialised): its paths, kernels, solver and adjoint.
pub(super) fn dynamics(
    model: &ModelIr,
    losses: [&LossIr; 2],
    data: &Series,
    spec: &TrainSpec,
    opts: &TrainOptions,
) -> Result<Dynamics, TrainFailure> {
    let loss = losses[0];
    if is_sde_method(&loss.solver.method) {
        return Err(setup(format!(
            "loss `{}`: model `{}` is a CDE, solved with an ODE solver, but `{}` is {}, an SDE solver",
            loss.name, model.name, loss.solver.name, loss.solver.method
        )));
    }
    if let BatchSpec::Windows { .. } = spec.batch {
        return Err(setup(format!(
            "model `{}` is a CDE: it trains on whole trajectories (`batch = full` or `trajectories(count)`)",
            model.name
        )));
    }
    if spec.initial == InitialState::Data {
        return Err(setup(format!(
            "model `{}` is a CDE: it starts from its own initial state (`initial = model`)",
            model.name
        )));
    }
    let stats = losses.iter().flat_map(|l| l.stats_used.iter());
    if let Some(stat) = stats.clone().find(|s| !matches!(s, LossStat::Nfe | LossStat::Steps)) {
        return Err(setup(format!(
            "loss `{}` reads `sol.{}`, a solver heuristic; a CDE solve has only `sol.nfe` and `sol.steps`",
            loss.name,
            stat.name()
        )));
    }
    let control = cde::control_of(model).map_err(|e| setup(e.to_string()))?;
    let paths = cde::control_paths(control, data)
        .map_err(|e| setup(format!("loss `{}` saves at `{}`: {e}", loss.name, loss.data)))?;
    let solve_opts = solve_options(&loss.solver).map_err(setup)?;
    let adjoint = adjoint_of(spec)?;
    let kernels = compile_model(model, &opts.jit)?;
    Ok(Dynamics::Cde { kernels, opts: solve_opts, adjoint, paths })
}

/// One member's share of a step: its weighted loss, the loss block's own
/// parameter gradient plus the gradient through the solve and the initial
/// state, and its NFE.
struct Share {
    loss: f64,
    grad: Vec<f64>,
    nfe: u64,
}

/// What [`Trainer::cde_step`] and [`Trainer::cde_evaluate`] share.
struct Setup<'a> {
    kernels: &'a ModelKernels,
    opts: &'a SolveOptions,
    adjoint: Adjoint,
    paths: &'a [ControlPath],
}

impl Trainer {
    fn cde_setup(&self) -> Setup<'_> {
        match &self.dynamics {
            Dynamics::Cde { kernels, opts, adjoint, paths } => Setup { kernels, opts, adjoint: *adjoint, paths },
            _ => unreachable!("called for CDE models only"),
        }
    }

    /// Runs `one` for every member, in parallel unless `threads == 1`, and
    /// returns the results in member order.
    fn each_member<T: Send>(
        &self,
        members: &[Member],
        one: impl Fn(usize, Member) -> Result<T, TrainFailure> + Sync,
    ) -> Result<Vec<T>, TrainFailure> {
        if self.threads == 1 || members.len() < 2 {
            members.iter().enumerate().map(|(b, &m)| one(b, m)).collect()
        } else {
            members.par_iter().enumerate().map(|(b, &m)| one(b, m)).collect()
        }
    }

    /// The initial state of trajectory `traj` (the model's `init` at the
    /// start of its path).
    fn cde_y0(&self, path: &ControlPath) -> Result<Vec<f64>, TrainFailure> {
        cde::initial_state(&self.model, &self.params, path)
            .map_err(|e| setup(format!("initial state of `{}`: {e}", self.model.name)))
    }

    /// The CDE part of `Trainer::loss_gradient`: the mean loss over
    /// `members` (whole trajectories), its parameter gradient and the mean
    /// NFE per forward solve.
    pub(super) fn cde_step(&self, step: u64, members: &[Member]) -> Result<(f64, Vec<f64>, f64), TrainFailure> {
        let s = self.cde_setup();
        let layout = self.window.layout;
        let n = self.model.n_state();
        let weight = 1.0 / members.len() as f64;
        let solve_error = |error| TrainFailure::Solve { step, error };
        let one = |_: usize, m: Member| -> Result<Share, TrainFailure> {
            let path =
                s.paths.get(m.traj).ok_or_else(|| setup(format!("no control path for trajectory {}", m.traj)))?;
            let y0 = self.cde_y0(path)?;
            let mut input = vec![0.0; layout.len()];
            let mut d_input = vec![0.0; layout.len()];
            let mut scratch = self.window.scratch();
            let mut grad = vec![0.0; self.params.len()];
            let mut loss = 0.0;
            let mut cotangent = |sol: &Solution| {
                self.cde_input(&layout, m, sol, &mut input);
                loss = weight * self.window.value(&input, &self.params, &mut scratch);
                self.window.gradient(&input, &self.params, weight, &mut d_input, &mut grad, &mut scratch);
                d_input[..layout.n_times * n].to_vec()
            };
            let t = &self.data.t;
            let (sol, g) = cde::gradient_cde(s.kernels, &self.params, path, &y0, t, s.opts, s.adjoint, &mut cotangent)
                .map_err(solve_error)?;
            for (a, d) in grad.iter_mut().zip(&g.params) {
                *a += d;
            }
            if let Some(init_vjp) = &self.init_vjp {
                let t0 = path.span().0;
                let mut buf = vec![0.0; path.channels()];
                path.evaluate(t0, &mut buf);
                buf.extend_from_slice(&g.y0);
                let out = ir::interp::eval(init_vjp, t0, &buf, &self.params)
                    .map_err(|e| setup(format!("gradient of the initial state: {e}")))?;
                for (a, d) in grad.iter_mut().zip(&out[out.len() - self.params.len()..]) {
                    *a += d;
                }
            }
            Ok(Share { loss, grad, nfe: sol.stats.nfe })
        };
        let shares = self.each_member(members, one)?;
        let (mut loss, mut nfe) = (0.0, 0.0);
        let mut grad = vec![0.0; self.params.len()];
        for share in shares {
            loss += share.loss;
            for (a, d) in grad.iter_mut().zip(&share.grad) {
                *a += d;
            }
            nfe += share.nfe as f64 / members.len() as f64;
        }
        Ok((loss, grad, nfe))
    }

    /// The loss input of member `m` from its CDE solution.
    fn cde_input(&self, layout: &LossLayout, m: Member, sol: &Solution, input: &mut [f64]) {
        let stats = [0.0, 0.0, 0.0, 0.0, sol.stats.nfe as f64, sol.stats.steps() as f64];
        self.loss_input(layout, m, &sol.y, &stats, input);
    }

    /// `Trainer::evaluate` for a CDE model: every trajectory solved along
    /// its path (in parallel), the loss block's mean over them.
    pub(super) fn cde_evaluate(&self) -> Result<Evaluation, TrainFailure> {
        let s = self.cde_setup();
        let layout = self.full.layout;
        let n_traj = self.data.n_traj;
        let members: Vec<Member> = (0..n_traj).map(|traj| Member { traj, start: 0 }).collect();
        let solve_error = |error| TrainFailure::Solve { step: self.steps_done, error };
        let one = |_: usize, m: Member| -> Result<(f64, f64, f64), TrainFailure> {
            let path =
                s.paths.get(m.traj).ok_or_else(|| setup(format!("no control path for trajectory {}", m.traj)))?;
            let y0 = self.cde_y0(path)?;
            let sol = cde::solve_cde(s.kernels, &self.params, path, &y0, &self.data.t, s.opts).map_err(solve_error)?;
            let mut input = vec![0.0; layout.len()];
            let mut scratch = self.full.scratch();
            self.cde_input(&layout, m, &sol, &mut input);
            let value = self.full.value(&input, &self.params, &mut scratch);
            Ok((value, sol.stats.nfe as f64, sol.stats.steps() as f64))
        };
        let rows = self.each_member(&members, one)?;
        let (mut loss, mut nfe, mut steps) = (0.0, 0.0, 0.0);
        for (value, f, k) in rows {
            loss += value / n_traj as f64;
            nfe += f / n_traj as f64;
            steps += k / n_traj as f64;
        }
        Ok(Evaluation { loss, nfe, steps })
    }
}
