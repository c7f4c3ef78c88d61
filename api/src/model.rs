//! Inspecting a checked model: [`Model`] (names, sizes, kind, IR text,
//! initial state), the layout of its flat buffers ([`Variable`]) and its
//! parameter values ([`Parameters`]: by name, from and to `.npz`).
//!
//! Owns nothing the driver computes: names come from
//! `driver::state_columns`, parameter files are matched by
//! `driver::apply_param_arrays`, initial states by `driver::initial_state`.

use std::path::Path;

use nde_compiler::driver::{self, params};
use nde_compiler::ir::{Function, ModelIr, Slot, SolverSpec};
use nde_runtime::io;

use crate::compiled::CompiledModel;
use crate::error::Error;
use crate::program::not_found;

/// What kind of differential equation a model is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// An ordinary differential equation `dy/dt = f(t, y, p)`.
    Ode,
    /// A stochastic one, `dy = f dt + g dW` (it has noise terms).
    Sde,
    /// A controlled one, driven by an `input` path built from data.
    Cde,
}

/// A tensor in one of a model's flat buffers (a state or a parameter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variable {
    /// Its name: `x`, `sigma`, or `f.W1` for a net's parameter.
    pub name: String,
    /// Its shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// Where its first element is in the flat buffer.
    pub offset: usize,
    /// Its number of elements.
    pub len: usize,
}

impl Variable {
    fn of(slot: &Slot) -> Variable {
        Variable {
            name: slot.name.clone(),
            shape: slot.shape.dims().iter().map(|&d| d as usize).collect(),
            offset: slot.offset,
            len: slot.shape.len(),
        }
    }
}

/// A model of a [`crate::Program`], checked but not compiled.
///
/// ```
/// let program = nde::Program::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/lorenz.nde"))?;
/// let model = program.model("lorenz")?;
/// assert_eq!(model.kind(), nde::ModelKind::Ode);
/// assert_eq!(model.state_names(), ["x", "y", "z"]);
/// assert_eq!(model.parameter_names(), ["sigma", "rho", "beta"]);
/// assert_eq!(model.initial_state(0.0)?, [1.0, 1.0, 1.0]);
/// assert!(model.ir_text().contains("lorenz"));
/// # Ok::<(), nde::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Model<'p> {
    ir: &'p ModelIr,
    solvers: &'p [SolverSpec],
}

impl<'p> Model<'p> {
    pub(crate) fn new(ir: &'p ModelIr, solvers: &'p [SolverSpec]) -> Self {
        Model { ir, solvers }
    }

    /// Its name.
    pub fn name(&self) -> &'p str {
        &self.ir.name
    }

    /// ODE, SDE or CDE.
    pub fn kind(&self) -> ModelKind {
        kind_of(self.ir)
    }

    /// Number of states `n` (the length of `y`).
    pub fn n_state(&self) -> usize {
        self.ir.n_state()
    }

    /// Number of parameter values (the length of the flat parameter vector).
    pub fn n_param(&self) -> usize {
        self.ir.n_param()
    }

    /// One name per state component, as in `nde run`'s CSV header: `x` for
    /// a scalar state, `y[0]`, `y[1]` for a vector, `W[0][1]` for a matrix.
    pub fn state_names(&self) -> Vec<String> {
        driver::state_columns(self.ir)
    }

    /// The state tensors, in declaration order.
    pub fn states(&self) -> Vec<Variable> {
        self.ir.states.iter().map(Variable::of).collect()
    }

    /// The parameter tensors' names, in declaration order (`f.W1` for a net's).
    pub fn parameter_names(&self) -> Vec<String> {
        self.ir.params.iter().map(|p| p.name.clone()).collect()
    }

    /// The parameter tensors, in declaration order.
    pub fn parameter_variables(&self) -> Vec<Variable> {
        self.ir.params.iter().map(Variable::of).collect()
    }

    /// The initial parameter values (from the initialisers, seeded by [`crate::Options::seed`]).
    pub fn parameters(&self) -> Parameters {
        Parameters::of(self.ir, self.ir.param_values.clone())
    }

    /// One name per component of the model's `output`s, as in `nde run`'s CSV header.
    pub fn output_names(&self) -> Vec<String> {
        driver::output_columns(self.ir)
    }

    /// The state the model's `init` gives at time `t0` with its initial parameters.
    pub fn initial_state(&self, t0: f64) -> Result<Vec<f64>, Error> {
        initial_state(self.ir, &self.ir.param_values, t0)
    }

    /// The model's IR in the text form of `nde emit ir --model NAME`.
    pub fn ir_text(&self) -> String {
        nde_compiler::ir::print::print_model(self.ir)
    }

    /// The model's IR.
    pub fn ir(&self) -> &'p ModelIr {
        self.ir
    }

    /// JIT-compiles its kernels (right-hand side, its derivatives; drift and
    /// diffusion for an SDE). The result owns them and the model's initial parameters.
    pub fn compile(&self) -> Result<CompiledModel, Error> {
        CompiledModel::compile(self.ir.clone(), self.solvers.to_vec())
    }
}

pub(crate) fn kind_of(ir: &ModelIr) -> ModelKind {
    if ir.is_cde() {
        ModelKind::Cde
    } else if ir.is_sde() {
        ModelKind::Sde
    } else {
        ModelKind::Ode
    }
}

/// `init` at `t0`, or an [`Error::Unsupported`] for a controlled model (its
/// initial state reads the input path).
pub(crate) fn initial_state(ir: &ModelIr, params: &[f64], t0: f64) -> Result<Vec<f64>, Error> {
    if ir.is_cde() {
        return Err(Error::Unsupported(format!(
            "model `{}` is controlled (CDE): its initial state reads its input path",
            ir.name
        )));
    }
    driver::initial_state(ir, params, t0).map_err(|e| Error::Evaluate(format!("evaluating the initial state: {e}")))
}

/// A model's parameter values: one flat vector laid out as
/// [`Model::parameter_variables`] says, readable and writable by name.
///
/// ```
/// let program = nde::Program::from_file(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/lorenz.nde"))?;
/// let mut params = program.model("lorenz")?.parameters();
/// assert_eq!(params.get("rho")?, [28.0]);
/// params.set("rho", &[20.0])?;
/// assert_eq!(params.as_slice(), [10.0, 20.0, 8.0 / 3.0]);
/// assert!(params.set("rho", &[1.0, 2.0]).is_err());
/// # Ok::<(), nde::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Parameters {
    model: ModelIr,
    values: Vec<f64>,
}

/// What [`Parameters::load_npz`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Parameters set from the file.
    pub set: Vec<String>,
    /// Parameters the file does not mention (they keep their values).
    pub kept: Vec<String>,
    /// Arrays of the file that match no parameter.
    pub unused: Vec<String>,
}

impl Parameters {
    pub(crate) fn of(model: &ModelIr, values: Vec<f64>) -> Parameters {
        // Only the layout is needed; the kernels' IR would be dead weight.
        let empty = || Function { name: String::new(), nodes: Vec::new(), outputs: Vec::new(), n_state: 0, n_param: 0 };
        let layout = ModelIr {
            rhs: empty(),
            init: empty(),
            diffusion: None,
            control: None,
            outputs: Vec::new(),
            ..model.clone()
        };
        Parameters { model: layout, values }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// No values (a model without parameters).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The parameter tensors.
    pub fn variables(&self) -> Vec<Variable> {
        self.model.params.iter().map(Variable::of).collect()
    }

    /// The flat vector.
    pub fn as_slice(&self) -> &[f64] {
        &self.values
    }

    /// The flat vector, to change in place.
    pub fn as_mut_slice(&mut self) -> &mut [f64] {
        &mut self.values
    }

    /// The values of parameter `name` (flat, row-major).
    pub fn get(&self, name: &str) -> Result<&[f64], Error> {
        let slot = self.slot(name)?;
        Ok(&self.values[slot.offset..slot.offset + slot.shape.len()])
    }

    /// Sets parameter `name` (flat, row-major; exactly its number of finite values).
    pub fn set(&mut self, name: &str, values: &[f64]) -> Result<(), Error> {
        let slot = self.slot(name)?;
        let (offset, len) = (slot.offset, slot.shape.len());
        if values.len() != len {
            return Err(Error::InvalidArgument(format!("parameter `{name}` has {len} values, not {}", values.len())));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidArgument(format!("value {i} for parameter `{name}` is not finite")));
        }
        self.values[offset..offset + len].copy_from_slice(values);
        Ok(())
    }

    /// Replaces every value (exactly [`Parameters::len`] finite values).
    pub fn set_all(&mut self, values: &[f64]) -> Result<(), Error> {
        check_params(values, self.values.len())?;
        self.values.copy_from_slice(values);
        Ok(())
    }

    /// Sets parameters from the arrays of a `.npz` file, matched like
    /// `nde run --params`: by full name (`f.W1`), or by last segment (`W1`)
    /// when that names one parameter; shapes must match.
    pub fn load_npz(&mut self, path: impl AsRef<Path>) -> Result<LoadReport, Error> {
        let arrays = io::read_npz(path.as_ref())?;
        let report = driver::apply_param_arrays(&self.model, &mut self.values, &arrays)?;
        Ok(LoadReport { set: report.set, kept: report.kept, unused: report.unused })
    }

    /// Writes every parameter as a named array to a `.npz` file (what
    /// `nde train` writes and `nde run --params` reads).
    pub fn save_npz(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        io::write_npz(path.as_ref(), &params::param_arrays(&self.model, &self.values))?;
        Ok(())
    }

    fn slot(&self, name: &str) -> Result<&Slot, Error> {
        self.model
            .params
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| not_found("parameter", name, self.model.params.iter().map(|p| p.name.as_str()).collect()))
    }
}

/// Checks a whole parameter vector: `n` finite values.
pub(crate) fn check_params(values: &[f64], n: usize) -> Result<(), Error> {
    if values.len() != n {
        return Err(Error::InvalidArgument(format!("the model has {n} parameter values, not {}", values.len())));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(Error::InvalidArgument(format!("parameter value {i} is not finite")));
    }
    Ok(())
}
