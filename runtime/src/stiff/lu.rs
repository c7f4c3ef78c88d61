//! Dense LU factorisation with partial pivoting of the stiff solvers'
//! iteration matrices `α·I − β·J`, through `faer`, in real or complex
//! arithmetic (`radau5`'s complex pair `((α + iβ)/h)·I − J`).
//!
//! Owns [`Scalar`] (`f64` or `faer::c64`: what the factors are made of),
//! [`DenseLu`] (the factors, the permutation and faer's work memory,
//! all allocated once per solve) and [`LuError`]. `faer` runs
//! single-threaded (`Par::Seq`): the matrices here are small, and a solve
//! never spawns threads behind a batch's back. A zero or non-finite pivot is
//! reported as an error, never divided by. Never evaluates a field.

use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::lu::partial_pivoting::{factor, solve};
use faer::traits::ComplexField;
use faer::{c64, MatMut, MatRef, Par};

/// The entries of an iteration matrix: `f64`, or `c64` for the complex
/// shift of `radau5`. The Jacobian itself is always real.
pub trait Scalar: ComplexField + Copy + std::ops::AddAssign + 'static {
    /// `x` as a scalar.
    fn real(x: f64) -> Self;
    /// Neither part is NaN or infinite.
    fn finite(self) -> bool;
    /// Exactly zero.
    fn is_zero(self) -> bool;
}

impl Scalar for f64 {
    #[inline]
    fn real(x: f64) -> f64 {
        x
    }
    #[inline]
    fn finite(self) -> bool {
        self.is_finite()
    }
    #[inline]
    fn is_zero(self) -> bool {
        self == 0.0
    }
}

impl Scalar for c64 {
    #[inline]
    fn real(x: f64) -> c64 {
        c64::new(x, 0.0)
    }
    #[inline]
    fn finite(self) -> bool {
        self.re.is_finite() && self.im.is_finite()
    }
    #[inline]
    fn is_zero(self) -> bool {
        self.re == 0.0 && self.im == 0.0
    }
}

/// Why a matrix could not be factorised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LuError {
    /// An entry of the matrix (or of the Jacobian it is built from) is NaN
    /// or infinite.
    NotFinite,
    /// Pivot `column` is exactly zero (the matrix is singular) or
    /// overflowed.
    Singular { column: usize },
}

/// The LU factors of an `n × n` matrix, ready to solve `M x = b`.
pub struct DenseLu<T: Scalar = f64> {
    n: usize,
    /// Column-major `n × n`: `L` below the diagonal (unit diagonal
    /// implied), `U` on and above it.
    lu: Vec<T>,
    perm: Vec<usize>,
    perm_inv: Vec<usize>,
    mem: MemBuffer,
    factored: bool,
}

impl<T: Scalar> DenseLu<T> {
    /// Work space for `n × n` matrices (allocates once).
    pub fn new(n: usize) -> DenseLu<T> {
        let req = StackReq::any_of(&[
            factor::lu_in_place_scratch::<usize, T>(n, n, Par::Seq, Default::default()),
            solve::solve_in_place_scratch::<usize, T>(n, 1, Par::Seq),
        ]);
        DenseLu {
            n,
            lu: vec![T::real(0.0); n * n],
            perm: vec![0; n],
            perm_inv: vec![0; n],
            mem: MemBuffer::new(req),
            factored: false,
        }
    }

    /// Factorises `M = alpha·I − beta·J`, with `jac` row-major `n × n`
    /// (entry `[i * n + j] = J_ij`). On error the previous factors are
    /// gone and [`DenseLu::solve_in_place`] must not be called until a
    /// factorisation succeeds.
    pub fn factor_shifted(&mut self, alpha: T, beta: f64, jac: &[f64]) -> Result<(), LuError> {
        let n = self.n;
        self.factored = false;
        debug_assert_eq!(jac.len(), n * n);
        let mut finite = alpha.finite() && beta.is_finite();
        for i in 0..n {
            let row = &jac[i * n..(i + 1) * n];
            for (j, &v) in row.iter().enumerate() {
                finite &= v.is_finite();
                self.lu[j * n + i] = T::real(-beta * v);
            }
            self.lu[i * n + i] += alpha;
        }
        if !finite {
            return Err(LuError::NotFinite);
        }
        let mat = MatMut::from_column_major_slice_mut(&mut self.lu, n, n);
        let stack = MemStack::new(&mut self.mem);
        factor::lu_in_place(mat, &mut self.perm, &mut self.perm_inv, Par::Seq, stack, Default::default());
        for k in 0..n {
            let p = self.lu[k * n + k];
            if p.is_zero() || !p.finite() {
                return Err(LuError::Singular { column: k });
            }
        }
        self.factored = true;
        Ok(())
    }

    /// Overwrites `b` (`n` values) with `M⁻¹ b` for the last successful
    /// factorisation.
    pub fn solve_in_place(&mut self, b: &mut [T]) {
        debug_assert!(self.factored, "solve before a successful factorisation");
        let n = self.n;
        let lu = MatRef::from_column_major_slice(&self.lu, n, n);
        // `lu_in_place` wrote both permutations; `new_checked` verifies
        // they are inverse to each other (O(n), no unsafe).
        let perm = faer::perm::PermRef::new_checked(&self.perm, &self.perm_inv, n);
        let rhs = MatMut::from_column_major_slice_mut(b, n, 1);
        let stack = MemStack::new(&mut self.mem);
        solve::solve_in_place(lu, lu, perm, rhs, Par::Seq, stack);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matvec(a: &[f64], x: &[f64]) -> Vec<f64> {
        let n = x.len();
        (0..n).map(|i| (0..n).map(|j| a[i * n + j] * x[j]).sum()).collect()
    }

    #[test]
    fn solves_a_system_that_needs_pivoting() {
        // M = 0·I − (−1)·J = J, whose (0, 0) entry is 0: pivoting required.
        let j = [0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 3.0, 0.0, 4.0];
        let x = [1.0, -2.0, 0.5];
        let mut b = matvec(&j, &x);
        let mut lu = DenseLu::new(3);
        lu.factor_shifted(0.0, -1.0, &j).unwrap();
        lu.solve_in_place(&mut b);
        for (got, want) in b.iter().zip(x) {
            assert!((got - want).abs() < 1e-14, "{got} vs {want}");
        }
    }

    #[test]
    fn shift_is_applied_to_the_diagonal_only() {
        // M = 2I − 0.5·J with J = [[2, 4], [6, 8]] gives [[1, −2], [−3, −2]].
        let j = [2.0, 4.0, 6.0, 8.0];
        let m = [1.0, -2.0, -3.0, -2.0];
        let x = [0.25, -1.5];
        let mut b = matvec(&m, &x);
        let mut lu = DenseLu::new(2);
        lu.factor_shifted(2.0, 0.5, &j).unwrap();
        lu.solve_in_place(&mut b);
        assert!((b[0] - x[0]).abs() < 1e-15 && (b[1] - x[1]).abs() < 1e-15, "{b:?}");
    }

    #[test]
    fn solves_a_complex_shifted_system() {
        // M = (1 + 2i)·I − J with J = [[2, 1], [−1, 3]]; x = [1 − i, 0.5 + 2i].
        let j = [2.0, 1.0, -1.0, 3.0];
        let alpha = c64::new(1.0, 2.0);
        let x = [c64::new(1.0, -1.0), c64::new(0.5, 2.0)];
        let m = |i: usize, k: usize| if i == k { alpha - j[i * 2 + k] } else { c64::new(-j[i * 2 + k], 0.0) };
        let mut b: Vec<c64> = (0..2).map(|i| m(i, 0) * x[0] + m(i, 1) * x[1]).collect();
        let mut lu = DenseLu::<c64>::new(2);
        lu.factor_shifted(alpha, 1.0, &j).unwrap();
        lu.solve_in_place(&mut b);
        for (got, want) in b.iter().zip(x) {
            assert!((got - want).norm() < 1e-14, "{got} vs {want}");
        }
        // Exactly singular: the shift is an eigenvalue of J (J = 2i·I has none real).
        let jc = [0.0, -2.0, 2.0, 0.0];
        assert_eq!(lu.factor_shifted(c64::new(0.0, 2.0), 1.0, &jc), Err(LuError::Singular { column: 1 }));
        assert_eq!(lu.factor_shifted(c64::new(f64::NAN, 0.0), 1.0, &j), Err(LuError::NotFinite));
    }

    #[test]
    fn singular_and_non_finite_matrices_are_errors() {
        let mut lu = DenseLu::new(2);
        // Rank one: rows are multiples of each other.
        assert_eq!(lu.factor_shifted(0.0, -1.0, &[1.0, 2.0, 2.0, 4.0]), Err(LuError::Singular { column: 1 }));
        assert_eq!(lu.factor_shifted(1.0, 1.0, &[f64::NAN, 0.0, 0.0, 1.0]), Err(LuError::NotFinite));
        assert_eq!(lu.factor_shifted(1.0, 1.0, &[0.0, f64::INFINITY, 0.0, 1.0]), Err(LuError::NotFinite));
        // Exactly singular shift: I − J with J = I.
        assert_eq!(lu.factor_shifted(1.0, 1.0, &[1.0, 0.0, 0.0, 1.0]), Err(LuError::Singular { column: 0 }));
    }
}
