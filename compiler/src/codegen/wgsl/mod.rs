//! WGSL code generation: IR functions to WGSL source text, for GPU kernels.
//!
//! Owns the second backend of the tensor IR (the first is cranelift, in the
//! parent module): each verified [`Function`] becomes one WGSL function
//!
//! ```text
//! fn NAME(t: T, y: ptr<function, array<T, N_STATE>>, out: ptr<function, array<T, OUT_LEN>>)
//! ```
//!
//! over private arrays, reading the parameters from the module-scope storage
//! buffer `nde_p: array<T>` (which the caller declares, see
//! [`PARAM_BUFFER`]). `T` is `f32` or `f64` ([`Precision`]); `f64` is naga's
//! extension (capability `FLOAT64`, wgpu's `SHADER_F64`, literals with the
//! `lf` suffix, no `enable` directive).
//!
//! Semantics follow the reference interpreter (`ir::interp`) op by op:
//! - shape ops (`broadcast`, `reshape`, `transpose`, `slice`, `index`) are
//!   index arithmetic on their operand, never copies;
//! - elementwise ops, matrix products, sums and concatenations materialise
//!   into a private array (a `let` for scalars);
//! - reductions add left to right from the first term, like the interpreter;
//! - transcendentals ([`prelude`]): WGSL's builtins in `f32`; in `f64`, where
//!   WGSL has no builtins, the inline polynomials of the CPU kernels
//!   (`codegen/math.rs`, with the runtime's `expm1` coefficients), so GPU
//!   `f64` results match the CPU's to a few ulp.
//!
//! Never: depend on wgpu or naga (this is text generation, compiled in every
//! build), allocate on the device, or panic on a malformed function (it is
//! verified first and reported as [`WgslError`]).

mod emit;
mod math;
#[cfg(test)]
mod tests;

use std::fmt;

use crate::ir::verify::{verify, VerifyError};
use crate::ir::Function;

pub use math::prelude;

/// The name of the module-scope parameter buffer generated functions read.
pub const PARAM_BUFFER: &str = "nde_p";

/// The scalar type of generated code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    F32,
    F64,
}

impl Precision {
    /// The WGSL type name.
    pub fn ty(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }

    /// Bytes per value.
    pub fn size(self) -> usize {
        match self {
            Precision::F32 => 4,
            Precision::F64 => 8,
        }
    }

    /// A WGSL literal for `x` of this type (exact in `f64`; in `f32`, `x`
    /// rounded to `f32` once). Fails for non-finite values, which WGSL
    /// cannot spell.
    pub fn literal(self, x: f64) -> Result<String, WgslError> {
        if !x.is_finite() {
            return Err(WgslError::NonFiniteConstant(x));
        }
        let text = match self {
            Precision::F32 => format!("{:e}f", x as f32),
            Precision::F64 => format!("{x:e}lf"),
        };
        Ok(if text.starts_with('-') { format!("({text})") } else { text })
    }

    /// [`Precision::literal`] for values known to be finite (the
    /// generators' own constants).
    pub(crate) fn lit(self, x: f64) -> String {
        self.literal(x).unwrap_or_else(|_| unreachable!("non-finite generator constant {x}"))
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.ty())
    }
}

/// Why a function could not be translated.
#[derive(Clone, Debug, PartialEq)]
pub enum WgslError {
    /// The function failed verification.
    Malformed(VerifyError),
    /// A constant is infinite or NaN (WGSL has no literal for it).
    NonFiniteConstant(f64),
}

impl fmt::Display for WgslError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WgslError::Malformed(e) => write!(f, "malformed function: {e}"),
            WgslError::NonFiniteConstant(x) => {
                write!(f, "the constant {x} cannot be written in WGSL (GPU kernels need finite constants)")
            }
        }
    }
}

impl std::error::Error for WgslError {}

/// WGSL source of `f` as the function `name` (see the module docs for its
/// signature), followed by nothing else: the caller assembles a module from
/// [`prelude`], the parameter buffer's declaration and the functions it needs.
/// Module-scope constants of the function are named `name_cK`.
pub fn function(f: &Function, name: &str, precision: Precision) -> Result<String, WgslError> {
    verify(f).map_err(WgslError::Malformed)?;
    emit::Emitter::new(f, name, precision).emit().map(|s| lower_for_loops(&s))
}

/// A self-contained module with the prelude, a parameter buffer at
/// `@group(0) @binding(0)`, and `f` as `name`: what the validation tests
/// check, and a starting point for hand-written drivers.
pub fn standalone_module(f: &Function, name: &str, precision: Precision) -> Result<String, WgslError> {
    let mut s = String::new();
    s.push_str(&prelude(precision));
    s.push_str(&format!("@group(0) @binding(0) var<storage, read> {PARAM_BUFFER}: array<{precision}>;\n\n"));
    s.push_str(&function(f, name, precision)?);
    Ok(s)
}

/// Rewrites every `for (var X = A; X < B; X++) { BODY }` (and `for (; …)`
/// forms) into `{ var X: u32; X = A; loop { if (!(X < B)) { break; } BODY
/// continuing { X++; } } }`: the loop variable is assigned, never
/// initialised in a declaration. lavapipe (Mesa 22–23) runs a function whose
/// loop counters are declared with constant initialisers correctly once and
/// wrongly when the function is called again in the same invocation (as a
/// solver does, every stage); the assigned form is right on every driver.
pub fn lower_for_loops(src: &str) -> String {
    let mut out = String::with_capacity(src.len() + src.len() / 4);
    let mut rest = src;
    while let Some(at) = rest.find("for (") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 5..];
        let Some(close) = after.find(')') else {
            out.push_str(&rest[at..]);
            return out;
        };
        let header = &after[..close];
        let parts: Vec<&str> = header.split(';').map(str::trim).collect();
        let body_start = after[close..].find('{').map(|i| close + i + 1);
        let (Some(body_start), [init, cond, update]) = (body_start, parts.as_slice()) else {
            out.push_str("for (");
            rest = after;
            continue;
        };
        // Matching close brace of the body.
        let mut depth = 1usize;
        let mut end = None;
        for (i, ch) in after[body_start..].char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(body_start + i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else {
            out.push_str(&rest[at..]);
            return out;
        };
        let body = lower_for_loops(&after[body_start..end]);
        let init = match init.strip_prefix("var ").and_then(|d| d.split_once('=')) {
            Some((name, value)) => format!("var {0}: u32; {0} = {1};", name.trim(), value.trim()),
            None if init.is_empty() => String::new(),
            None => format!("{init};"),
        };
        let cond = if cond.is_empty() { String::new() } else { format!(" if (!({cond})) {{ break; }}") };
        let cont = if update.is_empty() { String::new() } else { format!(" continuing {{ {update}; }}") };
        out.push_str(&format!("{{ {init} loop {{{cond}{body}{cont} }} }}"));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}
