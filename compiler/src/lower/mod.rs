//! Lowering: the checked program ([`crate::sema::CheckedProgram`]) to the
//! tensor IR ([`ProgramIr`]).
//!
//! Owns the memory layout of a model (states and params in declaration
//! order, each at an offset in its flat buffer), the initial parameter
//! values ([`init`]), and the translation of checked expressions into
//! [`Builder`] calls for the `MODEL.rhs` and `MODEL.init` functions, an SDE
//! model's diffusion `MODEL.g` (its [`Diffusion`]), and each loss's
//! `LOSS.loss` function (inputs laid out by [`LossLayout`]). A CDE model's
//! functions read its control path from their state buffer: `rhs` from
//! `[y; X(t); dX/dt]`, `init` from `X(t0)` (see [`ModelIr::rhs`]).
//!
//! Never: report errors or re-check shapes. Sema guarantees every shape rule
//! the builder asserts, so a builder panic here is a compiler bug, not a user
//! error. Constant subexpressions arrive already folded by sema.

mod expr;
pub mod init;

use crate::ir::training::{LossIr, LossLayout};
use crate::ir::{Builder, Diffusion, Function, InputBuf, ModelIr, Op, Output, ProgramIr, Slot};
use crate::sema::{CheckedLoss, CheckedModel, CheckedOutput, CheckedProgram};

use expr::Lowerer;

/// Lowers every model and loss of a checked program; `seed` drives the
/// random initialisers (see [`init`]).
pub fn lower(program: &CheckedProgram, seed: u64) -> ProgramIr {
    ProgramIr {
        models: program.models.iter().map(|m| lower_model(m, seed)).collect(),
        solvers: program.solvers.clone(),
        data: program.data.clone(),
        losses: program
            .losses
            .iter()
            .map(|l| lower_loss(l, program.models.iter().find(|m| m.name == l.model)))
            .collect(),
        trains: program.trains.clone(),
    }
}

/// Lowers one loss to `LOSS.loss(t, inputs, p)`: one scalar output, the
/// inputs laid out by its [`LossLayout`], `p` the solved model's parameters.
/// `model` is the solved model (needed when the loss reads its outputs,
/// `sol.NAME`, which are inlined row by row).
pub fn lower_loss(l: &CheckedLoss, model: Option<&CheckedModel>) -> LossIr {
    let layout: LossLayout = l.layout;
    let builder = Builder::new(format!("{}.loss", l.name), layout.len(), l.n_param);
    let mut lowerer = Lowerer::for_loss(builder, layout, &l.lets);
    if let Some(m) = model {
        let (states, params) = offsets(m);
        lowerer = lowerer.with_readout(expr::Readout { model: m, state_offsets: states, param_offsets: params });
    }
    let v = lowerer.lower(&l.value);
    lowerer.builder.output(v);
    LossIr {
        name: l.name.clone(),
        model: l.model.clone(),
        data: l.data.clone(),
        solver: l.solver.clone(),
        sampling: l.sampling,
        stats_used: l.stats_used.clone(),
        layout,
        function: lowerer.builder.finish(),
    }
}

/// Lays out and lowers one model.
pub fn lower_model(m: &CheckedModel, seed: u64) -> ModelIr {
    let mut states = Vec::with_capacity(m.states.len());
    let mut offset = 0;
    for s in &m.states {
        states.push(Slot { name: s.name.clone(), shape: s.shape, offset });
        offset += s.shape.len();
    }
    let n_state = offset;
    let mut params = Vec::with_capacity(m.params.len());
    let mut param_values = Vec::new();
    for p in &m.params {
        params.push(Slot { name: p.name.clone(), shape: p.shape, offset: param_values.len() });
        param_values.extend(init::initial_values(p, seed));
    }
    let n_param = param_values.len();
    let state_offsets: Vec<usize> = states.iter().map(|s| s.offset).collect();
    let param_offsets: Vec<usize> = params.iter().map(|p| p.offset).collect();

    // A CDE's path `X(t)` (c channels) and `dX/dt` follow the states.
    let c = m.control.as_ref().map_or(0, |c| c.channels);
    let mut rhs = Lowerer::new(
        Builder::new(format!("{}.rhs", m.name), n_state + 2 * c, n_param),
        &state_offsets,
        &param_offsets,
        &m.lets,
    );
    if c > 0 {
        rhs = rhs.with_control(n_state, Some(n_state + c));
    }
    for e in &m.rhs {
        let v = rhs.lower(e);
        rhs.builder.output(v);
    }
    let mut init = Lowerer::new(Builder::new(format!("{}.init", m.name), c, n_param), &[], &param_offsets, &m.lets);
    if c > 0 {
        init = init.with_control(0, None);
    }
    for s in &m.states {
        let v = init.lower(&s.init);
        init.builder.output(v);
    }
    let diffusion = m.diffusion.as_ref().map(|d| {
        let mut g = Lowerer::new(
            Builder::new(format!("{}.g", m.name), n_state, n_param),
            &state_offsets,
            &param_offsets,
            &m.lets,
        );
        // Row-major outputs one after another: a general-noise state's
        // `[len, m]` block follows the previous state's rows.
        for e in &d.g {
            let v = g.lower(e);
            g.builder.output(v);
        }
        let function = g.builder.finish();
        Diffusion { noise: d.noise, stratonovich: d.stratonovich, additive: !reads_state(&function), function }
    });
    ModelIr {
        name: m.name.clone(),
        states,
        params,
        param_values,
        rhs: rhs.builder.finish(),
        init: init.builder.finish(),
        diffusion,
        control: m.control.clone(),
        outputs: m
            .outputs
            .iter()
            .map(|o| lower_output(m, o, &state_offsets, &param_offsets, n_state, n_param))
            .collect(),
    }
}

/// One `output` as its own function `MODEL.out.NAME(t, y, p)`.
fn lower_output(
    m: &CheckedModel,
    o: &CheckedOutput,
    state_offsets: &[usize],
    param_offsets: &[usize],
    n_state: usize,
    n_param: usize,
) -> Output {
    let builder = Builder::new(format!("{}.out.{}", m.name, o.name), n_state, n_param);
    let mut lowerer = Lowerer::new(builder, state_offsets, param_offsets, &m.lets);
    let v = lowerer.lower(&o.value);
    lowerer.builder.output(v);
    Output { name: o.name.clone(), shape: o.shape, function: lowerer.builder.finish() }
}

/// Where each state and parameter of `m` starts in its flat buffer.
fn offsets(m: &CheckedModel) -> (Vec<usize>, Vec<usize>) {
    let starts = |lens: &mut dyn Iterator<Item = usize>| {
        let mut at = 0;
        lens.map(|len| {
            let start = at;
            at += len;
            start
        })
        .collect()
    };
    (starts(&mut m.states.iter().map(|s| s.shape.len())), starts(&mut m.params.iter().map(|p| p.shape.len())))
}

/// Whether an output of `f` depends on the state buffer.
fn reads_state(f: &Function) -> bool {
    let mut live = vec![false; f.nodes.len()];
    for &o in &f.outputs {
        live[o.index()] = true;
    }
    for i in (0..f.nodes.len()).rev() {
        if !live[i] {
            continue;
        }
        match &f.nodes[i].op {
            Op::Input { buf: InputBuf::State, .. } => return true,
            op => {
                for a in op.args() {
                    live[a.index()] = true;
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod loss_tests;
#[cfg(test)]
mod readout_tests;
#[cfg(test)]
mod tests;
