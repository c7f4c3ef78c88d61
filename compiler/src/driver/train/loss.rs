//! A loss block compiled: its value and its vector–Jacobian product as
//! kernels over the flat input buffer [`LossLayout`] describes.
//!
//! Never: solve, or decide what goes into the buffer (the trainer fills it).

use super::super::prepare;
use crate::autodiff;
use crate::codegen::{CodegenError, CompiledKernel, JitModule, JitOptions};
use crate::ir;
use crate::ir::training::{LossIr, LossLayout};

/// A loss block's compiled value and gradient kernels (see [`LossLayout`]
/// for the input buffer).
pub struct LossKernels {
    _jit: JitModule,
    value: CompiledKernel,
    grad: CompiledKernel,
    pub layout: LossLayout,
}

/// The two functions a loss compiles to: its value and its vector–Jacobian
/// product, simplified (what [`compile_loss`] JIT-compiles and `nde build`
/// compiles ahead of time).
pub(crate) fn loss_functions(loss: &LossIr) -> Result<(ir::Function, ir::Function), CodegenError> {
    ir::verify::verify(&loss.function).map_err(CodegenError::Verify)?;
    Ok((prepare(loss.function.clone()), prepare(autodiff::vjp(&loss.function))))
}

/// Compiles `loss` and its vector–Jacobian product.
pub fn compile_loss(loss: &LossIr, opts: &JitOptions) -> Result<LossKernels, CodegenError> {
    let (value, grad) = loss_functions(loss)?;
    let jit = JitModule::compile(&[&value, &grad], opts)?;
    let kernel = |f: &ir::Function| jit.kernel(&f.name).cloned().ok_or_else(|| CodegenError::missing(&f.name));
    let (value_k, grad_k) = (kernel(&value)?, kernel(&grad)?);
    Ok(LossKernels { value: value_k, grad: grad_k, layout: loss.layout, _jit: jit })
}

impl LossKernels {
    /// Work space for [`LossKernels::value`] and [`LossKernels::gradient`].
    pub fn scratch(&self) -> Vec<f64> {
        let g = &self.grad;
        vec![0.0; (self.value.scratch_len + 1).max(g.n_state + g.out_len + g.scratch_len)]
    }

    /// The loss at `input` (`layout.len()` values) and `params`.
    pub fn value(&self, input: &[f64], params: &[f64], scratch: &mut [f64]) -> f64 {
        let k = &self.value;
        assert!(input.len() == k.n_state && params.len() == k.n_param);
        let (out, rest) = scratch.split_at_mut(1);
        super::super::call_kernel(k, params, 0.0, input, out, rest);
        out[0]
    }

    /// `weight · ∂loss/∂input` into `d_input` (overwritten) and
    /// `weight · ∂loss/∂params` added to `d_params`.
    pub fn gradient(
        &self,
        input: &[f64],
        params: &[f64],
        weight: f64,
        d_input: &mut [f64],
        d_params: &mut [f64],
        scratch: &mut [f64],
    ) {
        let k = &self.grad;
        let n = input.len();
        assert!(n + 1 == k.n_state && params.len() == k.n_param && d_input.len() == n);
        let (buf, rest) = scratch.split_at_mut(k.n_state);
        let (out, kscratch) = rest.split_at_mut(k.out_len);
        buf[..n].copy_from_slice(input);
        buf[n] = weight;
        super::super::call_kernel(k, params, 0.0, buf, out, kscratch);
        d_input.copy_from_slice(&out[..n]);
        for (g, d) in d_params.iter_mut().zip(&out[n..]) {
            *g += d;
        }
    }
}
