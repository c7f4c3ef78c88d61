//! `nde_embed_solve`: a batch of initial states solved with a named method,
//! through the same runtime functions and options as `nde run`.
//!
//! Owns the method names a library accepts (the explicit methods, the
//! stiff ones, `auto`), option defaults (a null method is the model file's
//! default solver, as for `nde run` without `--solver`) and the mapping of
//! solver failures to codes. Explicit methods solve the batch with
//! `nde_runtime::solve_batch` (on all cores), stiff ones and `auto` one
//! trajectory after another (the compiler's `solve_ode_batch` runs them in
//! parallel; the results are the same bits). Never: allocate per step (the
//! runtime's solvers own their work buffers).

use std::ffi::{c_char, c_int};

use nde_runtime::kernel::KernelField;
use nde_runtime::stiff::{solve_auto, AutoOptions};
use nde_runtime::{solve_batch, solve_stiff, Method, SolveError, SolveOptions, StiffMethod, StiffOptions};

use crate::api::{expect_len, finite, finite_scalar, handle, input, model_name, output, Handle};
use crate::desc::text;
use crate::error::{guard, Code, Failure};

/// A method with its options.
pub(crate) enum Solver {
    Explicit(SolveOptions),
    Stiff(StiffOptions),
    Auto(AutoOptions),
}

/// The method `name` with its default options.
pub(crate) fn named(name: &str) -> Result<Solver, Failure> {
    if let Ok(method) = name.parse::<Method>() {
        return Ok(Solver::Explicit(SolveOptions { method, ..SolveOptions::default() }));
    }
    if let Ok(method) = name.parse::<StiffMethod>() {
        return Ok(Solver::Stiff(StiffOptions { method, ..StiffOptions::default() }));
    }
    if name.trim().eq_ignore_ascii_case("auto") {
        return Ok(Solver::Auto(AutoOptions::default()));
    }
    let mut known: Vec<&str> = Method::all().iter().map(|m| m.name()).collect();
    known.extend(StiffMethod::all().iter().map(|m| m.name()));
    known.push("auto");
    Err(Failure::new(Code::Method, format!("unknown solver method `{name}`; known methods: {}", known.join(", "))))
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

impl Solver {
    fn set(&mut self, rtol: Option<f64>, atol: Option<f64>, dt: Option<f64>, max_steps: Option<usize>) {
        macro_rules! set {
            ($o:expr) => {{
                $o.rtol = rtol.unwrap_or($o.rtol);
                $o.atol = atol.unwrap_or($o.atol);
                $o.dt = dt.or($o.dt);
                $o.max_steps = max_steps.unwrap_or($o.max_steps);
            }};
        }
        match self {
            Solver::Explicit(o) => set!(o),
            Solver::Stiff(o) => set!(o),
            Solver::Auto(o) => set!(o),
        }
    }
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
        let mut solver = if method.is_null() {
            // SAFETY: static strings of the descriptor.
            let mut s = named(unsafe { text(d.default_method) })?;
            let keep = |v: f64| (v > 0.0).then_some(v);
            let steps = (d.default_max_steps > 0).then_some(d.default_max_steps);
            s.set(keep(d.default_rtol), keep(d.default_atol), keep(d.default_dt), steps);
            s
        } else {
            // SAFETY: the caller's contract.
            let name = unsafe { std::ffi::CStr::from_ptr(method) };
            let name = name.to_str().map_err(|_| Failure::new(Code::Method, "the method name is not valid UTF-8"))?;
            named(name)?
        };
        solver.set(rtol, atol, dt, None);
        if let Solver::Explicit(o) = &solver {
            if !o.method.is_adaptive() && o.dt.is_none() {
                return Err(Failure::new(
                    Code::Option,
                    format!("{} is a fixed-step method: give a step size dt", o.method.name()),
                ));
            }
        }
        if n_batch == 0 {
            return Ok(());
        }
        let kernels = d.ode_kernels().ok_or_else(|| {
            Failure::new(Code::Internal, format!("the library of `{}` lacks a kernel", model_name(h)))
        })?;
        // SAFETY: the descriptor's kernels are this library's live code.
        let field = unsafe { KernelField::new(kernels, &h.params) };
        match &solver {
            Solver::Explicit(o) => {
                let sol = solve_batch(&field, t0, y0s, times, o, 0).map_err(solve_failure)?;
                out.copy_from_slice(&sol.y);
            }
            Solver::Stiff(o) => {
                for (b, (y0, rows)) in y0s.chunks(n).zip(out.chunks_mut(n_out * n)).enumerate() {
                    let sol = solve_stiff(&field, t0, y0, times, o)
                        .map_err(|e| solve_failure(SolveError::InBatch { index: b, error: Box::new(e) }))?;
                    rows.copy_from_slice(&sol.y);
                }
            }
            Solver::Auto(o) => {
                for (b, (y0, rows)) in y0s.chunks(n).zip(out.chunks_mut(n_out * n)).enumerate() {
                    let sol = solve_auto(&field, t0, y0, times, o)
                        .map_err(|e| solve_failure(SolveError::InBatch { index: b, error: Box::new(e) }))?;
                    rows.copy_from_slice(&sol.solution.y);
                }
            }
        }
        Ok(())
    })
}
