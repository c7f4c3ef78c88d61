//! The stochastic vector fields the SDE solvers drive: [`SdeField`]
//! (drift and diffusion) and [`DiffSdeField`] (adds vector–Jacobian
//! products for gradients). Compiled kernels and hand-written Rust systems
//! implement them. Nothing here steps or allocates.

/// The shape of the noise term `g(t, y) dW`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Noise {
    /// `g` has `n` entries (one per state), `dW` has `n` channels: `dy_i = … + g_i dW_i`.
    Diagonal,
    /// `g` is `n × m` (row-major), `dW` has `m` channels: `dy = … + G dW`.
    General { m: usize },
}

impl Noise {
    /// Brownian channels for a system of `n` states.
    pub fn channels(self, n: usize) -> usize {
        match self {
            Noise::Diagonal => n,
            Noise::General { m } => m,
        }
    }

    /// Entries of `g` for a system of `n` states.
    pub fn diffusion_len(self, n: usize) -> usize {
        match self {
            Noise::Diagonal => n,
            Noise::General { m } => n * m,
        }
    }
}

/// `dy = f(t, y) dt + g(t, y) dW`, parameters bound. The calculus (Itô or
/// Stratonovich) is the solver's: Euler–Maruyama and Milstein solve the Itô
/// equation, reversible Heun the Stratonovich one (they agree for additive
/// noise).
///
/// Implementations must be pure and must not allocate in their methods.
pub trait SdeField: Sync {
    /// Length of the state vector `n`.
    fn dim(&self) -> usize;
    fn noise(&self) -> Noise;
    /// `true` when `g` does not depend on `y` (additive noise; SRA1 needs it).
    fn additive(&self) -> bool {
        false
    }
    /// Length of the scratch buffer every method below needs.
    fn scratch_len(&self) -> usize {
        0
    }
    /// `out = f(t, y)` (`n` values).
    fn drift(&self, t: f64, y: &[f64], out: &mut [f64], scratch: &mut [f64]);
    /// `out = g(t, y)` ([`Noise::diffusion_len`] values).
    fn diffusion(&self, t: f64, y: &[f64], out: &mut [f64], scratch: &mut [f64]);
    /// For Milstein with diagonal noise: `out_i = g_i ∂g_i/∂y_i` (`n`
    /// values). `false` if the field cannot provide it (the solver then
    /// reports an error).
    fn diffusion_dg(&self, _t: f64, _y: &[f64], _out: &mut [f64], _scratch: &mut [f64]) -> bool {
        false
    }
}

/// An [`SdeField`] with trainable parameters and vector–Jacobian products
/// (for gradients through SDE solves).
pub trait DiffSdeField: SdeField {
    /// Number of parameters `p`.
    fn n_params(&self) -> usize;
    /// `gy = aᵀ ∂f/∂y`, `gp = aᵀ ∂f/∂p` (both overwritten); `a` has `n` values.
    #[allow(clippy::too_many_arguments)]
    fn drift_vjp(&self, t: f64, y: &[f64], a: &[f64], gy: &mut [f64], gp: &mut [f64], scratch: &mut [f64]);
    /// `gy = aᵀ ∂g/∂y`, `gp = aᵀ ∂g/∂p` (both overwritten); `a` has
    /// [`Noise::diffusion_len`] values.
    #[allow(clippy::too_many_arguments)]
    fn diffusion_vjp(&self, t: f64, y: &[f64], a: &[f64], gy: &mut [f64], gp: &mut [f64], scratch: &mut [f64]);
}
