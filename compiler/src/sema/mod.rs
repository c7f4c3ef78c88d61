//! Semantic analysis: names, imports, the standard library and shapes.
//! AST modules in, a [`CheckedProgram`] ([`tree`]) and diagnostics out.
//!
//! Owns every rule the language states about meaning: which names are in
//! scope (builtins; `use` imports; file-level `const` and `fn`; inside a
//! model `t`, params, states, nets and `let`s), the static shape of every
//! expression, compile-time evaluation of constants and indices, inlining of
//! user fns, net expansion, and the structure of models and solvers.
//! It reports every error it finds (E02xx names and imports, E03xx shapes,
//! E04xx model structure, E05xx solvers), keeps going after one, and gives a
//! failed expression no shape so that it causes no further reports.
//!
//! Never: read files or parse text (the driver loads imports and hands over
//! parsed modules; the one exception is re-parsing the embedded stdlib for
//! "`mlp` is in std.nn" hints), see pest types, or build IR. Lowering relies
//! on the checked tree satisfying every IR shape rule.

mod budget;
mod builtins;
mod calls;
mod checker;
mod consts;
mod expr;
mod layers;
mod model;
mod scope;
mod shapes;
mod solver;
pub mod tree;

pub use builtins::{closest, edit_distance, SOLVER_METHODS, SOLVER_OPTIONS};
pub use tree::{CheckedModel, CheckedProgram, ParamDecl, ParamInit, StateDecl, TExpr, TKind};

use crate::diag::Diagnostics;
use crate::span::{FileId, SourceMap};
use crate::stdlib::StdModule;
use crate::syntax::ast;

use checker::Checker;

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

/// Checks `modules[0]` (the root) with the modules it imports.
///
/// Every `fn` and `const` of every module is checked; the root's models and
/// solvers make up the result (an imported file's models and solvers are
/// ignored). The program is complete only when the diagnostics hold no
/// error.
pub fn check(modules: &[LoadedModule], sources: &SourceMap) -> (CheckedProgram, Diagnostics) {
    let mut ck = Checker::new(modules, sources);
    let mut program = CheckedProgram::default();
    if !modules.is_empty() {
        ck.build_scopes();
        ck.check_fn_bodies();
        ck.check_consts();
        for item in &modules[0].ast.items {
            match item {
                ast::Item::Model(m) => {
                    if let Some(m) = ck.check_model(0, m) {
                        if ck.check_budget(&m) {
                            program.models.push(m);
                        }
                    }
                }
                ast::Item::Solver(s) => {
                    if let Some(s) = ck.check_solver(0, s) {
                        program.solvers.push(s);
                    }
                }
                _ => {}
            }
        }
    }
    let diags = Diagnostics(ck.finish_diagnostics());
    (program, diags)
}

#[cfg(test)]
mod tests;
