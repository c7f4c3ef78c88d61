//! What the simplifier does on small functions: domain guards hold,
//! constants fold bit for bit, forward values are shared with derivatives,
//! the cost model and limits behave, and the infix form of a few results.

use egg::RecExpr;
use expect_test::expect;

use super::{eval, same_bits, term_function};
use crate::ir::infix::{print_infix, InfixNames};
use crate::ir::random::{random_function, random_point, RandomConfig, Rng};
use crate::ir::{BinaryOp, Builder, Function, Op, Shape, UnaryOp};
use crate::simplify::convert::to_recexpr;
use crate::simplify::lang::TensorLang;
use crate::simplify::{flops, simplify, KeptInput, SimplifyOptions, StopReason};

/// The function of one term (text form of `simplify::lang`).
fn func(term: &str) -> Function {
    let expr: RecExpr<TensorLang> = term.parse().unwrap_or_else(|e| panic!("{term}: {e:?}"));
    term_function(&expr, (0, 0))
}

/// The term after simplification, in text form (without the root).
fn simp_with(term: &str, opts: &SimplifyOptions) -> String {
    let (g, _) = simplify(&func(term), opts);
    let (expr, _) = to_recexpr(&g);
    let text = expr.to_string();
    text.strip_prefix("(outputs ").and_then(|t| t.strip_suffix(')')).unwrap_or(&text).to_string()
}

fn simp(term: &str) -> String {
    simp_with(term, &SimplifyOptions::default())
}

fn fast() -> SimplifyOptions {
    SimplifyOptions { fast_math: true, ..SimplifyOptions::default() }
}

#[test]
fn domain_guards_hold() {
    // exp(log x) = x needs x ≥ 0: not for a plain input, yes for exp(y) or |y|.
    assert_eq!(simp("(exp (log y@0:3))"), "(exp (log y@0:3))");
    assert_eq!(simp("(exp (log (exp y@0:3)))"), "(exp y@0:3)");
    assert_eq!(simp("(exp (log (abs y@0:3)))"), "(abs y@0:3)");
    // x / x = 1 needs x finite and non-zero.
    assert_eq!(simp("(div y@0:3 y@0:3)"), "(div y@0:3 y@0:3)");
    assert_eq!(simp_with("(div y@0:3 y@0:3)", &fast()), "(bcast 1.0 #3)");
    // 0·x = 0 fails for x = inf or NaN (and gives -0 for negative x).
    assert_eq!(simp("(mul (bcast 0.0 #3) y@0:3)"), "(mul (bcast 0.0 #3) y@0:3)");
    assert_eq!(simp_with("(mul (bcast 0.0 #3) y@0:3)", &fast()), "(bcast 0.0 #3)");
    // x - x = 0 fails for infinite x; x + 0 = x fails for x = -0.
    assert_eq!(simp("(sub y@0:3 y@0:3)"), "(sub y@0:3 y@0:3)");
    assert_eq!(simp("(add y@0:3 (bcast 0.0 #3))"), "(add y@0:3 (bcast 0.0 #3))");
    assert_eq!(simp("(add (exp y@0:3) (bcast 0.0 #3))"), "(exp y@0:3)");
    // log(exp x) overflows for large x.
    assert_eq!(simp("(log (exp y@0:3))"), "(log (exp y@0:3))");
    assert_eq!(simp_with("(log (exp y@0:3))", &fast()), "y@0:3");
}

#[test]
fn exact_identities_fire_by_default() {
    assert_eq!(simp("(mul y@0:3 (bcast 1.0 #3))"), "y@0:3");
    assert_eq!(simp("(neg (neg y@0:3))"), "y@0:3");
    assert_eq!(simp("(transpose (transpose p@0:2x3))"), "p@0:2x3");
    assert_eq!(simp("(mul (neg y@0:3) (neg p@0:3))"), "(mul y@0:3 p@0:3)");
    assert_eq!(simp("(add y@0:3 (neg p@0:3))"), "(sub y@0:3 p@0:3)");
    assert_eq!(simp("(mul y@0:3 (bcast -1.0 #3))"), "(neg y@0:3)");
    assert_eq!(simp("(div y@0:3 (bcast 4.0 #3))"), "(mul y@0:3 (bcast 0.25 #3))");
    assert_eq!(simp("(div y@0:3 (bcast 3.0 #3))"), "(div y@0:3 (bcast 3.0 #3))");
    assert_eq!(simp("(exp (bcast t #4))"), "(bcast (exp t) #4)");
    assert_eq!(simp("(sum (bcast t #3))"), "(mul t 3.0)");
    assert_eq!(simp("(sum (bcast t #5))"), "(sum (bcast t #5))");
    // No reassociation or factoring by default.
    let sum = "(add (add y@0:3 p@0:3) p@3:3)";
    assert_eq!(simp(sum), sum);
    let factor = "(add (mul y@0:3 p@0:3) (mul y@0:3 p@3:3))";
    assert_eq!(simp(factor), factor);
    assert_eq!(simp_with(factor, &fast()), "(mul y@0:3 (add p@0:3 p@3:3))");
}

#[test]
fn constants_fold_bit_for_bit() {
    // Random functions with their inputs replaced by constants fold to
    // constants equal to what the interpreter computes.
    for seed in 0..100 {
        let f = random_function(seed, &RandomConfig { plant: 0.0, ..RandomConfig::default() });
        let (t, y, p) = random_point(&f, &mut Rng::new(seed), -2.0, 2.0);
        let mut c = f.clone();
        for node in &mut c.nodes {
            if let Op::Input { buf, offset } = node.op {
                let o = offset as usize;
                let v: Vec<f64> = match buf {
                    crate::ir::InputBuf::Time => vec![t],
                    crate::ir::InputBuf::State => y[o..o + node.shape.len()].to_vec(),
                    crate::ir::InputBuf::Param => p[o..o + node.shape.len()].to_vec(),
                };
                node.op = Op::Const(v.into());
            }
        }
        let want = eval(&c, 0.0, &y, &p);
        let (g, report) = simplify(&c, &SimplifyOptions::default());
        assert_eq!(report.flops_after, 0, "seed {seed}: not folded");
        let got = eval(&g, 0.0, &y, &p);
        for (a, b) in want.iter().zip(&got) {
            assert!(same_bits(*a, *b), "seed {seed}: {a:e} folded to {b:e}");
        }
    }
}

/// `tanh(W@y + b)` and a derivative-like `a · (1 - tanh(W@y + b)²)`.
fn tanh_layer(square: impl Fn(&mut Builder, crate::ir::ValueId) -> crate::ir::ValueId) -> Function {
    let mut b = Builder::new("layer", 6, 6);
    let y = b.state(0, Shape::vector(2));
    let a = b.state(2, Shape::vector(2));
    let w = b.param(0, Shape::matrix(2, 2));
    let c = b.param(4, Shape::vector(2));
    let m = b.matmul(w, y);
    let z = b.binary(BinaryOp::Add, m, c);
    let h = b.unary(UnaryOp::Tanh, z);
    // The derivative side rebuilds tanh(z) from scratch (as a separate pass would).
    let h2 = b.unary(UnaryOp::Tanh, z);
    let sq = square(&mut b, h2);
    let one = b.scalar(1.0);
    let d = b.binary(BinaryOp::Sub, one, sq);
    let g = b.binary(BinaryOp::Mul, a, d);
    let wt = b.transpose(w);
    let gy = b.matmul(wt, g);
    b.output(h);
    b.output(gy);
    b.finish()
}

#[test]
fn tanh_derivative_shares_the_forward_tanh() {
    for f in [tanh_layer(|b, h| b.unary(UnaryOp::Powi(2), h)), tanh_layer(|b, h| b.binary(BinaryOp::Mul, h, h))] {
        let (g, _) = simplify(&f, &SimplifyOptions::default());
        let tanhs = g.nodes.iter().filter(|n| matches!(n.op, Op::Unary(UnaryOp::Tanh, _))).count();
        assert_eq!(tanhs, 1);
        assert_eq!(flops(&g), flops(&f));
    }
    let (g, _) = simplify(&tanh_layer(|b, h| b.unary(UnaryOp::Powi(2), h)), &SimplifyOptions::default());
    let slot = |name: &str, shape, offset| crate::ir::Slot { name: name.into(), shape, offset };
    let names = InfixNames {
        states: vec![slot("y", Shape::vector(2), 0), slot("a", Shape::vector(2), 2)],
        params: vec![slot("W", Shape::matrix(2, 2), 0), slot("b", Shape::vector(2), 4)],
        outputs: vec!["h".into(), "gy".into()],
    };
    expect![[r#"
        h1 = tanh(W @ y + b)
        h = h1
        gy = W' @ (a * (1 - h1^2))
    "#]]
    .assert_eq(&print_infix(&g, &names));
}

#[test]
fn limits_bound_the_run_and_the_input_survives_them() {
    let f = random_function(7, &RandomConfig { ops: 40, ..RandomConfig::default() });
    let tight = SimplifyOptions { iter_limit: 1, ..SimplifyOptions::default() };
    let (_, r) = simplify(&f, &tight);
    assert!(r.iterations <= 2, "{r:?}");
    let tiny = SimplifyOptions { node_limit: 10, ..SimplifyOptions::default() };
    let (g, r) = simplify(&f, &tiny);
    assert!(matches!(r.stop_reason, StopReason::NodeLimit | StopReason::Saturated), "{:?}", r.stop_reason);
    assert!(flops(&g) <= flops(&f));
    let (t, y, p) = random_point(&f, &mut Rng::new(1), -1.0, 1.0);
    assert_eq!(eval(&f, t, &y, &p).len(), eval(&g, t, &y, &p).len());
}

#[test]
fn malformed_input_comes_back_unchanged() {
    let mut f = func("(add y@0:3 p@0:3)");
    f.outputs.push(crate::ir::ValueId(99));
    let (g, r) = simplify(&f, &SimplifyOptions::default());
    assert_eq!(g, f);
    assert!(matches!(r.kept_input, Some(KeptInput::Malformed(_))));
}

#[test]
fn explain_lists_the_rewrites_on_the_path() {
    let opts = SimplifyOptions { explain: true, ..SimplifyOptions::default() };
    let (g, r) = simplify(&func("(mul (neg (neg y@0:3)) (bcast 1.0 #3))"), &opts);
    assert_eq!(g.nodes.len(), 1);
    let mut applied = r.applied.clone();
    applied.sort();
    assert_eq!(applied, ["mul-one", "neg-neg"]);
    assert_eq!(r.steps.len(), 2);
    assert_eq!(r.steps.last().map(|s| &s.result), Some(&g));
}

#[test]
fn flop_model() {
    assert_eq!(flops(&func("(matmul p@0:3x4 p@12:4x5)")), 2 * 3 * 4 * 5);
    assert_eq!(flops(&func("(tanh y@0:3)")), 60);
    assert_eq!(flops(&func("(powi:5 y@0:3)")), 9);
    assert_eq!(flops(&func("(powi:-2 y@0:1)")), 5);
    assert_eq!(flops(&func("(sum (transpose p@0:2x3))")), 6);
    assert_eq!(flops(&func("(reshape (bcast t #6) #2x3)")), 0);
}

#[test]
fn conversion_round_trip_keeps_shapes_values_and_order() {
    for seed in 0..100 {
        let f = random_function(seed, &RandomConfig::default());
        let g = crate::simplify::convert::rebuild(&f).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        crate::ir::verify::verify(&g).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(g.outputs.len(), f.outputs.len());
        for (a, b) in f.outputs.iter().zip(&g.outputs) {
            assert_eq!(f.shape(*a), g.shape(*b), "seed {seed}");
        }
        let (t, y, p) = random_point(&f, &mut Rng::new(seed), -2.0, 2.0);
        let (want, got) = (eval(&f, t, &y, &p), eval(&g, t, &y, &p));
        assert!(want.iter().zip(&got).all(|(a, b)| same_bits(*a, *b)), "seed {seed}");
    }
}

#[test]
fn spans_survive_on_kept_nodes() {
    let file = crate::span::FileId(0);
    let mut b = Builder::new("f", 3, 0);
    b.set_span(crate::span::Span::new(file, 10, 20));
    let y = b.state(0, Shape::vector(3));
    b.set_span(crate::span::Span::new(file, 30, 40));
    let t = b.unary(UnaryOp::Tanh, y);
    let one = b.scalar(1.0);
    let m = b.binary(BinaryOp::Mul, t, one);
    b.output(m);
    let (g, _) = simplify(&b.finish(), &SimplifyOptions::default());
    let tanh = g.nodes.iter().find(|n| matches!(n.op, Op::Unary(UnaryOp::Tanh, _))).expect("tanh kept");
    assert_eq!(tanh.span.range(), 30..40);
}
