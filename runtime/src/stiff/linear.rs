//! The linear algebra of a stiff solve behind one type: how the Jacobian
//! is stored and how `α·I − β·J` is factorised and solved, dense or sparse.
//!
//! Owns [`Linear`]: the LU ([`DenseLu`] or [`SparseLu`], with the
//! [`JacobianPattern`] in the sparse case) and the rules for the Jacobian
//! buffer that `work` keeps beside it (row-major `n × n`, or the pattern's
//! values), all allocated once per solve. The methods see only
//! `factor_shifted` and `solve_in_place` (through `work`), so Rosenbrock,
//! ESDIRK, BDF and Radau share every line of it. The choice is the field's: a
//! [`JacField::jacobian_pattern`] makes it sparse. A `Linear<c64>`
//! ([`Linear::twin`]) factorises a complex shift `α·I − J` of the same
//! real Jacobian, dense or sparse like its real twin (`radau5`'s complex
//! pair). Never decides when to evaluate or factorise.

use super::field::JacField;
use super::lu::{DenseLu, LuError, Scalar};
use super::pattern::JacobianPattern;
use super::sparse_lu::SparseLu;

/// The factors of the iteration matrix, real (`T = f64`) or complex.
pub(crate) enum Linear<T: Scalar = f64> {
    /// The Jacobian buffer is row-major `n × n`.
    Dense(DenseLu<T>),
    /// The Jacobian buffer holds `pattern`'s values.
    Sparse { pattern: JacobianPattern, lu: Box<SparseLu<T>> },
}

impl<T: Scalar> Linear<T> {
    /// Dense factors for `n` states, or sparse ones for a pattern
    /// (validated by the caller).
    pub fn new(n: usize, pattern: Option<JacobianPattern>) -> Linear<T> {
        match pattern {
            None => Linear::Dense(DenseLu::new(n)),
            Some(pattern) => {
                let lu = Box::new(SparseLu::new(n, &pattern));
                Linear::Sparse { pattern, lu }
            }
        }
    }

    /// Factors of another scalar type for the same `n` states and the same
    /// storage of the Jacobian (dense, or sparse in the same pattern).
    pub fn twin<U: Scalar>(&self, n: usize) -> Linear<U> {
        match self {
            Linear::Dense(_) => Linear::new(n, None),
            Linear::Sparse { pattern, .. } => Linear::new(n, Some(pattern.clone())),
        }
    }

    /// Length of the Jacobian buffer.
    pub fn jac_len(&self, n: usize) -> usize {
        match self {
            Linear::Dense(_) => n * n,
            Linear::Sparse { pattern, .. } => pattern.nnz(),
        }
    }

    /// The scratch the Jacobian evaluation of `f` needs.
    pub fn scratch_len(&self, f: &dyn JacField) -> usize {
        match self {
            Linear::Dense(_) => f.jac_scratch_len(),
            // `time_derivative` shares the buffer.
            Linear::Sparse { .. } => f.jac_values_scratch_len().max(f.jac_scratch_len()),
        }
    }

    /// Evaluates `∂f/∂y (t, y)` into `jac`.
    pub fn evaluate(&self, f: &dyn JacField, t: f64, y: &[f64], jac: &mut [f64], scratch: &mut [f64]) {
        match self {
            Linear::Dense(_) => f.jacobian(t, y, jac, scratch),
            Linear::Sparse { pattern, .. } => f.jacobian_values(t, y, pattern, jac, scratch),
        }
    }

    /// The infinity norm (largest absolute row sum) of the Jacobian in
    /// `jac`, `n` rows.
    pub fn norm_inf(&self, jac: &[f64], n: usize) -> f64 {
        let row_sum = |r: &[f64]| r.iter().map(|v| v.abs()).sum::<f64>();
        match self {
            Linear::Dense(_) => jac.chunks_exact(n.max(1)).map(row_sum).fold(0.0, f64::max),
            Linear::Sparse { pattern, .. } => {
                (0..n).map(|i| row_sum(&jac[pattern.rows[i]..pattern.rows[i + 1]])).fold(0.0, f64::max)
            }
        }
    }

    /// Factorises `alpha·I − beta·J` for `J` in `jac`.
    pub fn factor_shifted(&mut self, alpha: T, beta: f64, jac: &[f64]) -> Result<(), LuError> {
        match self {
            Linear::Dense(lu) => lu.factor_shifted(alpha, beta, jac),
            Linear::Sparse { lu, .. } => lu.factor_shifted(alpha, beta, jac),
        }
    }

    /// Overwrites `b` with the solution of the last factorised system.
    #[inline]
    pub fn solve_in_place(&mut self, b: &mut [T]) {
        match self {
            Linear::Dense(lu) => lu.solve_in_place(b),
            Linear::Sparse { lu, .. } => lu.solve_in_place(b),
        }
    }
}
