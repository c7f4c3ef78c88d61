//! The dense output of a whole stiff solve, for the adjoints that need the
//! forward trajectory between save times ([`super::adjoint`]).
//!
//! Owns [`StepObserver`] (what a solve tells an observer after each
//! accepted step), [`DenseStep`] (that step's interpolant, from the method's
//! own dense output — the one that fills save times between steps) and
//! [`DenseTape`] (every accepted step's interpolation data, evaluated at any
//! time). The methods keep their formulas; this module only stores what they
//! already compute and evaluates it with the same formulas. Observing never
//! changes a solve's steps or bits.
//!
//! What a step stores (`n` states):
//! - `rodas5`: `y0`, `y1` and the three continuous-extension vectors
//!   `K1..K3` (`5n`);
//! - `kvaerno5`: `y0`, `f0`, `y1`, `f1` of the cubic Hermite (`4n`);
//! - `radau5`: `y0` and the stage increments `Z_1..Z_3` of the collocation
//!   polynomial (`4n`);
//! - `bdf`: the rows `D_0..D_k` of the difference array after the step
//!   (`(k + 1)·n` for order `k`).

use super::StiffMethod;

/// The interpolant of one accepted step `[t0, t1]`.
pub(crate) trait DenseStep {
    /// The state at `t0 + theta·(t1 − t0)` into `out`.
    fn eval(&self, theta: f64, out: &mut [f64]);
    /// Appends the step's interpolation data (the layout of the module
    /// docs) to `data`.
    fn append(&self, data: &mut Vec<f64>);
}

/// Told about every accepted step of a stiff solve, in order.
pub(crate) trait StepObserver {
    fn accepted(&mut self, t0: f64, t1: f64, step: &dyn DenseStep);
}

impl StepObserver for () {
    fn accepted(&mut self, _t0: f64, _t1: f64, _step: &dyn DenseStep) {}
}

/// The dense output of a whole solve: every accepted step's times and
/// interpolation data.
pub(crate) struct DenseTape {
    method: StiffMethod,
    n: usize,
    /// `t_0 … t_N`.
    times: Vec<f64>,
    /// Step `i`'s data is `data[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<usize>,
    data: Vec<f64>,
}

impl DenseTape {
    pub fn new(method: StiffMethod, n: usize, t0: f64) -> DenseTape {
        DenseTape { method, n, times: vec![t0], offsets: vec![0], data: Vec::with_capacity(64 * 5 * n) }
    }

    /// Accepted steps recorded.
    pub fn steps(&self) -> usize {
        self.times.len() - 1
    }

    /// State-sized vectors stored.
    pub fn stored_states(&self) -> usize {
        self.data.len() / self.n.max(1)
    }

    /// The step whose interval holds `t` (the first or last step for times
    /// outside the solved interval). Needs at least one step.
    pub fn step_of(&self, t: f64) -> usize {
        let steps = self.steps();
        self.times.partition_point(|&x| x < t).saturating_sub(1).min(steps.saturating_sub(1))
    }

    /// Step `i`'s start and end times.
    pub fn interval(&self, i: usize) -> (f64, f64) {
        (self.times[i], self.times[i + 1])
    }

    /// The dense output at `t` into `out`; does nothing if no step was
    /// taken.
    pub fn eval(&self, t: f64, out: &mut [f64]) {
        if self.steps() > 0 {
            self.eval_step(self.step_of(t), t, out);
        }
    }

    /// Step `i`'s interpolating polynomial at `t` (also slightly outside
    /// its interval, for difference quotients that stay on one piece).
    pub fn eval_step(&self, i: usize, t: f64, out: &mut [f64]) {
        let n = self.n;
        let (t0, t1) = self.interval(i);
        let h = t1 - t0;
        let rec = &self.data[self.offsets[i]..self.offsets[i + 1]];
        let theta = (t - t0) / h;
        match self.method {
            StiffMethod::Rodas5 => {
                let v = |j: usize| &rec[j * n..(j + 1) * n];
                super::rodas5::continuous(theta, v(0), v(1), [v(2), v(3), v(4)], out);
            }
            StiffMethod::Kvaerno5 => {
                let v = |j: usize| &rec[j * n..(j + 1) * n];
                super::work::hermite(theta, h, v(0), v(1), v(2), v(3), out);
            }
            StiffMethod::Radau5 => {
                let v = |j: usize| &rec[j * n..(j + 1) * n];
                super::radau5::collocation(theta, v(0), [v(1), v(2), v(3)], out);
            }
            StiffMethod::Bdf => {
                let order = rec.len() / n - 1;
                super::bdf::interpolate(rec, n, order, t1, h, t, out);
            }
        }
    }
}

impl StepObserver for DenseTape {
    fn accepted(&mut self, _t0: f64, t1: f64, step: &dyn DenseStep) {
        step.append(&mut self.data);
        self.times.push(t1);
        self.offsets.push(self.data.len());
    }
}
