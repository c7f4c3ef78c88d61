//! Which of a file's losses a library exports, with their kernels and data.
//!
//! A loss is exported when it is the family the library's runtime can
//! differentiate: one (non-ensemble) solve of the built model with an
//! explicit method, reading no solver regulariser (`sol.nfe` and
//! `sol.steps` are fine: constants for gradients). Everything else is
//! skipped with a reason `nde build` prints.
//!
//! The data are those `nde eval` evaluates the loss on: the trainer
//! ([`train::evaluator`]: the file's `train` block for the loss, if any,
//! on whole trajectories) makes them, and its own helpers fill each
//! trajectory's initial state and loss input buffer (`LossLayout`, with
//! `sol.y` left zero), so the library and the trainer share one mechanism.
//! The loss's value and VJP functions are the trainer's too
//! ([`train::loss_functions`]); when the solves start from a model initial
//! state that reads parameters, `init`'s VJP is exported as well and the
//! initial states are computed by the library from the handle's parameters.
//!
//! Never: write files or compile (the caller compiles the functions into
//! the library's object file).

use super::csrc::CLoss;
use super::BuildError;
use crate::codegen::JitOptions;
use crate::codegen::ObjectKernel;
use crate::driver::prepare;
use crate::driver::train::{self, Member, TrainFailure, TrainOptions};
use crate::ir::training::{LossIr, LossStat};
use crate::ir::{self, ModelIr, ProgramIr};

/// A loss to export: its kernels and what the descriptor bundles.
pub(super) struct ExportedLoss {
    pub function: ir::Function,
    pub vjp: ir::Function,
    /// `init`'s VJP, when the initial states depend on the parameters.
    pub init_vjp: Option<ir::Function>,
    pub data: CLoss,
}

impl ExportedLoss {
    /// The functions to compile, with a name suffix each: the loss, its
    /// VJP, then `init`'s VJP if any (the order [`ExportedLoss::c_loss`] reads).
    pub fn functions(&self, index: usize) -> Vec<(String, &ir::Function)> {
        let mut fs = vec![(format!("loss{index}"), &self.function), (format!("loss{index}_vjp"), &self.vjp)];
        if let Some(f) = &self.init_vjp {
            fs.push((format!("loss{index}_init_vjp"), f));
        }
        fs
    }

    /// The descriptor entry with the object file's kernels, in the order of
    /// [`ExportedLoss::functions`].
    pub fn c_loss(&self, kernels: &[ObjectKernel]) -> CLoss {
        CLoss {
            kernel: kernels[0].clone(),
            vjp: kernels[1].clone(),
            init_vjp: kernels.get(2).cloned(),
            ..self.data.clone()
        }
    }
}

/// The losses exported and those skipped (with why).
pub(super) struct LossPlan {
    pub exported: Vec<ExportedLoss>,
    pub skipped: Vec<(String, String)>,
}

/// The adjoint codes of the descriptor (`nde_embed::LossDesc::adjoint`).
const DISCRETE: u32 = 0;
const BACKSOLVE: u32 = 1;
const INTERPOLATED: u32 = 2;

/// Splits the losses of `model` into exported and skipped ones; fails when
/// an exportable loss's data cannot be made (what `nde eval` would report).
pub(super) fn plan(
    program: &ProgramIr,
    model: &ModelIr,
    params: &[f64],
    jit: &JitOptions,
) -> Result<LossPlan, BuildError> {
    let mut plan = LossPlan { exported: Vec::new(), skipped: Vec::new() };
    for loss in program.losses.iter().filter(|l| l.model == model.name) {
        if let Some(why) = unsupported(loss) {
            plan.skipped.push((loss.name.clone(), why));
            continue;
        }
        let fail = |message: String| BuildError::Loss { loss: loss.name.clone(), message };
        match export(program, loss, params, jit).map_err(|e| fail(e.to_string()))? {
            Ok(e) => plan.exported.push(e),
            Err(why) => plan.skipped.push((loss.name.clone(), why)),
        }
    }
    Ok(plan)
}

/// Why `loss` is outside the family a library exports, if it is.
fn unsupported(loss: &LossIr) -> Option<String> {
    if !super::is_c_identifier(&loss.name) {
        return Some(format!("its name `{}` is not a C identifier", loss.name));
    }
    if loss.layout.is_ensemble() {
        return Some("an ensemble loss (`paths = N`) is not exported".to_string());
    }
    let regulariser = loss.stats_used.iter().find(|s| !matches!(s, LossStat::Nfe | LossStat::Steps));
    if let Some(stat) = regulariser {
        return Some(format!(
            "it reads `sol.{}`, a solver regulariser the library does not compute (`sol.nfe` and `sol.steps` are fine)",
            stat.name()
        ));
    }
    let method = &loss.solver.method;
    if method.parse::<nde_runtime::Method>().is_err() {
        return Some(format!(
            "it solves with `{method}`; a library exports gradients through explicit solvers only \
             (tsit5, dopri5, ...), not through stiff or automatic ones"
        ));
    }
    None
}

/// The export of `loss` (`Ok(Err(why))`: skipped after all), or the
/// trainer's failure to set it up.
fn export(
    program: &ProgramIr,
    loss: &LossIr,
    params: &[f64],
    jit: &JitOptions,
) -> Result<Result<ExportedLoss, String>, TrainFailure> {
    let opts = TrainOptions { threads: 1, steps: None, jit: jit.clone() };
    let mut trainer = train::evaluator(program, &loss.name, &opts)?;
    trainer.set_params(params.to_vec());
    let (Some(adjoint), Some(solve)) = (trainer.explicit_adjoint(), trainer.solve_options().copied()) else {
        return Ok(Err("its solves are not explicit ODE solves".to_string()));
    };
    let (adjoint, checkpoints) = match adjoint {
        nde_runtime::adjoint::Adjoint::Discrete { checkpoints } => (DISCRETE, checkpoints.unwrap_or(0)),
        nde_runtime::adjoint::Adjoint::Backsolve => (BACKSOLVE, 0),
        nde_runtime::adjoint::Adjoint::Interpolated => (INTERPOLATED, 0),
    };
    let data = trainer.data();
    let (times, n_traj) = (data.t.clone(), data.n_traj);
    let t0 = times[0];
    let layout = loss.layout;
    let init_vjp = trainer.init_vjp().map(|f| prepare(f.clone()));
    let mut y0s = Vec::new();
    let mut inputs = vec![0.0; n_traj * layout.len()];
    for (traj, input) in inputs.chunks_mut(layout.len()).enumerate() {
        let m = Member { traj, start: 0 };
        if init_vjp.is_none() {
            y0s.extend(trainer.y0_of(m, t0)?);
        }
        trainer.loss_input(&layout, m, &[], &[0.0; 6], input);
    }
    let (function, vjp) = train::loss_functions(loss)?;
    let placeholder = ObjectKernel {
        symbol: String::new(),
        batch_symbol: String::new(),
        n_state: 0,
        n_param: 0,
        out_len: 0,
        scratch_len: 0,
        batch_scratch_len: 0,
    };
    let data = CLoss {
        name: loss.name.clone(),
        kernel: placeholder.clone(),
        vjp: placeholder,
        init_vjp: None,
        method: solve.method.name().to_string(),
        rtol: solve.rtol,
        atol: solve.atol,
        dt: solve.dt.unwrap_or(0.0),
        max_steps: solve.max_steps,
        adjoint,
        checkpoints,
        t0,
        n_traj,
        times,
        y0s,
        input_len: layout.len(),
        nfe_at: layout.stat(LossStat::Nfe),
        steps_at: layout.stat(LossStat::Steps),
        inputs,
    };
    Ok(Ok(ExportedLoss { function, vjp, init_vjp, data }))
}
