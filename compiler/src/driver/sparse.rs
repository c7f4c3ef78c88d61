//! The sparse Jacobian path of a compiled ODE model for the stiff solvers:
//! the pattern from the symbolic IR, Curtis–Powell–Reid column colouring,
//! and the Jacobian's entries from one compiled JVP per colour.
//!
//! Owns [`compile_sparse`] (the model's `rhs`, `jvp` and `dfdt` kernels —
//! never the dense `jac`, whose IR alone grows as `n²` — with the pattern
//! from [`crate::autodiff::sparsity`] and its colouring), [`SparseKernels`],
//! [`SparseModelField`] (a [`JacField`] with the parameters bound),
//! [`JacobianChoice`] with the rule [`JacobianChoice::for_pattern`], and
//! [`SparseError`]. For a tridiagonal stencil a Jacobian costs 3 JVPs
//! whatever `n` is; for the 1-D Brusselator (two coupled stencils) 6.
//!
//! The rule: sparse linear algebra when the system has at least
//! [`SPARSE_MIN_STATES`] states and the pattern fills at most
//! [`SPARSE_MAX_DENSITY`] of the `n × n` matrix; below that the dense LU is
//! as fast and the pattern's bookkeeping does not pay. Never prints; never
//! solves (the runtime's `solve_stiff` does).

use std::fmt;

use nde_runtime::stiff::{Colouring, JacField, JacobianPattern};
use nde_runtime::term::VectorField;

use super::{call_kernel, prepare};
use crate::autodiff::{self, sparsity};
use crate::codegen::{CodegenError, CompiledKernel, JitModule, JitOptions};
use crate::ir::{self, ModelIr};

/// Fewest states for which [`JacobianChoice::for_pattern`] picks sparse.
pub const SPARSE_MIN_STATES: usize = 64;
/// Largest fill (`nnz / n²`) for which [`JacobianChoice::for_pattern`]
/// picks sparse.
pub const SPARSE_MAX_DENSITY: f64 = 0.1;
/// Most dependency-set entries the pattern analysis may hold at once
/// (`64 M` entries, 256 MiB): a denser system is solved dense.
pub const PATTERN_LIMIT: usize = 1 << 26;

/// Dense or sparse linear algebra in a stiff solve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JacobianChoice {
    Dense,
    Sparse,
}

impl JacobianChoice {
    /// The rule of the module docs for `n` states and this pattern.
    pub fn for_pattern(n: usize, pattern: &JacobianPattern) -> JacobianChoice {
        let density = pattern.nnz() as f64 / (n as f64 * n as f64).max(1.0);
        if n >= SPARSE_MIN_STATES && density <= SPARSE_MAX_DENSITY {
            JacobianChoice::Sparse
        } else {
            JacobianChoice::Dense
        }
    }
}

/// Why a model's sparse kernels could not be built.
#[derive(Clone, Debug, PartialEq)]
pub enum SparseError {
    /// Verification or code generation failed.
    Codegen(CodegenError),
    /// The model is a CDE or SDE (the stiff solvers take ODEs).
    NotAnOde { model: String },
    /// The pattern analysis would hold more than [`PATTERN_LIMIT`] entries.
    TooDense(sparsity::SparsityError),
}

impl fmt::Display for SparseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SparseError::Codegen(e) => write!(f, "{e}"),
            SparseError::NotAnOde { model } => {
                write!(f, "model `{model}` is not an ODE: only ODE models have a sparse stiff path")
            }
            SparseError::TooDense(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SparseError {}

impl From<CodegenError> for SparseError {
    fn from(e: CodegenError) -> SparseError {
        SparseError::Codegen(e)
    }
}

/// A model's kernels for sparse stiff solves, with its Jacobian's pattern
/// and the colouring that recovers it from JVPs.
pub struct SparseKernels {
    /// Keeps the machine code alive; the kernels below point into it.
    _jit: JitModule,
    /// `(t, y, p) -> f`.
    pub rhs: CompiledKernel,
    /// `(t, [y; v], p) -> ∂f/∂y · v`.
    pub jvp: CompiledKernel,
    /// `(t, y, p) -> ∂f/∂t`.
    pub dfdt: CompiledKernel,
    /// Where `∂f/∂y` can be non-zero.
    pub pattern: JacobianPattern,
    pub colouring: Colouring,
    /// Per colour `c`, its columns: `seed_cols[seed_off[c]..seed_off[c + 1]]`.
    seed_off: Vec<usize>,
    seed_cols: Vec<usize>,
    /// Per colour `c`, `(row, position in the pattern)` of the entries its
    /// JVP gives: `entries[entry_off[c]..entry_off[c + 1]]`.
    entry_off: Vec<usize>,
    entries: Vec<(usize, usize)>,
}

impl SparseKernels {
    /// Number of states.
    pub fn n(&self) -> usize {
        self.rhs.n_state
    }

    /// The rule's choice for this model.
    pub fn choice(&self) -> JacobianChoice {
        JacobianChoice::for_pattern(self.n(), &self.pattern)
    }
}

/// Analyses `model`'s Jacobian pattern and compiles its `rhs`, `jvp` and
/// `dfdt` kernels (simplified by [`prepare`], like [`super::compile_model`]).
pub fn compile_sparse(model: &ModelIr, opts: &JitOptions) -> Result<SparseKernels, SparseError> {
    if model.is_cde() || model.is_sde() {
        return Err(SparseError::NotAnOde { model: model.name.clone() });
    }
    let f = &model.rhs;
    ir::verify::verify(f).map_err(CodegenError::Verify)?;
    let pattern = sparsity::jacobian_sparsity(f, PATTERN_LIMIT).map_err(SparseError::TooDense)?;
    let n = f.n_state;
    let funcs = [prepare(f.clone()), prepare(autodiff::jvp(f)), prepare(autodiff::time_derivative(f))];
    let jit = JitModule::compile(&[&funcs[0], &funcs[1], &funcs[2]], opts)?;
    let kernel = |f: &ir::Function| jit.kernel(&f.name).cloned().ok_or_else(|| CodegenError::missing(&f.name));
    let [rhs, jvp, dfdt] = [kernel(&funcs[0])?, kernel(&funcs[1])?, kernel(&funcs[2])?];
    let colouring = pattern.colouring(n);
    let by_col = pattern.columns(n);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&j| colouring.colour[j]);
    let (mut seed_off, mut entry_off) = (vec![0usize; colouring.n_colours + 1], vec![0usize; colouring.n_colours + 1]);
    let (mut seed_cols, mut entries) = (Vec::with_capacity(n), Vec::with_capacity(pattern.nnz()));
    for &j in &order {
        let c = colouring.colour[j] as usize;
        seed_cols.push(j);
        entries.extend_from_slice(by_col.column(j));
        seed_off[c + 1] = seed_cols.len();
        entry_off[c + 1] = entries.len();
    }
    Ok(SparseKernels { _jit: jit, rhs, jvp, dfdt, pattern, colouring, seed_off, seed_cols, entry_off, entries })
}

/// [`SparseKernels`] with parameters bound: the [`JacField`] the stiff
/// solvers drive. With [`JacobianChoice::Sparse`] it gives its pattern, so
/// the solvers factorise sparsely; with [`JacobianChoice::Dense`] it gives
/// none and its dense Jacobian is scattered from the same JVPs.
pub struct SparseModelField<'a> {
    kernels: &'a SparseKernels,
    params: &'a [f64],
    choice: JacobianChoice,
}

impl<'a> SparseModelField<'a> {
    /// Binds `params` (length `n_param`), with the rule's choice.
    pub fn new(kernels: &'a SparseKernels, params: &'a [f64]) -> Self {
        Self::with_choice(kernels, params, kernels.choice())
    }

    /// Binds `params`, with dense or sparse linear algebra as asked.
    pub fn with_choice(kernels: &'a SparseKernels, params: &'a [f64], choice: JacobianChoice) -> Self {
        assert_eq!(params.len(), kernels.rhs.n_param, "parameter vector length");
        SparseModelField { kernels, params, choice }
    }

    /// The linear algebra this field asks for.
    pub fn choice(&self) -> JacobianChoice {
        self.choice
    }

    /// Scratch of one colour sweep: `[y; v]`, the JVP's output, its scratch.
    fn sweep_scratch_len(&self) -> usize {
        let n = self.kernels.n();
        3 * n + self.kernels.jvp.scratch_len
    }

    /// The pattern's values at `(t, y)`: one JVP per colour.
    fn sweep(&self, t: f64, y: &[f64], values: &mut [f64], scratch: &mut [f64]) {
        let k = self.kernels;
        let n = k.n();
        let (input, rest) = scratch.split_at_mut(2 * n);
        let (out, kernel_scratch) = rest.split_at_mut(n);
        input[..n].copy_from_slice(y);
        input[n..].fill(0.0);
        for c in 0..k.colouring.n_colours {
            let seeds = &k.seed_cols[k.seed_off[c]..k.seed_off[c + 1]];
            for &j in seeds {
                input[n + j] = 1.0;
            }
            call_kernel(&k.jvp, self.params, t, input, out, kernel_scratch);
            for &(row, at) in &k.entries[k.entry_off[c]..k.entry_off[c + 1]] {
                values[at] = out[row];
            }
            for &j in seeds {
                input[n + j] = 0.0;
            }
        }
    }
}

impl VectorField for SparseModelField<'_> {
    fn dim(&self) -> usize {
        self.kernels.n()
    }
    fn scratch_len(&self) -> usize {
        self.kernels.rhs.scratch_len
    }
    fn eval(&self, t: f64, y: &[f64], dy: &mut [f64], scratch: &mut [f64]) {
        call_kernel(&self.kernels.rhs, self.params, t, y, dy, scratch)
    }
}

impl JacField for SparseModelField<'_> {
    fn jac_scratch_len(&self) -> usize {
        (self.kernels.pattern.nnz() + self.sweep_scratch_len()).max(self.kernels.dfdt.scratch_len)
    }
    fn jacobian(&self, t: f64, y: &[f64], jac: &mut [f64], scratch: &mut [f64]) {
        let p = &self.kernels.pattern;
        let n = self.kernels.n();
        let (values, rest) = scratch.split_at_mut(p.nnz());
        self.sweep(t, y, values, rest);
        jac.fill(0.0);
        for i in 0..n {
            for k in p.rows[i]..p.rows[i + 1] {
                jac[i * n + p.cols[k]] = values[k];
            }
        }
    }
    fn time_derivative(&self, t: f64, y: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        call_kernel(&self.kernels.dfdt, self.params, t, y, out, scratch)
    }
    fn jacobian_pattern(&self) -> Option<JacobianPattern> {
        (self.choice == JacobianChoice::Sparse).then(|| self.kernels.pattern.clone())
    }
    fn jac_values_scratch_len(&self) -> usize {
        self.sweep_scratch_len()
    }
    fn jacobian_values(&self, t: f64, y: &[f64], _pattern: &JacobianPattern, values: &mut [f64], scratch: &mut [f64]) {
        // `_pattern` is this field's own (it gave it to the solver).
        self.sweep(t, y, values, scratch)
    }
}

#[cfg(test)]
#[path = "sparse/tests.rs"]
mod tests;
