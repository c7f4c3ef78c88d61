//! The IR verifier: checks that a [`Function`] is well formed.
//!
//! Owns the structural rules every pass and backend may rely on: operands
//! precede their users (topological order), every node's shape follows its
//! op's rule (see [`Op`]), inputs stay inside the `t`/`y`/`p` buffers the
//! function declares, constants have one value per element, and outputs
//! name existing nodes.
//!
//! Never: repair a function, or panic on a malformed one — every problem is
//! reported as a [`VerifyError`] naming the node.

use super::{Function, InputBuf, Op, Shape, ValueId};
use std::fmt;

/// The first problem found in a malformed [`Function`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// The function's name.
    pub function: String,
    /// The offending node (`None` for a problem with the outputs or the
    /// function as a whole).
    pub node: Option<ValueId>,
    pub message: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.node {
            Some(id) => write!(f, "malformed IR in `{}` at %{}: {}", self.function, id.0, self.message),
            None => write!(f, "malformed IR in `{}`: {}", self.function, self.message),
        }
    }
}

impl std::error::Error for VerifyError {}

/// Checks `f`; `Ok(())` when every rule holds.
pub fn verify(f: &Function) -> Result<(), VerifyError> {
    for (i, node) in f.nodes.iter().enumerate() {
        let fail = |message: String| VerifyError { function: f.name.clone(), node: Some(ValueId(i as u32)), message };
        for a in node.op.args() {
            if a.index() >= i {
                return Err(fail(format!("operand %{} does not precede its user", a.0)));
            }
        }
        check_node(f, &node.op, node.shape).map_err(fail)?;
    }
    for (k, &o) in f.outputs.iter().enumerate() {
        if o.index() >= f.nodes.len() {
            return Err(VerifyError {
                function: f.name.clone(),
                node: None,
                message: format!("output {k} names %{}, but there are {} nodes", o.0, f.nodes.len()),
            });
        }
    }
    Ok(())
}

fn dims(s: Shape) -> Vec<usize> {
    s.dims().iter().map(|&d| d as usize).collect()
}

/// Checks one node whose operands are known to exist.
fn check_node(f: &Function, op: &Op, shape: Shape) -> Result<(), String> {
    let sh = |id: ValueId| f.shape(id);
    match op {
        Op::Input { buf, offset } => {
            let end = *offset as usize + shape.len();
            match buf {
                InputBuf::Time if !shape.is_scalar() || *offset != 0 => {
                    return Err(format!("time input must be a scalar at offset 0, found {shape} at {offset}"));
                }
                InputBuf::State if end > f.n_state => {
                    return Err(format!("state input y[{offset}..{end}] exceeds n_state = {}", f.n_state));
                }
                InputBuf::Param if end > f.n_param => {
                    return Err(format!("parameter input p[{offset}..{end}] exceeds n_param = {}", f.n_param));
                }
                _ => {}
            }
        }
        Op::Const(values) => {
            if values.len() != shape.len() {
                return Err(format!("constant has {} values for shape {shape}", values.len()));
            }
        }
        Op::Unary(_, a) => same(sh(*a), shape, "operand")?,
        Op::Binary(_, a, b) => {
            same(sh(*a), shape, "left operand")?;
            same(sh(*b), shape, "right operand")?;
        }
        Op::Broadcast(a) => {
            if !sh(*a).is_scalar() {
                return Err(format!("broadcast of non-scalar {}", sh(*a)));
            }
        }
        Op::MatMul(a, b) => {
            let (sa, sb) = (sh(*a), sh(*b));
            let expect = match (dims(sa).as_slice(), dims(sb).as_slice()) {
                ([m, k], [k2, n]) if k == k2 => Some(Shape::matrix(*m, *n)),
                ([m, k], [k2]) if k == k2 => Some(Shape::vector(*m)),
                ([k], [k2, n]) if k == k2 => Some(Shape::vector(*n)),
                ([k], [k2]) if k == k2 => Some(Shape::scalar()),
                _ => None,
            };
            match expect {
                None => return Err(format!("matmul of incompatible shapes {sa} and {sb}")),
                Some(e) if e != shape => {
                    return Err(format!("matmul of {sa} and {sb} has shape {e}, node says {shape}"))
                }
                Some(_) => {}
            }
        }
        Op::Transpose(a) => {
            let s = sh(*a);
            let expect = match dims(s).as_slice() {
                [m, n] => Shape::matrix(*n, *m),
                _ => s,
            };
            same(expect, shape, "transpose")?;
        }
        Op::Sum(_) => {
            if !shape.is_scalar() {
                return Err(format!("sum must be a scalar, node says {shape}"));
            }
        }
        Op::Slice { arg, axis, start } => {
            let s = sh(*arg);
            let axis = *axis as usize;
            if axis >= s.rank() || shape.rank() != s.rank() {
                return Err(format!("slice on axis {axis} of {s} to {shape}"));
            }
            for ax in 0..s.rank() {
                if ax != axis && s.dim(ax) != shape.dim(ax) {
                    return Err(format!("slice of {s} to {shape} changes axis {ax}"));
                }
            }
            if *start as usize + shape.dim(axis) > s.dim(axis) {
                return Err(format!("slice {start}..{} exceeds axis {axis} of {s}", *start as usize + shape.dim(axis)));
            }
        }
        Op::Index { arg, axis, index } => {
            let s = sh(*arg);
            let axis = *axis as usize;
            if axis >= s.rank() {
                return Err(format!("index on axis {axis} of {s}"));
            }
            if *index as usize >= s.dim(axis) {
                return Err(format!("index {index} out of range for axis {axis} of {s}"));
            }
            let mut d = dims(s);
            d.remove(axis);
            same(Shape::from_dims(&d).unwrap_or(Shape::SCALAR), shape, "index")?;
        }
        Op::Concat { args, axis } => {
            let axis = *axis as usize;
            if args.is_empty() {
                return Err("concat of nothing".into());
            }
            if axis >= shape.rank() {
                return Err(format!("concat on axis {axis} of {shape}"));
            }
            let mut total = 0usize;
            for &a in args {
                let s = sh(a);
                if s.rank() != shape.rank() {
                    return Err(format!("concat of {s} into {shape}: ranks differ"));
                }
                for ax in 0..s.rank() {
                    if ax != axis && s.dim(ax) != shape.dim(ax) {
                        return Err(format!("concat of {s} into {shape} on axis {axis}: axis {ax} differs"));
                    }
                }
                total += s.dim(axis);
            }
            if total != shape.dim(axis) {
                return Err(format!("concat parts add up to {total} along axis {axis}, node says {shape}"));
            }
        }
        Op::Reshape(a) => {
            if sh(*a).len() != shape.len() {
                return Err(format!("reshape of {} ({} elements) to {shape}", sh(*a), sh(*a).len()));
            }
        }
    }
    Ok(())
}

fn same(found: Shape, node: Shape, what: &str) -> Result<(), String> {
    if found == node {
        Ok(())
    } else {
        Err(format!("{what} has shape {found}, node says {node}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{BinaryOp, Builder, Node, UnaryOp};
    use crate::span::Span;

    fn node(op: Op, shape: Shape) -> Node {
        Node { op, shape, span: Span::detached() }
    }

    fn good() -> Function {
        let mut b = Builder::new("f", 2, 6);
        let y = b.state(0, Shape::vector(2));
        let w = b.param(0, Shape::matrix(2, 2));
        let c = b.param(4, Shape::vector(2));
        let m = b.matmul(w, y);
        let s = b.binary(BinaryOp::Add, m, c);
        let t = b.unary(UnaryOp::Tanh, s);
        b.output(t);
        b.finish()
    }

    fn err(f: &Function) -> VerifyError {
        verify(f).expect_err("malformed function accepted")
    }

    #[test]
    fn accepts_builder_output() {
        assert_eq!(verify(&good()), Ok(()));
    }

    #[test]
    fn rejects_forward_reference() {
        let mut f = good();
        f.nodes[3].op = Op::MatMul(ValueId(1), ValueId(4));
        let e = err(&f);
        assert_eq!(e.node, Some(ValueId(3)));
        assert!(e.message.contains("does not precede"), "{e}");
    }

    #[test]
    fn rejects_bad_shapes() {
        let mut f = good();
        f.nodes[3].shape = Shape::vector(3);
        assert!(err(&f).message.contains("matmul"));

        let mut f = good();
        f.nodes[5].shape = Shape::matrix(1, 2);
        assert_eq!(err(&f).node, Some(ValueId(5)));

        let mut f = good();
        f.nodes.push(node(Op::Broadcast(ValueId(0)), Shape::matrix(2, 2)));
        assert!(err(&f).message.contains("broadcast of non-scalar"));

        let mut f = good();
        f.nodes.push(node(Op::Sum(ValueId(0)), Shape::vector(1)));
        assert!(err(&f).message.contains("sum must be a scalar"));

        let mut f = good();
        f.nodes.push(node(Op::Reshape(ValueId(1)), Shape::vector(3)));
        assert!(err(&f).message.contains("reshape"));
    }

    #[test]
    fn rejects_out_of_range_inputs() {
        let mut f = good();
        f.nodes[0].op = Op::Input { buf: InputBuf::State, offset: 1 };
        assert!(err(&f).message.contains("exceeds n_state"));

        let mut f = good();
        f.nodes[2].op = Op::Input { buf: InputBuf::Param, offset: 5 };
        assert!(err(&f).message.contains("exceeds n_param"));

        let mut f = good();
        f.nodes.push(node(Op::Input { buf: InputBuf::Time, offset: 0 }, Shape::vector(2)));
        assert!(err(&f).message.contains("time input"));
    }

    #[test]
    fn rejects_slices_indices_and_concats_out_of_range() {
        let mut f = good();
        f.nodes.push(node(Op::Slice { arg: ValueId(1), axis: 1, start: 1 }, Shape::matrix(2, 2)));
        assert!(err(&f).message.contains("exceeds axis 1"));

        let mut f = good();
        f.nodes.push(node(Op::Index { arg: ValueId(1), axis: 0, index: 2 }, Shape::vector(2)));
        assert!(err(&f).message.contains("out of range"));

        let mut f = good();
        f.nodes.push(node(Op::Concat { args: vec![ValueId(0), ValueId(2)], axis: 0 }, Shape::vector(5)));
        assert!(err(&f).message.contains("add up to 4"));

        let mut f = good();
        f.nodes.push(node(Op::Concat { args: vec![ValueId(0), ValueId(1)], axis: 0 }, Shape::vector(6)));
        assert!(err(&f).message.contains("ranks differ"));
    }

    #[test]
    fn rejects_bad_constants_and_outputs() {
        let mut f = good();
        f.nodes.push(node(Op::Const(vec![1.0].into_boxed_slice()), Shape::vector(2)));
        assert!(err(&f).message.contains("constant has 1 values"));

        let mut f = good();
        f.outputs.push(ValueId(99));
        let e = err(&f);
        assert_eq!(e.node, None);
        assert!(e.to_string().contains("output 1 names %99"), "{e}");
    }
}
