//! The SDE entry points [`sde_solve`] and [`sde_solve_batch`], and the
//! stepping loops they share with the gradients (fixed grid, adaptive
//! SRA1), which can record a tape of the accepted steps, and the lock-step
//! loop of fixed-step batches (chunks of members through the field's
//! batched methods, each member with the bits of its own solve). Validation lives
//! in `options`, the numerics of a step in `step`.

use rayon::prelude::*;

use crate::brownian::{BrownianPath, BrownianTree};
use crate::error::SolveError;
use crate::sde::grid::Grid;
use crate::sde::options::{batch_tree, check_tree, validate, SdeMethod, SdeOptions};
use crate::sde::step::{BatchWork, Work};
use crate::sde::term::SdeField;
use crate::solution::{BatchSolution, Solution, Stats};
use crate::stepsize::{min_step, Pid};

/// What the discrete adjoint needs of a forward solve: every accepted
/// step's start time and state (`y`, and `ŷ` for reversible Heun), the end
/// time, and the number of steps done at each save.
#[derive(Default)]
pub(crate) struct Tape {
    /// Step boundaries: `times[k]` starts step `k`, `times[k + 1]` ends it.
    pub times: Vec<f64>,
    /// Start state of step `k`: `states[k·w..(k+1)·w]` (`w = n` or `2n`).
    pub states: Vec<f64>,
    /// `save_step[i]`: accepted steps done when save `i` was taken.
    pub save_step: Vec<usize>,
}

impl Tape {
    fn push_state(&mut self, ws: &Work, method: SdeMethod) {
        self.states.extend_from_slice(&ws.y);
        if method == SdeMethod::ReversibleHeun {
            self.states.extend_from_slice(&ws.yh);
        }
    }
}

fn invalid(what: String) -> SolveError {
    SolveError::InvalidOptions { what }
}

fn no_dg() -> SolveError {
    invalid("milstein needs g·∂g/∂y (diffusion_dg), which this system does not provide".into())
}

/// Copies the current state into the save rows `range`.
fn save(ws: &Work, range: std::ops::Range<usize>, out: &mut [f64]) {
    let n = ws.y.len();
    for i in range {
        out[i * n..(i + 1) * n].copy_from_slice(&ws.y);
    }
}

/// `sqrt(mean((err_i / (atol + rtol·max(|y0_i|, |y1_i|)))²))`, `+inf` if
/// the step is not finite.
fn error_norm(err: &[f64], y0: &[f64], y1: &[f64], rtol: f64, atol: f64) -> f64 {
    if !y1.iter().chain(err).all(|v| v.is_finite()) {
        return f64::INFINITY;
    }
    let mut sum = 0.0;
    for ((e, a), b) in err.iter().zip(y0).zip(y1) {
        let r = if *e == 0.0 { 0.0 } else { e / (atol + rtol * a.abs().max(b.abs())) };
        sum += r * r;
    }
    (sum / err.len() as f64).sqrt()
}

/// Integrates from `(t0, ws.y)` (already holding `y0`), writing the saves
/// into `out` and, with a tape, recording the accepted steps. Options,
/// times and the path are validated.
#[allow(clippy::too_many_arguments)]
pub(crate) fn integrate(
    f: &dyn SdeField,
    t0: f64,
    saveat: &[f64],
    opts: &SdeOptions,
    path: &mut BrownianPath,
    ws: &mut Work,
    out: &mut [f64],
    mut tape: Option<&mut Tape>,
) -> Result<Stats, SolveError> {
    let method = opts.method;
    let mut stats = Stats::default();
    if let Some(tp) = tape.as_deref_mut() {
        tp.times.clear();
        tp.states.clear();
        tp.save_step.clear();
        tp.save_step.resize(saveat.len(), 0);
        tp.times.push(t0);
    }
    if ws.y.iter().any(|v| !v.is_finite()) {
        return Err(invalid(format!("the initial state is not finite: {:?}", ws.y)));
    }
    if method == SdeMethod::ReversibleHeun {
        ws.heun_init(f, t0);
        stats.nfe += 2;
    }
    if opts.adaptive {
        return integrate_adaptive(f, t0, saveat, opts, path, ws, out, tape, stats);
    }
    let grid = Grid { t0, dt: opts.dt.unwrap_or(f64::NAN), saveat };
    let (mut walk, at_start) = grid.forward();
    save(ws, at_start, out);
    let mut t = t0;
    while let Some((tb, saves)) = grid.next(&mut walk) {
        if stats.accepted as usize >= opts.max_steps {
            return Err(SolveError::MaxStepsReached { t, max_steps: opts.max_steps });
        }
        path.increment_unchecked(t, tb, &mut ws.dw);
        if let Some(tp) = tape.as_deref_mut() {
            tp.push_state(ws, method);
        }
        stats.nfe += ws.step(f, method, t, tb).ok_or_else(no_dg)?;
        if ws.y1.iter().any(|v| !v.is_finite()) {
            return Err(SolveError::NonFinite { t });
        }
        ws.advance(method);
        stats.accepted += 1;
        t = tb;
        if let Some(tp) = tape.as_deref_mut() {
            tp.times.push(t);
            for i in saves.clone() {
                tp.save_step[i] = stats.accepted as usize;
            }
        }
        save(ws, saves, out);
    }
    Ok(stats)
}

/// Adaptive SRA1: the PID controller (error order 2) on the embedded drift
/// error; steps are shortened to land on save times.
#[allow(clippy::too_many_arguments)]
fn integrate_adaptive(
    f: &dyn SdeField,
    t0: f64,
    saveat: &[f64],
    opts: &SdeOptions,
    path: &mut BrownianPath,
    ws: &mut Work,
    out: &mut [f64],
    mut tape: Option<&mut Tape>,
    mut stats: Stats,
) -> Result<Stats, SolveError> {
    let method = opts.method;
    let t_end = saveat[saveat.len() - 1];
    let mut i = saveat.iter().take_while(|&&s| s <= t0).count();
    save(ws, 0..i, out);
    let mut pid = Pid::new(&opts.controller, 2);
    let mut t = t0;
    let mut h = opts.dt.unwrap_or((t_end - t0) / 100.0);
    while i < saveat.len() {
        if stats.steps() as usize >= opts.max_steps {
            return Err(SolveError::MaxStepsReached { t, max_steps: opts.max_steps });
        }
        let s = saveat[i];
        let lands = t + h >= s;
        let tb = if lands { s } else { t + h };
        let hh = tb - t;
        if hh < min_step(t) {
            return Err(SolveError::StepSizeTooSmall { t, h: hh });
        }
        path.increment_unchecked(t, tb, &mut ws.dw);
        stats.nfe += ws.step(f, method, t, tb).ok_or_else(no_dg)?;
        let eest = error_norm(&ws.err, &ws.y, &ws.y1, opts.rtol, opts.atol);
        let (accept, factor) = pid.adapt(eest);
        if accept {
            if let Some(tp) = tape.as_deref_mut() {
                tp.push_state(ws, method);
                tp.times.push(tb);
            }
            ws.advance(method);
            stats.accepted += 1;
            stats.local_error += eest * hh;
            t = tb;
            if lands {
                let start = i;
                while i < saveat.len() && saveat[i] == s {
                    i += 1;
                }
                if let Some(tp) = tape.as_deref_mut() {
                    for k in start..i {
                        tp.save_step[k] = stats.accepted as usize;
                    }
                }
                save(ws, start..i, out);
            }
        } else {
            stats.rejected += 1;
            if !eest.is_finite() && hh * factor < min_step(t) {
                return Err(SolveError::NonFinite { t });
            }
        }
        h = hh * factor;
    }
    Ok(stats)
}

/// Checks the initial state's length.
pub(crate) fn check_y0(n: usize, y0: &[f64]) -> Result<(), SolveError> {
    if y0.len() != n {
        return Err(invalid(format!(
            "the initial state has {} values but the system has {n} state variables",
            y0.len()
        )));
    }
    Ok(())
}

/// Solves `dy = f dt + g dW` from `(t0, y0)` on the Brownian path
/// `brownian` (which must cover `[t0, last save time]` with the noise's
/// channels), returning the state at each time in `saveat` (sorted, all
/// `>= t0`; the solve ends at the last). Euler–Maruyama and Milstein solve
/// the Itô equation, reversible Heun the Stratonovich one; SRA1 needs
/// additive noise (where the two agree).
///
/// Fixed-step solves (`opts.adaptive == false`, `opts.dt` required) step
/// on the grid `t0 + k·dt` and land exactly on every save time: a save time
/// between grid points shortens the step that reaches it, and the next
/// step continues to the grid (a save time within `1e-9·dt` of a grid
/// point replaces it). Adaptive SRA1 uses the PID controller of the ODE
/// solvers (error order 2, [`crate::stepsize`]) and also lands on the save
/// times. `Stats::nfe` counts drift, diffusion and `g ∂g/∂y` evaluations;
/// `Stats::local_error` sums `EEst·h` of adaptive steps.
///
/// The result depends only on the inputs and the tree, so it is bit-for-bit
/// reproducible.
pub fn sde_solve(
    f: &dyn SdeField,
    t0: f64,
    y0: &[f64],
    saveat: &[f64],
    opts: &SdeOptions,
    brownian: &BrownianTree,
) -> Result<Solution, SolveError> {
    validate(f, t0, saveat, opts)?;
    let n = f.dim();
    check_y0(n, y0)?;
    check_tree(f, brownian, t0, saveat[saveat.len() - 1])?;
    let mut ws = Work::new(f, 0);
    ws.y.copy_from_slice(y0);
    let mut y = vec![0.0; saveat.len() * n];
    let mut path = brownian.path();
    let stats = integrate(f, t0, saveat, opts, &mut path, &mut ws, &mut y, None)?;
    Ok(Solution { t: saveat.to_vec(), y, n_state: n, stats })
}

/// Runs `one(member, ws, out)` for every member (or unit: `out` is cut in
/// pieces of `rows`, the last may be shorter) over `threads` workers (0 =
/// rayon's global pool, 1 = the calling thread); results are per member,
/// so independent of the thread count.
pub(crate) fn for_each_member<R: Send + Clone, W>(
    batch: usize,
    rows: usize,
    out: &mut [f64],
    threads: usize,
    new_ws: impl Fn() -> W + Sync + Send,
    one: impl Fn(usize, &mut W, &mut [f64]) -> R + Sync + Send,
    init: R,
) -> Vec<R> {
    let mut results = vec![init; batch];
    let parallel = |out: &mut [f64], results: &mut Vec<R>| {
        out.par_chunks_mut(rows.max(1))
            .zip(results.par_iter_mut())
            .enumerate()
            .for_each_init(&new_ws, |ws, (b, (o, r))| *r = one(b, ws, o));
    };
    // The global pool serves a request for its own size (no pool built per call).
    let threads = if threads == rayon::current_num_threads() { 0 } else { threads };
    let pool =
        if threads > 1 && batch > 1 { rayon::ThreadPoolBuilder::new().num_threads(threads).build().ok() } else { None };
    match (threads, pool) {
        (0, _) if batch > 1 && rows > 0 => parallel(out, &mut results),
        (_, Some(pool)) if rows > 0 => pool.install(|| parallel(out, &mut results)),
        _ => {
            let mut ws = new_ws();
            for (b, (r, o)) in results.iter_mut().zip(out.chunks_mut(rows.max(1))).enumerate() {
                *r = one(b, &mut ws, o);
            }
        }
    }
    results
}

/// Members per lock-step chunk of a fixed-step batch: up to
/// [`LOCKSTEP_CHUNK`], fewer when that leaves workers idle (at least four
/// chunks per worker where the batch allows, at least 8 members). Results
/// do not depend on it: each member's arithmetic is its own.
fn lockstep_chunk(batch: usize, threads: usize) -> usize {
    let workers = match threads {
        0 => rayon::current_num_threads(),
        t => t,
    };
    batch.div_ceil(4 * workers.max(1)).clamp(8, LOCKSTEP_CHUNK)
}

/// Most members a fixed-step batch advances in lock-step.
const LOCKSTEP_CHUNK: usize = 64;

/// [`integrate`] for the members of a chunk at once (a fixed step, no
/// tape): `bw.y` holds their initial states and `path` their streams;
/// `out` their save rows back to back. Each stage is one batched call of
/// the field; each member's result (states, stats, error) is what
/// [`integrate`] gives it alone.
#[allow(clippy::too_many_arguments)]
fn integrate_lockstep(
    f: &dyn SdeField,
    t0: f64,
    saveat: &[f64],
    opts: &SdeOptions,
    path: &mut BrownianPath,
    bw: &mut BatchWork,
    out: &mut [f64],
) -> Vec<Result<Stats, SolveError>> {
    let (method, b) = (opts.method, bw.members());
    let rows = out.len() / b.max(1);
    let mut results: Vec<Result<Stats, SolveError>> = (0..b)
        .map(|k| {
            let y = bw.member(k);
            if y.iter().all(|v| v.is_finite()) {
                Ok(Stats::default())
            } else {
                Err(invalid(format!("the initial state is not finite: {y:?}")))
            }
        })
        .collect();
    let save_all = |bw: &BatchWork, range: std::ops::Range<usize>, out: &mut [f64]| {
        for (k, o) in out.chunks_exact_mut(rows).enumerate() {
            let y = bw.member(k);
            for i in range.clone() {
                o[i * y.len()..(i + 1) * y.len()].copy_from_slice(y);
            }
        }
    };
    let mut stats = Stats::default();
    if method == SdeMethod::ReversibleHeun {
        bw.heun_init(f, t0);
        stats.nfe += 2;
    }
    let fail_all = |results: &mut [Result<Stats, SolveError>], e: SolveError| {
        for r in results.iter_mut().filter(|r| r.is_ok()) {
            *r = Err(e.clone());
        }
    };
    let grid = Grid { t0, dt: opts.dt.unwrap_or(f64::NAN), saveat };
    let (mut walk, at_start) = grid.forward();
    save_all(bw, at_start, out);
    let mut t = t0;
    while let Some((tb, saves)) = grid.next(&mut walk) {
        if results.iter().all(|r| r.is_err()) {
            break;
        }
        if stats.accepted as usize >= opts.max_steps {
            fail_all(&mut results, SolveError::MaxStepsReached { t, max_steps: opts.max_steps });
            break;
        }
        path.increment_unchecked(t, tb, &mut bw.dw);
        match bw.step(f, method, t, tb) {
            Some(evals) => stats.nfe += evals,
            None => {
                fail_all(&mut results, no_dg());
                break;
            }
        }
        for (k, r) in results.iter_mut().enumerate() {
            if r.is_ok() && !bw.next_is_finite(k) {
                *r = Err(SolveError::NonFinite { t });
            }
        }
        bw.advance(method);
        stats.accepted += 1;
        t = tb;
        save_all(bw, saves, out);
    }
    for r in results.iter_mut().filter(|r| r.is_ok()) {
        *r = Ok(stats);
    }
    results
}

/// `y0s` holds `batch` initial states back to back; member `b` is solved as
/// [`sde_solve`] would on the tree `BrownianTree::new(seed, t0, t_end, m,
/// tol).stream(b)` (`t_end` the last save time, `tol` from
/// [`SdeOptions::resolved_brownian_tol`]), so results are bit-for-bit the
/// same on any number of `threads` (0 = rayon's global pool, 1 = the
/// calling thread). The first failing member is reported as
/// [`SolveError::InBatch`].
///
/// Fixed-step solves advance chunks of up to 64 members in lock-step: one
/// cursor walks the chunk's Brownian streams together
/// ([`BrownianTree::stream_paths`]) and each stage is one call of the
/// field's batched methods ([`SdeField::drift_batch`], ...), which give the
/// bits of member-by-member calls; chunks are spread over the threads.
/// Adaptive solves step each member on its own.
pub fn sde_solve_batch(
    f: &dyn SdeField,
    t0: f64,
    y0s: &[f64],
    saveat: &[f64],
    opts: &SdeOptions,
    seed: u64,
    threads: usize,
) -> Result<BatchSolution, SolveError> {
    validate(f, t0, saveat, opts)?;
    let n = f.dim();
    let batch = y0s.len() / n;
    if batch * n != y0s.len() {
        return Err(invalid(format!(
            "the initial states hold {} values, not a multiple of the state length {n}",
            y0s.len()
        )));
    }
    let tree = batch_tree(f, seed, t0, saveat[saveat.len() - 1], opts)?;
    let rows = saveat.len() * n;
    let mut y = vec![0.0; batch * rows];
    let results = if opts.adaptive {
        let new_ws = || (Work::new(f, 0), tree.path());
        let one = |b: usize, (ws, path): &mut (Work, BrownianPath), out: &mut [f64]| {
            path.reset(tree.stream(b as u64));
            ws.y.copy_from_slice(&y0s[b * n..(b + 1) * n]);
            integrate(f, t0, saveat, opts, path, ws, out, None)
        };
        for_each_member(batch, rows, &mut y, threads, new_ws, one, Ok(Stats::default()))
    } else {
        // Fixed steps: every member steps through the same points, so
        // chunks of members advance in lock-step.
        let chunk = lockstep_chunk(batch, threads);
        let chunks = batch.div_ceil(chunk);
        let new_ws = || (BatchWork::new(f, chunk), tree.stream_paths(0..0));
        let one = |c: usize, (bw, path): &mut (BatchWork, BrownianPath), out: &mut [f64]| {
            let members = c * chunk..((c + 1) * chunk).min(batch);
            path.reset_streams(&tree, members.start as u64..members.end as u64);
            bw.resize(members.len());
            bw.y.copy_from_slice(&y0s[members.start * n..members.end * n]);
            integrate_lockstep(f, t0, saveat, opts, path, bw, out)
        };
        let per_chunk = for_each_member(chunks, chunk * rows, &mut y, threads, new_ws, one, Vec::new());
        per_chunk.into_iter().flatten().collect()
    };
    let mut stats = Vec::with_capacity(batch);
    for (index, r) in results.into_iter().enumerate() {
        match r {
            Ok(s) => stats.push(s),
            Err(error) => return Err(SolveError::InBatch { index, error: Box::new(error) }),
        }
    }
    Ok(BatchSolution { t: saveat.to_vec(), t_each: Vec::new(), y, batch, n_state: n, stats })
}
