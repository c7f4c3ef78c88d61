//! The public header `NAME.h` of a library: the documented C API.
//!
//! Owns the header's text only (what each function does, its buffers and
//! lengths, the error codes). Never: declare anything the library does not
//! export (the `nm -D` test compares the two).

use std::fmt::Write;

use super::csrc::{CModel, ABI_VERSION};

const CODES: &str = r#"/* Error codes, shared by every nde library (the same numbers in each). */
#ifndef NDE_OK
#define NDE_OK 0            /* success */
#define NDE_ERR_NULL 1      /* a required pointer is null */
#define NDE_ERR_LENGTH 2    /* a buffer length does not match the model */
#define NDE_ERR_NONFINITE 3 /* an input number is NaN or infinite */
#define NDE_ERR_METHOD 4    /* unknown solver method */
#define NDE_ERR_OPTION 5    /* invalid option: negative tolerance, no dt for a fixed-step method, output times out of order */
#define NDE_ERR_SOLVE 6     /* the solver failed: step size too small, too many steps, singular matrix */
#define NDE_ERR_HANDLE 7    /* not a handle NAME_new made (or already freed), or an ABI version mismatch */
#define NDE_ERR_INTERNAL 8  /* a bug in nde, caught before it could abort the process */
#endif
"#;

/// `NAME.h`.
pub fn header(m: &CModel) -> String {
    let n = &m.name;
    let up = n.to_uppercase();
    let mut s = String::new();
    let _ = write!(
        s,
        r#"/* {n}.h: the model `{n}` compiled by `nde build` (see docs/embedding.md).
 *
 * Link with -l{n} (the library depends on the C library and libm only).
 * Every function that can fail returns an int error code (NDE_OK = 0 on
 * success); NAME_last_error() then gives this thread's message. Buffers are
 * flat, row-major double arrays, each passed with its length in elements;
 * a wrong length is NDE_ERR_LENGTH, never a read past the end. Nothing
 * aborts the process: a bug is NDE_ERR_INTERNAL.
 *
 * A {n}_model handle holds a copy of the parameters. Calls that only read
 * it ({n}_rhs, {n}_solve, ...) may run on several threads at once;
 * {n}_set_params and {n}_free must not overlap another call on the same
 * handle. Kernels are compiled for the CPU of the machine that built the
 * library.
 */
#ifndef NDE_MODEL_{up}_H
#define NDE_MODEL_{up}_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

/* The C API version of this header; {n}_abi_version() returns the library's. */
#define {up}_ABI_VERSION {ABI_VERSION}
/* Number of states (the length of y) and of parameters (the length of p). */
#define {up}_N_STATE {ns}
#define {up}_N_PARAM {np}

"#,
        ns = m.n_state,
        np = m.n_param
    );
    s.push_str(CODES);
    let _ = write!(
        s,
        r#"
typedef struct {n}_model {n}_model;

/* Metadata (no handle needed). */
uint32_t {n}_abi_version(void);
const char *{n}_name(void);
size_t {n}_n_state(void);
size_t {n}_n_param(void);
/* The name of state component i (`x`, `y[0]`, ...); NULL when i >= n_state. */
const char *{n}_state_name(size_t i);
/* Parameter tensors (`sigma`, `f.W1`, ...): their names, offsets and lengths in the flat parameter vector. */
size_t {n}_n_param_arrays(void);
const char *{n}_param_array_name(size_t i);
size_t {n}_param_array_offset(size_t i);
size_t {n}_param_array_len(size_t i);

/* A new handle with the library's parameters (from the model file, or `nde build --params`);
 * NULL on failure. Free it with {n}_free (NULL is ignored). */
{n}_model *{n}_new(void);
int {n}_free({n}_model *m);
/* Copy the handle's parameters out / replace them (len = {up}_N_PARAM; all finite). */
int {n}_get_params(const {n}_model *m, double *p, size_t len);
int {n}_set_params({n}_model *m, const double *p, size_t len);
/* The model's initial state at time t0 for the handle's parameters (len = {up}_N_STATE). */
int {n}_initial_state(const {n}_model *m, double t0, double *y0, size_t len);

/* dy = f(t, y, p): y_len = dy_len = {up}_N_STATE. */
int {n}_rhs(const {n}_model *m, double t, const double *y, size_t y_len, double *dy, size_t dy_len);
/* A batch sharing p: dy[b] = f(t[b], y[b], p) for b < n; t has n values, y and dy n * {up}_N_STATE. */
int {n}_rhs_batch(const {n}_model *m, size_t n, const double *t, const double *y, size_t y_len, double *dy,
                  size_t dy_len);
/* Vector-Jacobian products: gy = a^T df/dy ({up}_N_STATE), gp = a^T df/dp ({up}_N_PARAM). */
int {n}_vjp(const {n}_model *m, double t, const double *y, size_t y_len, const double *a, size_t a_len, double *gy,
            size_t gy_len, double *gp, size_t gp_len);
/* The Jacobian df/dy, row-major: jac[i * n + j] = df_i/dy_j (jac_len = n * n). */
int {n}_jac(const {n}_model *m, double t, const double *y, size_t y_len, double *jac, size_t jac_len);

/* Solve from n_batch initial states y0 (n_batch * {up}_N_STATE values) starting at t0, saving at the n_out
 * increasing times t_out (each >= t0), into out (n_batch * n_out * {up}_N_STATE values: trajectory, time,
 * state). The same solvers and options as `nde run`, the same bits.
 * method: "tsit5", "dopri5", "bosh3", "euler", "midpoint", "heun", "rk4" (fixed step: need dt),
 * "rodas5", "kvaerno5", "bdf" (stiff), "auto"; NULL: the model file's solver (its only `solver`
 * declaration, else tsit5, with the declaration's options).
 * rtol, atol, dt: 0 for the default (1e-6, 1e-9; dt: the automatic first step). */
int {n}_solve(const {n}_model *m, const char *method, double rtol, double atol, double dt, double t0,
              const double *t_out, size_t n_out, const double *y0, size_t n_batch, double *out, size_t out_len);
"#
    );
    for l in &m.losses {
        let _ = write!(
            s,
            r#"
/* The loss `{l}` of the model file at the handle's parameters, over the data bundled at build time:
 * {traj} trajectories of {times} save times, each solved whole with {method}
 * from {from}.
 * *value = the loss, the mean over the trajectories (what `nde eval` prints for these parameters);
 * grad = its gradient with respect to the parameters (grad_len = {up}_N_PARAM) through the {adjoint}
 * adjoint, as `nde train` computes it (the Rust API's Loss::gradient). grad may be NULL (with
 * grad_len 0) for the value alone, which costs one solve per trajectory and no backward pass.
 * Errors: NDE_ERR_NULL, NDE_ERR_LENGTH, NDE_ERR_SOLVE (the message names the trajectory and time). */
int {n}_loss_{l}(const {n}_model *m, double *value, double *grad, size_t grad_len);
"#,
            l = l.name,
            traj = l.n_traj,
            times = l.times.len(),
            from = if l.init_vjp.is_some() {
                "the model's initial state at the handle's parameters"
            } else {
                "its initial state bundled at build time"
            },
            method = l.method,
            adjoint = match l.adjoint {
                0 => "discrete",
                1 => "backsolve",
                _ => "interpolated",
            },
        );
    }
    let _ = write!(
        s,
        r#"
/* The message of this thread's last failed call ("" if none); valid until its next failed call. */
const char *{n}_last_error(void);
/* A fixed description of an error code. */
const char *{n}_error_message(int code);

#ifdef __cplusplus
}}
#endif

#endif /* NDE_MODEL_{up}_H */
"#
    );
    s
}
