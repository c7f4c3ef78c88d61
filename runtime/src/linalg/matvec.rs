//! Matrix–vector products in two fixed summation orders.
//!
//! - [`portable`] and `nde_rt_matvec` (*quad-lane*, rows of `A` contiguous): for each row, four
//!   partial sums `l_j` (`j = 0..4`) take the columns `c ≡ j (mod 4)` below
//!   `4⌊k/4⌋` in increasing order, the first as a product and the rest by
//!   FMA; the row's value is `(l_0 + l_2) + (l_1 + l_3)`, then each
//!   remaining column is added by FMA in order. With `k < 4` the value is
//!   `a_0 x_0` followed by FMAs. `k = 0` gives `+0`.
//! - [`portable_t`] and `nde_rt_matvec_t` (*column-axpy*, columns of `A` contiguous): each output is
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
pub(super) unsafe fn rows(m: usize, k: usize, a: *const f64, lda: usize, x: *const f64, y: *mut f64) {
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

    /// Quad-lane partial sums `[l_0, l_1, l_2, l_3]` of rows `a_0 .. a_N`
    /// (`q ≥ 1` quads). With `ALIGNED`, every row starts `d` (1 to 3)
    /// elements past a 32-byte boundary and the loads are aligned, so none
    /// splits a cache line (splits made the product about 40% slower), with
    /// the first and last vectors masked to the row's full quads; without,
    /// the loads are unaligned ([`lanes_unaligned`]).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(in crate::linalg) unsafe fn lanes<const N: usize, const ALIGNED: bool>(
        q: usize,
        d: usize,
        a: *const f64,
        lda: usize,
        x: *const f64,
    ) -> [__m256d; N] {
        // SAFETY (whole body): rows `0..N` of `a` and `x` are readable at `0..4q`;
        // masked lanes are not accessed.
        unsafe {
            if !ALIGNED {
                return lanes_unaligned(q, a, lda, x);
            }
            let mut acc = [_mm256_setzero_pd(); N];
            // Vector `i` holds columns `4i − d .. 4i − d + 4`: lane `L` takes
            // the columns `≡ L − d (mod 4)`, in increasing order. Sums start
            // at −0 (so `fma(w, x, −0)` is the plain product, sign of zero
            // included), and masked lanes add `0 · (−0) = −0`, which changes
            // nothing.
            let lane = _mm256_set_epi64x(3, 2, 1, 0);
            let dv = _mm256_set1_epi64x(d as i64);
            let head = _mm256_cmpgt_epi64(_mm256_add_epi64(lane, _mm256_set1_epi64x(1)), dv);
            let tail = _mm256_cmpgt_epi64(dv, lane);
            let neg0 = _mm256_set1_pd(-0.0);
            let masked_x = |p: *const f64, m: __m256i| {
                _mm256_or_pd(_mm256_maskload_pd(p, m), _mm256_andnot_pd(_mm256_castsi256_pd(m), neg0))
            };
            let xh = masked_x(x.wrapping_sub(d), head);
            for (j, acc) in acc.iter_mut().enumerate() {
                *acc = _mm256_fmadd_pd(_mm256_maskload_pd(a.add(j * lda).wrapping_sub(d), head), xh, neg0);
            }
            for i in 1..q {
                let xv = _mm256_loadu_pd(x.add(4 * i - d));
                for (j, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm256_fmadd_pd(_mm256_load_pd(a.add(j * lda + 4 * i - d)), xv, *acc);
                }
            }
            let xt = masked_x(x.add(4 * q - d), tail);
            for (j, acc) in acc.iter_mut().enumerate() {
                *acc = _mm256_fmadd_pd(_mm256_maskload_pd(a.add(j * lda + 4 * q - d), tail), xt, *acc);
                // Lane `j` <- lane `(j + d) mod 4`.
                *acc = match d {
                    1 => _mm256_permute4x64_pd(*acc, 0b00_11_10_01),
                    2 => _mm256_permute4x64_pd(*acc, 0b01_00_11_10),
                    _ => _mm256_permute4x64_pd(*acc, 0b10_01_00_11),
                };
            }
            acc
        }
    }

    /// [`lanes`] with unaligned loads.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn lanes_unaligned<const N: usize>(q: usize, a: *const f64, lda: usize, x: *const f64) -> [__m256d; N] {
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
    pub(in crate::linalg) fn reduce4(a: [__m256d; 4]) -> __m256d {
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

    /// Rows `0..N` of `a` one at a time: `(l0+l2)+(l1+l3)` plus the tail
    /// columns, stored to `y[0..N]`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(in crate::linalg) unsafe fn finish_rows<const N: usize>(
        acc: [__m256d; N],
        k: usize,
        a: *const f64,
        lda: usize,
        x: *const f64,
        y: *mut f64,
    ) {
        // SAFETY (whole body): rows `0..N` of `a` and `x` readable at `0..k`, `y` at `0..N`.
        unsafe {
            for (j, acc) in acc.iter().enumerate() {
                let v = _mm_add_pd(_mm256_castpd256_pd128(*acc), _mm256_extractf128_pd(*acc, 1));
                let mut s = _mm_cvtsd_f64(_mm_add_sd(v, _mm_unpackhi_pd(v, v)));
                let row = a.add(j * lda);
                for c in k / 4 * 4..k {
                    s = (*row.add(c)).mul_add(*x.add(c), s);
                }
                *y.add(j) = s;
            }
        }
    }

    /// See [`super::portable`]: the same contract and the same bits.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn matvec(m: usize, k: usize, a: *const f64, lda: usize, x: *const f64, y: *mut f64) {
        // Every row's misalignment, when they all share it.
        let addr = a as usize;
        let d = if addr.is_multiple_of(8) && lda.is_multiple_of(4) { addr / 8 % 4 } else { 0 };
        // SAFETY: the caller's contract.
        unsafe {
            if k < 4 {
                super::rows(m, k, a, lda, x, y)
            } else if d == 0 {
                blocks::<false>(m, k, 0, a, lda, x, y)
            } else {
                blocks::<true>(m, k, d, a, lda, x, y)
            }
        }
    }

    /// [`matvec`] for `k ≥ 4` in blocks of rows.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn blocks<const ALIGNED: bool>(
        m: usize,
        k: usize,
        d: usize,
        a: *const f64,
        lda: usize,
        x: *const f64,
        y: *mut f64,
    ) {
        let q = k / 4;
        // SAFETY (whole block): the caller's extents; every row block read is below `m`.
        unsafe {
            // Blocks from the last rows to the first: a column-axpy product
            // over the same matrix (a VJP's `Wᵀu` after the forward `W h`)
            // starts at row 0 and finds the rows read last still in L1. (A
            // matrix about the size of L1 read twice in the same order
            // misses on every line the second time: each miss evicts the
            // line needed next. Measured: `Wᵀu` after `W h` for a 64 × 64
            // `W` in a VJP kernel, 290 → 160 ns.)
            let mut end = m;
            // Twelve rows: 12 accumulators and `x` fill 13 of the 16 `ymm`
            // registers, one load of `x` per 12 FMAs.
            while end >= 12 {
                let r = end - 12;
                let ar = a.add(r * lda);
                let acc = lanes::<12, ALIGNED>(q, d, ar, lda, x);
                for (i, c) in acc.chunks_exact(4).enumerate() {
                    finish4([c[0], c[1], c[2], c[3]], k, ar.add(4 * i * lda), lda, x, y.add(r + 4 * i));
                }
                end = r;
            }
            if end >= 8 {
                let r = end - 8;
                let ar = a.add(r * lda);
                let acc = lanes::<8, ALIGNED>(q, d, ar, lda, x);
                finish4([acc[0], acc[1], acc[2], acc[3]], k, ar, lda, x, y.add(r));
                finish4([acc[4], acc[5], acc[6], acc[7]], k, ar.add(4 * lda), lda, x, y.add(r + 4));
                end = r;
            }
            if end >= 4 {
                let r = end - 4;
                let ar = a.add(r * lda);
                finish4(lanes::<4, ALIGNED>(q, d, ar, lda, x), k, ar, lda, x, y.add(r));
                end = r;
            }
            // The first one to three rows together (independent chains).
            match end {
                1 => finish_rows(lanes::<1, ALIGNED>(q, d, a, lda, x), k, a, lda, x, y),
                2 => finish_rows(lanes::<2, ALIGNED>(q, d, a, lda, x), k, a, lda, x, y),
                3 => finish_rows(lanes::<3, ALIGNED>(q, d, a, lda, x), k, a, lda, x, y),
                _ => {}
            }
        }
    }

    /// Column-axpy for `N` consecutive vectors of four rows starting at row
    /// `r0`, and `E` more vectors starting at rows `extra[e]` (anywhere).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn axpy_block<const N: usize, const E: usize>(
        k: usize,
        a: *const f64,
        lda: usize,
        x: *const f64,
        incx: usize,
        y: *mut f64,
        r0: usize,
        extra: [usize; E],
    ) {
        // SAFETY (whole body): the caller's extents for every vector's rows.
        unsafe {
            let xv = _mm256_broadcast_sd(&*x);
            let (mut acc, mut more) = ([_mm256_setzero_pd(); N], [_mm256_setzero_pd(); E]);
            let ab = a.add(r0);
            for (j, acc) in acc.iter_mut().enumerate() {
                *acc = _mm256_mul_pd(_mm256_loadu_pd(ab.add(4 * j)), xv);
            }
            for (acc, &r) in more.iter_mut().zip(&extra) {
                *acc = _mm256_mul_pd(_mm256_loadu_pd(a.add(r)), xv);
            }
            for c in 1..k {
                let xv = _mm256_broadcast_sd(&*x.add(c * incx));
                let off = c * lda;
                for (j, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm256_fmadd_pd(_mm256_loadu_pd(ab.add(off + 4 * j)), xv, *acc);
                }
                for (acc, &r) in more.iter_mut().zip(&extra) {
                    *acc = _mm256_fmadd_pd(_mm256_loadu_pd(a.add(off + r)), xv, *acc);
                }
            }
            for (j, acc) in acc.iter().enumerate() {
                _mm256_storeu_pd(y.add(r0 + 4 * j), *acc);
            }
            for (acc, &r) in more.iter().zip(&extra) {
                _mm256_storeu_pd(y.add(r), *acc);
            }
        }
    }

    /// [`axpy_block`] with `n ≤ 8` consecutive vectors and the given extras.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn axpy_dispatch(
        k: usize,
        a: *const f64,
        lda: usize,
        x: *const f64,
        incx: usize,
        y: *mut f64,
        r0: usize,
        n: usize,
        extra: &[usize],
    ) {
        macro_rules! by_n {
            ($e:literal, $ex:expr) => {
                match n {
                    0 => axpy_block::<0, $e>(k, a, lda, x, incx, y, r0, $ex),
                    1 => axpy_block::<1, $e>(k, a, lda, x, incx, y, r0, $ex),
                    2 => axpy_block::<2, $e>(k, a, lda, x, incx, y, r0, $ex),
                    3 => axpy_block::<3, $e>(k, a, lda, x, incx, y, r0, $ex),
                    4 => axpy_block::<4, $e>(k, a, lda, x, incx, y, r0, $ex),
                    5 => axpy_block::<5, $e>(k, a, lda, x, incx, y, r0, $ex),
                    6 => axpy_block::<6, $e>(k, a, lda, x, incx, y, r0, $ex),
                    7 => axpy_block::<7, $e>(k, a, lda, x, incx, y, r0, $ex),
                    _ => axpy_block::<8, $e>(k, a, lda, x, incx, y, r0, $ex),
                }
            };
        }
        // SAFETY: forwarded contract.
        unsafe {
            match *extra {
                [] => by_n!(0, []),
                [e0] => by_n!(1, [e0]),
                [e0, e1, ..] => by_n!(2, [e0, e1]),
            }
        }
    }

    /// See [`super::portable_t`]: the same contract and the same bits.
    ///
    /// Vectors of four rows in blocks of up to eight (independent chains;
    /// the last two blocks balanced so neither is short). When the columns of `a` share their
    /// alignment, the consecutive vectors are 32-byte aligned (a split load
    /// costs about as much as two), the rows before the first aligned one
    /// are an extra vector starting at row 0, and a last partial vector is
    /// an extra one ending at row `m`. Rows covered twice are computed twice
    /// identically, so the stored values are the same.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn matvec_t(m: usize, k: usize, a: *const f64, lda: usize, x: *const f64, incx: usize, y: *mut f64) {
        if k == 0 || m < 4 {
            // SAFETY: the caller's extents.
            return unsafe { super::columns(m, k, a, lda, x, incx, y) };
        }
        let addr = a as usize;
        let first = if addr.is_multiple_of(8) && lda.is_multiple_of(4) { (4 - addr / 8 % 4) % 4 } else { 0 };
        let vectors = (m - first) / 4;
        let mut extra = [0usize; 2];
        let mut n_extra = 0;
        if first != 0 {
            extra[n_extra] = 0;
            n_extra += 1;
        }
        if first + 4 * vectors < m {
            extra[n_extra] = m - 4;
            n_extra += 1;
        }
        let (mut r0, mut left) = (first, vectors);
        // SAFETY (whole block): every vector lies within rows `0..m`.
        unsafe {
            while left + n_extra > 16 {
                axpy_dispatch(k, a, lda, x, incx, y, r0, 8, &[]);
                (r0, left) = (r0 + 32, left - 8);
            }
            if left + n_extra > 8 {
                // Two blocks of 5 to 8 vectors (`left ≥ 7 ≥ n_extra`).
                let n1 = (left + n_extra) / 2;
                axpy_dispatch(k, a, lda, x, incx, y, r0, n1, &[]);
                (r0, left) = (r0 + 4 * n1, left - n1);
            }
            axpy_dispatch(k, a, lda, x, incx, y, r0, left, &extra[..n_extra]);
        }
    }
}
