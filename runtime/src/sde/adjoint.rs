//! Gradients through SDE solves (discretise-then-optimise): the loss's
//! cotangent at the saved states is pulled back through the solver's steps
//! to the initial state and the field's parameters, on the same Brownian
//! path (increments are re-queried from the tree, never stored).
//!
//! Owns [`SdeAdjoint`], [`SdeGradient`], [`SdeBatchGradient`],
//! [`sde_gradient`] and [`sde_gradient_batch`]. The step VJPs live in
//! `step`. Never prints; bad input and non-finite adjoints are
//! [`SolveError`]s.
//!
//! | adjoint | methods | stored | backward cost per step |
//! |---|---|---|---|
//! | [`SdeAdjoint::Discrete`] | all (Milstein needs [`DiffSdeField::diffusion_dg_vjp`]) | every step's start state | the method's VJPs (EM 2, Milstein 3, SRA1 3 + 2 evaluations, reversible Heun 4) |
//! | [`SdeAdjoint::Reversible`] | reversible Heun, fixed step | nothing | one inverse step (2 evaluations) + 4 VJPs |

use crate::brownian::{BrownianPath, BrownianTree};
use crate::error::SolveError;
use crate::sde::grid::Grid;
use crate::sde::options::{batch_tree, check_tree, validate, SdeMethod, SdeOptions};
use crate::sde::solve::{check_y0, for_each_member, integrate, Tape};
use crate::sde::step::Work;
use crate::sde::term::{DiffSdeField, Noise, SdeField};
use crate::solution::{BatchSolution, Solution, Stats};

/// How to differentiate through an SDE solve.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SdeAdjoint {
    /// Reverse mode through the stored steps: the exact gradient of the
    /// computed solution (step sizes held constant). Memory: one state per
    /// step.
    #[default]
    Discrete,
    /// Reversible Heun only: walk backwards with the method's algebraic
    /// inverse, recompute each step and VJP it. O(1) memory; equal to the
    /// discrete gradient up to the round-off of the reconstruction.
    Reversible,
}

/// The gradient of a loss through one SDE solve.
#[derive(Clone, Debug, PartialEq)]
pub struct SdeGradient {
    /// `dL/dy0`.
    pub y0: Vec<f64>,
    /// `dL/dp`, in the field's parameter order.
    pub params: Vec<f64>,
    /// The forward solve's work.
    pub forward: Stats,
    /// The backward pass: `accepted` steps reversed, `nfe` VJPs made.
    pub backward: Stats,
    /// Field evaluations of the backward pass (SRA1's recomputed stage,
    /// reversible Heun's inverse steps).
    pub recomputed: u64,
    /// States stored for the backward pass (discrete: one per step, two
    /// for reversible Heun; reversible: 0).
    pub peak_states: usize,
    /// [`SdeAdjoint::Reversible`]: `y(t0)` as reconstructed by the backward
    /// walk (equal to `y0` up to round-off). `None` for the discrete adjoint.
    pub reconstructed_y0: Option<Vec<f64>>,
}

/// The gradient of a loss through a batch of SDE solves sharing parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct SdeBatchGradient {
    /// `dL/dy0` per member, row-major `[batch][n_state]`.
    pub y0: Vec<f64>,
    /// `dL/dp`: the sum over members, added in member order.
    pub params: Vec<f64>,
    /// Backward work per member.
    pub backward: Vec<Stats>,
}

/// Delegates [`SdeField`] to a `&dyn DiffSdeField` (no trait upcasting
/// before Rust 1.86).
struct Up<'a>(&'a dyn DiffSdeField);

impl SdeField for Up<'_> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn noise(&self) -> Noise {
        self.0.noise()
    }
    fn additive(&self) -> bool {
        self.0.additive()
    }
    fn scratch_len(&self) -> usize {
        self.0.scratch_len()
    }
    fn drift(&self, t: f64, y: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        self.0.drift(t, y, out, scratch)
    }
    fn diffusion(&self, t: f64, y: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        self.0.diffusion(t, y, out, scratch)
    }
    fn diffusion_dg(&self, t: f64, y: &[f64], out: &mut [f64], scratch: &mut [f64]) -> bool {
        self.0.diffusion_dg(t, y, out, scratch)
    }
    fn batch_scratch_len(&self) -> usize {
        self.0.batch_scratch_len()
    }
    fn drift_batch(&self, t: f64, ys: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        self.0.drift_batch(t, ys, out, scratch)
    }
    fn diffusion_batch(&self, t: f64, ys: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        self.0.diffusion_batch(t, ys, out, scratch)
    }
    fn diffusion_dg_batch(&self, t: f64, ys: &[f64], out: &mut [f64], scratch: &mut [f64]) -> bool {
        self.0.diffusion_dg_batch(t, ys, out, scratch)
    }
}

fn invalid(what: String) -> SolveError {
    SolveError::InvalidOptions { what }
}

fn check_adjoint(opts: &SdeOptions, adjoint: SdeAdjoint) -> Result<(), SolveError> {
    if adjoint == SdeAdjoint::Reversible && opts.method != SdeMethod::ReversibleHeun {
        return Err(invalid(format!(
            "the reversible adjoint needs the reversible_heun method, not {} (use the discrete adjoint)",
            opts.method
        )));
    }
    Ok(())
}

/// Checks a cotangent's length and values.
fn check_cotangent(cot: &[f64], saveat: &[f64], n: usize) -> Result<(), SolveError> {
    if cot.len() != saveat.len() * n {
        return Err(invalid(format!(
            "the cotangent has {} values, but {} save times × {n} states need {}",
            cot.len(),
            saveat.len(),
            saveat.len() * n
        )));
    }
    if let Some(i) = cot.iter().position(|v| !v.is_finite()) {
        return Err(SolveError::NonFiniteAdjoint { t: saveat[i / n] });
    }
    Ok(())
}

/// One member's forward and backward pass state.
struct Member {
    ws: Work,
    path: BrownianPath,
    tape: Tape,
}

impl Member {
    fn new(f: &dyn DiffSdeField, tree: &BrownianTree) -> Member {
        Member { ws: Work::new(&Up(f), f.n_params()), path: tree.path(), tape: Tape::default() }
    }

    /// The forward solve (with a tape for the discrete adjoint).
    #[allow(clippy::too_many_arguments)]
    fn forward(
        &mut self,
        f: &dyn DiffSdeField,
        t0: f64,
        y0: &[f64],
        saveat: &[f64],
        opts: &SdeOptions,
        adjoint: SdeAdjoint,
        out: &mut [f64],
    ) -> Result<Stats, SolveError> {
        self.ws.y.copy_from_slice(y0);
        let tape = if adjoint == SdeAdjoint::Discrete { Some(&mut self.tape) } else { None };
        integrate(&Up(f), t0, saveat, opts, &mut self.path, &mut self.ws, out, tape)
    }

    /// The backward pass after [`Member::forward`]: returns the work and
    /// the gradient (`gy0` and `gp` overwritten).
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &mut self,
        f: &dyn DiffSdeField,
        t0: f64,
        saveat: &[f64],
        opts: &SdeOptions,
        adjoint: SdeAdjoint,
        cot: &[f64],
        gy0: &mut [f64],
        gp: &mut [f64],
    ) -> Result<SdeGradient, SolveError> {
        let n = f.dim();
        let method = opts.method;
        let heun = method == SdeMethod::ReversibleHeun;
        let mut lam = vec![0.0; n];
        let mut lamh = vec![0.0; n];
        gp.fill(0.0);
        let mut back = Stats::default();
        let mut recomputed = 0;
        let add_row = |lam: &mut [f64], i: usize| {
            for (l, c) in lam.iter_mut().zip(&cot[i * n..(i + 1) * n]) {
                *l += c;
            }
        };
        let finite = |lam: &[f64], lamh: &[f64], gp: &[f64]| lam.iter().chain(lamh).chain(gp).all(|v| v.is_finite());
        let ws = &mut self.ws;
        let mut reconstructed = None;
        let mut peak = 0;
        match adjoint {
            SdeAdjoint::Discrete => {
                let tape = &self.tape;
                let w = if heun { 2 * n } else { n };
                let steps = tape.times.len() - 1;
                peak = steps * w / n;
                let final_yh = ws.yh.clone();
                let mut i = saveat.len();
                while i > 0 && tape.save_step[i - 1] == steps {
                    add_row(&mut lam, i - 1);
                    i -= 1;
                }
                for k in (0..steps).rev() {
                    let (ta, tb) = (tape.times[k], tape.times[k + 1]);
                    let st = &tape.states[k * w..(k + 1) * w];
                    ws.y.copy_from_slice(&st[..n]);
                    self.path.increment_unchecked(ta, tb, &mut ws.dw);
                    if heun {
                        ws.yh.copy_from_slice(&st[n..]);
                        if k + 1 == steps {
                            ws.yh1.copy_from_slice(&final_yh);
                        } else {
                            ws.yh1.copy_from_slice(&tape.states[(k + 1) * w + n..(k + 2) * w]);
                        }
                        ws.vjp_heun(f, ta, tb, &mut lam, &mut lamh, gp);
                        back.nfe += 4;
                    } else {
                        let (vjps, evals) = ws.vjp_step(f, method, ta, tb, &mut lam, gp).ok_or_else(|| {
                            invalid("milstein gradients need the VJP of g·∂g/∂y (diffusion_dg_vjp), which this system does not provide".into())
                        })?;
                        back.nfe += vjps;
                        recomputed += evals;
                    }
                    back.accepted += 1;
                    if !finite(&lam, &lamh, gp) {
                        return Err(SolveError::NonFiniteAdjoint { t: ta });
                    }
                    while i > 0 && tape.save_step[i - 1] == k {
                        add_row(&mut lam, i - 1);
                        i -= 1;
                    }
                }
            }
            SdeAdjoint::Reversible => {
                let grid = Grid { t0, dt: opts.dt.unwrap_or(f64::NAN), saveat };
                let (mut walk, at_end) = grid.backward();
                for i in at_end {
                    add_row(&mut lam, i);
                }
                let mut t = grid.t_end();
                let up = Up(f);
                while let Some((ta, saves)) = grid.prev(&mut walk) {
                    self.path.increment_unchecked(ta, t, &mut ws.dw);
                    ws.heun_inverse(&up, ta, t);
                    ws.vjp_heun(f, ta, t, &mut lam, &mut lamh, gp);
                    back.nfe += 4;
                    back.accepted += 1;
                    recomputed += 2;
                    if !finite(&lam, &lamh, gp) {
                        return Err(SolveError::NonFiniteAdjoint { t: ta });
                    }
                    for i in saves {
                        add_row(&mut lam, i);
                    }
                    t = ta;
                }
                reconstructed = Some(ws.y.clone());
            }
        }
        for ((g, l), lh) in gy0.iter_mut().zip(&lam).zip(&lamh) {
            *g = if heun { l + lh } else { *l };
        }
        Ok(SdeGradient {
            y0: gy0.to_vec(),
            params: gp.to_vec(),
            forward: Stats::default(),
            backward: back,
            recomputed,
            peak_states: peak,
            reconstructed_y0: reconstructed,
        })
    }
}

/// Solves as [`crate::sde::sde_solve`] does (same steps, same saved values,
/// same path) and differentiates a loss of the saved states. `cotangent`
/// is called once with the solution and returns `dL/dy(saveat_i)` as rows
/// `[saveat.len()][n_state]`. Returns the solution and the gradient with
/// respect to `y0` and the field's parameters.
///
/// Errors: everything [`crate::sde::sde_solve`] reports; the reversible
/// adjoint with another method than reversible Heun, Milstein without
/// [`DiffSdeField::diffusion_dg_vjp`], a cotangent of the wrong length
/// ([`SolveError::InvalidOptions`]); a non-finite cotangent or adjoint
/// ([`SolveError::NonFiniteAdjoint`], with the time).
#[allow(clippy::too_many_arguments)]
pub fn sde_gradient(
    f: &dyn DiffSdeField,
    t0: f64,
    y0: &[f64],
    saveat: &[f64],
    opts: &SdeOptions,
    brownian: &BrownianTree,
    adjoint: SdeAdjoint,
    cotangent: &mut dyn FnMut(&Solution) -> Vec<f64>,
) -> Result<(Solution, SdeGradient), SolveError> {
    let up = Up(f);
    validate(&up, t0, saveat, opts)?;
    check_adjoint(opts, adjoint)?;
    let n = f.dim();
    check_y0(n, y0)?;
    check_tree(&up, brownian, t0, saveat[saveat.len() - 1])?;
    let mut member = Member::new(f, brownian);
    let mut y = vec![0.0; saveat.len() * n];
    let forward = member.forward(f, t0, y0, saveat, opts, adjoint, &mut y)?;
    let sol = Solution { t: saveat.to_vec(), y, n_state: n, stats: forward };
    let cot = cotangent(&sol);
    check_cotangent(&cot, saveat, n)?;
    let (mut gy0, mut gp) = (vec![0.0; n], vec![0.0; f.n_params()]);
    let mut grad = member.backward(f, t0, saveat, opts, adjoint, &cot, &mut gy0, &mut gp)?;
    grad.forward = forward;
    Ok((sol, grad))
}

/// [`sde_gradient`] for a batch: `y0s` holds the members' initial states
/// back to back, member `b` runs on the path of
/// [`crate::sde::sde_solve_batch`] (stream `b` of the tree from `seed`).
/// `cotangent` is called once with the batch solution and returns
/// `dL/dy` as rows `[batch][n_save][n_state]`. The backward pass re-runs
/// each member's forward solve (same bits) rather than keeping every
/// member's tape. Parameter gradients are summed in member order, so the
/// result is bit-for-bit the same on any number of `threads` (0 = rayon's
/// global pool, 1 = the calling thread). The first failing member is
/// reported as [`SolveError::InBatch`].
#[allow(clippy::too_many_arguments)]
pub fn sde_gradient_batch(
    f: &dyn DiffSdeField,
    t0: f64,
    y0s: &[f64],
    saveat: &[f64],
    opts: &SdeOptions,
    seed: u64,
    adjoint: SdeAdjoint,
    threads: usize,
    cotangent: &mut dyn FnMut(&BatchSolution) -> Vec<f64>,
) -> Result<(BatchSolution, SdeBatchGradient), SolveError> {
    let up = Up(f);
    validate(&up, t0, saveat, opts)?;
    check_adjoint(opts, adjoint)?;
    let sol = crate::sde::sde_solve_batch(&up, t0, y0s, saveat, opts, seed, threads)?;
    let (n, p, batch) = (f.dim(), f.n_params(), sol.batch);
    let cot = cotangent(&sol);
    if cot.len() != sol.y.len() {
        return Err(invalid(format!(
            "the batch cotangent has {} values, but {batch} members × {} save times × {n} states need {}",
            cot.len(),
            saveat.len(),
            sol.y.len()
        )));
    }
    let tree = batch_tree(&up, seed, t0, saveat[saveat.len() - 1], opts)?;
    let rows = saveat.len() * n;
    // Per member: [dL/dy0 (n); dL/dp (p)].
    let width = n + p;
    let mut out = vec![0.0; batch * width];
    let new_ws = || (Member::new(f, &tree), vec![0.0; rows]);
    let one = |b: usize, (m, ys): &mut (Member, Vec<f64>), o: &mut [f64]| -> Result<Stats, SolveError> {
        m.path.reset(tree.stream(b as u64));
        m.forward(f, t0, &y0s[b * n..(b + 1) * n], saveat, opts, adjoint, ys)?;
        let c = &cot[b * rows..(b + 1) * rows];
        check_cotangent(c, saveat, n)?;
        m.path.reset(tree.stream(b as u64));
        let (gy0, gp) = o.split_at_mut(n);
        Ok(m.backward(f, t0, saveat, opts, adjoint, c, gy0, gp)?.backward)
    };
    let results = for_each_member(batch, width, &mut out, threads, new_ws, one, Ok(Stats::default()));
    let mut backward = Vec::with_capacity(batch);
    for (index, r) in results.into_iter().enumerate() {
        match r {
            Ok(s) => backward.push(s),
            Err(error) => return Err(SolveError::InBatch { index, error: Box::new(error) }),
        }
    }
    let mut y0 = Vec::with_capacity(batch * n);
    let mut params = vec![0.0; p];
    for row in out.chunks_exact(width.max(1)) {
        y0.extend_from_slice(&row[..n]);
        for (a, g) in params.iter_mut().zip(&row[n..]) {
            *a += g;
        }
    }
    Ok((sol, SdeBatchGradient { y0, params, backward }))
}
