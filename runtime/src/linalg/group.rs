//! One matrix times a group of vectors: the matrix–vector products of the
//! members of a batch tile, `y_t = A x_t`, computed together.
//!
//! Every member's product is computed in the quad-lane order of
//! [`mod@super::matvec`] (the same bits as `matvec` on that member alone):
//! the group only changes which products are computed side by side. The
//! AVX2+FMA version works on micro-tiles of four rows × up to three
//! members, one 256-bit accumulator per (row, member) holding the four
//! lanes `l_0..l_3` of the order; each load of a quad of `A` serves every
//! member of the micro-tile and each load of a member's quad every row, and
//! a block of four rows stays in L1 while it is applied to all members (the
//! matrix is read from L2 once per call, not once per member). The
//! remaining columns (`k mod 4`) are added by FMA in order, four rows at a
//! time, exactly as [`mod@super::matvec`] does.
//!
//! Never: allocate, read or write outside the documented extents, or let
//! one member's (or one output's) arithmetic depend on another's.

use super::matvec;

/// `ys[t][r] = Σ_c a[r·lda + c] · xs[t][c]` for `t < n`, `r < m`, `c < k`,
/// each member in the quad-lane order, one member at a time.
///
/// # Safety
/// `xs` and `ys` are readable at `0..n`; `a` is readable at `r·lda + c`,
/// every `xs[t]` at `0..k`, every `ys[t]` writable at `0..m`; no `ys[t]`
/// overlaps `a`, any `xs[u]` or another `ys[u]`.
pub unsafe fn portable(
    m: usize,
    k: usize,
    a: *const f64,
    lda: usize,
    n: usize,
    xs: *const *const f64,
    ys: *const *mut f64,
) {
    for t in 0..n {
        // SAFETY: the caller's contract, member by member.
        unsafe { matvec::portable(m, k, a, lda, *xs.add(t), *ys.add(t)) }
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    //! Micro-tiles of four rows × `G` members in `ymm` registers.

    use super::super::matvec::avx2::{finish_rows, lanes, reduce4};
    use std::arch::x86_64::*;

    /// Members per micro-tile: 12 accumulators, three member quads and one
    /// quad of `A` fill the 16 `ymm` registers (7 loads per 12 FMAs).
    pub const G: usize = 3;

    /// See [`super::portable`]: the same contract and the same bits.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn matvec_group(
        m: usize,
        k: usize,
        a: *const f64,
        lda: usize,
        n: usize,
        xs: *const *const f64,
        ys: *const *mut f64,
    ) {
        // Unaligned loads throughout (no lane rotation as in `matvec`): a
        // block of four rows stays in L1 for all members, and aligned loads
        // of it measured about 20% slower (64 × 64, three or more members),
        // the members' vectors then being loaded across cache lines instead.
        // SAFETY: the caller's contract.
        unsafe {
            if n == 1 {
                super::super::matvec::avx2::matvec(m, k, a, lda, *xs, *ys)
            } else if k == 0 {
                for t in 0..n {
                    super::matvec::rows(m, 0, a, lda, *xs.add(t), *ys.add(t));
                }
            } else if k < 4 {
                short(m, k, a, lda, n, xs, ys)
            } else {
                blocks(m, k, a, lda, n, xs, ys)
            }
        }
    }

    /// Columns `c0..k` of rows `0..4` of `a` as vectors (lane `r` = row `r`).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn columns4(c0: usize, k: usize, a: *const f64, lda: usize) -> ([__m256d; 3], usize) {
        let mut w = [_mm256_setzero_pd(); 3];
        // SAFETY: rows `0..4` of `a` are readable at `0..k`; `k − c0 ≤ 3`.
        unsafe {
            for (c, w) in (c0..k).zip(w.iter_mut()) {
                *w = _mm256_set_pd(*a.add(3 * lda + c), *a.add(2 * lda + c), *a.add(lda + c), *a.add(c));
            }
        }
        (w, k - c0)
    }

    /// `s + Σ_c w[c − c0] x[c]` by FMA in column order (the tail of the
    /// quad-lane order for four rows at once).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tail(mut s: __m256d, w: &[__m256d], c0: usize, x: *const f64) -> __m256d {
        for (i, w) in w.iter().enumerate() {
            // SAFETY: `x` is readable at `c0 + i < k`.
            s = _mm256_fmadd_pd(*w, _mm256_broadcast_sd(unsafe { &*x.add(c0 + i) }), s);
        }
        s
    }

    /// `k` in `1..4`: every output is `a_0 x_0` followed by FMAs; four rows
    /// per vector, the row block's columns gathered once for all members.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn short(
        m: usize,
        k: usize,
        a: *const f64,
        lda: usize,
        n: usize,
        xs: *const *const f64,
        ys: *const *mut f64,
    ) {
        // SAFETY (whole body): the caller's extents; every row block is below `m`.
        unsafe {
            let mut r = 0;
            while r + 4 <= m {
                let ar = a.add(r * lda);
                let (w, nw) = columns4(0, k, ar, lda);
                for t in 0..n {
                    let x = *xs.add(t);
                    let s = _mm256_mul_pd(w[0], _mm256_broadcast_sd(&*x));
                    _mm256_storeu_pd((*ys.add(t)).add(r), tail(s, &w[1..nw], 1, x));
                }
                r += 4;
            }
            if r < m {
                for t in 0..n {
                    super::matvec::rows(m - r, k, a.add(r * lda), lda, *xs.add(t), (*ys.add(t)).add(r));
                }
            }
        }
    }

    /// Quad-lane partial sums of rows `0..4` of `a` for the `N` members `x`
    /// (`q ≥ 1` quads): `acc[r][t]` holds `[l_0, l_1, l_2, l_3]` of row `r`,
    /// member `t`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile<const N: usize>(q: usize, a: *const f64, lda: usize, x: [*const f64; N]) -> [[__m256d; N]; 4] {
        let mut acc = [[_mm256_setzero_pd(); N]; 4];
        // SAFETY (whole body): rows `0..4` of `a` and every `x[t]` are
        // readable at `0..4q`.
        unsafe {
            let xv = x.map(|p| _mm256_loadu_pd(p));
            for (j, acc) in acc.iter_mut().enumerate() {
                let w = _mm256_loadu_pd(a.add(j * lda));
                for (acc, xv) in acc.iter_mut().zip(&xv) {
                    *acc = _mm256_mul_pd(w, *xv);
                }
            }
            for i in 1..q {
                let xv = x.map(|p| _mm256_loadu_pd(p.add(4 * i)));
                for (j, acc) in acc.iter_mut().enumerate() {
                    let w = _mm256_loadu_pd(a.add(j * lda + 4 * i));
                    for (acc, xv) in acc.iter_mut().zip(&xv) {
                        *acc = _mm256_fmadd_pd(w, *xv, *acc);
                    }
                }
            }
        }
        acc
    }

    /// Rows `0..4` of `a` for the `N` members starting at member `t0`:
    /// partial sums, reduction, tail columns `w`, stores to `ys[t][r0..r0+4]`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn members<const N: usize>(
        q: usize,
        a: *const f64,
        lda: usize,
        xs: *const *const f64,
        ys: *const *mut f64,
        r0: usize,
        w: &[__m256d],
    ) {
        // SAFETY (whole body): the caller's extents for members `0..N` of `xs`, `ys`.
        unsafe {
            let x: [*const f64; N] = std::array::from_fn(|t| *xs.add(t));
            let acc = tile::<N>(q, a, lda, x);
            for (t, &x) in x.iter().enumerate() {
                let s = reduce4([acc[0][t], acc[1][t], acc[2][t], acc[3][t]]);
                _mm256_storeu_pd((*ys.add(t)).add(r0), tail(s, w, 4 * q, x));
            }
        }
    }

    /// [`matvec_group`] for `k ≥ 4`: blocks of four rows from the last to
    /// the first (as `matvec`, for a column product over the same matrix
    /// that follows), each applied to all members, `G` at a time; then the
    /// first one to three rows member by member, as `matvec` does them.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn blocks(
        m: usize,
        k: usize,
        a: *const f64,
        lda: usize,
        n: usize,
        xs: *const *const f64,
        ys: *const *mut f64,
    ) {
        let q = k / 4;
        // SAFETY (whole block): the caller's extents; every row block is below `m`.
        unsafe {
            let mut end = m;
            while end >= 4 {
                let r = end - 4;
                let ar = a.add(r * lda);
                let (w, nw) = columns4(4 * q, k, ar, lda);
                let w = &w[..nw];
                // Tiles of three members; four left are two pairs, not three
                // and a single one (each load of `a` would serve one FMA).
                let mut t = 0;
                while n - t >= G && n - t != 4 {
                    members::<G>(q, ar, lda, xs.add(t), ys.add(t), r, w);
                    t += G;
                }
                while n - t >= 2 {
                    members::<2>(q, ar, lda, xs.add(t), ys.add(t), r, w);
                    t += 2;
                }
                if t < n {
                    members::<1>(q, ar, lda, xs.add(t), ys.add(t), r, w);
                }
                end = r;
            }
            for t in 0..n {
                let (x, y) = (*xs.add(t), *ys.add(t));
                match end {
                    1 => finish_rows(lanes::<1, false>(q, 0, a, lda, x), k, a, lda, x, y),
                    2 => finish_rows(lanes::<2, false>(q, 0, a, lda, x), k, a, lda, x, y),
                    3 => finish_rows(lanes::<3, false>(q, 0, a, lda, x), k, a, lda, x, y),
                    _ => {}
                }
            }
        }
    }
}
