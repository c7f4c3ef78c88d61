//! The ahead-of-time backend: kernels compiled into a relocatable object
//! file with `cranelift-object`, for shared libraries (`nde build`).
//!
//! Owns the object module's set-up and what it reports: the file's bytes
//! and each kernel's symbols and buffer sizes ([`ObjectKernel`]). The
//! kernels come from the same lowering as the JIT's
//! (`module::define_kernels`) with the same ISA settings except
//! position-independent code, so an object file's kernel computes the same
//! bits as the JIT's. Its imports are libm's `sin`, `cos`, `tan`, `pow` (and
//! cranelift's libcalls, libm names too) and the runtime's routines
//! `nde_rt_*` (exported by `nde_runtime::linalg`), which the linker resolves.
//!
//! Never: link, write files or choose symbol names (a kernel's symbol is its
//! function's name; callers that put several models in one process give
//! the functions distinct names).

use super::jit::host_isa;
use super::module::define_kernels;
use super::{CodegenError, JitOptions};
use crate::ir::Function;
use cranelift_module::default_libcall_names;
use cranelift_object::{ObjectBuilder, ObjectModule as ClifObjectModule};

/// One kernel in an object file: its symbols and buffer sizes (the
/// metadata of [`super::CompiledKernel`] without addresses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectKernel {
    /// The single-trajectory entry point's symbol (the function's name).
    pub symbol: String,
    /// The batched entry point's symbol (`symbol` + `_batch`).
    pub batch_symbol: String,
    pub n_state: usize,
    pub n_param: usize,
    pub out_len: usize,
    pub scratch_len: usize,
    pub batch_scratch_len: usize,
}

/// A relocatable object file holding compiled kernels.
#[derive(Clone, Debug)]
pub struct ObjectModule {
    /// The object file (ELF on Linux), ready to be written and linked.
    pub bytes: Vec<u8>,
    /// The kernels it defines, in the order they were given.
    pub kernels: Vec<ObjectKernel>,
}

impl ObjectModule {
    /// Compiles every function into one object file named `name` (function
    /// names must be unique; each `f` gives symbols `f.name` and
    /// `f.name_batch`, exported). Each function gets its own section, so a
    /// linker can drop unused ones.
    pub fn compile(name: &str, funcs: &[&Function], opts: &JitOptions) -> Result<ObjectModule, CodegenError> {
        let mut builder = ObjectBuilder::new(host_isa(opts, true)?, name, default_libcall_names())
            .map_err(|e| CodegenError::cranelift("object file", e))?;
        builder.per_function_section(true);
        let mut module = ClifObjectModule::new(builder);
        let decls = define_kernels(&mut module, funcs, opts, None, true)?;
        let bytes = module.finish().emit().map_err(|e| CodegenError::cranelift("writing the object file", e))?;
        let kernels = decls
            .into_iter()
            .map(|d| ObjectKernel {
                batch_symbol: format!("{}_batch", d.name),
                symbol: d.name,
                n_state: d.n_state,
                n_param: d.n_param,
                out_len: d.out_len,
                scratch_len: d.scratch_len,
                batch_scratch_len: d.batch_scratch_len,
            })
            .collect();
        Ok(ObjectModule { bytes, kernels })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codegen::JitModule;
    use crate::ir::random::{random_function, RandomConfig};

    #[test]
    fn an_object_file_defines_both_entry_points_with_the_jits_sizes() {
        let mut f = random_function(7, &RandomConfig::default());
        f.name = "m_rhs".to_string();
        let opts = JitOptions::default();
        let obj = ObjectModule::compile("m", &[&f], &opts).unwrap();
        let jit = JitModule::compile(&[&f], &opts).unwrap();
        let (o, j) = (&obj.kernels[0], jit.kernel("m_rhs").unwrap());
        assert_eq!((o.symbol.as_str(), o.batch_symbol.as_str()), ("m_rhs", "m_rhs_batch"));
        assert_eq!(
            (o.n_state, o.n_param, o.out_len, o.scratch_len, o.batch_scratch_len),
            (j.n_state, j.n_param, j.out_len, j.scratch_len, j.batch_scratch_len)
        );
        assert_eq!(&obj.bytes[..4], b"\x7fELF");
        let has = |s: &str| obj.bytes.windows(s.len() + 1).any(|w| &w[..s.len()] == s.as_bytes() && w[s.len()] == 0);
        assert!(has("m_rhs") && has("m_rhs_batch"));
    }

    #[test]
    fn duplicate_names_are_an_error_not_a_bad_object() {
        let f = random_function(1, &RandomConfig::default());
        let err = ObjectModule::compile("m", &[&f, &f], &JitOptions::default()).unwrap_err();
        assert!(matches!(err, CodegenError::DuplicateKernel(_)));
    }
}
