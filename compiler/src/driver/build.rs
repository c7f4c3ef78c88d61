//! `nde build`: a model compiled into a self-contained shared library with
//! a C header.
//!
//! Owns the pipeline: the model's kernels (`rhs`, `vjp`, `jac`, `dfdt` and
//! `init`, plus each exportable loss's kernel and VJP) compiled ahead of
//! time into one object file ([`crate::codegen::ObjectModule`], the JIT's
//! code), the C header and glue (`csrc`, `header`), and the link with the
//! static runtime `libnde_embed.a` into `libNAME.so` that exports only the
//! `NAME_*` symbols. Which losses can be exported, and why not, is
//! `loss.rs`. Never: print (the report says what happened), or leave a
//! half-written library (the link writes a temporary file, renamed at the
//! end).

mod csrc;
mod header;
mod loss;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::codegen::{CodegenError, JitOptions, ObjectModule};
use crate::ir::{self, ModelIr, ProgramIr};

pub use csrc::{c_string, exported_symbols, CLoss, CModel, ABI_VERSION};

use super::{prepare, solver_option, state_columns, KernelFunctions};

/// Where things go and which tools to use.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// The shared library to write (`libNAME.so`).
    pub library: PathBuf,
    /// The header to write (`NAME.h`).
    pub header: PathBuf,
    /// The static runtime (`libnde_embed.a`).
    pub runtime: PathBuf,
    /// The C compiler driver (`cc`).
    pub cc: String,
    /// Code generation options (those of `nde run` by default).
    pub jit: JitOptions,
}

/// What a build produced.
#[derive(Clone, Debug)]
pub struct BuildReport {
    pub library: PathBuf,
    pub header: PathBuf,
    /// The symbols the library exports.
    pub symbols: Vec<String>,
    /// Losses exported as `NAME_loss_LOSS`.
    pub losses: Vec<String>,
    /// Losses of the file not exported, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// Why a build failed.
#[derive(Debug)]
pub enum BuildError {
    /// The model cannot be built into a library (an SDE or CDE model, a
    /// name that is not a C identifier).
    Unsupported(String),
    /// Code generation failed.
    Codegen(CodegenError),
    /// A loss's data could not be prepared.
    Loss { loss: String, message: String },
    /// A file could not be written.
    Io { path: PathBuf, source: std::io::Error },
    /// The C compiler could not be started.
    NoCompiler { cc: String, source: std::io::Error },
    /// The C compiler or the linker failed.
    Link { command: String, output: String },
    /// The static runtime `libnde_embed.a` was not found.
    NoRuntime { searched: Vec<PathBuf>, env: Option<PathBuf> },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Unsupported(m) => f.write_str(m),
            BuildError::Codegen(e) => write!(f, "code generation failed: {e}"),
            BuildError::Loss { loss, message } => write!(f, "loss `{loss}`: {message}"),
            BuildError::Io { path, source } => write!(f, "cannot write {}: {source}", path.display()),
            BuildError::NoCompiler { cc, source } => write!(
                f,
                "cannot run the C compiler `{cc}`: {source}; install one (e.g. `apt-get install gcc`) or name it with CC"
            ),
            BuildError::Link { command, output } => write!(f, "linking failed: {command}\n{output}"),
            BuildError::NoRuntime { env: Some(p), .. } => {
                write!(f, "NDE_EMBED_LIB names {}, which is not a file", p.display())
            }
            BuildError::NoRuntime { searched, env: None } => {
                let dirs: Vec<String> = searched.iter().map(|d| d.display().to_string()).collect();
                write!(
                    f,
                    "cannot find the static runtime libnde_embed.a (looked in {}); build it with \
                     `cargo build --release -p nde-embed` (`cargo build -p nde-embed` for a debug nde), \
                     or name it with NDE_EMBED_LIB",
                    dirs.join(" and ")
                )
            }
        }
    }
}

impl std::error::Error for BuildError {}

impl From<CodegenError> for BuildError {
    fn from(e: CodegenError) -> Self {
        BuildError::Codegen(e)
    }
}

fn is_c_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `f` renamed to the object file's symbol for kernel `what` of `model`.
fn renamed(mut f: ir::Function, model: &str, what: &str) -> ir::Function {
    f.name = format!("nde_k_{model}_{what}");
    f
}

/// The default solver of the library (`nde run` without `--solver`): the
/// file's only declaration with its options, else tsit5.
fn default_solver(program: &ProgramIr) -> (String, f64, f64, f64, usize) {
    match program.solvers.as_slice() {
        [only] => {
            let opt = |k| solver_option(only, k).unwrap_or(0.0);
            (only.method.clone(), opt("rtol"), opt("atol"), opt("dt"), opt("max_steps") as usize)
        }
        _ => ("tsit5".to_string(), 0.0, 0.0, 0.0, 0),
    }
}

/// Builds `model` of `program` with parameters `params` into a shared library.
pub fn build_library(
    program: &ProgramIr,
    model: &ModelIr,
    params: &[f64],
    opts: &BuildOptions,
) -> Result<BuildReport, BuildError> {
    let name = &model.name;
    if model.is_sde() || model.is_cde() {
        let kind = if model.is_sde() { "an SDE model (it has noise terms)" } else { "a controlled (CDE) model" };
        return Err(BuildError::Unsupported(format!(
            "`{name}` is {kind}; `nde build` makes libraries of ODE models only"
        )));
    }
    if !is_c_identifier(name) {
        return Err(BuildError::Unsupported(format!("the model name `{name}` is not a C identifier")));
    }
    let kf = KernelFunctions::of(model)?;
    let mut funcs = vec![
        renamed(kf.rhs, name, "rhs"),
        renamed(kf.vjp, name, "vjp"),
        renamed(kf.jac, name, "jac"),
        renamed(kf.dfdt, name, "dfdt"),
        renamed(prepare(model.init.clone()), name, "init"),
    ];
    let plan = loss::plan(program, model, params, &opts.jit)?;
    for (i, l) in plan.exported.iter().enumerate() {
        funcs.extend(l.functions(i).into_iter().map(|(what, f)| renamed(f.clone(), name, &what)));
    }
    let refs: Vec<&ir::Function> = funcs.iter().collect();
    let object = ObjectModule::compile(name, &refs, &opts.jit)?;
    let k = |i: usize| object.kernels[i].clone();
    let (method, rtol, atol, dt, max_steps) = default_solver(program);
    let mut next = 5;
    let mut losses = Vec::with_capacity(plan.exported.len());
    for (i, l) in plan.exported.iter().enumerate() {
        let count = l.functions(i).len();
        losses.push(l.c_loss(&(next..next + count).map(k).collect::<Vec<_>>()));
        next += count;
    }
    let cmodel = CModel {
        name: name.clone(),
        n_state: model.n_state(),
        n_param: model.n_param(),
        state_names: state_columns(model),
        param_arrays: model.params.iter().map(|p| (p.name.clone(), p.offset, p.shape.len())).collect(),
        params: params.to_vec(),
        default_method: method,
        default_rtol: rtol,
        default_atol: atol,
        default_dt: dt,
        default_max_steps: max_steps,
        rhs: k(0),
        vjp: k(1),
        jac: k(2),
        dfdt: k(3),
        init: k(4),
        losses,
    };
    let header_text = header::header(&cmodel);
    write(&opts.header, header_text.as_bytes())?;
    link(&cmodel, &object.bytes, &header_text, opts)?;
    Ok(BuildReport {
        library: opts.library.clone(),
        header: opts.header.clone(),
        symbols: exported_symbols(&cmodel),
        losses: cmodel.losses.iter().map(|l| l.name.clone()).collect(),
        skipped: plan.skipped,
    })
}

/// The static runtime `libnde_embed.a`: `$NDE_EMBED_LIB`, else the newest
/// copy beside the running executable (`target/<profile>/`, where `cargo
/// build -p nde-embed` puts it) or in its `deps/` (where cargo puts it, with
/// a hash in the name, when it is built as a dependency).
pub fn find_runtime() -> Result<PathBuf, BuildError> {
    if let Some(p) = std::env::var_os("NDE_EMBED_LIB").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok(p) } else { Err(BuildError::NoRuntime { searched: Vec::new(), env: Some(p) }) };
    }
    let exe = std::env::current_exe().map_err(|source| BuildError::Io { path: PathBuf::from("nde"), source })?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let searched = vec![dir.to_path_buf(), dir.join("deps")];
    // The newest of them: a stale copy from an older build must not win.
    let newest = searched
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|entries| entries.filter_map(Result::ok))
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name == "libnde_embed.a" || (name.starts_with("libnde_embed-") && name.ends_with(".a"))
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max();
    match newest {
        Some((_, path)) => Ok(path),
        None => Err(BuildError::NoRuntime { searched, env: None }),
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    std::fs::write(path, bytes).map_err(|source| BuildError::Io { path: path.to_path_buf(), source })
}

/// A fresh temporary folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir, BuildError> {
        let base = std::env::temp_dir();
        for i in 0..1000u32 {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            let dir = base.join(format!("nde-build-{}-{nanos}-{i}", std::process::id()));
            if std::fs::create_dir(&dir).is_ok() {
                return Ok(TempDir(dir));
            }
        }
        let source = std::io::Error::other("cannot create a temporary folder");
        Err(BuildError::Io { path: base, source })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compiles the glue and links everything into `opts.library`.
fn link(m: &CModel, object: &[u8], header_text: &str, opts: &BuildOptions) -> Result<(), BuildError> {
    let tmp = TempDir::new()?;
    let obj = tmp.0.join("kernels.o");
    let glue = tmp.0.join("glue.c");
    let script = tmp.0.join("exports.map");
    write(&obj, object)?;
    write(&tmp.0.join(format!("{}.h", m.name)), header_text.as_bytes())?;
    write(&glue, csrc::glue(m).as_bytes())?;
    write(&script, csrc::version_script(m).as_bytes())?;
    let partial = tmp.0.join("lib.so");
    let mut cmd = Command::new(&opts.cc);
    cmd.args(["-shared", "-fPIC", "-O2", "-std=c99", "-w"])
        .arg("-I")
        .arg(&tmp.0)
        .arg(&glue)
        .arg(&obj)
        .arg(&opts.runtime)
        .arg(format!("-Wl,--version-script={}", script.display()))
        .args([
            "-Wl,--gc-sections",
            "-Wl,--strip-debug",
            "-Wl,-z,noexecstack",
            "-Wl,--as-needed",
            "-static-libgcc",
            "-lm",
            "-o",
        ])
        .arg(&partial);
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|source| BuildError::NoCompiler { cc: opts.cc.clone(), source })?;
    if !out.status.success() {
        let mut output = String::from_utf8_lossy(&out.stderr).into_owned();
        output.push_str(&String::from_utf8_lossy(&out.stdout));
        return Err(BuildError::Link { command: shown, output });
    }
    // The final file appears whole: copied beside its destination, then renamed.
    let dest = &opts.library;
    let staging = dest.with_extension("so.partial");
    std::fs::copy(&partial, &staging).map_err(|source| BuildError::Io { path: staging.clone(), source })?;
    std::fs::rename(&staging, dest).map_err(|source| BuildError::Io { path: dest.clone(), source })
}

#[cfg(test)]
mod tests;
