//! Outer products: `MatMul` of a column `[m, 1]` by a row `[1, n]` into
//! memory, `d[i, j] = y[j] · x[i]` — the parameter gradients of a VJP
//! (`reshape(u, [m, 1]) @ reshape(h, [1, n])`), which are its largest
//! outputs.
//!
//! Owns that lowering: one call per instance to the runtime's 256-bit
//! routine where `routines.rs` accepts the operands, else inline `f64x2`
//! code — each row a splat of `x[i]` times pairs of `y` (kept in registers
//! across rows when `y` is short), rows and long rows in counted loops.
//! Every element is a single product `y[j] · x[i]`, exactly what the
//! general product lowering (`matmul.rs`, one-term sums) computes, so the
//! path changes speed, never bits.
//!
//! Never: read the destination, or emit anything but one product per
//! element (no summation, no reordering that could change a bit).

use super::emit::{Lowerer, Src, Tv};
use super::CodegenError;
use cranelift_codegen::ir::{types, InstBuilder, Value};

/// Outputs with more rows than this loop over rows (when `x` is in memory).
const ROW_LOOP_MIN: usize = 16;
/// Rows of at most this many elements are unrolled; longer ones loop over
/// chunks of [`COL_CHUNK`] columns.
const UNROLL_COLS: usize = 64;
const COL_CHUNK: usize = 16;
/// `y` pairs are loaded once for all rows when `y` has at most this many
/// elements (or lives in registers anyway).
const PRELOAD_Y: usize = 16;
/// Rows per loop iteration for rows of at most 4 elements.
const SHORT_ROWS_PER_ITER: usize = 4;

/// The `y` operand of one row: its pairs (and odd last element) already in
/// registers, or read from memory as needed.
enum Row<'t> {
    Pre(&'t [Value]),
    Mem,
}

impl Lowerer<'_, '_> {
    /// `dests[t][i, j] = b[0, j] · a[i, 0]` for `a: [m, 1]` and `b: [1, n]`
    /// (instance `t` of each operand in `ta[t]`, `tb[t]`).
    pub(super) fn outer(&mut self, m: usize, n: usize, ta: &[Tv], tb: &[Tv], dests: &[Tv]) -> Result<(), CodegenError> {
        if m == 0 || n == 0 {
            return Ok(());
        }
        for (t, d) in dests.iter().enumerate() {
            let x = Tv { strides: [ta[t].strides[0], 0], ..ta[t].clone() };
            let y = Tv { strides: [tb[t].strides[1], 0], ..tb[t].clone() };
            if !self.call_outer(m, n, &x, &y, d) {
                self.outer_inline(m, n, &x, &y, d)?;
            }
        }
        Ok(())
    }

    fn outer_inline(&mut self, m: usize, n: usize, x: &Tv, y: &Tv, d: &Tv) -> Result<(), CodegenError> {
        let ys = y.strides[0];
        let pre: Option<Vec<Value>> = (y.is_regs() || n <= PRELOAD_Y).then(|| {
            let mut v: Vec<Value> = (0..n / 2).map(|p| self.pair(y, y.off + 2 * p as i64 * ys, ys)).collect();
            if n % 2 == 1 {
                v.push(self.elem(y, y.off + (n - 1) as i64 * ys));
            }
            v
        });
        let row = match &pre {
            Some(v) => Row::Pre(v),
            None => Row::Mem,
        };
        let (xs, drs) = (x.strides[0], d.strides[0]);
        let mut done = 0;
        if m > ROW_LOOP_MIN && matches!(x.src, Src::Ptr(_)) {
            let per = if n <= 4 { SHORT_ROWS_PER_ITER } else { 1 };
            let iters = m / per;
            self.for_loop(0, iters as i64, 1, vec![], |l, i, _| {
                let xb = l.advance(x, i, per as i64 * xs)?;
                let db = l.advance(d, i, per as i64 * drs)?;
                for r in 0..per as i64 {
                    l.outer_row(n, &xb, xb.off + r * xs, y, &row, &db, db.off + r * drs)?;
                }
                Ok(vec![])
            })?;
            done = iters * per;
        }
        for i in done as i64..m as i64 {
            self.outer_row(n, x, x.off + i * xs, y, &row, d, d.off + i * drs)?;
        }
        Ok(())
    }

    /// One row: `d[doff + j·dcs] = y[j] · x[xoff]` for `j < n`.
    #[allow(clippy::too_many_arguments)]
    fn outer_row(
        &mut self,
        n: usize,
        x: &Tv,
        xoff: i64,
        y: &Tv,
        row: &Row<'_>,
        d: &Tv,
        doff: i64,
    ) -> Result<(), CodegenError> {
        let xi = self.elem(x, xoff);
        let xv = self.b.ins().splat(types::F64X2, xi);
        let (ys, dcs) = (y.strides[0], d.strides[1]);
        let mut done = 0;
        if let (Row::Mem, true) = (row, n > UNROLL_COLS) {
            let chunks = n / COL_CHUNK;
            self.for_loop(0, chunks as i64, 1, vec![], |l, c, _| {
                let yb = l.advance(y, c, COL_CHUNK as i64 * ys)?;
                let db = l.advance(d, c, COL_CHUNK as i64 * dcs)?;
                for p in 0..COL_CHUNK as i64 / 2 {
                    let yv = l.pair(&yb, yb.off + 2 * p * ys, ys);
                    let v = l.b.ins().fmul(yv, xv);
                    l.store_pair(&db, doff + 2 * p * dcs, dcs, v)?;
                }
                Ok(vec![])
            })?;
            done = chunks * COL_CHUNK;
        }
        for p in done / 2..n / 2 {
            let yv = match row {
                Row::Pre(v) => v[p],
                Row::Mem => self.pair(y, y.off + 2 * p as i64 * ys, ys),
            };
            let v = self.b.ins().fmul(yv, xv);
            self.store_pair(d, doff + 2 * p as i64 * dcs, dcs, v)?;
        }
        if n % 2 == 1 {
            let yl = match row {
                Row::Pre(v) => v[n / 2],
                Row::Mem => self.elem(y, y.off + (n - 1) as i64 * ys),
            };
            let v = self.b.ins().fmul(yl, xi);
            self.store(d, doff + (n - 1) as i64 * dcs, v)?;
        }
        Ok(())
    }
}
