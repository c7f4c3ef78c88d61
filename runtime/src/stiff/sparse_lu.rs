//! Sparse LU factorisation with partial pivoting of the stiff solvers'
//! iteration matrices `α·I − β·J` for a Jacobian `J` kept in a
//! [`JacobianPattern`], through `faer`'s simplicial sparse LU, in real or
//! complex arithmetic ([`Scalar`]: `radau5`'s complex shift).
//!
//! Owns [`SparseLu`]. The symbolic work is done once per solve in
//! [`SparseLu::new`]: the pattern of `M = α·I − β·J` (the Jacobian's pattern
//! with the diagonal added) in compressed sparse columns, the map from each
//! Jacobian entry and each diagonal entry to its place there, and a
//! fill-reducing column order (COLAMD). Each [`SparseLu::factor_shifted`]
//! scatters the values and runs faer's left-looking numeric factorisation
//! with row pivoting; faer sizes the factors' storage on the first
//! factorisation and reuses it after (it grows only if a different pivot
//! sequence fills more). Single-threaded (`Par::Seq`). A zero or
//! non-finite pivot is reported as an error ([`LuError`], shared with the
//! dense LU), never divided by. Never evaluates a field.

use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::perm::PermRef;
use faer::sparse::linalg::colamd;
use faer::sparse::linalg::lu::simplicial::{self, SimplicialLu};
use faer::sparse::{SparseColMatRef, SymbolicSparseColMatRef};
use faer::{Conj, MatMut, Par};

use super::lu::{LuError, Scalar};
use super::pattern::JacobianPattern;

/// The factors of `α·I − β·J` for Jacobians in one pattern.
pub struct SparseLu<T: Scalar = f64> {
    n: usize,
    /// Compressed sparse columns of `M`: `n + 1` offsets and row indices
    /// (sorted within each column).
    col_ptr: Vec<usize>,
    row_idx: Vec<usize>,
    /// `M`'s values, in `row_idx` order.
    values: Vec<T>,
    /// For each entry of the Jacobian's pattern (in its order), its place
    /// in `values`.
    from_jac: Vec<usize>,
    /// For each `i`, the place of `M[i, i]` in `values`.
    diag: Vec<usize>,
    col_perm: Vec<usize>,
    col_perm_inv: Vec<usize>,
    row_perm: Vec<usize>,
    row_perm_inv: Vec<usize>,
    lu: SimplicialLu<usize, T>,
    mem: MemBuffer,
    factored: bool,
}

impl<T: Scalar> SparseLu<T> {
    /// The symbolic analysis for `n × n` Jacobians in `pattern` (checked by
    /// the caller with [`JacobianPattern::validate`]).
    pub fn new(n: usize, pattern: &JacobianPattern) -> SparseLu<T> {
        // Column counts of M = pattern ∪ diagonal.
        let mut col_ptr = vec![0usize; n + 1];
        for i in 0..n {
            let row = pattern.row(i);
            for &j in row {
                col_ptr[j + 1] += 1;
            }
            if row.binary_search(&i).is_err() {
                col_ptr[i + 1] += 1;
            }
        }
        for j in 0..n {
            col_ptr[j + 1] += col_ptr[j];
        }
        let nnz = col_ptr[n];
        let mut next = col_ptr.clone();
        let mut row_idx = vec![0usize; nnz];
        let mut from_jac = vec![0usize; pattern.nnz()];
        let mut diag = vec![0usize; n];
        // Rows in increasing order, so each column's rows come out sorted.
        for (i, d) in diag.iter_mut().enumerate() {
            let row = pattern.row(i);
            let mut place = |j: usize| {
                let at = next[j];
                row_idx[at] = i;
                next[j] += 1;
                at
            };
            let mut have_diag = false;
            for (k, &j) in (pattern.rows[i]..).zip(row) {
                if !have_diag && j > i {
                    *d = place(i);
                    have_diag = true;
                }
                from_jac[k] = place(j);
                if j == i {
                    *d = from_jac[k];
                    have_diag = true;
                }
            }
            if !have_diag {
                *d = place(i);
            }
        }
        let mut col_perm = vec![0usize; n];
        let mut col_perm_inv = vec![0usize; n];
        {
            let symbolic = SymbolicSparseColMatRef::new_checked(n, n, &col_ptr, None, &row_idx);
            let mut mem = MemBuffer::new(colamd::order_scratch::<usize>(n, n, nnz));
            let stack = MemStack::new(&mut mem);
            // Cannot fail for a checked pattern of this size (faer reports
            // only index overflow).
            if colamd::order(&mut col_perm, &mut col_perm_inv, symbolic, colamd::Control::default(), stack).is_err() {
                for (k, (p, q)) in col_perm.iter_mut().zip(col_perm_inv.iter_mut()).enumerate() {
                    (*p, *q) = (k, k);
                }
            }
        }
        let req = StackReq::any_of(&[
            simplicial::factorize_simplicial_numeric_lu_scratch::<usize, T>(n, n),
            simplicial::solve_in_place_scratch::<usize, T>(n, 1, Par::Seq),
        ]);
        SparseLu {
            n,
            col_ptr,
            row_idx,
            values: vec![T::real(0.0); nnz],
            from_jac,
            diag,
            col_perm,
            col_perm_inv,
            row_perm: vec![0; n],
            row_perm_inv: vec![0; n],
            lu: SimplicialLu::new(),
            mem: MemBuffer::new(req),
            factored: false,
        }
    }

    /// Entries of `M` (the Jacobian's pattern plus the diagonal).
    pub fn nnz(&self) -> usize {
        self.row_idx.len()
    }

    /// Entries of the last factors `L` and `U` (a measure of fill-in).
    pub fn factor_nnz(&self) -> usize {
        if self.factored {
            self.lu.l_factor_unsorted().compute_nnz() + self.lu.u_factor_unsorted().compute_nnz()
        } else {
            0
        }
    }

    /// Factorises `alpha·I − beta·J` for `J`'s values `jac` in the
    /// pattern's order.
    pub fn factor_shifted(&mut self, alpha: T, beta: f64, jac: &[f64]) -> Result<(), LuError> {
        self.factored = false;
        debug_assert_eq!(jac.len(), self.from_jac.len());
        self.values.fill(T::real(0.0));
        let mut finite = alpha.finite() && beta.is_finite();
        for (&at, &v) in self.from_jac.iter().zip(jac) {
            finite &= v.is_finite();
            self.values[at] = T::real(-beta * v);
        }
        if !finite {
            return Err(LuError::NotFinite);
        }
        for &at in &self.diag {
            self.values[at] += alpha;
        }
        let n = self.n;
        let symbolic = SymbolicSparseColMatRef::new_checked(n, n, &self.col_ptr, None, &self.row_idx);
        let a = SparseColMatRef::new(symbolic, &self.values);
        let col_perm = PermRef::new_checked(&self.col_perm, &self.col_perm_inv, n);
        let stack = MemStack::new(&mut self.mem);
        let res = simplicial::factorize_simplicial_numeric_lu(
            &mut self.row_perm,
            &mut self.row_perm_inv,
            &mut self.lu,
            a,
            col_perm,
            stack,
        );
        match res {
            Ok(()) => {}
            Err(faer::sparse::linalg::LuError::SymbolicSingular { index }) => {
                return Err(LuError::Singular { column: self.col_perm[index] })
            }
            // Only an allocation failure.
            Err(faer::sparse::linalg::LuError::Generic(_)) => return Err(LuError::Singular { column: 0 }),
        }
        // The pivot of step j is U's entry in (permuted) row j of column j.
        let u = self.lu.u_factor_unsorted();
        for j in 0..n {
            let rows = u.row_idx_of_col_raw(j);
            let vals = u.val_of_col(j);
            let pivot = rows.iter().zip(vals).find(|(r, _)| **r == j).map_or(T::real(0.0), |(_, v)| *v);
            if pivot.is_zero() || !pivot.finite() {
                return Err(LuError::Singular { column: self.col_perm[j] });
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
        let row_perm = PermRef::new_checked(&self.row_perm, &self.row_perm_inv, n);
        let col_perm = PermRef::new_checked(&self.col_perm, &self.col_perm_inv, n);
        let rhs = MatMut::from_column_major_slice_mut(b, n, 1);
        let stack = MemStack::new(&mut self.mem);
        self.lu.solve_in_place_with_conj(row_perm, col_perm, Conj::No, rhs, Par::Seq, stack);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::c64;

    /// `(αI − βJ) x` for a Jacobian given by pattern and values.
    fn apply(alpha: f64, beta: f64, p: &JacobianPattern, jac: &[f64], x: &[f64]) -> Vec<f64> {
        let n = x.len();
        (0..n)
            .map(|i| {
                let jx: f64 = (p.rows[i]..p.rows[i + 1]).map(|k| jac[k] * x[p.cols[k]]).sum();
                alpha * x[i] - beta * jx
            })
            .collect()
    }

    #[test]
    fn solves_shifted_systems_with_and_without_stored_diagonals() {
        // Only row 1 stores its diagonal; with α = 0 the matrix is −βJ itself.
        let rows = vec![vec![1, 3], vec![0, 1, 2], vec![1, 3], vec![0, 2]];
        let p = JacobianPattern::from_rows(&rows);
        let jac = [2.0, -1.0, 0.5, 3.0, 1.0, 4.0, 1.0, 1.5, 0.25];
        let x = [1.0, -2.0, 0.5, 3.0];
        let mut lu = SparseLu::new(4, &p);
        assert_eq!(lu.nnz(), 9 + 3);
        for (alpha, beta) in [(1.0, 0.1), (0.0, -1.0), (5.0, 2.0)] {
            let mut b = apply(alpha, beta, &p, &jac, &x);
            lu.factor_shifted(alpha, beta, &jac).unwrap();
            assert!(lu.factor_nnz() >= 4);
            lu.solve_in_place(&mut b);
            for (got, want) in b.iter().zip(x) {
                assert!((got - want).abs() < 1e-13, "α = {alpha}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn solves_a_complex_shift_like_the_real_block_system() {
        // ((a + ib)·I − J) (x + iy) = u + iv is the real system
        // [[aI − J, −bI], [bI, aI − J]] [x; y] = [u; v].
        let rows = vec![vec![1, 3], vec![0, 1, 2], vec![1, 3], vec![0, 2]];
        let p = JacobianPattern::from_rows(&rows);
        let jac = [2.0, -1.0, 0.5, 3.0, 1.0, 4.0, 1.0, 1.5, 0.25];
        let (a, b) = (0.7, 1.3);
        let x = [1.0, -2.0, 0.5, 3.0];
        let y = [0.25, 1.0, -1.5, 2.0];
        let ax = apply(a, 1.0, &p, &jac, &x);
        let ay = apply(a, 1.0, &p, &jac, &y);
        let mut rhs: Vec<c64> = (0..4).map(|i| c64::new(ax[i] - b * y[i], ay[i] + b * x[i])).collect();
        let mut lu = SparseLu::<c64>::new(4, &p);
        lu.factor_shifted(c64::new(a, b), 1.0, &jac).unwrap();
        lu.solve_in_place(&mut rhs);
        for i in 0..4 {
            assert!((rhs[i].re - x[i]).abs() < 1e-13 && (rhs[i].im - y[i]).abs() < 1e-13, "{i}: {}", rhs[i]);
        }
        assert_eq!(lu.factor_shifted(c64::new(f64::INFINITY, 0.0), 1.0, &jac), Err(LuError::NotFinite));
    }

    #[test]
    fn singular_and_non_finite_matrices_are_errors() {
        // J = diag(1, 1) with no off-diagonals: I − J is exactly zero.
        let p = JacobianPattern::from_rows(&[vec![0], vec![1]]);
        let mut lu = SparseLu::new(2, &p);
        assert!(matches!(lu.factor_shifted(1.0, 1.0, &[1.0, 1.0]), Err(LuError::Singular { .. })));
        assert_eq!(lu.factor_shifted(1.0, 1.0, &[f64::NAN, 0.0]), Err(LuError::NotFinite));
        assert!(lu.factor_shifted(1.0, 1.0, &[0.5, 0.5]).is_ok());
        // A structurally singular matrix: column 1 is empty when α = 0.
        let p = JacobianPattern::from_rows(&[vec![0], vec![0]]);
        let mut lu = SparseLu::new(2, &p);
        assert!(matches!(lu.factor_shifted(0.0, -1.0, &[1.0, 2.0]), Err(LuError::Singular { .. })));
    }

    #[test]
    fn a_large_tridiagonal_system_factorises_with_little_fill() {
        let n: usize = 2000;
        let rows: Vec<Vec<usize>> = (0..n).map(|i| (i.saturating_sub(1)..(i + 2).min(n)).collect()).collect();
        let p = JacobianPattern::from_rows(&rows);
        let jac: Vec<f64> =
            (0..n).flat_map(|i| rows[i].iter().map(move |&j| if i == j { -2.0 } else { 1.0 })).collect();
        let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
        let mut b = apply(1.0, 0.5, &p, &jac, &x);
        let mut lu = SparseLu::new(n, &p);
        lu.factor_shifted(1.0, 0.5, &jac).unwrap();
        assert!(lu.factor_nnz() < 8 * n, "fill: {}", lu.factor_nnz());
        lu.solve_in_place(&mut b);
        let err = b.iter().zip(&x).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(err < 1e-12, "{err}");
    }
}
