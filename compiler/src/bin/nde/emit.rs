//! `nde emit ast|ir|grad|clif`: print one stage's form of a file.

use std::path::Path;

use nde_compiler::autodiff::print::{print_grad, GradFunctions};
use nde_compiler::codegen::{emit_clif, JitOptions};
use nde_compiler::driver;
use nde_compiler::span::SourceMap;

use crate::{exit, fail, render};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Stage {
    /// The syntax tree, as parsed.
    Ast,
    /// The tensor IR of each model: layout, right-hand side and initial state.
    Ir,
    /// The derivatives of each model's right-hand side in readable maths:
    /// the Jacobian, the parameter gradients and the time derivative.
    Grad,
    /// The cranelift IR of each model's right-hand-side kernel.
    Clif,
}

pub fn emit(stage: Stage, file: &Path, model: Option<&str>, wrt: Option<&str>) -> u8 {
    if wrt.is_some() && !matches!(stage, Stage::Grad) {
        return fail(exit::USAGE, "--wrt applies to `nde emit grad` only");
    }
    if let Stage::Ast = stage {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => return fail(exit::FILE_ERROR, format!("cannot read {}: {e}", file.display())),
        };
        let mut sources = SourceMap::new();
        let id = sources.add(file.display().to_string(), text.clone());
        return match nde_compiler::syntax::parse(&text, id) {
            Ok(m) => {
                print!("{}", nde_compiler::syntax::print::print_module(&m));
                0
            }
            Err(d) => {
                render::emit(&sources, &[d]);
                exit::MODEL_ERRORS
            }
        };
    }
    let checked = match driver::check_file(file, &Default::default()) {
        Ok(c) => c,
        Err(failure) => {
            render::emit(&failure.sources, &failure.diagnostics.0);
            return exit::MODEL_ERRORS;
        }
    };
    if stage == Stage::Ir && model.is_none() {
        print!("{}", nde_compiler::ir::print::print_program(&checked.program));
        return 0;
    }
    let models: Vec<_> = match model {
        Some(name) => match driver::select_model(&checked.program, Some(name)) {
            Ok(m) => vec![m],
            Err(e) => return fail(exit::USAGE, e),
        },
        None => checked.program.models.iter().collect(),
    };
    for m in models {
        match stage {
            Stage::Ir => print!("{}", nde_compiler::ir::print::print_model(m)),
            Stage::Grad => {
                if let Err(code) = grad(m, wrt) {
                    return code;
                }
            }
            Stage::Clif => match emit_clif(&m.rhs, &JitOptions::default()) {
                Ok(text) => print!("{text}"),
                Err(e) => return fail(exit::MODEL_ERRORS, e),
            },
            Stage::Ast => unreachable!(),
        }
    }
    0
}

/// Prints `m`'s derivatives, built exactly as `compile_model` builds its kernels.
fn grad(m: &nde_compiler::ir::ModelIr, wrt: Option<&str>) -> Result<(), u8> {
    let funcs = driver::KernelFunctions::of(m).map_err(|e| fail(exit::MODEL_ERRORS, e))?;
    let grads = GradFunctions { vjp: &funcs.vjp, jac: &funcs.jac, dfdt: &funcs.dfdt };
    let text = print_grad(m, &grads, wrt).map_err(|e| fail(exit::USAGE, e))?;
    print!("{text}");
    Ok(())
}
