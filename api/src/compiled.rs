//! A model with its JIT kernels: [`CompiledModel`] (evaluate the
//! right-hand side and its derivatives, solve).
//!
//! Owns the kernels' lifetime, argument checking (every buffer length is
//! checked before a kernel runs, so bad input is an [`Error`], never a
//! panic or undefined behaviour) and the choice of solver from a
//! [`SolveSpec`], following `nde run`: a declared solver or a method name,
//! the stiff solvers of large models through sparse Jacobians
//! (`driver::sparse`), SDE models through the SDE solvers. The solving
//! itself is the driver's (`driver::solve_ode`, `solve_ode_batch`) and the
//! runtime's (`sde_solve_batch`).

use std::sync::OnceLock;

use nde_compiler::codegen::JitOptions;
use nde_compiler::driver::choice::{self, SolverRequest};
use nde_compiler::driver::gpu::{self, GpuOptions};
use nde_compiler::driver::sde::{ModelSdeField, SdeKernels};
use nde_compiler::driver::sparse::{self, SparseKernels, SparseModelField};
use nde_compiler::driver::{self, ModelField, ModelKernels, OdeSolver};
use nde_compiler::ir::{ModelIr, SolverSpec};
use nde_runtime::sde::{sde_solve_batch, DiffSdeField, SdeField};
use nde_runtime::stiff::JacField;
use nde_runtime::term::{DiffField, VectorField};

use crate::error::Error;
use crate::model::{check_params, initial_state, kind_of, ModelKind, Parameters};
use crate::solve::{Solution, SolveSpec};

/// The compiled kernels of an ODE or an SDE model.
enum Kernels {
    Ode {
        kernels: ModelKernels,
        /// For stiff solves of large models, compiled on first use.
        sparse: OnceLock<Result<Box<SparseKernels>, String>>,
    },
    Sde(SdeKernels),
}

/// A model with its compiled kernels and its current parameter values.
///
/// Every call checks its buffers' lengths and returns
/// [`Error::InvalidArgument`] when they do not fit.
///
/// ```
/// let program = nde::Program::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/lorenz.nde"))?;
/// let mut lorenz = program.model("lorenz")?.compile()?;
/// let mut dy = [0.0; 3];
/// lorenz.rhs(0.0, &[1.0, 2.0, 3.0], &mut dy)?;
/// assert_eq!(dy, [10.0, 1.0 * (28.0 - 3.0) - 2.0, 2.0 - 8.0]);
/// // ∂f/∂y, row-major.
/// let jac = lorenz.jacobian(0.0, &[1.0, 2.0, 3.0])?;
/// assert_eq!(&jac[..3], [-10.0, 10.0, 0.0]);
/// // Parameters by name.
/// lorenz.parameters_mut().set("sigma", &[1.0])?;
/// lorenz.rhs(0.0, &[1.0, 2.0, 3.0], &mut dy)?;
/// assert_eq!(dy[0], 1.0);
/// assert!(lorenz.rhs(0.0, &[1.0], &mut dy).is_err());
/// # Ok::<(), nde::Error>(())
/// ```
pub struct CompiledModel {
    ir: ModelIr,
    solvers: Vec<SolverSpec>,
    params: Parameters,
    kernels: Kernels,
}

impl std::fmt::Debug for CompiledModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledModel").field("name", &self.ir.name).field("kind", &self.kind()).finish()
    }
}

fn codegen(e: impl std::fmt::Display) -> Error {
    Error::Codegen(e.to_string())
}

fn check_len(what: &str, found: usize, expected: usize) -> Result<(), Error> {
    if found == expected {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!("{what} has {found} values; the model needs {expected}")))
    }
}

impl CompiledModel {
    pub(crate) fn compile(ir: ModelIr, solvers: Vec<SolverSpec>) -> Result<CompiledModel, Error> {
        let jit = JitOptions::default();
        let kernels = match kind_of(&ir) {
            ModelKind::Cde => {
                return Err(Error::Unsupported(format!(
                    "model `{}` is controlled (CDE): its path comes from data; solve it with `nde run` or train it \
                     with `Program::training`",
                    ir.name
                )))
            }
            ModelKind::Sde => Kernels::Sde(SdeKernels::compile(&ir, &jit).map_err(codegen)?),
            ModelKind::Ode => {
                Kernels::Ode { kernels: driver::compile_model(&ir, &jit).map_err(codegen)?, sparse: OnceLock::new() }
            }
        };
        let params = Parameters::of(&ir, ir.param_values.clone());
        Ok(CompiledModel { ir, solvers, params, kernels })
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.ir.name
    }

    /// ODE or SDE.
    pub fn kind(&self) -> ModelKind {
        kind_of(&self.ir)
    }

    /// Number of states `n`.
    pub fn n_state(&self) -> usize {
        self.ir.n_state()
    }

    /// Number of parameter values.
    pub fn n_param(&self) -> usize {
        self.params.len()
    }

    /// Names of the state components ([`crate::Model::state_names`]).
    pub fn state_names(&self) -> Vec<String> {
        driver::state_columns(&self.ir)
    }

    /// Names of the parameter tensors ([`crate::Model::parameter_names`]).
    pub fn parameter_names(&self) -> Vec<String> {
        self.ir.params.iter().map(|p| p.name.clone()).collect()
    }

    /// Names of the output components ([`crate::Model::output_names`]).
    pub fn output_names(&self) -> Vec<String> {
        driver::output_columns(&self.ir)
    }

    /// The parameter values every call uses (initially the model's).
    pub fn parameters(&self) -> &Parameters {
        &self.params
    }

    /// The parameter values, to change (by name, from a `.npz`, ...).
    pub fn parameters_mut(&mut self) -> &mut Parameters {
        &mut self.params
    }

    /// The model's IR.
    pub fn ir(&self) -> &ModelIr {
        &self.ir
    }

    /// The model's IR as text (`nde emit ir --model NAME`).
    pub fn ir_text(&self) -> String {
        nde_compiler::ir::print::print_model(&self.ir)
    }

    /// The initial state `init(t0, p)` with the current parameters.
    pub fn initial_state(&self, t0: f64) -> Result<Vec<f64>, Error> {
        initial_state(&self.ir, self.params.as_slice(), t0)
    }

    fn params_ok(&self) -> Result<&[f64], Error> {
        let p = self.params.as_slice();
        check_params(p, self.ir.n_param())?;
        Ok(p)
    }

    /// `dy = f(t, y, p)` (an SDE's drift), all `n_state` long.
    pub fn rhs(&self, t: f64, y: &[f64], dy: &mut [f64]) -> Result<(), Error> {
        let n = self.n_state();
        check_len("y", y.len(), n)?;
        check_len("dy", dy.len(), n)?;
        let p = self.params_ok()?;
        match &self.kernels {
            Kernels::Ode { kernels, .. } => {
                let field = ModelField::new(kernels, p);
                field.eval(t, y, dy, &mut vec![0.0; field.scratch_len()]);
            }
            Kernels::Sde(k) => {
                let field = ModelSdeField::new(k, p);
                field.drift(t, y, dy, &mut vec![0.0; SdeField::scratch_len(&field)]);
            }
        }
        Ok(())
    }

    /// The vector–Jacobian product with direction `a` (`n_state` long):
    /// `gy = aᵀ∂f/∂y` (`n_state`) and `gp = aᵀ∂f/∂p` (`n_param`, laid out
    /// like the parameters). For an SDE, of its drift.
    pub fn vjp(&self, t: f64, y: &[f64], a: &[f64], gy: &mut [f64], gp: &mut [f64]) -> Result<(), Error> {
        let n = self.n_state();
        check_len("y", y.len(), n)?;
        check_len("a", a.len(), n)?;
        check_len("gy", gy.len(), n)?;
        check_len("gp", gp.len(), self.n_param())?;
        let p = self.params_ok()?;
        match &self.kernels {
            Kernels::Ode { kernels, .. } => {
                let field = ModelField::new(kernels, p);
                field.vjp(t, y, a, gy, gp, &mut vec![0.0; field.vjp_scratch_len()]);
            }
            Kernels::Sde(k) => {
                let field = ModelSdeField::new(k, p);
                field.drift_vjp(t, y, a, gy, gp, &mut vec![0.0; SdeField::scratch_len(&field)]);
            }
        }
        Ok(())
    }

    fn ode(&self, what: &str) -> Result<&ModelKernels, Error> {
        match &self.kernels {
            Kernels::Ode { kernels, .. } => Ok(kernels),
            Kernels::Sde(_) => Err(Error::Unsupported(format!(
                "model `{}` is an SDE; {what} is compiled for ODE models",
                self.ir.name
            ))),
        }
    }

    /// The Jacobian–vector product `out = ∂f/∂y · v` (ODE models).
    pub fn jvp(&self, t: f64, y: &[f64], v: &[f64], out: &mut [f64]) -> Result<(), Error> {
        let kernels = self.ode("the Jacobian–vector product")?;
        let n = self.n_state();
        check_len("y", y.len(), n)?;
        check_len("v", v.len(), n)?;
        check_len("out", out.len(), n)?;
        let field = ModelField::new(kernels, self.params_ok()?);
        field.jvp(t, y, v, out, &mut vec![0.0; field.jvp_scratch_len()]);
        Ok(())
    }

    /// The Jacobian `∂f/∂y` at `(t, y)`, `n × n` row-major (entry `[i, j]` is `∂f_i/∂y_j`; ODE models).
    pub fn jacobian(&self, t: f64, y: &[f64]) -> Result<Vec<f64>, Error> {
        let kernels = self.ode("the Jacobian")?;
        let n = self.n_state();
        check_len("y", y.len(), n)?;
        let field = ModelField::new(kernels, self.params_ok()?);
        let mut jac = vec![0.0; n * n];
        field.jacobian(t, y, &mut jac, &mut vec![0.0; field.jac_scratch_len()]);
        Ok(jac)
    }

    /// The diffusion `g(t, y, p)` of an SDE model, flat (`n` values for
    /// diagonal noise, `n × m` row-major for `m` general noise channels).
    pub fn diffusion(&self, t: f64, y: &[f64]) -> Result<Vec<f64>, Error> {
        let Kernels::Sde(k) = &self.kernels else {
            return Err(Error::Unsupported(format!("model `{}` is an ODE: it has no diffusion", self.ir.name)));
        };
        check_len("y", y.len(), self.n_state())?;
        let field = ModelSdeField::new(k, self.params_ok()?);
        let mut out = vec![0.0; k.g.out_len];
        field.diffusion(t, y, &mut out, &mut vec![0.0; SdeField::scratch_len(&field)]);
        Ok(out)
    }

    /// The model's `output`s at `(t, y)`, concatenated in declaration order.
    pub fn outputs(&self, t: f64, y: &[f64]) -> Result<Vec<f64>, Error> {
        check_len("y", y.len(), self.n_state())?;
        driver::output_values(&self.ir, self.params_ok()?, t, y)
            .map_err(|e| Error::Evaluate(format!("computing the outputs at t = {t}: {e}")))
    }

    /// Solves from the model's initial state (an SDE: [`SolveSpec::paths`]
    /// sample paths of it), like `nde run`.
    ///
    /// ```
    /// let program = nde::Program::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/lorenz.nde"))?;
    /// let lorenz = program.model("lorenz")?.compile()?;
    /// let sol = lorenz.solve(&nde::SolveSpec::new(0.0, 1.0).saves(11).method("tsit5").tolerances(1e-8, 1e-10))?;
    /// assert_eq!(sol.times().len(), 11);
    /// assert_eq!(sol.state(0, 0).unwrap(), [1.0, 1.0, 1.0]);
    /// assert!(sol.stats()[0].nfe > 0);
    /// println!("{}", sol.to_csv());
    /// # Ok::<(), nde::Error>(())
    /// ```
    pub fn solve(&self, spec: &SolveSpec) -> Result<Solution, Error> {
        self.solve_inner(spec, None)
    }

    /// Solves from each row of `y0s` (`[batch][n_state]`, row-major), sharing the save times.
    pub fn solve_batch(&self, spec: &SolveSpec, y0s: &[f64]) -> Result<Solution, Error> {
        let n = self.n_state();
        if n == 0 || y0s.is_empty() || !y0s.chunks_exact(n).remainder().is_empty() {
            return Err(Error::InvalidArgument(format!(
                "{} initial values do not make whole states of {n} values",
                y0s.len()
            )));
        }
        if let Some(i) = y0s.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidArgument(format!("initial state {} (row {}) is not finite", i % n, i / n)));
        }
        self.solve_inner(spec, Some(y0s))
    }

    /// Solves a whole ensemble on a GPU in one device kernel, each device
    /// invocation running one trajectory's entire solve: every row of `y0s`
    /// (`[batch][n_state]`), or with `None` the model's initial state (an
    /// SDE: [`SolveSpec::paths`] sample paths of it). ODEs run the explicit
    /// adaptive methods (`tsit5`, `dopri5`) with the CPU's tableaus and step
    /// control; Itô SDEs run Euler–Maruyama at [`SolveSpec::dt`] with
    /// increments keyed by [`SolveSpec::noise_seed`] (not the CPU's Brownian
    /// tree). `options` pick the adapter and the precision (`f32`, or `f64`
    /// where the adapter has it). Needs this crate's `gpu` feature; without
    /// it, and without an adapter, the error says so. See `docs/gpu.md`.
    ///
    /// ```
    /// let program = nde::Program::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/lorenz.nde"))?;
    /// let lorenz = program.model("lorenz")?.compile()?;
    /// let spec = nde::SolveSpec::new(0.0, 1.0).saves(11).method("tsit5").tolerances(1e-6, 1e-8);
    /// let y0s = [1.0, 1.0, 1.0, 2.0, 1.0, 1.0];
    /// match lorenz.solve_gpu(&spec, Some(&y0s), &nde::GpuOptions::default()) {
    ///     Ok(sol) => assert_eq!(sol.n_trajectories(), 2),
    ///     Err(nde::Error::Gpu(e)) => println!("no GPU here: {e}"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok::<(), nde::Error>(())
    /// ```
    pub fn solve_gpu(&self, spec: &SolveSpec, y0s: Option<&[f64]>, options: &GpuOptions) -> Result<Solution, Error> {
        let saveat = spec.save_times()?;
        let params = self.params_ok()?;
        let n = self.n_state();
        let solver = match &self.kernels {
            Kernels::Ode { .. } => gpu::device_solver_ode(&self.ode_solver(spec)?),
            Kernels::Sde(_) => {
                let opts = choice::sde_options(&Self::request(spec), &self.solvers, &self.ir)
                    .map_err(|e| Error::Solver(e.to_string()))?;
                gpu::device_solver_sde(&opts, spec.noise_seed)
            }
        }
        .map_err(Error::Unsupported)?;
        let (y0s, batch) = match y0s {
            Some(y0s) => {
                if n == 0 || y0s.is_empty() || !y0s.chunks_exact(n).remainder().is_empty() {
                    return Err(Error::InvalidArgument(format!(
                        "{} initial values do not make whole states of {n} values",
                        y0s.len()
                    )));
                }
                (y0s.to_vec(), Some(y0s.len() / n))
            }
            None => {
                let y0 = self.finite_initial_state(saveat[0].min(spec.t0))?;
                let paths = if self.ir.is_sde() { spec.paths.max(1) } else { 1 };
                (y0.repeat(paths), (paths > 1).then_some(paths))
            }
        };
        let e = gpu::solve_ensemble(&self.ir, params, spec.t0, &y0s, &saveat, &solver, options).map_err(Error::Gpu)?;
        let mut sol = self.empty_solution(e.t, e.y, batch);
        sol.stats = e.stats;
        self.fill_outputs(&mut sol, params)?;
        Ok(sol)
    }

    fn solve_inner(&self, spec: &SolveSpec, y0s: Option<&[f64]>) -> Result<Solution, Error> {
        let saveat = spec.save_times()?;
        let params = self.params_ok()?;
        let mut sol = match &self.kernels {
            Kernels::Ode { kernels, sparse } => {
                let solver = self.ode_solver(spec)?;
                let large_stiff =
                    !matches!(solver, OdeSolver::Explicit(_)) && self.n_state() >= sparse::SPARSE_MIN_STATES;
                if large_stiff {
                    let compiled = sparse.get_or_init(|| {
                        sparse::compile_sparse(&self.ir, &JitOptions::default())
                            .map(Box::new)
                            .map_err(|e| e.to_string())
                    });
                    let k = compiled.as_ref().map_err(codegen)?;
                    self.solve_ode(&SparseModelField::new(k, params), &solver, spec, &saveat, y0s)?
                } else {
                    self.solve_ode(&ModelField::new(kernels, params), &solver, spec, &saveat, y0s)?
                }
            }
            Kernels::Sde(k) => self.solve_sde(k, spec, &saveat, y0s)?,
        };
        self.fill_outputs(&mut sol, params)?;
        Ok(sol)
    }

    /// The model's outputs at every saved state.
    fn fill_outputs(&self, sol: &mut Solution, params: &[f64]) -> Result<(), Error> {
        let n = self.n_state().max(1);
        let nt = sol.t.len();
        let mut outputs = Vec::with_capacity((sol.y.len() / n) * sol.output_names.len());
        if !sol.output_names.is_empty() {
            for (row, y) in sol.y.chunks(n).enumerate() {
                let t = sol.t[row % nt];
                let values = driver::output_values(&self.ir, params, t, y)
                    .map_err(|e| Error::Evaluate(format!("computing the outputs at t = {t}: {e}")))?;
                outputs.extend(values);
            }
        }
        sol.outputs = outputs;
        Ok(())
    }

    fn empty_solution(&self, t: Vec<f64>, y: Vec<f64>, batch: Option<usize>) -> Solution {
        Solution {
            t,
            y,
            n_state: self.n_state(),
            batch,
            stats: Vec::new(),
            switches: Vec::new(),
            state_names: self.state_names(),
            output_names: self.output_names(),
            outputs: Vec::new(),
        }
    }

    /// The model's initial state at `t0`, checked finite.
    fn finite_initial_state(&self, t0: f64) -> Result<Vec<f64>, Error> {
        let y0 = self.initial_state(t0)?;
        match y0.iter().position(|v| !v.is_finite()) {
            None => Ok(y0),
            Some(i) => {
                Err(Error::Evaluate(format!("the initial state is not finite: {} = {}", self.state_names()[i], y0[i])))
            }
        }
    }

    fn solve_ode<F: JacField>(
        &self,
        field: &F,
        solver: &OdeSolver,
        spec: &SolveSpec,
        saveat: &[f64],
        y0s: Option<&[f64]>,
    ) -> Result<Solution, Error> {
        match y0s {
            None => {
                let y0 = self.finite_initial_state(saveat[0].min(spec.t0))?;
                let solved = driver::solve_ode(field, solver, spec.t0, &y0, saveat)?;
                let mut sol = self.empty_solution(solved.solution.t, solved.solution.y, None);
                sol.stats = vec![solved.solution.stats];
                sol.switches = solved.switches;
                Ok(sol)
            }
            Some(y0s) => {
                let b = driver::solve_ode_batch(field, solver, spec.t0, y0s, saveat, spec.threads)?;
                let mut sol = self.empty_solution(b.t, b.y, Some(b.batch));
                sol.stats = b.stats;
                Ok(sol)
            }
        }
    }

    /// The spec's solver request (name and overrides).
    fn request<'s>(spec: &'s SolveSpec) -> SolverRequest<'s> {
        SolverRequest {
            name: spec.method.as_deref(),
            rtol: spec.rtol,
            atol: spec.atol,
            dt: spec.dt,
            max_steps: spec.max_steps,
        }
    }

    /// The ODE solver a spec stands for, as `nde run --solver` chooses it.
    fn ode_solver(&self, spec: &SolveSpec) -> Result<OdeSolver, Error> {
        choice::ode_solver(&Self::request(spec), &self.solvers).map_err(|e| Error::Solver(e.to_string()))
    }

    fn solve_sde(
        &self,
        kernels: &SdeKernels,
        spec: &SolveSpec,
        saveat: &[f64],
        y0s: Option<&[f64]>,
    ) -> Result<Solution, Error> {
        let opts = choice::sde_options(&Self::request(spec), &self.solvers, &self.ir)
            .map_err(|e| Error::Solver(e.to_string()))?;
        let n = self.n_state();
        let (y0s, batch) = match y0s {
            Some(y0s) => (y0s.to_vec(), Some(y0s.len() / n.max(1))),
            None => {
                let y0 = self.finite_initial_state(spec.t0)?;
                let paths = spec.paths.max(1);
                (y0.repeat(paths), (paths > 1).then_some(paths))
            }
        };
        let field = ModelSdeField::new(kernels, self.params_ok()?);
        let b = sde_solve_batch(&field, spec.t0, &y0s, saveat, &opts, spec.noise_seed, spec.threads)?;
        let mut sol = self.empty_solution(b.t, b.y, batch);
        sol.stats = b.stats;
        Ok(sol)
    }
}
