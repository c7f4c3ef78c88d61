//! The solver-heuristic regularisers inside gradients (ALGORITHMS.md §2):
//! their values on one recomputed step, the cotangents they put on that
//! step's stages, and the sampled ("local", Pal et al. 2023) step.
//!
//! Owns [`measure`] (one step's `EEst` and stiffness estimate `S`, and the
//! cotangents of `c_E · EEst + c_S · S` injected into the step through
//! [`StepBufs::inject`]), the forward observer that catches the dense
//! output at the sampled time ([`DenseAt`]) and the sampled step itself
//! ([`Sampled`]: its value before the loss is known, its parameter
//! gradient after). Never decides step sizes of the solve, never prints.
//!
//! # Conventions
//! - The step size `h` and the error scale `sc = atol + rtol·max(|y0|,
//!   |y1|)` are constants (stop-gradient, ALGORITHMS.md §1.5), as are the
//!   solve's step sizes and the sampled step's `dt`.
//! - `EEst = sqrt(mean((err/sc)²))` with `err = h Σ_i b_err,i k_i`; its
//!   gradient is taken as that of `sqrt(mean((err/sc)²) + ε)` with
//!   `ε = f64::MIN_POSITIVE` (§2.4), so it is 0, not NaN, at `err = 0`.
//!   The same `ε` guards `‖Δk‖` in the stiffness gradient.
//! - `S = ‖k_b − k_a‖ / ‖Y_b − Y_a‖` (unscaled RMS norms) for the two
//!   stages at `c = 1` ([`crate::solver::stiffness_stage`]; `Y_b = y1`,
//!   `k_b = k_end`); 0, with zero gradient, where `Y_b = Y_a`.
//! - The sampled step starts from `(t_reg, x)` with `x` and `k_0 = f(t_reg,
//!   x)` constant: its gradient reaches the parameters through stages
//!   `1 … s-1` only (0-based), never `y0`. Its stiffness value is `S`
//!   itself (Pal et al. divide by Tsit5's stability size 3.5068; we keep
//!   §2.1's definition), its local-error value `EEst · |dt|`.

use std::marker::PhantomData;

use super::reverse::{inner_stages, Injection, StepBufs};
use crate::error::SolveError;
use crate::solve::SolveOptions;
use crate::solver::{lincomb, stiffness_ratio, stiffness_stage, Scheme, StepObserver, Workspace};
use crate::stepsize::{select_initial_step, InitBufs};
use crate::term::{DiffField, VectorField};

/// The `ε` inside the square roots of the regularisers' gradients.
const EPS: f64 = f64::MIN_POSITIVE;

/// One step's regulariser values.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct StepValues {
    /// The scaled RMS error `EEst` (0 for methods without an estimate).
    pub eest: f64,
    /// The stiffness estimate `S` (0 for methods without the stage pair).
    pub stiffness: f64,
}

/// Measures `EEst` and `S` on the step `[t0, t0 + h]` held in `bufs`
/// (recomputed, with the end slot filled) and, where `ce` or `cs` is
/// nonzero, injects the cotangents of `ce · EEst + cs · S` on its stages.
/// A non-finite value or cotangent that is needed is
/// [`SolveError::NonFiniteAdjoint`] at `t0`.
pub(super) fn measure<S: Scheme>(
    bufs: &mut StepBufs,
    t0: f64,
    h: f64,
    rtol: f64,
    atol: f64,
    ce: f64,
    cs: f64,
) -> Result<StepValues, SolveError> {
    let tab = S::TABLEAU;
    let n = bufs.y1.len();
    let inner = inner_stages::<S>();
    let mut out = StepValues::default();
    // Only the shared views unless a cotangent is injected.
    let inj = if ce != 0.0 || cs != 0.0 { Some(bufs.inject()) } else { None };
    let (yst, y1, k, mut inj) = match inj {
        Some(Injection { yst, y1, k, inj_k, inj_y }) => (yst, y1, k, Some((inj_k, inj_y))),
        None => (&bufs.yst[..], &bufs.y1[..], &bufs.k[..], None),
    };
    if let Some(e) = tab.b_err {
        // err_m = h Σ_i e_i k_i[m] (stage i is slot i; for FSAL methods the
        // last stage is the end slot), sc_m = atol + rtol max(|y0|, |y1|).
        let y0 = &yst[..n];
        let err_at = |m: usize| h * e.iter().enumerate().fold(0.0, |acc, (i, ei)| acc + ei * k[i * n + m]);
        let scale = |m: usize| atol + rtol * y0[m].abs().max(y1[m].abs());
        let mut sum = 0.0;
        for m in 0..n {
            let err = err_at(m);
            let r = if err == 0.0 { 0.0 } else { err / scale(m) };
            sum += r * r;
        }
        out.eest = (sum / n as f64).sqrt();
        if let (true, Some((inj_k, _))) = (ce != 0.0, inj.as_mut()) {
            if !out.eest.is_finite() {
                return Err(SolveError::NonFiniteAdjoint { t: t0 });
            }
            // d EEst / d err_m = r_m / (sc_m · n · sqrt(mean r² + ε)).
            let denom = n as f64 * (sum / n as f64 + EPS).sqrt();
            for m in 0..n {
                let err = err_at(m);
                if err == 0.0 {
                    continue;
                }
                let sc = scale(m);
                let g = ce * (err / sc) / (sc * denom);
                for (i, &ei) in e.iter().enumerate() {
                    if ei != 0.0 {
                        inj_k[i * n + m] += h * ei * g;
                    }
                }
            }
        }
    }
    if let Some(a) = stiffness_stage(tab) {
        // Stage a's input is Y_a (a < inner); stage a + 1 is the end slot,
        // whose input is y1.
        debug_assert_eq!(a + 1, inner);
        let (ya, yb) = (&yst[a * n..(a + 1) * n], y1);
        let (ka, kb) = (&k[a * n..(a + 1) * n], &k[inner * n..(inner + 1) * n]);
        let (mut num, mut den) = (0.0, 0.0);
        for m in 0..n {
            let dk = kb[m] - ka[m];
            let dy = yb[m] - ya[m];
            num += dk * dk;
            den += dy * dy;
        }
        out.stiffness = stiffness_ratio(num, den);
        if let (true, Some((inj_k, inj_y))) = (cs != 0.0 && den != 0.0, inj.as_mut()) {
            if !out.stiffness.is_finite() {
                return Err(SolveError::NonFiniteAdjoint { t: t0 });
            }
            // S = sqrt(num) / sqrt(den): dS/dΔk = Δk / (sqrt(num) sqrt(den)),
            // dS/dΔY = −S ΔY / den.
            let ck = cs / ((num + EPS).sqrt() * den.sqrt());
            let cy = -cs * out.stiffness / den;
            for m in 0..n {
                let dk = kb[m] - ka[m];
                let dy = yb[m] - ya[m];
                inj_k[inner * n + m] += ck * dk;
                inj_k[a * n + m] -= ck * dk;
                inj_y[inner * n + m] += cy * dy;
                inj_y[a * n + m] -= cy * dy;
            }
        }
    }
    Ok(out)
}

/// A forward observer that keeps the dense output at time `t` (the solve's
/// own value there: the first accepted step with `t <= t1` supplies it).
pub(super) struct DenseAt<S> {
    t: f64,
    /// Whether to look for `t` at all.
    active: bool,
    /// Whether `x` holds the value.
    pub found: bool,
    pub x: Vec<f64>,
    w: Vec<f64>,
    _scheme: PhantomData<fn() -> S>,
}

impl<S: Scheme> DenseAt<S> {
    /// An observer for time `t` (`None`: inactive) in an `n`-dimensional
    /// solve.
    pub fn new(n: usize, t: Option<f64>) -> DenseAt<S> {
        let active = t.is_some();
        let (x, w) = if active { (vec![0.0; n], vec![0.0; S::SLOTS]) } else { (Vec::new(), Vec::new()) };
        DenseAt { t: t.unwrap_or(0.0), active, found: false, x, w, _scheme: PhantomData }
    }
}

impl<S: Scheme> StepObserver for DenseAt<S> {
    #[inline]
    fn accepted(&mut self, t0: f64, t1: f64, ws: &Workspace) {
        if !self.active || self.found || self.t > t1 {
            return;
        }
        // As `explicit_rk::dense`.
        let t = self.t;
        if t == t1 {
            self.x.copy_from_slice(&ws.y_new);
        } else if t == t0 {
            self.x.copy_from_slice(&ws.y);
        } else {
            let h = t1 - t0;
            S::dense_weights((t - t0) / h, &mut self.w);
            lincomb(&mut self.x, &ws.y, h, &self.w, &ws.k);
        }
        self.found = true;
    }
}

/// Two observers in one.
pub(super) struct Both<'a, A, B>(pub &'a mut A, pub &'a mut B);

impl<A: StepObserver, B: StepObserver> StepObserver for Both<'_, A, B> {
    #[inline(always)]
    fn accepted(&mut self, t0: f64, t1: f64, ws: &Workspace) {
        self.0.accepted(t0, t1, ws);
        self.1.accepted(t0, t1, ws);
    }
    #[inline(always)]
    fn finished(&mut self, next_h: f64) {
        self.0.finished(next_h);
        self.1.finished(next_h);
    }
}

/// The sampled step of one trajectory: where it starts and ends.
pub(super) struct Sampled {
    pub t0: f64,
    pub t1: f64,
    pub x: Vec<f64>,
    pub values: StepValues,
}

impl Sampled {
    /// Takes one step of `S` from `(t, x)` with the solver's initial-step
    /// heuristic, clipped to end at `t_end` (nothing if `t >= t_end`):
    /// fills `bufs` (reset) and returns the step with its values. `ws` is
    /// scratch space. Counts its evaluations in `bufs.evals`.
    pub fn take<S: Scheme>(
        f: &dyn DiffField,
        opts: &SolveOptions,
        t: f64,
        x: Vec<f64>,
        t_end: f64,
        ws: &mut Workspace,
        bufs: &mut StepBufs,
    ) -> Result<Option<Sampled>, SolveError> {
        if t >= t_end {
            return Ok(None);
        }
        let n = x.len();
        let field: &dyn VectorField = f;
        ws.y.copy_from_slice(&x);
        ws.eval_first(field, t);
        let (f0, rest) = ws.k.split_at_mut(n);
        let init = InitBufs { f0, y1: &mut ws.ytmp, f1: &mut rest[..n], scratch: &mut ws.scratch };
        let dt = select_initial_step(field, t, &x, opts.rtol, opts.atol, S::TABLEAU.error_order(), init);
        bufs.evals += 2;
        let t1 = (t + dt).min(t_end);
        bufs.k[..n].copy_from_slice(&ws.k[..n]);
        bufs.recompute_after_first::<S>(f, &x, t, t1);
        bufs.eval_end::<S>(f, t1);
        let values = measure::<S>(bufs, t, t1 - t, opts.rtol, opts.atol, 0.0, 0.0)?;
        Ok(Some(Sampled { t0: t, t1, x, values }))
    }

    /// `r_E = EEst · |dt|`.
    pub fn local_error(&self) -> f64 {
        self.values.eest * (self.t1 - self.t0).abs()
    }

    /// Adds to `bufs.gp` (after resetting `bufs`) the parameter gradient
    /// of `we · r_E + ws · S`, recomputing the step (`inner + 1`
    /// evaluations, one VJP per stage at most).
    pub fn gradient<S: Scheme>(
        &self,
        f: &dyn DiffField,
        opts: &SolveOptions,
        we: f64,
        ws: f64,
        bufs: &mut StepBufs,
    ) -> Result<(), SolveError> {
        bufs.reset();
        let h = self.t1 - self.t0;
        bufs.recompute::<S>(f, &self.x, self.t0, self.t1);
        bufs.eval_end::<S>(f, self.t1);
        measure::<S>(bufs, self.t0, h, opts.rtol, opts.atol, we * h.abs(), ws)?;
        bufs.reverse::<S>(f, self.t0, self.t1, &[], &[], false)
    }
}
