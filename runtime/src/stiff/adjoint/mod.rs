//! Gradients through stiff solves: continuous adjoints whose backward
//! problem is solved with a stiff method too.
//!
//! Owns the public API — [`StiffDiffField`] (a field with its Jacobian and
//! its vector–Jacobian products), [`gradient`], [`gradient_batch`],
//! [`backward_method`] — with its validation and the spreading of a batch
//! over threads; the results and the loss's side are the explicit adjoints'
//! types ([`Gradient`], [`BatchGradient`], [`Cotangent`],
//! [`BatchCotangent`], [`BatchTimes`]). The backward problems live in
//! `backward`. Never prints; every bad input or numerical failure is a
//! [`SolveError`], never a panic.
//!
//! | adjoint | forward keeps | backward solves (reversed time `s = −t`) | with |
//! |---|---|---|---|
//! | [`Adjoint::Interpolated`] | every accepted step's dense output ([`super::dense`]) | `a' = J(t, y(t))ᵀ a`, `y(t)` from the tape | the forward method |
//! | [`Adjoint::Backsolve`] | nothing | `[y, a]' = [−f, Jᵀ a]` | `kvaerno5`, `radau5` or `bdf` (see below) |
//!
//! In both, the parameter gradient `g = ∫ aᵀ ∂f/∂p dt` is a quadrature
//! alongside the backward solve: three-point Gauss–Legendre on every
//! accepted backward step, split at the forward steps' ends (interpolated)
//! so the integrand is one smooth polynomial piece each time, reading `a`
//! (and, for backsolve, `y`) from the backward method's own dense output.
//! `g` is not part of the stiff solve: its Jacobian block `(∂f/∂p)ᵀ` would
//! make the iteration matrix `(n + p)²`, and a Rosenbrock method needs that
//! block exactly. At every save time `t_i` (last to first) `a` jumps by
//! `∂L/∂y(t_i)`, and each interval between save times is its own backward
//! solve (started with the first-step heuristic, or `opts.dt`).
//!
//! - **Interpolated**: the backward field is linear in `a` and its Jacobian
//!   is exactly `J(t, y(t))ᵀ`, so Rosenbrock (`rodas5`) stays exact;
//!   `∂/∂s` of the field (Rosenbrock only) is a central difference of two
//!   VJPs on the forward step's own polynomial (relative step `ε^(1/3)` of
//!   that step; not counted in the statistics).
//! - **Backsolve**: `y` is re-integrated backwards and reset to the forward
//!   solution's saved value at every save time (O(1) memory). The Newton
//!   iterations of `kvaerno5`, `radau5` and `bdf` use the block Jacobian
//!   `diag(−J, Jᵀ)`, dropping the second-derivative coupling `∂(Jᵀa)/∂y`
//!   (simplified Newton converges to the same stage values). `rodas5`
//!   needs the exact Jacobian, which would take second derivatives: a
//!   backsolve of a `rodas5` forward solve runs its backward problem with
//!   `kvaerno5` ([`backward_method`]). On stiff dissipative problems the
//!   re-integrated `y` is unstable backwards between save times: prefer
//!   `Interpolated`, and compare [`Gradient::reconstructed_y0`] with `y0`.
//!
//! [`Adjoint::Discrete`] (through the Newton iterations and Rosenbrock
//! stages) is not supported, nor are the solver-heuristic regularisers
//! (their weights must be 0): both are [`SolveError::InvalidOptions`].
//! The backward solve uses the forward solve's tolerances, step limits and
//! controller.

mod backward;
#[cfg(test)]
mod tests;

use rayon::prelude::*;

use super::dense::DenseTape;
use super::field::JacField;
use super::work::Problem;
use super::{integrate_observed, validate, StiffMethod, StiffOptions};
use crate::adjoint::{Adjoint, BatchCotangent, BatchGradient, BatchTimes, Cotangent, Gradient};
use crate::error::SolveError;
use crate::solution::{BatchSolution, Solution, Stats};
use crate::term::DiffField;

/// A stiff field that gradients can go through: its Jacobian `∂f/∂y` (and
/// `∂f/∂t`) for the stiff method, its vector–Jacobian products for the
/// adjoint. Every type with both traits has it (a compiled model's field
/// does).
pub trait StiffDiffField: JacField + DiffField {}

impl<T: JacField + DiffField + ?Sized> StiffDiffField for T {}

/// The method a backward problem is solved with, for a forward solve with
/// `forward`: the same one, except a backsolve after `rodas5`, which runs
/// `kvaerno5` (see the module docs).
pub fn backward_method(forward: StiffMethod, adjoint: Adjoint) -> StiffMethod {
    match (forward, adjoint) {
        (StiffMethod::Rodas5, Adjoint::Backsolve) => StiffMethod::Kvaerno5,
        (m, _) => m,
    }
}

fn invalid(what: String) -> SolveError {
    SolveError::InvalidOptions { what }
}

/// Solves `y' = f(t, y; p)` as [`super::solve_stiff`] does (the same steps
/// and saved values) and differentiates a loss of the saved states with the
/// continuous adjoint `adjoint`.
///
/// `cotangent` is called once with the forward solution and returns
/// `dL/dy(saveat_i)` as rows `[saveat.len()][n_state]` (its regulariser
/// weights must be 0). Returns the solution and the gradient with respect
/// to `y0` and the field's parameters.
///
/// Errors: everything [`super::solve_stiff`] reports; the discrete adjoint,
/// a cotangent of the wrong length or with a nonzero regulariser weight
/// ([`SolveError::InvalidOptions`]); a non-finite cotangent or adjoint
/// ([`SolveError::NonFiniteAdjoint`], with the time); failures of the
/// backward solve (reported at forward times).
pub fn gradient(
    f: &dyn StiffDiffField,
    t0: f64,
    y0: &[f64],
    saveat: &[f64],
    opts: &StiffOptions,
    adjoint: Adjoint,
    cotangent: &mut dyn FnMut(&Solution) -> Cotangent,
) -> Result<(Solution, Gradient), SolveError> {
    let setup = Setup::new(f, opts, adjoint)?;
    let n = setup.n;
    let mut y = vec![0.0; saveat.len() * n];
    let fwd = setup.forward(t0, y0, saveat, &mut y)?;
    let sol = Solution { t: saveat.to_vec(), y, n_state: n, stats: fwd.stats };
    let cot = cotangent(&sol);
    setup.check_cotangent(&cot.y, 1, saveat.len())?;
    check_weights(&[cot.local_error, cot.stiffness, cot.sampled_local_error, cot.sampled_stiffness])?;
    setup.check_finite(&cot.y, saveat)?;
    let mut dy0 = vec![0.0; n];
    let back = setup.backward(t0, saveat, &fwd, &sol.y, &cot.y, &mut dy0)?;
    Ok((sol, back.into_gradient(dy0, fwd.stats)))
}

/// [`gradient`] for a batch of initial states `y0s` (back to back) sharing
/// the parameters, over shared times or each trajectory's own
/// ([`BatchTimes`]; each trajectory is exactly [`gradient`] with its own
/// `t0` and save times). `cotangent` is called once with the whole batch
/// solution and returns [`BatchCotangent`] (`y` as rows
/// `[batch][n_save][n_state]`). Trajectories run in parallel on `threads`
/// threads (0 = rayon's global pool, 1 = the calling thread); the parameter
/// gradient is their sum in trajectory order, so the result is the same bit
/// for bit on any number of threads. A failing trajectory is reported as
/// [`SolveError::InBatch`] (the first one).
#[allow(clippy::too_many_arguments)]
pub fn gradient_batch(
    f: &dyn StiffDiffField,
    times: BatchTimes<'_>,
    y0s: &[f64],
    opts: &StiffOptions,
    adjoint: Adjoint,
    threads: usize,
    cotangent: &mut dyn FnMut(&BatchSolution) -> BatchCotangent,
) -> Result<(BatchSolution, BatchGradient), SolveError> {
    let setup = Setup::new(f, opts, adjoint)?;
    let n = setup.n;
    if !y0s.len().is_multiple_of(n) {
        return Err(invalid(format!(
            "the initial states hold {} values, not a multiple of the state length {n}",
            y0s.len()
        )));
    }
    let batch = y0s.len() / n;
    let m = batch_save_count(times, batch)?;
    let rows = m * n;
    let times_of = |b: usize| -> (f64, &[f64]) {
        match times {
            BatchTimes::Shared { t0, saveat } => (t0, saveat),
            BatchTimes::PerTrajectory { t0, saveat } => (t0[b], &saveat[b * m..(b + 1) * m]),
        }
    };
    let run = |b: usize| {
        let (t0, saveat) = times_of(b);
        let mut y = vec![0.0; rows];
        let fwd = setup.forward(t0, &y0s[b * n..(b + 1) * n], saveat, &mut y).map_err(in_batch(b))?;
        Ok((fwd, y))
    };
    let forwards: Vec<(Forward, Vec<f64>)> = map_ordered(threads, batch, run)?;
    let stats: Vec<Stats> = forwards.iter().map(|(f, _)| f.stats).collect();
    let (t, t_each) = match times {
        BatchTimes::Shared { saveat, .. } => (saveat.to_vec(), Vec::new()),
        BatchTimes::PerTrajectory { saveat, .. } => (Vec::new(), saveat.to_vec()),
    };
    let y: Vec<f64> = forwards.iter().flat_map(|(_, y)| y.iter().copied()).collect();
    let sol = BatchSolution { t, t_each, y, batch, n_state: n, stats };

    let cot = cotangent(&sol);
    setup.check_cotangent(&cot.y, batch, m)?;
    for (b, (_, rows_b)) in forwards.iter().enumerate() {
        let at = |v: &[f64]| v.get(b).copied().unwrap_or(0.0);
        let w = [at(&cot.local_error), at(&cot.stiffness), at(&cot.sampled_local_error), at(&cot.sampled_stiffness)];
        check_weights(&w).map_err(in_batch(b))?;
        setup.check_finite(&cot.y[b * rows..(b + 1) * rows], times_of(b).1).map_err(in_batch(b))?;
        debug_assert_eq!(rows_b.len(), rows);
    }
    let back = |b: usize| {
        let (t0, saveat) = times_of(b);
        let (fwd, y) = &forwards[b];
        let mut dy0 = vec![0.0; n];
        let out =
            setup.backward(t0, saveat, fwd, y, &cot.y[b * rows..(b + 1) * rows], &mut dy0).map_err(in_batch(b))?;
        Ok((out, dy0))
    };
    let backs: Vec<(Backward, Vec<f64>)> = map_ordered(threads, batch, back)?;
    let mut grad = BatchGradient {
        y0: Vec::with_capacity(batch * n),
        params: vec![0.0; setup.p],
        backward: Vec::with_capacity(batch),
        recomputed: Vec::with_capacity(batch),
        regulariser_nfe: vec![0; batch],
        regulariser_vjps: vec![0; batch],
        peak_states: 0,
    };
    for (out, dy0) in backs {
        for (g, v) in grad.params.iter_mut().zip(&out.gp) {
            *g += v;
        }
        grad.y0.extend_from_slice(&dy0);
        grad.backward.push(out.stats);
        grad.recomputed.push(out.recomputed);
        grad.peak_states = grad.peak_states.max(out.peak_states);
    }
    Ok((sol, grad))
}

/// Validates a batch's times for `batch` trajectories; returns the number
/// of save times each.
fn batch_save_count(times: BatchTimes<'_>, batch: usize) -> Result<usize, SolveError> {
    match times {
        BatchTimes::Shared { saveat, .. } => Ok(saveat.len()),
        BatchTimes::PerTrajectory { t0, saveat } => {
            if t0.len() != batch {
                return Err(invalid(format!(
                    "{} start times were given for {batch} trajectories (one per trajectory)",
                    t0.len()
                )));
            }
            if batch == 0 {
                return Ok(0);
            }
            if saveat.is_empty() || !saveat.len().is_multiple_of(batch) {
                return Err(SolveError::InvalidTimes {
                    what: format!(
                        "{} save times cannot be split into {batch} trajectories with the same number each \
                         (at least one)",
                        saveat.len()
                    ),
                });
            }
            Ok(saveat.len() / batch)
        }
    }
}

/// Wraps trajectory `index`'s error.
fn in_batch(index: usize) -> impl Fn(SolveError) -> SolveError {
    move |error| SolveError::InBatch { index, error: Box::new(error) }
}

/// `run(b)` for `b < batch` on `threads` threads, results in order; the
/// first error (by index) wins.
fn map_ordered<R: Send>(
    threads: usize,
    batch: usize,
    run: impl Fn(usize) -> Result<R, SolveError> + Sync + Send,
) -> Result<Vec<R>, SolveError> {
    if threads == 1 || batch <= 1 {
        return (0..batch).map(run).collect();
    }
    let par = || (0..batch).into_par_iter().map(&run).collect::<Vec<_>>().into_iter().collect();
    if threads == 0 || threads == rayon::current_num_threads() {
        return par();
    }
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(par),
        // No pool could be built: the calling thread does it all.
        Err(_) => (0..batch).map(run).collect(),
    }
}

/// Checks the regulariser weights of one trajectory (all must be 0).
fn check_weights(w: &[f64; 4]) -> Result<(), SolveError> {
    if w.iter().any(|v| *v != 0.0) {
        return Err(invalid(
            "the solver-heuristic regularisers (local_error, stiffness and their sampled variants) measure an \
             explicit solver's steps; a loss through a stiff solve cannot weight them"
                .into(),
        ));
    }
    Ok(())
}

/// What every trajectory of one gradient call shares (validated).
struct Setup<'a> {
    f: &'a dyn StiffDiffField,
    opts: &'a StiffOptions,
    /// The backward problem's options: `opts` with [`backward_method`].
    back: StiffOptions,
    adjoint: Adjoint,
    n: usize,
    p: usize,
}

/// One trajectory's forward pass.
struct Forward {
    stats: Stats,
    /// The dense output (interpolated adjoint).
    tape: Option<DenseTape>,
}

/// One trajectory's backward results besides `dL/dy0`.
struct Backward {
    gp: Vec<f64>,
    stats: Stats,
    recomputed: u64,
    peak_states: usize,
    reconstructed_y0: Vec<f64>,
}

impl Backward {
    fn into_gradient(self, dy0: Vec<f64>, forward: Stats) -> Gradient {
        Gradient {
            y0: dy0,
            params: self.gp,
            forward,
            backward: self.stats,
            recomputed: self.recomputed,
            regulariser_nfe: 0,
            regulariser_vjps: 0,
            peak_states: self.peak_states,
            reconstructed_y0: Some(self.reconstructed_y0),
        }
    }
}

impl<'a> Setup<'a> {
    fn new(f: &'a dyn StiffDiffField, opts: &'a StiffOptions, adjoint: Adjoint) -> Result<Setup<'a>, SolveError> {
        if let Adjoint::Discrete { .. } = adjoint {
            return Err(invalid(
                "the discrete adjoint differentiates an explicit solver's stages; through a stiff solver's Newton \
                 iterations and Rosenbrock stages it is not supported: use Adjoint::Interpolated or \
                 Adjoint::Backsolve"
                    .into(),
            ));
        }
        let back = StiffOptions { method: backward_method(opts.method, adjoint), ..*opts };
        Ok(Setup { f, opts, back, adjoint, n: f.dim(), p: f.n_params() })
    }

    /// The forward solve from `y0` into `out` (one row per save time).
    fn forward(&self, t0: f64, y0: &[f64], saveat: &[f64], out: &mut [f64]) -> Result<Forward, SolveError> {
        let n = self.n;
        validate(n, y0, t0, saveat, self.opts)?;
        if let Some(p) = self.f.jacobian_pattern() {
            p.validate(n).map_err(|e| invalid(e.to_string()))?;
        }
        let problem = Problem { f: self.f as &dyn JacField, t0, y0, saveat };
        match self.adjoint {
            Adjoint::Interpolated => {
                let mut tape = DenseTape::new(self.opts.method, n, t0);
                let stats = integrate_observed(&problem, self.opts, out, &mut tape)?;
                Ok(Forward { stats, tape: Some(tape) })
            }
            _ => Ok(Forward { stats: integrate_observed(&problem, self.opts, out, &mut ())?, tape: None }),
        }
    }

    /// Pulls the cotangent rows `cot` back through one trajectory (forward
    /// saved rows `rows`), writing `dL/dy0` into `dy0`.
    fn backward(
        &self,
        t0: f64,
        saveat: &[f64],
        fwd: &Forward,
        rows: &[f64],
        cot: &[f64],
        dy0: &mut [f64],
    ) -> Result<Backward, SolveError> {
        let source = match &fwd.tape {
            Some(tape) => backward::Source::Interpolated { tape },
            None => backward::Source::Backsolve { rows },
        };
        let out = backward::run(self.f, &self.back, t0, saveat, source, cot)?;
        dy0.copy_from_slice(&out.a);
        Ok(Backward {
            gp: out.g,
            stats: out.stats,
            recomputed: out.recomputed,
            peak_states: fwd.tape.as_ref().map_or(0, |t| t.stored_states()),
            reconstructed_y0: out.y0,
        })
    }

    fn check_cotangent(&self, cot: &[f64], batch: usize, n_save: usize) -> Result<(), SolveError> {
        crate::adjoint::check_cotangent_len(self.n, cot, batch, n_save)
    }

    fn check_finite(&self, cot: &[f64], saveat: &[f64]) -> Result<(), SolveError> {
        crate::adjoint::check_cotangent_finite(self.n, cot, saveat)
    }
}
