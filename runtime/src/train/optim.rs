//! First-order optimisers with PyTorch's update rules, operation for
//! operation, and state that can be saved and restored exactly.
//!
//! Owns [`Rule`] (which optimiser, with its hyperparameters) and
//! [`Optimizer`] (a rule, a [`Schedule`], the step count and the
//! per-parameter buffers). Never allocates in [`Optimizer::step`].
//!
//! # Update formulas
//! Step `k` (counted from 1 here; the learning rate is `η = schedule.lr(k −
//! 1)`), gradient `g`, parameters `θ`, weight decay `λ`. Every operation is
//! evaluated in the order PyTorch's single-tensor CPU path evaluates it
//! (`torch/optim/{sgd,adam,rmsprop}.py` and its `lerp`, `addcmul`,
//! `addcdiv` kernels), so results agree with PyTorch in float64 to the
//! last bit up to libm differences. optax's rules are the same formulas
//! (rounded differently in places).
//! - **SGD** (`momentum μ`, `dampening τ`, `nesterov`): `d = g + λθ`;
//!   with `μ ≠ 0`: `b = d` at `k = 1`, else `b = μb + (1 − τ)d`; `d = d +
//!   μb` (Nesterov) or `d = b`; `θ = θ − η d`.
//! - **Adam** (`β1, β2, ε`, L2 weight decay): `g = g + λθ`;
//!   `m = lerp(m, g, 1 − β1)`; `v = β2 v + (1 − β2) g g`;
//!   `θ = θ − (η / (1 − β1^k)) m / (√v / √(1 − β2^k) + ε)`.
//!   `lerp(a, b, w) = a + w(b − a)` for `|w| < ½`, else `b − (b − a)(1 − w)`.
//! - **AdamW** (decoupled weight decay, Loshchilov & Hutter): `θ = θ (1 −
//!   ηλ)`, then the Adam update without the L2 term.
//! - **RMSprop** (`α, ε, momentum μ, centered`): `g = g + λθ`;
//!   `s = α s + (1 − α) g g`; centered: `ḡ = lerp(ḡ, g, 1 − α)`,
//!   `r = √(s − ḡ ḡ) + ε`, else `r = √s + ε`; with `μ > 0`: `b = μb + g/r`,
//!   `θ = θ − η b`; else `θ = θ − η g / r`. Note ε is added *outside* the
//!   square root (PyTorch; TensorFlow and optax's `rmsprop` put it inside).
//!
//! Defaults are PyTorch's: Adam `β = (0.9, 0.999)`, `ε = 1e-8`, no decay;
//! AdamW the same with `λ = 0.01`; RMSprop `α = 0.99`, `ε = 1e-8`, no
//! momentum, not centered (PyTorch's default `lr` of 0.01 for RMSprop is a
//! [`Schedule`] choice; the spiral demo uses 1e-3).

use super::{check, Schedule, TrainError};

/// An optimiser's update rule and hyperparameters (see the module docs for
/// the formulas).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    Sgd {
        momentum: f64,
        dampening: f64,
        nesterov: bool,
        weight_decay: f64,
    },
    /// `weight_decay` is PyTorch Adam's L2 term, added to the gradient.
    Adam {
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
    },
    /// Decoupled weight decay.
    AdamW {
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
    },
    RmsProp {
        alpha: f64,
        eps: f64,
        momentum: f64,
        centered: bool,
        weight_decay: f64,
    },
}

impl Rule {
    /// SGD with the given momentum (0 for plain SGD), no dampening, no decay.
    pub fn sgd(momentum: f64) -> Rule {
        Rule::Sgd { momentum, dampening: 0.0, nesterov: false, weight_decay: 0.0 }
    }

    /// PyTorch's Adam defaults.
    pub fn adam() -> Rule {
        Rule::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 }
    }

    /// PyTorch's AdamW defaults (`weight_decay = 0.01`).
    pub fn adamw() -> Rule {
        Rule::AdamW { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 }
    }

    /// PyTorch's RMSprop defaults.
    pub fn rmsprop() -> Rule {
        Rule::RmsProp { alpha: 0.99, eps: 1e-8, momentum: 0.0, centered: false, weight_decay: 0.0 }
    }

    /// `"sgd"`, `"adam"`, `"adamw"` or `"rmsprop"`.
    pub fn name(&self) -> &'static str {
        match self {
            Rule::Sgd { .. } => "sgd",
            Rule::Adam { .. } => "adam",
            Rule::AdamW { .. } => "adamw",
            Rule::RmsProp { .. } => "rmsprop",
        }
    }

    /// Checks the hyperparameters against PyTorch's ranges.
    pub fn validate(&self) -> Result<(), TrainError> {
        let nonneg = |name, v: f64| check(name, v, v >= 0.0, "a finite number >= 0");
        let beta = |name, v: f64| check(name, v, (0.0..1.0).contains(&v), "a number in [0, 1)");
        match *self {
            Rule::Sgd { momentum, dampening, nesterov, weight_decay } => {
                nonneg("momentum", momentum)?;
                nonneg("dampening", dampening)?;
                nonneg("weight_decay", weight_decay)?;
                if nesterov && (momentum <= 0.0 || dampening != 0.0) {
                    return Err(TrainError::InvalidHyperparameter {
                        name: "momentum",
                        value: momentum,
                        expected: "a positive momentum and zero dampening for Nesterov momentum",
                    });
                }
                Ok(())
            }
            Rule::Adam { beta1, beta2, eps, weight_decay } | Rule::AdamW { beta1, beta2, eps, weight_decay } => {
                beta("beta1", beta1)?;
                beta("beta2", beta2)?;
                nonneg("eps", eps)?;
                nonneg("weight_decay", weight_decay)
            }
            Rule::RmsProp { alpha, eps, momentum, weight_decay, .. } => {
                nonneg("alpha", alpha)?;
                nonneg("eps", eps)?;
                nonneg("momentum", momentum)?;
                nonneg("weight_decay", weight_decay)
            }
        }
    }

    /// The names of the per-parameter buffers, in storage order (PyTorch's
    /// state-dict names).
    fn buffers(&self) -> Vec<&'static str> {
        match *self {
            Rule::Sgd { momentum, .. } if momentum != 0.0 => vec!["momentum_buffer"],
            Rule::Sgd { .. } => vec![],
            Rule::Adam { .. } | Rule::AdamW { .. } => vec!["exp_avg", "exp_avg_sq"],
            Rule::RmsProp { momentum, centered, .. } => {
                let mut names = vec!["square_avg"];
                if momentum > 0.0 {
                    names.push("momentum_buffer");
                }
                if centered {
                    names.push("grad_avg");
                }
                names
            }
        }
    }
}

/// PyTorch's `lerp`: `a + w(b − a)` for `|w| < ½`, else `b − (b − a)(1 − w)`.
#[inline]
fn lerp(a: f64, b: f64, w: f64) -> f64 {
    if w.abs() < 0.5 {
        a + w * (b - a)
    } else {
        b - (b - a) * (1.0 - w)
    }
}

/// An optimiser over a flat parameter vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Optimizer {
    rule: Rule,
    schedule: Schedule,
    n: usize,
    /// Steps taken so far.
    step: u64,
    /// Per-parameter buffers, named by `rule.buffers()`.
    bufs: Vec<Vec<f64>>,
}

impl Optimizer {
    /// An optimiser for `n_params` parameters; validates the rule and the
    /// schedule.
    pub fn new(rule: Rule, schedule: Schedule, n_params: usize) -> Result<Optimizer, TrainError> {
        rule.validate()?;
        schedule.validate()?;
        let bufs = rule.buffers().iter().map(|_| vec![0.0; n_params]).collect();
        Ok(Optimizer { rule, schedule, n: n_params, step: 0, bufs })
    }

    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The learning rate the next step will use.
    pub fn next_lr(&self) -> f64 {
        self.schedule.lr(self.step)
    }

    /// Updates `params` in place from `grad` and returns the learning rate
    /// used. Refuses (changing nothing) if a length is wrong or a gradient
    /// entry is not finite.
    pub fn step(&mut self, params: &mut [f64], grad: &[f64]) -> Result<f64, TrainError> {
        for (what, len) in [("the parameter vector", params.len()), ("the gradient", grad.len())] {
            if len != self.n {
                return Err(TrainError::LengthMismatch { what: what.into(), expected: self.n, got: len });
            }
        }
        if let Some(index) = grad.iter().position(|g| !g.is_finite()) {
            return Err(TrainError::NonFiniteGradient { index });
        }
        let lr = self.schedule.lr(self.step);
        let first = self.step == 0;
        let k = (self.step + 1) as f64;
        match self.rule {
            Rule::Sgd { momentum, dampening, nesterov, weight_decay } => {
                let buf = self.bufs.first_mut().map(Vec::as_mut_slice).unwrap_or(&mut []);
                for (i, (p, &g)) in params.iter_mut().zip(grad).enumerate() {
                    let mut d = if weight_decay != 0.0 { g + weight_decay * *p } else { g };
                    if momentum != 0.0 {
                        let b = &mut buf[i];
                        *b = if first { d } else { *b * momentum + (1.0 - dampening) * d };
                        d = if nesterov { d + momentum * *b } else { *b };
                    }
                    *p += -lr * d;
                }
            }
            Rule::Adam { beta1, beta2, eps, weight_decay } | Rule::AdamW { beta1, beta2, eps, weight_decay } => {
                let decoupled = matches!(self.rule, Rule::AdamW { .. });
                let step_size = lr / (1.0 - beta1.powf(k));
                let bc2_sqrt = (1.0 - beta2.powf(k)).sqrt();
                let (m, v) = self.bufs.split_at_mut(1);
                for ((p, &g), (m, v)) in params.iter_mut().zip(grad).zip(m[0].iter_mut().zip(v[0].iter_mut())) {
                    let g = if decoupled {
                        *p *= 1.0 - lr * weight_decay;
                        g
                    } else if weight_decay != 0.0 {
                        g + weight_decay * *p
                    } else {
                        g
                    };
                    *m = lerp(*m, g, 1.0 - beta1);
                    *v = *v * beta2 + (1.0 - beta2) * g * g;
                    let denom = v.sqrt() / bc2_sqrt + eps;
                    *p += -step_size * *m / denom;
                }
            }
            Rule::RmsProp { alpha, eps, momentum, centered, weight_decay } => {
                let mut bufs = self.bufs.iter_mut();
                let square = bufs.next().map(Vec::as_mut_slice).unwrap_or(&mut []);
                let mut mom = if momentum > 0.0 { bufs.next().map(Vec::as_mut_slice) } else { None };
                let mut avg = if centered { bufs.next().map(Vec::as_mut_slice) } else { None };
                for (i, (p, &g)) in params.iter_mut().zip(grad).enumerate() {
                    let g = if weight_decay != 0.0 { g + weight_decay * *p } else { g };
                    let s = &mut square[i];
                    *s = *s * alpha + (1.0 - alpha) * g * g;
                    let r = match avg.as_deref_mut() {
                        Some(avg) => {
                            avg[i] = lerp(avg[i], g, 1.0 - alpha);
                            (*s - avg[i] * avg[i]).sqrt() + eps
                        }
                        None => s.sqrt() + eps,
                    };
                    match mom.as_deref_mut() {
                        Some(b) => {
                            b[i] = b[i] * momentum + g / r;
                            *p += -lr * b[i];
                        }
                        None => *p += -lr * g / r,
                    }
                }
            }
        }
        self.step += 1;
        Ok(lr)
    }

    /// Everything needed to continue exactly: `("step", [k])` and each
    /// buffer by its PyTorch state-dict name (`exp_avg`, `exp_avg_sq`,
    /// `momentum_buffer`, `square_avg`, `grad_avg`).
    pub fn state(&self) -> Vec<(String, Vec<f64>)> {
        let mut out = vec![("step".to_string(), vec![self.step as f64])];
        for (name, buf) in self.rule.buffers().into_iter().zip(&self.bufs) {
            out.push((name.to_string(), buf.clone()));
        }
        out
    }

    /// Restores a [`Optimizer::state`] of an optimiser with the same rule
    /// and parameter count; afterwards steps continue bit for bit. Checks
    /// every name and length first and changes nothing on error.
    pub fn restore(&mut self, state: &[(String, Vec<f64>)]) -> Result<(), TrainError> {
        let names = self.rule.buffers();
        let find = |name: &str| state.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        if let Some((extra, _)) = state.iter().find(|(n, _)| n != "step" && !names.contains(&n.as_str())) {
            return Err(TrainError::BadState {
                what: format!("`{extra}` is not a buffer of {} with these settings", self.rule.name()),
            });
        }
        let step = match find("step").map(Vec::as_slice) {
            Some(&[k]) if k >= 0.0 && k.fract() == 0.0 && k <= 2f64.powi(53) => k as u64,
            Some(v) => return Err(TrainError::BadState { what: format!("`step` must be one count, got {v:?}") }),
            None => return Err(TrainError::BadState { what: "`step` is missing".into() }),
        };
        let mut bufs = Vec::with_capacity(names.len());
        for name in names {
            let Some(v) = find(name) else {
                return Err(TrainError::BadState { what: format!("`{name}` is missing") });
            };
            if v.len() != self.n {
                return Err(TrainError::LengthMismatch {
                    what: format!("state `{name}`"),
                    expected: self.n,
                    got: v.len(),
                });
            }
            bufs.push(v.clone());
        }
        self.step = step;
        self.bufs = bufs;
        Ok(())
    }
}
