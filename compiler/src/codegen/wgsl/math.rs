//! The WGSL prelude: the elementwise helpers generated functions call.
//!
//! Owns `nde_exp`, `nde_log`, `nde_sin`, `nde_cos`, `nde_tan`, `nde_tanh`,
//! `nde_expm1`, `nde_log1p`, `nde_relu`, `nde_step`, `nde_sigmoid`,
//! `nde_softplus`, `nde_gelu`, `nde_elu`, `nde_pow`, `nde_min`, `nde_max`,
//! and the tests `nde_isnan` / `nde_finite`, for one [`Precision`].
//!
//! `f32` uses WGSL's builtins (their accuracy: `exp`, `log` within about
//! 2⁻²¹ absolute near 1), with `expm1` as a Taylor polynomial near 0 and
//! `tanh = sign(x) e/(e+2)`, `e = expm1(2|x|)`, for relative accuracy near 0. `f64` has no transcendental builtins in
//! WGSL, so it uses the methods of the CPU kernels (`codegen/math.rs`):
//! Cody–Waite reduction by ln 2 with the runtime's degree-10 `expm1`
//! polynomial (`nde_runtime::linalg::vmath::EXPM1_C`, Estrin's scheme), `log`
//! by `2 atanh((m−1)/(m+1))` on the mantissa from `frexp`, `sin`/`cos`/`tan`
//! by a three-part π/2 and Taylor polynomials to `r¹⁷`/`r¹⁸`, and
//! `tanh = sign(x) e/(e+2)` with `e = expm1(2|x|)`, `|x|` capped at 20.
//! Differences from the CPU: trigonometric arguments beyond 2³⁰ lose
//! accuracy (the CPU calls libm there), and `pow` is `exp(b log a)`.
//!
//! Special values are made at run time (`0/0`, `1/0` of a variable), since
//! WGSL has no literal for them. Never: read memory or declare bindings.

use nde_runtime::linalg::vmath::{EXPM1_C, LN2_HI, LN2_LO, LOG2E, TANH_CAP};

use super::Precision;
use crate::ir::interp::{GELU_A, GELU_C};

/// `1/n!` for `n = lo, lo+step, …, hi`, highest degree first, alternating in
/// sign from positive at `lo`, then negated (`−1/3!, +1/5!, …` read upwards).
fn taylor(lo: u32, hi: u32) -> Vec<f64> {
    let fact = |n: u32| (1..=n).fold(1.0f64, |a, i| a * f64::from(i));
    let mut c: Vec<f64> = (lo..=hi)
        .step_by(2)
        .enumerate()
        .map(|(i, n)| if i % 2 == 1 { 1.0 / fact(n) } else { -1.0 / fact(n) })
        .collect();
    c.reverse();
    c
}

/// `acc = fma(acc, x, c)` over `coeffs` (highest degree first), as WGSL
/// statements ending with `var NAME` holding the value.
fn horner(p: Precision, name: &str, x: &str, coeffs: &[f64]) -> String {
    let mut s = format!("  var {name} = {};\n", p.lit(coeffs[0]));
    for &c in &coeffs[1..] {
        s.push_str(&format!("  {name} = fma({name}, {x}, {});\n", p.lit(c)));
    }
    s
}

/// Helpers common to both precisions (written once with `T` for the type).
const COMMON: &str = r"
fn nde_isnan(x: T) -> bool { return !(x == x); }
fn nde_finite(x: T) -> bool { return abs(x) <= MAXF; }
fn nde_nan() -> T { var z = T(0.0); return z / z; }
fn nde_inf() -> T { var z = T(0.0); return T(1.0) / z; }
fn nde_relu(x: T) -> T { return select(T(0.0), x, !(x <= T(0.0))); }
fn nde_step(x: T) -> T {
  if (nde_isnan(x)) { return x; }
  return select(T(0.0), T(1.0), x > T(0.0));
}
fn nde_sigmoid(x: T) -> T { return T(1.0) / (T(1.0) + nde_exp(-x)); }
fn nde_softplus(x: T) -> T { return select(T(0.0), x, x > T(0.0)) + nde_log1p(nde_exp(-abs(x))); }
fn nde_gelu(x: T) -> T {
  let u = (x * x * x * T(GELU_A) + x) * T(GELU_C);
  return x / (T(1.0) + nde_exp(T(-2.0) * u));
}
fn nde_elu(x: T) -> T { if (x > T(0.0)) { return x; } return nde_expm1(x); }
fn nde_min(a: T, b: T) -> T {
  if (nde_isnan(a) || nde_isnan(b)) { return a + b; }
  if (a == b) { return select(b, a, T(1.0) / a < T(0.0)); }
  return select(b, a, a < b);
}
fn nde_max(a: T, b: T) -> T {
  if (nde_isnan(a) || nde_isnan(b)) { return a + b; }
  if (a == b) { return select(a, b, T(1.0) / a < T(0.0)); }
  return select(b, a, a > b);
}
fn nde_log1p(x: T) -> T {
  // z − z²/2 + z³/3 near 0 (relative error below z³/4).
  if (abs(x) < T(1e-4)) { return x * (T(1.0) - x * (T(0.5) - x * T(0.3333333333333333))); }
  let u = T(1.0) + x;
  if (u == T(1.0)) { return x; }
  return nde_log(u) * (x / (u - T(1.0)));
}
";

/// `f32`: the builtins, guarded where WGSL leaves results undefined.
const F32: &str = r"
fn nde_exp(x: f32) -> f32 { return exp(x); }
fn nde_log(x: f32) -> f32 {
  if (nde_isnan(x)) { return x; }
  if (x < 0.0f) { return nde_nan(); }
  if (x == 0.0f) { return -nde_inf(); }
  return log(x);
}
fn nde_sin(x: f32) -> f32 { return sin(x); }
fn nde_cos(x: f32) -> f32 { return cos(x); }
fn nde_tan(x: f32) -> f32 { return tan(x); }
fn nde_tanh(x: f32) -> f32 {
  if (nde_isnan(x)) { return x; }
  let e = nde_expm1(min(abs(x), 10.0f) * 2.0f);
  let t = e / (e + 2.0f);
  return select(t, -t, x < 0.0f);
}
fn nde_expm1(x: f32) -> f32 {
  // Taylor to x⁹ near 0 (relative error < 2e-8 for |x| < 0.5); beyond,
  // exp(x) − 1 has no cancellation to speak of.
  if (abs(x) < 0.5f) {
    var p = 2.7557319e-6f;
    p = fma(p, x, 2.4801587e-5f);
    p = fma(p, x, 1.9841270e-4f);
    p = fma(p, x, 1.3888889e-3f);
    p = fma(p, x, 8.3333333e-3f);
    p = fma(p, x, 4.1666667e-2f);
    p = fma(p, x, 1.6666667e-1f);
    p = fma(p, x, 0.5f);
    return fma(x * x, p, x);
  }
  return exp(x) - 1.0f;
}
fn nde_pow(a: f32, b: f32) -> f32 {
  if (a < 0.0f) { return nde_nan(); }
  if (b == 0.0f) { return 1.0f; }
  return pow(abs(a), b);
}
";

/// The prelude for `precision`: every helper generated code may call.
pub fn prelude(precision: Precision) -> String {
    let p = precision;
    let (maxf, body) = match p {
        Precision::F32 => (p.lit(f64::from(f32::MAX)), F32.to_string()),
        Precision::F64 => (p.lit(f64::MAX), f64_functions()),
    };
    let common = COMMON
        .replace("MAXF", &maxf)
        .replace("T(GELU_A)", &p.lit(GELU_A))
        .replace("T(GELU_C)", &p.lit(GELU_C))
        .replace("T(", &format!("{}(", p.ty()))
        .replace(": T", &format!(": {}", p.ty()))
        .replace("-> T", &format!("-> {}", p.ty()));
    format!("// nde prelude ({p})\n{common}{body}\n")
}

/// Statements bringing `m > 0` (finite) into `[1, 2)` by powers of two,
/// `2^512` down to `2`, counting the exponent in `e`.
fn scale() -> String {
    let p = Precision::F64;
    let mut s = String::new();
    for k in [512, 256, 128, 64, 32, 16, 8, 4, 2, 1] {
        let big = 2f64.powi(k);
        s.push_str(&format!(
            "  if (m >= {b}) {{ m = m * {inv}; e = e + {kf}; }}\n",
            b = p.lit(big),
            inv = p.lit(1.0 / big),
            kf = p.lit(f64::from(k))
        ));
    }
    for k in [512, 256, 128, 64, 32, 16, 8, 4, 2, 1] {
        let small = 2f64.powi(-k);
        s.push_str(&format!(
            "  if (m < {b}) {{ m = m * {inv}; e = e - {kf}; }}\n",
            b = p.lit(small * 2.0),
            inv = p.lit(1.0 / small),
            kf = p.lit(f64::from(k))
        ));
    }
    s
}

/// The `f64` transcendental functions.
fn f64_functions() -> String {
    let p = Precision::F64;
    let l = |x: f64| p.lit(x);
    let c = &EXPM1_C;
    // ln 2 split with 11 trailing zero bits in the high part (exact `e · hi`).
    let ln2_hi_t = f64::from_bits(0x3fe6_2e42_fefa_3800);
    let ln2_lo_t = f64::from_bits(0x3d2e_f357_93c7_6730);
    let pio2 = [
        f64::from_bits(0x3ff9_21fb_5444_2d18),
        f64::from_bits(0x3c91_a626_3314_5c07),
        f64::from_bits(0xb91f_1976_b7ed_8fbc),
    ];
    let mut s = String::new();
    s.push_str(&format!(
        "fn nde_expm1_red(r: f64) -> f64 {{
  let r2 = r * r; let r4 = r2 * r2; let r8 = r4 * r4;
  let e01 = fma({c1}, r, {c0}); let e23 = fma({c3}, r, {c2}); let e45 = fma({c5}, r, {c4});
  let e67 = fma({c7}, r, {c6}); let e89 = fma({c9}, r, {c8});
  let e03 = fma(e23, r2, e01); let e47 = fma(e67, r2, e45); let e8a = fma({c10}, r2, e89);
  let e07 = fma(e47, r4, e03);
  return fma(r2, fma(e8a, r8, e07), r);
}}
fn nde_exp(x: f64) -> f64 {{
  if (x > 709.782712893384lf) {{ return nde_inf(); }}
  if (x < -745.2lf) {{ return 0.0lf; }}
  let k = round(x * {log2e});
  let r = fma(-k, {ln2_lo}, fma(-k, {ln2_hi}, x));
  let e = 1.0lf + nde_expm1_red(r);
  let ki = i32(k);
  let k1 = ki / 2;
  return ldexp(ldexp(e, k1), ki - k1);
}}
fn nde_expm1(x: f64) -> f64 {{
  if (x > 709.0lf) {{ return nde_exp(x); }}
  if (x < -40.0lf) {{ return -1.0lf; }}
  let k = round(x * {log2e});
  let r = fma(-k, {ln2_lo}, fma(-k, {ln2_hi}, x));
  let em = nde_expm1_red(r);
  if (k == 0.0lf) {{ return em; }}
  let s = ldexp(1.0lf, i32(k));
  return fma(s, em, s - 1.0lf);
}}
fn nde_log(x: f64) -> f64 {{
  if (nde_isnan(x)) {{ return x; }}
  if (x < 0.0lf) {{ return nde_nan(); }}
  if (x == 0.0lf) {{ return -nde_inf(); }}
  if (!nde_finite(x)) {{ return x; }}
  // m in [1, 2) and e by exact scalings (WGSL's f64 frexp needs i64).
  var m = x;
  var e = 0.0lf;
  if (m < 1.0e-290lf) {{ m = m * 1.2676506002282294e30lf; e = e - 100.0lf; }}
{scale}  if (m > {sqrt2}) {{ m = m * 0.5lf; e = e + 1.0lf; }}
  let f = (m - 1.0lf) / (m + 1.0lf);
  let f2 = f * f;
{series}  let lm = fma(2.0lf * f * f2, ser, 2.0lf * f);
  return fma(e, {ln2_hi_t}, fma(e, {ln2_lo_t}, lm));
}}
fn nde_tanh(x: f64) -> f64 {{
  if (nde_isnan(x)) {{ return x; }}
  let a = min(abs(x), {cap});
  let e = nde_expm1(a + a);
  let t = e / (e + 2.0lf);
  return select(t, -t, x < 0.0lf);
}}
fn nde_pow(a: f64, b: f64) -> f64 {{
  if (a < 0.0lf) {{ return nde_nan(); }}
  if (b == 0.0lf) {{ return 1.0lf; }}
  return nde_exp(b * nde_log(abs(a)));
}}
struct NdeReduced {{ r: f64, q: i32 }}
fn nde_reduce(x: f64) -> NdeReduced {{
  let k = round(x * {two_over_pi});
  var r = fma(-k, {p1}, x);
  r = fma(-k, {p2}, r);
  r = fma(-k, {p3}, r);
  return NdeReduced(r, i32(k) & 3);
}}
fn nde_sin_poly(r: f64) -> f64 {{
  let z = r * r;
{sin_poly}  return fma(r * z, sp, r);
}}
fn nde_cos_poly(r: f64) -> f64 {{
  let z = r * r;
{cos_poly}  return fma(z, cp, 1.0lf);
}}
fn nde_sin(x: f64) -> f64 {{
  let red = nde_reduce(x);
  let s = nde_sin_poly(red.r); let c = nde_cos_poly(red.r);
  switch red.q {{ case 0: {{ return s; }} case 1: {{ return c; }} case 2: {{ return -s; }} default: {{ return -c; }} }}
}}
fn nde_cos(x: f64) -> f64 {{
  let red = nde_reduce(x);
  let s = nde_sin_poly(red.r); let c = nde_cos_poly(red.r);
  switch red.q {{ case 0: {{ return c; }} case 1: {{ return -s; }} case 2: {{ return -c; }} default: {{ return s; }} }}
}}
fn nde_tan(x: f64) -> f64 {{
  let red = nde_reduce(x);
  let s = nde_sin_poly(red.r); let c = nde_cos_poly(red.r);
  if ((red.q & 1) == 0) {{ return s / c; }}
  return -c / s;
}}
",
        c0 = l(c[0]),
        c1 = l(c[1]),
        c2 = l(c[2]),
        c3 = l(c[3]),
        c4 = l(c[4]),
        c5 = l(c[5]),
        c6 = l(c[6]),
        c7 = l(c[7]),
        c8 = l(c[8]),
        c9 = l(c[9]),
        c10 = l(c[10]),
        log2e = l(LOG2E),
        ln2_hi = l(LN2_HI),
        ln2_lo = l(LN2_LO),
        ln2_hi_t = l(ln2_hi_t),
        ln2_lo_t = l(ln2_lo_t),
        sqrt2 = l(std::f64::consts::SQRT_2),
        scale = scale(),
        series = horner(p, "ser", "f2", &(1..=10).rev().map(|j| 1.0 / f64::from(2 * j + 1)).collect::<Vec<_>>()),
        cap = l(TANH_CAP),
        two_over_pi = l(std::f64::consts::FRAC_2_PI),
        p1 = l(pio2[0]),
        p2 = l(pio2[1]),
        p3 = l(pio2[2]),
        sin_poly = horner(p, "sp", "z", &taylor(3, 17)),
        cos_poly = horner(p, "cp", "z", &taylor(2, 18)),
    ));
    s
}
