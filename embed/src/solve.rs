//! `nde_embed_solve`: a batch of initial states solved with a named method,
//! through the same runtime functions and options as `nde run`.
//!
//! Owns the method names a library accepts (the explicit methods, the
//! stiff ones, `auto`), option defaults (a null method is the model file's
//! default solver, as for `nde run` without `--solver`) and the mapping of
//! solver failures to codes. The choice and the solve are the runtime's
//! (`nde_runtime::ode`: `OdeSolver`, `solve_ode_batch`), the same dispatch
//! `nde run` goes through. Never: allocate per step (the
//! runtime's solvers own their work buffers).

use std::ffi::{c_char, c_int};

use nde_runtime::kernel::KernelField;
use nde_runtime::ode::{solve_ode_batch, OdeSolver};
use nde_runtime::SolveError;

use crate::api::{expect_len, finite, finite_scalar, handle, input, model_name, output, Handle};
use crate::desc::text;
use crate::error::{guard, Code, Failure};

/// The method `name` with its default options.
pub(crate) fn named(name: &str) -> Result<OdeSolver, Failure> {
    OdeSolver::named(name).map_err(|e| Failure::new(Code::Method, e.to_string()))
}

/// A tolerance or step option: 0 keeps the default, positive finite sets it.
fn option(what: &str, v: f64) -> Result<Option<f64>, Failure> {
    if v.is_nan() || v.is_infinite() {
        return Err(Failure::new(Code::NonFinite, format!("`{what}` is {v}")));
    }
    if v < 0.0 {
        return Err(Failure::new(
            Code::Option,
            format!("`{what}` is {v}; give a positive value, or 0 for the default"),
        ));
    }
    Ok((v > 0.0).then_some(v))
}

/// A solver failure as a code: bad options and times are the caller's,
/// the rest the solver's.
pub(crate) fn solve_failure(e: SolveError) -> Failure {
    let inner = match &e {
        SolveError::InBatch { error, .. } => error.as_ref(),
        other => other,
    };
    let code = match inner {
        SolveError::InvalidOptions { .. } | SolveError::InvalidTimes { .. } => Code::Option,
        _ => Code::Solve,
    };
    Failure::new(code, e.to_string())
}

/// Solves from each of `n_batch` initial states (`y0`: `n_batch × n_state`)
/// from `t0`, saving at the `n_out` increasing times `t_out` (all `≥ t0`),
/// into `out` (`n_batch × n_out × n_state`, row-major). `method` null: the
/// model's default solver; `rtol`, `atol`, `dt` 0: the method's defaults
/// (`dt` is required by fixed-step methods).
///
/// # Safety
/// `h` as for the other calls; `method` null or a NUL-terminated string;
/// pointers to buffers of the lengths given.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn nde_embed_solve(
    h: *const Handle,
    method: *const c_char,
    rtol: f64,
    atol: f64,
    dt: f64,
    t0: f64,
    t_out: *const f64,
    n_out: usize,
    y0: *const f64,
    n_batch: usize,
    out: *mut f64,
    out_len: usize,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let h = unsafe { handle(h) }?;
        let d = h.desc;
        let n = d.n_state;
        let y0_len = n_batch.saturating_mul(n);
        if y0_len > isize::MAX as usize / 8 {
            return Err(Failure::new(
                Code::Length,
                format!("n_batch = {n_batch} initial states is more than memory holds"),
            ));
        }
        // SAFETY: as above (`y0` has `n_batch` states by the caller's contract).
        let (times, y0s) = unsafe { (input("t_out", t_out, n_out)?, input("y0", y0, y0_len)?) };
        // SAFETY: as above.
        let out = unsafe { output("out", out, out_len) }?;
        let want = y0_len.saturating_mul(n_out);
        expect_len("out_len", out_len, want, "n_batch × n_out × the model's number of states")?;
        finite_scalar("t0", t0)?;
        finite("t_out", times)?;
        finite("y0", y0s)?;
        if n_out == 0 {
            return Err(Failure::new(Code::Option, "no output times (n_out is 0)"));
        }
        let (rtol, atol, dt) = (option("rtol", rtol)?, option("atol", atol)?, option("dt", dt)?);
        let solver = if method.is_null() {
            // SAFETY: static strings of the descriptor.
            let s = named(unsafe { text(d.default_method) })?;
            let keep = |v: f64| (v > 0.0).then_some(v);
            let steps = (d.default_max_steps > 0).then_some(d.default_max_steps);
            s.with(keep(d.default_rtol), keep(d.default_atol), keep(d.default_dt), steps)
        } else {
            // SAFETY: the caller's contract.
            let name = unsafe { std::ffi::CStr::from_ptr(method) };
            let name = name.to_str().map_err(|_| Failure::new(Code::Method, "the method name is not valid UTF-8"))?;
            named(name)?
        };
        let solver = solver.with(rtol, atol, dt, None);
        solver.check().map_err(|e| Failure::new(Code::Option, e.to_string()))?;
        if n_batch == 0 {
            return Ok(());
        }
        let kernels = d.ode_kernels().ok_or_else(|| {
            Failure::new(Code::Internal, format!("the library of `{}` lacks a kernel", model_name(h)))
        })?;
        // SAFETY: the descriptor's kernels are this library's live code.
        let field = unsafe { KernelField::new(kernels, &h.params) };
        // Stiff methods and `auto` solve one trajectory per task, on all cores.
        let sol = solve_ode_batch(&field, &solver, t0, y0s, times, 0).map_err(solve_failure)?;
        out.copy_from_slice(&sol.y);
        Ok(())
    })
}
