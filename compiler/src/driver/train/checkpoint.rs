//! Checkpoints of a training run: everything needed to continue it bit
//! for bit (parameters, optimiser state, the window generator, the step
//! count, the loss history) as `.npz` arrays, with a fingerprint of the
//! model's parameter layout and the `train` block (and an ensemble's path
//! count) so that a checkpoint is never restored into another run.
//!
//! Never: write a file partially (`io::write_npz` is atomic) or accept a
//! checkpoint whose fingerprint differs.

use std::path::Path;

use nde_runtime::io::{self, Array};

use super::{StepRecord, TrainFailure, Trainer};
use crate::rng::SplitMix64;

impl Trainer {
    /// A fingerprint of what a checkpoint must match: the model's parameter
    /// layout and the train block.
    fn fingerprint(&self) -> u64 {
        let mut text = String::new();
        for p in &self.model.params {
            text += &format!("{}{:?};", p.name, p.shape.dims());
        }
        text += &format!(
            "{:?}",
            (
                &self.spec.loss,
                &self.spec.optimizer,
                &self.spec.schedule,
                self.spec.batch,
                self.spec.seed,
                self.window_loss.layout.paths
            )
        );
        crate::rng::fnv1a64(text.as_bytes())
    }

    /// Everything needed to continue this run exactly: parameters, optimiser
    /// state, the generator, the step count and the history.
    pub fn checkpoint(&self) -> Vec<Array> {
        let mut arrays = vec![
            Array::new("params", vec![self.params.len()], self.params.clone()),
            Array::new("step", vec![1], vec![self.steps_done as f64]),
            Array::new("rng", vec![4], split_u64(self.rng.state())),
            Array::new("fingerprint", vec![4], split_u64(self.fingerprint())),
        ];
        let h: Vec<f64> = self.history.iter().flat_map(|r| [r.step as f64, r.loss, r.nfe, r.grad_norm, r.lr]).collect();
        arrays.push(Array::new("history", vec![self.history.len(), 5], h));
        for (key, values) in self.optimizer.state() {
            arrays.push(Array::new(format!("optimizer.{key}"), vec![values.len()], values));
        }
        arrays
    }

    /// Writes [`Trainer::checkpoint`] to `path` (whole or not at all).
    pub fn write_checkpoint(&self, path: &Path) -> Result<(), TrainFailure> {
        Ok(io::write_npz(path, &self.checkpoint())?)
    }

    /// Continues from a checkpoint written by this train block.
    pub fn restore(&mut self, arrays: &[Array]) -> Result<(), TrainFailure> {
        let bad = |m: String| TrainFailure::BadCheckpoint(m);
        let get = |name: &str| {
            arrays.iter().find(|a| a.name == name).ok_or_else(|| bad(format!("the checkpoint has no `{name}` array")))
        };
        let fp = join_u64(&get("fingerprint")?.data).ok_or_else(|| bad("malformed `fingerprint`".into()))?;
        if fp != self.fingerprint() {
            return Err(bad("it was written for a different model or train block".into()));
        }
        let params = &get("params")?.data;
        if params.len() != self.params.len() {
            return Err(bad(format!("it has {} parameters, the model {}", params.len(), self.params.len())));
        }
        let rng = join_u64(&get("rng")?.data).ok_or_else(|| bad("malformed `rng`".into()))?;
        let step = get("step")?.data.first().copied().unwrap_or(-1.0);
        if !(step >= 0.0 && step.fract() == 0.0) {
            return Err(bad("malformed `step`".into()));
        }
        let history = &get("history")?.data;
        if history.len() % 5 != 0 {
            return Err(bad("malformed `history`".into()));
        }
        let state: Vec<(String, Vec<f64>)> = arrays
            .iter()
            .filter_map(|a| a.name.strip_prefix("optimizer.").map(|k| (k.to_string(), a.data.clone())))
            .collect();
        self.optimizer.restore(&state).map_err(|e| bad(e.to_string()))?;
        self.params = params.clone();
        self.rng = SplitMix64::new(rng);
        self.steps_done = step as u64;
        self.history = history
            .chunks(5)
            .map(|r| StepRecord { step: r[0] as u64, loss: r[1], nfe: r[2], grad_norm: r[3], lr: r[4] })
            .collect();
        Ok(())
    }
}

/// A `u64` as four exactly representable 16-bit pieces (npz arrays are `f64`).
pub(super) fn split_u64(x: u64) -> Vec<f64> {
    (0..4).map(|i| ((x >> (16 * i)) & 0xffff) as f64).collect()
}

pub(super) fn join_u64(v: &[f64]) -> Option<u64> {
    if v.len() != 4 || v.iter().any(|&x| !(0.0..65536.0).contains(&x) || x.fract() != 0.0) {
        return None;
    }
    Some(v.iter().enumerate().fold(0u64, |acc, (i, &x)| acc | ((x as u64) << (16 * i))))
}
