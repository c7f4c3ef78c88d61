//! Cotangents of reverse mode: dense tensors, or sparse sums of one-hots.
//!
//! Owns [`Ct`]. A sparse cotangent `Σ c_k e_{i_k}` stays symbolic while it
//! flows through elementwise and structural ops, so a Jacobian row seeded
//! with `e_i` reads row `i` of a weight matrix instead of multiplying by a
//! one-hot constant, and the cotangent of a vector read element by element
//! (`u[0]`, `u[1]`, …) is assembled once instead of as a sum of padded
//! vectors.
//!
//! Never: densify a sparse cotangent where an op can keep it sparse.

use super::graph::{Coef, Graph};
use super::rules::Partial;
use crate::ir::{Shape, ValueId};

/// A cotangent in reverse mode.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Ct {
    Dense(ValueId),
    /// `Σ coef · e_index` in a tensor of `shape`; indices (row-major) are
    /// distinct and increasing, and there is at least one entry.
    Sparse {
        shape: Shape,
        entries: Vec<(usize, Coef)>,
    },
}

impl Ct {
    /// `coef · e_index` in a tensor of `shape`.
    pub fn one_hot(shape: Shape, index: usize, coef: Coef) -> Ct {
        Ct::Sparse { shape, entries: vec![(index, coef)] }
    }

    /// Number of elements of the tensor.
    pub fn len(&self, g: &Graph) -> usize {
        match self {
            Ct::Dense(v) => g.shape(*v).len(),
            Ct::Sparse { shape, .. } => shape.len(),
        }
    }

    /// The cotangent as a tensor.
    pub fn dense(&self, g: &mut Graph) -> ValueId {
        match self {
            Ct::Dense(v) => *v,
            Ct::Sparse { shape, entries } => {
                if entries.iter().all(|(_, c)| matches!(c, Coef::Const(_))) {
                    let mut v = vec![0.0; shape.len()];
                    for &(i, c) in entries {
                        if let Coef::Const(k) = c {
                            v[i] = k;
                        }
                    }
                    return g.b.constant(v, *shape);
                }
                if shape.is_scalar() {
                    return g.coef_value(entries[0].1);
                }
                let mut parts = Vec::with_capacity(2 * entries.len() + 1);
                let mut at = 0;
                for &(i, c) in entries {
                    if i > at {
                        parts.push(g.zeros(Shape::vector(i - at)));
                    }
                    let v = g.coef_value(c);
                    parts.push(g.b.reshape(v, Shape::vector(1)));
                    at = i + 1;
                }
                if shape.len() > at {
                    parts.push(g.zeros(Shape::vector(shape.len() - at)));
                }
                let flat = g.b.concat(parts, 0);
                g.b.reshape(flat, *shape)
            }
        }
    }

    /// The sum of two cotangents of the same tensor.
    pub fn add(self, other: Ct, g: &mut Graph) -> Ct {
        match (self, other) {
            (Ct::Sparse { shape, entries: a }, Ct::Sparse { entries: b, .. }) => {
                let mut entries = Vec::with_capacity(a.len() + b.len());
                let (mut i, mut j) = (0, 0);
                while i < a.len() || j < b.len() {
                    if j == b.len() || (i < a.len() && a[i].0 < b[j].0) {
                        entries.push(a[i]);
                        i += 1;
                    } else if i == a.len() || b[j].0 < a[i].0 {
                        entries.push(b[j]);
                        j += 1;
                    } else {
                        entries.push((a[i].0, g.coef_add(a[i].1, b[j].1)));
                        i += 1;
                        j += 1;
                    }
                }
                Ct::Sparse { shape, entries }
            }
            (x, y) => {
                let (a, b) = (x.dense(g), y.dense(g));
                Ct::Dense(g.add(a, b))
            }
        }
    }

    /// `p · self` for an elementwise partial `p` (sparse stays sparse).
    pub fn scaled(self, p: Partial, g: &mut Graph) -> Option<Ct> {
        match self {
            Ct::Dense(v) => super::rules::apply(g, p, v).map(Ct::Dense),
            Ct::Sparse { shape, entries } => {
                let entries = entries
                    .into_iter()
                    .map(|(i, c)| {
                        let c = match p {
                            Partial::Zero => return None,
                            Partial::One => c,
                            Partial::MinusOne => g.coef_neg(c),
                            Partial::Factor(f) => {
                                let e = g.element(f, i);
                                g.coef_mul(c, Coef::Val(e))
                            }
                            Partial::Recip(d) => {
                                let e = g.element(d, i);
                                g.coef_div(c, e)
                            }
                        };
                        Some((i, c))
                    })
                    .collect::<Option<Vec<_>>>()?;
                Some(Ct::Sparse { shape, entries })
            }
        }
    }

    /// A sparse cotangent moved to a tensor of shape `to`: entry `i` goes to
    /// `at(i)` (`None`: dropped; an injective map).
    pub fn moved(entries: &[(usize, Coef)], to: Shape, at: impl Fn(usize) -> Option<usize>) -> Option<Ct> {
        let mut moved: Vec<(usize, Coef)> = entries.iter().filter_map(|&(i, c)| at(i).map(|j| (j, c))).collect();
        if moved.is_empty() {
            return None;
        }
        moved.sort_by_key(|e| e.0);
        Some(Ct::Sparse { shape: to, entries: moved })
    }

    /// The sum of the entries (the cotangent of a broadcast scalar).
    pub fn total(entries: &[(usize, Coef)], g: &mut Graph) -> Coef {
        let mut acc = entries[0].1;
        for &(_, c) in &entries[1..] {
            acc = g.coef_add(acc, c);
        }
        acc
    }
}
