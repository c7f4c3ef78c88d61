//! Elementwise transcendental functions over whole vectors.
//!
//! Owns the approximation of `tanh` that compiled kernels use, as data (the
//! constants below, which the code generator's inline emitter reads too)
//! and as code: an AVX2+FMA loop four elements at a time and a portable
//! scalar one, both performing exactly the operation sequence of the inline
//! `f64x2` emitter (`compiler/src/codegen/math.rs`), so a `tanh` has the
//! same bits whichever of the three computed it.
//!
//! The method: `a = min(|x|, 20)`, `e = expm1(2a)` with `2a = k ln2 + r`,
//! `|r| ≤ ln2/2` (Cody–Waite with FMA), `expm1(r) = r + r²P(r)` with the
//! degree-10 polynomial [`EXPM1_C`] (Chebyshev interpolation of
//! `(expm1(r) − r)/r²`, approximation error below 0.01 ulp) evaluated as in
//! [`expm1_reduced`],
//! `e = 2^k expm1(r) + (2^k − 1)`, then `tanh = sign(x) · e/(e + 2)`.
//!
//! Never: branch on data, allocate, or read outside `x[0..n]`.

/// 1.5 · 2⁵²: adding it rounds to an integer held in the low mantissa bits.
pub const SHIFT: f64 = 6_755_399_441_055_744.0;
pub const LOG2E: f64 = std::f64::consts::LOG2_E;
/// ln 2 = LN2_HI + LN2_LO (to about 2⁻¹⁰⁶; both full precision, used with FMA).
pub const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fefa_39ef);
pub const LN2_LO: f64 = f64::from_bits(0x3c7a_bc9e_3b39_803f);
/// The bits of 1.0: `2^k` is `(k << 52) + EXP_ONE` reinterpreted.
pub const EXP_ONE: i64 = 0x3ff0_0000_0000_0000;
/// `tanh(x)` rounds to ±1 beyond this.
pub const TANH_CAP: f64 = 20.0;
/// `P(r) = Σ c_i r^i ≈ (expm1(r) − r)/r²` on `|r| ≤ ln2/2`, lowest degree first.
pub const EXPM1_C: [f64; 11] = [
    0.5,
    f64::from_bits(0x3fc5_5555_5555_5557), // 0.1666666666666667
    f64::from_bits(0x3fa5_5555_5555_5556), // 0.04166666666666667
    f64::from_bits(0x3f81_1111_1111_00df), // 0.008333333333326141
    f64::from_bits(0x3f56_c16c_16c1_62d6), // 0.0013888888888883752
    f64::from_bits(0x3f2a_01a0_1abe_6327), // 0.00019841269874800694
    f64::from_bits(0x3efa_01a0_1a6d_7833), // 2.480158732553351e-05
    f64::from_bits(0x3ec7_1de0_2374_79e4), // 2.755725542549107e-06
    f64::from_bits(0x3e92_7e4d_b67a_bc75), // 2.755727366116628e-07
    f64::from_bits(0x3e5a_f4dd_da32_bea9), // 2.5105206480259365e-08
    f64::from_bits(0x3e21_f72f_c848_c527), // 2.0914679452495193e-09
];

/// `expm1(r) = r + r²P(r)` for a reduced argument, with `P` by Estrin's
/// scheme (a short dependency chain), in exactly this order:
/// `r2 = r·r`, `r4 = r2·r2`, `r8 = r4·r4`; `e_{2i,2i+1} = fma(c_{2i+1}, r, c_{2i})`
/// for `i < 5`; `e03 = fma(e23, r2, e01)`, `e47 = fma(e67, r2, e45)`,
/// `e8a = fma(c10, r2, e89)`; `e07 = fma(e47, r4, e03)`;
/// `P = fma(e8a, r8, e07)`; result `fma(r2, P, r)`.
#[inline(always)]
pub fn expm1_reduced(r: f64) -> f64 {
    let c = &EXPM1_C;
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let e01 = c[1].mul_add(r, c[0]);
    let e23 = c[3].mul_add(r, c[2]);
    let e45 = c[5].mul_add(r, c[4]);
    let e67 = c[7].mul_add(r, c[6]);
    let e89 = c[9].mul_add(r, c[8]);
    let e03 = e23.mul_add(r2, e01);
    let e47 = e67.mul_add(r2, e45);
    let e8a = c[10].mul_add(r2, e89);
    let e07 = e47.mul_add(r4, e03);
    let p = e8a.mul_add(r8, e07);
    r2.mul_add(p, r)
}

/// `tanh` of one value by the method above, with scalar operations.
#[inline(always)]
pub fn tanh_scalar(x: f64) -> f64 {
    let a = x.abs();
    // min(cap, a) with a NaN `a` passing through (as `minpd cap, a`).
    let a = if TANH_CAP < a { TANH_CAP } else { a };
    let a2 = a + a;
    let q = a2.mul_add(LOG2E, SHIFT);
    let kf = q - SHIFT;
    let r = kf.mul_add(-LN2_HI, a2);
    let r = kf.mul_add(-LN2_LO, r);
    let em1r = expm1_reduced(r);
    let s = f64::from_bits((q.to_bits() << 52).wrapping_add(EXP_ONE as u64));
    let e = s.mul_add(em1r, s - 1.0);
    let t = e / (e + 2.0);
    f64::from_bits(t.to_bits() | (x.to_bits() & (1 << 63)))
}

/// `y[i] = tanh(x[i] + b[i])` for `i < n` (`tanh(x[i])` when `b` is null),
/// scalar.
///
/// # Safety
/// `x` and `b` (unless null) are readable and `y` writable at `0..n`; `y`
/// is `x` or disjoint from it, and disjoint from `b`.
pub unsafe fn tanh_portable(n: usize, x: *const f64, b: *const f64, y: *mut f64) {
    // SAFETY: the caller's contract.
    unsafe { tanh_body(n, x, b, y) }
}

/// The body of [`tanh_portable`].
#[inline(always)]
unsafe fn tanh_body(n: usize, x: *const f64, b: *const f64, y: *mut f64) {
    for i in 0..n {
        // SAFETY: the caller's extents.
        unsafe {
            let v = if b.is_null() { *x.add(i) } else { *x.add(i) + *b.add(i) };
            *y.add(i) = tanh_scalar(v);
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    //! Four lanes per step; the remainder goes through the scalar code
    //! compiled with FMA.

    use super::*;
    use std::arch::x86_64::*;

    /// [`expm1_reduced`] on four lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn expm1_reduced4(r: __m256d) -> __m256d {
        let c = |i: usize| _mm256_set1_pd(EXPM1_C[i]);
        let r2 = _mm256_mul_pd(r, r);
        let r4 = _mm256_mul_pd(r2, r2);
        let r8 = _mm256_mul_pd(r4, r4);
        let e01 = _mm256_fmadd_pd(c(1), r, c(0));
        let e23 = _mm256_fmadd_pd(c(3), r, c(2));
        let e45 = _mm256_fmadd_pd(c(5), r, c(4));
        let e67 = _mm256_fmadd_pd(c(7), r, c(6));
        let e89 = _mm256_fmadd_pd(c(9), r, c(8));
        let e03 = _mm256_fmadd_pd(e23, r2, e01);
        let e47 = _mm256_fmadd_pd(e67, r2, e45);
        let e8a = _mm256_fmadd_pd(c(10), r2, e89);
        let e07 = _mm256_fmadd_pd(e47, r4, e03);
        let p = _mm256_fmadd_pd(e8a, r8, e07);
        _mm256_fmadd_pd(r2, p, r)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn tanh4(x: __m256d) -> __m256d {
        let c = _mm256_set1_pd;
        let sign = c(-0.0);
        let a = _mm256_andnot_pd(sign, x);
        let a = _mm256_min_pd(c(TANH_CAP), a);
        let a2 = _mm256_add_pd(a, a);
        let q = _mm256_fmadd_pd(a2, c(LOG2E), c(SHIFT));
        let kf = _mm256_sub_pd(q, c(SHIFT));
        let r = _mm256_fmadd_pd(kf, c(-LN2_HI), a2);
        let r = _mm256_fmadd_pd(kf, c(-LN2_LO), r);
        let em1r = expm1_reduced4(r);
        let bits = _mm256_add_epi64(_mm256_slli_epi64(_mm256_castpd_si256(q), 52), _mm256_set1_epi64x(EXP_ONE));
        let s = _mm256_castsi256_pd(bits);
        let e = _mm256_fmadd_pd(s, em1r, _mm256_sub_pd(s, c(1.0)));
        let t = _mm256_div_pd(e, _mm256_add_pd(e, c(2.0)));
        _mm256_or_pd(t, _mm256_and_pd(x, sign))
    }

    /// Lanes `i..i+4` of the operand `x (+ b)`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn arg4(x: *const f64, b: *const f64, i: usize) -> __m256d {
        // SAFETY: the caller's extents.
        unsafe {
            let v = _mm256_loadu_pd(x.add(i));
            if b.is_null() {
                v
            } else {
                _mm256_add_pd(v, _mm256_loadu_pd(b.add(i)))
            }
        }
    }

    /// See [`super::tanh_portable`]: the same contract and the same bits.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn tanh(n: usize, x: *const f64, b: *const f64, y: *mut f64) {
        let mut i = 0;
        // SAFETY (whole block): the caller's extents; lanes `i..i+4` are below `n`.
        unsafe {
            while i + 8 <= n {
                let (u, v) = (tanh4(arg4(x, b, i)), tanh4(arg4(x, b, i + 4)));
                _mm256_storeu_pd(y.add(i), u);
                _mm256_storeu_pd(y.add(i + 4), v);
                i += 8;
            }
            if i + 4 <= n {
                _mm256_storeu_pd(y.add(i), tanh4(arg4(x, b, i)));
                i += 4;
            }
            // The last 1–3 lanes through the same vector code on a padded
            // copy: lane for lane the same operations as `tanh_scalar`
            // (hence the same bits), without its serial latency.
            let rest = n - i;
            if rest > 0 {
                let mut buf = [0.0f64; 4];
                for (k, v) in buf.iter_mut().enumerate().take(rest) {
                    *v = if b.is_null() { *x.add(i + k) } else { *x.add(i + k) + *b.add(i + k) };
                }
                let mut out = [0.0f64; 4];
                _mm256_storeu_pd(out.as_mut_ptr(), tanh4(_mm256_loadu_pd(buf.as_ptr())));
                std::ptr::copy_nonoverlapping(out.as_ptr(), y.add(i), rest);
            }
        }
    }
}
