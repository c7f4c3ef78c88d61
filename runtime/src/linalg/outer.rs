//! Outer products written over a matrix: `a[i·lda + j] = y[j] · x[i·incx]`.
//!
//! The gradient of a matrix–vector product with respect to its matrix is
//! the outer product of two vectors; in a compiled VJP kernel these are
//! the largest outputs (a 64 × 64 weight matrix is 4096 values), and
//! writing them is bound by the machine's store bandwidth. Every element
//! is one IEEE product with no summation, so every implementation — the
//! AVX2 one here, the portable one, the code generator's inline `f64x2`
//! lowering — gives the same bits (up to which operand's payload a NaN
//! keeps, as with any product).
//!
//! Never: read or write outside the extents documented on [`portable`],
//! accumulate into `a` (its old contents are never read), or allocate.

/// `a[i·lda + j] = y[j] · x[i·incx]` for `i < m`, `j < n`.
///
/// # Safety
/// `x` is readable at `i·incx`, `y` at `0..n`, `a` writable at `i·lda + j`
/// (`i < m`, `j < n`); `a` overlaps neither `x` nor `y`.
pub unsafe fn portable(m: usize, n: usize, x: *const f64, incx: usize, y: *const f64, a: *mut f64, lda: usize) {
    for i in 0..m {
        // SAFETY (whole block): the caller's extents.
        unsafe {
            let xi = *x.add(i * incx);
            let row = a.add(i * lda);
            for j in 0..n {
                *row.add(j) = *y.add(j) * xi;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    //! Row by row, four products per instruction; each row's stores are
    //! aligned to 32 bytes (a 256-bit store that straddles a cache line
    //! costs about twice as much, and the loop is store-bound), with the
    //! one to three elements before the first aligned address and after
    //! the last full vector written by 128-bit and scalar stores.

    use std::arch::x86_64::*;

    /// One row: `r[j] = y[j] · xi` for `j < n`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn row(n: usize, xi: f64, y: *const f64, r: *mut f64) {
        let xb = _mm256_set1_pd(xi);
        let x2 = _mm256_castpd256_pd128(xb);
        // SAFETY (whole body): `y` readable and `r` writable at `0..n`; every
        // access below is at an index under `n`.
        unsafe {
            if !(r as usize).is_multiple_of(8) {
                // Elements never start on a 32-byte boundary (a foreign
                // caller's misaligned buffer): unaligned scalar accesses.
                for j in 0..n {
                    r.add(j).write_unaligned(y.add(j).read_unaligned() * xi);
                }
                return;
            }
            // Elements before the first 32-byte boundary.
            let head = ((4 - r as usize / 8 % 4) % 4).min(n);
            let mut j = 0;
            if head & 1 != 0 {
                *r = *y * xi;
                j = 1;
            }
            if head & 2 != 0 {
                _mm_storeu_pd(r.add(j), _mm_mul_pd(_mm_loadu_pd(y.add(j)), x2));
                j += 2;
            }
            while j + 8 <= n {
                _mm256_store_pd(r.add(j), _mm256_mul_pd(_mm256_loadu_pd(y.add(j)), xb));
                _mm256_store_pd(r.add(j + 4), _mm256_mul_pd(_mm256_loadu_pd(y.add(j + 4)), xb));
                j += 8;
            }
            if j + 4 <= n {
                _mm256_store_pd(r.add(j), _mm256_mul_pd(_mm256_loadu_pd(y.add(j)), xb));
                j += 4;
            }
            if j + 2 <= n {
                _mm_storeu_pd(r.add(j), _mm_mul_pd(_mm_loadu_pd(y.add(j)), x2));
                j += 2;
            }
            if j < n {
                *r.add(j) = *y.add(j) * xi;
            }
        }
    }

    /// See [`super::portable`]: the same contract and the same bits.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn outer(m: usize, n: usize, x: *const f64, incx: usize, y: *const f64, a: *mut f64, lda: usize) {
        for i in 0..m {
            // SAFETY: the caller's extents for row `i`.
            unsafe { row(n, *x.add(i * incx), y, a.add(i * lda)) }
        }
    }
}
