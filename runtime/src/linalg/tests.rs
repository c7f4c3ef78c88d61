//! The SIMD routines against the portable ones (bit for bit), the portable
//! ones against the documented summation orders (outer products against one
//! product per element), and `tanh` against libm.

use super::*;

/// A small deterministic generator (SplitMix64), values in `[-1, 1)`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        2.0 * ((z >> 11) as f64 / (1u64 << 53) as f64) - 1.0
    }
    /// Values of widely different magnitudes, so summation order shows in the bits.
    fn vec(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|i| self.next() * [1.0, 1e8, 1e-8, 3.0][i % 4]).collect()
    }
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Every implementation available on this machine (portable first).
fn impls() -> Vec<Routines> {
    let host = Routines::host();
    if host.simd {
        vec![Routines::portable(), host]
    } else {
        vec![Routines::portable()]
    }
}

/// The quad-lane order of one row, written out from the documentation.
fn quad_lane_spec(a: &[f64], x: &[f64]) -> f64 {
    let k = a.len();
    if k == 0 {
        return 0.0;
    }
    let q = k / 4;
    let mut s;
    let mut c;
    if q == 0 {
        s = a[0] * x[0];
        c = 1;
    } else {
        let mut l = [a[0] * x[0], a[1] * x[1], a[2] * x[2], a[3] * x[3]];
        for i in 1..q {
            for (j, lj) in l.iter_mut().enumerate() {
                *lj = a[4 * i + j].mul_add(x[4 * i + j], *lj);
            }
        }
        s = (l[0] + l[2]) + (l[1] + l[3]);
        c = 4 * q;
    }
    while c < k {
        s = a[c].mul_add(x[c], s);
        c += 1;
    }
    s
}

#[test]
fn matvec_follows_the_quad_lane_order_on_every_implementation() {
    let mut rng = Rng(1);
    for m in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 19, 33, 64] {
        for k in [0usize, 1, 2, 3, 4, 5, 6, 7, 8, 11, 16, 17, 31, 64, 67] {
            // Row strides that keep every row's alignment (multiples of 4)
            // and one that does not; matrices starting 0..3 elements past a
            // 32-byte boundary.
            let k4 = k.next_multiple_of(4);
            for (lda, d) in [(k + m % 3, 0), (k4, 0), (k4, 1), (k4 + 4, 2), (k4, 3), (k + 1, 1)] {
                let buf = rng.vec(3 + m.max(1) * lda.max(1));
                let start = (d + 4 - buf.as_ptr() as usize / 8 % 4) % 4;
                let a = &buf[start..];
                let x = rng.vec(k + d);
                let x = &x[d..];
                let want: Vec<f64> = (0..m).map(|r| quad_lane_spec(&a[r * lda..r * lda + k], x)).collect();
                for imp in impls() {
                    let mut y = vec![f64::NAN; m + 1];
                    matvec(&imp, m, k, a, lda, x, &mut y);
                    assert_eq!(bits(&y[..m]), bits(&want), "m {m} k {k} lda {lda} d {d} simd {}", imp.simd);
                    assert!(y[m].is_nan(), "wrote past the end (m {m} k {k})");
                }
            }
        }
    }
}

#[test]
fn matvec_keeps_the_sign_of_zero_sums_at_every_alignment() {
    // Zero rows times negative x: every product is −0, so the sum is −0.
    for (m, k) in [(13, 8usize), (5, 9), (12, 16), (3, 6)] {
        let lda = k.next_multiple_of(4);
        let x = vec![-1.5; k];
        for d in 0..4 {
            let buf = vec![0.0; 3 + m * lda];
            let start = (d + 4 - buf.as_ptr() as usize / 8 % 4) % 4;
            let a = &buf[start..];
            for imp in impls() {
                let mut y = vec![f64::NAN; m];
                matvec(&imp, m, k, a, lda, &x, &mut y);
                assert!(
                    y.iter().all(|v| v.to_bits() == (-0.0f64).to_bits()),
                    "m {m} k {k} d {d} simd {}: {y:?}",
                    imp.simd
                );
            }
        }
    }
}

#[test]
fn matvec_group_gives_each_member_the_bits_of_matvec() {
    // Every member in the quad-lane order whatever the group size (full
    // micro-tiles and remainders), row count (blocks of four and the first
    // one to three rows), `k` (short, quads, tails) and alignment; members'
    // vectors at unrelated addresses.
    let mut rng = Rng(11);
    for m in [0usize, 1, 2, 3, 4, 5, 7, 8, 12, 13, 64] {
        for k in [0usize, 1, 2, 3, 4, 5, 7, 8, 9, 16, 63, 64, 67] {
            let k4 = k.next_multiple_of(4);
            for (lda, d) in [(k + m % 3, 0), (k4, 1), (k4 + 4, 2), (k4, 3), (k + 1, 1)] {
                let buf = rng.vec(3 + m.max(1) * lda.max(1));
                let start = (d + 4 - buf.as_ptr() as usize / 8 % 4) % 4;
                let a = &buf[start..];
                for n in [1usize, 2, 3, 4, 5, 7, 8] {
                    let store: Vec<Vec<f64>> = (0..n).map(|t| rng.vec(k + t % 4)).collect();
                    let xs: Vec<&[f64]> = store.iter().enumerate().map(|(t, x)| &x[t % 4..]).collect();
                    let want: Vec<Vec<f64>> = xs
                        .iter()
                        .map(|x| (0..m).map(|r| quad_lane_spec(&a[r * lda..r * lda + k], x)).collect())
                        .collect();
                    for imp in impls() {
                        let mut out = vec![vec![f64::NAN; m + 1]; n];
                        let mut ys: Vec<&mut [f64]> = out.iter_mut().map(|y| &mut y[..]).collect();
                        matvec_group(&imp, m, k, a, lda, &xs, &mut ys);
                        for (t, (y, w)) in out.iter().zip(&want).enumerate() {
                            let what = format!("m {m} k {k} lda {lda} d {d} n {n} member {t} simd {}", imp.simd);
                            assert_eq!(bits(&y[..m]), bits(w), "{what}");
                            assert!(y[m].is_nan(), "wrote past the end ({what})");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn matvec_group_of_many_members_equals_matvec_per_member() {
    // A whole batch in one call (the safe wrapper's chunks of sixteen, the
    // routine's micro-tiles of three): the bench MLP's hidden layer shape.
    let mut rng = Rng(12);
    let (m, k) = (64, 64);
    let a = rng.vec(m * k);
    for n in [1usize, 3, 8, 61, 1024] {
        let xs_store: Vec<Vec<f64>> = (0..n).map(|_| rng.vec(k)).collect();
        let xs: Vec<&[f64]> = xs_store.iter().map(|x| &x[..]).collect();
        for imp in impls() {
            let mut out = vec![vec![0.0; m]; n];
            let mut ys: Vec<&mut [f64]> = out.iter_mut().map(|y| &mut y[..]).collect();
            matvec_group(&imp, m, k, &a, k, &xs, &mut ys);
            for (t, x) in xs.iter().enumerate() {
                let mut want = vec![0.0; m];
                matvec(&Routines::portable(), m, k, &a, k, x, &mut want);
                assert_eq!(bits(&out[t]), bits(&want), "n {n} member {t} simd {}", imp.simd);
            }
        }
    }
}

#[test]
fn matvec_t_follows_the_column_order_on_every_implementation() {
    let mut rng = Rng(2);
    for m in [0usize, 1, 2, 3, 4, 5, 7, 8, 12, 16, 20, 24, 31, 32, 33, 36, 58, 64, 70, 99, 291] {
        for k in [0, 1, 2, 3, 5, 16, 33] {
            // Column strides that keep every column's alignment (multiples
            // of 4) and ones that do not; matrices starting 0..3 elements
            // past a 32-byte boundary.
            let m4 = m.next_multiple_of(4);
            for (lda, d, incx) in [(m + 2, 0, 1), (m4, 0, 3), (m4, 1, 1), (m4 + 4, 2, 2), (m4, 3, 1), (m + 1, 3, 1)] {
                let buf = rng.vec(3 + k.max(1) * lda.max(1));
                let start = (d + 4 - buf.as_ptr() as usize / 8 % 4) % 4;
                let a = &buf[start..];
                let x = rng.vec(k.max(1) * incx);
                let want: Vec<f64> = (0..m)
                    .map(|r| {
                        if k == 0 {
                            return 0.0;
                        }
                        let mut s = a[r] * x[0];
                        for c in 1..k {
                            s = a[c * lda + r].mul_add(x[c * incx], s);
                        }
                        s
                    })
                    .collect();
                for imp in impls() {
                    let mut y = vec![f64::NAN; m + 1];
                    matvec_t(&imp, m, k, a, lda, &x, incx, &mut y);
                    assert_eq!(bits(&y[..m]), bits(&want), "m {m} k {k} lda {lda} d {d} incx {incx} simd {}", imp.simd);
                    assert!(y[m].is_nan(), "wrote past the end (m {m} k {k})");
                }
            }
        }
    }
}

#[test]
fn matvec_is_accurate() {
    // Against a sum in exact-ish arithmetic (compensated), relative to Σ|a x|.
    let mut rng = Rng(3);
    let (m, k) = (37, 101);
    let a: Vec<f64> = (0..m * k).map(|_| rng.next()).collect();
    let x: Vec<f64> = (0..k).map(|_| rng.next()).collect();
    let mut y = vec![0.0; m];
    matvec(&Routines::host(), m, k, &a, k, &x, &mut y);
    for r in 0..m {
        let row = &a[r * k..(r + 1) * k];
        let (mut s, mut comp, mut mag) = (0.0f64, 0.0f64, 0.0f64);
        for (w, v) in row.iter().zip(&x) {
            let p = w * v;
            let t = s + p;
            comp += if s.abs() >= p.abs() { (s - t) + p } else { (p - t) + s };
            s = t;
            mag += p.abs();
        }
        assert!((y[r] - (s + comp)).abs() <= 1e-15 * mag, "row {r}: {} vs {}", y[r], s + comp);
    }
}

#[test]
fn outer_is_one_product_per_element_and_writes_only_its_elements() {
    let mut rng = Rng(7);
    for m in [0usize, 1, 2, 3, 5, 64] {
        for n in [0usize, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 33, 64] {
            // Row strides equal to `n` (contiguous), longer (gaps between
            // rows, every alignment from row to row) and multiples of 4;
            // matrices starting 0..3 elements past a 32-byte boundary.
            for (extra, d, incx) in
                [(0, 0, 1), (0, 1, 1), (0, 2, 2), (0, 3, 1), (3, 1, 1), (n.next_multiple_of(4) - n + 4, 2, 3)]
            {
                let lda = n + extra;
                let len = m.max(1) * lda.max(1) + 8;
                let x = rng.vec(m.max(1) * incx);
                let y = rng.vec(n);
                for imp in impls() {
                    let mut buf = vec![f64::NAN; len];
                    let start = (d + 4 - buf.as_ptr() as usize / 8 % 4) % 4;
                    let a = &mut buf[start..];
                    outer(&imp, m, n, &x, incx, &y, a, lda);
                    for (e, v) in a.iter().enumerate() {
                        let (i, j) = (e / lda.max(1), e % lda.max(1));
                        if i < m && j < n {
                            let want = y[j] * x[i * incx];
                            assert_eq!(
                                v.to_bits(),
                                want.to_bits(),
                                "m {m} n {n} lda {lda} d {d} ({i}, {j}) simd {}",
                                imp.simd
                            );
                        } else {
                            assert!(v.is_nan(), "m {m} n {n} lda {lda} d {d}: wrote element {e} simd {}", imp.simd);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn outer_keeps_signed_zeros_infinities_and_nans() {
    let x = [-0.0, 0.0, f64::INFINITY, -2.5, f64::NAN];
    let y = [0.0, -0.0, 1.0, f64::NEG_INFINITY, 3.0, f64::NAN, -1e-310, 1e300, 7.0];
    for imp in impls() {
        let mut a = vec![0.0; x.len() * y.len()];
        outer(&imp, x.len(), y.len(), &x, 1, &y, &mut a, y.len());
        for (e, v) in a.iter().enumerate() {
            let want = y[e % y.len()] * x[e / y.len()];
            assert!(v.to_bits() == want.to_bits() || v.is_nan() && want.is_nan(), "element {e}: {v} vs {want}");
        }
    }
}

fn tanh_inputs() -> Vec<f64> {
    let mut xs = vec![
        0.0,
        -0.0,
        f64::from_bits(1),
        1e-300,
        1e-20,
        1e-8,
        0.125,
        0.5493,
        1.0,
        19.99,
        20.0,
        20.01,
        40.0,
        1e300,
        f64::MAX,
        f64::INFINITY,
    ];
    xs.extend(xs.clone().iter().map(|x| -x));
    xs.push(f64::NAN);
    let mut rng = Rng(4);
    for i in 0..20_000 {
        let u = rng.next();
        xs.push(if i % 2 == 0 { 25.0 * u } else { u.signum() * 10f64.powf(-300.0 + 302.0 * u.abs()) });
    }
    xs
}

#[test]
fn tanh_is_the_same_on_every_implementation_and_within_3_ulp() {
    let xs = tanh_inputs();
    let mut want = xs.clone();
    tanh_in_place(&Routines::portable(), &mut want);
    for imp in impls() {
        // Every length mod 8, out of place and in place.
        for n in [xs.len(), 1, 3, 4, 5, 7, 8, 13] {
            let mut y = vec![0.0; n];
            // SAFETY: both buffers have `n` elements.
            unsafe { (imp.tanh)(n, xs.as_ptr(), std::ptr::null(), y.as_mut_ptr()) };
            let got_nan = y.iter().map(|v| v.is_nan());
            assert!(
                y.iter().zip(&want).zip(got_nan).all(|((g, w), nan)| g.to_bits() == w.to_bits() || nan && w.is_nan()),
                "simd {} n {n}",
                imp.simd
            );
        }
    }
    let mut worst = 0.0f64;
    for (&x, &g) in xs.iter().zip(&want) {
        let w = x.tanh();
        if w.is_nan() {
            assert!(g.is_nan(), "tanh({x:e}) = {g:e}");
            continue;
        }
        if g == w {
            continue;
        }
        let ulp = f64::from_bits((w.abs().to_bits() >> 52) << 52) * f64::EPSILON;
        let ulp = if w.abs() < f64::MIN_POSITIVE { f64::from_bits(1) } else { ulp };
        worst = worst.max((g - w).abs() / ulp);
    }
    eprintln!("tanh: max error {worst:.2} ulp");
    assert!(worst <= 3.0, "tanh off by {worst} ulp");
    assert_eq!(vmath::tanh_scalar(-0.0).to_bits(), (-0.0f64).to_bits());
}

#[test]
fn tanh_with_an_addend_is_tanh_of_the_sum() {
    let mut rng = Rng(6);
    for n in [0, 1, 3, 4, 7, 8, 9, 64, 67] {
        let x: Vec<f64> = (0..n).map(|_| 4.0 * rng.next()).collect();
        let b: Vec<f64> = (0..n).map(|_| 4.0 * rng.next()).collect();
        let mut want: Vec<f64> = x.iter().zip(&b).map(|(x, b)| x + b).collect();
        tanh_in_place(&Routines::portable(), &mut want);
        for imp in impls() {
            let mut y = vec![f64::NAN; n];
            tanh_add(&imp, &x, &b, &mut y);
            assert_eq!(bits(&y), bits(&want), "n {n} simd {}", imp.simd);
        }
    }
}

#[test]
fn host_routines_use_simd_where_available() {
    #[cfg(target_arch = "x86_64")]
    assert_eq!(Routines::host().simd, std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"));
    let names: Vec<&str> = Routines::host().symbols().iter().map(|s| s.0).collect();
    assert_eq!(names, [MATVEC_SYMBOL, MATVEC_T_SYMBOL, MATVEC_GROUP_SYMBOL, OUTER_SYMBOL, TANH_SYMBOL]);
}

#[test]
fn exported_symbols_dispatch_to_the_same_bits() {
    let mut rng = Rng(5);
    let (m, k) = (9, 13);
    let a = rng.vec(m * k);
    let x = rng.vec(k);
    let (mut y1, mut y2) = (vec![0.0; m], vec![0.0; m]);
    matvec(&Routines::portable(), m, k, &a, k, &x, &mut y1);
    // SAFETY: extents as above.
    unsafe { nde_rt_matvec(m, k, a.as_ptr(), k, x.as_ptr(), y2.as_mut_ptr()) };
    assert_eq!(bits(&y1), bits(&y2));
    matvec_t(&Routines::portable(), m, k, &a, m, &x, 1, &mut y1);
    // SAFETY: extents as above.
    unsafe { nde_rt_matvec_t(m, k, a.as_ptr(), m, x.as_ptr(), 1, y2.as_mut_ptr()) };
    assert_eq!(bits(&y1), bits(&y2));
    let (mut o1, mut o2) = (vec![0.0; m * k], vec![0.0; m * k]);
    outer(&Routines::portable(), m, k, &x, 1, &a, &mut o1, k);
    // SAFETY: extents as above.
    unsafe { nde_rt_outer(m, k, x.as_ptr(), 1, a.as_ptr(), o2.as_mut_ptr(), k) };
    assert_eq!(bits(&o1), bits(&o2));
    let x2 = rng.vec(k);
    let mut g1 = vec![vec![0.0; m]; 2];
    let mut gy: Vec<&mut [f64]> = g1.iter_mut().map(|y| &mut y[..]).collect();
    matvec_group(&Routines::portable(), m, k, &a, k, &[&x, &x2], &mut gy);
    let mut g2 = vec![vec![0.0; m]; 2];
    let (xp, yp) = ([x.as_ptr(), x2.as_ptr()], [g2[0].as_mut_ptr(), g2[1].as_mut_ptr()]);
    // SAFETY: extents as above; two distinct outputs.
    unsafe { nde_rt_matvec_group(m, k, a.as_ptr(), k, 2, xp.as_ptr(), yp.as_ptr()) };
    assert_eq!(g1, g2);
    let mut t = x.clone();
    tanh_in_place(&Routines::portable(), &mut t);
    let mut u = vec![0.0; k];
    // SAFETY: `k` elements each.
    unsafe { nde_rt_tanh(k, x.as_ptr(), std::ptr::null(), u.as_mut_ptr()) };
    assert_eq!(bits(&t), bits(&u));
}
