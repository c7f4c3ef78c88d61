//! Stage orchestration: file -> sources -> IR -> JIT kernels -> solves.
//!
//! Used by the `nde` binary and by Rust callers. Owns the glue between the
//! compiler's stages and the runtime: compiling a model's right-hand side
//! with its derivative kernels ([`compile_model`]), binding parameters to a
//! compiled kernel ([`ModelField`]), choosing an ODE solver and solving with
//! it ([`OdeSolver`], [`solve_ode`], in [`stiff`]), computing initial states, matching
//! parameter files to parameter slots, and per-stage timings. It renders nothing and
//! prints nothing: errors are returned as data.

pub mod build;
pub mod cde;
pub mod choice;
pub mod frontend;
pub mod gpu;
pub mod params;
pub mod sde;
pub mod sparse;
pub mod stiff;
pub mod train;

use std::path::Path;
use std::time::{Duration, Instant};

use nde_runtime::kernel::{KernelField, OdeKernels};
use nde_runtime::term::{DiffField, VectorField};

use crate::autodiff;
use crate::codegen::{CodegenError, CompiledKernel, JitModule, JitOptions};
use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::{self, ModelIr, ProgramIr};
use crate::span::{FileId, SourceMap, Span};

pub use frontend::{compile_to_ir, FileLoader, FrontendOptions, FsLoader};
pub use params::{apply_param_arrays, ParamError, ParamReport};
pub use stiff::{solve_ode, solve_ode_batch, solver_from_spec, OdeSolver, Solved, SolverChoiceError};

/// Wall-clock time spent in each stage, for `--timings`.
#[derive(Clone, Debug, Default)]
pub struct Timings {
    pub frontend: Duration,
    pub codegen: Duration,
}

/// The sources and IR of one checked file.
pub struct Checked {
    pub sources: SourceMap,
    pub root: FileId,
    pub program: ProgramIr,
}

/// Why checking a file failed: its diagnostics (with the sources needed to render them).
pub struct CheckFailure {
    pub sources: SourceMap,
    pub diagnostics: Diagnostics,
}

/// Reads, parses, checks and lowers a `.nde` file (and its imports).
pub fn check_file(path: &Path, opts: &FrontendOptions) -> Result<Checked, CheckFailure> {
    let mut sources = SourceMap::new();
    let name = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            let file = sources.add(name.clone(), String::new());
            let d = Diagnostic::error("E0601", format!("cannot read `{name}`: {e}"), Span::new(file, 0, 0))
                .hint("check the path; it is relative to the current directory");
            return Err(CheckFailure { sources, diagnostics: Diagnostics(vec![d]) });
        }
    };
    let root = sources.add(name, text);
    check_source(sources, root, &FsLoader, opts)
}

/// Checks source text already added to `sources` (the REPL, tests, fuzzing).
pub fn check_source(
    mut sources: SourceMap,
    root: FileId,
    loader: &dyn FileLoader,
    opts: &FrontendOptions,
) -> Result<Checked, CheckFailure> {
    match compile_to_ir(&mut sources, root, loader, opts) {
        Ok(program) => Ok(Checked { sources, root, program }),
        Err(diagnostics) => Err(CheckFailure { sources, diagnostics }),
    }
}

/// A model's compiled kernels: the right-hand side and its derivatives
/// (the calling conventions are in [`crate::autodiff`] and ARCHITECTURE.md).
pub struct ModelKernels {
    /// Keeps the machine code alive; the kernels below point into it.
    _jit: JitModule,
    /// `(t, y, p) -> f`.
    pub rhs: CompiledKernel,
    /// `(t, [y; a], p) -> [aᵀ∂f/∂y; aᵀ∂f/∂p]`.
    pub vjp: CompiledKernel,
    /// `(t, [y; v], p) -> ∂f/∂y · v`.
    pub jvp: CompiledKernel,
    /// `(t, y, p) -> ∂f/∂y`, `n × n` row-major.
    pub jac: CompiledKernel,
    /// `(t, y, p) -> ∂f/∂t`.
    pub dfdt: CompiledKernel,
}

/// The IR of a model's kernels: the verified right-hand side and its
/// derivatives, each made ready for code generation by [`prepare`].
pub struct KernelFunctions {
    pub rhs: ir::Function,
    pub vjp: ir::Function,
    pub jvp: ir::Function,
    pub jac: ir::Function,
    pub dfdt: ir::Function,
}

impl KernelFunctions {
    /// Builds them for `model` (a malformed right-hand side is a [`CodegenError::Verify`]).
    pub fn of(model: &ModelIr) -> Result<KernelFunctions, CodegenError> {
        ir::verify::verify(&model.rhs).map_err(CodegenError::Verify)?;
        let f = &model.rhs;
        Ok(KernelFunctions {
            rhs: prepare(f.clone()),
            vjp: prepare(autodiff::vjp(f)),
            jvp: prepare(autodiff::jvp(f)),
            jac: prepare(autodiff::jacobian(f)),
            dfdt: prepare(autodiff::time_derivative(f)),
        })
    }

    /// `rhs`, `vjp`, `jvp`, `jac`, `dfdt`.
    pub fn all(&self) -> [&ir::Function; 5] {
        [&self.rhs, &self.vjp, &self.jvp, &self.jac, &self.dfdt]
    }
}

/// The one place a kernel's IR is optimised before code generation: the
/// egg simplifier at its default (exact) level.
pub fn prepare(f: ir::Function) -> ir::Function {
    crate::simplify::simplify(&f, &crate::simplify::SimplifyOptions::default()).0
}

/// JIT-compiles a model's right-hand side and its derivative kernels into one module.
pub fn compile_model(model: &ModelIr, opts: &JitOptions) -> Result<ModelKernels, CodegenError> {
    let funcs = KernelFunctions::of(model)?;
    let jit = JitModule::compile(&funcs.all(), opts)?;
    let kernel = |f: &ir::Function| jit.kernel(&f.name).cloned().ok_or_else(|| CodegenError::missing(&f.name));
    let [rhs, vjp, jvp, jac, dfdt] = funcs.all().map(kernel);
    Ok(ModelKernels { rhs: rhs?, vjp: vjp?, jvp: jvp?, jac: jac?, dfdt: dfdt?, _jit: jit })
}

/// A model's compiled kernels with its parameters bound: what the solvers
/// and the adjoints drive ([`VectorField`] through `rhs`, [`DiffField`]
/// through `vjp`, and [`nde_runtime::stiff::JacField`] through `jac` and
/// `dfdt`). The kernel calls are the runtime's one adapter,
/// [`nde_runtime::kernel::KernelField`], which the shared libraries of
/// `nde build` use too; this type ties it to the JIT module's lifetime.
#[derive(Clone, Copy)]
pub struct ModelField<'a> {
    field: KernelField<'a>,
    _kernels: &'a ModelKernels,
}

impl<'a> ModelField<'a> {
    /// Binds `params` (length `n_param`) to `kernels`.
    pub fn new(kernels: &'a ModelKernels, params: &'a [f64]) -> Self {
        assert_eq!(params.len(), kernels.rhs.n_param, "parameter vector length");
        let raw = OdeKernels {
            rhs: kernels.rhs.raw(),
            vjp: kernels.vjp.raw(),
            jac: kernels.jac.raw(),
            dfdt: kernels.dfdt.raw(),
        };
        // SAFETY: the kernels live in `kernels`' JIT module, which outlives `'a`.
        let field = unsafe { KernelField::new(raw, params) };
        ModelField { field, _kernels: kernels }
    }

    /// The runtime adapter this field calls through.
    pub fn kernel_field(&self) -> &KernelField<'a> {
        &self.field
    }

    /// Scratch for [`ModelField::jvp`]: the packed input `[y; v]`, then the kernel's own scratch.
    pub fn jvp_scratch_len(&self) -> usize {
        self._kernels.jvp.n_state + self._kernels.jvp.scratch_len
    }

    /// The Jacobian–vector product `out = ∂f/∂y · v` at `(t, y)` (all
    /// `n_state` long; `scratch` has [`ModelField::jvp_scratch_len`] elements).
    pub fn jvp(&self, t: f64, y: &[f64], v: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        let k = &self._kernels.jvp;
        let n = y.len();
        assert!(v.len() == n && 2 * n == k.n_state, "jvp buffer lengths");
        let (input, kernel_scratch) = scratch.split_at_mut(k.n_state);
        input[..n].copy_from_slice(y);
        input[n..].copy_from_slice(v);
        call_kernel(k, self.field.params(), t, input, out, kernel_scratch)
    }
}

impl VectorField for ModelField<'_> {
    fn dim(&self) -> usize {
        self.field.dim()
    }
    fn scratch_len(&self) -> usize {
        self.field.scratch_len()
    }
    fn eval(&self, t: f64, y: &[f64], dy: &mut [f64], scratch: &mut [f64]) {
        self.field.eval(t, y, dy, scratch)
    }
}

impl DiffField for ModelField<'_> {
    fn n_params(&self) -> usize {
        self.field.n_params()
    }
    fn vjp_scratch_len(&self) -> usize {
        self.field.vjp_scratch_len()
    }
    fn vjp(&self, t: f64, y: &[f64], a: &[f64], gy: &mut [f64], gp: &mut [f64], scratch: &mut [f64]) {
        self.field.vjp(t, y, a, gy, gp, scratch)
    }
}

/// Calls a compiled kernel: `out = kernel(t, input, params)`.
///
/// Only for kernels of a [`JitModule`] that is alive: every driver type that
/// calls this holds the module its kernels came from.
pub(crate) fn call_kernel(
    kernel: &CompiledKernel,
    params: &[f64],
    t: f64,
    input: &[f64],
    out: &mut [f64],
    scratch: &mut [f64],
) {
    // SAFETY: the module is alive (see above); lengths are checked there.
    unsafe { kernel.raw().call(params, t, input, out, scratch) }
}

/// Scratch for [`call_vjp`]: the packed input `[y; a]`, the kernel's output
/// `[gy; gp]`, then the kernel's own scratch.
pub(crate) fn vjp_scratch_len(kernel: &CompiledKernel) -> usize {
    kernel.raw().vjp_scratch_len()
}

/// Calls a VJP kernel that reads the direction `a` appended to the state
/// `y` (see `autodiff::vjp`): `gy` gets the first `y.len()` outputs, `gp`
/// the rest (both overwritten). `scratch` has [`vjp_scratch_len`] elements.
#[allow(clippy::too_many_arguments)]
pub(crate) fn call_vjp(
    kernel: &CompiledKernel,
    params: &[f64],
    t: f64,
    y: &[f64],
    a: &[f64],
    gy: &mut [f64],
    gp: &mut [f64],
    scratch: &mut [f64],
) {
    // SAFETY: as for `call_kernel`.
    unsafe { kernel.raw().call_vjp(params, t, y, a, gy, gp, scratch) }
}

/// The initial state of `model` for parameters `params` at time `t0`
/// (evaluates the model's `init` function with the reference interpreter:
/// it runs once per solve, so compiling it would not pay).
pub fn initial_state(model: &ModelIr, params: &[f64], t0: f64) -> Result<Vec<f64>, ir::interp::InterpError> {
    ir::interp::eval(&model.init, t0, &[], params)
}

/// Why no model could be chosen.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelChoiceError {
    /// The name asked for, if any.
    pub requested: Option<String>,
    /// The models the file defines.
    pub available: Vec<String>,
}

impl std::fmt::Display for ModelChoiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = self.available.join(", ");
        match (&self.requested, self.available.len()) {
            (Some(n), 0) => write!(f, "no model named `{n}`: the file defines no model"),
            (Some(n), _) => write!(f, "no model named `{n}`; the file defines: {names}"),
            (None, 0) => write!(f, "the file defines no model"),
            (None, _) => write!(f, "the file defines several models ({names}): choose one with --model"),
        }
    }
}

impl std::error::Error for ModelChoiceError {}

/// Picks the model to run: the named one, or the only one in the file.
pub fn select_model<'p>(program: &'p ProgramIr, name: Option<&str>) -> Result<&'p ModelIr, ModelChoiceError> {
    let err = || ModelChoiceError {
        requested: name.map(str::to_string),
        available: program.models.iter().map(|m| m.name.clone()).collect(),
    };
    match name {
        Some(n) => program.model(n).ok_or_else(err),
        None => match program.models.as_slice() {
            [only] => Ok(only),
            _ => Err(err()),
        },
    }
}

/// The explicit solve options a `solver` declaration (or an inline `with =
/// method(...)`) stands for, for the solves gradients go through: its method
/// and its `rtol`, `atol`, `dt`, `max_steps` over the defaults of
/// [`nde_runtime::SolveOptions`]. A stiff or `auto` solver is an error here (see
/// [`stiff::solver_from_spec`] for solves without gradients).
pub fn solve_options(spec: &ir::SolverSpec) -> Result<nde_runtime::SolveOptions, String> {
    let option = |key| solver_option(spec, key);
    // A fixed-step method without `dt` is the caller's to report.
    let solver = OdeSolver::named(&spec.method)
        .map(|s| s.with(option("rtol"), option("atol"), option("dt"), option("max_steps").map(|v| v as usize)))
        .and_then(|s| s.explicit())
        .map_err(|e| format!("solver `{}`: {e}", spec.name))?;
    Ok(solver)
}

/// Names for the components of a model's flat state, for CSV headers and
/// generated data: `x` for a scalar state, `y[0]`, `y[1]`, … for a vector,
/// `W[0][1]` for a matrix (no commas, so a CSV header stays one cell each).
pub fn state_columns(model: &ModelIr) -> Vec<String> {
    let mut names = Vec::with_capacity(model.n_state());
    for s in &model.states {
        match s.shape.dims() {
            [] => names.push(s.name.clone()),
            [n] => names.extend((0..*n).map(|i| format!("{}[{i}]", s.name))),
            dims => {
                let cols = dims[dims.len() - 1] as usize;
                names.extend((0..s.shape.len()).map(|k| format!("{}[{}][{}]", s.name, k / cols, k % cols)))
            }
        }
    }
    names
}

/// Names for the components of a model's `output`s, after its states in
/// `nde run`'s CSV: `e` for a scalar output, `logits[0]`, `logits[1]`, …
/// for a vector one.
pub fn output_columns(model: &ModelIr) -> Vec<String> {
    let mut names = Vec::new();
    for o in &model.outputs {
        match o.shape.dims() {
            [] => names.push(o.name.clone()),
            _ => names.extend((0..o.shape.len()).map(|i| format!("{}[{i}]", o.name))),
        }
    }
    names
}

/// Every `output` of `model` at time `t` and state `y` (its `n` states),
/// concatenated in declaration order (by the reference interpreter).
pub fn output_values(model: &ModelIr, params: &[f64], t: f64, y: &[f64]) -> Result<Vec<f64>, ir::interp::InterpError> {
    let mut out = Vec::new();
    for o in &model.outputs {
        out.extend(ir::interp::eval(&o.function, t, y, params)?);
    }
    Ok(out)
}

/// The value a solver declaration gives option `key` (`rtol`, `atol`, `dt`, `max_steps`), if any.
pub fn solver_option(spec: &ir::SolverSpec, key: &str) -> Option<f64> {
    spec.options.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
}

/// Times a closure.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}
