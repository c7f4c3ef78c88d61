//! Storage planning: where each IR node's value lives in a kernel.
//!
//! Owns the decisions that precede instruction selection, made from the IR
//! alone so that the single and batched kernels agree on them (and hence on
//! every rounding): which nodes are dead, which elementwise nodes are fused
//! into their consumer's loop, which small values live in registers, which
//! values are views of input/constant memory (slices, transposes, reshapes
//! cost nothing), and where materialised tensors go in the frame (the
//! kernel's stack slot or caller scratch) or directly in the output buffer.
//!
//! Never: emit code, or depend on the target.

use crate::ir::{Function, InputBuf, Op, Shape, ValueId};

/// Tensors with at most this many elements are kept as scalar SSA values.
pub(super) const SMALL: usize = 16;

/// What a memory layout's element offsets are relative to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Base {
    /// The trajectory's state row `y`.
    State,
    /// The shared parameters `p`.
    Param,
    /// The read-only data object holding this constant node.
    Data(ValueId),
    /// The kernel frame (32-byte aligned); instance `i` of the value starts
    /// `i * inst_stride` elements later (a multiple of 4, as every offset).
    Frame { inst_stride: usize },
    /// The trajectory's output row.
    Out,
}

/// Element `(i, j)` lives at `base + off + i·strides[0] + j·strides[1]`
/// (a vector uses `strides[0]` only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Layout {
    pub base: Base,
    pub off: i64,
    pub strides: [i64; 2],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Repr {
    /// Not needed by any output.
    Dead,
    /// Elementwise; evaluated inside its single consumer's loop.
    Fused,
    /// Scalars in SSA values (small tensors).
    Regs,
    /// In memory.
    Mem(Layout),
}

#[derive(Clone, Debug)]
pub(super) struct NodePlan {
    pub repr: Repr,
    /// Depends on `t` or `y` (else on parameters and constants only).
    pub varying: bool,
    /// A materialised view: fill the node's memory by copying its operand.
    pub copy_of_arg: bool,
}

#[derive(Clone, Debug)]
pub(super) struct Plan {
    pub nodes: Vec<NodePlan>,
    /// Frame elements needed (all instances).
    pub frame_len: usize,
    /// Trajectories per tile (1 for the single kernel).
    pub tile: usize,
}

/// Row-major strides of a shape.
pub(super) fn row_major(s: Shape) -> [i64; 2] {
    match s.dims() {
        [_, n] => [*n as i64, 1],
        [_] => [1, 0],
        _ => [0, 0],
    }
}

/// Whether element `k` of the row-major order sits at `off + k`.
pub(super) fn is_flat(strides: [i64; 2], s: Shape) -> bool {
    match s.dims() {
        [m, n] => (*m <= 1 || strides[0] == *n as i64) && (*n <= 1 || strides[1] == 1),
        [n] => *n <= 1 || strides[0] == 1,
        _ => true,
    }
}

fn is_elementwise(op: &Op) -> bool {
    matches!(op, Op::Unary(..) | Op::Binary(..))
}

impl Plan {
    /// Plans `f` for tiles of `tile` trajectories (`tile = 1`: the single kernel).
    pub fn new(f: &Function, tile: usize) -> Plan {
        let n = f.nodes.len();
        let mut live = vec![false; n];
        for &o in &f.outputs {
            live[o.index()] = true;
        }
        for i in (0..n).rev() {
            if live[i] {
                for a in f.nodes[i].op.args() {
                    live[a.index()] = true;
                }
            }
        }
        // Operand slots using each node, and whether all users are elementwise.
        let mut uses = vec![0u32; n];
        let mut ew_users_only = vec![true; n];
        let mut flat_user = vec![false; n];
        for (i, node) in f.nodes.iter().enumerate() {
            if !live[i] {
                continue;
            }
            let ew = is_elementwise(&node.op);
            for a in node.op.args() {
                uses[a.index()] += 1;
                ew_users_only[a.index()] &= ew;
                flat_user[a.index()] |= ew || matches!(node.op, Op::Sum(_));
            }
        }
        let mut is_output = vec![false; n];
        for &o in &f.outputs {
            is_output[o.index()] = true;
        }
        let mut varying = vec![false; n];
        for (i, node) in f.nodes.iter().enumerate() {
            varying[i] = match node.op {
                Op::Input { buf, .. } => buf != InputBuf::Param,
                _ => node.op.args().iter().any(|a| varying[a.index()]),
            };
        }
        // Output offsets of each node's first appearance.
        let mut out_off: Vec<Option<usize>> = vec![None; n];
        let mut pos = 0;
        for &o in &f.outputs {
            if out_off[o.index()].is_none() {
                out_off[o.index()] = Some(pos);
            }
            pos += f.shape(o).len();
        }

        let mut frame_len = 0usize;
        let mut nodes: Vec<NodePlan> = Vec::with_capacity(n);
        for (i, node) in f.nodes.iter().enumerate() {
            let shape = node.shape;
            let len = shape.len();
            let mut copy_of_arg = false;
            // A fresh home for a computed tensor: the output row, or the frame.
            let mut alloc = || -> Repr {
                if let Some(off) = out_off[i] {
                    if varying[i] || tile == 1 {
                        return Repr::Mem(Layout { base: Base::Out, off: off as i64, strides: row_major(shape) });
                    }
                }
                // Every instance at a multiple of four elements (32 bytes in
                // the aligned frame): whole 256-bit vectors for the routines.
                let inst = if varying[i] { tile } else { 1 };
                let stride = len.next_multiple_of(4);
                let off = frame_len;
                frame_len += stride * inst;
                Repr::Mem(Layout {
                    base: Base::Frame { inst_stride: stride },
                    off: off as i64,
                    strides: row_major(shape),
                })
            };
            let repr = if !live[i] {
                Repr::Dead
            } else {
                match &node.op {
                    Op::Input { buf, offset } => match buf {
                        InputBuf::Time => Repr::Regs,
                        _ if len <= SMALL => Repr::Regs,
                        InputBuf::State => {
                            Repr::Mem(Layout { base: Base::State, off: *offset as i64, strides: row_major(shape) })
                        }
                        InputBuf::Param => {
                            Repr::Mem(Layout { base: Base::Param, off: *offset as i64, strides: row_major(shape) })
                        }
                    },
                    Op::Const(_) if len <= SMALL => Repr::Regs,
                    Op::Const(_) => {
                        Repr::Mem(Layout { base: Base::Data(ValueId(i as u32)), off: 0, strides: row_major(shape) })
                    }
                    Op::Unary(..) | Op::Binary(..) => {
                        if len > SMALL && uses[i] == 1 && ew_users_only[i] && !is_output[i] {
                            Repr::Fused
                        } else if len <= SMALL {
                            Repr::Regs
                        } else {
                            alloc()
                        }
                    }
                    Op::Broadcast(_) => {
                        if ew_users_only[i] && !is_output[i] {
                            Repr::Fused
                        } else if len <= SMALL {
                            Repr::Regs
                        } else {
                            alloc()
                        }
                    }
                    Op::MatMul(..) | Op::Concat { .. } => {
                        if len <= SMALL {
                            Repr::Regs
                        } else {
                            alloc()
                        }
                    }
                    Op::Sum(_) => Repr::Regs,
                    Op::Transpose(a) | Op::Slice { arg: a, .. } | Op::Index { arg: a, .. } | Op::Reshape(a) => {
                        let arg_shape = f.shape(*a);
                        match nodes[a.index()].repr {
                            Repr::Mem(l) => match view_layout(&node.op, l, arg_shape, shape) {
                                Some(v) if len <= SMALL || is_flat(v.strides, shape) || !flat_user[i] => Repr::Mem(v),
                                _ => {
                                    copy_of_arg = true;
                                    alloc()
                                }
                            },
                            _ => Repr::Regs,
                        }
                    }
                }
            };
            nodes.push(NodePlan { repr, varying: varying[i], copy_of_arg });
        }
        Plan { nodes, frame_len, tile }
    }

    pub fn node(&self, id: ValueId) -> &NodePlan {
        &self.nodes[id.index()]
    }
}

/// The layout of a view op applied to an operand with layout `l`; `None`
/// when the view needs a copy (a reshape of non-contiguous memory).
pub(super) fn view_layout(op: &Op, l: Layout, arg: Shape, out: Shape) -> Option<Layout> {
    let [s0, s1] = l.strides;
    Some(match op {
        Op::Transpose(_) if arg.rank() == 2 => Layout { strides: [s1, s0], ..l },
        Op::Transpose(_) => l,
        Op::Slice { axis, start, .. } => Layout { off: l.off + *start as i64 * l.strides[*axis as usize], ..l },
        Op::Index { axis, index, .. } => {
            let off = l.off + *index as i64 * l.strides[*axis as usize];
            let strides = match (arg.rank(), axis) {
                (2, 0) => [s1, 0],
                (2, _) => [s0, 0],
                _ => [0, 0],
            };
            Layout { off, strides, ..l }
        }
        Op::Reshape(_) if is_flat(l.strides, arg) => Layout { strides: row_major(out), ..l },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{BinaryOp, Builder, UnaryOp};

    #[test]
    fn mlp_plan_fuses_bias_and_activation() {
        let mut b = Builder::new("mlp", 2, 64 * 2 + 64 + 64 * 64 + 64);
        let y = b.state(0, Shape::vector(2));
        let w1 = b.param(0, Shape::matrix(64, 2));
        let b1 = b.param(128, Shape::vector(64));
        let w2 = b.param(192, Shape::matrix(64, 64));
        let b2 = b.param(192 + 4096, Shape::vector(64));
        let m1 = b.matmul(w1, y);
        let a1 = b.binary(BinaryOp::Add, m1, b1);
        let h1 = b.unary(UnaryOp::Tanh, a1);
        let m2 = b.matmul(w2, h1);
        let a2 = b.binary(BinaryOp::Add, m2, b2);
        let h2 = b.unary(UnaryOp::Tanh, a2);
        b.output(h2);
        let f = b.finish();
        let p = Plan::new(&f, 4);
        assert_eq!(p.node(y).repr, Repr::Regs);
        assert!(matches!(p.node(w1).repr, Repr::Mem(Layout { base: Base::Param, off: 0, strides: [2, 1] })));
        assert_eq!(p.node(a1).repr, Repr::Fused);
        assert_eq!(p.node(a2).repr, Repr::Fused);
        assert!(matches!(p.node(h2).repr, Repr::Mem(Layout { base: Base::Out, off: 0, .. })));
        // m1, h1, m2 in the frame, 4 instances each.
        assert_eq!(p.frame_len, 3 * 64 * 4);
        assert!(p.node(m1).varying && !p.node(w2).varying);
    }

    #[test]
    fn views_are_free_unless_an_elementwise_user_needs_them_flat() {
        let mut b = Builder::new("v", 0, 400);
        let w = b.param(0, Shape::matrix(20, 20));
        let wt = b.transpose(w);
        let col = b.index(w, 1, 3);
        let s = b.unary(UnaryOp::Exp, wt);
        let v = b.param(0, Shape::vector(20));
        let cv = b.matmul(wt, v);
        b.output(s);
        b.output(col);
        b.output(cv);
        let f = b.finish();
        let p = Plan::new(&f, 1);
        // The transpose feeds an elementwise op: copied to the frame.
        assert!(p.node(wt).copy_of_arg);
        assert!(matches!(p.node(col).repr, Repr::Mem(Layout { base: Base::Param, off: 3, strides: [20, 0] })));
    }
}
