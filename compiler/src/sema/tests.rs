//! Sema through the front end: exact messages and hints, folding, inlining
//! and net layout. (The data-driven cases in `tests/check/` cover every
//! error code; these pin details a `// error:` annotation cannot.)

use crate::diag::Diagnostic;
use crate::driver::frontend::{compile_to_ir, FrontendOptions, MemoryLoader};
use crate::ir::{BinaryOp, Op, ProgramIr, UnaryOp};
use crate::span::SourceMap;

fn compile_with(src: &str, loader: &MemoryLoader, seed: u64) -> (SourceMap, Result<ProgramIr, Vec<Diagnostic>>) {
    let mut sources = SourceMap::new();
    let root = sources.add("main.nde", src);
    let r = compile_to_ir(&mut sources, root, loader, &FrontendOptions { seed, ..Default::default() }).map_err(|d| d.0);
    (sources, r)
}

fn ok(src: &str) -> ProgramIr {
    match compile_with(src, &MemoryLoader::new(), 0) {
        (_, Ok(p)) => p,
        (s, Err(d)) => panic!("unexpected errors:\n{}", d.iter().map(|d| d.render_plain(&s)).collect::<String>()),
    }
}

/// The errors of `src`, with the source text under each primary span.
fn errors(src: &str) -> Vec<(Diagnostic, String)> {
    match compile_with(src, &MemoryLoader::new(), 0) {
        (_, Ok(_)) => panic!("expected errors"),
        (s, Err(d)) => d
            .into_iter()
            .map(|d| {
                let text = s.get(d.primary.span.file).map_or("", |f| &f.text[d.primary.span.range()]).to_string();
                (d, text)
            })
            .collect(),
    }
}

fn only_error(src: &str) -> (Diagnostic, String) {
    let mut e = errors(src);
    assert_eq!(e.len(), 1, "expected one error, got {:?}", e.iter().map(|(d, _)| &d.message).collect::<Vec<_>>());
    e.remove(0)
}

#[test]
fn matmul_mismatch_reads_like_the_language_guide() {
    let (d, text) = only_error(
        "model m {\n  param W: [50, 3] = glorot\n  state y: [2] = [1, 0]\n  let h = W @ y\n  dy/dt = y\n}\n",
    );
    assert_eq!(d.code, "E0301");
    assert_eq!(d.message, "shape mismatch in matrix product");
    assert_eq!(text, "W @ y");
    assert_eq!(d.primary.message, "W is [50, 3] but y is [2]: inner sizes 3 and 2 differ");
}

#[test]
fn matmul_mismatch_suggests_a_transpose_that_fits() {
    let (d, _) = only_error(
        "model m {\n  param W: [3, 2] = glorot\n  state y: [3] = [1, 0, 0]\n  let h = W @ y\n  dy/dt = y\n}\n",
    );
    assert_eq!(d.hints, ["did you mean `W' @ y`?"]);
    let (d, _) = only_error(
        "const A: [2, 3] = [[1, 2, 3], [4, 5, 6]]\nconst C: [4, 3] = [[1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 1, 1]]\nconst B = A @ (C + 1)\nmodel m { state x = 1.0\n dx/dt = x }\n",
    );
    assert_eq!(d.hints, ["did you mean `A @ (C + 1)'`?"]);
}

#[test]
fn elementwise_product_of_matrix_and_vector_suggests_at() {
    let (d, _) = only_error("model m {\n  param A: [2, 2] = glorot\n  state y: [2] = [1, 0]\n  dy/dt = A * y\n}\n");
    assert_eq!(d.code, "E0302");
    assert_eq!(d.primary.message, "A is [2, 2] but y is [2]");
    assert_eq!(d.hints, ["for a matrix product write `A @ y`"]);
}

#[test]
fn unknown_names_get_suggestions_and_import_hints() {
    let (d, text) = only_error("model m {\n  param sigma = 1.0\n  state x = 1.0\n  dx/dt = sigam * x\n}\n");
    assert_eq!((d.code, text.as_str()), ("E0202", "sigam"));
    assert_eq!(d.hints, ["did you mean `sigma`?"]);
    let (d, _) = only_error("model m {\n  state y: [2] = [1, 0]\n  net f = mlp(2 -> 2)\n  dy/dt = f(y)\n}\n");
    assert_eq!(d.hints, ["`mlp` is in std.nn: add `use std.nn.{mlp}`"]);
}

#[test]
fn errors_inside_fn_bodies_point_at_the_body_and_note_the_call() {
    let (d, text) =
        only_error("fn f(a, b) = a @ b\nmodel m {\n  state y: [2] = [1, 0]\n  dy/dt = y * f(y, [1, 2, 3])\n}\n");
    assert_eq!((d.code, text.as_str()), ("E0301", "a @ b"));
    assert_eq!(d.secondary.len(), 1);
    assert_eq!(d.secondary[0].message, "in this call of `f`");
}

fn rhs_ops(p: &ProgramIr) -> Vec<Op> {
    p.models[0].rhs.nodes.iter().map(|n| n.op.clone()).collect()
}

#[test]
fn integer_exponents_become_powi() {
    let p = ok("fn power(x, n) = x ^ n\nmodel m {\n  param k = 2.0\n  state x = 1.0\n  dx/dt = x ^ 3 + x ^ k + x ^ 2.5 + power(x, -2) + x ^ 1\n}\n");
    let ops = rhs_ops(&p);
    let powi: Vec<i32> =
        ops.iter().filter_map(|o| if let Op::Unary(UnaryOp::Powi(n), _) = o { Some(*n) } else { None }).collect();
    assert_eq!(powi, [3, -2]);
    let pows = ops.iter().filter(|o| matches!(o, Op::Binary(BinaryOp::Pow, _, _))).count();
    assert_eq!(pows, 2, "x ^ k and x ^ 2.5");
}

#[test]
fn constants_fold_at_compile_time() {
    let p = ok("const c = sum([1, 2]) * 2\nmodel m {\n  param beta = 8 / 3\n  state x = c\n  dx/dt = 2 * 3 * x + norm([3, 4]) + c\n}\n");
    let m = &p.models[0];
    assert_eq!(m.param_values, [8.0 / 3.0]);
    let consts: Vec<Vec<f64>> =
        m.rhs.nodes.iter().filter_map(|n| if let Op::Const(v) = &n.op { Some(v.to_vec()) } else { None }).collect();
    // `2 * 3` and `c` are both 6 (one shared node); `norm([3, 4])` is 5.
    assert_eq!(consts, [vec![6.0], vec![5.0]]);
    let is_const = |v: crate::ir::ValueId| matches!(m.rhs.node(v).op, Op::Const(_));
    assert!(!m.rhs.nodes.iter().any(|n| matches!(n.op, Op::Binary(_, a, b) if is_const(a) && is_const(b))));
    let init: Vec<Vec<f64>> =
        m.init.nodes.iter().filter_map(|n| if let Op::Const(v) = &n.op { Some(v.to_vec()) } else { None }).collect();
    assert_eq!(init, [vec![6.0]]);
}

#[test]
fn lets_and_shared_subexpressions_are_computed_once() {
    let p = ok("use std.nn.{mlp}\nmodel m {\n  state y: [2] = [1, 0]\n  net f = mlp(2 -> 4 -> 2)\n  let h = f(y)\n  let unused = exp(y)\n  dy/dt = h * h + f(y)\n}\n");
    let ops = rhs_ops(&p);
    let count = |u: UnaryOp| ops.iter().filter(|o| matches!(o, Op::Unary(x, _) if *x == u)).count();
    assert_eq!(count(UnaryOp::Tanh), 1, "one hidden layer, computed once");
    assert_eq!(count(UnaryOp::Exp), 0, "an unused let costs nothing");
    assert_eq!(ops.iter().filter(|o| matches!(o, Op::MatMul(..))).count(), 2);
}

#[test]
fn fns_are_shape_polymorphic() {
    let p = ok("fn sq(x) = x * x\nmodel m {\n  state s = 1.0\n  state v: [3] = [1, 2, 3]\n  state A: [2, 2] = [[1, 0], [0, 1]]\n  ds/dt = sq(s)\n  dv/dt = sq(v)\n  dA/dt = sq(A)\n}\n");
    let m = &p.models[0];
    let shapes: Vec<String> = m.rhs.outputs.iter().map(|&o| m.rhs.shape(o).to_string()).collect();
    assert_eq!(shapes, ["[]", "[3]", "[2, 2]"]);
}

#[test]
fn nets_lay_out_their_parameters_in_layer_order() {
    let p = ok("use std.nn.{mlp, linear}\nmodel m {\n  param a = 1.0\n  state y: [2] = [1, 0]\n  net f = mlp(2 -> 3 -> 1)\n  net g = linear(1 -> 2, bias = false)\n  param z: [2] = zeros\n  dy/dt = g(f(y)) * a + z\n}\n");
    let slots: Vec<(String, String, usize)> =
        p.models[0].params.iter().map(|s| (s.name.clone(), s.shape.to_string(), s.offset)).collect();
    let want = [
        ("a", "[]", 0),
        ("f.W1", "[3, 2]", 1),
        ("f.b1", "[3]", 7),
        ("f.W2", "[1, 3]", 10),
        ("f.b2", "[1]", 13),
        ("g.W", "[2, 1]", 14),
        ("z", "[2]", 16),
    ];
    let want: Vec<(String, String, usize)> = want.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), *c)).collect();
    assert_eq!(slots, want);
    let v = &p.models[0].param_values;
    assert_eq!(v.len(), 18);
    assert_eq!(&v[7..10], [0.0; 3], "biases start at zero");
    let limit = (6.0f64 / 5.0).sqrt();
    assert!(v[1..7].iter().all(|w| w.abs() <= limit && *w != 0.0), "glorot-uniform weights");
}

#[test]
fn parameter_values_depend_on_seed_and_name_only() {
    let base = "use std.nn.{mlp}\nmodel m {\n  state y: [2] = [1, 0]\n  net f = mlp(2 -> 8 -> 2)\n  dy/dt = f(y)\n}\n";
    let more = "use std.nn.{mlp}\nmodel m {\n  param extra: [5] = normal(0.1)\n  state y: [2] = [1, 0]\n  net f = mlp(2 -> 8 -> 2)\n  dy/dt = f(y)\n}\n";
    let values = |src: &str, seed: u64| {
        let p = compile_with(src, &MemoryLoader::new(), seed).1.expect("compiles");
        let m = &p.models[0];
        let w1 = m.params.iter().find(|s| s.name == "f.W1").expect("f.W1");
        m.param_values[w1.offset..w1.offset + w1.shape.len()].to_vec()
    };
    assert_eq!(values(base, 0), values(base, 0));
    assert_eq!(values(base, 0), values(more, 0), "another param does not move f.W1");
    assert_ne!(values(base, 0), values(base, 1));
}

#[test]
fn imports_load_once_and_may_form_cycles() {
    let loader = MemoryLoader::new()
        .with("lib/a.nde", "use \"b.nde\".{g}\nconst ka = 2\nfn f(x) = g(x) * ka\n")
        .with("lib/b.nde", "use \"a.nde\".{ka}\nfn g(x) = x + ka\n");
    let (_, r) = compile_with("use \"lib/a.nde\".{f}\nmodel m {\n  state x = 1.0\n  dx/dt = f(x)\n}\n", &loader, 0);
    let p = r.expect("compiles");
    let y = crate::ir::interp::eval(&p.models[0].rhs, 0.0, &[1.0], &[]).expect("evaluates");
    assert_eq!(y, [(1.0 + 2.0) * 2.0]);
}

#[test]
fn errors_in_imported_files_point_into_them() {
    let loader = MemoryLoader::new().with("lib.nde", "fn f(x) = x * nope\n");
    let (s, r) = compile_with("use \"lib.nde\".{f}\nmodel m {\n  state x = 1.0\n  dx/dt = f(x)\n}\n", &loader, 0);
    let d = r.expect_err("fails");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].code, "E0202");
    assert_eq!(d[0].location(&s), "lib.nde:1:15");
}

#[test]
fn solvers_keep_their_options_in_order() {
    let p = ok(
        "model m {\n  state x = 1.0\n  dx/dt = -x\n}\nsolver s = dopri5(atol = 1e-9, rtol = 1e-6, max_steps = 1000)\n",
    );
    let s = p.solver("s").expect("solver s");
    assert_eq!(s.method, "dopri5");
    assert_eq!(s.options, [("atol".to_string(), 1e-9), ("rtol".to_string(), 1e-6), ("max_steps".to_string(), 1000.0)]);
}

#[test]
fn deep_expressions_and_call_chains_fit_a_test_threads_stack() {
    // 90 levels of brackets and a 300-term sum inside each of 45 nested fns
    // (about 17,500 levels after inlining, within the budget).
    let body = format!("{}x{}{}", "(0 + ".repeat(90), ")".repeat(90), " + 1".repeat(300));
    let mut src = String::new();
    for i in 0..45 {
        let inner = if i + 1 < 45 { format!("f{}({body})", i + 1) } else { body.clone() };
        src += &format!("fn f{i}(x) = {inner}\n");
    }
    src += "model m {\n  state x = 1.0\n  dx/dt = f0(x)\n}\n";
    let p = ok(&src);
    let y = crate::ir::interp::eval(&p.models[0].rhs, 0.0, &[1.0], &[]).expect("evaluates");
    // Each level adds 300 to its argument.
    assert_eq!(y, [1.0 + 300.0 * 45.0]);
}

#[test]
fn every_stdlib_fn_checks_and_applies() {
    for module in crate::stdlib::MODULES {
        let ast = crate::syntax::parse(module.source, crate::span::FileId(0)).expect("stdlib parses");
        let fns: Vec<String> = ast
            .items
            .iter()
            .filter_map(|it| match it {
                crate::syntax::ast::Item::Fn(f) if f.params.len() == 1 => Some(f.name.name.clone()),
                _ => None,
            })
            .collect();
        if fns.is_empty() {
            continue;
        }
        let calls: Vec<String> = fns.iter().map(|f| format!("{f}(y)")).collect();
        let src = format!(
            "use {}.{{{}}}\nmodel m {{\n  state y: [2] = [1, -1]\n  dy/dt = {}\n}}\n",
            module.path,
            fns.join(", "),
            calls.join(" + ")
        );
        ok(&src);
    }
}

#[test]
fn every_stdlib_template_instantiates() {
    let mut seen = 0;
    for module in crate::stdlib::MODULES {
        let ast = crate::syntax::parse(module.source, crate::span::FileId(0)).expect("stdlib parses");
        for item in &ast.items {
            let crate::syntax::ast::Item::Model(m) = item else { continue };
            let Some(params) = &m.template else { continue };
            // Every parameter without a default is a size here.
            let args: Vec<String> =
                params.iter().filter(|p| p.default.is_none()).map(|p| format!("{} = 3", p.name.name)).collect();
            let name = &m.name.name;
            let p = ok(&format!("use {}.{{{name}}}\nmodel x = {name}({})\n", module.path, args.join(", ")));
            assert_eq!(p.models[0].name, "x");
            seen += 1;
        }
    }
    assert!(seen >= 3, "the stdlib has the three stable SDE templates");
}

#[test]
fn single_name_imports() {
    let p = ok("use std.nn.mlp\nmodel m {\n  state y: [2] = [1, 0]\n  net f = mlp(2 -> 2)\n  dy/dt = f(y)\n}\n");
    assert_eq!(p.models[0].params.len(), 2);
}
