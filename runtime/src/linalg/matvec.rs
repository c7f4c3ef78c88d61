//! Matrix–vector products in two fixed summation orders.
//!
//! - [`matvec`] (*quad-lane*, rows of `A` contiguous): for each row, four
//!   partial sums `l_j` (`j = 0..4`) take the columns `c ≡ j (mod 4)` below
//!   `4⌊k/4⌋` in increasing order, the first as a product and the rest by
//!   FMA; the row's value is `(l_0 + l_2) + (l_1 + l_3)`, then each
//!   remaining column is added by FMA in order. With `k < 4` the value is
//!   `a_0 x_0` followed by FMAs. `k = 0` gives `+0`.
//! - [`matvec_t`] (*column-axpy*, columns of `A` contiguous): each output is
//!   `a_0 x_0`, then FMA over the columns in order.
//!
//! Each routine has an AVX2+FMA version and a portable one with the same
//! operations in the same order (hence the same bits); the code generator's
//! inline `f64x2` lowering follows the same orders too.
//!
//! Never: allocate, read or write outside the extents documented on each
//! routine, or let one output's arithmetic depend on another's.

/// `y[r] = Σ_c a[r·lda + c] · x[c]` for `r < m`, `c < k`, in the quad-lane order.
///
/// # Safety
/// `a` is readable at `r·lda + c`, `x` at `0..k`, `y` writable at `0..m`;
/// `y` does not overlap `a` or `x`.
pub unsafe fn portable(m: usize, k: usize, a: *const f64, lda: usize, x: *const f64, y: *mut f64) {
    // SAFETY: the caller's contract.
    unsafe { rows(m, k, a, lda, x, y) }
}

/// The body of [`portable`], inlined into the SIMD versions too (where
/// `mul_add` is one instruction rather than a libm call).
#[inline(always)]
unsafe fn rows(m: usize, k: usize, a: *const f64, lda: usize, x: *const f64, y: *mut f64) {
    for r in 0..m {
        // SAFETY: the caller's extents.
        unsafe { *y.add(r) = dot(k, a.add(r * lda), x) };
    }
}

/// One row of the quad-lane order, with scalar operations.
#[inline(always)]
unsafe fn dot(k: usize, a: *const f64, x: *const f64) -> f64 {
    // SAFETY (whole body): `a` and `x` are readable at `0..k`.
    let at = |c: usize| unsafe { (*a.add(c), *x.add(c)) };
    let q = k / 4;
    let (mut s, tail) = if q == 0 {
        if k == 0 {
            return 0.0;
        }
        let (w, v) = at(0);
        (w * v, 1)
    } else {
        let mut l = [0.0; 4];
        for (j, lj) in l.iter_mut().enumerate() {
            let (w, v) = at(j);
            *lj = w * v;
        }
        for i in 1..q {
            for (j, lj) in l.iter_mut().enumerate() {
                let (w, v) = at(4 * i + j);
                *lj = w.mul_add(v, *lj);
            }
        }
        ((l[0] + l[2]) + (l[1] + l[3]), 4 * q)
    };
    for c in tail..k {
        let (w, v) = at(c);
        s = w.mul_add(v, s);
    }
    s
}

/// `y[r] = Σ_c a[c·lda + r] · x[c·incx]` for `r < m`, `c < k`, in the
/// column-axpy order.
///
/// # Safety
/// `a` is readable at `c·lda + r`, `x` at `c·incx`, `y` writable at `0..m`;
/// `y` does not overlap `a` or `x`.
pub unsafe fn portable_t(m: usize, k: usize, a: *const f64, lda: usize, x: *const f64, incx: usize, y: *mut f64) {
    // SAFETY: the caller's contract.
    unsafe { columns(m, k, a, lda, x, incx, y) }
}

/// The body of [`portable_t`] (inlined like [`rows`]).
#[inline(always)]
unsafe fn columns(m: usize, k: usize, a: *const f64, lda: usize, x: *const f64, incx: usize, y: *mut f64) {
    for r in 0..m {
        // SAFETY (whole block): the caller's extents.
        unsafe {
            let mut s = if k == 0 { 0.0 } else { *a.add(r) * *x };
            for c in 1..k {
                s = (*a.add(c * lda + r)).mul_add(*x.add(c * incx), s);
            }
            *y.add(r) = s;
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    //! The AVX2+FMA versions: blocks of rows whose partial sums stay in
    //! `ymm` registers, enough of them to hide the FMA latency.

    use std::arch::x86_64::*;

    /// Quad-lane partial sums of rows `a_0 .. a_N` (`q ≥ 1` quads).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn lanes<const N: usize>(q: usize, a: *const f64, lda: usize, x: *const f64) -> [__m256d; N] {
        // SAFETY (whole body): rows `0..N` of `a` and `x` are readable at `0..4q`.
        unsafe {
            let xv = _mm256_loadu_pd(x);
            let mut acc = [_mm256_setzero_pd(); N];
            for (j, acc) in acc.iter_mut().enumerate() {
                *acc = _mm256_mul_pd(_mm256_loadu_pd(a.add(j * lda)), xv);
            }
            for i in 1..q {
                let xv = _mm256_loadu_pd(x.add(4 * i));
                for (j, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm256_fmadd_pd(_mm256_loadu_pd(a.add(j * lda + 4 * i)), xv, *acc);
                }
            }
            acc
        }
    }

    /// `[(l0+l2)+(l1+l3)]` of four rows' partial sums, as one vector.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn reduce4(a: [__m256d; 4]) -> __m256d {
        let s01 = _mm256_add_pd(_mm256_permute2f128_pd(a[0], a[1], 0x20), _mm256_permute2f128_pd(a[0], a[1], 0x31));
        let s23 = _mm256_add_pd(_mm256_permute2f128_pd(a[2], a[3], 0x20), _mm256_permute2f128_pd(a[2], a[3], 0x31));
        // [r0, r2, r1, r3] -> [r0, r1, r2, r3]
        _mm256_permute4x64_pd(_mm256_hadd_pd(s01, s23), 0b11_01_10_00)
    }

    /// Rows `0..4` of `a`: reduced sums plus the tail columns, stored to `y[0..4]`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn finish4(acc: [__m256d; 4], k: usize, a: *const f64, lda: usize, x: *const f64, y: *mut f64) {
        let mut s = reduce4(acc);
        // SAFETY (whole block): rows `0..4` of `a` and `x` readable at `0..k`, `y` at `0..4`.
        unsafe {
            for c in k / 4 * 4..k {
                let w = _mm256_set_pd(*a.add(3 * lda + c), *a.add(2 * lda + c), *a.add(lda + c), *a.add(c));
                s = _mm256_fmadd_pd(w, _mm256_broadcast_sd(&*x.add(c)), s);
            }
            _mm256_storeu_pd(y, s);
        }
    }

    /// See [`super::portable`]: the same contract and the same bits.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn matvec(m: usize, k: usize, a: *const f64, lda: usize, x: *const f64, y: *mut f64) {
        let q = k / 4;
        let mut r = 0;
        // SAFETY (whole block): the caller's extents; every row block read is below `m`.
        unsafe {
            if q > 0 {
                // Twelve rows: 12 accumulators and `x` fill 13 of the 16 `ymm`
                // registers, one load of `x` per 12 FMAs.
                while r + 12 <= m {
                    let ar = a.add(r * lda);
                    let acc = lanes::<12>(q, ar, lda, x);
                    for (i, c) in acc.chunks_exact(4).enumerate() {
                        finish4([c[0], c[1], c[2], c[3]], k, ar.add(4 * i * lda), lda, x, y.add(r + 4 * i));
                    }
                    r += 12;
                }
                while r + 8 <= m {
                    let ar = a.add(r * lda);
                    let acc = lanes::<8>(q, ar, lda, x);
                    finish4([acc[0], acc[1], acc[2], acc[3]], k, ar, lda, x, y.add(r));
                    finish4([acc[4], acc[5], acc[6], acc[7]], k, ar.add(4 * lda), lda, x, y.add(r + 4));
                    r += 8;
                }
                while r + 4 <= m {
                    let ar = a.add(r * lda);
                    finish4(lanes::<4>(q, ar, lda, x), k, ar, lda, x, y.add(r));
                    r += 4;
                }
                while r < m {
                    let ar = a.add(r * lda);
                    let [acc] = lanes::<1>(q, ar, lda, x);
                    let v = _mm_add_pd(_mm256_castpd256_pd128(acc), _mm256_extractf128_pd(acc, 1));
                    let mut s = _mm_cvtsd_f64(_mm_add_sd(v, _mm_unpackhi_pd(v, v)));
                    for c in 4 * q..k {
                        s = (*ar.add(c)).mul_add(*x.add(c), s);
                    }
                    *y.add(r) = s;
                    r += 1;
                }
            } else {
                super::rows(m, k, a, lda, x, y);
            }
        }
    }

    /// Column-axpy for `N` vectors of four rows starting at `a`, `y`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn axpy_block<const N: usize>(k: usize, a: *const f64, lda: usize, x: *const f64, incx: usize, y: *mut f64) {
        // SAFETY (whole body): the caller's extents for rows `0..4N`.
        unsafe {
            let xv = _mm256_broadcast_sd(&*x);
            let mut acc = [_mm256_setzero_pd(); N];
            for (j, acc) in acc.iter_mut().enumerate() {
                *acc = _mm256_mul_pd(_mm256_loadu_pd(a.add(4 * j)), xv);
            }
            for c in 1..k {
                let xv = _mm256_broadcast_sd(&*x.add(c * incx));
                let ac = a.add(c * lda);
                for (j, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm256_fmadd_pd(_mm256_loadu_pd(ac.add(4 * j)), xv, *acc);
                }
            }
            for (j, acc) in acc.iter().enumerate() {
                _mm256_storeu_pd(y.add(4 * j), *acc);
            }
        }
    }

    /// See [`super::portable_t`]: the same contract and the same bits.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn matvec_t(m: usize, k: usize, a: *const f64, lda: usize, x: *const f64, incx: usize, y: *mut f64) {
        if k == 0 {
            // SAFETY: the caller's extents.
            return unsafe { super::columns(m, k, a, lda, x, incx, y) };
        }
        let mut r = 0;
        // SAFETY (whole block): the caller's extents; every block is below `m`.
        unsafe {
            while r + 32 <= m {
                axpy_block::<8>(k, a.add(r), lda, x, incx, y.add(r));
                r += 32;
            }
            while r + 4 <= m {
                axpy_block::<1>(k, a.add(r), lda, x, incx, y.add(r));
                r += 4;
            }
            if r < m {
                super::columns(m - r, k, a.add(r), lda, x, incx, y.add(r));
            }
        }
    }
}
