//! Ensemble compute shaders: a model's generated functions plus a solver
//! body, one invocation per trajectory.
//!
//! Owns the WGSL text of the two ensemble kernels and their binding layout
//! ([`Binding`]): the adaptive explicit Runge–Kutta loop (Tsit5 or Dopri5,
//! the runtime's tableaus, initial-step heuristic, PID controller, stretch of
//! the last step, saving by each method's dense output, the same failure
//! rules as `nde_runtime::solver::adaptive`), and fixed-step Euler–Maruyama
//! over the runtime's SDE grid (save times are step points) with normal
//! increments from Philox 4x32-10 keyed by the noise seed, counter
//! `(step, block, trajectory, 0)`, through Box–Muller.
//!
//! Pure text generation, compiled in every build (so every example's shader
//! is validated by naga in plain `cargo test`). Never: talk to a device.

use std::fmt::Write;

use nde_runtime::solver::tableau::{Tableau, DOPRI5, DOPRI5_DENSE, TSIT5, TSIT5_DENSE};
use nde_runtime::Controller;

use crate::codegen::wgsl::{self, Precision, WgslError, PARAM_BUFFER};
use crate::ir::{ModelIr, NoiseShape};

/// Invocations per workgroup (one trajectory each).
pub const WORKGROUP: u32 = 64;

/// Status words a trajectory ends with (`nde_status[4 b]`).
pub const STATUS_OK: u32 = 0;
pub const STATUS_MAX_STEPS: u32 = 1;
pub const STATUS_NON_FINITE: u32 = 2;
pub const STATUS_STEP_COLLAPSE: u32 = 3;

/// The bindings of group 0, in binding order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// `array<T>`, read: the parameters (shared by every trajectory).
    Params = 0,
    /// `array<T>`, read: the chunk's initial states, `[count][n]`.
    Y0 = 1,
    /// `array<T>`, read: `[t0, floor, save times…]` (`floor`: the end time
    /// less 100 ulp in `T`, where a step is stretched to the end).
    Times = 2,
    /// `array<T>`, read-write: the saved states, `[count][saves][n]`.
    Out = 3,
    /// `array<u32>`, read-write: `[status, accepted, rejected, nfe]` per trajectory.
    Status = 4,
    /// `array<T>`, read-write: `[t, h]` of a failure per trajectory.
    Fail = 5,
    /// Uniform `{count, first, seed_lo, seed_hi}`: trajectories in this
    /// dispatch, the global index of its first, the noise seed.
    Config = 6,
}

/// The adaptive methods the device runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OdeMethod {
    Tsit5,
    Dopri5,
}

impl OdeMethod {
    pub fn tableau(self) -> &'static Tableau {
        match self {
            OdeMethod::Tsit5 => &TSIT5,
            OdeMethod::Dopri5 => &DOPRI5,
        }
    }

    /// Dense output `w_i(θ) = Σ_m R[i][m] θ^(m+1)`: Tsit5's own continuous
    /// extension and Dopri5's Shampine extension, the runtime's coefficients.
    pub fn dense_coefficients(self) -> [[f64; 4]; 7] {
        match self {
            OdeMethod::Tsit5 => TSIT5_DENSE,
            OdeMethod::Dopri5 => DOPRI5_DENSE,
        }
    }
}

/// Everything an ODE ensemble shader bakes in.
#[derive(Clone, Debug, PartialEq)]
pub struct OdeSpec {
    pub method: OdeMethod,
    pub precision: Precision,
    pub saves: usize,
    pub rtol: f64,
    pub atol: f64,
    /// The first step; `None`: the runtime's initial-step heuristic.
    pub dt: Option<f64>,
    pub max_steps: u32,
    pub controller: Controller,
}

/// Everything an SDE ensemble shader bakes in.
#[derive(Clone, Debug, PartialEq)]
pub struct SdeSpec {
    pub precision: Precision,
    pub saves: usize,
    pub dt: f64,
    pub max_steps: u32,
}

/// Steps shorter than this times `|t|` count as a collapse: the runtime's
/// `MIN_STEP_REL` (about 45 ulp) in `f64`; the same 45 ulp in `f32`.
pub fn min_step_rel(p: Precision) -> f64 {
    match p {
        Precision::F64 => nde_runtime::stepsize::MIN_STEP_REL,
        Precision::F32 => 45.0 * f64::from(f32::EPSILON) / 2.0,
    }
}

fn header(p: Precision, n: usize) -> String {
    let t = p.ty();
    let mut s = wgsl::prelude(p);
    let _ = write!(
        s,
        "struct NdeConfig {{ count: u32, first: u32, seed_lo: u32, seed_hi: u32 }}
@group(0) @binding(0) var<storage, read> {PARAM_BUFFER}: array<{t}>;
@group(0) @binding(1) var<storage, read> nde_y0: array<{t}>;
@group(0) @binding(2) var<storage, read> nde_times: array<{t}>;
@group(0) @binding(3) var<storage, read_write> nde_out: array<{t}>;
@group(0) @binding(4) var<storage, read_write> nde_status: array<u32>;
@group(0) @binding(5) var<storage, read_write> nde_fail: array<{t}>;
@group(0) @binding(6) var<uniform> nde_cfg: NdeConfig;
const N: u32 = {n}u;

"
    );
    s
}

/// The ODE ensemble shader of `model` (entry point `main`).
pub fn ode_shader(model: &ModelIr, spec: &OdeSpec) -> Result<String, WgslError> {
    let p = spec.precision;
    let n = model.n_state();
    let t = p.ty();
    let l = |x: f64| p.lit(x);
    let tab = spec.method.tableau();
    let mut s = header(p, n);
    s.push_str(&wgsl::function(&model.rhs, "rhs", p)?);
    let stages = tab.c.len();
    // Stage code: Y_i = y + h Σ_j a_ij k_j (zero terms left out), k_i = f(t + c_i h, Y_i).
    // One call site of `rhs` for all stages (drivers inline every call,
    // and an unrolled stage sequence made lavapipe miscompile a 64-wide
    // MLP): a loop over stages with the tableau in private arrays. Each
    // stage input is `y + h Σ_j a_sj k_j`, summed from j = 0 like the CPU.
    let mut a_flat = vec![0.0; stages * stages];
    for (i, row) in tab.a.iter().enumerate() {
        for (j, &a) in row.iter().enumerate() {
            a_flat[i * stages + j] = a;
        }
    }
    let list = |v: &[f64]| v.iter().map(|&x| l(x)).collect::<Vec<_>>().join(", ");
    let tableau = format!(
        "const S: u32 = {stages}u;\nvar<private> nde_a: array<{t}, {ss}> = array<{t}, {ss}>({a});\nvar<private> nde_c: array<{t}, {stages}> = array<{t}, {stages}>({c});\n",
        ss = stages * stages,
        a = list(&a_flat),
        c = list(tab.c)
    );
    let stage_code = format!(
        "      for (var s = 1u; s < S; s++) {{
        for (var m = 0u; m < N; m++) {{
          var acc: {t};
          acc = {zero};
          for (var j = 0u; j < s; j++) {{ acc = acc + nde_a[s * S + j] * k[j][m]; }}
          ytmp[m] = y[m] + h * acc;
        }}
        var ts: {t};
        if (s == S - 1u) {{ ts = tnext; }} else {{ ts = tprev + nde_c[s] * h; }}
        rhs(ts, &ytmp, &kout);
        k[s] = kout;
      }}
      for (var m = 0u; m < N; m++) {{ ynew[m] = ytmp[m]; }}
",
        zero = l(0.0)
    );
    let berr = tab.b_err.unwrap_or(&[]);
    let err_terms: Vec<String> =
        berr.iter().enumerate().filter(|(_, &e)| e != 0.0).map(|(j, &e)| format!("{} * k[{j}][m]", l(e))).collect();
    let dense = spec.method.dense_coefficients();
    let mut weights = String::new();
    let mut dense_terms = Vec::new();
    for (i, r) in dense.iter().enumerate() {
        if r.iter().all(|&c| c == 0.0) {
            continue;
        }
        let _ = writeln!(
            weights,
            "        let w{i} = th * ({} + th * ({} + th * ({} + th * {})));",
            l(r[0]),
            l(r[1]),
            l(r[2]),
            l(r[3])
        );
        dense_terms.push(format!("w{i} * k[{i}][m]"));
    }
    let c = &spec.controller;
    let order = f64::from(tab.error_order());
    let (c1, c2, c3) =
        ((c.icoeff + c.pcoeff + c.dcoeff) / order, -(c.pcoeff + 2.0 * c.dcoeff) / order, c.dcoeff / order);
    let pow = |x: &str, e: f64| if e == 0.0 { l(1.0) } else { format!("nde_pow({x}, {})", l(e)) };
    let raw = format!("{} * {} * {} * {}", l(c.safety), pow("inv", c1), pow("pid_prev", c2), pow("pid_prev2", c3));
    let h0 = match spec.dt {
        Some(dt) => format!("  var h0: {t} = {};\n", l(dt)),
        None => initial_step(p, order, spec.atol, spec.rtol, n),
    };
    let karrays = format!("  var k: array<array<{t}, N>, S>;\n  var kout: array<{t}, N>;\n");
    s.push_str(&tableau);
    let _ = write!(
        s,
        "fn min_step(t: {t}) -> {t} {{ return max({rel} * abs(t), {tiny}); }}

@compute @workgroup_size({WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {{
  let b = gid.x;
  if (b >= nde_cfg.count) {{ return; }}
  var y: array<{t}, N>;
  var ynew: array<{t}, N>;
  var ytmp: array<{t}, N>;
{karrays}  let t0 = nde_times[0];
  let t_floor = nde_times[1];
  let t_end = nde_times[{last}u];
  let obase = b * {saves}u * N;
  var status = {ok}u;
  var fail_t = t0;
  var fail_h = {zero};
  var accepted = 0u;
  var rejected = 0u;
  var nfe = 0u;
  var next_save = 0u;
  var finite = true;
  for (var m = 0u; m < N; m++) {{ y[m] = nde_y0[b * N + m]; finite = finite && nde_finite(y[m]); }}
  if (!finite) {{ status = {nonfinite}u; }}
  if (status == {ok}u && t_end > t0) {{
    rhs(t0, &y, &kout);
    k[0] = kout;
    nfe = 1u;
    for (var m = 0u; m < N; m++) {{ finite = finite && nde_finite(k[0][m]); }}
    if (!finite) {{ status = {nonfinite}u; }}
  }}
  if (status == {ok}u && t_end > t0) {{
{h0}    var pid_prev = {one};
    var pid_prev2 = {one};
    var tprev = t0;
    var tnext = min(t0 + h0, t_end);
    loop {{
      if (!(tprev < t_end)) {{ break; }}
      if (accepted + rejected >= {max_steps}u) {{ status = {maxsteps}u; fail_t = tprev; break; }}
      let h = tnext - tprev;
{stage_code}      nfe += {evals}u;
      // Loop-local variables are assigned, never initialised in their
      // declaration: a declaration's constant initialiser is not reliably
      // re-run on every iteration by every driver.
      var sum: {t};
      sum = {zero};
      var ok: bool;
      ok = true;
      for (var m = 0u; m < N; m++) {{
        let err = h * ({err});
        let sc = {atol} + {rtol} * max(abs(y[m]), abs(ynew[m]));
        let r = select(err / sc, {zero}, err == {zero});
        sum += r * r;
        ok = ok && nde_finite(ynew[m]) && nde_finite(k[{end}][m]);
      }}
      let eest = sqrt(sum / {nf});
      let bad = !(ok && nde_finite(eest));
      let accept = !bad && eest < {one};
      var factor: {t};
      if (bad) {{
        factor = {factormin};
      }} else if (eest == {zero}) {{
        factor = {factormax};
      }} else {{
        let inv = {one} / eest;
        let raw = {raw};
        factor = select(min(max(raw, {factormin}), {safety}), min(max(raw, {one}), {factormax}), accept);
      }}
      if (accept) {{
        let stored = select({one} / eest, {one}, eest == {zero});
        pid_prev2 = pid_prev;
        pid_prev = stored;
      }}
      let dt = h * factor;
      var next_t0: {t};
      next_t0 = tprev;
      if (accept) {{
        while (next_save < {saves}u && nde_times[2u + next_save] <= tnext) {{
          let ts = nde_times[2u + next_save];
          let row = obase + next_save * N;
          if (ts == tnext) {{
            for (var m = 0u; m < N; m++) {{ nde_out[row + m] = ynew[m]; }}
          }} else if (ts == tprev) {{
            for (var m = 0u; m < N; m++) {{ nde_out[row + m] = y[m]; }}
          }} else {{
            let th = (ts - tprev) / h;
{weights}            for (var m = 0u; m < N; m++) {{ nde_out[row + m] = y[m] + h * ({dense}); }}
          }}
          next_save += 1u;
        }}
        for (var m = 0u; m < N; m++) {{ y[m] = ynew[m]; }}
        k[0] = k[{end}];
        accepted += 1u;
        next_t0 = tnext;
      }} else {{
        rejected += 1u;
      }}
      tprev = min(next_t0, t_end);
      let proposed = next_t0 + dt;
      if (proposed > t_floor) {{
        tnext = select(tprev + {half} * (t_end - tprev), t_end, accept);
      }} else {{
        tnext = proposed;
      }}
      if (tprev < t_end && dt < min_step(tprev)) {{
        status = select({collapse}u, {nonfinite}u, !accept && bad);
        fail_t = tprev;
        fail_h = dt;
        break;
      }}
    }}
  }}
  if (status == {ok}u) {{
    for (; next_save < {saves}u; next_save++) {{
      for (var m = 0u; m < N; m++) {{ nde_out[obase + next_save * N + m] = y[m]; }}
    }}
  }}
  nde_status[4u * b] = status;
  nde_status[4u * b + 1u] = accepted;
  nde_status[4u * b + 2u] = rejected;
  nde_status[4u * b + 3u] = nfe;
  nde_fail[2u * b] = fail_t;
  nde_fail[2u * b + 1u] = fail_h;
}}
",
        rel = l(min_step_rel(p)),
        tiny = l(match p {
            Precision::F32 => f64::from(f32::MIN_POSITIVE),
            Precision::F64 => f64::MIN_POSITIVE,
        }),
        last = spec.saves + 1,
        saves = spec.saves,
        ok = STATUS_OK,
        nonfinite = STATUS_NON_FINITE,
        maxsteps = STATUS_MAX_STEPS,
        collapse = STATUS_STEP_COLLAPSE,
        zero = l(0.0),
        one = l(1.0),
        half = l(0.5),
        max_steps = spec.max_steps,
        evals = stages - 1,
        err = if err_terms.is_empty() { l(0.0) } else { err_terms.join(" + ") },
        end = stages - 1,
        atol = l(spec.atol),
        rtol = l(spec.rtol),
        nf = l(n as f64),
        factormin = l(c.factormin),
        factormax = l(c.factormax),
        safety = l(c.safety),
        dense = dense_terms.join(" + "),
    );
    Ok(wgsl::lower_for_loops(&s))
}

/// The runtime's `select_initial_step` (diffrax's heuristic), with `kout` and
/// `ytmp` as its buffers; defines `var h0`.
fn initial_step(p: Precision, order: f64, atol: f64, rtol: f64, n: usize) -> String {
    let l = |x: f64| p.lit(x);
    let t = p.ty();
    format!(
        "    var d0 = {zero};
    var d1 = {zero};
    for (var m = 0u; m < N; m++) {{
      let sc = {atol} + {rtol} * abs(y[m]);
      let r0 = select(y[m] / sc, {zero}, y[m] == {zero});
      let r1 = select(k[0][m] / sc, {zero}, k[0][m] == {zero});
      d0 += r0 * r0;
      d1 += r1 * r1;
    }}
    d0 = sqrt(d0 / {nf});
    d1 = sqrt(d1 / {nf});
    var h0: {t} = select({c001} * (d0 / d1), {c1em6}, d0 < {c1em5} || d1 < {c1em5});
    if (!(nde_finite(h0) && h0 > {zero})) {{ h0 = {c1em6}; }}
    for (var m = 0u; m < N; m++) {{ ytmp[m] = y[m] + h0 * k[0][m]; }}
    rhs(t0 + h0, &ytmp, &kout);
    nfe += 1u;
    var d2 = {zero};
    for (var m = 0u; m < N; m++) {{
      let sc = {atol} + {rtol} * abs(y[m]);
      let df = kout[m] - k[0][m];
      let r = select(df / sc, {zero}, df == {zero});
      d2 += r * r;
    }}
    d2 = sqrt(d2 / {nf}) / h0;
    let max_d = select(max(d1, d2), d1, nde_isnan(d2));
    var h1: {t};
    if (max_d <= {c1em15}) {{ h1 = max(h0 * {c1em3}, {c1em6}); }} else {{ h1 = nde_pow({c001} / max_d, {inv_order}); }}
    let hh = min({c100} * h0, h1);
    if (nde_finite(hh) && hh > {zero}) {{ h0 = hh; }}
",
        zero = l(0.0),
        c001 = l(0.01),
        c1em6 = l(1e-6),
        c1em5 = l(1e-5),
        c1em15 = l(1e-15),
        c1em3 = l(1e-3),
        c100 = l(100.0),
        inv_order = l(1.0 / order),
        atol = l(atol),
        rtol = l(rtol),
        nf = l(n as f64),
    )
}

/// Philox 4x32-10 and Box–Muller normals (4 per call in `f32`, 2 in `f64`).
fn rng(p: Precision) -> String {
    let mut s = String::from(
        "fn nde_mulhilo(a: u32, b: u32) -> vec2<u32> {
  let al = a & 0xffffu; let ah = a >> 16u; let bl = b & 0xffffu; let bh = b >> 16u;
  let ll = al * bl; let lh = al * bh; let hl = ah * bl; let hh = ah * bh;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return vec2<u32>(hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u), a * b);
}
fn nde_philox(ctr: vec4<u32>, key0: vec2<u32>) -> vec4<u32> {
  var x = ctr;
  var k = key0;
  for (var r = 0u; r < 10u; r++) {
    let p0 = nde_mulhilo(0xD2511F53u, x.x);
    let p1 = nde_mulhilo(0xCD9E8D57u, x.z);
    x = vec4<u32>(p1.x ^ x.y ^ k.x, p1.y, p0.x ^ x.w ^ k.y, p0.y);
    k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
  }
  return x;
}
",
    );
    match p {
        Precision::F32 => s.push_str(
            "const NDE_PER: u32 = 4u;
fn nde_normals(ctr: vec4<u32>, key: vec2<u32>) -> array<f32, 4> {
  let r = nde_philox(ctr, key);
  let u0 = (f32(r.x >> 8u) + 1.0f) * 5.9604644775390625e-8f;
  let u1 = f32(r.y >> 8u) * 5.9604644775390625e-8f;
  let u2 = (f32(r.z >> 8u) + 1.0f) * 5.9604644775390625e-8f;
  let u3 = f32(r.w >> 8u) * 5.9604644775390625e-8f;
  let ra = sqrt(-2.0f * log(u0));
  let rb = sqrt(-2.0f * log(u2));
  let tau = 6.283185307179586f;
  return array<f32, 4>(ra * cos(tau * u1), ra * sin(tau * u1), rb * cos(tau * u3), rb * sin(tau * u3));
}
",
        ),
        Precision::F64 => s.push_str(
            "const NDE_PER: u32 = 2u;
fn nde_normals(ctr: vec4<u32>, key: vec2<u32>) -> array<f64, 2> {
  let r = nde_philox(ctr, key);
  let u0 = (f64(r.x >> 5u) * 67108864.0lf + f64(r.y >> 6u) + 1.0lf) * 1.1102230246251565e-16lf;
  let u1 = (f64(r.z >> 5u) * 67108864.0lf + f64(r.w >> 6u)) * 1.1102230246251565e-16lf;
  let ra = sqrt(-2.0lf * nde_log(u0));
  let th = 6.283185307179586lf * u1;
  return array<f64, 2>(ra * nde_cos(th), ra * nde_sin(th));
}
",
        ),
    }
    s
}

/// The SDE ensemble shader of `model` (Itô Euler–Maruyama; entry `main`).
/// Callers check that the model is an SDE; a model without noise gets
/// `g = 0` semantics from an empty diffusion.
pub fn sde_shader(model: &ModelIr, spec: &SdeSpec) -> Result<String, WgslError> {
    let p = spec.precision;
    let t = p.ty();
    let l = |x: f64| p.lit(x);
    let n = model.n_state();
    let mut s = header(p, n);
    s.push_str(&rng(p));
    s.push_str(&wgsl::function(&model.rhs, "drift", p)?);
    let (noise, glen) = match &model.diffusion {
        Some(d) => {
            s.push_str(&wgsl::function(&d.function, "diffusion", p)?);
            (d.noise, d.noise.diffusion_len(n))
        }
        None => (NoiseShape::Diagonal, 0),
    };
    let m = noise.channels(n);
    let (gcall, gdw) = if glen == 0 {
        (String::new(), l(0.0))
    } else {
        let g = match noise {
            NoiseShape::Diagonal => "g[i] * dw[i]".to_string(),
            NoiseShape::General { m } => {
                (0..m).map(|j| format!("g[i * {m}u + {j}u] * dw[{j}u]")).collect::<Vec<_>>().join(" + ")
            }
        };
        ("      diffusion(ta, &y, &g);\n".to_string(), g)
    };
    let _ = write!(
        s,
        "const M: u32 = {m}u;

fn nde_near(g: {t}, s: {t}) -> bool {{ return abs(g - s) <= {tol_dt} + {eps4} * abs(s); }}

@compute @workgroup_size({WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {{
  let b = gid.x;
  if (b >= nde_cfg.count) {{ return; }}
  let traj = nde_cfg.first + b;
  let key = vec2<u32>(nde_cfg.seed_lo, nde_cfg.seed_hi);
  var y: array<{t}, N>;
  var y1: array<{t}, N>;
  var f: array<{t}, N>;
  var g: array<{t}, {gl}>;
  var dw: array<{t}, {ml}>;
  let t0 = nde_times[0];
  let obase = b * {saves}u * N;
  var status = {ok}u;
  var fail_t = t0;
  var steps = 0u;
  for (var i = 0u; i < N; i++) {{ y[i] = nde_y0[b * N + i]; }}
  var si = 0u;
  loop {{
    if (si >= {saves}u || nde_times[2u + si] > t0) {{ break; }}
    for (var i = 0u; i < N; i++) {{ nde_out[obase + si * N + i] = y[i]; }}
    si += 1u;
  }}
  var ta = t0;
  var k = 1u;
  loop {{
    if (si >= {saves}u) {{ break; }}
    let s = nde_times[2u + si];
    var tb: {t};
    tb = s;
    var saving: bool;
    saving = true;
    loop {{
      let gk = t0 + {t}(k) * {dt};
      let near = nde_near(gk, s) || (si > 0u && nde_near(gk, nde_times[1u + si]));
      if (near) {{ k += 1u; continue; }}
      if (gk < s) {{ k += 1u; tb = gk; saving = false; }}
      break;
    }}
    if (steps >= {max_steps}u) {{ status = {maxsteps}u; fail_t = ta; break; }}
    let h = tb - ta;
    let sq = sqrt(h);
    for (var j = 0u; j < M; j += NDE_PER) {{
      let z = nde_normals(vec4<u32>(steps, j / NDE_PER, traj, 0u), key);
      for (var q = 0u; q < NDE_PER; q++) {{ if (j + q < M) {{ dw[j + q] = sq * z[q]; }} }}
    }}
    drift(ta, &y, &f);
{gcall}    var finite = true;
    for (var i = 0u; i < N; i++) {{
      y1[i] = y[i] + h * f[i] + ({gdw});
      finite = finite && nde_finite(y1[i]);
    }}
    if (!finite) {{ status = {nonfinite}u; fail_t = ta; break; }}
    for (var i = 0u; i < N; i++) {{ y[i] = y1[i]; }}
    steps += 1u;
    ta = tb;
    if (saving) {{
      loop {{
        if (si >= {saves}u || nde_times[2u + si] != s) {{ break; }}
        for (var i = 0u; i < N; i++) {{ nde_out[obase + si * N + i] = y[i]; }}
        si += 1u;
      }}
    }}
  }}
  nde_status[4u * b] = status;
  nde_status[4u * b + 1u] = steps;
  nde_status[4u * b + 2u] = 0u;
  nde_status[4u * b + 3u] = {nfe_per}u * steps;
  nde_fail[2u * b] = fail_t;
  nde_fail[2u * b + 1u] = {dt};
}}
",
        tol_dt = l(1e-9 * spec.dt),
        eps4 = l(4.0
            * match p {
                Precision::F32 => f64::from(f32::EPSILON),
                Precision::F64 => f64::EPSILON,
            }),
        gl = glen.max(1),
        ml = m.max(1),
        saves = spec.saves,
        ok = STATUS_OK,
        maxsteps = STATUS_MAX_STEPS,
        nonfinite = STATUS_NON_FINITE,
        dt = l(spec.dt),
        max_steps = spec.max_steps,
        nfe_per = if glen == 0 { 1 } else { 2 },
    );
    Ok(wgsl::lower_for_loops(&s))
}

/// A shader evaluating `f` once per invocation: `t = nde_times[2 + b]`,
/// `y = nde_y0[b n..]`, outputs to `nde_out[b len..]` (tests against the
/// interpreter use it through `gpu::eval_function`).
pub fn eval_shader(f: &crate::ir::Function, p: Precision) -> Result<String, WgslError> {
    let t = p.ty();
    let ns = f.n_state.max(1);
    let no = f.output_len().max(1);
    let mut s = header(p, ns);
    s.push_str(&wgsl::function(f, "f", p)?);
    let _ = write!(
        s,
        "@compute @workgroup_size({WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {{
  let b = gid.x;
  if (b >= nde_cfg.count) {{ return; }}
  var y: array<{t}, {ns}>;
  var out: array<{t}, {no}>;
  for (var i = 0u; i < {ns}u; i++) {{ y[i] = nde_y0[b * {ns}u + i]; }}
  f(nde_times[2u + b], &y, &out);
  for (var i = 0u; i < {no}u; i++) {{ nde_out[b * {no}u + i] = out[i]; }}
  nde_status[4u * b] = 0u;
  nde_fail[2u * b] = {zero};
}}
",
        zero = p.lit(0.0)
    );
    Ok(wgsl::lower_for_loops(&s))
}

/// Philox 4x32-10 on the host, the same function as the shader's
/// `nde_philox` (for tests and for reproducing a device path on the CPU).
pub fn philox4x32(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut x = ctr;
    let mut k = key;
    for _ in 0..10 {
        let p0 = u64::from(0xD251_1F53u32) * u64::from(x[0]);
        let p1 = u64::from(0xCD9E_8D57u32) * u64::from(x[2]);
        x = [((p1 >> 32) as u32) ^ x[1] ^ k[0], p1 as u32, ((p0 >> 32) as u32) ^ x[3] ^ k[1], p0 as u32];
        k = [k[0].wrapping_add(0x9E37_79B9), k[1].wrapping_add(0xBB67_AE85)];
    }
    x
}
