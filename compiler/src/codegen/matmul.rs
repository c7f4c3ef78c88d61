//! Matrix products as register-blocked `f64x2` loops, or calls to the
//! runtime's 256-bit routines.
//!
//! Owns `MatMul` lowering. Every product is reduced to matrix–vector
//! products `out[r] = Σ_k M[r,k] x[k]` (a vector–matrix product uses `Bᵀ`, a
//! matrix–matrix product one of them per row of `A`), computed in one of
//! two fixed summation orders chosen from `M`'s layout alone, the orders of
//! [`nde_runtime::linalg::matvec`]:
//!
//! - *row-dot* (rows of `M` contiguous), the quad-lane order: partial sums
//!   `l_j` over the columns `k ≡ j (mod 4)` of the full quads (two `f64x2`
//!   accumulators per row: lanes 0, 1 and lanes 2, 3), each starting with a
//!   product and continuing by FMA in increasing `k`; then
//!   `(l_0 + l_2) + (l_1 + l_3)`, then FMA over the remaining columns. Rows
//!   shorter than 4 are `M[r,0]x[0]` followed by FMAs. Blocks of rows share
//!   each load of `x`.
//! - *column-axpy* (columns of `M` contiguous and at least 4 rows, e.g.
//!   `x @ W` with row-major `W`): each output is `M[r,0]x[0]`, then FMA over
//!   `k` in order; two outputs per vector. In a batched kernel with shared
//!   weights, each load of `M` serves every trajectory of the tile. With
//!   two or three rows (`h @ W1` for a `[h, 2]` weight) the single chain of
//!   `k` FMAs would be latency-bound, so those take the quad-lane order; two
//!   adjacent rows are then computed one column pair per `f64x2`
//!   (`dot_row_pair`).
//!
//! Large products with memory operands go to the runtime's routines instead
//! (`routines.rs`), which compute the same orders 4 lanes wide. In a batched
//! kernel, a row-dot product of a shared matrix (a parameter) with every
//! member's vector is one call of the group routine for the whole tile
//! (`nde_rt_matvec_group`: register tiles of rows × members, each load of
//! the matrix serving several members), vectors in registers spilled and
//! results in registers read back from the stack; outer
//! products (`[m, 1] @ [1, n]` into memory) have their own lowering
//! (`outer.rs`). Loops run over row blocks for long outputs and over chunks
//! of `k` for long rows; short ones are unrolled. The order of every output's arithmetic is the
//! same whatever the blocking or the path, so single and batched kernels
//! agree bit for bit, on every host.
//!
//! Never: copy an operand (views are read through their strides), or make
//! the arithmetic of one output depend on another.

use super::emit::{Lowerer, Src, Tv};
use super::plan::Repr;
use super::CodegenError;
use crate::ir::ValueId;
use cranelift_codegen::ir::{types, InstBuilder, Value};

/// Row-dot: rows per block (one trajectory / a tile sharing the matrix);
/// each row takes two `f64x2` accumulators per trajectory.
const ROWS_SINGLE: usize = 4;
const ROWS_TILED: usize = 1;
/// Column-axpy: output pairs per block.
const PAIRS_SINGLE: usize = 4;
const PAIRS_TILED: usize = 2;
/// Outputs longer than this loop over row blocks.
const ROW_LOOP_MIN: usize = 16;
/// Row-dot reductions up to this many quads of columns are unrolled.
const UNROLL_K_QUADS: usize = 16;
/// Column-axpy reductions up to this length are unrolled.
const UNROLL_K: usize = 64;
const K_CHUNK_QUADS: usize = 4;
const K_CHUNK: usize = 4;

/// Column-axpy needs this many rows; fewer rows take the quad-lane order
/// (four short chains of FMAs per row rather than one of length `k`).
const COLUMN_MIN_ROWS: usize = 4;

/// Whether a product with matrix `m` uses the column-axpy order.
fn is_column(m: &Tv, rows: usize) -> bool {
    matches!(m.src, Src::Ptr(_)) && m.strides[1] != 1 && m.strides[0] == 1 && rows >= COLUMN_MIN_ROWS
}

/// Rows `r` (row-dot) or row pairs `(r, step)` (column-axpy) of a block.
#[derive(Clone, Copy)]
struct RowPair {
    row: usize,
    /// Distance to the second row of the pair (0: the same row twice).
    step: usize,
}

impl Lowerer<'_, '_> {
    /// Lowers `a @ b` for every instance of node `id`.
    pub(super) fn matmul(&mut self, id: ValueId, a: ValueId, b: ValueId, repr: Repr) -> Result<Vec<Tv>, CodegenError> {
        let (sa, sb, so) = (self.f.shape(a), self.f.shape(b), self.f.shape(id));
        let n = self.ninst(id);
        let dests = match repr {
            Repr::Mem(l) => Some((0..n).map(|k| self.resolve(l, k)).collect::<Result<Vec<_>, _>>()?),
            _ => None,
        };
        let ta = (0..n).map(|k| self.tv(a, k)).collect::<Result<Vec<_>, _>>()?;
        let tb = (0..n).map(|k| self.tv(b, k)).collect::<Result<Vec<_>, _>>()?;
        let (a_shared, b_shared) = (!self.plan.node(a).varying, !self.plan.node(b).varying);
        if let (Some(ds), [m, 1], [1, nn]) = (&dests, sa.dims(), sb.dims()) {
            self.outer(*m as usize, *nn as usize, &ta, &tb, ds)?;
            return Ok(ds.clone());
        }
        let mut regs: Vec<Vec<Value>> = vec![Vec::new(); n];
        match (sa.dims(), sb.dims()) {
            ([m, k], [_]) => {
                let xs: Vec<Tv> = tb;
                regs = self.matvec_insts(*m as usize, *k as usize, &ta, a_shared, &xs, dests.as_deref())?;
            }
            ([k], [_, nn]) => {
                let mats: Vec<Tv> = tb.iter().map(Tv::transposed).collect();
                regs = self.matvec_insts(*nn as usize, *k as usize, &mats, b_shared, &ta, dests.as_deref())?;
            }
            ([k], [_]) => {
                let mats: Vec<Tv> = ta.iter().map(|t| Tv { strides: [0, t.strides[0]], ..t.clone() }).collect();
                regs = self.matvec_insts(1, *k as usize, &mats, a_shared, &tb, None)?;
            }
            ([m, k], [_, nn]) => {
                let (m, k, nn) = (*m as usize, *k as usize, *nn as usize);
                let mats: Vec<Tv> = tb.iter().map(Tv::transposed).collect();
                let row_of = |t: &Tv| Tv { strides: [t.strides[1], 0], ..t.clone() };
                match &dests {
                    Some(ds) if m > ROW_LOOP_MIN && matches!(ta[0].src, Src::Ptr(_)) => {
                        self.for_loop(0, m as i64, 1, vec![], |l, i, _| {
                            let xs = ta
                                .iter()
                                .map(|t| l.advance(&row_of(t), i, t.strides[0]))
                                .collect::<Result<Vec<_>, _>>()?;
                            let ds2 = ds
                                .iter()
                                .map(|d| l.advance(&Tv { strides: [d.strides[1], 0], ..d.clone() }, i, d.strides[0]))
                                .collect::<Result<Vec<_>, _>>()?;
                            l.matvec_insts(nn, k, &mats, b_shared, &xs, Some(&ds2))?;
                            Ok(vec![])
                        })?;
                    }
                    _ => {
                        for i in 0..m {
                            let xs: Vec<Tv> =
                                ta.iter().map(|t| Tv { off: t.off + i as i64 * t.strides[0], ..row_of(t) }).collect();
                            let ds2 = dests.as_ref().map(|ds| {
                                ds.iter()
                                    .map(|d| Tv {
                                        off: d.off + i as i64 * d.strides[0],
                                        strides: [d.strides[1], 0],
                                        ..d.clone()
                                    })
                                    .collect::<Vec<_>>()
                            });
                            let rows = self.matvec_insts(nn, k, &mats, b_shared, &xs, ds2.as_deref())?;
                            for (r, v) in regs.iter_mut().zip(rows) {
                                r.extend(v);
                            }
                        }
                    }
                }
            }
            _ => return Err(CodegenError::internal(format!("matmul of {sa} and {sb}"))),
        }
        Ok(match dests {
            Some(ds) => ds,
            None => regs.into_iter().map(|v| Tv::regs(v, so)).collect(),
        })
    }

    /// Matrix–vector products for every instance: one shared matrix
    /// (`mats[0]`) when `shared`, else one per instance. Returns each
    /// instance's results when `dests` is `None` (registers).
    fn matvec_insts(
        &mut self,
        rows: usize,
        k: usize,
        mats: &[Tv],
        shared: bool,
        xs: &[Tv],
        dests: Option<&[Tv]>,
    ) -> Result<Vec<Vec<Value>>, CodegenError> {
        // Row-dot products with a shared matrix: one call of the group
        // routine for the whole tile where the host has it (each load of the
        // matrix serves several members).
        if xs.len() > 1 && shared && !is_column(&mats[0], rows) {
            if let Some(regs) = self.call_matvec_group(rows, k, &mats[0], xs, dests) {
                return Ok(regs);
            }
        }
        // Inline (no routines), a tile shares each load of a shared matrix,
        // except row-dot products into memory: those run per trajectory, in
        // the blocks (or routine calls) of the single kernel, which measured
        // faster.
        if xs.len() == 1 || shared && (is_column(&mats[0], rows) || dests.is_none()) {
            return self.matvec(rows, k, &mats[0], xs, dests);
        }
        let mut out = Vec::with_capacity(xs.len());
        for t in 0..xs.len() {
            let d = dests.map(|d| &d[t..t + 1]);
            let mut r = self.matvec(rows, k, &mats[if shared { 0 } else { t }], &xs[t..t + 1], d)?;
            out.push(r.pop().unwrap_or_default());
        }
        Ok(out)
    }

    /// `out_t[r] = Σ_k m[r,k] x_t[k]` for each `x_t` in `xs`.
    fn matvec(
        &mut self,
        rows: usize,
        k: usize,
        m: &Tv,
        xs: &[Tv],
        dests: Option<&[Tv]>,
    ) -> Result<Vec<Vec<Value>>, CodegenError> {
        let column = is_column(m, rows);
        let n = xs.len();
        let mut regs = vec![Vec::with_capacity(rows); n];
        if k == 0 {
            // Empty sums are zero.
            let zero = self.b.ins().f64const(0.0);
            for t in 0..n {
                match dests {
                    Some(ds) => {
                        for r in 0..rows {
                            self.store(&ds[t], ds[t].off + r as i64 * ds[t].strides[0], zero)?;
                        }
                    }
                    None => regs[t] = vec![zero; rows],
                }
            }
            return Ok(regs);
        }
        if let Some(ds) = dests {
            if self.call_matvec(rows, k, m, xs, ds) {
                return Ok(regs);
            }
        }
        let can_loop = dests.is_some() && rows > ROW_LOOP_MIN && matches!(m.src, Src::Ptr(_));
        if column {
            let per = if n == 1 { PAIRS_SINGLE } else { PAIRS_TILED };
            let pairs = rows / 2;
            let nbl = if can_loop { pairs / per } else { 0 };
            let rs = m.strides[0];
            if let (true, Some(ds)) = (nbl > 0, dests) {
                self.for_loop(0, nbl as i64, 1, vec![], |l, bi, _| {
                    let mb = l.advance(m, bi, (2 * per) as i64 * rs)?;
                    let block: Vec<RowPair> = (0..per).map(|j| RowPair { row: 2 * j, step: 1 }).collect();
                    let res = l.axpy_block(&mb, xs, &block, k)?;
                    for (t, d) in ds.iter().enumerate() {
                        let d = l.advance(d, bi, (2 * per) as i64 * d.strides[0])?;
                        for (j, v) in res.iter().enumerate() {
                            l.store_pair(&d, d.off + (2 * j) as i64 * d.strides[0], d.strides[0], v[t])?;
                        }
                    }
                    Ok(vec![])
                })?;
            }
            let mut r0 = 2 * nbl * per;
            while r0 < rows {
                let mut block = Vec::new();
                while block.len() < per && r0 < rows {
                    let step = usize::from(r0 + 1 < rows);
                    block.push(RowPair { row: r0, step });
                    r0 += 1 + step;
                }
                let res = self.axpy_block(m, xs, &block, k)?;
                for (j, rp) in block.iter().enumerate() {
                    for t in 0..n {
                        let v = res[j][t];
                        let lo = self.b.ins().extractlane(v, 0);
                        let hi = (rp.step == 1).then(|| self.b.ins().extractlane(v, 1));
                        match dests {
                            Some(ds) => {
                                let d = &ds[t];
                                let off = d.off + rp.row as i64 * d.strides[0];
                                if rp.step == 1 {
                                    self.store_pair(d, off, d.strides[0], v)?;
                                } else {
                                    self.store(d, off, lo)?;
                                }
                            }
                            None => {
                                regs[t].push(lo);
                                regs[t].extend(hi);
                            }
                        }
                    }
                }
            }
            return Ok(regs);
        }
        let per = if n == 1 { ROWS_SINGLE } else { ROWS_TILED };
        let xpre = self.prebuild_pairs(xs, k)?;
        let nbl = if can_loop { rows / per } else { 0 };
        if let (true, Some(ds)) = (nbl > 0, dests) {
            self.for_loop(0, nbl as i64, 1, vec![], |l, bi, _| {
                let mb = l.advance(m, bi, per as i64 * m.strides[0])?;
                let res = l.dot_block(&mb, xs, xpre.as_deref(), 0, per, k)?;
                for (t, d) in ds.iter().enumerate() {
                    let d = l.advance(d, bi, per as i64 * d.strides[0])?;
                    for (r, v) in res.iter().enumerate() {
                        l.store(&d, d.off + r as i64 * d.strides[0], v[t])?;
                    }
                }
                Ok(vec![])
            })?;
        }
        let mut r0 = nbl * per;
        while r0 < rows {
            let rr = per.min(rows - r0);
            let res = self.dot_block(m, xs, xpre.as_deref(), r0, rr, k)?;
            for (r, v) in res.iter().enumerate() {
                for t in 0..n {
                    match dests {
                        Some(ds) => {
                            let d = &ds[t];
                            self.store(d, d.off + (r0 + r) as i64 * d.strides[0], v[t])?;
                        }
                        None => regs[t].push(v[t]),
                    }
                }
            }
            r0 += rr;
        }
        Ok(regs)
    }

    /// `x` pairs built once when `x` is in registers (they would otherwise
    /// be rebuilt for every row block).
    fn prebuild_pairs(&mut self, xs: &[Tv], k: usize) -> Result<Option<Vec<Vec<Value>>>, CodegenError> {
        if !xs.iter().all(Tv::is_regs) || !(4..=4 * UNROLL_K_QUADS).contains(&k) {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(xs.len());
        for x in xs {
            let s = x.strides[0];
            out.push((0..k / 4 * 2).map(|p| self.pair(x, x.off + 2 * p as i64 * s, s)).collect());
        }
        Ok(Some(out))
    }

    /// One row-dot step: columns `4q..4q+4` of rows `r0..r0+rr` into
    /// `accs[(r·2 + h)·n + t]` (half `h` holds lanes `2h`, `2h + 1`).
    #[allow(clippy::too_many_arguments)]
    fn dot_step(
        &mut self,
        m: &Tv,
        xs: &[Tv],
        xpre: Option<&[Vec<Value>]>,
        r0: usize,
        rr: usize,
        q: usize,
        accs: &mut Vec<Value>,
    ) {
        let n = xs.len();
        let first = accs.is_empty();
        let mut xv = Vec::with_capacity(2 * n);
        for h in 0..2 {
            for (t, x) in xs.iter().enumerate() {
                xv.push(match xpre {
                    Some(pre) => pre[t][2 * q + h],
                    None => {
                        let s = x.strides[0];
                        self.pair(x, x.off + (4 * q + 2 * h) as i64 * s, s)
                    }
                });
            }
        }
        let (rs, ks) = (m.strides[0], m.strides[1]);
        for r in 0..rr {
            for h in 0..2 {
                let mv = self.pair(m, m.off + (r0 + r) as i64 * rs + (4 * q + 2 * h) as i64 * ks, ks);
                for t in 0..n {
                    let i = (r * 2 + h) * n + t;
                    if first {
                        let v = self.b.ins().fmul(mv, xv[h * n + t]);
                        accs.push(v);
                    } else {
                        accs[i] = self.b.ins().fma(mv, xv[h * n + t], accs[i]);
                    }
                }
            }
        }
    }

    /// Row-dot results for rows `r0..r0+rr` (`k ≥ 1`), as `[row][instance]`,
    /// in the quad-lane order of [`nde_runtime::linalg::matvec`].
    fn dot_block(
        &mut self,
        m: &Tv,
        xs: &[Tv],
        xpre: Option<&[Vec<Value>]>,
        r0: usize,
        rr: usize,
        k: usize,
    ) -> Result<Vec<Vec<Value>>, CodegenError> {
        let n = xs.len();
        let (rs, ks) = (m.strides[0], m.strides[1]);
        if rr == 2 && rs == 1 && ks != 1 && matches!(m.src, Src::Ptr(_)) {
            return self.dot_row_pair(m, xs, r0, k);
        }
        let mut res = vec![Vec::with_capacity(n); rr];
        let nq = k / 4;
        let tail_from = if nq == 0 {
            for (r, row) in res.iter_mut().enumerate() {
                let mv = self.elem(m, m.off + (r0 + r) as i64 * rs);
                for x in xs {
                    let xv = self.elem(x, x.off);
                    row.push(self.b.ins().fmul(mv, xv));
                }
            }
            1
        } else {
            let mut accs = Vec::with_capacity(2 * rr * n);
            if nq <= UNROLL_K_QUADS {
                for q in 0..nq {
                    self.dot_step(m, xs, xpre, r0, rr, q, &mut accs);
                }
            } else {
                self.dot_step(m, xs, None, r0, rr, 0, &mut accs);
                let iters = (nq - 1) / K_CHUNK_QUADS;
                if iters > 0 {
                    accs = self.for_loop(0, iters as i64, 1, accs, |l, c, mut acc| {
                        let mb = l.advance(m, c, (4 * K_CHUNK_QUADS) as i64 * ks)?;
                        let xb = xs
                            .iter()
                            .map(|x| l.advance(x, c, (4 * K_CHUNK_QUADS) as i64 * x.strides[0]))
                            .collect::<Result<Vec<_>, _>>()?;
                        for q in 0..K_CHUNK_QUADS {
                            l.dot_step(&mb, &xb, None, r0, rr, 1 + q, &mut acc);
                        }
                        Ok(acc)
                    })?;
                }
                for q in 1 + iters * K_CHUNK_QUADS..nq {
                    self.dot_step(m, xs, None, r0, rr, q, &mut accs);
                }
            }
            // (l0 + l2) + (l1 + l3)
            for (r, row) in res.iter_mut().enumerate() {
                for t in 0..n {
                    let v = self.b.ins().fadd(accs[(r * 2) * n + t], accs[(r * 2 + 1) * n + t]);
                    let lo = self.b.ins().extractlane(v, 0);
                    let hi = self.b.ins().extractlane(v, 1);
                    row.push(self.b.ins().fadd(lo, hi));
                }
            }
            4 * nq
        };
        for c in tail_from..k {
            for (r, row) in res.iter_mut().enumerate() {
                let mv = self.elem(m, m.off + (r0 + r) as i64 * rs + c as i64 * ks);
                for (t, x) in xs.iter().enumerate() {
                    let xv = self.elem(x, x.off + c as i64 * x.strides[0]);
                    row[t] = self.b.ins().fma(mv, xv, row[t]);
                }
            }
        }
        Ok(res)
    }

    /// [`Lowerer::dot_block`] for the two adjacent rows `r0`, `r0 + 1` of a
    /// matrix with contiguous columns: lane `r` of each `f64x2` belongs to
    /// row `r0 + r`, so the four quad-lane partial sums of both rows are
    /// four vector accumulators, loaded a column pair at a time. The same
    /// operations, lane by lane, as the scalar quad-lane order.
    fn dot_row_pair(&mut self, m: &Tv, xs: &[Tv], r0: usize, k: usize) -> Result<Vec<Vec<Value>>, CodegenError> {
        let mut res: [Vec<Value>; 2] = [Vec::with_capacity(xs.len()), Vec::with_capacity(xs.len())];
        for x in xs {
            let nq = k / 4;
            let (mut s, tail_from) = if nq == 0 {
                (self.col_product(m, x, r0, 0, None), 1)
            } else {
                let mut accs: Vec<Value> = (0..4).map(|c| self.col_product(m, x, r0, c, None)).collect();
                let quads = |l: &mut Self, m: &Tv, x: &Tv, q: std::ops::Range<usize>, accs: &mut Vec<Value>| {
                    for c in 4 * q.start..4 * q.end {
                        accs[c % 4] = l.col_product(m, x, r0, c, Some(accs[c % 4]));
                    }
                };
                if nq <= UNROLL_K_QUADS {
                    quads(self, m, x, 1..nq, &mut accs);
                } else {
                    let iters = (nq - 1) / K_CHUNK_QUADS;
                    if iters > 0 {
                        let step = (4 * K_CHUNK_QUADS) as i64;
                        accs = self.for_loop(0, iters as i64, 1, accs, |l, i, mut acc| {
                            let mb = l.advance(m, i, step * m.strides[1])?;
                            let xb = l.advance(x, i, step * x.strides[0])?;
                            quads(l, &mb, &xb, 1..1 + K_CHUNK_QUADS, &mut acc);
                            Ok(acc)
                        })?;
                    }
                    quads(self, m, x, 1 + iters * K_CHUNK_QUADS..nq, &mut accs);
                }
                // (l0 + l2) + (l1 + l3), both rows at once.
                let s02 = self.b.ins().fadd(accs[0], accs[2]);
                let s13 = self.b.ins().fadd(accs[1], accs[3]);
                (self.b.ins().fadd(s02, s13), 4 * nq)
            };
            for c in tail_from..k {
                s = self.col_product(m, x, r0, c, Some(s));
            }
            for (r, row) in res.iter_mut().enumerate() {
                row.push(self.b.ins().extractlane(s, r as u8));
            }
        }
        Ok(res.into())
    }

    /// `[M[r0, c], M[r0 + 1, c]] · x[c]`, plus `acc` by FMA when given.
    fn col_product(&mut self, m: &Tv, x: &Tv, r0: usize, c: usize, acc: Option<Value>) -> Value {
        let mv = self.pair(m, m.off + r0 as i64 * m.strides[0] + c as i64 * m.strides[1], m.strides[0]);
        let xe = self.elem(x, x.off + c as i64 * x.strides[0]);
        let xv = self.b.ins().splat(types::F64X2, xe);
        match acc {
            Some(a) => self.b.ins().fma(mv, xv, a),
            None => self.b.ins().fmul(mv, xv),
        }
    }

    /// One column-axpy step: column `kk` into `accs[j·n + t]`.
    fn axpy_step(&mut self, m: &Tv, xs: &[Tv], block: &[RowPair], kk: usize, accs: &mut Vec<Value>) {
        let n = xs.len();
        let first = accs.is_empty();
        let xv: Vec<Value> = xs
            .iter()
            .map(|x| {
                let s = self.elem(x, x.off + kk as i64 * x.strides[0]);
                self.b.ins().splat(types::F64X2, s)
            })
            .collect();
        let (rs, ks) = (m.strides[0], m.strides[1]);
        for (j, rp) in block.iter().enumerate() {
            let mv = self.pair(m, m.off + rp.row as i64 * rs + kk as i64 * ks, rp.step as i64 * rs);
            for t in 0..n {
                if first {
                    let v = self.b.ins().fmul(mv, xv[t]);
                    accs.push(v);
                } else {
                    accs[j * n + t] = self.b.ins().fma(mv, xv[t], accs[j * n + t]);
                }
            }
        }
    }

    /// Column-axpy results for the row pairs of `block`, as `[pair][instance]`.
    fn axpy_block(&mut self, m: &Tv, xs: &[Tv], block: &[RowPair], k: usize) -> Result<Vec<Vec<Value>>, CodegenError> {
        let n = xs.len();
        let ks = m.strides[1];
        let mut accs = Vec::with_capacity(block.len() * n);
        if k <= UNROLL_K {
            for kk in 0..k {
                self.axpy_step(m, xs, block, kk, &mut accs);
            }
        } else {
            self.axpy_step(m, xs, block, 0, &mut accs);
            let iters = (k - 1) / K_CHUNK;
            if iters > 0 {
                accs = self.for_loop(0, iters as i64, 1, accs, |l, c, mut acc| {
                    let mb = l.advance(m, c, K_CHUNK as i64 * ks)?;
                    let xb = xs
                        .iter()
                        .map(|x| l.advance(x, c, K_CHUNK as i64 * x.strides[0]))
                        .collect::<Result<Vec<_>, _>>()?;
                    for q in 0..K_CHUNK {
                        l.axpy_step(&mb, &xb, block, 1 + q, &mut acc);
                    }
                    Ok(acc)
                })?;
            }
            for kk in 1 + iters * K_CHUNK..k {
                self.axpy_step(m, xs, block, kk, &mut accs);
            }
        }
        Ok(block.iter().enumerate().map(|(j, _)| (0..n).map(|t| accs[j * n + t]).collect()).collect())
    }
}
