//! What a solve returns: the saved states and the work it took.
//!
//! Owns [`Solution`], [`BatchSolution`] and [`Stats`]: plain row-major data,
//! filled by [`crate::solve()`] / [`crate::solve_batch`]. Never computes
//! anything numerical itself.

/// The work a solve did, and the solver-heuristic regularisers it measured
/// on the way (Pal et al. 2021, 2023; ALGORITHMS.md §2).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Evaluations of the vector field, including start-up ones (the
    /// initial-step heuristic, the first stage, and the end derivative
    /// fixed-step methods use for dense output).
    pub nfe: u64,
    /// Accepted steps (for fixed-step methods: all steps).
    pub accepted: u64,
    /// Rejected steps (always 0 for fixed-step methods). For the stiff
    /// solvers this includes steps retried after a Newton failure or a
    /// singular iteration matrix.
    pub rejected: u64,
    /// Jacobian evaluations `∂f/∂y` (stiff solvers; 0 for explicit ones).
    /// Rosenbrock methods evaluate `∂f/∂t` alongside each, not counted
    /// separately.
    pub njev: u64,
    /// LU factorisations of an iteration matrix (stiff solvers).
    pub nlu: u64,
    /// Newton iterations, each one linear solve with the current factors
    /// and one evaluation of `f` (implicit stiff solvers; 0 for Rosenbrock
    /// methods, which solve linear systems without iterating).
    pub nnewton: u64,
    /// Switches between the explicit and the stiff method of an `auto`
    /// solve ([`crate::stiff::auto`]); 0 for every other solver.
    pub switches: u64,
    /// `R_E = Σ_j EEst_j · |h_j|` over the accepted steps: `EEst` is the
    /// scaled RMS error norm the step-size controller uses (ALGORITHMS.md
    /// §1.1). At a constant step it is measured with `rtol`/`atol` although
    /// they steer nothing (+inf where they cannot scale the error, e.g. both
    /// 0). 0 for methods without an error estimate.
    pub local_error: f64,
    /// `R_S = Σ_j S_j · |h_j|` over the accepted steps, with the stiffness
    /// estimate `S_j = ‖f(Y_b) − f(Y_a)‖ / ‖Y_b − Y_a‖` from the last two
    /// stages, both at `c = 1` (Dopri5, Tsit5: stages 6 and 7, `Y_7 = y1`),
    /// in the unscaled RMS norm (0 where `Y_b = Y_a`). For `y' = λy` it is
    /// `|λ|`. 0 for methods without such a pair of stages (Bosh3 and the
    /// fixed-step methods).
    pub stiffness: f64,
    /// The sampled local-error regulariser `EEst · |dt|` of one extra step
    /// (see [`crate::adjoint::Sampling`]); 0 unless a gradient asked for it.
    pub sampled_local_error: f64,
    /// The stiffness estimate `S` (as in [`Stats::stiffness`], not divided
    /// by a stability-region size and not multiplied by `|dt|`) of that
    /// extra step; 0 unless a gradient asked for it.
    pub sampled_stiffness: f64,
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

/// A batch of trajectories, saved at shared save times or at each
/// trajectory's own (the same number for every trajectory).
#[derive(Clone, Debug, PartialEq)]
pub struct BatchSolution {
    /// The save times shared by every trajectory, as requested; empty when
    /// each trajectory has its own (then see `t_each`).
    pub t: Vec<f64>,
    /// Each trajectory's own save times, row-major `[batch][n_save]`
    /// ([`crate::adjoint::BatchTimes::PerTrajectory`]); empty when they share
    /// `t`. [`BatchSolution::times`] reads either.
    pub t_each: Vec<f64>,
    /// Row-major `[batch][n_save][n_state]`.
    pub y: Vec<f64>,
    /// Number of trajectories.
    pub batch: usize,
    /// Length of each state vector.
    pub n_state: usize,
    /// One entry per trajectory.
    pub stats: Vec<Stats>,
}

impl BatchSolution {
    /// Save times per trajectory.
    pub fn n_save(&self) -> usize {
        if self.t_each.is_empty() {
            self.t.len()
        } else {
            self.t_each.len() / self.batch.max(1)
        }
    }

    /// The save times of trajectory `b`.
    ///
    /// # Panics
    /// If `b >= self.batch` and the save times are per trajectory.
    pub fn times(&self, b: usize) -> &[f64] {
        if self.t_each.is_empty() {
            &self.t
        } else {
            let m = self.n_save();
            &self.t_each[b * m..(b + 1) * m]
        }
    }

    /// All saved states of trajectory `b`, row-major `[n_save][n_state]`.
    ///
    /// # Panics
    /// If `b >= self.batch`.
    pub fn trajectory(&self, b: usize) -> &[f64] {
        let len = self.n_save() * self.n_state;
        &self.y[b * len..(b + 1) * len]
    }

    /// The state of trajectory `b` at its save time `i`.
    ///
    /// # Panics
    /// If `b >= self.batch` or `i >= self.n_save()`.
    pub fn row(&self, b: usize, i: usize) -> &[f64] {
        &self.trajectory(b)[i * self.n_state..(i + 1) * self.n_state]
    }
}
