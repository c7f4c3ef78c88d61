//! What to solve ([`SolveSpec`]: times, method, tolerances, seeds) and what
//! a solve returns ([`Solution`]: times, states, outputs, statistics, CSV).
//!
//! The conventions are `nde run`'s: the same default grid (101 save times
//! from `t0` to `t1`), the same method names and defaults, the same CSV.
//! Never prints.

use std::path::Path;

use nde_runtime::io::{self, Array, Table};
use nde_runtime::stiff::Switch;
use nde_runtime::Stats;

use crate::error::Error;

/// How to solve a model: the time span and save times, the method, its
/// tolerances and step limits, and for SDE models the noise seed and the
/// number of sample paths.
///
/// ```
/// let spec = nde::SolveSpec::new(0.0, 10.0).saves(11).method("dopri5").tolerances(1e-8, 1e-10);
/// assert_eq!(spec.save_times()?.len(), 11);
/// assert_eq!(spec.save_times()?[1], 1.0);
/// # Ok::<(), nde::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SolveSpec {
    pub(crate) t0: f64,
    pub(crate) t1: f64,
    pub(crate) saves: usize,
    pub(crate) save_at: Option<Vec<f64>>,
    pub(crate) method: Option<String>,
    pub(crate) rtol: Option<f64>,
    pub(crate) atol: Option<f64>,
    pub(crate) dt: Option<f64>,
    pub(crate) max_steps: Option<usize>,
    pub(crate) threads: usize,
    pub(crate) noise_seed: u64,
    pub(crate) paths: usize,
}

impl SolveSpec {
    /// From `t0` to `t1`, saving at 101 equally spaced times (both ends
    /// included), with the file's only solver declaration or else `tsit5`
    /// (an SDE model: `euler_maruyama`, or `reversible_heun` for a
    /// Stratonovich one) at its default tolerances.
    pub fn new(t0: f64, t1: f64) -> SolveSpec {
        SolveSpec {
            t0,
            t1,
            saves: 101,
            save_at: None,
            method: None,
            rtol: None,
            atol: None,
            dt: None,
            max_steps: None,
            threads: 0,
            noise_seed: 0,
            paths: 1,
        }
    }

    /// Saves at `n` equally spaced times from `t0` to `t1` (at least 2), like `nde run --saves`.
    pub fn saves(mut self, n: usize) -> Self {
        self.saves = n;
        self
    }

    /// Saves at these times instead (increasing, none before `t0`; `t1` is then unused), like `nde run --at`.
    pub fn save_at(mut self, times: &[f64]) -> Self {
        self.save_at = Some(times.to_vec());
        self
    }

    /// The method: a solver declared in the file (`solver fast = ...`) or a
    /// method name: `euler`, `midpoint`, `heun`, `rk4` (fixed step: give
    /// [`SolveSpec::dt`]), `bosh3`, `dopri5`, `tsit5`; stiff `rodas5`,
    /// `kvaerno5`, `bdf`; `auto`; for SDE models `euler_maruyama`,
    /// `milstein`, `sra1`, `reversible_heun`.
    pub fn method(mut self, name: &str) -> Self {
        self.method = Some(name.to_string());
        self
    }

    /// Relative and absolute tolerances of adaptive methods (over the declaration's or the defaults).
    pub fn tolerances(mut self, rtol: f64, atol: f64) -> Self {
        self.rtol = Some(rtol);
        self.atol = Some(atol);
        self
    }

    /// The step size: required by fixed-step methods, the first step of adaptive ones.
    pub fn dt(mut self, dt: f64) -> Self {
        self.dt = Some(dt);
        self
    }

    /// Gives up after this many steps (default 100000).
    pub fn max_steps(mut self, n: usize) -> Self {
        self.max_steps = Some(n);
        self
    }

    /// Worker threads for batches (0, the default: all cores). Results do not depend on it.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n;
        self
    }

    /// SDE models: the seed of the Brownian motion (path `b` uses stream `b`), like `nde run --noise-seed`.
    pub fn noise_seed(mut self, seed: u64) -> Self {
        self.noise_seed = seed;
        self
    }

    /// SDE models: the number of sample paths from one initial state, like `nde run --paths`.
    pub fn paths(mut self, n: usize) -> Self {
        self.paths = n;
        self
    }

    /// The start time.
    pub fn t0(&self) -> f64 {
        self.t0
    }

    /// The save times this spec stands for, checked: finite, increasing, none before `t0`.
    pub fn save_times(&self) -> Result<Vec<f64>, Error> {
        let bad = |m: String| Error::InvalidArgument(m);
        let times = match &self.save_at {
            Some(t) => t.clone(),
            None if self.t1.is_finite() => nde_compiler::driver::choice::linspace(self.t0, self.t1, self.saves.max(2)),
            None => return Err(bad(format!("the end time {} is not finite", self.t1))),
        };
        if !self.t0.is_finite() {
            return Err(bad(format!("the start time {} is not finite", self.t0)));
        }
        if times.is_empty() || times.iter().any(|t| !t.is_finite()) {
            return Err(bad("save times must be finite numbers, at least one".to_string()));
        }
        if times.windows(2).any(|w| w[1] < w[0]) {
            return Err(bad("save times must be in increasing order".to_string()));
        }
        if times[0] < self.t0 {
            return Err(bad(format!("save time {} is before the start time t0 = {}", times[0], self.t0)));
        }
        Ok(times)
    }
}

/// The result of a solve: save times, states (one trajectory, or a batch),
/// the model's outputs at every saved state, and solver statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct Solution {
    pub(crate) t: Vec<f64>,
    pub(crate) y: Vec<f64>,
    pub(crate) n_state: usize,
    pub(crate) batch: Option<usize>,
    pub(crate) stats: Vec<Stats>,
    pub(crate) switches: Vec<Switch>,
    pub(crate) state_names: Vec<String>,
    pub(crate) output_names: Vec<String>,
    pub(crate) outputs: Vec<f64>,
}

impl Solution {
    /// The save times.
    pub fn times(&self) -> &[f64] {
        &self.t
    }

    /// Every saved state, row-major `[trajectory][time][state]`.
    pub fn states(&self) -> &[f64] {
        &self.y
    }

    /// Number of states per row.
    pub fn n_state(&self) -> usize {
        self.n_state
    }

    /// Number of trajectories (1 for a single solve).
    pub fn n_trajectories(&self) -> usize {
        self.batch.unwrap_or(1)
    }

    /// Whether this is a batch (several initial states or sample paths).
    pub fn is_batch(&self) -> bool {
        self.batch.is_some()
    }

    /// Trajectory `b`'s states, row-major `[time][state]` (`None` past the last).
    pub fn trajectory(&self, b: usize) -> Option<&[f64]> {
        let len = self.t.len() * self.n_state;
        self.y.get(b * len..(b + 1) * len)
    }

    /// The state of trajectory `b` at save time `i`.
    pub fn state(&self, b: usize, i: usize) -> Option<&[f64]> {
        let row = self.trajectory(b)?;
        row.get(i * self.n_state..(i + 1) * self.n_state)
    }

    /// One state component over time, by name (`x`, `y[0]`), for trajectory `b`.
    pub fn column(&self, name: &str, b: usize) -> Option<Vec<f64>> {
        let j = self.state_names.iter().position(|n| n == name)?;
        let traj = self.trajectory(b)?;
        Some(traj.chunks(self.n_state).map(|row| row[j]).collect())
    }

    /// Names of the state components ([`crate::Model::state_names`]).
    pub fn state_names(&self) -> &[String] {
        &self.state_names
    }

    /// Names of the output components ([`crate::Model::output_names`]).
    pub fn output_names(&self) -> &[String] {
        &self.output_names
    }

    /// The model's `output`s at every saved state, row-major
    /// `[trajectory][time][output component]` (empty without outputs).
    pub fn outputs(&self) -> &[f64] {
        &self.outputs
    }

    /// Solver statistics, one per trajectory.
    pub fn stats(&self) -> &[Stats] {
        &self.stats
    }

    /// Where an `auto` solve switched method (single solves only; empty otherwise).
    pub fn switches(&self) -> &[Switch] {
        &self.switches
    }

    /// The table `nde run` writes: `t`, the states, then the outputs (and `traj` first for a batch).
    pub fn to_table(&self) -> Table {
        let n = self.n_state.max(1);
        let nt = self.t.len().max(1);
        let width = self.output_names.len();
        let mut columns = Vec::new();
        if self.batch.is_some() {
            columns.push("traj".to_string());
        }
        columns.push("t".to_string());
        columns.extend(self.state_names.iter().cloned());
        columns.extend(self.output_names.iter().cloned());
        let mut data = Vec::with_capacity(self.y.len() + (self.y.len() / n) * (width + 2));
        for (row, y) in self.y.chunks(n).enumerate() {
            if self.batch.is_some() {
                data.push((row / nt) as f64);
            }
            data.push(self.t[row % nt]);
            data.extend_from_slice(y);
            data.extend_from_slice(&self.outputs[row * width..(row + 1) * width]);
        }
        Table { columns, data }
    }

    /// The CSV `nde run` prints (numbers written so they read back to the same bits).
    pub fn to_csv(&self) -> String {
        let mut out = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = io::write_csv_to(&mut out, &self.to_table());
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Writes the solution to `path`, as `nde run -o` does: `.npz` (arrays
    /// `t`, `y` `[time, state]` or `[batch, time, state]`, and one per
    /// output), otherwise CSV ([`Solution::to_csv`]). Written whole or not at all.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        if path.extension().is_some_and(|e| e == "npz") {
            io::write_npz(path, &self.arrays())?;
        } else {
            io::write_csv(path, &self.to_table())?;
        }
        Ok(())
    }

    /// The arrays [`Solution::save`] writes to a `.npz`.
    fn arrays(&self) -> Vec<Array> {
        let nt = self.t.len();
        let lead = |len: usize| match self.batch {
            Some(b) => vec![b, nt, len],
            None => vec![nt, len],
        };
        let mut arrays =
            vec![Array::new("t", vec![nt], self.t.clone()), Array::new("y", lead(self.n_state), self.y.clone())];
        let width = self.output_names.len();
        let mut at = 0;
        // One array per output: its components are consecutive columns named `NAME` or `NAME[i]`.
        while at < width {
            let base = self.output_names[at].split('[').next().unwrap_or_default().to_string();
            let len = self.output_names[at..].iter().take_while(|n| n.split('[').next() == Some(&base)).count();
            let values = self.outputs.chunks(width).flat_map(|r| r[at..at + len].iter().copied()).collect();
            arrays.push(Array::new(base, lead(len), values));
            at += len;
        }
        arrays
    }
}
