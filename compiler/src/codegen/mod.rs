//! Cranelift code generation: IR -> native kernels.
