//! The vector-field trait the solvers drive. Compiled kernels, hand-written
//! Rust systems in tests, and shared-library callers all implement it.

/// `dy/dt = f(t, y)`, with any parameters already bound.
///
/// Implementations must be pure (same inputs, same outputs) and must not
/// allocate in [`VectorField::eval`]: solvers call it in their inner loop.
pub trait VectorField: Sync {
    /// Length of the state vector.
    fn dim(&self) -> usize;

    /// Length of the scratch buffer [`VectorField::eval`] needs.
    fn scratch_len(&self) -> usize {
        0
    }

    /// Writes `f(t, y)` into `dy`. `y` and `dy` have [`VectorField::dim`]
    /// elements; `scratch` has at least [`VectorField::scratch_len`].
    fn eval(&self, t: f64, y: &[f64], dy: &mut [f64], scratch: &mut [f64]);
}

/// A vector field from a closure, for tests and small hand-written systems.
pub struct FnField<F> {
    dim: usize,
    f: F,
}

impl<F: Fn(f64, &[f64], &mut [f64]) + Sync> FnField<F> {
    pub fn new(dim: usize, f: F) -> Self {
        FnField { dim, f }
    }
}

impl<F: Fn(f64, &[f64], &mut [f64]) + Sync> VectorField for FnField<F> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn eval(&self, t: f64, y: &[f64], dy: &mut [f64], _scratch: &mut [f64]) {
        (self.f)(t, y, dy)
    }
}
