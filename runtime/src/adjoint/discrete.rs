//! The discrete adjoint: reverse mode through the solver's own steps, with
//! checkpointing so that stored states grow only logarithmically with the
//! number of steps.
//!
//! Owns the forward recorder ([`Recorder`], a step observer), the [`Tape`]
//! it leaves, and the reverse sweep that walks the steps backwards,
//! recomputing what was not stored. The arithmetic of one reversed step is
//! in `reverse`. Never allocates per step: the tape grows by amortised
//! doubling, every other buffer is made once per gradient call.
//!
//! # Checkpointing scheme (online thinning + recursive bisection)
//! - **Forward.** The step end times are kept (one `f64` per step; they
//!   replay the accepted steps exactly, so the backward pass never redoes
//!   rejected steps or the controller). States are kept at the starts of
//!   steps `0, K, 2K, …` with `K` a power of two, starting at `K = 1`. When
//!   a new one would exceed the budget `c`, every other checkpoint is
//!   dropped and `K` doubles (online: the number of steps `N` need not be
//!   known). So at most `c` states are held, `K < 2N/c`. Budget: the
//!   `checkpoints` of [`crate::adjoint::Adjoint::Discrete`], or else the
//!   bit length of the step count so far (`⌊log₂ N⌋ + 1`, at least 2),
//!   about `log₂ N` like diffrax's `RecursiveCheckpointAdjoint`.
//! - **Backward.** Segments between checkpoints are reversed last to first.
//!   A segment of `m > 1` steps is split at `mid = a + ⌊m/2⌋`: the steps up
//!   to `mid` are recomputed to get the state there (held on a stack), the
//!   right half is reversed recursively, then the left half from the
//!   segment's state. A single step is recomputed once more, keeping its
//!   stage inputs, and reversed.
//! - **Regularisers.** With a nonzero weight on `R_E` or `R_S` (see
//!   `regular`), each reversed step also gets their cotangents on its
//!   stages; its end slot `f(t1, y1)` is the next step's first stage, kept
//!   from reversing that one, so the whole sweep costs one evaluation more
//!   (the last step's end slot) plus the VJPs of the extra cotangents.
//! - **Small problems.** With the automatic budget, the forward pass also
//!   keeps every step's start state and stage derivatives while they fit in
//!   `FULL_TAPE_STEPS` steps and `FULL_TAPE_LEN` values; the sweep then restores each step from them
//!   (the stage inputs by the same linear combinations, so the same bits)
//!   and evaluates nothing but VJPs. Past that size it drops them and the
//!   scheme above applies.
//! - **Cost.** At most `c + ⌈log₂ K⌉ + 1` states are held at once (the
//!   checkpoints plus the bisection stack; reported as `peak_states`).
//!   Reversing a segment of `m = 2^d` steps recomputes `m (1 + d/2)` steps,
//!   so the backward pass costs about `N (1 + ⌈log₂ K⌉ / 2)` recomputed
//!   steps of `inner` evaluations each (`inner` = stages, minus one for
//!   FSAL methods) plus one VJP per stage and step. With `c ≥ N` every
//!   state is kept (`K = 1`) and each step is recomputed exactly once.

use super::regular::measure;
use super::reverse::StepBufs;
use super::{Setup, Times};
use crate::error::SolveError;
use crate::solver::{Scheme, StepObserver, Workspace};
use crate::term::DiffField;

/// What the forward pass leaves for the reverse sweep.
pub(super) struct Tape {
    /// `t_0 … t_N`: the start time and the end of every accepted step.
    times: Vec<f64>,
    /// The states at the starts of steps `0, K, 2K, …`, back to back.
    states: Vec<f64>,
    /// `K`, a power of two.
    interval: usize,
    /// The most checkpoints held at once during the forward pass.
    peak: usize,
    /// Every step's start state and stage derivatives, while they fit in
    /// [`FULL_TAPE_LEN`] values (then the sweep needs no re-evaluation);
    /// `None` once they did not, or when not asked for.
    full: Option<FullTape>,
}

/// Every step's start state (`n` each) and stages (`per_step` each).
struct FullTape {
    states: Vec<f64>,
    stages: Vec<f64>,
    per_step: usize,
}

/// Most values (4 MiB) and steps the full tape may hold: short solves, like
/// the windows of a training step, are reversed without recomputing a step,
/// and memory still grows only logarithmically with the number of steps.
const FULL_TAPE_LEN: usize = 1 << 19;
const FULL_TAPE_STEPS: usize = 64;

/// The forward pass's step observer: records times and thins checkpoints.
pub(super) struct Recorder {
    tape: Tape,
    n: usize,
    /// `None`: the bit length of the step count so far.
    budget: Option<usize>,
}

impl Recorder {
    /// A recorder for a solve from `t0` of an `n`-dimensional state.
    /// `stages_per_step > 0` also keeps every step's state and stage
    /// derivatives (that many values per step) while they fit (see [`Tape`]).
    pub fn new(n: usize, t0: f64, budget: Option<usize>, stages_per_step: usize) -> Recorder {
        let reserve = budget.map_or(16, |c| c.saturating_add(1).min(64));
        let mut times = Vec::with_capacity(64);
        times.push(t0);
        let full = (stages_per_step > 0).then(|| FullTape {
            states: Vec::new(),
            stages: Vec::new(),
            per_step: stages_per_step,
        });
        let tape = Tape { times, states: Vec::with_capacity(reserve * n), interval: 1, peak: 0, full };
        Recorder { tape, n, budget }
    }

    pub fn into_tape(self) -> Tape {
        self.tape
    }

    /// Stores `y` as the state at the start of step `step` (a multiple of
    /// the interval), thinning first if the budget is spent.
    fn checkpoint(&mut self, step: usize, y: &[f64]) {
        let n = self.n;
        let tape = &mut self.tape;
        let held = tape.states.len() / n;
        let budget = self.budget.unwrap_or_else(|| auto_budget(step)).max(1);
        if held >= budget {
            let kept = held.div_ceil(2);
            for j in 1..kept {
                tape.states.copy_within(2 * j * n..(2 * j + 1) * n, j * n);
            }
            tape.states.truncate(kept * n);
            tape.interval *= 2;
            if !step.is_multiple_of(tape.interval) {
                return;
            }
        }
        tape.states.extend_from_slice(y);
        tape.peak = tape.peak.max(tape.states.len() / n);
    }
}

/// The default budget after `step` steps: the bit length of `step + 1`,
/// at least 2.
fn auto_budget(step: usize) -> usize {
    ((usize::BITS - (step + 1).leading_zeros()) as usize).max(2)
}

impl StepObserver for Recorder {
    fn accepted(&mut self, _t0: f64, t1: f64, ws: &Workspace) {
        let step = self.tape.times.len() - 1;
        if step.is_multiple_of(self.tape.interval) {
            self.checkpoint(step, &ws.y);
        }
        if let Some(full) = &mut self.tape.full {
            let len = full.states.len() + self.n + full.stages.len() + full.per_step;
            if step >= FULL_TAPE_STEPS || len > FULL_TAPE_LEN {
                self.tape.full = None;
            } else {
                full.states.extend_from_slice(&ws.y);
                full.stages.extend_from_slice(&ws.k[..full.per_step]);
            }
        }
        self.tape.times.push(t1);
    }
}

/// What the reverse sweep reports.
pub(super) struct Reversed {
    /// Steps reversed.
    pub steps: u64,
    /// States held at most (checkpoints plus the bisection stack).
    pub peak_states: usize,
}

/// `⌈log₂ m⌉` for `m ≥ 1`.
fn ceil_log2(m: usize) -> usize {
    (usize::BITS - (m.max(1) - 1).leading_zeros()) as usize
}

impl Tape {
    /// Accepted steps recorded.
    pub fn steps(&self) -> usize {
        self.times.len() - 1
    }

    /// The most checkpoints held at once during the forward pass.
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// The start time of step `i < steps()` and its state, written into
    /// `out`: replayed from the checkpoint before it with `bufs` (the same
    /// bits as the forward pass; at most `K - 1` steps, counted in
    /// `bufs.evals`).
    pub fn state_at_step<S: Scheme>(&self, f: &dyn DiffField, i: usize, bufs: &mut StepBufs, out: &mut [f64]) -> f64 {
        let n = out.len();
        let j = i / self.interval;
        out.copy_from_slice(&self.states[j * n..(j + 1) * n]);
        for s in j * self.interval..i {
            bufs.recompute::<S>(f, out, self.times[s], self.times[s + 1]);
            out.copy_from_slice(&bufs.y1);
        }
        self.times[i]
    }
}

/// The weights of the global regularisers `R_E`, `R_S` in the loss.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct GlobalWeights {
    pub local_error: f64,
    pub stiffness: f64,
}

impl GlobalWeights {
    fn any(&self) -> bool {
        self.local_error != 0.0 || self.stiffness != 0.0
    }
}

/// Runs the reverse sweep over `tape` for the cotangent rows `cot` (one per
/// save time in `times`) and the regulariser weights `reg`. On return
/// `bufs.lam` is `dL/dy0` and `bufs.gp` is `dL/dp`.
pub(super) fn reverse_sweep<S: Scheme>(
    setup: &Setup<'_>,
    times: Times<'_>,
    bufs: &mut StepBufs,
    tape: &Tape,
    cot: &[f64],
    reg: GlobalWeights,
) -> Result<Reversed, SolveError> {
    let n = setup.n;
    let steps = tape.times.len() - 1;
    bufs.reset();
    let saveat = times.saveat;
    let mut hi = saveat.len();
    // Save times past the last step get the final state (not reached in
    // practice: the last step ends at the last save time).
    let t_last = tape.times[steps];
    while hi > 0 && saveat[hi - 1] > t_last {
        hi -= 1;
    }
    bufs.add_direct(&cot[hi * n..]);
    if steps == 0 {
        // Nothing integrated: every saved row is y0.
        bufs.add_direct(&cot[..hi * n]);
        return Ok(Reversed { steps: 0, peak_states: 0 });
    }
    let depth = ceil_log2(tape.interval);
    let mut sweep = Sweep::<S> {
        f: setup.f,
        saveat,
        cot,
        times: &tape.times,
        bufs,
        stack: vec![0.0; (depth + 1) * n],
        n,
        hi,
        reg,
        tol: (setup.opts.rtol, setup.opts.atol),
        next_k0: if reg.any() { vec![0.0; n] } else { Vec::new() },
        next_k0_of: None,
        _scheme: std::marker::PhantomData,
    };
    if let Some(full) = &tape.full {
        let per = full.per_step;
        for i in (0..steps).rev() {
            let (t0, t1) = (tape.times[i], tape.times[i + 1]);
            sweep.bufs.restore::<S>(&full.states[i * n..(i + 1) * n], &full.stages[i * per..(i + 1) * per], t0, t1);
            sweep.reverse_recomputed(i)?;
        }
        return Ok(Reversed { steps: steps as u64, peak_states: steps });
    }
    let held = tape.states.len() / n;
    for j in (0..held).rev() {
        let a = j * tape.interval;
        let b = (a + tape.interval).min(steps);
        sweep.stack[..n].copy_from_slice(&tape.states[j * n..(j + 1) * n]);
        sweep.reverse_range(a, b, 0)?;
    }
    Ok(Reversed { steps: steps as u64, peak_states: tape.peak + depth + 1 })
}

/// The state of the reverse sweep.
struct Sweep<'a, S> {
    f: &'a dyn DiffField,
    saveat: &'a [f64],
    cot: &'a [f64],
    times: &'a [f64],
    bufs: &'a mut StepBufs,
    /// Bisection stack: level `d` holds the start state of the range being
    /// reversed at depth `d`.
    stack: Vec<f64>,
    n: usize,
    /// Save times `hi..` have been accounted for.
    hi: usize,
    /// The regularisers' weights.
    reg: GlobalWeights,
    /// `(rtol, atol)` for the local error.
    tol: (f64, f64),
    /// `k_0` of the last step reversed (its start derivative: the end
    /// slot of the step before), kept only when `reg` is nonzero.
    next_k0: Vec<f64>,
    /// Which step `next_k0` belongs to.
    next_k0_of: Option<usize>,
    _scheme: std::marker::PhantomData<fn() -> S>,
}

impl<S: Scheme> Sweep<'_, S> {
    /// Reverses steps `a..b`, whose start state is at stack level `depth`.
    fn reverse_range(&mut self, a: usize, b: usize, depth: usize) -> Result<(), SolveError> {
        let n = self.n;
        if b - a == 1 {
            return self.reverse_one(a, depth);
        }
        let mid = a + (b - a) / 2;
        let (lower, upper) = self.stack.split_at_mut((depth + 1) * n);
        let next = &mut upper[..n];
        next.copy_from_slice(&lower[depth * n..]);
        for i in a..mid {
            self.bufs.recompute::<S>(self.f, next, self.times[i], self.times[i + 1]);
            next.copy_from_slice(&self.bufs.y1);
        }
        self.reverse_range(mid, b, depth + 1)?;
        self.reverse_range(a, mid, depth)
    }

    /// Recomputes and reverses step `i` from the state at stack level `depth`.
    fn reverse_one(&mut self, i: usize, depth: usize) -> Result<(), SolveError> {
        let n = self.n;
        let (t0, t1) = (self.times[i], self.times[i + 1]);
        let y = &self.stack[depth * n..(depth + 1) * n];
        self.bufs.recompute::<S>(self.f, y, t0, t1);
        self.reverse_recomputed(i)
    }

    /// Reverses step `i`, whose stages are in `bufs` (recomputed or restored).
    fn reverse_recomputed(&mut self, i: usize) -> Result<(), SolveError> {
        let n = self.n;
        let (t0, t1) = (self.times[i], self.times[i + 1]);
        if self.reg.any() {
            self.inject_regularisers(i, t0, t1)?;
        }
        // The forward pass saved in step i every time not yet saved that is
        // <= t1: those > t0, or all of them in the first step.
        let mut lo = self.hi;
        while lo > 0 && (i == 0 || self.saveat[lo - 1] > t0) {
            lo -= 1;
        }
        let (saves, cots) = (&self.saveat[lo..self.hi], &self.cot[lo * n..self.hi * n]);
        self.bufs.reverse::<S>(self.f, t0, t1, saves, cots, i == 0)?;
        self.hi = lo;
        Ok(())
    }

    /// Injects the cotangents of `w_E EEst |h| + w_S S |h|` on step `i`,
    /// just recomputed. Its end slot `f(t1, y1)` is the next step's `k_0`
    /// (kept from reversing that step, the same bits) or, for the last
    /// step, one more evaluation.
    fn inject_regularisers(&mut self, i: usize, t0: f64, t1: f64) -> Result<(), SolveError> {
        let n = self.n;
        let inner = super::reverse::inner_stages::<S>();
        if self.next_k0_of == Some(i + 1) {
            self.bufs.k[inner * n..(inner + 1) * n].copy_from_slice(&self.next_k0);
        } else {
            self.bufs.eval_end::<S>(self.f, t1);
        }
        self.next_k0.copy_from_slice(&self.bufs.k[..n]);
        self.next_k0_of = Some(i);
        let h = (t1 - t0).abs();
        let (rtol, atol) = self.tol;
        let (ce, cs) = (self.reg.local_error * h, self.reg.stiffness * h);
        measure::<S>(self.bufs, t0, t1 - t0, rtol, atol, ce, cs)?;
        Ok(())
    }
}
