//! Hand-written differentiable systems (with analytic VJPs), losses and
//! finite differences shared by the adjoint tests.
#![allow(dead_code)]

use nde_runtime::term::{DiffField, VectorField};
use nde_runtime::{solve, Method, Solution, SolveOptions};

/// `y' = θ y` (one state, one parameter).
pub struct Linear {
    pub theta: f64,
}

impl VectorField for Linear {
    fn dim(&self) -> usize {
        1
    }
    fn eval(&self, _t: f64, y: &[f64], dy: &mut [f64], _s: &mut [f64]) {
        dy[0] = self.theta * y[0];
    }
}

impl DiffField for Linear {
    fn n_params(&self) -> usize {
        1
    }
    fn vjp(&self, _t: f64, y: &[f64], a: &[f64], gy: &mut [f64], gp: &mut [f64], _s: &mut [f64]) {
        gy[0] = a[0] * self.theta;
        gp[0] = a[0] * y[0];
    }
}

/// Lotka–Volterra `x' = αx − βxy`, `y' = δxy − γy`, params `[α, β, δ, γ]`.
pub struct LotkaVolterra {
    pub p: [f64; 4],
}

impl VectorField for LotkaVolterra {
    fn dim(&self) -> usize {
        2
    }
    fn eval(&self, _t: f64, u: &[f64], du: &mut [f64], _s: &mut [f64]) {
        let [al, be, de, ga] = self.p;
        du[0] = al * u[0] - be * u[0] * u[1];
        du[1] = de * u[0] * u[1] - ga * u[1];
    }
}

impl DiffField for LotkaVolterra {
    fn n_params(&self) -> usize {
        4
    }
    fn vjp(&self, _t: f64, u: &[f64], a: &[f64], gy: &mut [f64], gp: &mut [f64], _s: &mut [f64]) {
        let [al, be, de, ga] = self.p;
        let (x, y) = (u[0], u[1]);
        gy[0] = a[0] * (al - be * y) + a[1] * de * y;
        gy[1] = -a[0] * be * x + a[1] * (de * x - ga);
        gp[0] = a[0] * x;
        gp[1] = -a[0] * x * y;
        gp[2] = a[1] * x * y;
        gp[3] = -a[1] * y;
    }
}

/// A damped oscillator `x' = v`, `v' = −k x − c v`, params `[k, c]`.
pub struct Damped {
    pub p: [f64; 2],
}

impl VectorField for Damped {
    fn dim(&self) -> usize {
        2
    }
    fn eval(&self, _t: f64, u: &[f64], du: &mut [f64], _s: &mut [f64]) {
        du[0] = u[1];
        du[1] = -self.p[0] * u[0] - self.p[1] * u[1];
    }
}

impl DiffField for Damped {
    fn n_params(&self) -> usize {
        2
    }
    fn vjp(&self, _t: f64, u: &[f64], a: &[f64], gy: &mut [f64], gp: &mut [f64], _s: &mut [f64]) {
        gy[0] = -a[1] * self.p[0];
        gy[1] = a[0] - a[1] * self.p[1];
        gp[0] = -a[1] * u[0];
        gp[1] = -a[1] * u[1];
    }
}

/// A tiny non-autonomous network `y' = W2 tanh(W1 y + w_t t + b1) + b2`
/// with `D` states and `H` hidden units; params `[W1 (H×D), w_t (H), b1
/// (H), W2 (D×H), b2 (D)]`, row-major. Uses its scratch buffers.
pub struct TanhNet {
    pub d: usize,
    pub h: usize,
    pub p: Vec<f64>,
}

impl TanhNet {
    pub fn n_params_for(d: usize, h: usize) -> usize {
        h * d + 2 * h + d * h + d
    }

    /// Parameters from a fixed-seed generator, scaled like a default init.
    pub fn random(d: usize, h: usize, seed: u64) -> TanhNet {
        let mut rng = Lcg(seed);
        let p = (0..Self::n_params_for(d, h)).map(|_| rng.uniform() - 0.5).collect();
        TanhNet { d, h, p }
    }

    /// `[W1, w_t, b1, W2, b2]`.
    fn parts(&self) -> [&[f64]; 5] {
        let (d, h) = (self.d, self.h);
        let (w1, rest) = self.p.split_at(h * d);
        let (wt, rest) = rest.split_at(h);
        let (b1, rest) = rest.split_at(h);
        let (w2, b2) = rest.split_at(d * h);
        [w1, wt, b1, w2, b2]
    }

    /// Hidden activations `tanh(W1 y + w_t t + b1)` into `hid`.
    fn hidden(&self, t: f64, y: &[f64], hid: &mut [f64]) {
        let [w1, wt, b1, _, _] = self.parts();
        for (j, hj) in hid.iter_mut().enumerate() {
            let z: f64 = w1[j * self.d..(j + 1) * self.d].iter().zip(y).map(|(w, y)| w * y).sum::<f64>();
            *hj = (z + wt[j] * t + b1[j]).tanh();
        }
    }
}

impl VectorField for TanhNet {
    fn dim(&self) -> usize {
        self.d
    }
    fn scratch_len(&self) -> usize {
        self.h
    }
    fn eval(&self, t: f64, y: &[f64], dy: &mut [f64], s: &mut [f64]) {
        let hid = &mut s[..self.h];
        self.hidden(t, y, hid);
        let [_, _, _, w2, b2] = self.parts();
        for (i, dyi) in dy.iter_mut().enumerate() {
            *dyi = w2[i * self.h..(i + 1) * self.h].iter().zip(hid.iter()).map(|(w, h)| w * h).sum::<f64>() + b2[i];
        }
    }
}

impl DiffField for TanhNet {
    fn n_params(&self) -> usize {
        self.p.len()
    }
    fn vjp_scratch_len(&self) -> usize {
        2 * self.h
    }
    fn vjp(&self, t: f64, y: &[f64], a: &[f64], gy: &mut [f64], gp: &mut [f64], s: &mut [f64]) {
        let (d, h) = (self.d, self.h);
        let (hid, gz) = s[..2 * h].split_at_mut(h);
        self.hidden(t, y, hid);
        let [_, _, _, w2, _] = self.parts();
        for j in 0..h {
            let gh: f64 = (0..d).map(|i| a[i] * w2[i * h + j]).sum();
            gz[j] = gh * (1.0 - hid[j] * hid[j]);
        }
        let [w1, _, _, _, _] = self.parts();
        for (k, g) in gy.iter_mut().enumerate() {
            *g = (0..h).map(|j| gz[j] * w1[j * d + k]).sum();
        }
        let (gw1, rest) = gp.split_at_mut(h * d);
        let (gwt, rest) = rest.split_at_mut(h);
        let (gb1, rest) = rest.split_at_mut(h);
        let (gw2, gb2) = rest.split_at_mut(d * h);
        for j in 0..h {
            for k in 0..d {
                gw1[j * d + k] = gz[j] * y[k];
            }
            gwt[j] = gz[j] * t;
            gb1[j] = gz[j];
        }
        for i in 0..d {
            for j in 0..h {
                gw2[i * h + j] = a[i] * hid[j];
            }
            gb2[i] = a[i];
        }
    }
}

/// A small linear congruential generator (fixed seeds, no dependencies).
pub struct Lcg(pub u64);

impl Lcg {
    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A linear loss `L = Σ w ⊙ y` with fixed pseudo-random weights in
/// `[0.5, 1.5)`: its cotangent is `w`, whatever the solution.
pub fn weights(len: usize, seed: u64) -> Vec<f64> {
    let mut rng = Lcg(seed);
    (0..len).map(|_| 0.5 + rng.uniform()).collect()
}

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Options for `method` at the given tolerance (adaptive) or step (fixed).
pub fn opts(method: Method, rtol: f64, dt: Option<f64>) -> SolveOptions {
    SolveOptions { method, rtol, atol: rtol * 1e-3, dt, ..Default::default() }
}

/// `L(p) = w · solve(make(p))`, with `fixed` choosing `solve_fixed`.
pub fn loss<F: DiffField>(
    make: &dyn Fn(&[f64]) -> F,
    p: &[f64],
    y0: &[f64],
    ts: &[f64],
    o: &SolveOptions,
    fixed: bool,
    w: &[f64],
) -> f64 {
    let f = make(p);
    let sol: Solution = if fixed {
        nde_runtime::solve::solve_fixed(&f, 0.0, y0, ts, o).unwrap()
    } else {
        solve(&f, 0.0, y0, ts, o).unwrap()
    };
    dot(&sol.y, w)
}

/// Fourth-order central differences of `g` at `x`:
/// `(8 (g(x+e) − g(x−e)) − (g(x+2e) − g(x−2e))) / 12e` with
/// `e = rel · max(|x_i|, 0.1)`.
pub fn central(g: &dyn Fn(&[f64]) -> f64, x: &[f64], rel: f64) -> Vec<f64> {
    (0..x.len())
        .map(|i| {
            let e = rel * x[i].abs().max(0.1);
            let at = |k: f64| {
                let mut xk = x.to_vec();
                xk[i] += k * e;
                g(&xk)
            };
            (8.0 * (at(1.0) - at(-1.0)) - (at(2.0) - at(-2.0))) / (12.0 * e)
        })
        .collect()
}

/// Largest `|a - b| / max(|b|, floor)`.
pub fn max_rel(a: &[f64], b: &[f64], floor: f64) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs() / y.abs().max(floor)).fold(0.0, f64::max)
}

/// [`max_rel`] with entries below 1% of the largest `|b|` measured
/// against that 1%: componentwise relative error that ignores the
/// cancellation noise of differences in tiny entries.
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    max_rel(a, b, 0.01 * scale)
}

/// `n` evenly spaced times in `(0, t1]` that avoid the step grid.
pub fn save_times(n: usize, t1: f64) -> Vec<f64> {
    (1..=n).map(|i| if i == n { t1 } else { t1 * (i as f64 - 0.37) / n as f64 }).collect()
}
