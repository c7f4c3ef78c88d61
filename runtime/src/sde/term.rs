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
    General {
        /// Brownian channels.
        m: usize,
    },
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
    /// The shape of `g` and of `dW`.
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
    /// Length of the scratch buffer the batched methods below need,
    /// whatever the number of members (default: [`SdeField::scratch_len`]).
    fn batch_scratch_len(&self) -> usize {
        self.scratch_len()
    }
    /// [`SdeField::drift`] of every member at one time: `ys` holds the
    /// states back to back (`[b][n]`), `out` the drifts likewise. Must give
    /// the bits of the member-by-member calls (the default makes them).
    fn drift_batch(&self, t: f64, ys: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        let n = self.dim();
        for (y, o) in ys.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
            self.drift(t, y, o, scratch);
        }
    }
    /// [`SdeField::diffusion`] of every member at one time (`out`:
    /// `[b][`[`Noise::diffusion_len`]`]`), with the bits of the
    /// member-by-member calls.
    fn diffusion_batch(&self, t: f64, ys: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        let n = self.dim();
        let len = self.noise().diffusion_len(n);
        for (y, o) in ys.chunks_exact(n).zip(out.chunks_exact_mut(len)) {
            self.diffusion(t, y, o, scratch);
        }
    }
    /// [`SdeField::diffusion_dg`] of every member at one time (`out`:
    /// `[b][n]`); `false` if the field cannot provide it.
    fn diffusion_dg_batch(&self, t: f64, ys: &[f64], out: &mut [f64], scratch: &mut [f64]) -> bool {
        let n = self.dim();
        ys.chunks_exact(n).zip(out.chunks_exact_mut(n)).all(|(y, o)| self.diffusion_dg(t, y, o, scratch))
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
    /// For gradients through Milstein (diagonal noise): with
    /// `d_i = g_i ∂g_i/∂y_i` ([`SdeField::diffusion_dg`]), `gy = aᵀ ∂d/∂y`
    /// and `gp = aᵀ ∂d/∂p` (both overwritten). `false` if the field cannot
    /// provide it (the gradient then reports an error).
    #[allow(clippy::too_many_arguments)]
    fn diffusion_dg_vjp(
        &self,
        _t: f64,
        _y: &[f64],
        _a: &[f64],
        _gy: &mut [f64],
        _gp: &mut [f64],
        _scratch: &mut [f64],
    ) -> bool {
        false
    }
}

/// `(t, y, p, out)`.
type EvalFn = Box<dyn Fn(f64, &[f64], &[f64], &mut [f64]) + Send + Sync>;
/// `(t, y, p, a, gy, gp)`; must overwrite `gy` and `gp`.
type VjpFn = Box<dyn Fn(f64, &[f64], &[f64], &[f64], &mut [f64], &mut [f64]) + Send + Sync>;

/// An SDE from closures, for tests and small hand-written systems. Every
/// closure receives the parameters `p` ([`FnSde::with_params`]; empty by
/// default): drift and diffusion `(t, y, p, out)`, VJPs
/// `(t, y, p, a, gy, gp)` (overwriting `gy` and `gp`). A VJP that was not
/// given fills its outputs with NaN, so a gradient that needs it fails with
/// [`crate::SolveError::NonFiniteAdjoint`] instead of returning wrong numbers.
pub struct FnSde {
    dim: usize,
    noise: Noise,
    additive: bool,
    params: Vec<f64>,
    drift: EvalFn,
    diffusion: EvalFn,
    dg: Option<EvalFn>,
    drift_vjp: Option<VjpFn>,
    diffusion_vjp: Option<VjpFn>,
    dg_vjp: Option<VjpFn>,
}

impl FnSde {
    /// `dy = drift dt + diffusion dW` with `dim` states and the given noise.
    pub fn new(
        dim: usize,
        noise: Noise,
        drift: impl Fn(f64, &[f64], &[f64], &mut [f64]) + Send + Sync + 'static,
        diffusion: impl Fn(f64, &[f64], &[f64], &mut [f64]) + Send + Sync + 'static,
    ) -> FnSde {
        FnSde {
            dim,
            noise,
            additive: false,
            params: Vec::new(),
            drift: Box::new(drift),
            diffusion: Box::new(diffusion),
            dg: None,
            drift_vjp: None,
            diffusion_vjp: None,
            dg_vjp: None,
        }
    }

    /// Declares the noise additive (`g` independent of `y`).
    pub fn additive(mut self) -> FnSde {
        self.additive = true;
        self
    }

    /// Adds `d_i = g_i ∂g_i/∂y_i` for Milstein.
    pub fn with_dg(mut self, dg: impl Fn(f64, &[f64], &[f64], &mut [f64]) + Send + Sync + 'static) -> FnSde {
        self.dg = Some(Box::new(dg));
        self
    }

    /// Binds parameters and the VJPs of drift and diffusion.
    pub fn with_params(
        mut self,
        params: Vec<f64>,
        drift_vjp: impl Fn(f64, &[f64], &[f64], &[f64], &mut [f64], &mut [f64]) + Send + Sync + 'static,
        diffusion_vjp: impl Fn(f64, &[f64], &[f64], &[f64], &mut [f64], &mut [f64]) + Send + Sync + 'static,
    ) -> FnSde {
        self.params = params;
        self.drift_vjp = Some(Box::new(drift_vjp));
        self.diffusion_vjp = Some(Box::new(diffusion_vjp));
        self
    }

    /// Adds the VJP of `d` ([`FnSde::with_dg`]) for Milstein gradients.
    pub fn with_dg_vjp(
        mut self,
        dg_vjp: impl Fn(f64, &[f64], &[f64], &[f64], &mut [f64], &mut [f64]) + Send + Sync + 'static,
    ) -> FnSde {
        self.dg_vjp = Some(Box::new(dg_vjp));
        self
    }

    /// The bound parameters.
    pub fn params(&self) -> &[f64] {
        &self.params
    }

    /// Replaces the parameters (same length expected by the closures).
    pub fn set_params(&mut self, params: &[f64]) {
        self.params.clear();
        self.params.extend_from_slice(params);
    }
}

fn nan_vjp(f: &Option<VjpFn>, t: f64, y: &[f64], p: &[f64], a: &[f64], gy: &mut [f64], gp: &mut [f64]) {
    match f {
        Some(f) => f(t, y, p, a, gy, gp),
        None => {
            gy.fill(f64::NAN);
            gp.fill(f64::NAN);
        }
    }
}

impl SdeField for FnSde {
    fn dim(&self) -> usize {
        self.dim
    }
    fn noise(&self) -> Noise {
        self.noise
    }
    fn additive(&self) -> bool {
        self.additive
    }
    fn drift(&self, t: f64, y: &[f64], out: &mut [f64], _scratch: &mut [f64]) {
        (self.drift)(t, y, &self.params, out)
    }
    fn diffusion(&self, t: f64, y: &[f64], out: &mut [f64], _scratch: &mut [f64]) {
        (self.diffusion)(t, y, &self.params, out)
    }
    fn diffusion_dg(&self, t: f64, y: &[f64], out: &mut [f64], _scratch: &mut [f64]) -> bool {
        match &self.dg {
            Some(dg) => {
                dg(t, y, &self.params, out);
                true
            }
            None => false,
        }
    }
}

impl DiffSdeField for FnSde {
    fn n_params(&self) -> usize {
        self.params.len()
    }
    fn drift_vjp(&self, t: f64, y: &[f64], a: &[f64], gy: &mut [f64], gp: &mut [f64], _scratch: &mut [f64]) {
        nan_vjp(&self.drift_vjp, t, y, &self.params, a, gy, gp)
    }
    fn diffusion_vjp(&self, t: f64, y: &[f64], a: &[f64], gy: &mut [f64], gp: &mut [f64], _scratch: &mut [f64]) {
        nan_vjp(&self.diffusion_vjp, t, y, &self.params, a, gy, gp)
    }
    fn diffusion_dg_vjp(
        &self,
        t: f64,
        y: &[f64],
        a: &[f64],
        gy: &mut [f64],
        gp: &mut [f64],
        _scratch: &mut [f64],
    ) -> bool {
        match &self.dg_vjp {
            Some(f) => {
                f(t, y, &self.params, a, gy, gp);
                true
            }
            None => false,
        }
    }
}
