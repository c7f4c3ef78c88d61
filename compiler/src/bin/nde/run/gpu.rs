//! `nde run --device gpu|auto`: the whole ensemble on a GPU
//! (`driver::gpu::solve_ensemble`), written exactly like the CPU path's
//! output; `auto` falls back to the CPU with a note when no hardware
//! adapter is found or the solver does not run on the device.

use nde_compiler::driver;
use nde_compiler::driver::gpu::{self, GpuError, GpuOptions, GpuSolver, Precision};
use nde_compiler::ir::{ModelIr, SolverSpec};

use super::{
    check_finite_state, ode_solver, print_stats, read_initial_states, sde_initial_states, sde_options, write_output,
    Device, Output, PrecisionArg, RunArgs,
};
use crate::{exit, fail};

/// Solves on the GPU if it can (`Ok(true)`); `Ok(false)` tells the caller to
/// solve on the CPU (`--device auto` after a note).
pub fn run(
    args: &RunArgs,
    declared: &[SolverSpec],
    model: &ModelIr,
    params: &[f64],
    saveat: &[f64],
) -> Result<bool, u8> {
    let auto = args.device == Device::Auto;
    let fallback = |why: String| -> Result<bool, u8> {
        if auto {
            eprintln!("note: solving on the CPU: {why}");
            Ok(false)
        } else {
            Err(fail(exit::USAGE, why))
        }
    };
    if auto {
        match gpu::devices() {
            Ok(list) if list.iter().any(|d| !d.software) => {}
            Ok(_) => return fallback("no hardware GPU adapter found (see `nde devices`)".to_string()),
            Err(e) => return fallback(e.to_string()),
        }
    }
    let solver = match device_solver(args, declared, model) {
        Ok(s) => s,
        Err(Choice::Usage(code)) => return Err(code),
        Err(Choice::Unsupported(why)) => return fallback(why),
    };
    if let Err(e) = gpu::check_supported(model, &solver) {
        return fallback(e.to_string());
    }
    let n = model.n_state();
    let (y0s, batch) = if model.is_sde() {
        sde_initial_states(args, model, params, n)?
    } else {
        match &args.y0 {
            Some(path) => {
                let y0s = read_initial_states(path, n)?;
                let b = y0s.len() / n.max(1);
                (y0s, Some(b))
            }
            None => {
                let y0 = driver::initial_state(model, params, saveat[0].min(args.t0))
                    .map_err(|e| fail(exit::MODEL_ERRORS, format!("evaluating the initial state: {e}")))?;
                check_finite_state(model, &y0)?;
                (y0, None)
            }
        }
    };
    let precision = match args.precision {
        Some(PrecisionArg::F64) => Precision::F64,
        _ => Precision::F32,
    };
    let options = GpuOptions { precision, adapter: args.adapter, chunk: None };
    let start = std::time::Instant::now();
    let solved = match gpu::solve_ensemble(model, params, args.t0, &y0s, saveat, &solver, &options) {
        Ok(s) => s,
        Err(e @ GpuError::Solve { .. }) => return Err(fail(exit::SOLVE_FAILED, e)),
        Err(e @ (GpuError::NoAdapter { .. } | GpuError::NotBuilt | GpuError::NoF64 { .. })) if auto => {
            return fallback(e.to_string())
        }
        Err(e @ (GpuError::Device(_) | GpuError::Shader(_))) => return Err(fail(exit::SOLVE_FAILED, e)),
        Err(e) => return Err(fail(exit::USAGE, e)),
    };
    let elapsed = start.elapsed();
    let output = Output { t: solved.t, y: solved.y, batch, stats: solved.stats, switches: Vec::new() };
    write_output(args.out.as_deref(), model, params, &output)?;
    if args.stats {
        print_stats(&output.stats);
        eprintln!("device: {} ({precision}, {} dispatch(es))", solved.adapter, solved.dispatches);
    }
    if args.timings {
        eprintln!("timings: gpu solve (with shader compilation and transfers) {:.3} ms", elapsed.as_secs_f64() * 1e3);
    }
    Ok(true)
}

enum Choice {
    /// A bad command line (already reported).
    Usage(u8),
    /// Fine on the CPU, not on the device (why).
    Unsupported(String),
}

/// The device solver for the model: the explicit ODE solver's options, or
/// Euler–Maruyama with its step for an SDE.
fn device_solver(args: &RunArgs, declared: &[SolverSpec], model: &ModelIr) -> Result<GpuSolver, Choice> {
    if model.is_sde() {
        let opts = sde_options(args, declared, model).map_err(Choice::Usage)?;
        return gpu::device_solver_sde(&opts, args.noise_seed).map_err(Choice::Unsupported);
    }
    gpu::device_solver_ode(&ode_solver(args, declared).map_err(Choice::Usage)?).map_err(Choice::Unsupported)
}
