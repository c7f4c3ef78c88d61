//! A checked `.nde` file: [`Program`] and the [`Options`] it is checked with.
//!
//! Owns reading and checking a file or a string through the compiler's
//! front end (`nde_compiler::driver::check_file` / `check_source`) and
//! finding its models, losses and `train` blocks by name. Holds no
//! compiled code: [`crate::Model::compile`], [`Program::loss`] and
//! [`Program::training`] compile what they need.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nde_compiler::driver::train::{self, TrainOptions, Trainer};
use nde_compiler::driver::{self, Checked, FrontendOptions, FsLoader};
use nde_compiler::ir::training::BatchSpec;
use nde_compiler::ir::ProgramIr;
use nde_compiler::span::SourceMap;

use crate::error::{CompileErrors, Error};
use crate::model::Model;
use crate::train::{Loss, Training};

/// Settings for checking and running a program that are not part of the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Seed of the random parameter initialisers (`glorot`, `normal`), as
    /// `nde run --seed` (default 0).
    pub seed: u64,
    /// Worker threads for losses and training (0: all cores). Results do not depend on it.
    pub threads: usize,
}

/// Where a program's root source came from (training re-checks it).
#[derive(Clone, Debug)]
enum Origin {
    File(PathBuf),
    Text { name: String, text: String },
}

/// A checked `.nde` file: its models, solvers, data sets, losses and
/// `train` blocks.
///
/// ```
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/lorenz.nde");
/// let program = nde::Program::from_file(path)?;
/// assert_eq!(program.model_names(), ["lorenz"]);
/// # Ok::<(), nde::Error>(())
/// ```
pub struct Program {
    origin: Origin,
    options: Options,
    sources: SourceMap,
    ir: Arc<ProgramIr>,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("origin", &self.origin)
            .field("models", &self.model_names())
            .field("losses", &self.loss_names())
            .finish()
    }
}

impl Program {
    /// Reads and checks a `.nde` file (its imports and data files are read
    /// relative to it).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Program, Error> {
        Program::from_file_with(path, &Options::default())
    }

    /// [`Program::from_file`] with options.
    pub fn from_file_with(path: impl AsRef<Path>, options: &Options) -> Result<Program, Error> {
        let origin = Origin::File(path.as_ref().to_path_buf());
        Program::check(origin, options)
    }

    /// Checks source text. `name` names it in diagnostics; files it imports
    /// or loads are read relative to `name`'s folder.
    ///
    /// ```
    /// let program = nde::Program::from_source("decay.nde", "model decay {\n  param k = 0.5\n  state x = 1.0\n  dx/dt = -k * x\n}\n")?;
    /// let model = program.default_model()?;
    /// assert_eq!(model.state_names(), ["x"]);
    /// assert_eq!(model.parameter_names(), ["k"]);
    /// # Ok::<(), nde::Error>(())
    /// ```
    pub fn from_source(name: &str, text: &str) -> Result<Program, Error> {
        Program::from_source_with(name, text, &Options::default())
    }

    /// [`Program::from_source`] with options.
    pub fn from_source_with(name: &str, text: &str, options: &Options) -> Result<Program, Error> {
        let origin = Origin::Text { name: name.to_string(), text: text.to_string() };
        Program::check(origin, options)
    }

    fn check(origin: Origin, options: &Options) -> Result<Program, Error> {
        let frontend = FrontendOptions { seed: options.seed, ..Default::default() };
        let checked = check_origin(&origin, &frontend)?;
        Ok(Program { origin, options: options.clone(), sources: checked.sources, ir: Arc::new(checked.program) })
    }

    /// The options it was checked with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The source files (the root first, then what it imports).
    pub fn sources(&self) -> &SourceMap {
        &self.sources
    }

    /// The whole checked program as IR (models, solvers, data, losses, train blocks).
    pub fn ir(&self) -> &ProgramIr {
        &self.ir
    }

    /// The program's IR in the text form of `nde emit ir` (every model, data set, loss and train block).
    pub fn ir_text(&self) -> String {
        nde_compiler::ir::print::print_program(&self.ir)
    }

    /// The models, in file order.
    pub fn model_names(&self) -> Vec<&str> {
        self.ir.models.iter().map(|m| m.name.as_str()).collect()
    }

    /// The model `name`.
    pub fn model(&self, name: &str) -> Result<Model<'_>, Error> {
        self.pick_model(Some(name))
    }

    /// The file's only model ([`Error::NotFound`] naming them when it has several).
    pub fn default_model(&self) -> Result<Model<'_>, Error> {
        self.pick_model(None)
    }

    fn pick_model(&self, name: Option<&str>) -> Result<Model<'_>, Error> {
        let model = driver::select_model(&self.ir, name).map_err(|e| Error::NotFound {
            kind: "model",
            name: e.requested.unwrap_or_default(),
            available: e.available,
        })?;
        Ok(Model::new(model, &self.ir.solvers))
    }

    /// The solver declarations (`solver fast = dopri5(...)`), in file order.
    pub fn solver_names(&self) -> Vec<&str> {
        self.ir.solvers.iter().map(|s| s.name.as_str()).collect()
    }

    /// The `loss` blocks, in file order.
    pub fn loss_names(&self) -> Vec<&str> {
        self.ir.losses.iter().map(|l| l.name.as_str()).collect()
    }

    /// The `train` blocks, by the name of the loss each trains, in file order.
    pub fn training_names(&self) -> Vec<&str> {
        self.ir.trains.iter().map(|t| t.loss.as_str()).collect()
    }

    /// The loss `name`, compiled with its gradient: evaluated on its whole
    /// data like `nde eval` (with its `train` block's solver, initial state
    /// and seed where the file has one).
    pub fn loss(&self, name: &str) -> Result<Loss, Error> {
        if self.ir.loss(name).is_none() {
            return Err(not_found("loss", name, self.loss_names()));
        }
        let opts = TrainOptions { threads: self.options.threads, ..Default::default() };
        let trainer = train::evaluator(&self.ir, name, &opts)?;
        Ok(Loss::new(trainer))
    }

    /// The `train` block of loss `name`, ready to step: the trainer of
    /// `nde train` (same windows, optimiser, seeds and results).
    pub fn training(&self, name: &str) -> Result<Training, Error> {
        let spec = self
            .ir
            .trains
            .iter()
            .find(|t| t.loss == name)
            .ok_or_else(|| not_found("train block", name, self.training_names()))?
            .clone();
        // Windows are checked with the data's length set to the window's.
        let windowed = match spec.batch {
            BatchSpec::Windows { length, .. } => {
                let data = self.ir.loss(&spec.loss).map(|l| l.data.clone()).unwrap_or_default();
                let frontend = FrontendOptions { seed: self.options.seed, data_times: vec![(data, length)] };
                Some(check_origin(&self.origin, &frontend)?)
            }
            _ => None,
        };
        let opts = TrainOptions { threads: self.options.threads, ..Default::default() };
        let trainer = Trainer::new(&self.ir, windowed.as_ref().map(|c| &c.program), &spec, &opts)?;
        Ok(Training::new(trainer))
    }
}

fn check_origin(origin: &Origin, frontend: &FrontendOptions) -> Result<Checked, Error> {
    let checked = match origin {
        Origin::File(path) => driver::check_file(path, frontend),
        Origin::Text { name, text } => {
            let mut sources = SourceMap::new();
            let root = sources.add(name.clone(), text.clone());
            driver::check_source(sources, root, &FsLoader, frontend)
        }
    };
    checked.map_err(|f| Error::Compile(CompileErrors::new(f.sources, f.diagnostics.0)))
}

pub(crate) fn not_found(kind: &'static str, name: &str, available: Vec<&str>) -> Error {
    Error::NotFound { kind, name: name.to_string(), available: available.into_iter().map(str::to_string).collect() }
}
