//! Ensembles of sample paths and distribution statistics: the `paths = N`
//! argument of `solve` (E0713) and `generate` (E0710), an ensemble's
//! `sol.mean` and `sol.var`, a data set's `DATA.mean` and `DATA.var`, and
//! their misuse (E0715: `sol.y` of an ensemble, `sol.mean` of one solve,
//! statistics of a data set with one trajectory, `DATA.y` of many
//! trajectories beside an ensemble).
//!
//! The statistics are built here from the IR's existing operations on the
//! loss's inputs (see [`ensemble_mean`], [`ensemble_var`]), so lowering
//! and differentiation need nothing new. Never: read data or compute a
//! statistic's value (the driver fills [`LossInput::DataMean`] and
//! [`LossInput::DataVar`] when it materialises the data).

use std::sync::Arc;

use crate::diag::Diagnostic;
use crate::ir::training::{BatchSpec, InitialState};
use crate::ir::{BinaryOp, Shape, UnaryOp};
use crate::span::Span;
use crate::syntax::ast::Expr;

use super::checker::{Checker, Env};
use super::consts;
use super::data::DataInfo;
use super::tree::{CheckedLoss, LossInput, TExpr, TKind};

/// Most sample paths one ensemble may have.
pub const MAX_PATHS: usize = 1 << 20;

/// Most values an ensemble's paths may hold in a loss's input buffer
/// (`paths × save times × states`).
pub const MAX_ENSEMBLE_VALUES: usize = 1 << 26;

/// The hint of every E0715.
const STATS_HINT: &str =
    "an ensemble `solve(..., paths = N)` is compared with the data through `sol.mean` and `sol.var` \
                          against `DATA.mean` and `DATA.var`";

/// `sol.mean` of `paths` sample paths of `rows` save times and `n` state
/// values: `(1/N · 1ᵀ) @ P` reshaped to `[rows, n]`, where `P` is the
/// ensemble input `[N, rows·n]`.
pub fn ensemble_mean(paths: usize, rows: usize, n: usize, span: Span) -> TExpr {
    let row = mean_row(paths, rows * n, span);
    consts::reshape(row, Shape::matrix(rows, n), span)
}

/// `sol.var`, the unbiased (`N − 1`) variance over the paths:
/// `(1/(N−1) · 1ᵀ) @ (P − 1 @ m)²` with `m` the mean row (two passes, so
/// no cancellation), reshaped to `[rows, n]`.
pub fn ensemble_var(paths: usize, rows: usize, n: usize, span: Span) -> TExpr {
    let k = rows * n;
    let mean = mean_row(paths, k, span);
    let ones = ones_matrix(paths, 1, 1.0, span);
    let spread = consts::matmul(ones, mean, Shape::matrix(paths, k), span);
    let centred = consts::binary(BinaryOp::Sub, solution_paths(paths, k, span), spread, span);
    let squares = consts::unary(UnaryOp::Powi(2), centred, span);
    let weights = ones_matrix(1, paths, 1.0 / (paths - 1) as f64, span);
    let row = consts::matmul(weights, squares, Shape::matrix(1, k), span);
    consts::reshape(row, Shape::matrix(rows, n), span)
}

/// The ensemble input `[N, k]`.
fn solution_paths(paths: usize, k: usize, span: Span) -> TExpr {
    TExpr { kind: TKind::LossInput(LossInput::SolPaths), shape: Shape::matrix(paths, k), span }
}

/// The mean over the paths as a row `[1, k]`.
fn mean_row(paths: usize, k: usize, span: Span) -> TExpr {
    let weights = ones_matrix(1, paths, 1.0 / paths as f64, span);
    consts::matmul(weights, solution_paths(paths, k, span), Shape::matrix(1, k), span)
}

/// A constant `[rows, cols]` matrix with every entry `value`.
fn ones_matrix(rows: usize, cols: usize, value: f64, span: Span) -> TExpr {
    TExpr::constant(Arc::from(vec![value; rows * cols]), Shape::matrix(rows, cols), span)
}

impl<'a> Checker<'a> {
    /// `paths = N` of `call` (`solve` or `generate`, reported as `code`):
    /// a whole-number constant from 2 to [`MAX_PATHS`], for an SDE model
    /// only; `values_per_path` bounds the ensemble's input buffer (0: no
    /// bound). `None` if reported.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn paths_arg(
        &mut self,
        env: &Env,
        e: &'a Expr,
        call: &str,
        code: &'static str,
        model: &str,
        sde: bool,
        values_per_path: usize,
    ) -> Option<usize> {
        let v = self.expr(env, e)?;
        let bad =
            |this: &mut Self, label: String| {
                this.report(Diagnostic::error(code, format!("invalid `paths` of `{call}`"), e.span).label(label).hint(
                    "`paths = N` draws N sample paths of an SDE model: a whole number from 2, e.g. `paths = 256`",
                ));
            };
        let n = match consts::const_int(&v) {
            Some(n) if n >= 2 && n as usize <= MAX_PATHS => n as usize,
            Some(n) if n >= 2 => {
                bad(self, format!("`paths = {n}`; at most {MAX_PATHS}"));
                return None;
            }
            Some(n) => {
                bad(self, format!("`paths = {n}`; an ensemble has at least 2"));
                return None;
            }
            None if v.as_const().is_some() && v.shape.is_scalar() => {
                bad(self, "not a whole number".into());
                return None;
            }
            None => {
                bad(self, "not a whole-number constant".into());
                return None;
            }
        };
        if !sde {
            self.report(
                Diagnostic::error(
                    code,
                    format!("`paths` needs an SDE model, but `{model}` has no noise terms"),
                    e.span,
                )
                .label("sample paths of a deterministic model are all the same")
                .hint("drop `paths`: an ODE model has one solution"),
            );
            return None;
        }
        if values_per_path > 0 && n.saturating_mul(values_per_path) > MAX_ENSEMBLE_VALUES {
            bad(
                self,
                format!("{n} paths of {values_per_path} values each; at most {MAX_ENSEMBLE_VALUES} values in all"),
            );
            return None;
        }
        Some(n)
    }

    /// `sol.mean` or `sol.var` (shaped like one path's `sol.y`, `y_shape`)
    /// of a solve with `paths` sample paths (E0715 for a single solve).
    pub(super) fn ensemble_stat(
        &mut self,
        name: &str,
        base: &str,
        paths: usize,
        y_shape: Shape,
        name_span: Span,
        span: Span,
    ) -> Option<TExpr> {
        let (rows, n_state) = (y_shape.dim(0), y_shape.dim(1));
        if paths < 2 {
            self.report(
                Diagnostic::error("E0715", format!("`{base}.{name}` of a single solve"), name_span)
                    .label("a statistic over sample paths needs an ensemble")
                    .hint(
                        "solve an SDE model for many paths, `solve(model, at = obs.t, with = solver, paths = 256)`; \
                           one solve's values are `.y`",
                    ),
            );
            return None;
        }
        Some(match name {
            "mean" => ensemble_mean(paths, rows, n_state, span),
            _ => ensemble_var(paths, rows, n_state, span),
        })
    }

    /// E0715: `sol.y` of an ensemble.
    pub(super) fn ensemble_y(&mut self, base: &str, paths: usize, name_span: Span) {
        self.report(
            Diagnostic::error("E0715", format!("`{base}.y` of an ensemble of {paths} paths"), name_span)
                .label("the paths are compared through their statistics")
                .hint(format!("use `{base}.mean` and `{base}.var` ([T, n]); {STATS_HINT}")),
        );
    }

    /// `DATA.mean` or `DATA.var` of the data set `info` (E0715 for one
    /// trajectory): masked where fewer than 2 trajectories are observed.
    pub(super) fn data_stat(&mut self, info: &DataInfo, name: &str, base: &str, span: Span) -> Option<TExpr> {
        if info.n_traj < 2 {
            self.report(
                Diagnostic::error("E0715", format!("`{base}.{name}` of a data set with one trajectory"), span)
                    .label("a mean and variance over trajectories need at least 2")
                    .hint(
                        "load several trajectories, or draw them: `generate(model, at = ..., with = ..., paths = 256)`",
                    ),
            );
            return None;
        }
        if let Some(state) = self.loss.as_mut() {
            state.data_stats = true;
        }
        let shape = Shape::matrix(info.rows, info.n_obs);
        let input = |input| TExpr { kind: TKind::LossInput(input), shape, span };
        let value = input(if name == "mean" { LossInput::DataMean } else { LossInput::DataVar });
        let mask = TExpr { span: Span::detached(), ..input(LossInput::DataStatMask) };
        Some(consts::masked(value, Some(mask)))
    }

    /// E0715: `DATA.y` (at `reads`) of a data set with `n_traj` trajectories
    /// in a loss that solves an ensemble, which is evaluated once, not per
    /// trajectory.
    pub(super) fn ensemble_reads_y(&mut self, data: &str, n_traj: usize, reads: &[Span], solve: Span) {
        for &at in reads {
            self.report(
                Diagnostic::error("E0715", format!("`{data}.y` beside an ensemble solve"), at)
                    .label(format!("`{data}` has {n_traj} trajectories; an ensemble loss is evaluated once"))
                    .with_secondary(solve, "the ensemble solve")
                    .hint(format!("use `{data}.mean` and `{data}.var`; {STATS_HINT}")),
            );
        }
    }
}

impl Checker<'_> {
    /// E0706 unless a `train` block of the ensemble loss `loss` solves
    /// whole (`batch = full`, at `batch_span`) from the model's initial
    /// state: an ensemble loss is evaluated once per step, on paths that
    /// all start where the model does.
    pub(super) fn ensemble_train(
        &mut self,
        loss: &CheckedLoss,
        batch: BatchSpec,
        batch_span: Span,
        initial: Option<(InitialState, Span)>,
    ) {
        let paths = loss.layout.paths;
        if batch != BatchSpec::Full {
            self.report(
                Diagnostic::error("E0706", "an ensemble loss trains on `batch = full`", batch_span)
                    .label(format!("loss `{}` solves {paths} paths over the whole data", loss.name))
                    .hint(
                        "drop `batch` (or write `batch = full`): each step draws new paths over the data's whole span",
                    ),
            );
        }
        if let Some((InitialState::Data, at)) = initial {
            self.report(
                Diagnostic::error("E0706", "an ensemble starts from the model's initial state", at)
                    .label(format!(
                        "loss `{}` solves {paths} paths, which all start at the model's `state` values",
                        loss.name
                    ))
                    .hint("drop `initial` (or write `initial = model`)"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::training::{LossLayout, Sampling};
    use crate::ir::{interp, SolverSpec};
    use crate::lower::lower_loss;
    use crate::sema::CheckedLoss;

    /// Lowers `e` as a loss value over `layout` and evaluates it.
    fn eval(e: &TExpr, layout: LossLayout, input: &[f64]) -> Vec<f64> {
        let solver = SolverSpec { name: "s".into(), method: "euler_maruyama".into(), options: Vec::new() };
        let loss = CheckedLoss {
            name: "stats".into(),
            span: Span::detached(),
            model: "m".into(),
            n_param: 0,
            data: "d".into(),
            solver,
            sampling: Sampling::default(),
            stats_used: Vec::new(),
            layout,
            lets: Vec::new(),
            value: e.clone(),
        };
        interp::eval(&lower_loss(&loss, None).function, 0.0, input, &[]).expect("evaluates")
    }

    #[test]
    fn mean_and_unbiased_variance_over_paths() {
        // 3 paths, 2 save times, 2 states.
        let (paths, rows, n) = (3, 2, 2);
        let layout = LossLayout { n_times: rows, n_state: n, n_obs: n, paths, data_stats: false, n_field: 0 };
        let mut input = vec![0.0; layout.len()];
        let ys = [[1.0, 2.0, 3.0, 4.0], [3.0, 2.0, 1.0, 8.0], [5.0, 2.0, 2.0, 0.0]];
        for (b, y) in ys.iter().enumerate() {
            input[b * 4..(b + 1) * 4].copy_from_slice(y);
        }
        let mean = eval(&ensemble_mean(paths, rows, n, Span::detached()), layout, &input);
        let var = eval(&ensemble_var(paths, rows, n, Span::detached()), layout, &input);
        for j in 0..4 {
            let m = ys.iter().map(|y| y[j]).sum::<f64>() / 3.0;
            let v = ys.iter().map(|y| (y[j] - m).powi(2)).sum::<f64>() / 2.0;
            assert!((mean[j] - m).abs() < 1e-14, "{mean:?}");
            assert!((var[j] - v).abs() < 1e-13, "{var:?}");
        }
        assert_eq!(var[1], 0.0, "equal paths have no spread");
    }
}
