//! One explicit Runge–Kutta step, recomputed from its start state and then
//! reversed: the arithmetic core of the discrete adjoint.
//!
//! Owns [`StepBufs`], the buffers of one reversed step (allocated once per
//! gradient call), [`StepBufs::recompute`] (the forward step again, keeping
//! the stage inputs) and [`StepBufs::reverse`] (reverse mode through the
//! stages and the dense output of the save times inside the step). Never
//! decides step sizes or which step to reverse next (that is
//! `discrete`), never allocates.
//!
//! # The reversed step
//! Forward (ALGORITHMS.md §8.2, with `s` stages, FSAL or not):
//! `Y_0 = y_n`, `k_i = f(t_n + c_i h, Y_i)`, `Y_i = y_n + h Σ_{j<i} a_ij k_j`,
//! `y_{n+1} = y_n + h Σ_j b_j k_j`, and the slot `k_end = f(t_{n+1}, y_{n+1})`
//! (the last stage of an FSAL method, an extra evaluation otherwise), which
//! is also the next step's `k_0`. A save time inside the step gets the dense
//! output `y_n + h Σ_j w_j(θ) k_j` (θ-dependent weights over all slots);
//! one at `t_{n+1}` gets `y_{n+1}`, one at `t_n` gets `y_n`.
//!
//! Reverse, given `λ = ∂L/∂y_{n+1}` and `u_end = ∂L/∂k_end` (the next
//! step's cotangent on its `k_0`): the save cotangents `c` add `c` to `λ`
//! or to `∂L/∂y_n` and `h w_j c` to `u_j`; then `λ += J(y_{n+1})ᵀ u_end`;
//! `u_i += h b_i λ`; for `i = inner-1 … 1`: `μ_i = J(Y_i)ᵀ u_i`,
//! `u_j += h a_ij μ_i` (`j < i`); `∂L/∂y_n = λ + Σ μ_i + (save terms)`;
//! `u_0` is handed to the previous step as its `u_end` (on the first step
//! it is pulled back through `f(t_0, y_0)` instead). Every VJP also adds
//! `uᵀ ∂f/∂p` to the parameter gradient. Step sizes, stage times and θ are
//! constants (stop-gradient), as in diffrax. A VJP whose cotangent is
//! exactly zero is skipped (the product is linear in it).
//!
//! The order of every floating-point operation depends only on the step,
//! never on the checkpointing schedule, so every schedule gives the same
//! gradient bit for bit.

use crate::error::SolveError;
use crate::solver::{lincomb, Scheme};
use crate::term::DiffField;

/// Stages whose inputs the reverse pass needs: all of them, except an FSAL
/// method's last, whose input is `y_{n+1}` and which is the end slot.
pub(super) fn inner_stages<S: Scheme>() -> usize {
    let tab = S::TABLEAU;
    tab.stages() - usize::from(tab.fsal)
}

/// The buffers of one reversed step, reused for every step of a gradient.
pub(super) struct StepBufs {
    n: usize,
    /// Stage inputs `Y_0 … Y_{inner-1}` of the recomputed step (`Y_0 = y_n`).
    yst: Vec<f64>,
    /// Stage derivatives `k_0 … k_{inner-1}`.
    k: Vec<f64>,
    /// `y_{n+1}` of the recomputed step.
    pub y1: Vec<f64>,
    /// Slot cotangents `u_0 … u_inner` (`u_inner` is the end slot's).
    u: Vec<f64>,
    /// `∂L/∂y_{n+1}` on entry to [`StepBufs::reverse`], `∂L/∂y_n` after it.
    pub lam: Vec<f64>,
    lam_prev: Vec<f64>,
    gy: Vec<f64>,
    gp_tmp: Vec<f64>,
    /// The parameter gradient accumulated so far.
    pub gp: Vec<f64>,
    /// Dense-output weights.
    w: Vec<f64>,
    scratch: Vec<f64>,
    /// Vector-field evaluations made by [`StepBufs::recompute`].
    pub evals: u64,
    /// VJPs made by [`StepBufs::reverse`].
    pub vjps: u64,
}

impl StepBufs {
    pub fn new<S: Scheme>(f: &dyn DiffField) -> StepBufs {
        let n = f.dim();
        let inner = inner_stages::<S>();
        StepBufs {
            n,
            yst: vec![0.0; inner * n],
            k: vec![0.0; inner * n],
            y1: vec![0.0; n],
            u: vec![0.0; (inner + 1) * n],
            lam: vec![0.0; n],
            lam_prev: vec![0.0; n],
            gy: vec![0.0; n],
            gp_tmp: vec![0.0; f.n_params()],
            gp: vec![0.0; f.n_params()],
            w: vec![0.0; S::SLOTS],
            scratch: vec![0.0; f.scratch_len().max(f.vjp_scratch_len())],
            evals: 0,
            vjps: 0,
        }
    }

    /// Clears the adjoint state for a new trajectory.
    pub fn reset(&mut self) {
        self.u.fill(0.0);
        self.lam.fill(0.0);
        self.gp.fill(0.0);
        self.evals = 0;
        self.vjps = 0;
    }

    /// Recomputes the step `[t0, t1]` from `y = y(t0)` exactly as the
    /// solver took it (same operations, so the same bits): the stage inputs
    /// and `y1 = y(t1)`. Costs `inner_stages` evaluations.
    pub fn recompute<S: Scheme>(&mut self, f: &dyn DiffField, y: &[f64], t0: f64, t1: f64) {
        let tab = S::TABLEAU;
        let n = self.n;
        let inner = inner_stages::<S>();
        let h = t1 - t0;
        self.yst[..n].copy_from_slice(y);
        f.eval(t0, y, &mut self.k[..n], &mut self.scratch);
        for i in 1..inner {
            let (done, rest) = self.k.split_at_mut(i * n);
            let yi = &mut self.yst[i * n..(i + 1) * n];
            lincomb(yi, y, h, tab.a[i], done);
            f.eval(t0 + tab.c[i] * h, yi, &mut rest[..n], &mut self.scratch);
        }
        let weights = if tab.fsal { tab.a[tab.stages() - 1] } else { tab.b };
        lincomb(&mut self.y1, y, h, weights, &self.k[..inner * n]);
        self.evals += inner as u64;
    }

    /// Reverses the step `[t0, t1]` just recomputed (see the module docs).
    /// `saves`/`cots` are the save times of this step and their cotangent
    /// rows; `first` says this is the solve's first step. On entry `lam` is
    /// `∂L/∂y(t1)` from everything after the step and the end slot holds the
    /// next step's cotangent on its first stage; on return `lam` is
    /// `∂L/∂y(t0)` and the end slot holds this step's.
    pub fn reverse<S: Scheme>(
        &mut self,
        f: &dyn DiffField,
        t0: f64,
        t1: f64,
        saves: &[f64],
        cots: &[f64],
        first: bool,
    ) -> Result<(), SolveError> {
        let tab = S::TABLEAU;
        let n = self.n;
        let inner = inner_stages::<S>();
        let h = t1 - t0;
        self.u[..inner * n].fill(0.0);
        self.lam_prev.fill(0.0);

        for (&t, c) in saves.iter().zip(cots.chunks_exact(n)) {
            if t == t1 {
                add(&mut self.lam, c);
            } else if t == t0 {
                add(&mut self.lam_prev, c);
            } else {
                S::dense_weights((t - t0) / h, &mut self.w);
                for (j, &wj) in self.w.iter().enumerate() {
                    if wj != 0.0 {
                        axpy(&mut self.u[j * n..(j + 1) * n], h * wj, c);
                    }
                }
                add(&mut self.lam_prev, c);
            }
        }

        let (u_inner, u_end) = self.u.split_at_mut(inner * n);
        if nonzero(u_end) {
            f.vjp(t1, &self.y1, u_end, &mut self.gy, &mut self.gp_tmp, &mut self.scratch);
            self.vjps += 1;
            add(&mut self.lam, &self.gy);
            add(&mut self.gp, &self.gp_tmp);
        }
        for (i, &bi) in tab.b[..inner].iter().enumerate() {
            if bi != 0.0 {
                axpy(&mut u_inner[i * n..(i + 1) * n], h * bi, &self.lam);
            }
        }
        for i in (1..inner).rev() {
            let (before, rest) = u_inner.split_at_mut(i * n);
            let ui = &rest[..n];
            if !nonzero(ui) {
                continue;
            }
            let yi = &self.yst[i * n..(i + 1) * n];
            f.vjp(t0 + tab.c[i] * h, yi, ui, &mut self.gy, &mut self.gp_tmp, &mut self.scratch);
            self.vjps += 1;
            add(&mut self.lam_prev, &self.gy);
            add(&mut self.gp, &self.gp_tmp);
            for (j, &aij) in tab.a[i].iter().enumerate() {
                if aij != 0.0 {
                    axpy(&mut before[j * n..(j + 1) * n], h * aij, &self.gy);
                }
            }
        }
        add(&mut self.lam_prev, &self.lam);
        let u0 = &u_inner[..n];
        if first && nonzero(u0) {
            f.vjp(t0, &self.yst[..n], u0, &mut self.gy, &mut self.gp_tmp, &mut self.scratch);
            self.vjps += 1;
            add(&mut self.lam_prev, &self.gy);
            add(&mut self.gp, &self.gp_tmp);
        }
        u_end.copy_from_slice(u0);
        std::mem::swap(&mut self.lam, &mut self.lam_prev);
        let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
        if !(finite(&self.lam) && finite(u_end) && finite(&self.gp)) {
            return Err(SolveError::NonFiniteAdjoint { t: t0 });
        }
        Ok(())
    }

    /// Adds the cotangent rows `cots` to `lam` (save times at the final
    /// state, or all of them when nothing was integrated).
    pub fn add_direct(&mut self, cots: &[f64]) {
        for c in cots.chunks_exact(self.n) {
            add(&mut self.lam, c);
        }
    }
}

/// `x += y`.
#[inline]
fn add(x: &mut [f64], y: &[f64]) {
    for (x, y) in x.iter_mut().zip(y) {
        *x += y;
    }
}

/// `x += a y`.
#[inline]
fn axpy(x: &mut [f64], a: f64, y: &[f64]) {
    for (x, y) in x.iter_mut().zip(y) {
        *x += a * y;
    }
}

/// Whether any component is not exactly zero (NaN counts as nonzero, so it
/// propagates).
#[inline]
fn nonzero(x: &[f64]) -> bool {
    x.iter().any(|v| *v != 0.0)
}
