//! The vector-field trait the stiff solvers drive: a [`VectorField`] that
//! also gives its Jacobian `∂f/∂y` and its time derivative `∂f/∂t`.
//!
//! Owns [`JacField`], [`JacobianPattern`] and [`FnJacField`] (closures, for
//! tests and hand-written systems). Nothing here steps, factorises or
//! allocates in an evaluation.
//!
//! # Mapping onto compiled kernels
//!
//! A compiled model's `M.jac` and `M.dfdt` kernels (ARCHITECTURE.md, "Kernel
//! ABI") implement the two methods one to one: both read `y` (`n` values)
//! and the bound parameters; `M.jac` writes `n × n` row-major values with
//! entry `[i, j] = ∂f_i/∂y_j` — exactly the `jac` buffer of
//! [`JacField::jacobian`] — and `M.dfdt` writes `n` values — the `out`
//! buffer of [`JacField::time_derivative`]. Their `scratch_len`s give
//! [`JacField::jac_scratch_len`].

use crate::term::VectorField;

/// Which entries of the Jacobian can be non-zero (for sparse linear algebra
/// later; the dense solvers ignore it): `rows` has `n + 1` offsets into
/// `cols`, and row `i`'s structurally non-zero columns are
/// `cols[rows[i]..rows[i + 1]]`, sorted (compressed sparse row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JacobianPattern {
    pub rows: Vec<usize>,
    pub cols: Vec<usize>,
}

/// `dy/dt = f(t, y)` with its derivatives, for implicit and Rosenbrock
/// methods ([`crate::stiff`]).
///
/// Like [`VectorField::eval`], both methods must be pure and must not
/// allocate; they are called once per step (Rosenbrock) or whenever the
/// solver decides its Jacobian is stale (implicit methods).
pub trait JacField: VectorField {
    /// Length of the scratch buffer [`JacField::jacobian`] and
    /// [`JacField::time_derivative`] need (the larger of the two).
    fn jac_scratch_len(&self) -> usize {
        0
    }

    /// Writes `∂f/∂y` at `(t, y)` into `jac`: `n × n` values, row-major,
    /// entry `[i * n + j] = ∂f_i/∂y_j`; every entry is overwritten. `scratch`
    /// has at least [`JacField::jac_scratch_len`] elements.
    fn jacobian(&self, t: f64, y: &[f64], jac: &mut [f64], scratch: &mut [f64]);

    /// Writes `∂f/∂t` at `(t, y)` into `out` (`n` values). Rosenbrock
    /// methods need it; for an autonomous system it is zero.
    fn time_derivative(&self, t: f64, y: &[f64], out: &mut [f64], scratch: &mut [f64]);

    /// The structure of the Jacobian, when known (from the symbolic IR).
    /// `None` (the default) means dense.
    fn jacobian_pattern(&self) -> Option<JacobianPattern> {
        None
    }
}

/// A [`JacField`] from closures: `f(t, y, dy)`, `jac(t, y, jac)` (row-major
/// `n × n`, must overwrite every entry) and optionally `dfdt(t, y, out)`
/// (zero when not given: an autonomous system).
pub struct FnJacField<F, J, T> {
    dim: usize,
    f: F,
    jac: J,
    dfdt: T,
}

/// The `∂f/∂t` of an autonomous system.
pub type Autonomous = fn(f64, &[f64], &mut [f64]);

fn zero_dfdt(_t: f64, _y: &[f64], out: &mut [f64]) {
    out.fill(0.0);
}

impl<F, J> FnJacField<F, J, Autonomous>
where
    F: Fn(f64, &[f64], &mut [f64]) + Sync,
    J: Fn(f64, &[f64], &mut [f64]) + Sync,
{
    /// An autonomous system (`∂f/∂t = 0`).
    pub fn new(dim: usize, f: F, jac: J) -> Self {
        FnJacField { dim, f, jac, dfdt: zero_dfdt }
    }
}

impl<F, J, T> FnJacField<F, J, T>
where
    F: Fn(f64, &[f64], &mut [f64]) + Sync,
    J: Fn(f64, &[f64], &mut [f64]) + Sync,
    T: Fn(f64, &[f64], &mut [f64]) + Sync,
{
    /// A non-autonomous system with its `∂f/∂t`.
    pub fn with_time_derivative(dim: usize, f: F, jac: J, dfdt: T) -> Self {
        FnJacField { dim, f, jac, dfdt }
    }
}

impl<F, J, T> VectorField for FnJacField<F, J, T>
where
    F: Fn(f64, &[f64], &mut [f64]) + Sync,
    J: Fn(f64, &[f64], &mut [f64]) + Sync,
    T: Fn(f64, &[f64], &mut [f64]) + Sync,
{
    fn dim(&self) -> usize {
        self.dim
    }
    fn eval(&self, t: f64, y: &[f64], dy: &mut [f64], _scratch: &mut [f64]) {
        (self.f)(t, y, dy)
    }
}

impl<F, J, T> JacField for FnJacField<F, J, T>
where
    F: Fn(f64, &[f64], &mut [f64]) + Sync,
    J: Fn(f64, &[f64], &mut [f64]) + Sync,
    T: Fn(f64, &[f64], &mut [f64]) + Sync,
{
    fn jacobian(&self, t: f64, y: &[f64], jac: &mut [f64], _scratch: &mut [f64]) {
        (self.jac)(t, y, jac)
    }
    fn time_derivative(&self, t: f64, y: &[f64], out: &mut [f64], _scratch: &mut [f64]) {
        (self.dfdt)(t, y, out)
    }
}
