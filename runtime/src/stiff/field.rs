//! The vector-field trait the stiff solvers drive: a [`VectorField`] that
//! also gives its Jacobian `∂f/∂y` and its time derivative `∂f/∂t`.
//!
//! Owns [`JacField`] and [`FnJacField`] (closures, for tests and
//! hand-written systems; the pattern type is in `pattern`). Nothing here
//! steps, factorises or allocates in an evaluation.
//!
//! # Dense or sparse
//!
//! A field whose [`JacField::jacobian_pattern`] is `Some` is solved with
//! sparse linear algebra: the solvers then ask for
//! [`JacField::jacobian_values`] (the pattern's entries only) and never for
//! the dense [`JacField::jacobian`]. Whether a pattern pays is the field's
//! decision (the compiler's adapter gives one only for large, sparse
//! systems).
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

use super::pattern::JacobianPattern;
use crate::term::VectorField;

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
    /// `None` (the default) means dense. Asked once per solve; `Some` makes
    /// the solvers keep the Jacobian in this pattern and factorise it with a
    /// sparse LU.
    fn jacobian_pattern(&self) -> Option<JacobianPattern> {
        None
    }

    /// Length of the scratch buffer [`JacField::jacobian_values`] needs.
    /// The default implementation goes through the dense Jacobian: `n × n`
    /// values plus [`JacField::jac_scratch_len`]. Fields that override
    /// `jacobian_values` override this too.
    fn jac_values_scratch_len(&self) -> usize {
        self.dim() * self.dim() + self.jac_scratch_len()
    }

    /// Writes the entries of `∂f/∂y` at `(t, y)` that `pattern` (this
    /// field's [`JacField::jacobian_pattern`]) names into `values`
    /// (`pattern.nnz()` values, in the pattern's order: row by row, by
    /// increasing column). `scratch` has at least
    /// [`JacField::jac_values_scratch_len`] elements.
    ///
    /// The default evaluates the dense Jacobian into `scratch` and gathers
    /// the pattern's entries: correct for any field, economical only for
    /// small ones.
    fn jacobian_values(&self, t: f64, y: &[f64], pattern: &JacobianPattern, values: &mut [f64], scratch: &mut [f64]) {
        let n = self.dim();
        let (dense, rest) = scratch.split_at_mut(n * n);
        self.jacobian(t, y, dense, rest);
        for i in 0..n {
            for k in pattern.rows[i]..pattern.rows[i + 1] {
                values[k] = dense[i * n + pattern.cols[k]];
            }
        }
    }
}

/// A [`JacField`] from closures: `f(t, y, dy)`, `jac(t, y, jac)` (row-major
/// `n × n`, must overwrite every entry) and optionally `dfdt(t, y, out)`
/// (zero when not given: an autonomous system), with an optional sparsity
/// pattern ([`FnJacField::with_pattern`]; its values are gathered from
/// `jac`).
pub struct FnJacField<F, J, T> {
    dim: usize,
    f: F,
    jac: J,
    dfdt: T,
    pattern: Option<JacobianPattern>,
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
        FnJacField { dim, f, jac, dfdt: zero_dfdt, pattern: None }
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
        FnJacField { dim, f, jac, dfdt, pattern: None }
    }

    /// The same field, solved with sparse linear algebra in `pattern`
    /// (which must contain every non-zero of `jac`).
    pub fn with_pattern(mut self, pattern: JacobianPattern) -> Self {
        self.pattern = Some(pattern);
        self
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
    fn jacobian_pattern(&self) -> Option<JacobianPattern> {
        self.pattern.clone()
    }
}
