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
//! Extra cotangents ([`StepBufs::inject`]): besides the save times, a loss
//! may depend on the step's stage derivatives `k_0 … k_{inner-1}, k_end`
//! and stage inputs `Y_0 … Y_{inner-1}, y_{n+1}` directly (the
//! regularisers of `regular`). Those on `k_i` start `u_i` (on `k_end`:
//! added to `u_end`), those on `y_{n+1}` add to `λ`, those on `Y_i` add
//! to `μ_i` (on `Y_0`: to `∂L/∂y_n`). Without injections the arithmetic
//! is unchanged.
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

/// A recomputed step and the extra cotangents to inject into it (see
/// [`StepBufs::inject`]).
pub(super) struct Injection<'a> {
    pub yst: &'a [f64],
    pub y1: &'a [f64],
    pub k: &'a [f64],
    pub inj_k: &'a mut [f64],
    pub inj_y: &'a mut [f64],
}

/// The buffers of one reversed step, reused for every step of a gradient.
pub(super) struct StepBufs {
    n: usize,
    /// Stage inputs `Y_0 … Y_{inner-1}` of the recomputed step (`Y_0 = y_n`).
    pub yst: Vec<f64>,
    /// Stage derivatives `k_0 … k_{inner-1}`, then the end slot `k_end`
    /// (filled only by [`StepBufs::eval_end`] or by the caller).
    pub k: Vec<f64>,
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
    /// Injected cotangents on `k_0 … k_{inner-1}, k_end`.
    inj_k: Vec<f64>,
    /// Injected cotangents on `Y_0 … Y_{inner-1}, y_{n+1}`.
    inj_y: Vec<f64>,
    /// Whether `inj_k`/`inj_y` may be nonzero.
    injected: bool,
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
            k: vec![0.0; (inner + 1) * n],
            y1: vec![0.0; n],
            u: vec![0.0; (inner + 1) * n],
            lam: vec![0.0; n],
            lam_prev: vec![0.0; n],
            gy: vec![0.0; n],
            gp_tmp: vec![0.0; f.n_params()],
            gp: vec![0.0; f.n_params()],
            inj_k: vec![0.0; (inner + 1) * n],
            inj_y: vec![0.0; (inner + 1) * n],
            injected: false,
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
        if self.injected {
            self.inj_k.fill(0.0);
            self.inj_y.fill(0.0);
            self.injected = false;
        }
        self.evals = 0;
        self.vjps = 0;
    }

    /// Recomputes the step `[t0, t1]` from `y = y(t0)` exactly as the
    /// solver took it (same operations, so the same bits): the stage inputs
    /// and `y1 = y(t1)`. Costs `inner_stages` evaluations.
    pub fn recompute<S: Scheme>(&mut self, f: &dyn DiffField, y: &[f64], t0: f64, t1: f64) {
        let n = self.n;
        f.eval(t0, y, &mut self.k[..n], &mut self.scratch);
        self.evals += 1;
        self.recompute_after_first::<S>(f, y, t0, t1);
    }

    /// [`StepBufs::recompute`] with `k_0 = f(t0, y)` already in `k[..n]`:
    /// costs `inner_stages - 1` evaluations.
    pub fn recompute_after_first<S: Scheme>(&mut self, f: &dyn DiffField, y: &[f64], t0: f64, t1: f64) {
        let tab = S::TABLEAU;
        let n = self.n;
        let inner = inner_stages::<S>();
        let h = t1 - t0;
        self.yst[..n].copy_from_slice(y);
        for i in 1..inner {
            let (done, rest) = self.k.split_at_mut(i * n);
            let yi = &mut self.yst[i * n..(i + 1) * n];
            lincomb(yi, y, h, tab.a[i], done);
            f.eval(t0 + tab.c[i] * h, yi, &mut rest[..n], &mut self.scratch);
        }
        let weights = if tab.fsal { tab.a[tab.stages() - 1] } else { tab.b };
        lincomb(&mut self.y1, y, h, weights, &self.k[..inner * n]);
        self.evals += (inner - 1) as u64;
    }

    /// [`StepBufs::recompute`] without evaluating: the stage derivatives
    /// `stages` (`inner_stages · n` values, as the forward pass made them)
    /// are copied in, the stage inputs and `y1` rebuilt by the same linear
    /// combinations (so the same bits).
    pub fn restore<S: Scheme>(&mut self, y: &[f64], stages: &[f64], t0: f64, t1: f64) {
        let tab = S::TABLEAU;
        let n = self.n;
        let inner = inner_stages::<S>();
        let h = t1 - t0;
        self.k[..inner * n].copy_from_slice(stages);
        self.yst[..n].copy_from_slice(y);
        for i in 1..inner {
            lincomb(&mut self.yst[i * n..(i + 1) * n], y, h, tab.a[i], &self.k[..i * n]);
        }
        let weights = if tab.fsal { tab.a[tab.stages() - 1] } else { tab.b };
        lincomb(&mut self.y1, y, h, weights, &self.k[..inner * n]);
    }

    /// Evaluates the end slot `k_end = f(t1, y1)` of the recomputed step
    /// (one evaluation).
    pub fn eval_end<S: Scheme>(&mut self, f: &dyn DiffField, t1: f64) {
        let n = self.n;
        let inner = inner_stages::<S>();
        f.eval(t1, &self.y1, &mut self.k[inner * n..(inner + 1) * n], &mut self.scratch);
        self.evals += 1;
    }

    /// The recomputed step (read-only) beside the buffers for extra
    /// cotangents on it, to be added to: on `k_0 … k_{inner-1}, k_end` and
    /// on `Y_0 … Y_{inner-1}, y_{n+1}` (each `(inner + 1) · n` long,
    /// slot-major). Consumed (and cleared) by [`StepBufs::reverse`].
    pub fn inject(&mut self) -> Injection<'_> {
        self.injected = true;
        Injection { yst: &self.yst, y1: &self.y1, k: &self.k, inj_k: &mut self.inj_k, inj_y: &mut self.inj_y }
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

        let injected = self.injected;
        if injected {
            add(&mut self.u, &self.inj_k);
            add(&mut self.lam, &self.inj_y[inner * n..]);
            add(&mut self.lam_prev, &self.inj_y[..n]);
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
            let extra = &self.inj_y[i * n..(i + 1) * n];
            let extra = if injected && nonzero(extra) { Some(extra) } else { None };
            if nonzero(ui) {
                let yi = &self.yst[i * n..(i + 1) * n];
                f.vjp(t0 + tab.c[i] * h, yi, ui, &mut self.gy, &mut self.gp_tmp, &mut self.scratch);
                self.vjps += 1;
                add(&mut self.gp, &self.gp_tmp);
            } else if extra.is_some() {
                self.gy.fill(0.0);
            } else {
                continue;
            }
            if let Some(extra) = extra {
                add(&mut self.gy, extra);
            }
            add(&mut self.lam_prev, &self.gy);
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
        if injected {
            self.inj_k.fill(0.0);
            self.inj_y.fill(0.0);
            self.injected = false;
        }
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

#[cfg(test)]
mod tests {
    use super::{inner_stages, StepBufs};
    use crate::solver::{Bosh3, Dopri5, Rk4, Scheme, Tsit5};
    use crate::term::{DiffField, VectorField};

    /// `u' = −p0 u + p1 u v`, `v' = p2 sin(u) t`.
    struct Field([f64; 3]);

    impl VectorField for Field {
        fn dim(&self) -> usize {
            2
        }
        fn eval(&self, t: f64, y: &[f64], dy: &mut [f64], _s: &mut [f64]) {
            dy[0] = -self.0[0] * y[0] + self.0[1] * y[0] * y[1];
            dy[1] = self.0[2] * y[0].sin() * t;
        }
    }

    impl DiffField for Field {
        fn n_params(&self) -> usize {
            3
        }
        fn vjp(&self, t: f64, y: &[f64], a: &[f64], gy: &mut [f64], gp: &mut [f64], _s: &mut [f64]) {
            let [p0, p1, p2] = self.0;
            gy[0] = a[0] * (-p0 + p1 * y[1]) + a[1] * p2 * y[0].cos() * t;
            gy[1] = a[0] * p1 * y[0];
            gp[0] = -a[0] * y[0];
            gp[1] = a[0] * y[0] * y[1];
            gp[2] = a[1] * y[0].sin() * t;
        }
    }

    /// `φ = Σ_i v_i·Y_i + w_i·k_i` over every stage input and slot (the
    /// last input being `y1`), with weights from a fixed formula.
    fn phi<S: Scheme>(p: [f64; 3], y0: &[f64]) -> f64 {
        let f = Field(p);
        let mut b = StepBufs::new::<S>(&f);
        b.recompute::<S>(&f, y0, 0.3, 0.55);
        b.eval_end::<S>(&f, 0.55);
        let inner = inner_stages::<S>();
        let mut ys = b.yst.clone();
        ys.extend_from_slice(&b.y1);
        (0..2 * (inner + 1)).map(|j| weight(j, 0) * ys[j] + weight(j, 1) * b.k[j]).sum()
    }

    fn weight(j: usize, which: usize) -> f64 {
        ((j * 7 + which * 3) % 5) as f64 * 0.3 - 0.5
    }

    fn check<S: Scheme>() {
        let (p, y0) = ([0.8, 0.6, 1.3], [0.9, -0.7]);
        let f = Field(p);
        let mut b = StepBufs::new::<S>(&f);
        b.reset();
        b.recompute::<S>(&f, &y0, 0.3, 0.55);
        b.eval_end::<S>(&f, 0.55);
        let inj = b.inject();
        for j in 0..inj.inj_k.len() {
            inj.inj_y[j] = weight(j, 0);
            inj.inj_k[j] = weight(j, 1);
        }
        b.reverse::<S>(&f, 0.3, 0.55, &[], &[], true).unwrap();
        let e = 1e-5;
        let fd = |g: &dyn Fn(f64) -> f64| (g(e) - g(-e)) / (2.0 * e);
        for i in 0..3 {
            let d = fd(&|h| {
                let mut q = p;
                q[i] += h;
                phi::<S>(q, &y0)
            });
            assert!((b.gp[i] - d).abs() < 1e-8 * d.abs().max(1.0), "{} p{i}: {} vs {d}", S::TABLEAU.name, b.gp[i]);
        }
        for i in 0..2 {
            let d = fd(&|h| {
                let mut y = y0;
                y[i] += h;
                phi::<S>(p, &y)
            });
            assert!((b.lam[i] - d).abs() < 1e-8 * d.abs().max(1.0), "{} y{i}: {} vs {d}", S::TABLEAU.name, b.lam[i]);
        }
    }

    #[test]
    fn injected_cotangents_reach_every_stage() {
        check::<Tsit5>();
        check::<Dopri5>();
        check::<Bosh3>();
        check::<Rk4>();
    }
}
