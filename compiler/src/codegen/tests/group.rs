//! Batched kernels that multiply a tile's members by a shared matrix in one
//! call of the group routine (`nde_rt_matvec_group`): every member's bits
//! are the single kernel's, with and without the routines, whatever the
//! batch size (one by one, whole tiles, a last tile overlapping its
//! predecessor) and the tile size.

use super::routines::with_routines;
use super::{assert_bits, check_batch, Rng};
use crate::codegen::{emit_clif, JitModule, JitOptions};
use crate::ir::random::{random_function, RandomConfig};
use crate::ir::{BinaryOp, Builder, Function, Shape, UnaryOp};
use nde_runtime::linalg::Routines;

/// A random MLP: `d` inputs, hidden widths from sizes that exercise every
/// path of the group routine (short rows `k < 4`, quads with and without
/// tail columns, blocks of four rows and the first one to three rows),
/// random activations, parameters packed at odd offsets (so matrices start
/// at every alignment).
fn random_mlp(seed: u64) -> Function {
    let mut rng = Rng::new(seed);
    let widths = [1usize, 2, 3, 5, 7, 13, 33, 64];
    let d = 1 + rng.below(6);
    let mut dims = vec![d];
    for _ in 0..1 + rng.below(3) {
        dims.push(rng.pick(&widths));
    }
    dims.push(d);
    let gap = rng.below(4);
    let n_param: usize = gap + dims.windows(2).map(|w| w[1] * w[0] + w[1]).sum::<usize>();
    let mut b = Builder::new(format!("mlp{seed}"), d, n_param);
    let mut h = b.state(0, Shape::vector(d));
    let mut off = gap;
    for (i, w) in dims.windows(2).enumerate() {
        let (k, m) = (w[0], w[1]);
        let wm = b.param(off, Shape::matrix(m, k));
        let bias = b.param(off + m * k, Shape::vector(m));
        off += m * k + m;
        let z = b.matmul(wm, h);
        let a = b.binary(BinaryOp::Add, z, bias);
        h = if i + 2 < dims.len() {
            let act = rng.pick(&[UnaryOp::Tanh, UnaryOp::Softplus, UnaryOp::Sin]);
            b.unary(act, a)
        } else {
            a
        };
    }
    b.output(h);
    b.finish()
}

/// The batched kernel over `n` members, for one set of inputs.
fn batch(j: &JitModule, f: &Function, p: &[f64], ts: &[f64], ys: &[f64]) -> Vec<f64> {
    let mut out = vec![f64::NAN; ts.len() * f.output_len()];
    j.run_batch(&f.name, ts, ys, p, &mut out).expect("run_batch");
    out
}

#[test]
fn random_mlps_give_every_member_the_single_kernels_bits() {
    for seed in 0..8 {
        let f = random_mlp(seed);
        let on = JitModule::compile(&[&f], &with_routines(true)).expect("compile with routines");
        let off = JitModule::compile(&[&f], &with_routines(false)).expect("compile inline");
        let mut rng = Rng::new(seed + 100);
        let p = rng.vec(f.n_param, -0.5, 0.5);
        for n in [1, 3, 8, 9, 61, 1024] {
            check_batch(&on, &f, &p, n, 2.0, seed * 7 + n as u64);
            check_batch(&off, &f, &p, n, 2.0, seed * 7 + n as u64);
            let ts = rng.vec(n, -1.0, 1.0);
            let ys = rng.vec(n * f.n_state, -2.0, 2.0);
            let what = format!("{} batch {n}: routines vs inline", f.name);
            assert_bits(&batch(&on, &f, &p, &ts, &ys), &batch(&off, &f, &p, &ts, &ys), &what);
        }
    }
}

#[test]
fn every_tile_size_gives_the_same_bits() {
    // Batches smaller than, equal to and between multiples of the tile: the
    // last tile overlaps its predecessor and writes those rows again.
    let fs = [
        super::batch::mlp(2, 64),
        random_mlp(3),
        random_function(5, &RandomConfig { max_dim: 20, ..Default::default() }),
    ];
    for f in &fs {
        let mut rng = Rng::new(11);
        let p = rng.vec(f.n_param, -0.5, 0.5);
        let reference = JitModule::compile(&[f], &JitOptions { batch_tile: 1, ..super::opts() }).expect("tile 1");
        for n in [1, 2, 5, 7, 8, 9, 15, 17, 23] {
            let ts = rng.vec(n, -1.0, 1.0);
            let ys = rng.vec(n * f.n_state, -2.0, 2.0);
            let want = batch(&reference, f, &p, &ts, &ys);
            for tile in [2, 3, 5, 8] {
                let j = JitModule::compile(&[f], &JitOptions { batch_tile: tile, ..super::opts() }).expect("compile");
                let got = batch(&j, f, &p, &ts, &ys);
                assert_bits(&got, &want, &format!("{} batch {n} tile {tile}", f.name));
            }
        }
    }
}

#[test]
fn a_tile_multiplies_all_its_members_in_one_call() {
    if !Routines::host().simd {
        return;
    }
    // `W y` for a 40 × 5 parameter matrix: one group call in the tile,
    // none in the single kernel (five columns stay inline there).
    let mut b = Builder::new("wy", 5, 200);
    let y = b.state(0, Shape::vector(5));
    let w = b.param(0, Shape::matrix(40, 5));
    let z = b.matmul(w, y);
    b.output(z);
    let f = b.finish();
    for tile in [2, 3, 8] {
        let text = emit_clif(&f, &JitOptions { batch_tile: tile, ..with_routines(true) }).expect("clif");
        assert_eq!(text.lines().filter(|l| l.contains(" call fn")).count(), 1, "tile {tile}:\n{text}");
    }
    check_batch(&JitModule::compile(&[&f], &with_routines(true)).expect("compile"), &f, &[0.25; 200], 19, 2.0, 1);
}
