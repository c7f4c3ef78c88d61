//! Semantic analysis: names, imports, the standard library and shapes.
//! AST modules in, a [`CheckedProgram`] ([`tree`]) and diagnostics out.
//!
//! Owns every rule the language states about meaning: which names are in
//! scope (builtins; `use` imports; file-level `const`, `fn`, `model`,
//! `solver`, `data` and `loss`; inside a model `t`, params, states, nets and
//! `let`s; inside a loss its `let`s), the static shape of every expression,
//! compile-time evaluation of constants and indices, inlining of user fns,
//! net expansion, the structure of models and solvers, and the training
//! declarations: data sets, losses (one solve, missing observations masked
//! and reduced away) and `train` blocks. It reports every error it finds
//! (E02xx names and imports, E03xx shapes, E04xx model structure, E05xx
//! solvers, E07xx data, losses and training), keeps going after one, and
//! gives a failed expression no shape so that it causes no further reports.
//!
//! Never: read files or parse text (the driver loads imports and data files
//! and hands over parsed modules and loaded series; the one exception is
//! re-parsing the embedded stdlib for "`mlp` is in std.nn" hints), see pest
//! types, or build IR. Lowering relies on the checked tree satisfying every
//! IR shape rule.

mod budget;
mod builtins;
mod calls;
mod checker;
mod consts;
mod data;
mod expr;
mod layers;
mod loss;
mod model;
mod objectives;
mod scope;
mod shapes;
mod solver;
mod train;
pub mod tree;

pub use builtins::{closest, edit_distance, SOLVER_METHODS, SOLVER_OPTIONS, TRAIN_OPTIONS};
pub use data::load_path;
pub use tree::{
    CheckedDiffusion, CheckedLoss, CheckedModel, CheckedProgram, LossInput, ParamDecl, ParamInit, StateDecl, TExpr,
    TKind,
};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use nde_runtime::data::Series;

use crate::diag::Diagnostics;
use crate::span::{FileId, SourceMap};
use crate::stdlib::StdModule;
use crate::syntax::ast;

use checker::{Checker, ItemRef, ModelInfo};

/// Where a module's source came from.
#[derive(Debug)]
pub enum ModuleOrigin {
    /// The file being compiled.
    Root,
    /// A standard-library module.
    Std(&'static StdModule),
    /// A file imported with `use "path".{...}` (the path as resolved).
    File(String),
}

/// A parsed module and where its imports point.
#[derive(Debug)]
pub struct LoadedModule {
    pub file: FileId,
    pub ast: ast::Module,
    pub origin: ModuleOrigin,
    /// For each `use` item of `ast`, in order: the index of the module it
    /// imports from, or `None` if loading it failed (already reported).
    pub uses: Vec<Option<usize>>,
}

/// A data file the front end loaded for `data NAME = load("path")`.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedData {
    /// The path as written, resolved against the declaring file's folder.
    pub path: PathBuf,
    pub series: Arc<Series>,
}

/// What the front end hands sema beyond the parsed modules.
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// For each `data` item of the root whose source is `load("path")` (see
    /// [`load_path`]), by its index in the root's items: the loaded file, or
    /// `None` when loading failed (the caller reported it, E0602).
    pub data_files: HashMap<usize, Option<LoadedData>>,
    /// Treat data set NAME as having N save times in losses: `DATA.t`,
    /// `DATA.y` and the solutions saved at `DATA.t` have N rows. For
    /// lowering a loss over training windows; nothing else changes.
    pub data_times: Vec<(String, usize)>,
}

/// Checks `modules[0]` (the root) with the modules it imports; see [`check_with`].
pub fn check(modules: &[LoadedModule], sources: &SourceMap) -> (CheckedProgram, Diagnostics) {
    check_with(modules, sources, &CheckOptions::default())
}

/// Checks `modules[0]` (the root) with the modules it imports.
///
/// Every `fn` and `const` of every module is checked; the root's models,
/// solvers, data sets, losses and `train` blocks make up the result (an
/// imported file's are ignored). The program is complete only when the
/// diagnostics hold no error.
pub fn check_with(
    modules: &[LoadedModule],
    sources: &SourceMap,
    options: &CheckOptions,
) -> (CheckedProgram, Diagnostics) {
    let mut ck = Checker::new(modules, sources, options);
    let mut program = CheckedProgram::default();
    if !modules.is_empty() {
        ck.build_scopes();
        ck.check_fn_bodies();
        ck.check_consts();
        let items = &modules[0].ast.items;
        let refs = || (0..items.len()).map(|item| ItemRef { module: 0, item });
        for (r, item) in refs().zip(items) {
            match item {
                ast::Item::Model(m) => {
                    if let Some(m) = ck.check_model(0, m) {
                        if ck.check_budget(&m) {
                            let n_state = m.states.iter().map(|s| s.shape.len()).sum();
                            let n_param = m.params.iter().map(|p| p.shape.len()).sum();
                            ck.models.insert(r, ModelInfo { name: m.name.clone(), n_state, n_param });
                            program.models.push(m);
                        }
                    }
                }
                ast::Item::Solver(s) => {
                    if let Some(s) = ck.check_solver(0, s) {
                        ck.solvers.insert(r, s.clone());
                        program.solvers.push(s);
                    }
                }
                _ => {}
            }
        }
        for (r, item) in refs().zip(items) {
            if let ast::Item::Data(d) = item {
                program.data.extend(ck.check_data(r, d));
            }
        }
        for item in items {
            if let ast::Item::Loss(l) = item {
                program.losses.extend(ck.check_loss(0, l));
            }
        }
        let mut trained: Vec<&ast::TrainItem> = Vec::new();
        for item in items {
            let ast::Item::Train(t) = item else { continue };
            if let Some(first) = trained.iter().find(|f| f.loss.name == t.loss.name) {
                ck.report(
                    crate::diag::Diagnostic::error(
                        "E0712",
                        format!("loss `{}` is trained twice", t.loss.name),
                        t.loss.span,
                    )
                    .label("a second `train` block for this loss")
                    .with_secondary(first.loss.span, "the first one")
                    .hint("merge the two blocks; each loss has at most one `train` block"),
                );
                continue;
            }
            trained.push(t);
            program.trains.extend(ck.check_train(0, t, &program.losses));
        }
    }
    let diags = Diagnostics(ck.finish_diagnostics());
    (program, diags)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod training_tests;
