//! Inline transcendental functions, emitted as cranelift instructions.
//!
//! Owns the approximations that stand in for libm inside kernels: `exp`,
//! `expm1` (internal), `log`, `log1p` (internal), `tanh`, `sigmoid`,
//! `softplus`, `gelu`, `elu`, `relu`, `sin`, `cos`, `tan`, `powi`, and the
//! `pow` call. Every emitter works on a scalar `f64` or an `f64x2` value and
//! performs the same lane-wise operation sequence for both, so a value's
//! bits never depend on whether it was computed in a vector or alone.
//!
//! Never: branch in the common path (the only branch is the cold libm path
//! for huge trigonometric arguments), call libm for moderate arguments, or
//! read memory other than the constant pool.
//!
//! Methods (`u` = unit roundoff 2⁻⁵³; bounds are measured in the tests):
//! - `exp`: `x = k ln2 + r`, `|r| ≤ ln2/2` (Cody–Waite with FMA),
//!   `exp(r) = 1 + expm1(r)` (the polynomial below) folded into the scaling
//!   by `2^k`, built from integer bits in two factors so results that
//!   overflow or underflow (to subnormals) round once. Within 1 ulp.
//! - `expm1`: the same reduction, `expm1(r) = r + r²P(r)` (no cancellation
//!   near 0) with the degree-10 polynomial `EXPM1_C` evaluated by Estrin's
//!   scheme exactly as `nde_runtime::linalg::vmath::expm1_reduced`,
//!   `expm1(x) = 2^k expm1(r) + (2^k − 1)`.
//! - `log`: exponent/mantissa split through the integer bits (subnormals
//!   scaled first), mantissa in `[√½, √2)`, `log m = 2 atanh f`,
//!   `f = (m−1)/(m+1)`, odd series to `f²¹`; `e·ln2` added with a split
//!   constant whose high part has trailing zeros (exact product).
//! - `tanh(x) = sign(x) e/(e+2)` with `e = expm1(2|x|)`, `|x|` capped at 20
//!   (beyond that tanh rounds to ±1). The runtime's `nde_rt_tanh` performs
//!   exactly this sequence four lanes at a time (`routines.rs` calls it).
//! - `sin`, `cos`, `tan`: `x = k π/2 + r` with a three-part π/2 and FMA (the
//!   first step is exact), Taylor polynomials to `r¹⁷`/`r¹⁸` on `[-π/4, π/4]`,
//!   quadrant by the low bits of `k`. Arguments with `|x| > 2³⁰` (and ±∞)
//!   take a cold path that calls libm for those lanes.
//! - `pow(a, b)` calls libm `pow` (NaN for `a < 0`, as the IR defines).

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, ConstantData, FuncRef, InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::FunctionBuilder;

/// libm functions a kernel may call (imported into the function being built).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Libm {
    pub sin: Option<FuncRef>,
    pub cos: Option<FuncRef>,
    pub tan: Option<FuncRef>,
    pub pow: Option<FuncRef>,
}

/// The libm symbols kernels import: `(name, address)` for the JIT's symbol
/// table. An object-file backend links the same names against libm.
pub(super) fn libm_symbols() -> [(&'static str, *const u8); 4] {
    [
        ("sin", nde_sin as *const u8),
        ("cos", nde_cos as *const u8),
        ("tan", nde_tan as *const u8),
        ("pow", nde_pow as *const u8),
    ]
}

extern "C" fn nde_sin(x: f64) -> f64 {
    x.sin()
}
extern "C" fn nde_cos(x: f64) -> f64 {
    x.cos()
}
extern "C" fn nde_tan(x: f64) -> f64 {
    x.tan()
}
extern "C" fn nde_pow(a: f64, b: f64) -> f64 {
    a.powf(b)
}

// The constants of `exp`/`expm1`/`tanh`, shared with the runtime's
// vectorised `tanh` (which must give the same bits).
use nde_runtime::linalg::vmath::{EXPM1_C, EXP_ONE, LN2_HI, LN2_LO, LOG2E, SHIFT, TANH_CAP};
/// ln 2 = LN2_HI_T + LN2_LO_T where LN2_HI_T has 11 trailing zero bits, so
/// `e · LN2_HI_T` is exact for every exponent `e`.
const LN2_HI_T: f64 = f64::from_bits(0x3fe6_2e42_fefa_3800);
const LN2_LO_T: f64 = f64::from_bits(0x3d2e_f357_93c7_6730);
const TWO_OVER_PI: f64 = std::f64::consts::FRAC_2_PI;
/// π/2 = PIO2_1 + PIO2_2 + PIO2_3 (to about 2⁻¹⁶⁰).
const PIO2_1: f64 = f64::from_bits(0x3ff9_21fb_5444_2d18);
const PIO2_2: f64 = f64::from_bits(0x3c91_a626_3314_5c07);
const PIO2_3: f64 = f64::from_bits(0xb91f_1976_b7ed_8fbc);
/// Beyond this, trigonometric arguments go to libm.
const TRIG_MAX: f64 = 1_073_741_824.0;

/// `1/n!` for `n` in `range`, highest degree first (Horner order), with
/// alternating signs when `alternate`, starting positive at the lowest power.
fn taylor(lo: u32, hi: u32, step: u32, alternate: bool) -> Vec<f64> {
    let fact = |n: u32| (1..=n).fold(1.0f64, |a, i| a * i as f64);
    let mut c: Vec<f64> = (lo..=hi)
        .step_by(step as usize)
        .enumerate()
        .map(|(i, n)| {
            let s = if alternate && i % 2 == 1 { -1.0 } else { 1.0 };
            s / fact(n)
        })
        .collect();
    c.reverse();
    c
}

/// Emits math on values of one type (`F64` or `F64X2`).
pub(super) struct Math<'a, 'f> {
    pub b: &'a mut FunctionBuilder<'f>,
    pub libm: &'a Libm,
}

impl Math<'_, '_> {
    fn ty(&self, x: Value) -> Type {
        self.b.func.dfg.value_type(x)
    }

    /// A float constant of type `ty`.
    pub fn fc(&mut self, ty: Type, c: f64) -> Value {
        if ty.is_vector() {
            let bytes: Vec<u8> = c.to_le_bytes().iter().chain(c.to_le_bytes().iter()).copied().collect();
            let h = self.b.func.dfg.constants.insert(ConstantData::from(bytes));
            self.b.ins().vconst(types::F64X2, h)
        } else {
            self.b.ins().f64const(c)
        }
    }

    fn ic(&mut self, ty: Type, c: i64) -> Value {
        if ty.is_vector() {
            let bytes: Vec<u8> = c.to_le_bytes().iter().chain(c.to_le_bytes().iter()).copied().collect();
            let h = self.b.func.dfg.constants.insert(ConstantData::from(bytes));
            self.b.ins().vconst(types::I64X2, h)
        } else {
            self.b.ins().iconst(types::I64, c)
        }
    }

    fn as_int(&mut self, x: Value) -> Value {
        let ty = if self.ty(x).is_vector() { types::I64X2 } else { types::I64 };
        self.b.ins().bitcast(ty, MemFlagsData::new(), x)
    }

    fn as_float(&mut self, x: Value) -> Value {
        let ty = if self.ty(x).is_vector() { types::F64X2 } else { types::F64 };
        self.b.ins().bitcast(ty, MemFlagsData::new(), x)
    }

    /// `cond ? a : b` lane-wise, `cond` from `fcmp`/`icmp` on values of `a`'s type.
    pub fn sel(&mut self, cond: Value, a: Value, b: Value) -> Value {
        let ty = self.ty(a);
        if ty.is_vector() {
            let m = self.b.ins().bitcast(ty, MemFlagsData::new(), cond);
            self.b.ins().bitselect(m, a, b)
        } else {
            self.b.ins().select(cond, a, b)
        }
    }

    /// `a < b ? a : b` (NaN in either gives `b`; one `minpd` on x86).
    pub fn pmin(&mut self, a: Value, b: Value) -> Value {
        let c = self.b.ins().fcmp(FloatCC::LessThan, a, b);
        self.sel(c, a, b)
    }

    /// `b < a ? a : b` (NaN in either gives `b`; one `maxpd` on x86).
    pub fn pmax(&mut self, a: Value, b: Value) -> Value {
        let c = self.b.ins().fcmp(FloatCC::LessThan, b, a);
        self.sel(c, a, b)
    }

    fn fma(&mut self, a: Value, b: Value, c: Value) -> Value {
        self.b.ins().fma(a, b, c)
    }

    fn fma_c(&mut self, a: Value, b: f64, c: Value) -> Value {
        let ty = self.ty(a);
        let b = self.fc(ty, b);
        self.b.ins().fma(a, b, c)
    }

    /// Horner evaluation, coefficients highest degree first.
    fn horner(&mut self, x: Value, coeffs: &[f64]) -> Value {
        let ty = self.ty(x);
        let mut acc = self.fc(ty, coeffs[0]);
        for &c in &coeffs[1..] {
            let cv = self.fc(ty, c);
            acc = self.fma(acc, x, cv);
        }
        acc
    }

    /// Clamps to `[lo, hi]`, NaN passing through.
    fn clamp(&mut self, x: Value, lo: f64, hi: f64) -> Value {
        let ty = self.ty(x);
        let h = self.fc(ty, hi);
        let x = self.pmin(h, x);
        let l = self.fc(ty, lo);
        self.pmax(l, x)
    }

    /// `k = nearest(x·log2 e)` as `(SHIFT + k, k)`, and `r = x − k ln2`.
    fn exp_reduce(&mut self, x: Value) -> (Value, Value, Value) {
        let ty = self.ty(x);
        let log2e = self.fc(ty, LOG2E);
        let shift = self.fc(ty, SHIFT);
        let q = self.fma(x, log2e, shift);
        let kf = self.b.ins().fsub(q, shift);
        let r = self.fma_c(kf, -LN2_HI, x);
        let r = self.fma_c(kf, -LN2_LO, r);
        (q, kf, r)
    }

    /// `2^k` from `q = SHIFT + k`, for `-1022 ≤ k ≤ 1023`.
    fn pow2_from_shifted(&mut self, q: Value) -> Value {
        let ty = self.ty(q);
        let bits = self.as_int(q);
        let e = self.b.ins().ishl_imm_s(bits, 52);
        let one = self.ic(ty, EXP_ONE);
        let e = self.b.ins().iadd(e, one);
        self.as_float(e)
    }

    pub fn exp(&mut self, x: Value) -> Value {
        let ty = self.ty(x);
        let x = self.clamp(x, -1000.0, 1000.0);
        let (_, kf, r) = self.exp_reduce(x);
        let em1r = self.expm1_reduced(r);
        // 2^k = 2^k1 · 2^k2 with k1 ≈ k/2: both factors stay normal.
        let shift = self.fc(ty, SHIFT);
        let q1 = self.fma_c(kf, 0.5, shift);
        let k1 = self.b.ins().fsub(q1, shift);
        let k2 = self.b.ins().fsub(kf, k1);
        let q2 = self.b.ins().fadd(k2, shift);
        let s1 = self.pow2_from_shifted(q1);
        let s2 = self.pow2_from_shifted(q2);
        // s1·(1 + expm1(r)) rounded once (s1 is a power of two).
        let y = self.fma(em1r, s1, s1);
        self.b.ins().fmul(y, s2)
    }

    /// `expm1(r)` for a reduced argument, in the operation order of
    /// `nde_runtime::linalg::vmath::expm1_reduced` (the runtime's `tanh`
    /// must give the same bits).
    fn expm1_reduced(&mut self, r: Value) -> Value {
        let ty = self.ty(r);
        let c: Vec<Value> = EXPM1_C.iter().map(|&v| self.fc(ty, v)).collect();
        let r2 = self.b.ins().fmul(r, r);
        let r4 = self.b.ins().fmul(r2, r2);
        let r8 = self.b.ins().fmul(r4, r4);
        let e: Vec<Value> = (0..5).map(|i| self.fma(c[2 * i + 1], r, c[2 * i])).collect();
        let e03 = self.fma(e[1], r2, e[0]);
        let e47 = self.fma(e[3], r2, e[2]);
        let e8a = self.fma(c[10], r2, e[4]);
        let e07 = self.fma(e47, r4, e03);
        let p = self.fma(e8a, r8, e07);
        self.fma(r2, p, r)
    }

    /// `exp(x) − 1`, accurate near 0; valid for `x ≤ 60` (larger inputs are
    /// clamped: callers only use it there). `clamp = false` skips the clamp
    /// for callers whose argument is already in `[-60, 60]` (or NaN).
    fn expm1(&mut self, x: Value, clamp: bool) -> Value {
        let ty = self.ty(x);
        let x = if clamp { self.clamp(x, -60.0, 60.0) } else { x };
        let (q, _, r) = self.exp_reduce(x);
        let em1r = self.expm1_reduced(r);
        let s = self.pow2_from_shifted(q);
        let one = self.fc(ty, 1.0);
        let sm1 = self.b.ins().fsub(s, one);
        self.fma(s, em1r, sm1)
    }

    /// `log x` for positive, finite, normal `x` (garbage otherwise); `eadj`
    /// is added to the extracted exponent.
    fn log_core(&mut self, x: Value, eadj: Option<Value>) -> Value {
        let ty = self.ty(x);
        let bits = self.as_int(x);
        let ebits = self.b.ins().ushr_imm_s(bits, 52);
        let magic = self.ic(ty, 0x4330_0000_0000_0000);
        let eb = self.b.ins().bor(ebits, magic);
        let ef = self.as_float(eb);
        let bias = self.fc(ty, 4_503_599_627_370_496.0 + 1023.0);
        let mut e = self.b.ins().fsub(ef, bias);
        if let Some(adj) = eadj {
            e = self.b.ins().fadd(e, adj);
        }
        let mmask = self.ic(ty, 0x000f_ffff_ffff_ffff);
        let mb = self.b.ins().band(bits, mmask);
        let one_bits = self.ic(ty, EXP_ONE);
        let mb = self.b.ins().bor(mb, one_bits);
        let m = self.as_float(mb);
        // Mantissa into [√½, √2).
        let sqrt2 = self.fc(ty, std::f64::consts::SQRT_2);
        let big = self.b.ins().fcmp(FloatCC::LessThan, sqrt2, m);
        let half = self.fc(ty, 0.5);
        let mh = self.b.ins().fmul(m, half);
        let m = self.sel(big, mh, m);
        let one = self.fc(ty, 1.0);
        let e1 = self.b.ins().fadd(e, one);
        let e = self.sel(big, e1, e);
        let num = self.b.ins().fsub(m, one);
        let den = self.b.ins().fadd(m, one);
        let f = self.b.ins().fdiv(num, den);
        let s = self.b.ins().fmul(f, f);
        let coeffs: Vec<f64> = (1..=10).rev().map(|n| 1.0 / (2 * n + 1) as f64).collect();
        let q = self.horner(s, &coeffs);
        let f2 = self.b.ins().fadd(f, f);
        let f2s = self.b.ins().fmul(f2, s);
        let lm = self.fma(f2s, q, f2);
        let lo = self.fma_c(e, LN2_LO_T, lm);
        self.fma_c(e, LN2_HI_T, lo)
    }

    pub fn log(&mut self, x: Value) -> Value {
        let ty = self.ty(x);
        let tiny = self.fc(ty, f64::MIN_POSITIVE);
        let sub = self.b.ins().fcmp(FloatCC::LessThan, x, tiny);
        let scale = self.fc(ty, 18_014_398_509_481_984.0); // 2^54
        let xs = self.b.ins().fmul(x, scale);
        let xs = self.sel(sub, xs, x);
        let m54 = self.fc(ty, -54.0);
        let zero = self.fc(ty, 0.0);
        let adj = self.sel(sub, m54, zero);
        let core = self.log_core(xs, Some(adj));
        // Zero -> -inf, +inf -> +inf, negative or NaN -> NaN.
        let inf = self.fc(ty, f64::INFINITY);
        let ninf = self.fc(ty, f64::NEG_INFINITY);
        let nan = self.fc(ty, f64::NAN);
        let is_inf = self.b.ins().fcmp(FloatCC::Equal, x, inf);
        let special = self.sel(is_inf, inf, nan);
        let is_zero = self.b.ins().fcmp(FloatCC::Equal, x, zero);
        let special = self.sel(is_zero, ninf, special);
        let pos = self.b.ins().fcmp(FloatCC::GreaterThan, x, zero);
        let fin = self.b.ins().fcmp(FloatCC::LessThan, x, inf);
        let ok = self.b.ins().band(pos, fin);
        self.sel(ok, core, special)
    }

    /// `log(1 + u)` for `u` in `[0, 1]`.
    fn log1p_unit(&mut self, u: Value) -> Value {
        let ty = self.ty(u);
        let one = self.fc(ty, 1.0);
        let w = self.b.ins().fadd(one, u);
        let lw = self.log_core(w, None);
        let wm1 = self.b.ins().fsub(w, one);
        let d = self.b.ins().fsub(u, wm1);
        let c = self.b.ins().fdiv(d, w);
        self.b.ins().fadd(lw, c)
    }

    pub fn tanh(&mut self, x: Value) -> Value {
        let ty = self.ty(x);
        let a = self.b.ins().fabs(x);
        let cap = self.fc(ty, TANH_CAP);
        let a = self.pmin(cap, a);
        let a2 = self.b.ins().fadd(a, a);
        let e = self.expm1(a2, false);
        let two = self.fc(ty, 2.0);
        let d = self.b.ins().fadd(e, two);
        let t = self.b.ins().fdiv(e, d);
        let sign = self.fc(ty, -0.0);
        let s = self.b.ins().band(x, sign);
        self.b.ins().bor(t, s)
    }

    pub fn sigmoid(&mut self, x: Value) -> Value {
        let ty = self.ty(x);
        let nx = self.b.ins().fneg(x);
        let e = self.exp(nx);
        let one = self.fc(ty, 1.0);
        let d = self.b.ins().fadd(one, e);
        self.b.ins().fdiv(one, d)
    }

    pub fn softplus(&mut self, x: Value) -> Value {
        let ty = self.ty(x);
        let a = self.b.ins().fabs(x);
        let na = self.b.ins().fneg(a);
        let u = self.exp(na);
        let l = self.log1p_unit(u);
        let zero = self.fc(ty, 0.0);
        let pos = self.pmax(zero, x);
        self.b.ins().fadd(pos, l)
    }

    pub fn gelu(&mut self, x: Value) -> Value {
        use crate::ir::interp::{GELU_A, GELU_C};
        let ty = self.ty(x);
        let t = self.b.ins().fmul(x, x);
        let t = self.b.ins().fmul(t, x);
        let ca = self.fc(ty, GELU_A);
        let t = self.b.ins().fmul(t, ca);
        let t = self.b.ins().fadd(t, x);
        let cc = self.fc(ty, GELU_C);
        let u = self.b.ins().fmul(t, cc);
        let m2 = self.fc(ty, -2.0);
        let z = self.b.ins().fmul(m2, u);
        let e = self.exp(z);
        let one = self.fc(ty, 1.0);
        let d = self.b.ins().fadd(one, e);
        self.b.ins().fdiv(x, d)
    }

    pub fn elu(&mut self, x: Value) -> Value {
        let ty = self.ty(x);
        let em1 = self.expm1(x, true);
        let zero = self.fc(ty, 0.0);
        // `x >= 0` keeps -0 (expm1's polynomial would give +0 there).
        let pos = self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, x, zero);
        self.sel(pos, x, em1)
    }

    pub fn relu(&mut self, x: Value) -> Value {
        let ty = self.ty(x);
        let zero = self.fc(ty, 0.0);
        let m = self.pmax(zero, x);
        // -0 + 0 = +0; everything else unchanged.
        self.b.ins().fadd(m, zero)
    }

    /// The Heaviside step of [`crate::ir::interp::unary`]: 1 for `x > 0`,
    /// NaN for NaN, otherwise 0.
    pub fn step(&mut self, x: Value) -> Value {
        let ty = self.ty(x);
        let (zero, one) = (self.fc(ty, 0.0), self.fc(ty, 1.0));
        let pos = self.b.ins().fcmp(FloatCC::GreaterThan, x, zero);
        let s = self.sel(pos, one, zero);
        let nan = self.b.ins().fcmp(FloatCC::Unordered, x, x);
        self.sel(nan, x, s)
    }

    /// `x^n` in exactly the order of [`crate::ir::interp::powi`].
    pub fn powi(&mut self, x: Value, n: i32) -> Value {
        let ty = self.ty(x);
        let mut e = n.unsigned_abs();
        if e == 0 {
            return self.fc(ty, 1.0);
        }
        let mut base = x;
        let mut acc: Option<Value> = None;
        loop {
            if e & 1 == 1 {
                acc = Some(match acc {
                    None => base,
                    Some(a) => self.b.ins().fmul(a, base),
                });
            }
            e >>= 1;
            if e == 0 {
                break;
            }
            base = self.b.ins().fmul(base, base);
        }
        let r = acc.unwrap_or(base);
        if n < 0 {
            let one = self.fc(ty, 1.0);
            self.b.ins().fdiv(one, r)
        } else {
            r
        }
    }

    /// `r = x − k π/2` and the integer bits of `SHIFT + k`.
    fn trig_reduce(&mut self, x: Value) -> (Value, Value) {
        let ty = self.ty(x);
        let tpi = self.fc(ty, TWO_OVER_PI);
        let shift = self.fc(ty, SHIFT);
        let q = self.fma(x, tpi, shift);
        let kf = self.b.ins().fsub(q, shift);
        let r = self.fma_c(kf, -PIO2_1, x);
        let r = self.fma_c(kf, -PIO2_2, r);
        let r = self.fma_c(kf, -PIO2_3, r);
        let qb = self.as_int(q);
        (r, qb)
    }

    fn sin_poly(&mut self, r: Value) -> Value {
        let z = self.b.ins().fmul(r, r);
        let s = self.horner(z, &taylor(3, 17, 2, true).iter().map(|c| -c).collect::<Vec<_>>());
        let rz = self.b.ins().fmul(r, z);
        self.fma(rz, s, r)
    }

    fn cos_poly(&mut self, r: Value) -> Value {
        let ty = self.ty(r);
        let z = self.b.ins().fmul(r, r);
        let c = self.horner(z, &taylor(2, 18, 2, true).iter().map(|c| -c).collect::<Vec<_>>());
        let one = self.fc(ty, 1.0);
        self.fma(z, c, one)
    }

    /// Is bit `bit` of the integer `v` set, as a lane mask / flag.
    fn bit_set(&mut self, v: Value, bit: i64) -> Value {
        let ty = self.ty(v);
        let m = self.ic(ty, bit);
        let a = self.b.ins().band(v, m);
        let z = self.ic(ty, 0);
        self.b.ins().icmp(IntCC::NotEqual, a, z)
    }

    /// sin of quadrant `qb` (integer bits whose low two bits are `k mod 4`).
    fn quadrant(&mut self, s: Value, c: Value, qb: Value) -> Value {
        let ty = self.ty(qb);
        let odd = self.bit_set(qb, 1);
        let v = self.sel(odd, c, s);
        let two = self.ic(ty, 2);
        let neg = self.b.ins().band(qb, two);
        let neg = self.b.ins().ishl_imm_s(neg, 62);
        let vb = self.as_int(v);
        let vb = self.b.ins().bxor(vb, neg);
        self.as_float(vb)
    }

    pub fn sin(&mut self, x: Value) -> Value {
        let (r, qb) = self.trig_reduce(x);
        let s = self.sin_poly(r);
        let c = self.cos_poly(r);
        let fast = self.quadrant(s, c, qb);
        let fast = self.tiny_identity(x, fast);
        self.trig_cold_path(x, fast, self.libm.sin)
    }

    pub fn cos(&mut self, x: Value) -> Value {
        let ty = self.ty(x);
        let (r, qb) = self.trig_reduce(x);
        let s = self.sin_poly(r);
        let c = self.cos_poly(r);
        let ity = if ty.is_vector() { types::I64X2 } else { types::I64 };
        let one = self.ic(ity, 1);
        let qb1 = self.b.ins().iadd(qb, one);
        let fast = self.quadrant(s, c, qb1);
        self.trig_cold_path(x, fast, self.libm.cos)
    }

    pub fn tan(&mut self, x: Value) -> Value {
        let (r, qb) = self.trig_reduce(x);
        let s = self.sin_poly(r);
        let c = self.cos_poly(r);
        let odd = self.bit_set(qb, 1);
        let nc = self.b.ins().fneg(c);
        let num = self.sel(odd, nc, s);
        let den = self.sel(odd, s, c);
        let fast = self.b.ins().fdiv(num, den);
        let fast = self.tiny_identity(x, fast);
        self.trig_cold_path(x, fast, self.libm.tan)
    }

    /// `x` itself where `|x| < 2⁻²⁷` (sin and tan round to `x` there; this
    /// also keeps the sign of −0, which the polynomial would lose).
    fn tiny_identity(&mut self, x: Value, v: Value) -> Value {
        let ty = self.ty(x);
        let a = self.b.ins().fabs(x);
        let lim = self.fc(ty, 1.0 / 134_217_728.0);
        let tiny = self.b.ins().fcmp(FloatCC::LessThan, a, lim);
        self.sel(tiny, x, v)
    }

    /// Replaces lanes with `|x| > TRIG_MAX` (or infinite) by libm's value,
    /// in a cold block entered only when some lane needs it.
    fn trig_cold_path(&mut self, x: Value, fast: Value, f: Option<FuncRef>) -> Value {
        let Some(f) = f else { return fast };
        let ty = self.ty(x);
        let a = self.b.ins().fabs(x);
        let lim = self.fc(ty, TRIG_MAX);
        let big = self.b.ins().fcmp(FloatCC::GreaterThan, a, lim);
        let any = if ty.is_vector() { self.b.ins().vany_true(big) } else { big };
        let cold = self.b.create_block();
        let join = self.b.create_block();
        let res = self.b.append_block_param(join, ty);
        self.b.set_cold_block(cold);
        self.b.ins().brif(any, cold, &[], join, &[fast.into()]);
        self.b.switch_to_block(cold);
        self.b.seal_block(cold);
        let slow = self.map_lanes(&[x], |m, args| {
            let call = m.b.ins().call(f, args);
            m.b.inst_results(call)[0]
        });
        let picked = self.sel(big, slow, fast);
        self.b.ins().jump(join, &[picked.into()]);
        self.b.switch_to_block(join);
        self.b.seal_block(join);
        res
    }

    /// Applies a scalar emitter to each lane of `args` (all of one type).
    fn map_lanes(&mut self, args: &[Value], mut f: impl FnMut(&mut Self, &[Value]) -> Value) -> Value {
        if !self.ty(args[0]).is_vector() {
            return f(self, args);
        }
        let mut out: Option<Value> = None;
        for lane in 0u8..2 {
            let scalars: Vec<Value> = args.iter().map(|&a| self.b.ins().extractlane(a, lane)).collect();
            let r = f(self, &scalars);
            out = Some(match out {
                None => self.b.ins().scalar_to_vector(types::F64X2, r),
                Some(v) => self.b.ins().insertlane(v, r, lane),
            });
        }
        out.unwrap_or(args[0])
    }

    /// `a^b` through libm, NaN for `a < 0` (see the interpreter).
    pub fn pow(&mut self, a: Value, b: Value) -> Option<Value> {
        let f = self.libm.pow?;
        let ty = self.ty(a);
        let zero = self.fc(ty, 0.0);
        let ap = self.b.ins().fadd(a, zero);
        let r = self.map_lanes(&[ap, b], |m, args| {
            let call = m.b.ins().call(f, args);
            m.b.inst_results(call)[0]
        });
        let neg = self.b.ins().fcmp(FloatCC::LessThan, a, zero);
        let nan = self.fc(ty, f64::NAN);
        Some(self.sel(neg, nan, r))
    }
}
