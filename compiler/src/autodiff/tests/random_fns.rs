//! Random functions over every op: derivatives against finite differences,
//! the adjoint identity, and compiled against interpreted kernels.

use super::random::{random_function, Kind, BINARY, UNARY};
use super::{check_jit, check_point, Derivs, Rng};
use std::collections::HashSet;

/// Functions checked.
const CASES: u64 = 300;

#[test]
fn random_functions_match_finite_differences() {
    let mut seen: HashSet<Kind> = HashSet::new();
    for seed in 0..CASES {
        let (f, kinds) = random_function(seed);
        seen.extend(kinds);
        let d = Derivs::of(&f);
        let mut rng = Rng::new(seed ^ 0xd1ff);
        for point in 0..2 {
            let t = rng.uniform(0.0, 1.0);
            let y = rng.vec(f.n_state, -1.0, 1.0);
            let p = rng.vec(f.n_param, -1.0, 1.0);
            check_point(&f, &d, t, &y, &p, &mut rng, &format!("{} point {point}\n{f}", f.name));
        }
    }
    let mut want: Vec<Kind> = UNARY.iter().map(|&u| Kind::Unary(u)).collect();
    want.extend(BINARY.iter().map(|&b| Kind::Binary(b)));
    want.extend([(2, 2), (2, 1), (1, 2), (1, 1)].map(|(a, b)| Kind::MatMul(a, b)));
    want.extend([Kind::Transpose, Kind::Sum, Kind::Slice, Kind::Index, Kind::Concat, Kind::Reshape, Kind::Broadcast]);
    let missing: Vec<&Kind> = want.iter().filter(|k| !seen.contains(k)).collect();
    assert!(missing.is_empty(), "ops never generated: {missing:?}");
}

#[test]
fn random_functions_compile_like_they_interpret() {
    for seed in 0..CASES / 3 {
        let (f, _) = random_function(seed);
        let d = Derivs::of(&f);
        let mut rng = Rng::new(seed ^ 0x717);
        let t = rng.uniform(0.0, 1.0);
        let y = rng.vec(f.n_state, -1.0, 1.0);
        let p = rng.vec(f.n_param, -1.0, 1.0);
        check_jit(&f, &d, t, &y, &p, &mut rng, &f.name);
    }
}
