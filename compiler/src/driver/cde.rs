//! CDE models in the runtime: `dz = F(z) @ dX (+ g dt)` solved as the ODE
//! `dz/dt = F(z) · dX/dt (+ g)` along a control path (ALGORITHMS §3.3).
//!
//! Owns the binding of a CDE model's kernels (compiled by
//! [`super::compile_model`] like any model's) to a parameter vector and one
//! [`ControlPath`] ([`CdeField`], a [`VectorField`] and [`DiffField`] of
//! the model's own `n` states), the knot-to-knot solve ([`solve_cde`]) and
//! its gradient ([`gradient_cde`]), the initial state ([`initial_state`],
//! which may read `X(t0)`), and building the paths of a model's data
//! ([`control_paths`]).
//!
//! Kernel conventions (the model's [`ModelIr::rhs`]; `n` states, `c`
//! channels, `P` parameters):
//!
//! | kernel | `y` buffer | `out` |
//! |---|---|---|
//! | `M.rhs` | `[y; X(t); dX/dt]` (`n + 2c`) | `dy/dt` (`n`) |
//! | `M.vjp` | `[y; X(t); dX/dt; a]` (`2n + 2c`) | `aᵀ∂f/∂[y; X; Ẋ]` (`n + 2c`, the first `n` used), `aᵀ∂f/∂p` (`P`) |
//! | `M.init` | `X(t0)` (`c`) | `y0` (`n`) |
//!
//! Why knot to knot: between two knots the path is one polynomial, but at
//! a knot `dX/dt` may jump (linear and rectilinear paths, and any path at a
//! channel's first or last observation). [`solve_cde`] solves each knot
//! interval with its own call of [`nde_runtime::solve()`], and on the
//! interval `[a, b]` the field reads the path's derivative from inside it
//! (the right derivative, the left one at `b`, zero beyond the path's
//! span), so no step straddles a kink and no stage sees the next segment.
//!
//! Never: print, panic on a path or buffers that do not fit the kernels
//! (they are [`SolveError::InvalidOptions`] from the constructors), or
//! allocate in [`CdeField`]'s evaluations.

use nde_runtime::adjoint::{self, Adjoint, Cotangent, Gradient};
use nde_runtime::data::Series;
use nde_runtime::path::{ControlPath, PathError};
use nde_runtime::term::{DiffField, VectorField};
use nde_runtime::{Solution, SolveError, SolveOptions, Stats};

use super::ModelKernels;
use crate::ir::{self, Control, ModelIr};

/// Why the control paths of a model could not be built.
#[derive(Clone, Debug, PartialEq)]
pub enum CdeError {
    /// The model has no `input` (it is not a CDE).
    NotACde { model: String },
    /// The series does not have the columns the model was checked with.
    Columns { data: String, expected: usize, found: usize },
    /// The data cannot be interpolated (too few times, an empty channel...).
    Path { data: String, error: PathError },
}

impl std::fmt::Display for CdeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CdeError::NotACde { model } => {
                write!(f, "model `{model}` has no `input`: it is not a controlled model")
            }
            CdeError::Columns { data, expected, found } => {
                write!(f, "data set `{data}` has {found} value columns, but the model was checked with {expected}")
            }
            CdeError::Path { data, error } => write!(f, "data set `{data}`: {error}"),
        }
    }
}

impl std::error::Error for CdeError {}

/// One control path per trajectory of `series`, the data set of `control`
/// (already loaded, or generated, e.g. by `train::materialize_data`).
pub fn control_paths(control: &Control, series: &Series) -> Result<Vec<ControlPath>, CdeError> {
    if series.columns.len() != control.columns {
        return Err(CdeError::Columns {
            data: control.data.clone(),
            expected: control.columns,
            found: series.columns.len(),
        });
    }
    ControlPath::from_series(control.interpolation, series, control.path_options())
        .map_err(|error| CdeError::Path { data: control.data.clone(), error })
}

/// The control of `model`, or [`CdeError::NotACde`].
pub fn control_of(model: &ModelIr) -> Result<&Control, CdeError> {
    model.control.as_ref().ok_or_else(|| CdeError::NotACde { model: model.name.clone() })
}

/// The initial state of a CDE model at the start of `path` (its first
/// knot): the model's `init` evaluated with `X(t0)` (by the reference
/// interpreter, as [`super::initial_state`] does for other models).
pub fn initial_state(model: &ModelIr, params: &[f64], path: &ControlPath) -> Result<Vec<f64>, ir::interp::InterpError> {
    let t0 = path.span().0;
    let mut x0 = vec![0.0; path.channels()];
    path.evaluate(t0, &mut x0);
    ir::interp::eval(&model.init, t0, &x0, params)
}

/// The length checks shared by the constructors: `(n, c)`.
fn dims(kernels: &ModelKernels, params: &[f64], path: &ControlPath) -> Result<(usize, usize), SolveError> {
    let (rhs, c) = (&kernels.rhs, path.channels());
    let n = rhs.out_len;
    let invalid = |what: String| Err(SolveError::InvalidOptions { what });
    if rhs.n_state != n + 2 * c {
        return invalid(format!(
            "the control path has {c} channels, but `{}` reads {} values besides its {n} states (2 × the channels \
             it was compiled for)",
            rhs.name,
            rhs.n_state.saturating_sub(n)
        ));
    }
    if params.len() != rhs.n_param {
        return invalid(format!("{} parameters given, `{}` has {}", params.len(), rhs.name, rhs.n_param));
    }
    Ok((n, c))
}

/// A CDE model's compiled kernels with its parameters and control path
/// bound: `dy/dt = rhs(t, [y; X(t); dX/dt], p)` as a [`VectorField`] of the
/// model's `n` states, and its VJP as a [`DiffField`].
///
/// By default the path's derivative is its right derivative (the left one
/// at the path's end); [`CdeField::on_interval`] restricts it to one knot
/// interval, as [`solve_cde`] does.
#[derive(Clone, Copy)]
pub struct CdeField<'a> {
    kernels: &'a ModelKernels,
    params: &'a [f64],
    path: &'a ControlPath,
    n: usize,
    c: usize,
    /// The interval `[a, b]` being solved: `dX/dt` from inside it.
    window: Option<(f64, f64)>,
}

impl<'a> CdeField<'a> {
    /// Binds `params` and `path` to `kernels` (compiled from a CDE model by
    /// [`super::compile_model`]). Errors: a path with another number of
    /// channels than the model's, or a parameter vector of the wrong length.
    pub fn new(
        kernels: &'a ModelKernels,
        params: &'a [f64],
        path: &'a ControlPath,
    ) -> Result<CdeField<'a>, SolveError> {
        let (n, c) = dims(kernels, params, path)?;
        Ok(CdeField { kernels, params, path, n, c, window: None })
    }

    /// The same field for solving over `[a, b]` only (`a < b`, with no knot
    /// strictly inside): `dX/dt` is the derivative of the path's piece on
    /// that interval, also at `b` (the left derivative there), and zero when
    /// the interval lies beyond the path's span.
    pub fn on_interval(&self, a: f64, b: f64) -> CdeField<'a> {
        CdeField { window: Some((a, b)), ..*self }
    }

    /// The bound path.
    pub fn path(&self) -> &'a ControlPath {
        self.path
    }

    /// Number of path channels `c`.
    pub fn channels(&self) -> usize {
        self.c
    }

    /// Writes `[y; X(t); dX/dt]` into `buf` (`n + 2c` long).
    fn pack(&self, t: f64, y: &[f64], buf: &mut [f64]) {
        let (n, c) = (self.n, self.c);
        buf[..n].copy_from_slice(y);
        let (x, rate) = buf[n..n + 2 * c].split_at_mut(c);
        self.path.evaluate(t, x);
        match self.window {
            Some((a, _)) if a >= self.path.span().1 => rate.fill(0.0),
            Some((_, b)) if t >= b => self.path.derivative_left(t, rate),
            _ => self.path.derivative(t, rate),
        }
    }
}

impl VectorField for CdeField<'_> {
    fn dim(&self) -> usize {
        self.n
    }
    /// The packed input `[y; X; Ẋ]`, then the kernel's scratch.
    fn scratch_len(&self) -> usize {
        self.kernels.rhs.n_state + self.kernels.rhs.scratch_len
    }
    fn eval(&self, t: f64, y: &[f64], dy: &mut [f64], scratch: &mut [f64]) {
        let k = &self.kernels.rhs;
        let (input, rest) = scratch.split_at_mut(k.n_state);
        self.pack(t, y, input);
        super::call_kernel(k, self.params, t, input, dy, rest);
    }
}

impl DiffField for CdeField<'_> {
    fn n_params(&self) -> usize {
        self.params.len()
    }
    /// The packed input `[y; X; Ẋ; a]`, the kernel's output `[gy; gx; gẋ; gp]`,
    /// then the kernel's scratch.
    fn vjp_scratch_len(&self) -> usize {
        let k = &self.kernels.vjp;
        k.n_state + k.out_len + k.scratch_len
    }
    fn vjp(&self, t: f64, y: &[f64], a: &[f64], gy: &mut [f64], gp: &mut [f64], scratch: &mut [f64]) {
        let k = &self.kernels.vjp;
        let (input, rest) = scratch.split_at_mut(k.n_state);
        let (out, kernel_scratch) = rest.split_at_mut(k.out_len);
        let packed = self.n + 2 * self.c;
        self.pack(t, y, &mut input[..packed]);
        input[packed..].copy_from_slice(a);
        super::call_kernel(k, self.params, t, input, out, kernel_scratch);
        gy.copy_from_slice(&out[..self.n]);
        gp.copy_from_slice(&out[packed..]);
    }
}

/// One knot interval of a solve: `[a, b]` and the indices of the requested
/// save times in `(a, b]`.
struct Interval {
    a: f64,
    b: f64,
    saves: std::ops::Range<usize>,
}

/// The knot intervals from the path's start to the last save time (the
/// last one beyond the path's end if the saves go on after it), and how
/// many leading saves are at the start itself. Errors on bad save times.
fn intervals(path: &ControlPath, saveat: &[f64]) -> Result<(Vec<Interval>, usize), SolveError> {
    let bad = |what: String| Err(SolveError::InvalidTimes { what });
    let t0 = path.span().0;
    let Some(&end) = saveat.last() else {
        return bad("no output times were given (at least the end time is needed)".into());
    };
    if let Some((i, t)) = saveat.iter().enumerate().find(|(_, t)| !t.is_finite()) {
        return bad(format!("output time #{i} is {t}, not a finite number"));
    }
    if let Some(i) = (1..saveat.len()).find(|&i| saveat[i] < saveat[i - 1]) {
        return bad(format!(
            "output times must be non-decreasing, but #{i} = {} comes after {}",
            saveat[i],
            saveat[i - 1]
        ));
    }
    if saveat[0] < t0 {
        return bad(format!(
            "output time {} is before the start of the control path, t0 = {t0} (the first observation time)",
            saveat[0]
        ));
    }
    let at_start = saveat.iter().take_while(|&&s| s == t0).count();
    let mut bounds: Vec<f64> = path.knots().iter().copied().take_while(|&k| k < end).collect();
    bounds.push(end);
    let mut out = Vec::with_capacity(bounds.len());
    let mut next = at_start;
    for w in bounds.windows(2) {
        let (a, b) = (w[0], w[1]);
        let first = next;
        while next < saveat.len() && saveat[next] <= b {
            next += 1;
        }
        out.push(Interval { a, b, saves: first..next });
    }
    Ok((out, at_start))
}

/// The save times of one interval: the requested ones, then `b` (which
/// the next interval starts from) unless it is the last of them.
fn interval_saves(iv: &Interval, saveat: &[f64]) -> Vec<f64> {
    let mut s = saveat[iv.saves.clone()].to_vec();
    if s.last() != Some(&iv.b) {
        s.push(iv.b);
    }
    s
}

/// Adds one interval's work to a total.
fn add_stats(total: &mut Stats, s: &Stats) {
    total.nfe += s.nfe;
    total.accepted += s.accepted;
    total.rejected += s.rejected;
    total.local_error += s.local_error;
    total.stiffness += s.stiffness;
    total.sampled_local_error += s.sampled_local_error;
    total.sampled_stiffness += s.sampled_stiffness;
}

/// Solves a CDE model from `y0` at the start of `path` (its first knot,
/// `t0`), saving at `saveat` (non-decreasing, all `>= t0`; may include
/// `t0`; beyond the path's end the path is constant, so only `dt` terms
/// act). Each knot interval is solved in turn by [`nde_runtime::solve()`]
/// with `opts` (a fresh first step in each), see the module docs.
///
/// Errors: those of [`nde_runtime::solve()`] (a step size that collapses, a
/// non-finite state, ... with the time), bad save times, and a path or
/// parameters that do not fit `kernels` ([`SolveError::InvalidOptions`]).
pub fn solve_cde(
    kernels: &ModelKernels,
    params: &[f64],
    path: &ControlPath,
    y0: &[f64],
    saveat: &[f64],
    opts: &SolveOptions,
) -> Result<Solution, SolveError> {
    let field = CdeField::new(kernels, params, path)?;
    let (ivs, at_start) = intervals(path, saveat)?;
    Ok(solve_intervals(&field, &ivs, at_start, y0, saveat, opts)?.0)
}

/// The knot-to-knot solve of [`solve_cde`], and the state at the start of
/// each interval.
fn solve_intervals(
    field: &CdeField<'_>,
    ivs: &[Interval],
    at_start: usize,
    y0: &[f64],
    saveat: &[f64],
    opts: &SolveOptions,
) -> Result<(Solution, Vec<Vec<f64>>), SolveError> {
    let n = field.dim();
    if y0.len() != n {
        return Err(SolveError::InvalidOptions {
            what: format!("the initial state has {} values but the system has {n} state variables", y0.len()),
        });
    }
    let mut y = Vec::with_capacity(saveat.len() * n);
    for _ in 0..at_start {
        y.extend_from_slice(y0);
    }
    let mut stats = Stats::default();
    let mut starts = Vec::with_capacity(ivs.len());
    let mut state = y0.to_vec();
    for iv in ivs {
        starts.push(state.clone());
        let saves = interval_saves(iv, saveat);
        let sol = nde_runtime::solve(&field.on_interval(iv.a, iv.b), iv.a, &state, &saves, opts)?;
        add_stats(&mut stats, &sol.stats);
        y.extend_from_slice(&sol.y[..iv.saves.len() * n]);
        state.copy_from_slice(sol.final_state());
    }
    Ok((Solution { t: saveat.to_vec(), y, n_state: n, stats }, starts))
}

/// The gradient of a loss of a CDE solve: [`solve_cde`] and, interval by
/// interval from the last, [`nde_runtime::adjoint::gradient`] with
/// `adjoint`, carrying the cotangent of the state at each knot back to the
/// interval before (the forward solve is made once more per interval, with
/// the same steps).
///
/// `cotangent` gets the solution and returns `dL/dy(saveat_i)`, rows
/// `[saveat.len()][n]`. Solver-heuristic regularisers are not supported
/// here. Returns the solution and the gradient with respect to `y0` and
/// the parameters (its work counts summed over the intervals).
#[allow(clippy::too_many_arguments)]
pub fn gradient_cde(
    kernels: &ModelKernels,
    params: &[f64],
    path: &ControlPath,
    y0: &[f64],
    saveat: &[f64],
    opts: &SolveOptions,
    adjoint: Adjoint,
    cotangent: &mut dyn FnMut(&Solution) -> Vec<f64>,
) -> Result<(Solution, Gradient), SolveError> {
    let field = CdeField::new(kernels, params, path)?;
    let n = field.dim();
    let (ivs, at_start) = intervals(path, saveat)?;
    let (sol, starts) = solve_intervals(&field, &ivs, at_start, y0, saveat, opts)?;
    let dl = cotangent(&sol);
    if dl.len() != saveat.len() * n {
        return Err(SolveError::InvalidOptions {
            what: format!(
                "the cotangent has {} values, expected {} ({} save times × {n} states)",
                dl.len(),
                saveat.len() * n,
                saveat.len()
            ),
        });
    }
    let mut total = Gradient {
        y0: vec![0.0; n],
        params: vec![0.0; params.len()],
        forward: sol.stats,
        backward: Stats::default(),
        recomputed: 0,
        regulariser_nfe: 0,
        regulariser_vjps: 0,
        peak_states: 0,
        reconstructed_y0: None,
    };
    // `carry`: dL/dy at the end of the interval being reversed, from the
    // intervals after it.
    let mut carry = vec![0.0; n];
    for (iv, y_start) in ivs.iter().zip(&starts).rev() {
        let saves = interval_saves(iv, saveat);
        let mut rows = vec![0.0; saves.len() * n];
        rows[..iv.saves.len() * n].copy_from_slice(&dl[iv.saves.start * n..iv.saves.end * n]);
        let last = (saves.len() - 1) * n;
        for (r, c) in rows[last..].iter_mut().zip(&carry) {
            *r += c;
        }
        let mut ct = |_: &Solution| Cotangent::states(rows.clone());
        let f = field.on_interval(iv.a, iv.b);
        let (_, g) = adjoint::gradient(&f, iv.a, y_start, &saves, opts, adjoint, None, &mut ct)?;
        carry = g.y0;
        for (p, gp) in total.params.iter_mut().zip(&g.params) {
            *p += gp;
        }
        add_stats(&mut total.backward, &g.backward);
        total.recomputed += g.recomputed;
        total.peak_states = total.peak_states.max(g.peak_states);
        if iv.a == path.span().0 {
            total.reconstructed_y0 = g.reconstructed_y0;
        }
    }
    // Saves at t0 itself read y0 directly.
    for row in dl[..at_start * n].chunks_exact(n.max(1)) {
        for (c, d) in carry.iter_mut().zip(row) {
            *c += d;
        }
    }
    total.y0 = carry;
    Ok((sol, total))
}

#[cfg(test)]
mod tests;
