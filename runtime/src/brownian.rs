//! Reproducible Brownian motion: a Virtual Brownian Tree (Li, Wong, Chen,
//! Duvenaud 2020; ALGORITHMS.md §3.2) that SDE solvers query on arbitrary
//! intervals, forwards or backwards, with O(1) memory.
//!
//! Owns [`BrownianTree`] (a pure function of `(seed, s, u)`: `Copy`, `Sync`,
//! no interior mutability), [`BrownianPath`] (a cursor over one tree, or
//! over several of its streams in lock-step, that caches the last
//! root-to-leaf path, so a solver's sequential queries cost O(1) amortised
//! instead of O(depth); it returns the same bits as the tree) and the
//! normal sampler [`standard_normal`]. Never allocates per query and never
//! panics on times: a query outside `[t0, t1]` is a
//! [`SolveError::InvalidTimes`].
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
//! normal by inverting the normal CDF ([`standard_normal`], pure IEEE
//! arithmetic: the same bits on every machine), so a node's variates depend
//! only on its place in the tree, never on the order of queries. Increments
//! are differences of values, `W(u) − W(s)`, so `W(s,t) + W(t,u) = W(s,u)`
//! to round-off.
//!
//! # Precision
//! `depth` is the smallest with `2^−depth (t1 − t0) ≤ tol` (at most 60).
//! Values at any set of query points that fall in distinct leaves (points
//! more than `tol` apart) have exactly the law of Brownian motion; two
//! points in one leaf share its bridge variate, so their joint law is exact
//! only to `tol`. The depth changes the bits of non-dyadic points: solves
//! that must see "the same path" at different step sizes use one tree.
//! Fixed-step solves need only leaves narrower than the step (each grid
//! point in its own leaf), which is what the SDE batch entry points choose
//! by default (`crate::sde::SdeOptions::resolved_brownian_tol`): a
//! sequential query then costs about two normal variates per channel
//! through a cursor.

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

/// The standard normal variate of `(seed, node, channel, tag)`: a hash of
/// the four through [`standard_normal`].
#[inline]
fn normal(seed: u64, node: u64, channel: usize, tag: u64) -> f64 {
    standard_normal(node_hash(seed, node, channel, tag))
}

/// The first hashing round of `(seed, node)`, shared by a node's channels.
/// The added constant keeps `(0, 0)` from hashing to 0 (`mix(0) = 0`), which
/// would make seed 0's root variate the sampler's most extreme value.
#[inline]
fn first_round(seed: u64, node: u64) -> u64 {
    mix((seed ^ node.wrapping_mul(GOLDEN)).wrapping_add(GOLDEN))
}

/// The 64 hashed bits behind the variate of `(seed, node, channel, tag)`.
#[inline]
fn node_hash(seed: u64, node: u64, channel: usize, tag: u64) -> u64 {
    mix(first_round(seed, node) ^ ((channel as u64) << 1 | tag).wrapping_mul(0xD1B5_4A32_D192_ED03))
}

/// A standard normal variate from 64 uniform bits, by inversion of the
/// normal CDF (Wichura's AS 241, `PPND16`, relative error about `1e-16`).
///
/// The top 52 bits pick one of `2^52` equal cells of `(0, 1)` and its
/// midpoint `p`; `q = p − ½` is exact, so the map is exactly odd
/// (`bits` and their complement give `z` and `−z`) and `|z| ≤ 8.3`. Pure
/// IEEE arithmetic (`+ − × ÷ √` and fdlibm's logarithm written out, no
/// platform libm), so the same bits on every machine; 85% of draws take
/// the central rational function alone.
#[inline]
pub fn standard_normal(bits: u64) -> f64 {
    let q = centred_uniform(bits);
    if q.abs() <= 0.425 {
        central(q)
    } else {
        tail(q)
    }
}

/// `q = p − ½` of [`standard_normal`]: the midpoint of the cell the top 52
/// bits pick, exact.
#[inline(always)]
fn centred_uniform(bits: u64) -> f64 {
    let k = (bits >> 12) as i64 - (1i64 << 51);
    (k as f64 + 0.5) * (1.0 / (1u64 << 52) as f64)
}

/// [`standard_normal`]'s central branch (`|q| ≤ 0.425`).
#[inline(always)]
fn central(q: f64) -> f64 {
    let r = 0.180625 - q * q;
    q * horner(r, &AS241_A) / horner(r, &AS241_B)
}

/// `out[l·m + c]` = the variate of `(seeds[l], node, c, tag)`, the bits of
/// [`normal`] (the hash's first round shared by a lane's channels).
#[inline]
fn fill_normals(seeds: &[u64], m: usize, node: u64, tag: u64, out: &mut [f64]) {
    for (row, &seed) in out.chunks_exact_mut(m).zip(seeds) {
        let h0 = first_round(seed, node);
        for (c, o) in row.iter_mut().enumerate() {
            *o = standard_normal(mix(h0 ^ ((c as u64) << 1 | tag).wrapping_mul(0xD1B5_4A32_D192_ED03)));
        }
    }
}

/// `c[0] x^7 + c[1] x^6 + … + c[7]` by Horner's rule (the highest power
/// first, as AS 241 evaluates it).
#[inline(always)]
fn horner(x: f64, c: &[f64; 8]) -> f64 {
    let mut v = c[0];
    for &ci in &c[1..] {
        v = v * x + ci;
    }
    v
}

// AS 241's coefficients, the highest power first.
#[allow(clippy::excessive_precision)]
const AS241_A: [f64; 8] = [
    2.5090809287301226727e+3,
    3.3430575583588128105e+4,
    6.7265770927008700853e+4,
    4.5921953931549871457e+4,
    1.3731693765509461125e+4,
    1.9715909503065514427e+3,
    1.3314166789178437745e+2,
    3.3871328727963666080e+0,
];
#[allow(clippy::excessive_precision)]
const AS241_B: [f64; 8] = [
    5.2264952788528545610e+3,
    2.8729085735721942674e+4,
    3.9307895800092710610e+4,
    2.1213794301586595867e+4,
    5.3941960214247511077e+3,
    6.8718700749205790830e+2,
    4.2313330701600911252e+1,
    1.0,
];
#[allow(clippy::excessive_precision)]
const AS241_C: [f64; 8] = [
    7.74545014278341407640e-4,
    2.27238449892691845833e-2,
    2.41780725177450611770e-1,
    1.27045825245236838258e+0,
    3.64784832476320460504e+0,
    5.76949722146069140550e+0,
    4.63033784615654529590e+0,
    1.42343711074968357734e+0,
];
#[allow(clippy::excessive_precision)]
const AS241_D: [f64; 8] = [
    1.05075007164441684324e-9,
    5.47593808499534494600e-4,
    1.51986665636164571966e-2,
    1.48103976427480074590e-1,
    6.89767334985100004550e-1,
    1.67638483018380384940e+0,
    2.05319162663775882187e+0,
    1.0,
];
#[allow(clippy::excessive_precision)]
const AS241_E: [f64; 8] = [
    2.01033439929228813265e-7,
    2.71155556874348757815e-5,
    1.24266094738807843860e-3,
    2.65321895265761230930e-2,
    2.96560571828504891230e-1,
    1.78482653991729133580e+0,
    5.46378491116411436990e+0,
    6.65790464350110377720e+0,
];
#[allow(clippy::excessive_precision)]
const AS241_F: [f64; 8] = [
    2.04426310338993978564e-15,
    1.42151175831644588870e-7,
    1.84631831751005468180e-5,
    7.86869131145613259100e-4,
    1.48753612908506148525e-2,
    1.36929880922735805310e-1,
    5.99832206555887937690e-1,
    1.0,
];

/// `standard_normal` for `|q| > 0.425` (`q = p − ½`).
#[cold]
fn tail(q: f64) -> f64 {
    // 0.5 − |q| is exact (Sterbenz) and at least 2^-53.
    let r = (-ln(0.5 - q.abs())).sqrt();
    let z = if r <= 5.0 {
        let r = r - 1.6;
        horner(r, &AS241_C) / horner(r, &AS241_D)
    } else {
        let r = r - 5.0;
        horner(r, &AS241_E) / horner(r, &AS241_F)
    };
    if q < 0.0 {
        -z
    } else {
        z
    }
}

/// The natural logarithm of a positive normal `x` in pure IEEE arithmetic
/// (fdlibm's `__ieee754_log`: reduction to `[√2/2, √2]` and a degree-14
/// polynomial; error below 1 ulp), so that it gives the same bits on every
/// machine. Only called with `x` in `[2^−53, 0.075]`.
#[allow(clippy::excessive_precision)]
fn ln(x: f64) -> f64 {
    const LN2_HI: f64 = 6.93147180369123816490e-01;
    const LN2_LO: f64 = 1.90821492927058770002e-10;
    const LG1: f64 = 6.666666666666735130e-01;
    const LG2: f64 = 3.999999999940941908e-01;
    const LG3: f64 = 2.857142874366239149e-01;
    const LG4: f64 = 2.222219843214978396e-01;
    const LG5: f64 = 1.818357216161805012e-01;
    const LG6: f64 = 1.531383769920937332e-01;
    const LG7: f64 = 1.479819860511658591e-01;
    debug_assert!(x.is_normal() && x > 0.0);
    let bits = x.to_bits();
    // Reduce x into [√2/2, √2]: x = 2^k (1 + f).
    let hx = ((bits >> 32) as u32).wrapping_add(0x3ff0_0000 - 0x3fe6_a09e);
    let k = (hx >> 20) as i32 - 0x3ff;
    let hx = (hx & 0x000f_ffff) + 0x3fe6_a09e;
    let x = f64::from_bits((hx as u64) << 32 | (bits & 0xffff_ffff));
    let f = x - 1.0;
    let hfsq = 0.5 * f * f;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG2 + w * (LG4 + w * LG6));
    let t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    let r = t2 + t1;
    let dk = k as f64;
    s * (hfsq + r) + dk * LN2_LO - hfsq + f + dk * LN2_HI
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
        BrownianPath::new(*self, vec![self.seed])
    }

    /// A cursor over the streams `members` of this tree
    /// ([`BrownianTree::stream`]) in lock-step: its increments are
    /// `[member][channel]`, lane `l` giving the bits of
    /// `self.stream(members.start + l)`. For batches whose members query
    /// the same times (fixed-step solves): the walk is shared.
    pub fn stream_paths(&self, members: std::ops::Range<u64>) -> BrownianPath {
        BrownianPath::new(*self, members.map(|b| self.stream(b).seed).collect())
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

/// A cursor over a [`BrownianTree`] — or over `L` of its streams in
/// lock-step ([`BrownianTree::stream_paths`]) — that keeps the last
/// root-to-leaf path and the last queried value: queries at nearby times
/// share the upper levels, so a solver's sequential steps cost O(1) normal
/// variates per channel amortised. Gives exactly the bits of
/// [`BrownianTree::increment`] on each stream. The streams of one tree
/// share its node layout, so the walk is done once for all of them.
#[derive(Clone, Debug)]
pub struct BrownianPath {
    /// The first stream's tree (the layout every stream shares).
    tree: BrownianTree,
    /// One seed per stream (lane).
    seeds: Vec<u64>,
    /// Per level `j` (0 = root): the node's interval, heap index, and its
    /// end values per lane and channel (`ws[(j·L + l)·m + c]`, same for `wu`).
    s: Vec<f64>,
    u: Vec<f64>,
    node: Vec<u64>,
    ws: Vec<f64>,
    wu: Vec<f64>,
    /// Levels of the path that are filled (the root always is).
    filled: usize,
    /// The last query (unit time; NaN for none) and its unscaled values
    /// (`L·m`).
    last_r: f64,
    last_v: Vec<f64>,
    tmp_v: Vec<f64>,
    /// One level's normal variates (`L·m`).
    z: Vec<f64>,
}

impl BrownianPath {
    fn new(tree: BrownianTree, seeds: Vec<u64>) -> BrownianPath {
        let mut p = BrownianPath {
            tree,
            seeds: Vec::new(),
            s: Vec::new(),
            u: Vec::new(),
            node: Vec::new(),
            ws: Vec::new(),
            wu: Vec::new(),
            filled: 1,
            last_r: f64::NAN,
            last_v: Vec::new(),
            tmp_v: Vec::new(),
            z: Vec::new(),
        };
        p.reset_seeds(tree, seeds.into_iter());
        p
    }

    /// Points the cursor at the trees of `seeds` (the layout of `tree`),
    /// resizing the buffers only when the number of lanes or the depth
    /// changes.
    fn reset_seeds(&mut self, tree: BrownianTree, seeds: impl Iterator<Item = u64>) {
        self.seeds.clear();
        self.seeds.extend(seeds);
        let (m, lanes, levels) = (tree.m, self.seeds.len(), tree.depth as usize + 1);
        self.tree = BrownianTree { seed: self.seeds.first().copied().unwrap_or(tree.seed), ..tree };
        self.s.resize(levels, 0.0);
        self.u.resize(levels, 1.0);
        self.node.resize(levels, 1);
        (self.s[0], self.u[0], self.node[0]) = (0.0, 1.0, 1);
        self.ws.resize(levels * lanes * m, 0.0);
        self.wu.resize(levels * lanes * m, 0.0);
        self.last_v.resize(lanes * m, 0.0);
        self.tmp_v.resize(lanes * m, 0.0);
        self.z.resize(lanes * m, 0.0);
        self.filled = 1;
        self.last_r = f64::NAN;
        for (l, &seed) in self.seeds.iter().enumerate() {
            for c in 0..m {
                self.ws[l * m + c] = 0.0;
                self.wu[l * m + c] = normal(seed, 0, c, TAG_MID);
            }
        }
    }

    /// Points the cursor at another tree with the same interval (e.g.
    /// another [`BrownianTree::stream`]), reusing its buffers; one lane.
    pub(crate) fn reset(&mut self, tree: BrownianTree) {
        self.reset_seeds(tree, std::iter::once(tree.seed));
    }

    /// Points the cursor at the streams `members` of `base` in lock-step
    /// (as [`BrownianTree::stream_paths`]), reusing its buffers.
    pub(crate) fn reset_streams(&mut self, base: &BrownianTree, members: std::ops::Range<u64>) {
        self.reset_seeds(*base, members.map(|b| base.stream(b).seed));
    }

    /// The tree this cursor reads (its first stream's, with several).
    pub fn tree(&self) -> &BrownianTree {
        &self.tree
    }

    /// Number of streams read in lock-step (1 for [`BrownianTree::path`]).
    pub fn lanes(&self) -> usize {
        self.seeds.len()
    }

    /// Unscaled `W(r)` for every lane and channel into `out` (`L·m`).
    fn value_unit(&mut self, r: f64, out: &mut [f64]) {
        let (m, depth) = (self.tree.m, self.tree.depth as usize);
        let w = self.seeds.len() * m;
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
            // `split`'s arithmetic, its factor hoisted (the same bits).
            let half_sd = 0.5 * (u - s).sqrt();
            let (cur, next) = (j * w, (j + 1) * w);
            fill_normals(&self.seeds, m, node, TAG_MID, &mut self.z);
            for (i, z) in self.z.iter().enumerate() {
                let (ws, wu) = (self.ws[cur + i], self.wu[cur + i]);
                let wm = 0.5 * (ws + wu) + half_sd * z;
                let (a, b) = if left { (ws, wm) } else { (wm, wu) };
                self.ws[next + i] = a;
                self.wu[next + i] = b;
            }
            (self.s[j + 1], self.u[j + 1], self.node[j + 1]) =
                if left { (s, mid, 2 * node) } else { (mid, u, 2 * node + 1) };
            j += 1;
        }
        self.filled = depth + 1;
        let (s, u, node) = (self.s[depth], self.u[depth], self.node[depth]);
        let (ws, wu) = (&self.ws[depth * w..(depth + 1) * w], &self.wu[depth * w..(depth + 1) * w]);
        if r <= s {
            out.copy_from_slice(ws);
        } else if r >= u {
            out.copy_from_slice(wu);
        } else {
            // `bridge`'s arithmetic, its factors hoisted (the same bits).
            let width = u - s;
            let (a, sd) = ((r - s) / width, ((r - s) * (u - r) / width).sqrt());
            fill_normals(&self.seeds, m, node, TAG_LEAF, &mut self.z);
            for (i, z) in self.z.iter().enumerate() {
                out[i] = ws[i] + a * (wu[i] - ws[i]) + sd * z;
            }
        }
    }

    /// `out[l·m + c] = W_c(u) − W_c(s)` on lane `l`, as
    /// [`BrownianTree::increment`] on that lane's tree (same bits, same
    /// errors).
    ///
    /// # Panics
    /// If `out.len()` is not lanes × channels.
    pub fn increment(&mut self, s: f64, u: f64, out: &mut [f64]) -> Result<(), SolveError> {
        assert_eq!(out.len(), self.seeds.len() * self.tree.m, "Brownian increment buffer has the wrong length");
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `Φ(x)` to about `1e-7` (Numerical Recipes' `erfcc`, a Chebyshev fit
    /// with fractional error below `1.2e-7`), independent of the sampler.
    fn phi(x: f64) -> f64 {
        let z = x.abs() / std::f64::consts::SQRT_2;
        let t = 1.0 / (1.0 + 0.5 * z);
        let poly = -z * z - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807
                                + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
        let erfc = t * poly.exp();
        if x >= 0.0 {
            1.0 - 0.5 * erfc
        } else {
            0.5 * erfc
        }
    }

    #[test]
    fn ln_is_within_one_ulp_of_the_platform() {
        let mut x = (-53f64).exp2();
        let mut worst = 0u64;
        while x <= 0.075 {
            let (a, b) = (ln(x).to_bits(), x.ln().to_bits());
            worst = worst.max(a.abs_diff(b));
            x *= 1.000_37;
        }
        assert!(worst <= 1, "ln differs from the platform's by {worst} ulp");
        assert_eq!(ln(0.5), -std::f64::consts::LN_2);
        assert_eq!(ln(0.25), -2.0 * std::f64::consts::LN_2);
    }

    /// The quantile function inverts `Φ` (to the reference's `1e-7`) over
    /// the whole range, both branches and both tails, and is exactly odd.
    #[test]
    fn standard_normal_inverts_the_normal_cdf() {
        let bits_of = |p: f64| (((p * (1u64 << 52) as f64) as u64).min((1 << 52) - 1)) << 12;
        for i in 1..2000 {
            let p = i as f64 / 2000.0;
            let z = standard_normal(bits_of(p));
            // The cell's midpoint, p rounded to a cell.
            let pm = ((bits_of(p) >> 12) as f64 + 0.5) / (1u64 << 52) as f64;
            assert!((phi(z) - pm).abs() < 2e-7 * pm.min(1.0 - pm).max(1e-3), "p {p}: z {z}, Φ(z) {}", phi(z));
            assert_eq!(standard_normal(!bits_of(p)), -z, "odd at p = {p}");
        }
        // Known quantiles.
        let z975 = standard_normal(bits_of(0.975));
        assert!((z975 - 1.959_963_984_540_054).abs() < 1e-9, "{z975}");
        // The extreme cells: finite, beyond 8, in the far-tail branch.
        let (lo, hi) = (standard_normal(0), standard_normal(u64::MAX));
        assert_eq!(lo, -hi);
        assert!(hi > 8.0 && hi < 8.5, "{hi}");
        // Tail branches agree with Φ in relative terms.
        for &z in &[-6.0, -4.0, -3.0, -2.0] {
            let p = phi(z);
            let got = standard_normal(bits_of(p));
            assert!((got - z).abs() < 1e-4, "{z}: {got}");
        }
    }

    /// Kolmogorov–Smirnov on 10^5 hashed variates (one per node, as the
    /// tree draws them): `D` below the 1% critical value `1.63 / √n`; and
    /// the moments within 4 standard errors.
    #[test]
    fn seed_zero_is_an_ordinary_seed() {
        // Regression: `mix(0) = 0` once made seed 0's root variate about −8.3.
        for seed in 0..64u64 {
            for node in 0..4u64 {
                for c in 0..3 {
                    let z = normal(seed, node, c, 0);
                    assert!(z.abs() < 6.0, "seed {seed} node {node} channel {c}: {z}");
                }
            }
        }
    }

    #[test]
    fn hashed_variates_are_standard_normal() {
        let n = 100_000;
        let mut z: Vec<f64> = (0..n).map(|k| normal(0x5eed, k as u64 + 1, (k % 3) as usize, TAG_MID)).collect();
        let nf = n as f64;
        let mean = z.iter().sum::<f64>() / nf;
        let var = z.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (nf - 1.0);
        let kurt = z.iter().map(|x| x.powi(4)).sum::<f64>() / nf;
        assert!(mean.abs() < 4.0 / nf.sqrt(), "mean {mean}");
        assert!((var - 1.0).abs() < 4.0 * (2.0 / nf).sqrt(), "variance {var}");
        assert!((kurt - 3.0).abs() < 4.0 * (96.0 / nf).sqrt(), "fourth moment {kurt}");
        z.sort_by(|a, b| a.total_cmp(b));
        let d = z
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let f = phi(x);
                (f - i as f64 / nf).abs().max(((i + 1) as f64 / nf - f).abs())
            })
            .fold(0.0, f64::max);
        assert!(d < 1.63 / nf.sqrt(), "KS distance {d} (1% critical {})", 1.63 / nf.sqrt());
        // A sampler off by 3% in scale fails the same test.
        let d_bad =
            z.iter().enumerate().map(|(i, &x)| (phi(1.03 * x) - (i as f64 + 0.5) / nf).abs()).fold(0.0, f64::max);
        assert!(d_bad > 1.63 / nf.sqrt(), "the KS check cannot see a 3% scale error ({d_bad})");
    }

    /// A lock-step cursor over streams gives each stream's bits.
    #[test]
    fn stream_paths_give_each_streams_bits() {
        let base = BrownianTree::new(99, 0.0, 2.0, 2, 0.01).unwrap();
        let mut lock = base.stream_paths(5..9);
        assert_eq!(lock.lanes(), 4);
        let mut out = [0.0; 8];
        let mut one = [0.0; 2];
        let times = [0.0, 0.013, 0.5, 0.51, 0.49, 2.0, 1.0];
        for w in times.windows(2) {
            lock.increment(w[0], w[1], &mut out).unwrap();
            for l in 0..4 {
                base.stream(5 + l as u64).increment(w[0], w[1], &mut one).unwrap();
                assert_eq!(&out[2 * l..2 * l + 2], &one, "lane {l} on {w:?}");
            }
        }
        // Reset to other streams, fewer lanes.
        lock.reset_streams(&base, 0..2);
        let mut out = [0.0; 4];
        lock.increment(0.3, 0.7, &mut out).unwrap();
        for l in 0..2 {
            base.stream(l as u64).increment(0.3, 0.7, &mut one).unwrap();
            assert_eq!(&out[2 * l..2 * l + 2], &one);
        }
    }
}
