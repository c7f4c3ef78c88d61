//! The step points of a fixed-step SDE solve, walked forwards or backwards
//! with O(1) memory (the reversible adjoint regenerates them).
//!
//! The points are the save times and the grid points `g_k = t0 + k·dt`
//! (`k ≥ 1`) below the last save time, except grid points within
//! `δ = 1e-9·dt + 4ε|s|` of a save time `s` (so a save time one rounding
//! away from a grid point does not create a sliver step). Steps run between
//! consecutive points: a save time between grid points shortens the step
//! that reaches it, and the next step continues to the next grid point.

use std::ops::Range;

/// The step points of `[t0, last save time]` at step `dt`.
#[derive(Clone, Copy)]
pub(crate) struct Grid<'a> {
    pub t0: f64,
    pub dt: f64,
    pub saveat: &'a [f64],
}

/// A forward walk: the next grid index and the next save index.
pub(crate) struct Forward {
    k: u64,
    i: usize,
}

/// A backward walk: the next (lower) grid index candidate, and the number
/// of saves strictly before the current time; `done` at `t0`.
pub(crate) struct Backward {
    k: u64,
    i: usize,
    done: bool,
}

impl Grid<'_> {
    #[inline]
    fn g(&self, k: u64) -> f64 {
        self.t0 + k as f64 * self.dt
    }

    #[inline]
    fn near(&self, g: f64, s: f64) -> bool {
        (g - s).abs() <= 1e-9 * self.dt + 4.0 * f64::EPSILON * s.abs()
    }

    /// The end time (the last save time).
    pub fn t_end(&self) -> f64 {
        self.saveat[self.saveat.len() - 1]
    }

    /// Starts a forward walk; returns the save indices at `t0`.
    pub fn forward(&self) -> (Forward, Range<usize>) {
        let j = self.saveat.iter().take_while(|&&s| s <= self.t0).count();
        (Forward { k: 1, i: j }, 0..j)
    }

    /// The next point after the current one and the save indices there;
    /// `None` once the last save time is reached.
    pub fn next(&self, w: &mut Forward) -> Option<(f64, Range<usize>)> {
        let s = *self.saveat.get(w.i)?;
        loop {
            let g = self.g(w.k);
            let near = self.near(g, s) || (w.i > 0 && self.near(g, self.saveat[w.i - 1]));
            if near {
                w.k += 1;
                continue;
            }
            if g < s {
                w.k += 1;
                return Some((g, w.i..w.i));
            }
            let start = w.i;
            while w.i < self.saveat.len() && self.saveat[w.i] == s {
                w.i += 1;
            }
            return Some((s, start..w.i));
        }
    }

    /// Starts a backward walk at the last save time; returns the save
    /// indices there.
    pub fn backward(&self) -> (Backward, Range<usize>) {
        let (t_end, len) = (self.t_end(), self.saveat.len());
        let j = self.saveat.iter().take_while(|&&s| s < t_end).count();
        let mut k = ((t_end - self.t0) / self.dt).ceil().max(0.0) as u64 + 1;
        while k >= 1 && self.g(k) >= t_end {
            k -= 1;
        }
        (Backward { k, i: j, done: t_end <= self.t0 }, j..len)
    }

    /// The point before the current one and the save indices there;
    /// `None` once `t0` is reached.
    pub fn prev(&self, w: &mut Backward) -> Option<(f64, Range<usize>)> {
        if w.done {
            return None;
        }
        loop {
            let lower = if w.i > 0 { self.saveat[w.i - 1] } else { self.t0 };
            if w.k >= 1 {
                let g = self.g(w.k);
                let near =
                    (w.i > 0 && self.near(g, lower)) || (w.i < self.saveat.len() && self.near(g, self.saveat[w.i]));
                if near {
                    w.k -= 1;
                    continue;
                }
                if g > lower {
                    w.k -= 1;
                    return Some((g, w.i..w.i));
                }
            }
            let end = w.i;
            while w.i > 0 && self.saveat[w.i - 1] == lower {
                w.i -= 1;
            }
            if lower <= self.t0 {
                w.done = true;
            }
            return Some((lower, w.i..end));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Step points with the save indices at each.
    type Points = Vec<(f64, Range<usize>)>;

    /// Forward points with their save ranges, and the same read backwards.
    fn both(g: Grid<'_>) -> (Points, Points) {
        let (mut w, start) = g.forward();
        let mut fwd = vec![(g.t0, start)];
        while let Some(p) = g.next(&mut w) {
            fwd.push(p);
        }
        let (mut w, end) = g.backward();
        let mut bwd = vec![(g.t_end(), end)];
        while let Some(p) = g.prev(&mut w) {
            bwd.push(p);
        }
        bwd.reverse();
        (fwd, bwd)
    }

    #[test]
    fn backward_walk_retraces_the_forward_points() {
        let cases: &[(f64, f64, &[f64])] = &[
            (0.0, 0.1, &[1.0]),
            (0.0, 0.1, &[0.0, 0.05, 0.3, 0.3, 1.0]),
            (0.0, 0.02, &[0.3, 0.55, 1.0]),
            (-1.0, 0.3, &[-1.0, -1.0, 0.2, 0.2000000000001, 2.0]),
            (0.5, 0.25, &[0.5]),
            (0.0, 7.0, &[0.1, 0.2]),
        ];
        for &(t0, dt, saveat) in cases {
            let (fwd, bwd) = both(Grid { t0, dt, saveat });
            assert_eq!(fwd, bwd, "t0 {t0} dt {dt} saves {saveat:?}");
            // Strictly increasing points, every save once.
            assert!(fwd.windows(2).all(|w| w[0].0 < w[1].0), "{fwd:?}");
            let saves: Vec<usize> = fwd.iter().flat_map(|(_, r)| r.clone()).collect();
            assert_eq!(saves, (0..saveat.len()).collect::<Vec<_>>());
        }
        // 0.3 = 3 · 0.1 up to rounding: one point, no sliver step.
        let (fwd, _) = both(Grid { t0: 0.0, dt: 0.1, saveat: &[0.3, 1.0] });
        assert_eq!(fwd.len(), 11);
    }
}
