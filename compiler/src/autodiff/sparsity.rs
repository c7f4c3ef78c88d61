//! The structural sparsity of `∂f/∂y`: for every output element of an IR
//! [`Function`], the set of state elements it can depend on.
//!
//! Owns [`jacobian_sparsity`] and [`SparsityError`]. One forward pass over
//! the nodes, element by element through every op: elementwise ops take
//! the union of their operands' sets, `broadcast` copies its scalar's set,
//! `sum` unites all, `slice`/`index`/`concat`/`transpose`/`reshape` move
//! sets to where the elements go, and a matrix product unites, for each
//! output element, the sets along the inner dimension — leaving out a term
//! whose other factor is a constant zero, so a stencil written as a
//! constant matrix stays sparse. `step` and `x^0` have derivative zero (as in
//! [`super::jvp`]) and `x − x` none in `x` (`x / x` is kept: its derivative
//! is computed as a round-off-sized difference); everything else is
//! assumed to depend on all it reads. The result contains every entry the
//! dense Jacobian ([`super::jacobian`]) can make non-zero
//! (over-approximation is allowed, under-approximation would be a bug):
//! value-dependent zeros (`relu` below 0, `min`/`max` picking one side) and
//! numerical cancellation are not seen.
//!
//! Sets are sorted `u32` lists per element, freed after a node's last use;
//! the pass stops with [`SparsityError::TooLarge`] when the live sets hold
//! more entries than the caller allows (a dense Jacobian of a large system
//! would not pay to analyse). Never evaluates values other than constants.

use nde_runtime::stiff::JacobianPattern;

use crate::ir::{BinaryOp, Function, InputBuf, Op, UnaryOp};

/// Why no pattern was computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SparsityError {
    /// The dependency sets would hold more than `limit` entries at once.
    TooLarge { limit: usize },
}

impl std::fmt::Display for SparsityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SparsityError::TooLarge { limit } => {
                write!(f, "the Jacobian's dependency sets exceed {limit} entries (it is too dense to pay)")
            }
        }
    }
}

impl std::error::Error for SparsityError {}

/// Per element of one node, its sorted set of state indices.
struct Sets {
    off: Vec<usize>,
    items: Vec<u32>,
}

impl Sets {
    fn with_capacity(len: usize) -> Sets {
        let mut off = Vec::with_capacity(len + 1);
        off.push(0);
        Sets { off, items: Vec::new() }
    }

    fn empty(len: usize) -> Sets {
        Sets { off: vec![0; len + 1], items: Vec::new() }
    }

    fn get(&self, e: usize) -> &[u32] {
        &self.items[self.off[e]..self.off[e + 1]]
    }

    /// Ends the current element's set.
    fn close(&mut self) {
        self.off.push(self.items.len());
    }

    fn push_copy(&mut self, set: &[u32]) {
        self.items.extend_from_slice(set);
        self.close();
    }

    /// Pushes the sorted union of two sorted sets.
    fn push_union(&mut self, a: &[u32], b: &[u32]) {
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            let (x, y) = (a[i], b[j]);
            self.items.push(x.min(y));
            i += usize::from(x <= y);
            j += usize::from(y <= x);
        }
        self.items.extend_from_slice(&a[i..]);
        self.items.extend_from_slice(&b[j..]);
        self.close();
    }

    /// Pushes `scratch` sorted and deduplicated (and clears it).
    fn push_gathered(&mut self, scratch: &mut Vec<u32>) {
        scratch.sort_unstable();
        scratch.dedup();
        self.items.append(scratch);
        self.close();
    }
}

/// Which of the state elements `0..f.n_state` each of `f`'s output
/// elements (all outputs, concatenated) can depend on: row `i` of the
/// result lists the columns `j` with `∂f_i/∂y_j` possibly non-zero. The
/// pattern has `f.output_len()` rows and columns `< f.n_state`. `limit`
/// bounds the entries held at once (see the module docs).
pub fn jacobian_sparsity(f: &Function, limit: usize) -> Result<JacobianPattern, SparsityError> {
    let count = f.nodes.len();
    // The last node that reads each node (outputs are read at the end).
    let mut last_use = vec![0usize; count];
    for (i, node) in f.nodes.iter().enumerate() {
        for a in node.op.args() {
            last_use[a.index()] = i;
        }
    }
    for o in &f.outputs {
        last_use[o.index()] = count;
    }
    let mut sets: Vec<Option<Sets>> = (0..count).map(|_| None).collect();
    let mut live = 0usize;
    let mut scratch = Vec::new();
    for (i, node) in f.nodes.iter().enumerate() {
        let s = node_sets(f, i, &sets, &mut scratch);
        live += s.items.len();
        if live > limit {
            return Err(SparsityError::TooLarge { limit });
        }
        sets[i] = Some(s);
        for a in node.op.args() {
            if last_use[a.index()] == i {
                if let Some(s) = sets[a.index()].take() {
                    live -= s.items.len();
                }
            }
        }
    }
    let mut rows = Vec::with_capacity(f.output_len() + 1);
    let mut cols = Vec::new();
    rows.push(0);
    for o in &f.outputs {
        let s = sets[o.index()].as_ref().expect("an output's sets live to the end");
        for e in 0..f.shape(*o).len() {
            cols.extend(s.get(e).iter().map(|&c| c as usize));
            rows.push(cols.len());
        }
    }
    Ok(JacobianPattern { rows, cols })
}

/// The sets of node `i` from its operands'.
fn node_sets(f: &Function, i: usize, sets: &[Option<Sets>], scratch: &mut Vec<u32>) -> Sets {
    let node = &f.nodes[i];
    let len = node.shape.len();
    let arg = |v: crate::ir::ValueId| sets[v.index()].as_ref().expect("operands precede their uses");
    match &node.op {
        Op::Input { buf: InputBuf::State, offset } => {
            let mut s = Sets::with_capacity(len);
            for e in 0..len {
                s.push_copy(&[*offset + e as u32]);
            }
            s
        }
        Op::Input { .. } | Op::Const(_) | Op::Unary(UnaryOp::Step | UnaryOp::Powi(0), _) => Sets::empty(len),
        Op::Binary(BinaryOp::Sub, a, b) if a == b => Sets::empty(len),
        Op::Unary(_, a) | Op::Reshape(a) => {
            let a = arg(*a);
            Sets { off: a.off.clone(), items: a.items.clone() }
        }
        Op::Binary(_, a, b) => {
            let (a, b) = (arg(*a), arg(*b));
            let mut s = Sets::with_capacity(len);
            for e in 0..len {
                s.push_union(a.get(e), b.get(e));
            }
            s
        }
        Op::Broadcast(a) => {
            let a = arg(*a);
            let mut s = Sets::with_capacity(len);
            for _ in 0..len {
                s.push_copy(a.get(0));
            }
            s
        }
        Op::Sum(a) => {
            let a = arg(*a);
            scratch.extend_from_slice(&a.items);
            let mut s = Sets::with_capacity(1);
            s.push_gathered(scratch);
            s
        }
        Op::MatMul(a, b) => matmul(f, *a, *b, arg(*a), arg(*b), scratch),
        Op::Transpose(a) => {
            let [m, n] = dims2(f, *a);
            let a = arg(*a);
            let mut s = Sets::with_capacity(len);
            for j in 0..n {
                for r in 0..m {
                    s.push_copy(a.get(r * n + j));
                }
            }
            s
        }
        Op::Slice { arg: a, axis, start } => {
            let [m, n] = dims2(f, *a);
            let a = arg(*a);
            let start = *start as usize;
            let mut s = Sets::with_capacity(len);
            if f.shape(node_arg(node)).rank() == 1 {
                for e in 0..len {
                    s.push_copy(a.get(start + e));
                }
            } else {
                let [om, on] = [node.shape.dim(0), node.shape.dim(1)];
                for r in 0..om {
                    for c in 0..on {
                        let (r0, c0) = if *axis == 0 { (start + r, c) } else { (r, start + c) };
                        debug_assert!(r0 < m && c0 < n);
                        s.push_copy(a.get(r0 * n + c0));
                    }
                }
            }
            s
        }
        Op::Index { arg: a, axis, index } => {
            let [_, n] = dims2(f, *a);
            let rank = f.shape(*a).rank();
            let a = arg(*a);
            let index = *index as usize;
            let mut s = Sets::with_capacity(len);
            for e in 0..len {
                let at = match (rank, *axis) {
                    (1, _) => index,
                    (_, 0) => index * n + e,
                    _ => e * n + index,
                };
                s.push_copy(a.get(at));
            }
            s
        }
        Op::Concat { args, axis } => {
            let mut s = Sets::with_capacity(len);
            if node.shape.rank() == 1 || *axis == 0 {
                for v in args {
                    let a = arg(*v);
                    for e in 0..f.shape(*v).len() {
                        s.push_copy(a.get(e));
                    }
                }
            } else {
                for r in 0..node.shape.dim(0) {
                    for v in args {
                        let a = arg(*v);
                        let n = f.shape(*v).dim(1);
                        for c in 0..n {
                            s.push_copy(a.get(r * n + c));
                        }
                    }
                }
            }
            s
        }
    }
}

fn node_arg(node: &crate::ir::Node) -> crate::ir::ValueId {
    node.op.args()[0]
}

/// `[rows, cols]` of a node seen as a matrix (a vector is one row).
fn dims2(f: &Function, v: crate::ir::ValueId) -> [usize; 2] {
    match f.shape(v).dims() {
        [m, n] => [*m as usize, *n as usize],
        [n] => [1, *n as usize],
        _ => [1, 1],
    }
}

/// The constant values of `v`, if it is a constant.
fn const_values(f: &Function, v: crate::ir::ValueId) -> Option<&[f64]> {
    match &f.node(v).op {
        Op::Const(values) => Some(values),
        _ => None,
    }
}

/// `A @ B` with `A` seen as `[m, k]` (a vector as `[1, k]`) and `B` as
/// `[k, n]` (a vector as `[k, 1]`).
fn matmul(
    f: &Function,
    av: crate::ir::ValueId,
    bv: crate::ir::ValueId,
    a: &Sets,
    b: &Sets,
    scratch: &mut Vec<u32>,
) -> Sets {
    let [m, k] = dims2(f, av);
    let n = if f.shape(bv).rank() == 2 { f.shape(bv).dim(1) } else { 1 };
    let (ac, bc) = (const_values(f, av), const_values(f, bv));
    let mut s = Sets::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            for kk in 0..k {
                let (ai, bi) = (i * k + kk, kk * n + j);
                // A term with a constant zero factor contributes nothing.
                if ac.is_some_and(|c| c[ai] == 0.0) || bc.is_some_and(|c| c[bi] == 0.0) {
                    continue;
                }
                scratch.extend_from_slice(a.get(ai));
                scratch.extend_from_slice(b.get(bi));
            }
            s.push_gathered(scratch);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autodiff::jacobian;
    use crate::ir::interp::eval;
    use crate::ir::random::{random_function, random_point, RandomConfig, Rng};
    use crate::ir::{Builder, Shape};

    const LIMIT: usize = 1 << 24;

    /// The entries of the dense Jacobian that are non-zero at one of three
    /// random points (a value-dependent zero, such as a saturated `tanh`,
    /// rarely repeats); `None` if a point gives NaN.
    fn nonzeros(f: &Function, rng: &mut Rng) -> Option<Vec<Vec<bool>>> {
        let jac = jacobian(f);
        let n = f.n_state.max(1);
        let mut nz = vec![vec![false; n]; f.output_len()];
        for _ in 0..3 {
            let (t, y, p) = random_point(f, rng, -2.0, 2.0);
            let values = eval(&jac, t, &y, &p).ok()?;
            if values.iter().any(|v| v.is_nan()) {
                return None;
            }
            for (row, vals) in nz.iter_mut().zip(values.chunks(n)) {
                for (z, v) in row.iter_mut().zip(vals) {
                    *z |= *v != 0.0;
                }
            }
        }
        Some(nz)
    }

    /// Checks pattern ⊇ non-zeros; returns whether they are equal.
    fn check_superset(f: &Function, rng: &mut Rng) -> Option<bool> {
        let p = jacobian_sparsity(f, LIMIT).unwrap();
        assert_eq!(p.rows.len(), f.output_len() + 1, "{}", f.name);
        let nz = nonzeros(f, rng)?;
        let mut equal = true;
        for (i, row) in nz.iter().enumerate() {
            for (j, &nonzero) in row.iter().enumerate() {
                let structural = p.contains(i, j);
                assert!(!nonzero || structural, "{}: ∂f_{i}/∂y_{j} is non-zero outside the pattern", f.name);
                equal &= nonzero == structural;
            }
        }
        Some(equal)
    }

    #[test]
    fn the_pattern_contains_every_nonzero_of_random_functions() {
        let mut rng = Rng::new(7);
        let mut checked = 0;
        for seed in 0..400 {
            let cfg = RandomConfig { smooth: seed % 2 == 0, ..RandomConfig::default() };
            let f = random_function(seed, &cfg);
            if check_superset(&f, &mut rng).is_some() {
                checked += 1;
            }
        }
        assert!(checked > 300, "only {checked} functions evaluated without NaN");
    }

    #[test]
    fn the_pattern_equals_the_nonzeros_of_smooth_random_functions_without_cancellation() {
        // Smooth functions with no planted identities: no relu, min, max or
        // step, whose zeros depend on values. What remains is the rare
        // saturated `tanh` or `exp` whose derivative rounds to zero at all
        // three points, which the count below allows for.
        let mut rng = Rng::new(11);
        let (mut equal, mut total) = (0, 0);
        for seed in 0..300 {
            let cfg = RandomConfig { smooth: true, plant: 0.0, ..RandomConfig::default() };
            if let Some(eq) = check_superset(&random_function(seed, &cfg), &mut rng) {
                total += 1;
                equal += usize::from(eq);
            }
        }
        println!("pattern = non-zeros on {equal} of {total} smooth random functions");
        assert!(equal * 100 >= total * 98, "pattern = non-zeros on only {equal} of {total}");
    }

    /// `f(u) = c·(concat(uL, u[0:n−1]) − 2u + concat(u[1:n], uR)) + u²`:
    /// the tridiagonal stencil through slices and concatenation.
    fn stencil(n: usize) -> Function {
        let mut b = Builder::new("stencil", n, 0);
        let u = b.state(0, Shape::vector(n));
        let left = b.constant(vec![1.0], Shape::vector(1));
        let right = b.constant(vec![3.0], Shape::vector(1));
        let head = b.slice(u, 0, 0, n - 1);
        let tail = b.slice(u, 0, 1, n - 1);
        let ul = b.concat(vec![left, head], 0);
        let ur = b.concat(vec![tail, right], 0);
        let two = b.scalar(2.0);
        let u2 = b.binary(BinaryOp::Mul, two, u);
        let d = b.binary(BinaryOp::Sub, ul, u2);
        let d = b.binary(BinaryOp::Add, d, ur);
        let sq = b.unary(UnaryOp::Powi(2), u);
        let out = b.binary(BinaryOp::Add, d, sq);
        b.output(out);
        b.finish()
    }

    fn tridiagonal(n: usize) -> JacobianPattern {
        let rows: Vec<Vec<usize>> = (0..n).map(|i| (i.saturating_sub(1)..(i + 2).min(n)).collect()).collect();
        JacobianPattern::from_rows(&rows)
    }

    #[test]
    fn a_stencil_through_slices_and_concat_is_tridiagonal_at_any_size() {
        for n in [2, 5, 1000] {
            let p = jacobian_sparsity(&stencil(n), LIMIT).unwrap();
            assert_eq!(p, tridiagonal(n), "n = {n}");
            assert_eq!(p.colouring(n).n_colours, 3.min(n));
        }
        let mut rng = Rng::new(3);
        assert_eq!(check_superset(&stencil(6), &mut rng), Some(true));
    }

    #[test]
    fn a_constant_matrix_with_zeros_keeps_its_pattern_and_a_parameter_matrix_is_dense() {
        let n = 6;
        // The second-difference matrix as a constant.
        let mut lap = vec![0.0; n * n];
        for i in 0..n {
            lap[i * n + i] = -2.0;
            if i > 0 {
                lap[i * n + i - 1] = 1.0;
            }
            if i + 1 < n {
                lap[i * n + i + 1] = 1.0;
            }
        }
        let mut b = Builder::new("lap", n, n * n);
        let u = b.state(0, Shape::vector(n));
        let l = b.constant(lap, Shape::matrix(n, n));
        let lu = b.matmul(l, u);
        let w = b.param(0, Shape::matrix(n, n));
        let wu = b.matmul(w, u);
        b.output(lu);
        b.output(wu);
        let f = b.finish();
        let p = jacobian_sparsity(&f, LIMIT).unwrap();
        let t = tridiagonal(n);
        for i in 0..n {
            assert_eq!(p.row(i), t.row(i), "row {i}");
            assert_eq!(p.row(n + i), (0..n).collect::<Vec<_>>(), "row {}", n + i);
        }
    }

    #[test]
    fn matrix_ops_move_sets_with_their_elements() {
        // y is a 2×3 matrix; out = [transpose(Y)[1, :], sum(Y[:, 2]), Y[1, 0] · y[0]]
        let mut b = Builder::new("moves", 6, 0);
        let m = b.state(0, Shape::matrix(2, 3));
        let mt = b.transpose(m);
        let row = b.index(mt, 0, 1); // Y[:, 1] = y1, y4
        let col = b.slice(m, 1, 2, 1); // Y[:, 2:3] = y2, y5
        let s = b.sum(col);
        let s = b.reshape(s, Shape::vector(1));
        let y10 = b.index(m, 0, 1);
        let y10 = b.index(y10, 0, 0); // y3
        let y0 = b.state(0, Shape::scalar());
        let prod = b.binary(BinaryOp::Mul, y10, y0);
        let prod = b.reshape(prod, Shape::vector(1));
        let cat = b.concat(vec![row, s, prod], 0);
        let wide = b.concat(vec![m, m], 1); // row 1 = y3 y4 y5 y3 y4 y5
        let last = b.index(wide, 0, 1);
        let last = b.slice(last, 0, 2, 2); // y5, y3
        b.output(cat);
        b.output(last);
        let f = b.finish();
        let p = jacobian_sparsity(&f, LIMIT).unwrap();
        let rows: Vec<&[usize]> = (0..6).map(|i| p.row(i)).collect();
        assert_eq!(rows, vec![&[1][..], &[4], &[2, 5], &[0, 3], &[5], &[3]]);
        let mut rng = Rng::new(5);
        assert_eq!(check_superset(&f, &mut rng), Some(true));
    }

    #[test]
    fn a_limit_below_the_sets_stops_the_pass() {
        let f = stencil(100);
        assert_eq!(jacobian_sparsity(&f, 50), Err(SparsityError::TooLarge { limit: 50 }));
        assert!(SparsityError::TooLarge { limit: 50 }.to_string().contains("50"));
    }
}
