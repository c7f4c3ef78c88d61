//! The continuous adjoints: the adjoint ODE integrated backwards in time
//! with the forward solve's method and tolerances (ALGORITHMS.md §8.1).
//!
//! Owns the two augmented vector fields, the forward recorder of the
//! interpolated adjoint ([`DenseTape`]) and the backward loop over the
//! intervals between save times. Never allocates per step: the backward
//! solves reuse one workspace.
//!
//! # Backward system
//! With `a = ∂L/∂y` and `g` the parameter gradient, integrated from the
//! last save time down to `t0` in the reversed time `s = -t` (the solvers
//! only step forwards), so that `a` and `g` grow as in the forward solve:
//! ```text
//! d/ds [y, a, g] = [-f(t, y),  aᵀ ∂f/∂y,  aᵀ ∂f/∂p]      (t = -s)
//! ```
//! - **Backsolve** integrates all three, re-integrating `y` backwards (one
//!   evaluation and one VJP per right-hand side, fused by
//!   [`DiffField::eval_vjp`]). As diffrax's `BacksolveAdjoint`, `y` is reset
//!   to the forward solution's saved value at every save time, so drift
//!   accumulates only between save times — but over long intervals of a
//!   dissipative problem it grows exponentially (the backward problem is
//!   unstable); the reconstructed `y(t0)` is reported so callers can see it.
//! - **Interpolated** integrates only `[a, g]` and takes `y(t)` from the
//!   forward solve's dense output (every accepted step's start state and
//!   derivative slots are stored: `(slots + 1) · n` values per step).
//!
//! At each save time `t_i` (last to first) `a` jumps by `∂L/∂y(t_i)`; each
//! interval between save times is a separate backward solve, like
//! diffrax's backsolve loop: the first starts with `dt` or the initial-step
//! heuristic, each later one with the step the controller proposed at the
//! end of the one before (the PID error history restarts). The error norm covers every component of the augmented
//! state. Failures are reported at forward times `t`; a non-finite
//! augmented state becomes [`SolveError::NonFiniteAdjoint`].

use std::marker::PhantomData;

use super::{Setup, Times};
use crate::error::SolveError;
use crate::solution::Stats;
use crate::solve::SolveOptions;
use crate::solver::{self, lincomb, Problem, Scheme, StepObserver, Workspace};
use crate::term::{DiffField, VectorField};

/// The forward solve's dense output: every accepted step's times, start
/// state and derivative slots.
pub(super) struct DenseTape {
    /// `t_0 … t_N`.
    times: Vec<f64>,
    /// Per step: `y_n` then the `slots` derivative vectors.
    data: Vec<f64>,
    n: usize,
    slots: usize,
}

impl DenseTape {
    pub fn new(n: usize, slots: usize, t0: f64) -> DenseTape {
        let mut times = Vec::with_capacity(64);
        times.push(t0);
        DenseTape { times, data: Vec::with_capacity(64 * (slots + 1) * n), n, slots }
    }

    /// State vectors stored.
    pub fn stored_states(&self) -> usize {
        self.data.len() / self.n.max(1)
    }

    /// Accepted steps recorded.
    pub fn steps(&self) -> usize {
        self.times.len() - 1
    }

    /// The start time and state of step `i < steps()`.
    pub fn step_start(&self, i: usize) -> (f64, &[f64]) {
        let at = i * (self.slots + 1) * self.n;
        (self.times[i], &self.data[at..at + self.n])
    }

    /// The dense output at `t` (within the solved interval) into `out`,
    /// using `w` (`slots` long) for the weights. Does nothing if no step was
    /// taken.
    fn dense<S: Scheme>(&self, t: f64, out: &mut [f64], w: &mut [f64]) {
        let steps = self.times.len() - 1;
        if steps == 0 {
            return;
        }
        let i = self.times.partition_point(|&x| x < t).saturating_sub(1).min(steps - 1);
        let (t0, t1) = (self.times[i], self.times[i + 1]);
        let h = t1 - t0;
        let rec = &self.data[i * (self.slots + 1) * self.n..(i + 1) * (self.slots + 1) * self.n];
        let (y, k) = rec.split_at(self.n);
        S::dense_weights((t - t0) / h, w);
        lincomb(out, y, h, w, k);
    }
}

impl StepObserver for DenseTape {
    fn accepted(&mut self, _t0: f64, t1: f64, ws: &Workspace) {
        self.times.push(t1);
        self.data.extend_from_slice(&ws.y);
        self.data.extend_from_slice(&ws.k);
    }
}

/// `[y, a, g]` backwards, `y` re-integrated.
struct BacksolveField<'a> {
    f: &'a dyn DiffField,
    n: usize,
    p: usize,
}

impl VectorField for BacksolveField<'_> {
    fn dim(&self) -> usize {
        2 * self.n + self.p
    }
    fn scratch_len(&self) -> usize {
        self.f.scratch_len().max(self.f.vjp_scratch_len())
    }
    fn eval(&self, s: f64, z: &[f64], dz: &mut [f64], scratch: &mut [f64]) {
        let n = self.n;
        let (y, a) = (&z[..n], &z[n..2 * n]);
        let (dy, rest) = dz.split_at_mut(n);
        let (da, dg) = rest.split_at_mut(n);
        self.f.eval_vjp(-s, y, a, dy, da, dg, scratch);
        for v in dy.iter_mut() {
            *v = -*v;
        }
    }
}

/// `[a, g]` backwards, `y` from the forward dense output.
struct InterpolatedField<'a, S> {
    f: &'a dyn DiffField,
    tape: &'a DenseTape,
    n: usize,
    p: usize,
    _scheme: PhantomData<fn() -> S>,
}

impl<S: Scheme> VectorField for InterpolatedField<'_, S> {
    fn dim(&self) -> usize {
        self.n + self.p
    }
    fn scratch_len(&self) -> usize {
        self.n + self.tape.slots + self.f.vjp_scratch_len()
    }
    fn eval(&self, s: f64, z: &[f64], dz: &mut [f64], scratch: &mut [f64]) {
        let n = self.n;
        let t = -s;
        let (y, rest) = scratch.split_at_mut(n);
        let (w, fscratch) = rest.split_at_mut(self.tape.slots);
        self.tape.dense::<S>(t, y, w);
        let (da, dg) = dz.split_at_mut(n);
        self.f.vjp(t, y, &z[..n], da, dg, fscratch);
    }
}

/// Buffers of the backward solves, made once per gradient call (per
/// worker in a batch).
pub(super) struct Work {
    ws: Workspace,
    z: Vec<f64>,
    z_out: Vec<f64>,
}

impl Work {
    /// Buffers for `backsolve` (else interpolated) on `f` with method `S`.
    pub fn new<S: Scheme>(f: &dyn DiffField, backsolve: bool) -> Work {
        let (n, p) = (f.dim(), f.n_params());
        let (dim, scratch) = if backsolve {
            (2 * n + p, f.scratch_len().max(f.vjp_scratch_len()))
        } else {
            (n + p, n + S::SLOTS + f.vjp_scratch_len())
        };
        Work { ws: Workspace::new(dim, S::SLOTS, scratch), z: vec![0.0; dim], z_out: vec![0.0; dim] }
    }
}

/// What a continuous backward pass reports.
pub(super) struct Backward {
    pub stats: Stats,
    /// `y(t0)` as the backward pass saw it.
    pub y0: Vec<f64>,
}

/// Which continuous adjoint, with what it needs from the forward pass.
pub(super) enum Source<'a> {
    /// The forward solution's saved rows.
    Backsolve {
        rows: &'a [f64],
    },
    Interpolated {
        tape: &'a DenseTape,
    },
}

/// Integrates the adjoint backwards over every interval between save
/// times. On return `dy0` holds `dL/dy0` and `gp` holds `dL/dp`.
pub(super) fn backward<S: Scheme>(
    setup: &Setup<'_>,
    times: Times<'_>,
    work: &mut Work,
    source: Source<'_>,
    cot: &[f64],
    dy0: &mut [f64],
    gp: &mut [f64],
) -> Result<Backward, SolveError> {
    let (n, p) = (setup.n, setup.p);
    let backsolve_field;
    let interpolated_field;
    let (field, a_at): (&dyn VectorField, usize) = match source {
        Source::Backsolve { .. } => {
            backsolve_field = BacksolveField { f: setup.f, n, p };
            (&backsolve_field, n)
        }
        Source::Interpolated { tape } => {
            interpolated_field = InterpolatedField::<S> { f: setup.f, tape, n, p, _scheme: PhantomData };
            (&interpolated_field, 0)
        }
    };
    let saveat = times.saveat;
    let mut stats = Stats::default();
    let mut next = NextStep(None);
    work.z.fill(0.0);
    for i in (0..saveat.len()).rev() {
        if let Source::Backsolve { rows } = source {
            work.z[..n].copy_from_slice(&rows[i * n..(i + 1) * n]);
        }
        for (a, c) in work.z[a_at..a_at + n].iter_mut().zip(&cot[i * n..(i + 1) * n]) {
            *a += c;
        }
        let t_hi = saveat[i];
        let t_lo = if i > 0 { saveat[i - 1] } else { times.t0 };
        if t_lo < t_hi {
            let s = integrate::<S>(setup, field, &mut work.ws, -t_hi, -t_lo, &work.z, &mut work.z_out, &mut next)?;
            std::mem::swap(&mut work.z, &mut work.z_out);
            stats.nfe += s.nfe;
            stats.accepted += s.accepted;
            stats.rejected += s.rejected;
        }
        if work.z.iter().any(|v| !v.is_finite()) {
            return Err(SolveError::NonFiniteAdjoint { t: t_lo });
        }
    }
    dy0.copy_from_slice(&work.z[a_at..a_at + n]);
    gp.copy_from_slice(&work.z[a_at + n..]);
    let y0 = match source {
        Source::Backsolve { .. } => work.z[..n].to_vec(),
        Source::Interpolated { tape } => {
            let mut y = vec![0.0; n];
            let mut w = vec![0.0; S::SLOTS];
            tape.dense::<S>(times.t0, &mut y, &mut w);
            y
        }
    };
    Ok(Backward { stats, y0 })
}

/// Keeps the step the controller proposed at the end of an interval.
struct NextStep(Option<f64>);

impl StepObserver for NextStep {
    fn accepted(&mut self, _t0: f64, _t1: f64, _ws: &Workspace) {}
    fn finished(&mut self, next_h: f64) {
        self.0 = Some(next_h);
    }
}

/// One backward interval: `field` from `s0` to `s1 > s0`, `z` to `z_out`.
/// An adaptive solve starts with the step `next` proposed at the end of
/// the previous interval (if any) and leaves its own proposal there.
#[allow(clippy::too_many_arguments)]
fn integrate<S: Scheme>(
    setup: &Setup<'_>,
    field: &dyn VectorField,
    ws: &mut Workspace,
    s0: f64,
    s1: f64,
    z: &[f64],
    z_out: &mut [f64],
    next: &mut NextStep,
) -> Result<Stats, SolveError> {
    let saveat = [s1];
    let problem = Problem { f: field, t0: s0, y0: z, saveat: &saveat };
    let opts = setup.opts;
    let carried = SolveOptions { dt: next.0.or(opts.dt), ..*opts };
    let result = match (setup.fixed, opts.dt) {
        (true, Some(dt)) => solver::integrate_fixed::<S>(&problem, dt, opts, ws, z_out),
        (false, _) => solver::integrate_adaptive_observed::<S, _>(&problem, &carried, ws, z_out, next),
        // Validation requires dt for fixed-step solves.
        (true, None) => Err(SolveError::InvalidOptions {
            what: format!("{} at fixed step needs a step size dt", opts.method.name()),
        }),
    };
    result.map_err(|e| match e {
        SolveError::StepSizeTooSmall { t, h } => SolveError::StepSizeTooSmall { t: -t, h },
        SolveError::NonFinite { t } => SolveError::NonFiniteAdjoint { t: -t },
        SolveError::MaxStepsReached { t, max_steps } => SolveError::MaxStepsReached { t: -t, max_steps },
        other => other,
    })
}
