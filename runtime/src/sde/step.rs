//! One step of each SDE method, its vector–Jacobian product, and reversible
//! Heun's algebraic inverse, on buffers made once per solve ([`Work`]); the
//! same steps for a lock-step chunk of a batch ([`BatchWork`]: batched
//! field calls, each member's arithmetic shared with `Work`).
//! Never allocates, never validates (the entry points have), never queries
//! the Brownian path (the caller passes `ΔW`).
//!
//! With `h = tb − ta`, `ΔW = W(tb) − W(ta)` and `G ΔW` the diffusion applied
//! to the increment (diagonal: elementwise; general: `n × m` times `m`):
//!
//! | method | step |
//! |---|---|
//! | Euler–Maruyama | `y1 = y + h f(ta, y) + G(ta, y) ΔW` |
//! | Milstein | `y1 = y + h f + G ΔW + ½ d (ΔW² − h)`, `d_i = g_i ∂g_i/∂y_i` at `(ta, y)` |
//! | SRA1 (no Lévy area) | `z = y + ¾ h f(ta, y) + ¾ G ΔW`, `y1 = y + h (⅓ f(ta, y) + ⅔ f(ta + ¾h, z)) + G ΔW`, error `⅔ h (f(z) − f(y))`; `G = g(ta, y)` |
//! | reversible Heun | state `(y, ŷ)` with `f0, G0` at `(ta, ŷ)`: `ŷ1 = 2y − ŷ + h f0 + G0 ΔW`, `y1 = y + ½h (f0 + f1) + ½ (G0 ΔW + G1 ΔW)`, `f1, G1` at `(tb, ŷ1)` |

use crate::sde::options::SdeMethod;
use crate::sde::term::{DiffSdeField, Noise, SdeField};

const THIRD: f64 = 1.0 / 3.0;
const TWO_THIRDS: f64 = 2.0 / 3.0;

/// `out += c · G ΔW`.
#[inline]
fn add_gdw(noise: Noise, g: &[f64], dw: &[f64], c: f64, out: &mut [f64]) {
    match noise {
        Noise::Diagonal => {
            for ((o, g), w) in out.iter_mut().zip(g).zip(dw) {
                *o += c * (g * w);
            }
        }
        Noise::General { m } => {
            for (o, row) in out.iter_mut().zip(g.chunks_exact(m)) {
                let mut s = 0.0;
                for (g, w) in row.iter().zip(dw) {
                    s += g * w;
                }
                *o += c * s;
            }
        }
    }
}

/// `out = G ΔW`.
#[inline]
fn gdw(noise: Noise, g: &[f64], dw: &[f64], out: &mut [f64]) {
    out.fill(0.0);
    add_gdw(noise, g, dw, 1.0, out);
}

/// The cotangent of `G` from the cotangent `a` of `G ΔW`: `a ⊗ ΔW`
/// (diagonal: `a_i ΔW_i`).
#[inline]
fn g_cotangent(noise: Noise, a: &[f64], dw: &[f64], out: &mut [f64]) {
    match noise {
        Noise::Diagonal => {
            for ((o, a), w) in out.iter_mut().zip(a).zip(dw) {
                *o = a * w;
            }
        }
        Noise::General { m } => {
            for (row, a) in out.chunks_exact_mut(m).zip(a) {
                for (o, w) in row.iter_mut().zip(dw) {
                    *o = a * w;
                }
            }
        }
    }
}

/// `acc += x`.
#[inline]
fn add(acc: &mut [f64], x: &[f64]) {
    for (a, x) in acc.iter_mut().zip(x) {
        *a += x;
    }
}

// One member's update of each method (see the module docs), shared by
// `Work` and `BatchWork` so that lock-step batches give the bits of
// member-by-member solves.

/// Euler–Maruyama: `y1 = y + h f0 + G0 ΔW` (`n1` holds `G0 ΔW`).
#[allow(clippy::too_many_arguments)]
#[inline]
fn em_update(noise: Noise, h: f64, y: &[f64], f0: &[f64], g0: &[f64], dw: &[f64], n1: &mut [f64], y1: &mut [f64]) {
    gdw(noise, g0, dw, n1);
    for i in 0..y.len() {
        y1[i] = y[i] + h * f0[i] + n1[i];
    }
}

/// Milstein (diagonal noise): `y1 = y + h f0 + g0 ΔW + ½ d (ΔW² − h)`.
#[inline]
fn milstein_update(h: f64, y: &[f64], f0: &[f64], g0: &[f64], d: &[f64], dw: &[f64], y1: &mut [f64]) {
    for i in 0..y.len() {
        let w = dw[i];
        y1[i] = y[i] + h * f0[i] + g0[i] * w + 0.5 * d[i] * (w * w - h);
    }
}

/// SRA1's stage: `z = y + ¾ h f0 + ¾ G0 ΔW` (`n1` holds `G0 ΔW`).
#[allow(clippy::too_many_arguments)]
#[inline]
fn sra1_stage(noise: Noise, h: f64, y: &[f64], f0: &[f64], g0: &[f64], dw: &[f64], n1: &mut [f64], z: &mut [f64]) {
    gdw(noise, g0, dw, n1);
    for i in 0..y.len() {
        z[i] = y[i] + 0.75 * h * f0[i] + 0.75 * n1[i];
    }
}

/// SRA1's result and error from `f1 = f(ta + ¾h, z)`.
#[inline]
fn sra1_update(h: f64, y: &[f64], f0: &[f64], f1: &[f64], n1: &[f64], y1: &mut [f64], err: &mut [f64]) {
    for i in 0..y.len() {
        let (f0, f1) = (f0[i], f1[i]);
        y1[i] = y[i] + h * (THIRD * f0 + TWO_THIRDS * f1) + n1[i];
        err[i] = TWO_THIRDS * h * (f1 - f0);
    }
}

/// Reversible Heun's stage: `ŷ1 = 2y − ŷ + h f0 + G0 ΔW` (`n1` holds `G0 ΔW`).
#[allow(clippy::too_many_arguments)]
#[inline]
fn heun_stage(
    noise: Noise,
    h: f64,
    y: &[f64],
    yh: &[f64],
    f0: &[f64],
    g0: &[f64],
    dw: &[f64],
    n1: &mut [f64],
    yh1: &mut [f64],
) {
    gdw(noise, g0, dw, n1);
    for i in 0..y.len() {
        yh1[i] = 2.0 * y[i] - yh[i] + h * f0[i] + n1[i];
    }
}

/// Reversible Heun's result from `f1`, `G1` at `(tb, ŷ1)` (`n1` from the
/// stage; `n2` gets `G1 ΔW`).
#[allow(clippy::too_many_arguments)]
#[inline]
fn heun_update(
    noise: Noise,
    h: f64,
    y: &[f64],
    f0: &[f64],
    f1: &[f64],
    g1: &[f64],
    dw: &[f64],
    n1: &[f64],
    n2: &mut [f64],
    y1: &mut [f64],
) {
    gdw(noise, g1, dw, n2);
    for i in 0..y.len() {
        y1[i] = y[i] + 0.5 * h * (f0[i] + f1[i]) + 0.5 * (n1[i] + n2[i]);
    }
}

/// Work buffers of one solve (and its gradient).
pub(crate) struct Work {
    pub noise: Noise,
    /// The current state `y`, and `ŷ` (reversible Heun).
    pub y: Vec<f64>,
    pub yh: Vec<f64>,
    /// The next state (and `ŷ`).
    pub y1: Vec<f64>,
    pub yh1: Vec<f64>,
    /// Drift values; for reversible Heun `f0` is `f(t, ŷ)` of the current state.
    pub f0: Vec<f64>,
    pub f1: Vec<f64>,
    /// Diffusion values (as `f0`, `f1`).
    pub g0: Vec<f64>,
    pub g1: Vec<f64>,
    /// The Brownian increment of the step.
    pub dw: Vec<f64>,
    /// The embedded error of an SRA1 step.
    pub err: Vec<f64>,
    n1: Vec<f64>,
    n2: Vec<f64>,
    pub scratch: Vec<f64>,
    // Gradient buffers.
    gy: Vec<f64>,
    gy2: Vec<f64>,
    mu: Vec<f64>,
    a: Vec<f64>,
    cg: Vec<f64>,
    gp: Vec<f64>,
}

impl Work {
    pub fn new(f: &dyn SdeField, n_params: usize) -> Work {
        let (n, noise) = (f.dim(), f.noise());
        let (glen, m) = (noise.diffusion_len(n), noise.channels(n));
        let v = |k| vec![0.0; k];
        Work {
            noise,
            y: v(n),
            yh: v(n),
            y1: v(n),
            yh1: v(n),
            f0: v(n),
            f1: v(n),
            g0: v(glen),
            g1: v(glen),
            dw: v(m),
            err: v(n),
            n1: v(n),
            n2: v(n),
            scratch: v(f.scratch_len()),
            gy: v(n),
            gy2: v(n),
            mu: v(n),
            a: v(n),
            cg: v(glen),
            gp: v(n_params),
        }
    }

    /// Reversible Heun's start: `ŷ = y`, `f0`, `G0` at `(t, y)`.
    pub fn heun_init(&mut self, f: &dyn SdeField, t: f64) {
        self.yh.copy_from_slice(&self.y);
        f.drift(t, &self.yh, &mut self.f0, &mut self.scratch);
        f.diffusion(t, &self.yh, &mut self.g0, &mut self.scratch);
    }

    /// One step from `(ta, y)` to `tb` with the increment in `dw`, into `y1`
    /// (reversible Heun: `yh1`, `f1`, `g1` too; SRA1: `err`). Returns the
    /// evaluations made (drift, diffusion and `d` each count one), or `None`
    /// if Milstein's `d` is unavailable.
    pub fn step(&mut self, f: &dyn SdeField, method: SdeMethod, ta: f64, tb: f64) -> Option<u64> {
        let h = tb - ta;
        let noise = self.noise;
        let sc = &mut self.scratch;
        match method {
            SdeMethod::EulerMaruyama => {
                f.drift(ta, &self.y, &mut self.f0, sc);
                f.diffusion(ta, &self.y, &mut self.g0, sc);
                em_update(noise, h, &self.y, &self.f0, &self.g0, &self.dw, &mut self.n1, &mut self.y1);
                Some(2)
            }
            SdeMethod::Milstein => {
                f.drift(ta, &self.y, &mut self.f0, sc);
                f.diffusion(ta, &self.y, &mut self.g0, sc);
                if !f.diffusion_dg(ta, &self.y, &mut self.n2, sc) {
                    return None;
                }
                milstein_update(h, &self.y, &self.f0, &self.g0, &self.n2, &self.dw, &mut self.y1);
                Some(3)
            }
            SdeMethod::Sra1 => {
                f.drift(ta, &self.y, &mut self.f0, sc);
                f.diffusion(ta, &self.y, &mut self.g0, sc);
                sra1_stage(noise, h, &self.y, &self.f0, &self.g0, &self.dw, &mut self.n1, &mut self.yh1);
                f.drift(ta + 0.75 * h, &self.yh1, &mut self.f1, sc);
                sra1_update(h, &self.y, &self.f0, &self.f1, &self.n1, &mut self.y1, &mut self.err);
                Some(3)
            }
            SdeMethod::ReversibleHeun => {
                heun_stage(noise, h, &self.y, &self.yh, &self.f0, &self.g0, &self.dw, &mut self.n1, &mut self.yh1);
                f.drift(tb, &self.yh1, &mut self.f1, sc);
                f.diffusion(tb, &self.yh1, &mut self.g1, sc);
                let (n1, n2) = (&self.n1, &mut self.n2);
                heun_update(noise, h, &self.y, &self.f0, &self.f1, &self.g1, &self.dw, n1, n2, &mut self.y1);
                Some(2)
            }
        }
    }

    /// Makes the step's result the current state (reversible Heun: with its
    /// `ŷ`, `f`, `G`).
    pub fn advance(&mut self, method: SdeMethod) {
        std::mem::swap(&mut self.y, &mut self.y1);
        if method == SdeMethod::ReversibleHeun {
            std::mem::swap(&mut self.yh, &mut self.yh1);
            std::mem::swap(&mut self.f0, &mut self.f1);
            std::mem::swap(&mut self.g0, &mut self.g1);
        }
    }

    /// Reversible Heun's inverse step: from the current `(y, ŷ, f, G)` at
    /// `tb` back to `ta` with the step's `dw` (overwrites the current state).
    /// Costs one drift and one diffusion evaluation.
    pub fn heun_inverse(&mut self, f: &dyn SdeField, ta: f64, tb: f64) {
        let (h, noise) = (tb - ta, self.noise);
        // Current: y = y1, yh = ŷ1, f0 = f1, g0 = G1.
        gdw(noise, &self.g0, &self.dw, &mut self.n2);
        for i in 0..self.y.len() {
            self.yh1[i] = 2.0 * self.y[i] - self.yh[i] - h * self.f0[i] - self.n2[i];
        }
        f.drift(ta, &self.yh1, &mut self.f1, &mut self.scratch);
        f.diffusion(ta, &self.yh1, &mut self.g1, &mut self.scratch);
        gdw(noise, &self.g1, &self.dw, &mut self.n1);
        for i in 0..self.y.len() {
            self.y1[i] = self.y[i] - 0.5 * h * (self.f1[i] + self.f0[i]) - 0.5 * (self.n1[i] + self.n2[i]);
        }
        std::mem::swap(&mut self.y, &mut self.y1);
        std::mem::swap(&mut self.yh, &mut self.yh1);
        std::mem::swap(&mut self.f0, &mut self.f1);
        std::mem::swap(&mut self.g0, &mut self.g1);
    }

    /// `gp += gradient of this VJP` helper: runs the drift VJP of `a` at
    /// `(t, y)` into `gy` and adds its parameter part to `gp_acc`.
    fn drift_vjp(&mut self, f: &dyn DiffSdeField, t: f64, y: &[f64], gp_acc: &mut [f64], second: bool) {
        let gy = if second { &mut self.gy2 } else { &mut self.gy };
        f.drift_vjp(t, y, &self.a, gy, &mut self.gp, &mut self.scratch);
        add(gp_acc, &self.gp);
    }

    fn diffusion_vjp(&mut self, f: &dyn DiffSdeField, t: f64, y: &[f64], gp_acc: &mut [f64], second: bool) {
        let gy = if second { &mut self.gy2 } else { &mut self.gy };
        f.diffusion_vjp(t, y, &self.cg, gy, &mut self.gp, &mut self.scratch);
        add(gp_acc, &self.gp);
    }

    /// Reverses one step of Euler–Maruyama, Milstein or SRA1 from the state
    /// `y` at `ta` (in `self.y`; `dw` set): `lam` (the cotangent of `y1`)
    /// becomes that of `y`, and the parameter gradient is added to `gp`.
    /// Returns the VJPs and evaluations made, or `None` if Milstein's
    /// `d`-VJP is unavailable.
    pub fn vjp_step(
        &mut self,
        f: &dyn DiffSdeField,
        method: SdeMethod,
        ta: f64,
        tb: f64,
        lam: &mut [f64],
        gp: &mut [f64],
    ) -> Option<(u64, u64)> {
        let (h, noise) = (tb - ta, self.noise);
        let y = std::mem::take(&mut self.y);
        let r = match method {
            SdeMethod::EulerMaruyama | SdeMethod::Milstein => {
                for (a, l) in self.a.iter_mut().zip(lam.iter()) {
                    *a = h * l;
                }
                self.drift_vjp(f, ta, &y, gp, false);
                self.mu.copy_from_slice(&self.gy);
                g_cotangent(noise, lam, &self.dw, &mut self.cg);
                self.diffusion_vjp(f, ta, &y, gp, false);
                add(&mut self.mu, &self.gy);
                let mut vjps = 2;
                if method == SdeMethod::Milstein {
                    for ((a, l), w) in self.a.iter_mut().zip(lam.iter()).zip(&self.dw) {
                        *a = 0.5 * l * (w * w - h);
                    }
                    if !f.diffusion_dg_vjp(ta, &y, &self.a, &mut self.gy, &mut self.gp, &mut self.scratch) {
                        self.y = y;
                        return None;
                    }
                    add(gp, &self.gp);
                    add(&mut self.mu, &self.gy);
                    vjps += 1;
                }
                add(lam, &self.mu);
                Some((vjps, 0))
            }
            SdeMethod::Sra1 => {
                // Recompute the stage z (into yh1).
                f.drift(ta, &y, &mut self.f0, &mut self.scratch);
                f.diffusion(ta, &y, &mut self.g0, &mut self.scratch);
                gdw(noise, &self.g0, &self.dw, &mut self.n1);
                for (((z, y), f0), w) in self.yh1.iter_mut().zip(&y).zip(&self.f0).zip(&self.n1) {
                    *z = y + 0.75 * h * f0 + 0.75 * w;
                }
                let z = std::mem::take(&mut self.yh1);
                for (a, l) in self.a.iter_mut().zip(lam.iter()) {
                    *a = TWO_THIRDS * h * l;
                }
                self.drift_vjp(f, ta + 0.75 * h, &z, gp, false);
                self.mu.copy_from_slice(&self.gy); // cotangent of z
                self.yh1 = z;
                for ((a, l), m) in self.a.iter_mut().zip(lam.iter()).zip(&self.mu) {
                    *a = THIRD * h * l + 0.75 * h * m;
                }
                self.drift_vjp(f, ta, &y, gp, false);
                for ((n, l), m) in self.n2.iter_mut().zip(lam.iter()).zip(&self.mu) {
                    *n = l + 0.75 * m;
                }
                g_cotangent(noise, &self.n2, &self.dw, &mut self.cg);
                self.diffusion_vjp(f, ta, &y, gp, true);
                for (i, l) in lam.iter_mut().enumerate() {
                    *l += self.mu[i] + self.gy[i] + self.gy2[i];
                }
                Some((3, 2))
            }
            SdeMethod::ReversibleHeun => unreachable!("reversible Heun is reversed by vjp_heun"),
        };
        self.y = y;
        r
    }

    /// Reverses one reversible Heun step between `ŷ0` (at `ta`, in
    /// `self.yh`) and `ŷ1` (at `tb`, in `self.yh1`), `dw` set: `(lam, lamh)`
    /// (cotangents of `y1`, `ŷ1`) become those of `(y0, ŷ0)`; the parameter
    /// gradient is added to `gp`. Makes four VJPs.
    pub fn vjp_heun(
        &mut self,
        f: &dyn DiffSdeField,
        ta: f64,
        tb: f64,
        lam: &mut [f64],
        lamh: &mut [f64],
        gp: &mut [f64],
    ) {
        let (h, noise) = (tb - ta, self.noise);
        let (y0h, y1h) = (std::mem::take(&mut self.yh), std::mem::take(&mut self.yh1));
        // Through f1, G1 at ŷ1: μ = λ̂1 + ∂/∂ŷ1.
        for (a, l) in self.a.iter_mut().zip(lam.iter()) {
            *a = 0.5 * h * l;
        }
        self.drift_vjp(f, tb, &y1h, gp, false);
        for ((m, lh), g) in self.mu.iter_mut().zip(lamh.iter()).zip(&self.gy) {
            *m = lh + g;
        }
        for (n, l) in self.n2.iter_mut().zip(lam.iter()) {
            *n = 0.5 * l;
        }
        g_cotangent(noise, &self.n2, &self.dw, &mut self.cg);
        self.diffusion_vjp(f, tb, &y1h, gp, false);
        add(&mut self.mu, &self.gy);
        // Through f0, G0 at ŷ0 (they feed ŷ1 with μ and y1 with ½λ).
        for ((a, m), l) in self.a.iter_mut().zip(&self.mu).zip(lam.iter()) {
            *a = h * m + 0.5 * h * l;
        }
        self.drift_vjp(f, ta, &y0h, gp, false);
        for ((n, m), l) in self.n2.iter_mut().zip(&self.mu).zip(lam.iter()) {
            *n = m + 0.5 * l;
        }
        g_cotangent(noise, &self.n2, &self.dw, &mut self.cg);
        self.diffusion_vjp(f, ta, &y0h, gp, true);
        for i in 0..lam.len() {
            let m = self.mu[i];
            lam[i] += 2.0 * m;
            lamh[i] = -m + self.gy[i] + self.gy2[i];
        }
        self.yh = y0h;
        self.yh1 = y1h;
    }
}

/// Work buffers of a lock-step chunk of `b` members of a fixed-step batch:
/// every buffer of [`Work`] for all members back to back (`y` is
/// `[b][n]`, `g0` is `[b][L]`, `dw` is `[b][m]`), so that each stage makes
/// one batched call of the field for the whole chunk
/// ([`SdeField::drift_batch`]). Each member's arithmetic is `Work`'s, so
/// the bits are those of member-by-member solves.
pub(crate) struct BatchWork {
    pub noise: Noise,
    n: usize,
    glen: usize,
    m: usize,
    /// States, next states, and `ŷ` (reversible Heun), `[b][n]`.
    pub y: Vec<f64>,
    pub yh: Vec<f64>,
    pub y1: Vec<f64>,
    pub yh1: Vec<f64>,
    pub f0: Vec<f64>,
    pub f1: Vec<f64>,
    pub g0: Vec<f64>,
    pub g1: Vec<f64>,
    /// The step's Brownian increments, `[b][m]`.
    pub dw: Vec<f64>,
    err: Vec<f64>,
    /// One member's `G ΔW` terms.
    n1: Vec<f64>,
    n2: Vec<f64>,
    scratch: Vec<f64>,
}

impl BatchWork {
    /// Buffers for up to `b` members (see [`BatchWork::resize`]).
    pub fn new(f: &dyn SdeField, b: usize) -> BatchWork {
        let (n, noise) = (f.dim(), f.noise());
        let mut w = BatchWork {
            noise,
            n,
            glen: noise.diffusion_len(n),
            m: noise.channels(n),
            y: Vec::new(),
            yh: Vec::new(),
            y1: Vec::new(),
            yh1: Vec::new(),
            f0: Vec::new(),
            f1: Vec::new(),
            g0: Vec::new(),
            g1: Vec::new(),
            dw: Vec::new(),
            err: Vec::new(),
            n1: vec![0.0; n],
            n2: vec![0.0; n],
            scratch: vec![0.0; f.batch_scratch_len()],
        };
        w.resize(b);
        w
    }

    /// Sizes the buffers for `b` members.
    pub fn resize(&mut self, b: usize) {
        let (n, glen, m) = (self.n, self.glen, self.m);
        for v in [&mut self.y, &mut self.yh, &mut self.y1, &mut self.yh1, &mut self.f0, &mut self.f1, &mut self.err] {
            v.resize(b * n, 0.0);
        }
        self.g0.resize(b * glen, 0.0);
        self.g1.resize(b * glen, 0.0);
        self.dw.resize(b * m, 0.0);
    }

    /// Members in the chunk.
    pub fn members(&self) -> usize {
        self.y.len() / self.n
    }

    /// Member `k`'s state.
    pub fn member(&self, k: usize) -> &[f64] {
        &self.y[k * self.n..(k + 1) * self.n]
    }

    /// Whether member `k`'s next state is finite.
    pub fn next_is_finite(&self, k: usize) -> bool {
        self.y1[k * self.n..(k + 1) * self.n].iter().all(|v| v.is_finite())
    }

    /// [`Work::heun_init`] for every member.
    pub fn heun_init(&mut self, f: &dyn SdeField, t: f64) {
        self.yh.copy_from_slice(&self.y);
        f.drift_batch(t, &self.yh, &mut self.f0, &mut self.scratch);
        f.diffusion_batch(t, &self.yh, &mut self.g0, &mut self.scratch);
    }

    /// [`Work::step`] for every member, with one batched call of the field
    /// per evaluation.
    pub fn step(&mut self, f: &dyn SdeField, method: SdeMethod, ta: f64, tb: f64) -> Option<u64> {
        let h = tb - ta;
        let (noise, n, gl, m) = (self.noise, self.n, self.glen, self.m);
        let sc = &mut self.scratch;
        let rows = 0..self.y.len() / n;
        let (n1, n2) = (&mut self.n1, &mut self.n2);
        match method {
            SdeMethod::EulerMaruyama => {
                f.drift_batch(ta, &self.y, &mut self.f0, sc);
                f.diffusion_batch(ta, &self.y, &mut self.g0, sc);
                for k in rows {
                    let r = k * n..(k + 1) * n;
                    let (y, f0) = (&self.y[r.clone()], &self.f0[r.clone()]);
                    let (g0, dw) = (&self.g0[k * gl..(k + 1) * gl], &self.dw[k * m..(k + 1) * m]);
                    em_update(noise, h, y, f0, g0, dw, n1, &mut self.y1[r]);
                }
                Some(2)
            }
            SdeMethod::Milstein => {
                f.drift_batch(ta, &self.y, &mut self.f0, sc);
                f.diffusion_batch(ta, &self.y, &mut self.g0, sc);
                if !f.diffusion_dg_batch(ta, &self.y, &mut self.f1, sc) {
                    return None;
                }
                for k in rows {
                    let r = k * n..(k + 1) * n;
                    let (y, f0, g0, d) = (&self.y[r.clone()], &self.f0[r.clone()], &self.g0[r.clone()], &self.f1[r]);
                    milstein_update(h, y, f0, g0, d, &self.dw[k * m..(k + 1) * m], &mut self.y1[k * n..(k + 1) * n]);
                }
                Some(3)
            }
            SdeMethod::Sra1 => {
                f.drift_batch(ta, &self.y, &mut self.f0, sc);
                f.diffusion_batch(ta, &self.y, &mut self.g0, sc);
                // Every member's G0 ΔW is needed again after the second
                // drift: keep them in `err` until then.
                for k in rows.clone() {
                    let r = k * n..(k + 1) * n;
                    let (y, f0) = (&self.y[r.clone()], &self.f0[r.clone()]);
                    let (g0, dw) = (&self.g0[k * gl..(k + 1) * gl], &self.dw[k * m..(k + 1) * m]);
                    sra1_stage(noise, h, y, f0, g0, dw, &mut self.err[r.clone()], &mut self.yh1[r]);
                }
                f.drift_batch(ta + 0.75 * h, &self.yh1, &mut self.f1, sc);
                for k in rows {
                    let r = k * n..(k + 1) * n;
                    n1.copy_from_slice(&self.err[r.clone()]);
                    let (y, f0, f1) = (&self.y[r.clone()], &self.f0[r.clone()], &self.f1[r.clone()]);
                    sra1_update(h, y, f0, f1, n1, &mut self.y1[r.clone()], &mut self.err[r]);
                }
                Some(3)
            }
            SdeMethod::ReversibleHeun => {
                // Every member's G0 ΔW is needed again after the evaluation
                // at ŷ1: keep them in `err` until then.
                for k in rows.clone() {
                    let r = k * n..(k + 1) * n;
                    let (y, yh, f0) = (&self.y[r.clone()], &self.yh[r.clone()], &self.f0[r.clone()]);
                    let (g0, dw) = (&self.g0[k * gl..(k + 1) * gl], &self.dw[k * m..(k + 1) * m]);
                    heun_stage(noise, h, y, yh, f0, g0, dw, &mut self.err[r.clone()], &mut self.yh1[r]);
                }
                f.drift_batch(tb, &self.yh1, &mut self.f1, sc);
                f.diffusion_batch(tb, &self.yh1, &mut self.g1, sc);
                for k in rows {
                    let r = k * n..(k + 1) * n;
                    let (y, f0, f1) = (&self.y[r.clone()], &self.f0[r.clone()], &self.f1[r.clone()]);
                    let (g1, dw) = (&self.g1[k * gl..(k + 1) * gl], &self.dw[k * m..(k + 1) * m]);
                    heun_update(noise, h, y, f0, f1, g1, dw, &self.err[r.clone()], n2, &mut self.y1[r]);
                }
                Some(2)
            }
        }
    }

    /// [`Work::advance`] for every member.
    pub fn advance(&mut self, method: SdeMethod) {
        std::mem::swap(&mut self.y, &mut self.y1);
        if method == SdeMethod::ReversibleHeun {
            std::mem::swap(&mut self.yh, &mut self.yh1);
            std::mem::swap(&mut self.f0, &mut self.f1);
            std::mem::swap(&mut self.g0, &mut self.g1);
        }
    }
}
