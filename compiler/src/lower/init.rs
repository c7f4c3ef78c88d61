//! Initial parameter values: a small seeded PRNG of our own and the
//! initialisers `zeros`, `ones`, `glorot` and `normal(std)`.
//!
//! Reproducibility rules (stable; changing them changes every model's
//! starting point): each parameter tensor draws from its own SplitMix64
//! stream whose state is `splitmix64(seed) XOR fnv1a64(full name)` — the
//! first output of a SplitMix64 generator seeded with the frontend seed,
//! mixed with the FNV-1a hash of the parameter's full name (`f.W1`) — so
//! adding, removing or reordering one parameter leaves the others' values
//! unchanged. Values fill the tensor in row-major order. Uniforms are
//! `(next >> 11) * 2^-53` in `[0, 1)`; glorot-uniform is
//! `limit * (2u - 1)` with `limit = sqrt(6 / (fan_in + fan_out))` for a
//! `[fan_out, fan_in]` matrix; normal draws come in Box–Muller pairs
//! `sqrt(-2 ln(1 - u1)) * (cos, sin)(2π u2)`, scaled by `std`.

pub use crate::rng::{fnv1a64, SplitMix64};
use crate::sema::{ParamDecl, ParamInit};

/// The random stream of the parameter called `name`.
pub fn param_stream(seed: u64, name: &str) -> SplitMix64 {
    let mixed = SplitMix64::new(seed).next_u64() ^ fnv1a64(name.as_bytes());
    SplitMix64::new(mixed)
}

/// The initial values of one parameter tensor, row-major.
pub fn initial_values(p: &ParamDecl, seed: u64) -> Vec<f64> {
    let n = p.shape.len();
    match &p.init {
        ParamInit::Values(v) => v.to_vec(),
        ParamInit::Zeros => vec![0.0; n],
        ParamInit::Ones => vec![1.0; n],
        ParamInit::Glorot => {
            let (fan_out, fan_in) = match p.shape.dims() {
                [m, k] => (*m as f64, *k as f64),
                _ => (n as f64, n as f64),
            };
            let limit = (6.0 / (fan_in + fan_out)).sqrt();
            let mut rng = param_stream(seed, &p.name);
            (0..n).map(|_| limit * (2.0 * rng.unit() - 1.0)).collect()
        }
        ParamInit::Normal { std } => {
            let mut rng = param_stream(seed, &p.name);
            let mut out = Vec::with_capacity(n + 1);
            while out.len() < n {
                let (u1, u2) = (1.0 - rng.unit(), rng.unit());
                let r = (-2.0 * u1.ln()).sqrt();
                let a = 2.0 * std::f64::consts::PI * u2;
                out.push(std * r * a.cos());
                out.push(std * r * a.sin());
            }
            out.truncate(n);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Shape;
    use crate::span::Span;

    fn decl(name: &str, shape: Shape, init: ParamInit) -> ParamDecl {
        ParamDecl { name: name.to_string(), shape, init, span: Span::detached() }
    }

    #[test]
    fn splitmix_and_fnv_match_their_reference_values() {
        // SplitMix64 seeded with 0: first outputs of the reference implementation.
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(fnv1a64(b""), 0xCBF2_9CE4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xAF63_DC4C_8601_EC8C);
    }

    #[test]
    fn glorot_is_bounded_seeded_and_per_name() {
        let w = decl("f.W1", Shape::matrix(64, 2), ParamInit::Glorot);
        let a = initial_values(&w, 0);
        let limit = (6.0f64 / 66.0).sqrt();
        assert_eq!(a.len(), 128);
        assert!(a.iter().all(|x| x.abs() <= limit));
        assert!(a.iter().any(|x| x.abs() > limit / 2.0), "spread over the range");
        assert_eq!(a, initial_values(&w, 0), "reproducible");
        assert_ne!(a, initial_values(&w, 1), "depends on the seed");
        let other = decl("f.W2", Shape::matrix(64, 2), ParamInit::Glorot);
        assert_ne!(a, initial_values(&other, 0), "depends on the name");
    }

    #[test]
    fn normal_has_the_requested_spread() {
        let p = decl("w", Shape::vector(20001), ParamInit::Normal { std: 0.5 });
        let v = initial_values(&p, 7);
        assert_eq!(v.len(), 20001);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var.sqrt() - 0.5).abs() < 0.02, "std {}", var.sqrt());
    }

    #[test]
    fn fixed_initialisers() {
        assert_eq!(initial_values(&decl("b", Shape::vector(3), ParamInit::Zeros), 0), [0.0; 3]);
        assert_eq!(initial_values(&decl("b", Shape::vector(2), ParamInit::Ones), 0), [1.0; 2]);
        let v = ParamInit::Values(std::sync::Arc::from(vec![1.0, 2.0]));
        assert_eq!(initial_values(&decl("c", Shape::vector(2), v), 0), [1.0, 2.0]);
    }
}
