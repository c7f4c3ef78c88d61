//! `nde build`: a model compiled into a shared library with a C header.

use std::path::{Path, PathBuf};

use nde_compiler::codegen::JitOptions;
use nde_compiler::driver::build::{self, build_library, BuildError, BuildOptions};
use nde_compiler::driver::{self, FrontendOptions};

use crate::{exit, fail, render};

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  nde build examples/lorenz.nde -o liblorenz.so\n  \
nde build examples/bench_mlp.nde --params ../shared/bench/mlp_weights.npz -o libbench_mlp.so\n  \
cc main.c -I. -L. -llorenz -Wl,-rpath,'$ORIGIN' -o main\n\n\
See examples/embed/c and examples/embed/python.")]
pub struct BuildArgs {
    /// The .nde file.
    file: PathBuf,
    /// Which model to build (needed when the file defines several).
    #[arg(long)]
    model: Option<String>,
    /// Parameter values from a numpy .npz (e.g. written by `nde train`); default: the file's initial values.
    #[arg(long)]
    params: Option<PathBuf>,
    /// The library to write (default: libNAME.so in the current folder).
    #[arg(short, long)]
    out: Option<PathBuf>,
    /// The header to write (default: NAME.h beside the library).
    #[arg(long)]
    header: Option<PathBuf>,
    /// Seed for parameter initialisers (glorot, normal).
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn build(args: &BuildArgs) -> u8 {
    match build_inner(args) {
        Ok(()) => 0,
        Err(code) => code,
    }
}

fn build_inner(args: &BuildArgs) -> Result<(), u8> {
    let opts = FrontendOptions { seed: args.seed, ..Default::default() };
    let checked = driver::check_file(&args.file, &opts).map_err(|failure| {
        render::emit(&failure.sources, &failure.diagnostics.0);
        exit::MODEL_ERRORS
    })?;
    let model = driver::select_model(&checked.program, args.model.as_deref()).map_err(|e| fail(exit::USAGE, e))?;
    let mut params = model.param_values.clone();
    if let Some(path) = &args.params {
        crate::run::load_params(path, model, &mut params)?;
    }
    let library = args.out.clone().unwrap_or_else(|| PathBuf::from(format!("lib{}.so", model.name)));
    let header = args.header.clone().unwrap_or_else(|| {
        let dir = library.parent().unwrap_or(Path::new(""));
        dir.join(format!("{}.h", model.name))
    });
    let runtime = find_runtime()?;
    let cc = std::env::var("CC").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "cc".to_string());
    let build = BuildOptions { library, header, runtime, cc, jit: JitOptions::default() };
    let report = build_library(&checked.program, model, &params, &build).map_err(|e| {
        let code = match e {
            BuildError::Unsupported(_) => exit::USAGE,
            BuildError::Codegen(_) => exit::MODEL_ERRORS,
            _ => exit::FILE_ERROR,
        };
        fail(code, e)
    })?;
    for (loss, why) in &report.skipped {
        eprintln!("note: loss `{loss}` is not exported: {why}");
    }
    let losses =
        if report.losses.is_empty() { String::new() } else { format!(", losses: {}", report.losses.join(", ")) };
    eprintln!(
        "wrote {} and {} ({} symbols{losses})",
        report.library.display(),
        report.header.display(),
        report.symbols.len()
    );
    Ok(())
}

/// `libnde_embed.a` (see [`find_runtime`](nde_compiler::driver::build::find_runtime)), as an exit code on failure.
fn find_runtime() -> Result<PathBuf, u8> {
    build::find_runtime().map_err(|e| fail(exit::FILE_ERROR, e))
}
