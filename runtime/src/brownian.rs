//! Reproducible Brownian motion: a Virtual Brownian Tree (Li, Wong, Chen,
//! Duvenaud 2020; ALGORITHMS.md §3.2) that SDE solvers query on arbitrary
//! intervals, forwards or backwards, with O(1) memory.
//!
//! Owns [`BrownianTree`] (a pure function of `(seed, s, u)`: `Copy`, `Sync`,
//! no interior mutability) and [`BrownianPath`] (a cursor over one tree that
//! caches the last root-to-leaf path, so a solver's sequential queries cost
//! O(1) amortised instead of O(depth); it returns the same bits as the
//! tree). Never allocates per query and never panics on times: a query
//! outside `[t0, t1]` is a [`SolveError::InvalidTimes`].
//!
//! # The tree
//! `[t0, t1]` is rescaled to `[0, 1]`. `W(1) ~ N(0, 1)` comes from the root;
//! node `[s, u]` (heap index `k`, root 1) splits at its midpoint `t` with the
//! Brownian bridge `W(t) = ½(W(s) + W(u)) + ½√(u − s) · Z(k)`. A query at `r`
//! descends `depth` levels (left iff `r <` the midpoint), then takes one
//! bridge sample inside the leaf:
//! `W(r) = W(s) + (r − s)/(u − s) · (W(u) − W(s)) + √((r − s)(u − r)/(u − s)) · Z'(leaf)`.
//! Everything is multiplied by `√(t1 − t0)`. Each normal variate `Z` is a
//! hash of `(seed, node, channel)` (SplitMix64 finaliser) turned into a
//! normal by Box–Muller, so a node's variates depend only on its place in
//! the tree, never on the order of queries. Increments are differences of
//! values, `W(u) − W(s)`, so `W(s,t) + W(t,u) = W(s,u)` to round-off.
//!
//! # Precision
//! `depth` is the smallest with `2^−depth (t1 − t0) ≤ tol` (at most 60).
//! Values at any set of query points that fall in distinct leaves (points
//! more than `tol` apart) have exactly the law of Brownian motion; two
//! points in one leaf share its bridge variate, so their joint law is exact
//! only to `tol`. The depth changes the bits of non-dyadic points: solves
//! that must see "the same path" at different step sizes use one tree.

use crate::error::SolveError;

/// Deepest level of the tree (heap indices stay below `2^61`).
pub const MAX_DEPTH: u32 = 60;

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
/// Tag of a node's midpoint variate.
const TAG_MID: u64 = 0;
/// Tag of a leaf's bridge variate.
const TAG_LEAF: u64 = 1;

/// SplitMix64's finaliser: a bijective avalanche mix of 64 bits.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The standard normal variate of `(seed, node, channel, tag)`: two hashed
/// uniforms through Box–Muller (`u1 ∈ (0, 1]`, so the log is finite).
#[inline]
fn normal(seed: u64, node: u64, channel: usize, tag: u64) -> f64 {
    let h =
        mix(mix(seed ^ node.wrapping_mul(GOLDEN)) ^ ((channel as u64) << 1 | tag).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let a = mix(h ^ 0x2545_F491_4F6C_DD1D);
    let b = mix(h.wrapping_add(GOLDEN));
    let u1 = ((a >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64);
    let u2 = (b >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `W` at the midpoint of node `[s, u]` (heap index `node`).
#[inline]
fn split(seed: u64, node: u64, c: usize, s: f64, u: f64, ws: f64, wu: f64) -> f64 {
    0.5 * (ws + wu) + 0.5 * (u - s).sqrt() * normal(seed, node, c, TAG_MID)
}

/// `W(r)` inside leaf `[s, u]` (heap index `node`) by one bridge sample.
#[allow(clippy::too_many_arguments)]
#[inline]
fn bridge(seed: u64, node: u64, c: usize, s: f64, u: f64, ws: f64, wu: f64, r: f64) -> f64 {
    if r <= s {
        ws
    } else if r >= u {
        wu
    } else {
        let w = u - s;
        ws + (r - s) / w * (wu - ws) + ((r - s) * (u - r) / w).sqrt() * normal(seed, node, c, TAG_LEAF)
    }
}

/// A seeded Virtual Brownian Tree with `m` independent channels over
/// `[t0, t1]` (see the module docs). A pure function of the query: copy it
/// freely, share it between threads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BrownianTree {
    seed: u64,
    t0: f64,
    t1: f64,
    m: usize,
    depth: u32,
    /// `√(t1 − t0)`.
    scale: f64,
}

impl BrownianTree {
    /// A tree over `[t0, t1]` (finite, `t0 < t1`) with `m ≥ 1` channels and
    /// leaves no wider than `tol > 0` (see the module docs on precision).
    pub fn new(seed: u64, t0: f64, t1: f64, m: usize, tol: f64) -> Result<BrownianTree, SolveError> {
        if !(t0.is_finite() && t1.is_finite() && t0 < t1) {
            return Err(SolveError::InvalidTimes {
                what: format!("a Brownian path needs finite times t0 < t1, got [{t0}, {t1}]"),
            });
        }
        if m == 0 {
            return Err(SolveError::InvalidOptions { what: "a Brownian path needs at least one channel".into() });
        }
        if !(tol.is_finite() && tol > 0.0) {
            return Err(SolveError::InvalidOptions {
                what: format!("the Brownian tolerance must be a positive finite number, got {tol}"),
            });
        }
        let (mut depth, mut w) = (0, t1 - t0);
        while w > tol && depth < MAX_DEPTH {
            w *= 0.5;
            depth += 1;
        }
        Ok(BrownianTree { seed, t0, t1, m, depth, scale: (t1 - t0).sqrt() })
    }

    /// An independent tree for batch member `member` (same interval,
    /// channels and depth; a seed derived by hashing).
    pub fn stream(&self, member: u64) -> BrownianTree {
        let seed = mix(mix(self.seed ^ 0x6A09_E667_F3BC_C908).wrapping_add(mix(member.wrapping_add(GOLDEN))));
        BrownianTree { seed, ..*self }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// Start of the interval.
    pub fn t0(&self) -> f64 {
        self.t0
    }
    /// End of the interval.
    pub fn t1(&self) -> f64 {
        self.t1
    }
    /// Number of channels `m`.
    pub fn channels(&self) -> usize {
        self.m
    }
    /// Levels descended before the final bridge sample.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// Checks that `t` lies in `[t0, t1]`.
    fn check(&self, t: f64) -> Result<(), SolveError> {
        if t >= self.t0 && t <= self.t1 {
            Ok(())
        } else {
            Err(SolveError::InvalidTimes {
                what: format!("Brownian query at t = {t} outside the path's interval [{}, {}]", self.t0, self.t1),
            })
        }
    }

    /// `t` rescaled to `[0, 1]`.
    #[inline]
    fn unit(&self, t: f64) -> f64 {
        ((t - self.t0) / (self.t1 - self.t0)).clamp(0.0, 1.0)
    }

    /// The unscaled `W(r)` of channel `c` by a full descent.
    fn value_unit(&self, r: f64, c: usize) -> f64 {
        let (mut s, mut u, mut ws, mut wu, mut node) = (0.0, 1.0, 0.0, normal(self.seed, 0, c, TAG_MID), 1u64);
        for _ in 0..self.depth {
            let mid = 0.5 * (s + u);
            let wm = split(self.seed, node, c, s, u, ws, wu);
            if r < mid {
                (u, wu, node) = (mid, wm, 2 * node);
            } else {
                (s, ws, node) = (mid, wm, 2 * node + 1);
            }
        }
        bridge(self.seed, node, c, s, u, ws, wu, r)
    }

    /// `out[c] = W_c(u) − W_c(s)` for every channel (`out` has
    /// [`BrownianTree::channels`] values), for any `s`, `u` in `[t0, t1]`
    /// (`s > u` gives the negated increment). Costs `2 · depth` normal
    /// variates per channel; [`BrownianPath`] gives the same bits faster for
    /// sequential queries.
    ///
    /// # Panics
    /// If `out.len()` is not the number of channels (a programming error,
    /// like slice indexing).
    pub fn increment(&self, s: f64, u: f64, out: &mut [f64]) -> Result<(), SolveError> {
        assert_eq!(out.len(), self.m, "Brownian increment buffer has the wrong length");
        self.check(s)?;
        self.check(u)?;
        let (rs, ru) = (self.unit(s), self.unit(u));
        for (c, o) in out.iter_mut().enumerate() {
            *o = self.scale * (self.value_unit(ru, c) - self.value_unit(rs, c));
        }
        Ok(())
    }

    /// A cursor for sequential queries on this tree (allocates its path
    /// buffers once).
    pub fn path(&self) -> BrownianPath {
        BrownianPath::new(*self)
    }

    /// The increments over the uniform grid `t_k = start + k·dt`,
    /// `k = 0..=n_steps`: `out[k·m + c] = W_c(t_{k+1}) − W_c(t_k)`, the same
    /// bits as [`BrownianTree::increment`] on each step.
    pub fn increments_on_grid(&self, start: f64, dt: f64, n_steps: usize, out: &mut [f64]) -> Result<(), SolveError> {
        assert_eq!(out.len(), n_steps * self.m, "Brownian grid buffer has the wrong length");
        let mut path = self.path();
        for (k, o) in out.chunks_exact_mut(self.m).enumerate() {
            path.increment(start + k as f64 * dt, start + (k + 1) as f64 * dt, o)?;
        }
        Ok(())
    }
}

/// A cursor over a [`BrownianTree`] that keeps the last root-to-leaf path
/// and the last queried value: queries at nearby times share the upper
/// levels, so a solver's sequential steps cost O(1) normal variates per
/// channel amortised. Gives exactly the bits of [`BrownianTree::increment`].
#[derive(Clone, Debug)]
pub struct BrownianPath {
    tree: BrownianTree,
    /// Per level `j` (0 = root): the node's interval, heap index, and its
    /// end values per channel (`ws[j·m + c]`, `wu[j·m + c]`).
    s: Vec<f64>,
    u: Vec<f64>,
    node: Vec<u64>,
    ws: Vec<f64>,
    wu: Vec<f64>,
    /// Levels of the path that are filled (the root always is).
    filled: usize,
    /// The last query (unit time; NaN for none) and its unscaled values.
    last_r: f64,
    last_v: Vec<f64>,
    tmp_v: Vec<f64>,
}

impl BrownianPath {
    fn new(tree: BrownianTree) -> BrownianPath {
        let (m, levels) = (tree.m, tree.depth as usize + 1);
        let mut p = BrownianPath {
            tree,
            s: vec![0.0; levels],
            u: vec![1.0; levels],
            node: vec![1; levels],
            ws: vec![0.0; levels * m],
            wu: vec![0.0; levels * m],
            filled: 1,
            last_r: f64::NAN,
            last_v: vec![0.0; m],
            tmp_v: vec![0.0; m],
        };
        for c in 0..m {
            p.wu[c] = normal(tree.seed, 0, c, TAG_MID);
        }
        p
    }

    /// Points the cursor at another tree with the same channels and depth
    /// (e.g. another [`BrownianTree::stream`]), reusing its buffers.
    pub(crate) fn reset(&mut self, tree: BrownianTree) {
        debug_assert!(tree.m == self.tree.m && tree.depth == self.tree.depth);
        self.tree = tree;
        self.filled = 1;
        self.last_r = f64::NAN;
        for c in 0..tree.m {
            self.wu[c] = normal(tree.seed, 0, c, TAG_MID);
        }
    }

    /// The tree this cursor reads.
    pub fn tree(&self) -> &BrownianTree {
        &self.tree
    }

    /// Unscaled `W(r)` for every channel into `out` (length `m`).
    fn value_unit(&mut self, r: f64, out: &mut [f64]) {
        let (m, seed, depth) = (self.tree.m, self.tree.seed, self.tree.depth as usize);
        // Keep the levels whose node `r` would also reach.
        let mut j = 0;
        while j + 1 < self.filled {
            let mid = 0.5 * (self.s[j] + self.u[j]);
            let child = if r < mid { 2 * self.node[j] } else { 2 * self.node[j] + 1 };
            if self.node[j + 1] != child {
                break;
            }
            j += 1;
        }
        // Descend from level j.
        while j < depth {
            let (s, u, node) = (self.s[j], self.u[j], self.node[j]);
            let mid = 0.5 * (s + u);
            let left = r < mid;
            for c in 0..m {
                let (ws, wu) = (self.ws[j * m + c], self.wu[j * m + c]);
                let wm = split(seed, node, c, s, u, ws, wu);
                let (a, b) = if left { (ws, wm) } else { (wm, wu) };
                self.ws[(j + 1) * m + c] = a;
                self.wu[(j + 1) * m + c] = b;
            }
            (self.s[j + 1], self.u[j + 1], self.node[j + 1]) =
                if left { (s, mid, 2 * node) } else { (mid, u, 2 * node + 1) };
            j += 1;
        }
        self.filled = depth + 1;
        let (s, u, node) = (self.s[depth], self.u[depth], self.node[depth]);
        for (c, o) in out.iter_mut().enumerate() {
            *o = bridge(seed, node, c, s, u, self.ws[depth * m + c], self.wu[depth * m + c], r);
        }
    }

    /// `out[c] = W_c(u) − W_c(s)`, as [`BrownianTree::increment`] (same
    /// bits, same errors).
    ///
    /// # Panics
    /// If `out.len()` is not the number of channels.
    pub fn increment(&mut self, s: f64, u: f64, out: &mut [f64]) -> Result<(), SolveError> {
        assert_eq!(out.len(), self.tree.m, "Brownian increment buffer has the wrong length");
        self.tree.check(s)?;
        self.tree.check(u)?;
        self.increment_unchecked(s, u, out);
        Ok(())
    }

    /// [`BrownianPath::increment`] for times the caller has checked to lie
    /// in `[t0, t1]` (they are clamped).
    pub(crate) fn increment_unchecked(&mut self, s: f64, u: f64, out: &mut [f64]) {
        let (rs, ru) = (self.tree.unit(s), self.tree.unit(u));
        let mut vs = std::mem::take(&mut self.tmp_v);
        if rs != self.last_r {
            self.value_unit(rs, &mut vs);
        } else {
            vs.copy_from_slice(&self.last_v);
        }
        let mut vu = std::mem::take(&mut self.last_v);
        self.value_unit(ru, &mut vu);
        for ((o, a), b) in out.iter_mut().zip(&vu).zip(&vs) {
            *o = self.tree.scale * (a - b);
        }
        self.last_r = ru;
        self.last_v = vu;
        self.tmp_v = vs;
    }
}
