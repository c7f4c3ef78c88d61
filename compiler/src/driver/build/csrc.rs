//! The C text of a library: the public header (`NAME.h`, the documented
//! API) and the glue source (the model descriptor as static data and one
//! wrapper per entry point, each forwarding to `nde_embed_*`).
//!
//! Owns the descriptor's C mirror (`struct nde_embed_model`, laid out like
//! `nde_embed::ModelDesc`; both carry the ABI version), exact number
//! literals (bit patterns through a union, so every value round-trips,
//! NaN included) and C string escaping. Never: run tools or write files.

use std::fmt::Write;

use crate::codegen::ObjectKernel;

/// The descriptor layout version (`nde_embed::ABI_VERSION`; a test checks
/// they agree).
pub const ABI_VERSION: u32 = 1;

/// The magic number that starts a live handle (`nde_embed::HANDLE_MAGIC`; a
/// test checks they agree).
pub const HANDLE_MAGIC: u64 = 0x6e64_655f_6d6f_646c;

/// An exported loss: its kernels and bundled data (see `nde_embed::LossDesc`).
#[derive(Clone, Debug)]
pub struct CLoss {
    pub name: String,
    pub kernel: ObjectKernel,
    pub vjp: ObjectKernel,
    /// `init`'s VJP when the initial states depend on the parameters (then
    /// `y0s` is empty: the library computes them with `init`).
    pub init_vjp: Option<ObjectKernel>,
    pub method: String,
    pub rtol: f64,
    pub atol: f64,
    /// 0: none.
    pub dt: f64,
    pub max_steps: usize,
    /// 0: discrete, 1: backsolve, 2: interpolated.
    pub adjoint: u32,
    /// The discrete adjoint's checkpoint bound (0: none).
    pub checkpoints: usize,
    pub t0: f64,
    pub n_traj: usize,
    pub times: Vec<f64>,
    pub y0s: Vec<f64>,
    pub input_len: usize,
    /// Where `sol.nfe` and `sol.steps` go in an input buffer.
    pub nfe_at: usize,
    pub steps_at: usize,
    pub inputs: Vec<f64>,
}

/// Everything the C text says about one model.
#[derive(Clone, Debug)]
pub struct CModel {
    /// The C prefix (the model's name, a C identifier).
    pub name: String,
    pub n_state: usize,
    pub n_param: usize,
    pub state_names: Vec<String>,
    /// `(name, offset, len)` per parameter tensor.
    pub param_arrays: Vec<(String, usize, usize)>,
    pub params: Vec<f64>,
    pub default_method: String,
    pub default_rtol: f64,
    pub default_atol: f64,
    pub default_dt: f64,
    pub default_max_steps: usize,
    pub rhs: ObjectKernel,
    pub vjp: ObjectKernel,
    pub jac: ObjectKernel,
    pub dfdt: ObjectKernel,
    pub init: ObjectKernel,
    pub losses: Vec<CLoss>,
}

/// A C string literal.
pub fn c_string(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:03o}");
            }
        }
    }
    out.push('"');
    out
}

/// A `double` constant as its exact bit pattern (an initialiser of the
/// `u` member of `union nde_embed_f64s`).
fn bits(values: &[f64]) -> String {
    if values.is_empty() {
        return "0".to_string();
    }
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push_str(if i % 4 == 0 { ",\n    " } else { ", " });
        }
        let _ = write!(out, "0x{:016x}ULL", v.to_bits());
    }
    out
}

/// A `double` literal with exactly `v`'s value: Rust's shortest
/// round-trip form, which a C compiler reads back correctly rounded.
fn exact(v: f64) -> String {
    if v.is_nan() {
        "__builtin_nan(\"\")".to_string()
    } else if v.is_infinite() {
        (if v > 0.0 { "__builtin_inf()" } else { "(-__builtin_inf())" }).to_string()
    } else {
        format!("{v:e}")
    }
}

const STRUCTS: &str = r#"typedef void (*nde_embed_kernel_fn)(double, const double *, const double *, double *, double *);
typedef void (*nde_embed_batch_fn)(size_t, const double *, const double *, const double *, double *, double *);
struct nde_embed_kernel {
    nde_embed_kernel_fn single;
    nde_embed_batch_fn batch;
    size_t n_state, n_param, out_len, scratch_len, batch_scratch_len;
};
struct nde_embed_loss {
    const char *name;
    struct nde_embed_kernel kernel, vjp, init_vjp;
    const char *method;
    double rtol, atol, dt;
    size_t max_steps;
    uint32_t adjoint;
    size_t checkpoints;
    double t0;
    size_t n_traj, n_times;
    const double *times, *y0s;
    size_t input_len, nfe_at, steps_at;
    const double *inputs;
};
struct nde_embed_model {
    uint32_t abi_version;
    const char *name;
    size_t n_state, n_param;
    const char *const *state_names;
    size_t n_param_arrays;
    const char *const *param_names;
    const size_t *param_offsets, *param_lens;
    const double *default_params;
    const char *default_method;
    double default_rtol, default_atol, default_dt;
    size_t default_max_steps;
    struct nde_embed_kernel rhs, vjp, jac, dfdt, init;
    size_t n_losses;
    const struct nde_embed_loss *losses;
};
struct nde_embed_handle;
struct nde_embed_handle_head { uint64_t magic; const double *params; };
struct nde_embed_handle *nde_embed_new(const struct nde_embed_model *);
int nde_embed_free(struct nde_embed_handle *);
int nde_embed_get_params(const struct nde_embed_handle *, double *, size_t);
int nde_embed_set_params(struct nde_embed_handle *, const double *, size_t);
int nde_embed_initial_state(const struct nde_embed_handle *, double, double *, size_t);
int nde_embed_rhs(const struct nde_embed_handle *, double, const double *, size_t, double *, size_t);
int nde_embed_rhs_batch(const struct nde_embed_handle *, size_t, const double *, const double *, size_t, double *, size_t);
int nde_embed_vjp(const struct nde_embed_handle *, double, const double *, size_t, const double *, size_t, double *, size_t, double *, size_t);
int nde_embed_jac(const struct nde_embed_handle *, double, const double *, size_t, double *, size_t);
int nde_embed_solve(const struct nde_embed_handle *, const char *, double, double, double, double, const double *, size_t, const double *, size_t, double *, size_t);
int nde_embed_loss(const struct nde_embed_handle *, size_t, double *, double *, size_t);
const char *nde_embed_last_error(void);
const char *nde_embed_error_message(int);
"#;

fn kernel_decl(out: &mut String, k: &ObjectKernel) {
    let _ = writeln!(out, "void {}(double, const double *, const double *, double *, double *);", k.symbol);
    let _ = writeln!(
        out,
        "void {}(size_t, const double *, const double *, const double *, double *, double *);",
        k.batch_symbol
    );
}

fn kernel_init(k: &ObjectKernel) -> String {
    format!(
        "{{ {}, {}, {}, {}, {}, {}, {} }}",
        k.symbol, k.batch_symbol, k.n_state, k.n_param, k.out_len, k.scratch_len, k.batch_scratch_len,
    )
}

fn f64_array(out: &mut String, name: &str, values: &[f64]) {
    let _ = writeln!(
        out,
        "static const union {{ uint64_t u[{n}]; double d[{n}]; }} {name} = {{ {{ {} }} }};",
        bits(values),
        n = values.len().max(1)
    );
}

fn strings(items: &[String]) -> String {
    if items.is_empty() {
        return "0".to_string();
    }
    items.iter().map(|s| c_string(s)).collect::<Vec<_>>().join(", ")
}

fn usizes(items: &[usize]) -> String {
    if items.is_empty() {
        return "0".to_string();
    }
    items.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
}

/// The glue source: descriptor and wrappers.
pub fn glue(m: &CModel) -> String {
    let n = &m.name;
    let mut s = String::new();
    let _ = writeln!(s, "/* Generated by `nde build` for model `{n}`: the descriptor and the exported wrappers. */");
    s.push_str("#include <stddef.h>\n#include <stdint.h>\n");
    let _ = writeln!(s, "#include {}", c_string(&format!("{n}.h")));
    s.push_str(STRUCTS);
    let mut kernels = vec![&m.rhs, &m.vjp, &m.jac, &m.dfdt, &m.init];
    for l in &m.losses {
        kernels.push(&l.kernel);
        kernels.push(&l.vjp);
        kernels.extend(&l.init_vjp);
    }
    for k in kernels {
        kernel_decl(&mut s, k);
    }
    f64_array(&mut s, "params", &m.params);
    let _ = writeln!(
        s,
        "static const char *const state_names[{}] = {{ {} }};",
        m.state_names.len().max(1),
        strings(&m.state_names)
    );
    let names: Vec<String> = m.param_arrays.iter().map(|p| p.0.clone()).collect();
    let offsets: Vec<usize> = m.param_arrays.iter().map(|p| p.1).collect();
    let lens: Vec<usize> = m.param_arrays.iter().map(|p| p.2).collect();
    let pn = m.param_arrays.len().max(1);
    let _ = writeln!(s, "static const char *const param_names[{pn}] = {{ {} }};", strings(&names));
    let _ = writeln!(s, "static const size_t param_offsets[{pn}] = {{ {} }};", usizes(&offsets));
    let _ = writeln!(s, "static const size_t param_lens[{pn}] = {{ {} }};", usizes(&lens));
    for (i, l) in m.losses.iter().enumerate() {
        f64_array(&mut s, &format!("loss{i}_times"), &l.times);
        if !l.y0s.is_empty() {
            f64_array(&mut s, &format!("loss{i}_y0s"), &l.y0s);
        }
        f64_array(&mut s, &format!("loss{i}_inputs"), &l.inputs);
    }
    let _ = writeln!(s, "static const struct nde_embed_loss losses[{}] = {{", m.losses.len().max(1));
    for (i, l) in m.losses.iter().enumerate() {
        let _ = writeln!(
            s,
            "  {{ {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, loss{i}_times.d, {}, {}, {}, {}, loss{i}_inputs.d }},",
            c_string(&l.name),
            kernel_init(&l.kernel),
            kernel_init(&l.vjp),
            l.init_vjp.as_ref().map_or("{ 0, 0, 0, 0, 0, 0, 0 }".to_string(), kernel_init),
            c_string(&l.method),
            exact(l.rtol),
            exact(l.atol),
            exact(l.dt),
            l.max_steps,
            l.adjoint,
            l.checkpoints,
            exact(l.t0),
            l.n_traj,
            l.times.len(),
            if l.y0s.is_empty() { "0".to_string() } else { format!("loss{i}_y0s.d") },
            l.input_len,
            l.nfe_at,
            l.steps_at,
        );
    }
    if m.losses.is_empty() {
        s.push_str("  { 0 }\n");
    }
    s.push_str("};\n");
    let _ = writeln!(s, "static const struct nde_embed_model model = {{");
    let _ = writeln!(s, "  {ABI_VERSION}, {}, {}, {},", c_string(n), m.n_state, m.n_param);
    let _ = writeln!(s, "  state_names, {}, param_names, param_offsets, param_lens, params.d,", m.param_arrays.len());
    let _ = writeln!(
        s,
        "  {}, {}, {}, {}, {},",
        c_string(&m.default_method),
        exact(m.default_rtol),
        exact(m.default_atol),
        exact(m.default_dt),
        m.default_max_steps
    );
    let _ = writeln!(
        s,
        "  {}, {}, {}, {}, {},",
        kernel_init(&m.rhs),
        kernel_init(&m.vjp),
        kernel_init(&m.jac),
        kernel_init(&m.dfdt),
        kernel_init(&m.init)
    );
    let _ = writeln!(s, "  {}, losses", m.losses.len());
    s.push_str("};\n");
    s.push_str(&wrappers(m));
    s
}

fn wrappers(m: &CModel) -> String {
    let n = &m.name;
    let h = "(const struct nde_embed_handle *)m";
    let hm = "(struct nde_embed_handle *)m";
    let mut s = String::new();
    let _ = writeln!(s, "uint32_t {n}_abi_version(void) {{ return {ABI_VERSION}; }}");
    let _ = writeln!(s, "const char *{n}_name(void) {{ return {}; }}", c_string(n));
    let _ = writeln!(s, "size_t {n}_n_state(void) {{ return {}; }}", m.n_state);
    let _ = writeln!(s, "size_t {n}_n_param(void) {{ return {}; }}", m.n_param);
    let _ = writeln!(s, "const char *{n}_state_name(size_t i) {{ return i < {} ? state_names[i] : 0; }}", m.n_state);
    let pn = m.param_arrays.len();
    let _ = writeln!(s, "size_t {n}_n_param_arrays(void) {{ return {pn}; }}");
    let _ = writeln!(s, "const char *{n}_param_array_name(size_t i) {{ return i < {pn} ? param_names[i] : 0; }}");
    let _ = writeln!(s, "size_t {n}_param_array_offset(size_t i) {{ return i < {pn} ? param_offsets[i] : 0; }}");
    let _ = writeln!(s, "size_t {n}_param_array_len(size_t i) {{ return i < {pn} ? param_lens[i] : 0; }}");
    let _ = writeln!(s, "{n}_model *{n}_new(void) {{ return ({n}_model *)nde_embed_new(&model); }}");
    let _ = writeln!(s, "int {n}_free({n}_model *m) {{ return nde_embed_free({hm}); }}");
    let _ = writeln!(
        s,
        "int {n}_get_params(const {n}_model *m, double *p, size_t len) {{ return nde_embed_get_params({h}, p, len); }}"
    );
    let _ = writeln!(
        s,
        "int {n}_set_params({n}_model *m, const double *p, size_t len) {{ return nde_embed_set_params({hm}, p, len); }}"
    );
    let _ = writeln!(s, "int {n}_initial_state(const {n}_model *m, double t0, double *y0, size_t len) {{ return nde_embed_initial_state({h}, t0, y0, len); }}");
    if m.rhs.scratch_len == 0 {
        // The fast path of a valid call: the checks of `nde_embed_rhs`
        // with this model's constants, then the kernel directly.
        let _ = writeln!(
            s,
            "int {n}_rhs(const {n}_model *m, double t, const double *y, size_t y_len, double *dy, size_t dy_len) {{"
        );
        let _ = writeln!(s, "  const struct nde_embed_handle_head *h = (const struct nde_embed_handle_head *)m;");
        let _ = writeln!(
            s,
            "  if (h && y && dy && y_len == {ns} && dy_len == {ns} && h->magic == 0x{HANDLE_MAGIC:x}ULL) {{",
            ns = m.rhs.n_state
        );
        // `x - x` is 0 for every finite x and NaN otherwise: one sum checks them all.
        let _ = writeln!(s, "    double z = t - t;");
        let _ = writeln!(s, "    for (size_t i = 0; i < {}; i++) z += y[i] - y[i];", m.rhs.n_state);
        let _ = writeln!(s, "    if (z == 0.0) {{ {}(t, y, h->params, dy, 0); return 0; }}", m.rhs.symbol);
        let _ = writeln!(s, "  }}");
        let _ = writeln!(s, "  return nde_embed_rhs({h}, t, y, y_len, dy, dy_len);\n}}");
    } else {
        let _ = writeln!(s, "int {n}_rhs(const {n}_model *m, double t, const double *y, size_t y_len, double *dy, size_t dy_len) {{ return nde_embed_rhs({h}, t, y, y_len, dy, dy_len); }}");
    }
    let _ = writeln!(s, "int {n}_rhs_batch(const {n}_model *m, size_t n, const double *t, const double *y, size_t y_len, double *dy, size_t dy_len) {{ return nde_embed_rhs_batch({h}, n, t, y, y_len, dy, dy_len); }}");
    let _ = writeln!(s, "int {n}_vjp(const {n}_model *m, double t, const double *y, size_t y_len, const double *a, size_t a_len, double *gy, size_t gy_len, double *gp, size_t gp_len) {{ return nde_embed_vjp({h}, t, y, y_len, a, a_len, gy, gy_len, gp, gp_len); }}");
    let _ = writeln!(s, "int {n}_jac(const {n}_model *m, double t, const double *y, size_t y_len, double *jac, size_t jac_len) {{ return nde_embed_jac({h}, t, y, y_len, jac, jac_len); }}");
    let _ = writeln!(s, "int {n}_solve(const {n}_model *m, const char *method, double rtol, double atol, double dt, double t0, const double *t_out, size_t n_out, const double *y0, size_t n_batch, double *out, size_t out_len) {{ return nde_embed_solve({h}, method, rtol, atol, dt, t0, t_out, n_out, y0, n_batch, out, out_len); }}");
    for (i, l) in m.losses.iter().enumerate() {
        let _ = writeln!(s, "int {n}_loss_{}(const {n}_model *m, double *value, double *grad, size_t grad_len) {{ return nde_embed_loss({h}, {i}, value, grad, grad_len); }}", l.name);
    }
    let _ = writeln!(s, "const char *{n}_last_error(void) {{ return nde_embed_last_error(); }}");
    let _ = writeln!(s, "const char *{n}_error_message(int code) {{ return nde_embed_error_message(code); }}");
    s
}

/// The exported symbols (for the linker's version script and tests).
pub fn exported_symbols(m: &CModel) -> Vec<String> {
    let mut names: Vec<String> = [
        "abi_version",
        "name",
        "n_state",
        "n_param",
        "state_name",
        "n_param_arrays",
        "param_array_name",
        "param_array_offset",
        "param_array_len",
        "new",
        "free",
        "get_params",
        "set_params",
        "initial_state",
        "rhs",
        "rhs_batch",
        "vjp",
        "jac",
        "solve",
        "last_error",
        "error_message",
    ]
    .iter()
    .map(|s| format!("{}_{s}", m.name))
    .collect();
    names.extend(m.losses.iter().map(|l| format!("{}_loss_{}", m.name, l.name)));
    names
}

/// The linker's version script: the exported symbols global, the rest local.
pub fn version_script(m: &CModel) -> String {
    let mut s = String::from("{\n  global:\n");
    for name in exported_symbols(m) {
        let _ = writeln!(s, "    {name};");
    }
    s.push_str("  local: *;\n};\n");
    s
}
