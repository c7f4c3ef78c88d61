//! What a solve returns: the saved states and the work it took.
//!
//! Owns [`Solution`], [`BatchSolution`] and [`Stats`]: plain row-major data,
//! filled by [`crate::solve()`] / [`crate::solve_batch`]. Never computes
//! anything numerical itself.

/// The work a solve did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Evaluations of the vector field, including start-up ones (the
    /// initial-step heuristic, the first stage, and the end derivative
    /// fixed-step methods use for dense output).
    pub nfe: u64,
    /// Accepted steps (for fixed-step methods: all steps).
    pub accepted: u64,
    /// Rejected steps (always 0 for fixed-step methods).
    pub rejected: u64,
}

impl Stats {
    /// Attempted steps: accepted plus rejected (diffrax's `num_steps`).
    pub fn steps(&self) -> u64 {
        self.accepted + self.rejected
    }
}

/// One trajectory, saved at the requested times.
#[derive(Clone, Debug, PartialEq)]
pub struct Solution {
    /// The save times, as requested.
    pub t: Vec<f64>,
    /// Row-major: `t.len()` rows of `n_state` values.
    pub y: Vec<f64>,
    /// Length of the state vector.
    pub n_state: usize,
    pub stats: Stats,
}

impl Solution {
    /// The state at save time `i`.
    ///
    /// # Panics
    /// If `i >= self.t.len()` (like slice indexing).
    pub fn row(&self, i: usize) -> &[f64] {
        &self.y[i * self.n_state..(i + 1) * self.n_state]
    }

    /// The state at the last save time (empty if nothing was saved).
    pub fn final_state(&self) -> &[f64] {
        let start = self.y.len().saturating_sub(self.n_state);
        &self.y[start..]
    }
}

/// A batch of trajectories sharing the save times.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchSolution {
    /// The save times, as requested.
    pub t: Vec<f64>,
    /// Row-major `[batch][t.len()][n_state]`.
    pub y: Vec<f64>,
    /// Number of trajectories.
    pub batch: usize,
    /// Length of each state vector.
    pub n_state: usize,
    /// One entry per trajectory.
    pub stats: Vec<Stats>,
}

impl BatchSolution {
    /// All saved states of trajectory `b`, row-major `[t.len()][n_state]`.
    ///
    /// # Panics
    /// If `b >= self.batch`.
    pub fn trajectory(&self, b: usize) -> &[f64] {
        let len = self.t.len() * self.n_state;
        &self.y[b * len..(b + 1) * len]
    }

    /// The state of trajectory `b` at save time `i`.
    ///
    /// # Panics
    /// If `b >= self.batch` or `i >= self.t.len()`.
    pub fn row(&self, b: usize, i: usize) -> &[f64] {
        &self.trajectory(b)[i * self.n_state..(i + 1) * self.n_state]
    }
}
