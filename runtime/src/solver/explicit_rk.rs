//! One explicit Runge–Kutta step, its error norm and dense evaluation: the
//! hot inner loop shared by the adaptive and fixed-step drivers.
//!
//! Owns [`Workspace`] (every buffer a solve needs, allocated once) and the
//! generic, monomorphised step over a [`Scheme`]. Linear combinations of
//! stages are computed component by component in a single pass
//! (`out[m] = y0[m] + h Σ_j a_j k_j[m]`) by code specialised on the number of
//! terms, so the stage loop has no bounds checks and no dynamic dispatch
//! beyond the one `f.eval` call per stage.
//!
//! Never allocates after [`Workspace::new`], never decides step sizes.

use super::scheme::Scheme;
use super::tableau::Tableau;
use crate::term::VectorField;

/// All work buffers of one solve; reused across steps and, in a batch,
/// across the trajectories one worker solves.
pub(crate) struct Workspace {
    pub n: usize,
    /// The current (accepted) state.
    pub y: Vec<f64>,
    /// The candidate state at the end of the step being attempted.
    pub y_new: Vec<f64>,
    /// Stage input.
    pub ytmp: Vec<f64>,
    /// Derivative slots, slot-major: slot `i` is `k[i*n..(i+1)*n]`.
    pub k: Vec<f64>,
    /// Dense-output weights, one per slot.
    pub w: Vec<f64>,
    /// The vector field's scratch buffer.
    pub scratch: Vec<f64>,
    /// Evaluations of the vector field so far.
    pub nfe: u64,
}

impl Workspace {
    pub fn new(n: usize, slots: usize, scratch_len: usize) -> Workspace {
        Workspace {
            n,
            y: vec![0.0; n],
            y_new: vec![0.0; n],
            ytmp: vec![0.0; n],
            k: vec![0.0; slots * n],
            w: vec![0.0; slots],
            scratch: vec![0.0; scratch_len],
            nfe: 0,
        }
    }

    /// Writes `f(t, y)` into slot 0 (the first stage of the next step).
    pub fn eval_first(&mut self, f: &dyn VectorField, t: f64) {
        let n = self.n;
        f.eval(t, &self.y, &mut self.k[..n], &mut self.scratch);
        self.nfe += 1;
    }

    /// After an accepted step: the candidate becomes the state and its
    /// derivative (slot `end`) the next step's first stage.
    pub fn accept(&mut self, end: usize) {
        std::mem::swap(&mut self.y, &mut self.y_new);
        let n = self.n;
        let (first, rest) = self.k.split_at_mut(n);
        first.copy_from_slice(&rest[(end - 1) * n..end * n]);
    }
}

/// Calls `g(m, Σ_j c[j] * k[j*n + m])` for `m in 0..n`, with `J` terms known
/// at compile time.
// Indexing by `m` is the point: all `J` slices have length `n`, so the
// checks vanish and the `j` loop unrolls.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn fold_fixed<const J: usize>(n: usize, c: &[f64], k: &[f64], mut g: impl FnMut(usize, f64)) {
    let c: [f64; J] = std::array::from_fn(|j| c[j]);
    let ks: [&[f64]; J] = std::array::from_fn(|j| &k[j * n..(j + 1) * n]);
    for m in 0..n {
        let mut acc = c[0] * ks[0][m];
        for j in 1..J {
            acc += c[j] * ks[j][m];
        }
        g(m, acc);
    }
}

/// [`fold_fixed`] for any number of terms (used beyond 8).
fn fold_any(n: usize, c: &[f64], k: &[f64], mut g: impl FnMut(usize, f64)) {
    for m in 0..n {
        let acc = c.iter().zip(k[m..].iter().step_by(n.max(1))).fold(0.0, |acc, (cj, kj)| acc + cj * kj);
        g(m, acc);
    }
}

/// `g(m, Σ_j c[j] k_j[m])` for every component `m < n`.
#[inline(always)]
fn fold(n: usize, c: &[f64], k: &[f64], g: impl FnMut(usize, f64)) {
    match c.len() {
        1 => fold_fixed::<1>(n, c, k, g),
        2 => fold_fixed::<2>(n, c, k, g),
        3 => fold_fixed::<3>(n, c, k, g),
        4 => fold_fixed::<4>(n, c, k, g),
        5 => fold_fixed::<5>(n, c, k, g),
        6 => fold_fixed::<6>(n, c, k, g),
        7 => fold_fixed::<7>(n, c, k, g),
        8 => fold_fixed::<8>(n, c, k, g),
        _ => fold_any(n, c, k, g),
    }
}

/// `out = base + h Σ_j c[j] k_j` (with no terms: `out = base`).
#[inline(always)]
pub(crate) fn lincomb(out: &mut [f64], base: &[f64], h: f64, c: &[f64], k: &[f64]) {
    let n = out.len();
    let base = &base[..n];
    if c.is_empty() {
        out.copy_from_slice(base);
        return;
    }
    fold(n, c, k, |m, acc| out[m] = base[m] + h * acc);
}

/// Attempts one step from `(t, ws.y)` to `t_end = t + h`, with slot 0
/// already holding `f(t, y)`. Fills the other slots, `ws.y_new`, and the
/// end slot with `f(t_end, y_new)`. Costs `SLOTS - 1` evaluations.
///
/// The stages are spelled out as calls of [`stage`] with a constant index,
/// so each one's coefficients are compile-time constants (and stages a
/// method does not have are compiled away).
#[inline(always)]
pub(crate) fn step<S: Scheme>(f: &dyn VectorField, t: f64, t_end: f64, ws: &mut Workspace) {
    let h = t_end - t;
    stage::<S, 1>(f, t, t_end, h, ws);
    stage::<S, 2>(f, t, t_end, h, ws);
    stage::<S, 3>(f, t, t_end, h, ws);
    stage::<S, 4>(f, t, t_end, h, ws);
    stage::<S, 5>(f, t, t_end, h, ws);
    stage::<S, 6>(f, t, t_end, h, ws);
    let tab = S::TABLEAU;
    if !tab.fsal {
        let n = ws.n;
        let stages = tab.c.len();
        let (done, rest) = ws.k.split_at_mut(stages * n);
        lincomb(&mut ws.y_new, &ws.y, h, tab.b, done);
        f.eval(t_end, &ws.y_new, &mut rest[..n], &mut ws.scratch);
    }
    ws.nfe += (S::SLOTS - 1) as u64;
}

/// Most stages a method may have (the number of [`stage`] calls in [`step`]).
#[cfg(test)]
const MAX_STAGES: usize = 7;

/// Stage `I` (if the method has it): `Y_I = y0 + h Σ_j a_Ij k_j`, then
/// `k_I = f(t + c_I h, Y_I)`. The last stage of an FSAL method is computed
/// directly into `y_new` and evaluated at `t_end`.
#[inline(always)]
fn stage<S: Scheme, const I: usize>(f: &dyn VectorField, t: f64, t_end: f64, h: f64, ws: &mut Workspace) {
    let tab = S::TABLEAU;
    let stages = tab.c.len();
    if I >= stages {
        return;
    }
    let n = ws.n;
    let (done, rest) = ws.k.split_at_mut(I * n);
    let (input, ti) =
        if tab.fsal && I == stages - 1 { (&mut ws.y_new, t_end) } else { (&mut ws.ytmp, t + tab.c[I] * h) };
    lincomb(input, &ws.y, h, tab.a[I], done);
    f.eval(ti, input, &mut rest[..n], &mut ws.scratch);
}

/// The scaled RMS error of the step just taken (diffrax's `_scale` and RMS
/// norm): `err = h Σ b_err_j k_j`, `sc = atol + rtol max(|y0|, |y1|)`.
///
/// Returns `+inf` when any error component, candidate component or end
/// derivative is NaN or infinite, so the step is rejected (diffrax maps NaN
/// errors to inf; we also catch an infinite candidate, which diffrax's scale
/// would hide). A component with zero error and zero scale (`atol = 0`)
/// contributes 0 instead of NaN.
#[inline(always)]
pub(crate) fn error_norm<S: Scheme>(h: f64, rtol: f64, atol: f64, ws: &Workspace) -> f64 {
    let Some(e) = S::TABLEAU.b_err else {
        return 0.0;
    };
    let n = ws.n;
    if n == 0 {
        return 0.0;
    }
    let y0 = &ws.y[..n];
    let y1 = &ws.y_new[..n];
    let end = &ws.k[S::END_SLOT * n..(S::END_SLOT + 1) * n];
    let mut sum = 0.0;
    let mut finite = true;
    fold(n, e, &ws.k, |m, acc| {
        let err = h * acc;
        let sc = atol + rtol * y0[m].abs().max(y1[m].abs());
        let r = if err == 0.0 { 0.0 } else { err / sc };
        sum += r * r;
        finite &= y1[m].is_finite() & end[m].is_finite();
    });
    let eest = (sum / n as f64).sqrt();
    if eest.is_finite() && finite {
        eest
    } else {
        f64::INFINITY
    }
}

/// The first of the two stages at equal abscissa `c = 1` that give the
/// stiffness estimate (ALGORITHMS.md §2.1): `Some(stages - 2)` for an FSAL
/// method whose last two stages both have `c = 1` (Dopri5, Tsit5; the last
/// stage's input is `y1`), else `None` (Bosh3, the fixed-step methods).
#[inline(always)]
pub(crate) fn stiffness_stage(tab: &Tableau) -> Option<usize> {
    let s = tab.c.len();
    (tab.fsal && s >= 3 && tab.c[s - 2] == 1.0 && tab.c[s - 1] == 1.0).then(|| s - 2)
}

/// `‖Δk‖ / ‖ΔY‖` in the RMS norm, from the sums of squares `num = Σ Δk²`
/// and `den = Σ ΔY²` (the `1/n` cancels); 0 when `den` is 0.
#[inline(always)]
pub(crate) fn stiffness_ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 {
        0.0
    } else {
        (num / den).sqrt()
    }
}

/// The stiffness estimate `S = ‖k_b − k_a‖ / ‖Y_b − Y_a‖` of the step just
/// taken, from the stages of [`stiffness_stage`] (after [`step`], `ws.ytmp`
/// still holds `Y_a` and `ws.y_new` is `Y_b`); 0 for methods without them.
/// One pass over the state, no evaluations.
#[inline(always)]
pub(crate) fn stiffness<S: Scheme>(ws: &Workspace) -> f64 {
    let Some(a) = stiffness_stage(S::TABLEAU) else {
        return 0.0;
    };
    let n = ws.n;
    let (ka, kb) = (&ws.k[a * n..(a + 1) * n], &ws.k[(a + 1) * n..(a + 2) * n]);
    let (ya, yb) = (&ws.ytmp[..n], &ws.y_new[..n]);
    let (mut num, mut den) = (0.0, 0.0);
    for m in 0..n {
        let dk = kb[m] - ka[m];
        let dy = yb[m] - ya[m];
        num += dk * dk;
        den += dy * dy;
    }
    stiffness_ratio(num, den)
}

/// Writes the dense output at time `t` of the step `[t0, t1]` just taken
/// into `out` (exactly `y0` at `t0` and `y1` at `t1`).
#[inline]
pub(crate) fn dense<S: Scheme>(t0: f64, t1: f64, t: f64, ws: &mut Workspace, out: &mut [f64]) {
    if t == t1 {
        out.copy_from_slice(&ws.y_new);
        return;
    }
    if t == t0 {
        out.copy_from_slice(&ws.y);
        return;
    }
    let h = t1 - t0;
    S::dense_weights((t - t0) / h, &mut ws.w);
    lincomb(out, &ws.y, h, &ws.w, &ws.k);
}

#[cfg(test)]
mod tests {
    use super::MAX_STAGES;
    use crate::solver::tableau::ALL;

    #[test]
    fn step_spells_out_enough_stages() {
        for t in ALL {
            assert!(t.stages() <= MAX_STAGES, "{} has {} stages; add stage calls to step()", t.name, t.stages());
        }
    }
}
