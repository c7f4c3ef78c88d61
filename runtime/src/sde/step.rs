//! One step of each SDE method, its vector–Jacobian product, and reversible
//! Heun's algebraic inverse, on buffers made once per solve ([`Work`]).
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
                gdw(noise, &self.g0, &self.dw, &mut self.n1);
                for i in 0..self.y.len() {
                    self.y1[i] = self.y[i] + h * self.f0[i] + self.n1[i];
                }
                Some(2)
            }
            SdeMethod::Milstein => {
                f.drift(ta, &self.y, &mut self.f0, sc);
                f.diffusion(ta, &self.y, &mut self.g0, sc);
                if !f.diffusion_dg(ta, &self.y, &mut self.n2, sc) {
                    return None;
                }
                for i in 0..self.y.len() {
                    let w = self.dw[i];
                    self.y1[i] = self.y[i] + h * self.f0[i] + self.g0[i] * w + 0.5 * self.n2[i] * (w * w - h);
                }
                Some(3)
            }
            SdeMethod::Sra1 => {
                f.drift(ta, &self.y, &mut self.f0, sc);
                f.diffusion(ta, &self.y, &mut self.g0, sc);
                gdw(noise, &self.g0, &self.dw, &mut self.n1);
                for i in 0..self.y.len() {
                    self.yh1[i] = self.y[i] + 0.75 * h * self.f0[i] + 0.75 * self.n1[i];
                }
                f.drift(ta + 0.75 * h, &self.yh1, &mut self.f1, sc);
                for i in 0..self.y.len() {
                    let (f0, f1) = (self.f0[i], self.f1[i]);
                    self.y1[i] = self.y[i] + h * (THIRD * f0 + TWO_THIRDS * f1) + self.n1[i];
                    self.err[i] = TWO_THIRDS * h * (f1 - f0);
                }
                Some(3)
            }
            SdeMethod::ReversibleHeun => {
                gdw(noise, &self.g0, &self.dw, &mut self.n1);
                for i in 0..self.y.len() {
                    self.yh1[i] = 2.0 * self.y[i] - self.yh[i] + h * self.f0[i] + self.n1[i];
                }
                f.drift(tb, &self.yh1, &mut self.f1, sc);
                f.diffusion(tb, &self.yh1, &mut self.g1, sc);
                gdw(noise, &self.g1, &self.dw, &mut self.n2);
                for i in 0..self.y.len() {
                    self.y1[i] = self.y[i] + 0.5 * h * (self.f0[i] + self.f1[i]) + 0.5 * (self.n1[i] + self.n2[i]);
                }
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
