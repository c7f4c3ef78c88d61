//! Matching parameter arrays (from a `.npz` file) to a model's parameter slots.
//!
//! An array named exactly like a parameter (`f.W1`, `sigma`) sets it. An array
//! whose name is the last segment of exactly one parameter (`W1` for `f.W1`)
//! sets that one, so weights saved from other tools load without renaming.
//! Shapes must match exactly; a scalar parameter also accepts a 1-element array.

use std::fmt;

use nde_runtime::io::Array;

use crate::ir::ModelIr;

#[derive(Clone, Debug, PartialEq)]
pub enum ParamError {
    ShapeMismatch { param: String, expected: Vec<usize>, found: Vec<usize>, array: String },
    NonFinite { param: String, index: usize },
    Ambiguous { array: String, candidates: Vec<String> },
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::ShapeMismatch { param, expected, found, array } => {
                write!(f, "array `{array}` has shape {found:?} but parameter `{param}` is {expected:?}")
            }
            ParamError::NonFinite { param, index } => {
                write!(f, "parameter `{param}` has a non-finite value at flat index {index}")
            }
            ParamError::Ambiguous { array, candidates } => {
                write!(f, "array `{array}` could set any of {}: name it in full", candidates.join(", "))
            }
        }
    }
}

impl std::error::Error for ParamError {}

/// What [`apply_param_arrays`] did, for the user's information.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParamReport {
    /// Parameters set from the file.
    pub set: Vec<String>,
    /// Parameters the file did not mention (they keep their initial values).
    pub kept: Vec<String>,
    /// Arrays in the file that match no parameter.
    pub unused: Vec<String>,
}

/// Overwrites entries of `values` (the model's flat parameter vector) from `arrays`.
pub fn apply_param_arrays(model: &ModelIr, values: &mut [f64], arrays: &[Array]) -> Result<ParamReport, ParamError> {
    let mut report = ParamReport::default();
    let mut set = vec![false; model.params.len()];
    for array in arrays {
        let exact = model.params.iter().position(|p| p.name == array.name);
        let index = match exact {
            Some(i) => Some(i),
            None => {
                let suffix: Vec<usize> = (0..model.params.len())
                    .filter(|&i| model.params[i].name.rsplit('.').next() == Some(array.name.as_str()))
                    .collect();
                match suffix.as_slice() {
                    [] => None,
                    [i] => Some(*i),
                    many => {
                        return Err(ParamError::Ambiguous {
                            array: array.name.clone(),
                            candidates: many.iter().map(|&i| model.params[i].name.clone()).collect(),
                        })
                    }
                }
            }
        };
        let Some(i) = index else {
            report.unused.push(array.name.clone());
            continue;
        };
        let slot = &model.params[i];
        let expected: Vec<usize> = slot.shape.dims().iter().map(|&d| d as usize).collect();
        let fits = array.shape == expected || (expected.is_empty() && array.data.len() == 1);
        if !fits {
            return Err(ParamError::ShapeMismatch {
                param: slot.name.clone(),
                expected,
                found: array.shape.clone(),
                array: array.name.clone(),
            });
        }
        if let Some(k) = array.data.iter().position(|v| !v.is_finite()) {
            return Err(ParamError::NonFinite { param: slot.name.clone(), index: k });
        }
        values[slot.offset..slot.offset + array.data.len()].copy_from_slice(&array.data);
        set[i] = true;
        report.set.push(slot.name.clone());
    }
    report.kept = model.params.iter().zip(&set).filter(|(_, &s)| !s).map(|(p, _)| p.name.clone()).collect();
    Ok(report)
}

/// The model's parameters as named arrays (for writing a `.npz`).
pub fn param_arrays(model: &ModelIr, values: &[f64]) -> Vec<Array> {
    model
        .params
        .iter()
        .map(|p| {
            let shape = p.shape.dims().iter().map(|&d| d as usize).collect();
            Array::new(p.name.clone(), shape, values[p.offset..p.offset + p.shape.len()].to_vec())
        })
        .collect()
}
