//! Control paths for neural CDEs: the continuous path `X(t)` interpolated
//! from irregular, partially observed data, so that `dz = F(z) dX(t)` can be
//! solved as the ODE `dz/dt = F(z) · dX/dt` with the ordinary solvers
//! (ALGORITHMS §3.3; torchcde's and diffrax's interpolations).
//!
//! Owns [`ControlPath`] (built once, then evaluated allocation-free and
//! thread-safely inside solver loops), the four [`Interpolation`] kinds,
//! [`PathOptions`] (time channel, observation counts) and [`PathError`].
//!
//! # Channels
//!
//! The path's channels are, in this order: time (if
//! [`PathOptions::time_channel`]), the `c` data channels, then (if
//! [`PathOptions::observation_counts`]) for each data channel the cumulative
//! number of its observations up to and including each knot (torchcde's
//! observational mask). The time and count channels are fully observed and
//! interpolated like the data.
//!
//! # Missing values
//!
//! NaN marks a missing value. Each channel is interpolated from its own
//! observations only (the same curve as fitting that channel's observed
//! points alone) and held flat before its first and after its last
//! observation. The flat extension puts a kink (a jump in `dX/dt`) at a
//! channel's first or last observation when that is not the first or last
//! time, whatever the interpolation; it is always at a knot. torchcde
//! instead treats the first/last observation as observed at the first/last
//! time (so its splines stay C² but are not flat there), and for Hermite
//! fills gaps linearly before fitting. [`Interpolation::Rectilinear`]
//! fills forward instead (the last observation is held until the next one,
//! so the path stays online), holding a channel's first observation before
//! it.
//!
//! # Outside the span, and at knots
//!
//! Beyond [`ControlPath::span`] the path is constant (its value at the
//! nearer end) and its derivative is zero. Where the path is only C⁰
//! (Linear, Rectilinear) [`ControlPath::derivative`] gives the right
//! derivative at interior knots and [`ControlPath::derivative_left`] the
//! left one; at the two ends both give the one-sided derivative from inside
//! the span. A solver should end steps at [`ControlPath::knots`] and, within
//! the step `[k_i, k_{i+1}]`, take the right derivative at `k_i` and the left
//! one at `k_{i+1}` (or solve knot to knot).
//!
//! Never: allocate or panic in [`ControlPath::evaluate`] /
//! [`ControlPath::derivative`] (other than on an `out` buffer of the wrong
//! length, a caller bug), accept data that breaks the invariants checked by
//! [`ControlPath::new`], or print.

use std::fmt;
use std::sync::Arc;

use crate::data::Series;

/// How the data are interpolated between knots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interpolation {
    /// Piecewise linear: C⁰, causal between knots.
    Linear,
    /// Natural cubic spline (zero second derivative at both ends): C², not
    /// causal (every value depends on all observations).
    NaturalCubic,
    /// Cubic Hermite with backward differences: on `[t_k, t_{k+1}]` the
    /// cubic through `x_k, x_{k+1}` with end slopes `m_{k-1}, m_k`, where
    /// `m_k = (x_{k+1} − x_k)/(t_{k+1} − t_k)` and `m_{−1} = m_0`. C¹,
    /// causal up to one step; the usual choice with adaptive solvers.
    Hermite,
    /// The rectilinear path of `2n − 1` points over the index-time
    /// `s ∈ [0, 2(n−1)]`: point `2k` (at `s = 2k`) is `(t_k, x_k)`, point
    /// `2k+1` is `(t_{k+1}, x_k)`, joined by straight lines, so time moves
    /// first (values held), then the values (time held). C⁰ and online.
    Rectilinear,
}

impl Interpolation {
    /// Every kind, in declaration order.
    pub const ALL: [Interpolation; 4] =
        [Interpolation::Linear, Interpolation::NaturalCubic, Interpolation::Hermite, Interpolation::Rectilinear];

    /// How many derivatives of the path are continuous at its knots
    /// (0 for C⁰, 1 for C¹, 2 for C²), for channels observed at the first
    /// and last time (see the module docs on missing values).
    pub fn smoothness(self) -> usize {
        match self {
            Interpolation::Linear | Interpolation::Rectilinear => 0,
            Interpolation::Hermite => 1,
            Interpolation::NaturalCubic => 2,
        }
    }
}

impl fmt::Display for Interpolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Interpolation::Linear => "linear",
            Interpolation::NaturalCubic => "natural cubic",
            Interpolation::Hermite => "hermite",
            Interpolation::Rectilinear => "rectilinear",
        })
    }
}

/// Extra channels added to the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathOptions {
    /// Prepend time as channel 0 (default `true`; a CDE needs it to see
    /// how fast the data move).
    pub time_channel: bool,
    /// Append, per data channel, the cumulative count of its observations
    /// (default `false`).
    pub observation_counts: bool,
}

impl Default for PathOptions {
    /// Time channel on, observation counts off.
    fn default() -> PathOptions {
        PathOptions { time_channel: true, observation_counts: false }
    }
}

/// Why a control path could not be built. Rows and channels count from 0.
#[derive(Clone, Debug, PartialEq)]
pub enum PathError {
    /// Fewer than two observation times.
    TooFewKnots { n: usize },
    /// A time is NaN or infinite.
    NonFiniteTime { row: usize, value: f64 },
    /// Time `row` is not after time `row − 1`.
    NotIncreasing { row: usize, prev: f64, value: f64 },
    /// The data have no channels.
    NoChannels,
    /// `len` values do not fill whole series of `rows × channels` values
    /// (exactly one series for [`ControlPath::new`], a whole number of
    /// them for [`ControlPath::batch`]).
    Ragged { rows: usize, channels: usize, len: usize },
    /// A value is infinite (missing values are NaN).
    NonFiniteValue { row: usize, channel: usize, t: f64, value: f64 },
    /// A channel is NaN at every time.
    EmptyChannel { channel: usize },
    /// Series `index` of a batch is invalid.
    InSeries { index: usize, error: Box<PathError> },
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::TooFewKnots { n } => {
                write!(f, "a control path needs at least 2 observation times, got {n}")
            }
            PathError::NonFiniteTime { row, value } => {
                write!(f, "the time of row {row} is {value}; times must be finite numbers")
            }
            PathError::NotIncreasing { row, prev, value } => write!(
                f,
                "times must be strictly increasing, but row {row} has t = {value} after t = {prev} \
                 (sort the rows by time and merge rows that share a time)"
            ),
            PathError::NoChannels => write!(f, "the data have no channels"),
            PathError::Ragged { rows, channels, len } => write!(
                f,
                "{len} values do not fill series of {rows} rows × {channels} channels ({} values each)",
                rows * channels
            ),
            PathError::NonFiniteValue { row, channel, t, value } => write!(
                f,
                "the value of channel {channel} at row {row} (t = {t}) is {value}; values must be finite, \
                 or NaN for a missing observation"
            ),
            PathError::EmptyChannel { channel } => {
                write!(f, "channel {channel} has no observation at all (every value is NaN); drop it")
            }
            PathError::InSeries { index, error } => write!(f, "series {index}: {error}"),
        }
    }
}

impl std::error::Error for PathError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PathError::InSeries { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }
}

/// A piecewise-cubic path through data, evaluated allocation-free.
///
/// Every channel is a cubic polynomial on each segment between consecutive
/// [`ControlPath::knots`]; the path is immutable, `Send` and `Sync`, and
/// evaluation looks the segment up by binary search (no cached state).
#[derive(Clone, Debug, PartialEq)]
pub struct ControlPath {
    kind: Interpolation,
    /// The path's knots in its own time (the data times, or the index-time
    /// `0, 1, …, 2(n−1)` for Rectilinear); shared by a batch.
    knots: Arc<[f64]>,
    n_ch: usize,
    /// `[segment][channel][a, b, c, d]`: `X(k_i + s) = a + b s + c s² + d s³`.
    coeffs: Vec<f64>,
    /// The exact values at the last knot.
    end: Vec<f64>,
}

impl ControlPath {
    /// Interpolates `x` (row-major `[t.len()][channels]`, NaN = missing)
    /// observed at the strictly increasing times `t`.
    ///
    /// Errors: fewer than two times, a non-finite or non-increasing time,
    /// no channels, `x` not `t.len() × channels` long, an infinite value,
    /// a channel with no observation.
    pub fn new(
        kind: Interpolation,
        t: &[f64],
        x: &[f64],
        channels: usize,
        opts: PathOptions,
    ) -> Result<ControlPath, PathError> {
        let grid = Grid::new(kind, t)?;
        if channels == 0 {
            return Err(PathError::NoChannels);
        }
        if x.len() != t.len() * channels {
            return Err(PathError::Ragged { rows: t.len(), channels, len: x.len() });
        }
        build(&grid, x, channels, opts, &mut Work::default())
    }

    /// One path per series for many series sharing the times `t`: `x` is
    /// row-major `[batch][t.len()][channels]` (the layout of
    /// [`Series::y`]). The times are checked once, the knots are shared,
    /// and for natural splines the factorisation of the spline system is
    /// computed once for every fully observed channel. Errors as
    /// [`ControlPath::new`]; a bad value is reported as
    /// [`PathError::InSeries`].
    pub fn batch(
        kind: Interpolation,
        t: &[f64],
        x: &[f64],
        channels: usize,
        opts: PathOptions,
    ) -> Result<Vec<ControlPath>, PathError> {
        let grid = Grid::new(kind, t)?;
        if channels == 0 {
            return Err(PathError::NoChannels);
        }
        let per = t.len() * channels;
        if !x.len().is_multiple_of(per) {
            return Err(PathError::Ragged { rows: t.len(), channels, len: x.len() });
        }
        let mut work = Work::default();
        x.chunks_exact(per)
            .enumerate()
            .map(|(index, xs)| {
                build(&grid, xs, channels, opts, &mut work)
                    .map_err(|e| PathError::InSeries { index, error: Box::new(e) })
            })
            .collect()
    }

    /// One path per trajectory of an observation [`Series`] (its value
    /// columns are the data channels).
    pub fn from_series(kind: Interpolation, series: &Series, opts: PathOptions) -> Result<Vec<ControlPath>, PathError> {
        ControlPath::batch(kind, &series.t, &series.y, series.columns.len(), opts)
    }

    /// The interpolation this path was built with.
    pub fn kind(&self) -> Interpolation {
        self.kind
    }

    /// Number of output channels, after the time and count channels are
    /// added (see the module docs for their order).
    pub fn channels(&self) -> usize {
        self.n_ch
    }

    /// The knots: the data times, or for Rectilinear the index-times
    /// `0, 1, …, 2(n−1)`. The path is a polynomial between consecutive
    /// knots, so a solver should end its steps there (every point where
    /// the path is only C⁰ or C¹ is a knot).
    pub fn knots(&self) -> &[f64] {
        &self.knots
    }

    /// The first and last knot: `(t_0, t_{n−1})`, or `(0, 2(n−1))` for
    /// Rectilinear.
    pub fn span(&self) -> (f64, f64) {
        (self.knots[0], self.knots[self.knots.len() - 1])
    }

    /// Writes `X(t)` into `out` ([`ControlPath::channels`] long). Exact
    /// (bit for bit) at the knots where a channel is observed; constant
    /// beyond the span; NaN everywhere if `t` is NaN.
    ///
    /// # Panics
    /// If `out` has the wrong length (a caller bug).
    pub fn evaluate(&self, t: f64, out: &mut [f64]) {
        assert_eq!(out.len(), self.n_ch, "ControlPath::evaluate: `out` must have one entry per channel");
        let (lo, hi) = self.span();
        if t.is_nan() {
            out.fill(f64::NAN);
        } else if t >= hi {
            out.copy_from_slice(&self.end);
        } else {
            let seg = if t <= lo { 0 } else { self.knots.partition_point(|&k| k <= t) - 1 };
            let s = if t <= lo { 0.0 } else { t - self.knots[seg] };
            for (o, q) in out.iter_mut().zip(self.segment(seg).chunks_exact(4)) {
                *o = q[0] + s * (q[1] + s * (q[2] + s * q[3]));
            }
        }
    }

    /// Writes `dX/dt` into `out` ([`ControlPath::channels`] long): the
    /// right derivative at interior knots, the one-sided derivative from
    /// inside at both ends, zero beyond the span, NaN if `t` is NaN.
    ///
    /// # Panics
    /// If `out` has the wrong length (a caller bug).
    pub fn derivative(&self, t: f64, out: &mut [f64]) {
        self.derivative_from(t, out, false)
    }

    /// As [`ControlPath::derivative`], but the left derivative at interior
    /// knots (what a step ending at a knot needs).
    ///
    /// # Panics
    /// If `out` has the wrong length (a caller bug).
    pub fn derivative_left(&self, t: f64, out: &mut [f64]) {
        self.derivative_from(t, out, true)
    }

    fn derivative_from(&self, t: f64, out: &mut [f64], left: bool) {
        assert_eq!(out.len(), self.n_ch, "ControlPath::derivative: `out` must have one entry per channel");
        let (lo, hi) = self.span();
        if t.is_nan() {
            out.fill(f64::NAN);
            return;
        }
        if t < lo || t > hi {
            out.fill(0.0);
            return;
        }
        let last = self.knots.len() - 2;
        let seg = if left {
            self.knots.partition_point(|&k| k < t).saturating_sub(1)
        } else {
            (self.knots.partition_point(|&k| k <= t) - 1).min(last)
        };
        let s = t - self.knots[seg];
        for (o, q) in out.iter_mut().zip(self.segment(seg).chunks_exact(4)) {
            *o = q[1] + s * (2.0 * q[2] + 3.0 * s * q[3]);
        }
    }

    /// Stores the coefficients of channel `ch` on segment `seg`.
    fn set(&mut self, seg: usize, ch: usize, q: [f64; 4]) {
        let at = (seg * self.n_ch + ch) * 4;
        self.coeffs[at..at + 4].copy_from_slice(&q);
    }

    /// The `[channel][a, b, c, d]` coefficients of segment `seg`.
    fn segment(&self, seg: usize) -> &[f64] {
        &self.coeffs[seg * self.n_ch * 4..(seg + 1) * self.n_ch * 4]
    }
}

/// The validated times, shared by every series of a batch.
struct Grid<'a> {
    kind: Interpolation,
    t: &'a [f64],
    knots: Arc<[f64]>,
    /// The natural spline system over all times, factorised once.
    spline: Tridiagonal,
}

impl<'a> Grid<'a> {
    fn new(kind: Interpolation, t: &'a [f64]) -> Result<Grid<'a>, PathError> {
        if t.len() < 2 {
            return Err(PathError::TooFewKnots { n: t.len() });
        }
        if let Some((row, &value)) = t.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(PathError::NonFiniteTime { row, value });
        }
        if let Some(row) = (1..t.len()).find(|&i| t[i] <= t[i - 1]) {
            return Err(PathError::NotIncreasing { row, prev: t[row - 1], value: t[row] });
        }
        let knots: Arc<[f64]> = match kind {
            Interpolation::Rectilinear => (0..2 * t.len() - 1).map(|i| i as f64).collect(),
            _ => t.into(),
        };
        let mut spline = Tridiagonal::default();
        if kind == Interpolation::NaturalCubic {
            spline.factor(t);
        }
        Ok(Grid { kind, t, knots, spline })
    }
}

/// Scratch buffers reused across channels and series.
#[derive(Default)]
struct Work {
    /// The column being fitted (NaN = missing).
    col: Vec<f64>,
    /// Indices, times and values of its observations.
    obs: Vec<usize>,
    tau: Vec<f64>,
    y: Vec<f64>,
    /// Polynomial pieces between consecutive observations.
    pieces: Vec<[f64; 4]>,
    /// Second derivatives of a natural spline at the observations.
    m: Vec<f64>,
    spline: Tridiagonal,
}

/// The natural spline's system for the interior second derivatives
/// `M_1 … M_{m−2}` (`M_0 = M_{m−1} = 0`), rows
/// `h_{i−1} M_{i−1} + 2(h_{i−1} + h_i) M_i + h_i M_{i+1} = 6(Δ_i − Δ_{i−1})`,
/// LU-factorised for the Thomas algorithm (it is diagonally dominant, so no
/// pivoting is needed).
#[derive(Default)]
struct Tridiagonal {
    /// Pivots `w_i` and the eliminated super-diagonal `c'_i`.
    w: Vec<f64>,
    c: Vec<f64>,
}

impl Tridiagonal {
    /// Factorises the system for the knots `tau`.
    fn factor(&mut self, tau: &[f64]) {
        self.w.clear();
        self.c.clear();
        for i in 1..tau.len().saturating_sub(1) {
            let (h0, h1) = (tau[i] - tau[i - 1], tau[i + 1] - tau[i]);
            let c_prev = self.c.last().copied().unwrap_or(0.0);
            let w = 2.0 * (h0 + h1) - h0 * c_prev;
            self.w.push(w);
            self.c.push(h1 / w);
        }
    }

    /// Writes the second derivatives at every knot `tau` of the natural
    /// spline through `y` into `m`.
    fn solve(&self, tau: &[f64], y: &[f64], m: &mut Vec<f64>) {
        let n = tau.len();
        m.clear();
        m.resize(n, 0.0);
        let slope = |i: usize| (y[i + 1] - y[i]) / (tau[i + 1] - tau[i]);
        for i in 1..n - 1 {
            let rhs = 6.0 * (slope(i) - slope(i - 1));
            m[i] = (rhs - (tau[i] - tau[i - 1]) * m[i - 1]) / self.w[i - 1];
        }
        for i in (1..n - 1).rev() {
            m[i] -= self.c[i - 1] * m[i + 1];
        }
    }
}

/// Fits every channel of one series (`x` is `[rows][channels]`).
fn build(
    grid: &Grid,
    x: &[f64],
    channels: usize,
    opts: PathOptions,
    work: &mut Work,
) -> Result<ControlPath, PathError> {
    let t = grid.t;
    let n = t.len();
    for (i, &v) in x.iter().enumerate() {
        if v.is_infinite() {
            let (row, channel) = (i / channels, i % channels);
            return Err(PathError::NonFiniteValue { row, channel, t: t[row], value: v });
        }
    }
    if let Some(channel) = (0..channels).find(|&c| x.iter().skip(c).step_by(channels).all(|v| v.is_nan())) {
        return Err(PathError::EmptyChannel { channel });
    }

    let n_ch = usize::from(opts.time_channel) + channels * (1 + usize::from(opts.observation_counts));
    let n_seg = grid.knots.len() - 1;
    let mut path = ControlPath {
        kind: grid.kind,
        knots: grid.knots.clone(),
        n_ch,
        coeffs: vec![0.0; n_seg * n_ch * 4],
        end: vec![0.0; n_ch],
    };
    let mut ch = 0;
    if opts.time_channel {
        if grid.kind == Interpolation::Rectilinear {
            for k in 0..n - 1 {
                path.set(2 * k, ch, [t[k], t[k + 1] - t[k], 0.0, 0.0]);
                path.set(2 * k + 1, ch, [t[k + 1], 0.0, 0.0, 0.0]);
            }
            path.end[ch] = t[n - 1];
        } else {
            work.col.clear();
            work.col.extend_from_slice(t);
            fit_column(grid, work, &mut path, ch);
        }
        ch += 1;
    }
    for c in 0..channels {
        work.col.clear();
        work.col.extend(x.iter().skip(c).step_by(channels));
        fit_column(grid, work, &mut path, ch + c);
    }
    ch += channels;
    if opts.observation_counts {
        for c in 0..channels {
            work.col.clear();
            let mut count = 0.0;
            work.col.extend(x.iter().skip(c).step_by(channels).map(|v| {
                count += f64::from(u8::from(!v.is_nan()));
                count
            }));
            fit_column(grid, work, &mut path, ch + c);
        }
    }
    Ok(path)
}

/// Fits `work.col` (one value per time, NaN = missing, at least one
/// observed) and stores it as channel `ch` of `path`.
fn fit_column(grid: &Grid, work: &mut Work, path: &mut ControlPath, ch: usize) {
    let t = grid.t;
    let n = t.len();
    if grid.kind == Interpolation::Rectilinear {
        // Forward fill, holding the first observation before it.
        let first = work.col.iter().copied().find(|v| !v.is_nan()).unwrap_or(0.0);
        let mut prev = first;
        for k in 0..n - 1 {
            let v = if work.col[k].is_nan() { prev } else { work.col[k] };
            let next = if work.col[k + 1].is_nan() { v } else { work.col[k + 1] };
            path.set(2 * k, ch, [v, 0.0, 0.0, 0.0]);
            path.set(2 * k + 1, ch, [v, next - v, 0.0, 0.0]);
            prev = v;
        }
        path.end[ch] = if work.col[n - 1].is_nan() { prev } else { work.col[n - 1] };
        return;
    }

    work.obs.clear();
    work.tau.clear();
    work.y.clear();
    for (k, &v) in work.col.iter().enumerate() {
        if !v.is_nan() {
            work.obs.push(k);
            work.tau.push(t[k]);
            work.y.push(v);
        }
    }
    let m = work.y.len();
    fit_pieces(grid, work);

    // Re-expand each piece about the start of every data segment inside it.
    let (first, last) = (work.obs[0], work.obs[m - 1]);
    let mut j = 0;
    for (k, &tk) in t[..n - 1].iter().enumerate() {
        let q = if k < first {
            [work.y[0], 0.0, 0.0, 0.0]
        } else if k >= last {
            [work.y[m - 1], 0.0, 0.0, 0.0]
        } else {
            while work.obs[j + 1] <= k {
                j += 1;
            }
            shift(work.pieces[j], tk - work.tau[j])
        };
        path.set(k, ch, q);
    }
    path.end[ch] = work.y[m - 1];
}

/// The polynomial pieces `[a, b, c, d]` (in `s = t − τ_j`) between
/// consecutive observations `work.tau`, `work.y`.
fn fit_pieces(grid: &Grid, work: &mut Work) {
    let (tau, y) = (&work.tau, &work.y);
    let m = y.len();
    work.pieces.clear();
    let slope = |j: usize| (y[j + 1] - y[j]) / (tau[j + 1] - tau[j]);
    match grid.kind {
        Interpolation::Linear | Interpolation::Rectilinear => {
            work.pieces.extend((0..m.saturating_sub(1)).map(|j| [y[j], slope(j), 0.0, 0.0]));
        }
        Interpolation::Hermite => {
            work.pieces.extend((0..m.saturating_sub(1)).map(|j| {
                let h = tau[j + 1] - tau[j];
                let (before, here) = (slope(j.saturating_sub(1)), slope(j));
                let d = here - before;
                [y[j], before, 2.0 * d / h, -d / (h * h)]
            }));
        }
        Interpolation::NaturalCubic => {
            if m < 2 {
                return;
            }
            let spline = if m == grid.t.len() {
                &grid.spline
            } else {
                work.spline.factor(tau);
                &work.spline
            };
            spline.solve(tau, y, &mut work.m);
            let mm = &work.m;
            work.pieces.extend((0..m - 1).map(|j| {
                let h = tau[j + 1] - tau[j];
                [y[j], slope(j) - h * (2.0 * mm[j] + mm[j + 1]) / 6.0, mm[j] / 2.0, (mm[j + 1] - mm[j]) / (6.0 * h)]
            }));
        }
    }
}

/// The cubic `p(s)` re-expanded about `δ`: the coefficients of `p(δ + s)`.
fn shift(q: [f64; 4], delta: f64) -> [f64; 4] {
    if delta == 0.0 {
        return q;
    }
    let [a, b, c, d] = q;
    [a + delta * (b + delta * (c + delta * d)), b + delta * (2.0 * c + 3.0 * delta * d), c + 3.0 * delta * d, d]
}
