//! The vector-field traits the solvers drive. Compiled kernels, hand-written
//! Rust systems in tests, and shared-library callers all implement them:
//! [`VectorField`] for solves, [`DiffField`] (with vector–Jacobian
//! products) for gradients through solves. Nothing here allocates or
//! steps.

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

/// A vector field with trainable parameters that can also pull a cotangent
/// back through itself: what gradients through solves ([`crate::adjoint`])
/// drive. Compiled VJP kernels and hand-written Rust systems implement it.
///
/// The parameters are bound inside the implementation (as for
/// [`VectorField`]); [`DiffField::n_params`] says how many there are, and
/// gradients with respect to them come back in that flat order.
pub trait DiffField: VectorField {
    /// Number of parameters `p` (the length of `gp` in [`DiffField::vjp`]).
    fn n_params(&self) -> usize;

    /// Length of the scratch buffer [`DiffField::vjp`] needs.
    fn vjp_scratch_len(&self) -> usize {
        0
    }

    /// Vector–Jacobian products at `(t, y)`: `gy = aᵀ ∂f/∂y` (length
    /// [`VectorField::dim`]) and `gp = aᵀ ∂f/∂p` (length
    /// [`DiffField::n_params`]); both are overwritten. `scratch` has at least
    /// [`DiffField::vjp_scratch_len`] elements. Must be pure and must not
    /// allocate.
    fn vjp(&self, t: f64, y: &[f64], a: &[f64], gy: &mut [f64], gp: &mut [f64], scratch: &mut [f64]);

    /// `dy = f(t, y)` and the products of [`DiffField::vjp`] in one call,
    /// for the backsolve adjoint, which needs both at every point. `scratch`
    /// has at least `max(scratch_len, vjp_scratch_len)` elements. The
    /// default makes the two calls; a fused kernel can share their work.
    #[allow(clippy::too_many_arguments)]
    fn eval_vjp(
        &self,
        t: f64,
        y: &[f64],
        a: &[f64],
        dy: &mut [f64],
        gy: &mut [f64],
        gp: &mut [f64],
        scratch: &mut [f64],
    ) {
        self.eval(t, y, dy, scratch);
        self.vjp(t, y, a, gy, gp, scratch);
    }
}

/// A differentiable field from two closures, for tests and small
/// hand-written systems: `f(t, y, dy)` and `vjp(t, y, a, gy, gp)` (which
/// must overwrite `gy` and `gp`).
pub struct FnDiffField<F, V> {
    dim: usize,
    n_params: usize,
    f: F,
    vjp: V,
}

impl<F, V> FnDiffField<F, V>
where
    F: Fn(f64, &[f64], &mut [f64]) + Sync,
    V: Fn(f64, &[f64], &[f64], &mut [f64], &mut [f64]) + Sync,
{
    pub fn new(dim: usize, n_params: usize, f: F, vjp: V) -> Self {
        FnDiffField { dim, n_params, f, vjp }
    }
}

impl<F, V> VectorField for FnDiffField<F, V>
where
    F: Fn(f64, &[f64], &mut [f64]) + Sync,
    V: Fn(f64, &[f64], &[f64], &mut [f64], &mut [f64]) + Sync,
{
    fn dim(&self) -> usize {
        self.dim
    }
    fn eval(&self, t: f64, y: &[f64], dy: &mut [f64], _scratch: &mut [f64]) {
        (self.f)(t, y, dy)
    }
}

impl<F, V> DiffField for FnDiffField<F, V>
where
    F: Fn(f64, &[f64], &mut [f64]) + Sync,
    V: Fn(f64, &[f64], &[f64], &mut [f64], &mut [f64]) + Sync,
{
    fn n_params(&self) -> usize {
        self.n_params
    }
    fn vjp(&self, t: f64, y: &[f64], a: &[f64], gy: &mut [f64], gp: &mut [f64], _scratch: &mut [f64]) {
        (self.vjp)(t, y, a, gy, gp)
    }
}
