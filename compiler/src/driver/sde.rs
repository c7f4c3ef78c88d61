//! SDE models in the runtime: the kernels of `dy = f dt + g dW` and their
//! binding to the runtime's stochastic field traits.
//!
//! Owns the IR of an SDE model's kernels ([`SdeFunctions`]: the drift `f`
//! (the model's `rhs`) and its VJP, the diffusion `g` (the model's
//! [`crate::ir::Diffusion`]) and its VJP, and for diagonal noise the
//! Milstein term `g_i ∂g_i/∂y_i`), their compilation into one JIT module
//! ([`SdeKernels`], with the same machinery as [`super::compile_model`]),
//! and [`ModelSdeField`], which binds parameters and implements
//! [`SdeField`] and [`DiffSdeField`] for the SDE solvers.
//!
//! Kernel conventions (all the 5-argument kernel ABI; `n` states, `L` =
//! [`Noise::diffusion_len`]`(n)` diffusion entries):
//!
//! | kernel | `y` buffer | `out` |
//! |---|---|---|
//! | `M.rhs` | `y` (`n`) | `f(t, y, p)` (`n`) |
//! | `M.vjp` | `[y; a]` (`2n`) | `aᵀ∂f/∂y` (`n`), `aᵀ∂f/∂p` (`n_param`) |
//! | `M.g` | `y` (`n`) | `g(t, y, p)` (`L`, general noise row-major `n × m`) |
//! | `M.g.vjp` | `[y; a]` (`n + L`) | `aᵀ∂g/∂y` (`n`), `aᵀ∂g/∂p` (`n_param`) |
//! | `M.g_dg` | `y` (`n`) | `g_i ∂g_i/∂y_i` (`n`; diagonal noise only) |
//! | `M.g_dg.vjp` | `[y; a]` (`2n`) | `aᵀ∂(g_dg)/∂y` (`n`), `aᵀ∂(g_dg)/∂p` (`n_param`; Milstein gradients) |
//!
//! The calculus (Itô or Stratonovich, [`SdeKernels::stratonovich`]) is the
//! model's declaration; which solver may solve which is the caller's
//! choice. This module never solves, samples noise or prints.

use nde_runtime::sde::{DiffSdeField, Noise, SdeField, SdeMethod};

use super::prepare;
use crate::autodiff;
use crate::codegen::{CodegenError, CompiledKernel, JitModule, JitOptions};
use crate::ir::{self, Builder, Function, ModelIr, NoiseShape, Shape, ValueId};

/// Why an SDE model's kernels could not be built.
#[derive(Clone, Debug, PartialEq)]
pub enum SdeError {
    /// The model has no noise term (it is an ODE).
    NotAnSde { model: String },
    /// Verifying or compiling a kernel failed.
    Codegen(CodegenError),
}

impl std::fmt::Display for SdeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SdeError::NotAnSde { model } => {
                write!(f, "model `{model}` is an ODE: it has no noise term (`dx = f dt + g dW`)")
            }
            SdeError::Codegen(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SdeError {}

impl From<CodegenError> for SdeError {
    fn from(e: CodegenError) -> Self {
        SdeError::Codegen(e)
    }
}

/// The runtime's name for a noise shape.
pub fn runtime_noise(noise: NoiseShape) -> Noise {
    match noise {
        NoiseShape::Diagonal => Noise::Diagonal,
        NoiseShape::General { m } => Noise::General { m },
    }
}

/// The IR of an SDE model's kernels, each verified and made ready for code
/// generation by [`prepare`] (see the module docs for their buffers).
pub struct SdeFunctions {
    pub rhs: Function,
    pub rhs_vjp: Function,
    pub g: Function,
    pub g_vjp: Function,
    /// Diagonal noise only.
    pub g_dg: Option<Function>,
    /// `g_dg`'s VJP (for gradients through Milstein); diagonal noise only.
    pub g_dg_vjp: Option<Function>,
}

impl SdeFunctions {
    /// Builds them for `model` ([`SdeError::NotAnSde`] for an ODE).
    pub fn of(model: &ModelIr) -> Result<SdeFunctions, SdeError> {
        let Some(d) = &model.diffusion else {
            return Err(SdeError::NotAnSde { model: model.name.clone() });
        };
        ir::verify::verify(&model.rhs).map_err(CodegenError::Verify)?;
        ir::verify::verify(&d.function).map_err(CodegenError::Verify)?;
        let (f, g) = (&model.rhs, &d.function);
        let g_dg = (d.noise == NoiseShape::Diagonal).then(|| diagonal_g_dg(g));
        Ok(SdeFunctions {
            rhs: prepare(f.clone()),
            rhs_vjp: prepare(autodiff::vjp(f)),
            g: prepare(g.clone()),
            g_vjp: prepare(autodiff::vjp(g)),
            g_dg_vjp: g_dg.as_ref().map(|d| prepare(autodiff::vjp(d))),
            g_dg: g_dg.map(prepare),
        })
    }

    /// Every function, `g_dg` and its VJP last when there are.
    pub fn all(&self) -> Vec<&Function> {
        let mut v = vec![&self.rhs, &self.rhs_vjp, &self.g, &self.g_vjp];
        v.extend(&self.g_dg);
        v.extend(&self.g_dg_vjp);
        v
    }
}

/// `(t, y, p) -> g_i ∂g_i/∂y_i` for a diagonal-noise diffusion `g` (one
/// output entry per state): the diagonal of `autodiff::jacobian(g)` times
/// `g`, built symbolically in one function named `M.g_dg`.
pub fn diagonal_g_dg(g: &Function) -> Function {
    let n = g.n_state;
    assert_eq!(g.output_len(), n, "diagonal noise: g has one entry per state");
    let jac = autodiff::jacobian(g);
    let base = g.name.strip_suffix(".g").unwrap_or(&g.name);
    let mut b = Builder::new(format!("{base}.g_dg"), n, g.n_param);
    let g_out = copy_into(&mut b, g);
    let j_out = copy_into(&mut b, &jac);
    let g_flat = flatten(&mut b, &g_out);
    let j_flat = flatten(&mut b, &j_out);
    let diag: Vec<ValueId> = (0..n).map(|i| b.slice(j_flat, 0, i * n + i, 1)).collect();
    let diag = b.concat(diag, 0);
    let out = b.binary(ir::BinaryOp::Mul, g_flat, diag);
    b.output(out);
    b.finish()
}

/// Copies `f`'s nodes into `b` (same input buffers); returns its outputs.
fn copy_into(b: &mut Builder, f: &Function) -> Vec<ValueId> {
    let mut map: Vec<ValueId> = Vec::with_capacity(f.nodes.len());
    for node in &f.nodes {
        let op = node.op.remap(&map);
        b.set_span(node.span);
        let id = b.push(op, node.shape);
        map.push(id);
    }
    b.set_span(crate::span::Span::detached());
    f.outputs.iter().map(|o| map[o.index()]).collect()
}

/// The outputs joined into one vector, row-major.
fn flatten(b: &mut Builder, outputs: &[ValueId]) -> ValueId {
    let parts: Vec<ValueId> = outputs
        .iter()
        .map(|&v| {
            let len = b.shape(v).len();
            b.reshape(v, Shape::vector(len))
        })
        .collect();
    b.concat(parts, 0)
}

/// An SDE model's compiled kernels (see the module docs for their buffers).
pub struct SdeKernels {
    /// Keeps the machine code alive; the kernels below point into it.
    _jit: JitModule,
    /// `(t, y, p) -> f`, the drift.
    pub rhs: CompiledKernel,
    /// `(t, [y; a], p) -> [aᵀ∂f/∂y; aᵀ∂f/∂p]`.
    pub rhs_vjp: CompiledKernel,
    /// `(t, y, p) -> g`, the diffusion, flat.
    pub g: CompiledKernel,
    /// `(t, [y; a], p) -> [aᵀ∂g/∂y; aᵀ∂g/∂p]`, `a` with `g`'s length.
    pub g_vjp: CompiledKernel,
    /// `(t, y, p) -> g_i ∂g_i/∂y_i`; diagonal noise only.
    pub g_dg: Option<CompiledKernel>,
    /// `(t, [y; a], p) -> [aᵀ∂d/∂y; aᵀ∂d/∂p]` for `d = g_dg`; diagonal noise only.
    pub g_dg_vjp: Option<CompiledKernel>,
    /// The noise shape.
    pub noise: Noise,
    /// The model is declared `stratonovich` (Itô otherwise).
    pub stratonovich: bool,
    /// `g` reads no state.
    pub additive: bool,
}

impl SdeKernels {
    /// JIT-compiles an SDE model's kernels into one module
    /// ([`SdeError::NotAnSde`] for an ODE model).
    pub fn compile(model: &ModelIr, opts: &JitOptions) -> Result<SdeKernels, SdeError> {
        let funcs = SdeFunctions::of(model)?;
        let d = model.diffusion.as_ref().expect("checked by SdeFunctions::of");
        let jit = JitModule::compile(&funcs.all(), opts)?;
        let kernel = |f: &Function| jit.kernel(&f.name).cloned().ok_or_else(|| CodegenError::missing(&f.name));
        Ok(SdeKernels {
            rhs: kernel(&funcs.rhs)?,
            rhs_vjp: kernel(&funcs.rhs_vjp)?,
            g: kernel(&funcs.g)?,
            g_vjp: kernel(&funcs.g_vjp)?,
            g_dg: funcs.g_dg.as_ref().map(kernel).transpose()?,
            g_dg_vjp: funcs.g_dg_vjp.as_ref().map(kernel).transpose()?,
            noise: runtime_noise(d.noise),
            stratonovich: d.stratonovich,
            additive: d.additive,
            _jit: jit,
        })
    }

    /// Number of states `n`.
    pub fn n_state(&self) -> usize {
        self.rhs.n_state
    }

    /// Number of parameters.
    pub fn n_param(&self) -> usize {
        self.rhs.n_param
    }
}

/// An SDE model's compiled kernels with its parameters bound: what the SDE
/// solvers ([`SdeField`]) and their gradients ([`DiffSdeField`]) drive.
pub struct ModelSdeField<'a> {
    kernels: &'a SdeKernels,
    params: &'a [f64],
}

impl<'a> ModelSdeField<'a> {
    /// Binds `params` (length `n_param`) to `kernels`.
    pub fn new(kernels: &'a SdeKernels, params: &'a [f64]) -> Self {
        assert_eq!(params.len(), kernels.n_param(), "parameter vector length");
        ModelSdeField { kernels, params }
    }

    /// The model is declared `stratonovich`.
    pub fn stratonovich(&self) -> bool {
        self.kernels.stratonovich
    }

    /// Calls `kernel`'s batched entry point on the rows of `ys` (each its
    /// `n_state` long), all at time `t`, writing the rows of `out`; in
    /// tiles of [`BATCH_TILE`] members (the kernel's time buffer).
    fn call_batch(&self, kernel: &CompiledKernel, t: f64, ys: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        let (n_in, n_out) = (kernel.n_state, kernel.out_len);
        let b = ys.len() / n_in.max(1);
        assert!(b * n_in == ys.len() && out.len() >= b * n_out, "batch buffer lengths of {}", kernel.name);
        assert!(scratch.len() >= kernel.batch_scratch_len, "batch scratch length of {}", kernel.name);
        let ts = [t; BATCH_TILE];
        for start in (0..b).step_by(BATCH_TILE) {
            let rows = BATCH_TILE.min(b - start);
            let (y, o) = (&ys[start * n_in..], &mut out[start * n_out..]);
            // SAFETY: `ts` has at least `rows` times, `y` and `o` at least
            // `rows` rows (checked above), the scratch the kernel's batch
            // length; kernels neither allocate nor keep pointers.
            unsafe {
                (kernel.batch)(
                    rows,
                    ts.as_ptr(),
                    y.as_ptr(),
                    self.params.as_ptr(),
                    o.as_mut_ptr(),
                    scratch.as_mut_ptr(),
                )
            }
        }
    }
}

/// Members per call of a batched kernel in [`ModelSdeField`]'s batched
/// methods.
const BATCH_TILE: usize = 64;

impl SdeField for ModelSdeField<'_> {
    fn dim(&self) -> usize {
        self.kernels.n_state()
    }
    fn noise(&self) -> Noise {
        self.kernels.noise
    }
    fn additive(&self) -> bool {
        self.kernels.additive
    }
    /// Enough for every method, the VJPs' packed buffers included.
    fn scratch_len(&self) -> usize {
        let k = self.kernels;
        [
            k.rhs.scratch_len,
            k.g.scratch_len,
            k.g_dg.as_ref().map_or(0, |g| g.scratch_len),
            super::vjp_scratch_len(&k.rhs_vjp),
            super::vjp_scratch_len(&k.g_vjp),
            k.g_dg_vjp.as_ref().map_or(0, super::vjp_scratch_len),
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }
    fn drift(&self, t: f64, y: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        super::call_kernel(&self.kernels.rhs, self.params, t, y, out, scratch)
    }
    fn diffusion(&self, t: f64, y: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        super::call_kernel(&self.kernels.g, self.params, t, y, out, scratch)
    }
    fn diffusion_dg(&self, t: f64, y: &[f64], out: &mut [f64], scratch: &mut [f64]) -> bool {
        match &self.kernels.g_dg {
            Some(k) => {
                super::call_kernel(k, self.params, t, y, out, scratch);
                true
            }
            None => false,
        }
    }
    /// The largest batched scratch of the drift, diffusion and Milstein
    /// kernels.
    fn batch_scratch_len(&self) -> usize {
        let k = self.kernels;
        let dg = k.g_dg.as_ref().map_or(0, |g| g.batch_scratch_len);
        k.rhs.batch_scratch_len.max(k.g.batch_scratch_len).max(dg)
    }
    /// The compiled batched drift (the single kernel's bits).
    fn drift_batch(&self, t: f64, ys: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        self.call_batch(&self.kernels.rhs, t, ys, out, scratch)
    }
    /// The compiled batched diffusion (the single kernel's bits).
    fn diffusion_batch(&self, t: f64, ys: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        self.call_batch(&self.kernels.g, t, ys, out, scratch)
    }
    fn diffusion_dg_batch(&self, t: f64, ys: &[f64], out: &mut [f64], scratch: &mut [f64]) -> bool {
        match &self.kernels.g_dg {
            Some(k) => {
                self.call_batch(k, t, ys, out, scratch);
                true
            }
            None => false,
        }
    }
}

impl DiffSdeField for ModelSdeField<'_> {
    fn n_params(&self) -> usize {
        self.params.len()
    }
    fn drift_vjp(&self, t: f64, y: &[f64], a: &[f64], gy: &mut [f64], gp: &mut [f64], scratch: &mut [f64]) {
        super::call_vjp(&self.kernels.rhs_vjp, self.params, t, y, a, gy, gp, scratch)
    }
    fn diffusion_vjp(&self, t: f64, y: &[f64], a: &[f64], gy: &mut [f64], gp: &mut [f64], scratch: &mut [f64]) {
        super::call_vjp(&self.kernels.g_vjp, self.params, t, y, a, gy, gp, scratch)
    }
    fn diffusion_dg_vjp(
        &self,
        t: f64,
        y: &[f64],
        a: &[f64],
        gy: &mut [f64],
        gp: &mut [f64],
        scratch: &mut [f64],
    ) -> bool {
        match &self.kernels.g_dg_vjp {
            Some(k) => {
                super::call_vjp(k, self.params, t, y, a, gy, gp, scratch);
                true
            }
            None => false,
        }
    }
}

/// The SDE solver `name` for `model`, checked: it must be an SDE solver and
/// solve the model's calculus (Itô or Stratonovich; either one for additive
/// noise).
pub fn sde_method(name: &str, model: &ModelIr) -> Result<SdeMethod, String> {
    let method = name.parse::<SdeMethod>().map_err(|_| {
        format!(
            "model `{}` has noise terms, so it needs an SDE solver (euler_maruyama, milstein, sra1 or reversible_heun), \
             not {name}",
            model.name
        )
    })?;
    let d = model.diffusion.as_ref().ok_or_else(|| format!("model `{}` has no noise terms", model.name))?;
    if method.is_stratonovich() != d.stratonovich && !d.additive {
        let (model_kind, method_kind) =
            if d.stratonovich { ("a Stratonovich", "Itô") } else { ("an Itô", "Stratonovich") };
        return Err(format!(
            "`{}` is {model_kind} SDE but {method} solves the {method_kind} equation (they differ unless the noise is \
             additive); use {}",
            model.name,
            if d.stratonovich { "reversible_heun" } else { "euler_maruyama or milstein" }
        ));
    }
    Ok(method)
}

#[cfg(test)]
mod tests;
