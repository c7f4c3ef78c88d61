//! The backward problems of the stiff adjoints and their solve, interval
//! by interval between save times (see the parent module for the maths).
//!
//! Owns the two backward fields ([`InterpolatedField`]: `a` on the forward
//! dense output, exact Jacobian `Jᵀ`; [`BacksolveField`]: `[y, a]` with the
//! block Jacobian `diag(−J, Jᵀ)`), the parameter quadrature
//! ([`Quadrature`], a step observer of the backward solve) and [`run`].
//! Never allocates per step: every buffer is made once per backward pass.

use super::StiffDiffField;
use crate::error::SolveError;
use crate::solution::Stats;
use crate::stiff::dense::{DenseStep, DenseTape, StepObserver};
use crate::stiff::field::JacField;
use crate::stiff::work::Problem;
use crate::stiff::{integrate_observed, StiffOptions};
use crate::term::VectorField;

/// Relative step of the central differences in time: `ε^(1/3)`.
fn fd_step() -> f64 {
    f64::EPSILON.cbrt()
}

/// Three-point Gauss–Legendre on `[0, 1]`: nodes and weights.
const GAUSS: [(f64, f64); 3] =
    [(0.112_701_665_379_258_31, 5.0 / 18.0), (0.5, 8.0 / 18.0), (0.887_298_334_620_741_7, 5.0 / 18.0)];

/// `a` backwards in `s = −t`: `da/ds = J(t, y(t))ᵀ a`, `y` from the tape.
struct InterpolatedField<'a> {
    f: &'a dyn StiffDiffField,
    tape: &'a DenseTape,
    n: usize,
    p: usize,
}

impl VectorField for InterpolatedField<'_> {
    fn dim(&self) -> usize {
        self.n
    }
    fn scratch_len(&self) -> usize {
        self.n + self.p + self.f.vjp_scratch_len()
    }
    fn eval(&self, s: f64, a: &[f64], da: &mut [f64], scratch: &mut [f64]) {
        let t = -s;
        let (y, rest) = scratch.split_at_mut(self.n);
        let (gp, fs) = rest.split_at_mut(self.p);
        self.tape.eval(t, y);
        self.f.vjp(t, y, a, da, gp, fs);
    }
}

impl JacField for InterpolatedField<'_> {
    fn jac_scratch_len(&self) -> usize {
        let n = self.n;
        (n + n * n + self.f.jac_scratch_len()).max(2 * n + self.p + self.f.vjp_scratch_len())
    }

    /// Exactly `J(t, y(t))ᵀ`.
    fn jacobian(&self, s: f64, _a: &[f64], jac: &mut [f64], scratch: &mut [f64]) {
        let (t, n) = (-s, self.n);
        let (y, rest) = scratch.split_at_mut(n);
        let (j, js) = rest.split_at_mut(n * n);
        self.tape.eval(t, y);
        self.f.jacobian(t, y, j, js);
        for r in 0..n {
            for c in 0..n {
                jac[r * n + c] = j[c * n + r];
            }
        }
    }

    /// `∂/∂s (J(t, y(t))ᵀ a) = −d/dt (aᵀ J)`: a central difference of two
    /// VJPs on the forward step's own polynomial.
    fn time_derivative(&self, s: f64, a: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        let (t, n) = (-s, self.n);
        let i = self.tape.step_of(t);
        let (lo, hi) = self.tape.interval(i);
        let delta = fd_step() * (hi - lo);
        let (tp, tm) = (t + delta, t - delta);
        let (y, rest) = scratch.split_at_mut(n);
        let (tmp, rest) = rest.split_at_mut(n);
        let (gp, fs) = rest.split_at_mut(self.p);
        self.tape.eval_step(i, tp, y);
        self.f.vjp(tp, y, a, out, gp, fs);
        self.tape.eval_step(i, tm, y);
        self.f.vjp(tm, y, a, tmp, gp, fs);
        let width = tp - tm;
        for (o, m) in out.iter_mut().zip(tmp.iter()) {
            *o = -(*o - m) / width;
        }
    }
}

/// `[y, a]` backwards in `s = −t`: `d/ds [y, a] = [−f(t, y), J(t, y)ᵀ a]`.
struct BacksolveField<'a> {
    f: &'a dyn StiffDiffField,
    n: usize,
    p: usize,
}

impl VectorField for BacksolveField<'_> {
    fn dim(&self) -> usize {
        2 * self.n
    }
    fn scratch_len(&self) -> usize {
        self.p + self.f.scratch_len().max(self.f.vjp_scratch_len())
    }
    fn eval(&self, s: f64, z: &[f64], dz: &mut [f64], scratch: &mut [f64]) {
        let n = self.n;
        let (gp, fs) = scratch.split_at_mut(self.p);
        let (dy, da) = dz.split_at_mut(n);
        self.f.eval_vjp(-s, &z[..n], &z[n..], dy, da, gp, fs);
        for v in dy.iter_mut() {
            *v = -*v;
        }
    }
}

impl JacField for BacksolveField<'_> {
    fn jac_scratch_len(&self) -> usize {
        let n = self.n;
        (n * n + self.f.jac_scratch_len()).max(2 * n + self.scratch_len())
    }

    /// The block diagonal `diag(−J, Jᵀ)`: the coupling `∂(Jᵀa)/∂y` is left
    /// out (Newton iterations only; see the parent module).
    fn jacobian(&self, s: f64, z: &[f64], jac: &mut [f64], scratch: &mut [f64]) {
        let n = self.n;
        let m = 2 * n;
        let (j, js) = scratch.split_at_mut(n * n);
        self.f.jacobian(-s, &z[..n], j, js);
        jac.fill(0.0);
        for r in 0..n {
            for c in 0..n {
                jac[r * m + c] = -j[r * n + c];
                jac[(n + r) * m + n + c] = j[c * n + r];
            }
        }
    }

    /// A central difference of the field in `s` (the implicit methods that
    /// solve this field never ask for it).
    fn time_derivative(&self, s: f64, z: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        let delta = fd_step() * s.abs().max(1.0);
        let (sp, sm) = (s + delta, s - delta);
        let (tmp, rest) = scratch.split_at_mut(2 * self.n);
        self.eval(sp, z, out, rest);
        self.eval(sm, z, tmp, rest);
        let width = sp - sm;
        for (o, m) in out.iter_mut().zip(tmp.iter()) {
            *o = (*o - m) / width;
        }
    }
}

/// `g += ∫ aᵀ ∂f/∂p dt` over every accepted backward step.
struct Quadrature<'a> {
    f: &'a dyn StiffDiffField,
    /// The forward dense output (interpolated), else `y` is in the state.
    tape: Option<&'a DenseTape>,
    n: usize,
    g: Vec<f64>,
    piece: Vec<f64>,
    gp: Vec<f64>,
    gy: Vec<f64>,
    z: Vec<f64>,
    y: Vec<f64>,
    scratch: Vec<f64>,
    vjps: u64,
}

impl Quadrature<'_> {
    /// Gauss–Legendre on `[u0, u1]` (forward times) of the backward step
    /// from `s0` with length `h`; `piece` is the forward step holding it.
    fn piece(&mut self, step: &dyn DenseStep, s0: f64, h: f64, u0: f64, u1: f64, piece: Option<usize>) {
        let n = self.n;
        self.piece.fill(0.0);
        for (x, w) in GAUSS {
            let t = u0 + x * (u1 - u0);
            step.eval((-t - s0) / h, &mut self.z);
            let (y, a): (&[f64], &[f64]) = match (self.tape, piece) {
                (Some(tape), Some(i)) => {
                    tape.eval_step(i, t, &mut self.y);
                    (&self.y, &self.z[..n])
                }
                _ => (&self.z[..n], &self.z[n..2 * n]),
            };
            self.f.vjp(t, y, a, &mut self.gy, &mut self.gp, &mut self.scratch);
            self.vjps += 1;
            for (s, v) in self.piece.iter_mut().zip(&self.gp) {
                *s += w * v;
            }
        }
        let width = u1 - u0;
        for (g, s) in self.g.iter_mut().zip(&self.piece) {
            *g += width * s;
        }
    }
}

impl StepObserver for Quadrature<'_> {
    fn accepted(&mut self, s0: f64, s1: f64, step: &dyn DenseStep) {
        let h = s1 - s0;
        let (t_lo, t_hi) = (-s1, -s0);
        let Some(tape) = self.tape else {
            self.piece(step, s0, h, t_lo, t_hi, None);
            return;
        };
        // Split at the forward steps' ends inside (t_lo, t_hi), from the
        // top down (the order the backward solve goes).
        let mut hi = t_hi;
        let mut i = tape.step_of(t_hi);
        loop {
            let start = tape.interval(i).0;
            let lo = if start > t_lo && i > 0 { start } else { t_lo };
            if lo < hi {
                self.piece(step, s0, h, lo, hi, Some(i));
            }
            if lo <= t_lo || i == 0 {
                break;
            }
            hi = lo;
            i -= 1;
        }
    }
}

/// Which backward problem, with what it needs from the forward pass.
pub(super) enum Source<'a> {
    Interpolated {
        tape: &'a DenseTape,
    },
    /// The forward solution's saved rows.
    Backsolve {
        rows: &'a [f64],
    },
}

/// What a backward pass found.
pub(super) struct Outcome {
    /// `dL/dy0`.
    pub a: Vec<f64>,
    /// `dL/dp`.
    pub g: Vec<f64>,
    /// The backward solves' work; `nfe` counts every VJP (the field's and
    /// the quadrature's).
    pub stats: Stats,
    /// Evaluations of `f` re-integrating `y` (backsolve).
    pub recomputed: u64,
    /// `y(t0)` as the backward pass saw it.
    pub y0: Vec<f64>,
}

/// Integrates the adjoint backwards over every interval between save times
/// with `opts` (the backward method and the forward tolerances).
pub(super) fn run(
    f: &dyn StiffDiffField,
    opts: &StiffOptions,
    t0: f64,
    saveat: &[f64],
    source: Source<'_>,
    cot: &[f64],
) -> Result<Outcome, SolveError> {
    let (n, p) = (f.dim(), f.n_params());
    let interpolated;
    let backsolve;
    let (field, a_at, tape): (&dyn JacField, usize, Option<&DenseTape>) = match source {
        Source::Interpolated { tape } => {
            interpolated = InterpolatedField { f, tape, n, p };
            (&interpolated, 0, Some(tape))
        }
        Source::Backsolve { .. } => {
            backsolve = BacksolveField { f, n, p };
            (&backsolve, n, None)
        }
    };
    let dim = field.dim();
    let mut quad = Quadrature {
        f,
        tape,
        n,
        g: vec![0.0; p],
        piece: vec![0.0; p],
        gp: vec![0.0; p],
        gy: vec![0.0; n],
        z: vec![0.0; dim],
        y: vec![0.0; n],
        scratch: vec![0.0; f.vjp_scratch_len()],
        vjps: 0,
    };
    let mut z = vec![0.0; dim];
    let mut z_out = vec![0.0; dim];
    let mut stats = Stats::default();
    for i in (0..saveat.len()).rev() {
        if let Source::Backsolve { rows } = source {
            z[..n].copy_from_slice(&rows[i * n..(i + 1) * n]);
        }
        for (a, c) in z[a_at..a_at + n].iter_mut().zip(&cot[i * n..(i + 1) * n]) {
            *a += c;
        }
        let t_hi = saveat[i];
        let t_lo = if i > 0 { saveat[i - 1] } else { t0 };
        if t_lo < t_hi {
            let end = [-t_lo];
            let problem = Problem { f: field, t0: -t_hi, y0: &z, saveat: &end };
            let s = integrate_observed(&problem, opts, &mut z_out, &mut quad).map_err(forward_time)?;
            std::mem::swap(&mut z, &mut z_out);
            add(&mut stats, &s);
        }
        if z.iter().chain(&quad.g).any(|v| !v.is_finite()) {
            return Err(SolveError::NonFiniteAdjoint { t: t_lo });
        }
    }
    let recomputed = if tape.is_none() { stats.nfe } else { 0 };
    stats.nfe += quad.vjps;
    let y0 = match tape {
        Some(tape) => {
            let mut y = vec![0.0; n];
            tape.eval(t0, &mut y);
            y
        }
        None => z[..n].to_vec(),
    };
    Ok(Outcome { a: z[a_at..a_at + n].to_vec(), g: quad.g, stats, recomputed, y0 })
}

fn add(total: &mut Stats, s: &Stats) {
    total.nfe += s.nfe;
    total.accepted += s.accepted;
    total.rejected += s.rejected;
    total.njev += s.njev;
    total.nlu += s.nlu;
    total.nnewton += s.nnewton;
}

/// A backward solve's error at the forward time `t = −s`.
fn forward_time(e: SolveError) -> SolveError {
    match e {
        SolveError::StepSizeTooSmall { t, h } => SolveError::StepSizeTooSmall { t: -t, h },
        SolveError::NonFinite { t } => SolveError::NonFiniteAdjoint { t: -t },
        SolveError::MaxStepsReached { t, max_steps } => SolveError::MaxStepsReached { t: -t, max_steps },
        SolveError::SingularMatrix { t, h, not_finite } => SolveError::SingularMatrix { t: -t, h, not_finite },
        SolveError::NewtonFailure { t, h } => SolveError::NewtonFailure { t: -t, h },
        other => other,
    }
}
