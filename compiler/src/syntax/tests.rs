//! Unit tests of the parser: precedence, spans, literals, error codes and
//! positions, and robustness on mangled input. The data-driven cases live in
//! tests/parse/.

use super::ast::*;
use super::print::{print_expr, print_module};
use super::{codes, parse, MAX_EXPR_DEPTH, MAX_NESTING};
use crate::diag::Diagnostic;
use crate::span::{FileId, SourceMap, Span};

const F: FileId = FileId(0);

fn module(src: &str) -> Module {
    match parse(src, F) {
        Ok(m) => m,
        Err(d) => panic!("{src:?} should parse, got {}", render(src, &d)),
    }
}

fn render(src: &str, d: &Diagnostic) -> String {
    let mut sources = SourceMap::new();
    sources.add("test.nde", src);
    d.render_plain(&sources)
}

/// The value of `const c = SRC`.
fn expr(src: &str) -> Expr {
    match module(&format!("const c = {src}")).items.pop() {
        Some(Item::Const(c)) => c.value,
        other => panic!("expected one const, got {other:?}"),
    }
}

fn sexpr(src: &str) -> String {
    print_expr(&expr(src))
}

/// The error of `src`: code, 1-based line and column, message.
fn error(src: &str) -> (&'static str, usize, usize, String) {
    match parse(src, F) {
        Ok(m) => panic!("{src:?} should fail, parsed as\n{}", print_module(&m)),
        Err(d) => {
            let mut sources = SourceMap::new();
            sources.add("test.nde", src);
            let (line, col) = sources.line_col(F, d.primary.span.start).unwrap_or((0, 0));
            (d.code, line, col, d.message)
        }
    }
}

/// The source text a span covers, `const c = ` included.
fn text_of(src: &str, span: Span) -> String {
    format!("const c = {src}")[span.range()].to_string()
}

#[test]
fn precedence() {
    let cases = [
        ("-y^2", "(neg (^ y 2.0))"),
        ("a - b - c", "(- (- a b) c)"),
        ("a / b / c", "(/ (/ a b) c)"),
        ("2^3^2", "(^ 2.0 (^ 3.0 2.0))"),
        ("A' @ y^3", "(@ (transpose A) (^ y 3.0))"),
        ("a + b * c", "(+ a (* b c))"),
        ("a * b / c @ d", "(@ (/ (* a b) c) d)"),
        ("a @ b + c", "(+ (@ a b) c)"),
        ("y^-2", "(^ y (neg 2.0))"),
        ("a ^ -b ^ c", "(^ a (neg (^ b c)))"),
        ("-a * b", "(* (neg a) b)"),
        ("- -x", "(neg (neg x))"),
        ("+x - -1", "(- (pos x) (neg 1.0))"),
        ("-x'", "(neg (transpose x))"),
        ("x'^2", "(^ (transpose x) 2.0)"),
        ("(a + b) * c", "(* (+ a b) c)"),
        ("a * (b + c)", "(* a (+ b c))"),
        ("f(x)'", "(transpose (call f x))"),
        ("sol.y'", "(transpose (. sol y))"),
        ("x.y.z", "(. (. x y) z)"),
        ("linear(2 -> 3)(x)", "(call (call linear (-> 2.0 3.0)) x)"),
        ("mlp(2 -> 64 -> 2, act = tanh)", "(call mlp (-> 2.0 64.0 2.0) (= act tanh))"),
        ("f(a = 1, b)", "(call f (= a 1.0) b)"),
        ("f()", "(call f)"),
        ("f(x,)", "(call f x)"),
        ("x[0:2]", "(index x (: 0.0 2.0))"),
        ("A[:, 1]", "(index A (: _ _) 1.0)"),
        ("x[1:]", "(index x (: 1.0 _))"),
        ("x[:n - 1]", "(index x (: _ (- n 1.0)))"),
        ("x[i][j]", "(index (index x i) j)"),
        ("[[1, 0], [0, 1],]", "(array (array 1.0 0.0) (array 0.0 1.0))"),
        ("[]", "(array)"),
        ("-[1, 2]^2", "(neg (^ (array 1.0 2.0) 2.0))"),
    ];
    for (src, want) in cases {
        assert_eq!(sexpr(src), want, "for {src:?}");
    }
}

#[test]
fn numbers_and_strings() {
    let cases = [("1", 1.0), ("2.5", 2.5), ("1e-7", 1e-7), ("3.0E+2", 300.0), (".5", 0.5), ("007", 7.0)];
    for (src, want) in cases {
        assert_eq!(expr(src).kind, ExprKind::Number(want), "for {src:?}");
    }
    assert_eq!(expr(r#""a\"b\\c""#).kind, ExprKind::Str("a\"b\\c".into()));
    assert_eq!(expr(r#""""#).kind, ExprKind::Str(String::new()));
}

#[test]
fn expression_spans() {
    let src = "a + b * (c - d)";
    let e = expr(src);
    assert_eq!(text_of(src, e.span), src);
    let ExprKind::Binary(BinaryOp::Add, lhs, rhs) = &e.kind else { panic!("{e:?}") };
    assert_eq!(text_of(src, lhs.span), "a");
    assert_eq!(text_of(src, rhs.span), "b * (c - d)");
    let ExprKind::Binary(BinaryOp::Mul, _, paren) = &rhs.kind else { panic!("{rhs:?}") };
    assert_eq!(text_of(src, paren.span), "(c - d)", "parentheses belong to the span");

    let src = "-f(x)[1:2]'";
    let e = expr(src);
    assert_eq!(text_of(src, e.span), src);
    let ExprKind::Unary(UnaryOp::Neg, t) = &e.kind else { panic!("{e:?}") };
    assert_eq!(text_of(src, t.span), "f(x)[1:2]'");
    let ExprKind::Transpose(ix) = &t.kind else { panic!("{t:?}") };
    let ExprKind::Index { base, indices } = &ix.kind else { panic!("{ix:?}") };
    assert_eq!(text_of(src, base.span), "f(x)");
    let IndexArg::Slice { span, .. } = &indices[0] else { panic!("{indices:?}") };
    assert_eq!(text_of(src, *span), "1:2");

    let src = "mlp(2 -> 50 -> 2 , act = tanh)";
    let ExprKind::Call { args, .. } = expr(src).kind else { panic!() };
    assert_eq!(text_of(src, args[0].value.span), "2 -> 50 -> 2");
    let name = args[1].name.as_ref().map(|n| text_of(src, n.span));
    assert_eq!(name.as_deref(), Some("act"));

    let src = "x[ : ]";
    let ExprKind::Index { indices, .. } = expr(src).kind else { panic!() };
    let IndexArg::Slice { span, .. } = &indices[0] else { panic!() };
    assert_eq!(text_of(src, *span), ":");
}

#[test]
fn item_and_member_spans_end_at_their_last_token() {
    let src = "use std.nn.{mlp}\nmodel m {\n  param a = 1,  b: [2] = zeros  // two\n  dx/dt = a * x   /* c */\n}\n";
    let m = module(src);
    let at = |s: Span| &src[s.range()];
    assert_eq!(m.span, Span::new(F, 0, src.len()));
    assert_eq!(at(m.items[0].span()), "use std.nn.{mlp}");
    let Item::Model(model) = &m.items[1] else { panic!() };
    assert!(at(model.span).starts_with("model m {") && at(model.span).ends_with('}'));
    assert_eq!(at(model.name.span), "m");
    let spans: Vec<&str> = model.members.iter().map(|m| at(m.span())).collect();
    assert_eq!(spans, ["a = 1", "b: [2] = zeros", "dx/dt = a * x"]);
    let Member::Param { shape: Some(shape), .. } = &model.members[1] else { panic!() };
    assert_eq!(at(shape.span), "[2]");
    assert_eq!(shape.literal_dims(), Some(vec![2]));
    let Member::Ode { state, .. } = &model.members[2] else { panic!() };
    assert_eq!(at(state.span), "x");
}

#[test]
fn items_and_members() {
    let src = r#"
        use std.nn.{mlp, linear,}
        use std.nn.tanh
        use "lib/a \"b\".nde".{f}
        const A: [2, 2] = [[1, 0], [0, 1]]
        const s: [] = 1
        fn sq(x, y) = x^2 + y
        fn zero() = 0
        model m {
          param a = 1, b: [3] = zeros
          state x = 1.0, y: [2] = [0, 1]
          net f = mlp(2 -> 64 -> 2, act = tanh)
          let g = f(y)
          dx/dt = a
          dy / dt = g
        }
        solver fast = tsit5(rtol = 1e-7, atol = 1e-9)
        solver plain = rk4()
    "#;
    let printed = print_module(&module(src));
    let without_spans: Vec<&str> = printed.lines().map(|l| l.split("  @").next().unwrap_or(l)).collect();
    assert_eq!(
        without_spans,
        [
            "use std.nn.{mlp, linear}",
            "use std.nn.{tanh}",
            "use \"lib/a \\\"b\\\".nde\".{f}",
            "const A: [2, 2] = (array (array 1.0 0.0) (array 0.0 1.0))",
            "const s: [] = 1.0",
            "fn sq(x, y) = (+ (^ x 2.0) y)",
            "fn zero() = 0.0",
            "model m",
            "  param a = 1.0",
            "  param b: [3] = zeros",
            "  state x = 1.0",
            "  state y: [2] = (array 0.0 1.0)",
            "  net f = (call mlp (-> 2.0 64.0 2.0) (= act tanh))",
            "  let g = (call f y)",
            "  dx/dt = a",
            "  dy/dt = g",
            "solver fast = tsit5 (= rtol 1e-7) (= atol 1e-9)",
            "solver plain = rk4",
        ]
    );
}

#[test]
fn keywords_are_whole_words() {
    let m = module("model models { let lets = modelx + d_x }");
    let Item::Model(model) = &m.items[0] else { panic!() };
    assert_eq!(model.name.name, "models");
    assert_eq!(
        print_module(&m).lines().nth(1).map(|l| l.split("  @").next()),
        Some(Some("  let lets = (+ modelx d_x)"))
    );
    assert!(module("").items.is_empty());
    assert!(module("  // nothing\n/* at all */\n").items.is_empty());
}

#[test]
fn error_codes_and_positions() {
    let cases: [(&str, &str, usize, usize); 39] = [
        ("model a {\n  dx/dt := 1\n}", codes::SYNTAX, 2, 9),
        ("model a {\n  dx/dt = x ** 2\n}", codes::SYNTAX, 2, 14),
        ("model a { param a 1.0 }", codes::SYNTAX, 1, 19),
        ("model a { let x = 1 * }", codes::SYNTAX, 1, 23),
        ("model a { let x = sigma y }", codes::SYNTAX, 1, 25),
        ("model a { param model = 1 }", codes::KEYWORD_AS_NAME, 1, 17),
        ("fn f(state) = 1", codes::KEYWORD_AS_NAME, 1, 6),
        ("const c = 1e400", codes::BAD_NUMBER, 1, 11),
        ("const c = 1.", codes::BAD_NUMBER, 1, 11),
        ("const c = 3e", codes::BAD_NUMBER, 1, 11),
        ("const c: [2.5] = 1", codes::BAD_SHAPE_DIM, 1, 11),
        ("use \"a\\n\".{f}", codes::BAD_ESCAPE, 1, 7),
        ("const c = \"abc\nconst d = 1", codes::UNTERMINATED_STRING, 1, 11),
        ("const c = 1 /* x", codes::UNTERMINATED_COMMENT, 1, 13),
        ("model a {\n  state x = 1\n", codes::UNCLOSED_DELIMITER, 1, 9),
        ("model a {\n  state x = 1\nmodel b {}", codes::UNCLOSED_DELIMITER, 1, 9),
        ("model a {}\n}", codes::STRAY_CLOSER, 2, 1),
        ("output y = 1", codes::MEMBER_OUTSIDE_MODEL, 1, 1),
        ("model a {\n  output = 1\n}", codes::SYNTAX, 2, 10),
        ("train fit { steps 10 }", codes::SYNTAX, 1, 19),
        ("loss fit { }", codes::SYNTAX, 1, 12),
        ("loss fit { let a = 1 }", codes::SYNTAX, 1, 22),
        ("model a { data d = load(\"x.csv\") }", codes::ITEM_IN_MODEL, 1, 11),
        ("loss f { let model = 1 x }", codes::KEYWORD_AS_NAME, 1, 14),
        ("model a {\n  input X\n}", codes::SYNTAX, 3, 1),
        ("model a {\n  input = hermite(d)\n}", codes::SYNTAX, 2, 9),
        ("input X = hermite(d)", codes::MEMBER_OUTSIDE_MODEL, 1, 1),
        ("model a {\n  dx = f dt + g\n}", codes::SYNTAX, 3, 1),
        ("model a {\n  dx = a + b dt\n}", codes::SYNTAX, 2, 10),
        ("model a {\n  noise W\n}", codes::SYNTAX, 3, 1),
        ("model a {\n  dx/ds = 1\n}", codes::SYNTAX, 2, 3),
        ("model a ito { }", codes::SYNTAX, 1, 9),
        ("dx/dt = 1", codes::MEMBER_OUTSIDE_MODEL, 1, 1),
        ("modle a {}", codes::UNKNOWN_START, 1, 1),
        ("model a {\n  x = 1\n}", codes::UNKNOWN_START, 2, 3),
        ("const c = 2 -> 3", codes::MISPLACED_ARROW, 1, 13),
        ("model a { fn f(x) = x }", codes::ITEM_IN_MODEL, 1, 11),
        ("const c = #", codes::UNKNOWN_CHAR, 1, 11),
        ("solver s = tsit5\n", codes::SYNTAX, 2, 1),
    ];
    for (src, code, line, col) in cases {
        let (got, l, c, message) = error(src);
        assert_eq!((got, l, c), (code, line, col), "for {src:?}: {message}");
    }
}

#[test]
fn error_messages_name_what_was_expected() {
    let message = |src: &str| error(src).3;
    assert_eq!(message("model a { param a 1.0 }"), "expected `=`, found the number `1.0`");
    assert_eq!(message("model a { let x = 1 * }"), "expected an expression, found `}`");
    assert_eq!(message("model { }"), "expected a name, found `{`");
    assert_eq!(
        message("model a {\n  dx/dt = f(x, y\n  dy/dt = 1\n}"),
        "expected `,` or `)` to close the call opened at 2:12, found `dy`"
    );
    assert_eq!(message("model a { param model = 1 }"), "`model` is a keyword");
    assert_eq!(message("output y = 1"), "`output` declarations belong inside a model");
    assert_eq!(message("loss fit { let a = 1 }"), "expected an expression, found `}`");
    assert_eq!(message("loss fit x"), "expected `=` or `{`, found `x`");
    assert_eq!(message("train fit { steps 10 }"), "expected `=`, found the number `10`");
    let hints = |src: &str| parse(src, F).err().map(|d| d.hints).unwrap_or_default();
    assert!(hints("model a { dx/dt = x ** 2 }").iter().any(|h| h.contains("use `^` for powers")));
    assert!(hints("model a { dx/dt := 2 }").iter().any(|h| h.contains("`:=`")));
    assert!(hints("modle a {}").iter().any(|h| h == "did you mean `model`?"));
    assert!(hints("model a { rate = 2 }").iter().any(|h| h.contains("`let rate = ...`")));
    assert!(hints("model a { let x = sigma y }").iter().any(|h| h.contains("`sigma * y`")));
    assert!(hints("loss f {\n  let r = a - b\n  (mean(r))\n}").iter().any(|h| h.contains("continues the `let`")));
    assert!(!hints("model a { let x = 1 * }").iter().any(|h| h.contains("continues the `let`")));
}

#[test]
fn nesting_and_depth_limits() {
    let nested = |n: usize| format!("const c = {}x{}", "(".repeat(n), ")".repeat(n));
    assert!(parse(&nested(MAX_NESTING), F).is_ok());
    assert_eq!(error(&nested(MAX_NESTING + 1)).0, codes::TOO_DEEP);

    let long = |op: &str, n: usize| format!("const c = x{}", format!(" {op} x").repeat(n));
    let within = MAX_EXPR_DEPTH as usize - 2;
    for op in ["+", "*", "^"] {
        assert!(parse(&long(op, within), F).is_ok(), "{op} chain of {within}");
        assert_eq!(error(&long(op, 100_000)).0, codes::TOO_DEEP, "{op} chain");
    }
    assert_eq!(error(&format!("const c = {}x", "- ".repeat(100_000))).0, codes::TOO_DEEP);
    assert_eq!(error(&format!("const c = x{}", "'".repeat(100_000))).0, codes::TOO_DEEP);
}

/// Deleting or replacing any one character of valid files never panics, and
/// every error points inside the text with a parser code.
#[test]
fn mangled_input_never_panics() {
    let sources = [
        "use std.nn.{mlp}\nconst A: [2, 2] = [[-0.1, 2.0], [-2.0, -0.1]]\nfn f(x) = x^2\n",
        "model spiral {\n  param k = 1, w: [2] = zeros\n  state y: [2] = [2.0, 0.0]\n  \
         net f = mlp(2 -> 50 -> 2, act = tanh) // net\n  let z = f(y^3)[0:1] + A' @ y\n  \
         dy/dt = -z^2 + \"s\\\"\" /* c */\n}\nsolver s = tsit5(rtol = 1e-7)\n",
    ];
    let replacements =
        ["", " ", "(", ")", "[", "]", "{", "}", "-", ">", "^", "=", "\"", "/", "*", "d", "1", "e", "'", ".", ":", "σ"];
    for src in sources {
        for (i, _) in src.char_indices() {
            let end = i + src[i..].chars().next().map_or(0, char::len_utf8);
            for r in replacements {
                let mangled = format!("{}{r}{}", &src[..i], &src[end..]);
                let result = std::panic::catch_unwind(|| parse(&mangled, F));
                match result {
                    Err(_) => panic!("parser panicked on {mangled:?}"),
                    Ok(Err(d)) => {
                        assert!(d.code.starts_with("E01"), "{mangled:?}: {}", d.code);
                        assert!(d.primary.span.range().end <= mangled.len(), "{mangled:?}: {:?}", d.primary.span);
                        assert!(d.primary.span.start <= d.primary.span.end);
                    }
                    Ok(Ok(_)) => {}
                }
            }
        }
    }
}

#[test]
fn stochastic_equations() {
    let src = "model s stratonovich {\n  noise B: [3]\n  dx = -theta * x dt - sigma dW + G @ dB\n  dy = 2 dt\n  dz/dt = 1\n}\n";
    let m = module(src);
    let at = |s: Span| &src[s.range()];
    let Item::Model(model) = &m.items[0] else { panic!() };
    assert_eq!(model.stratonovich.map(at), Some("stratonovich"));
    let Member::Noise { name, shape, span } = &model.members[0] else { panic!() };
    assert_eq!((name.name.as_str(), shape.literal_dims().unwrap(), at(*span)), ("B", vec![3], "B: [3]"));
    let Member::Sde { state, terms, span } = &model.members[1] else { panic!() };
    assert_eq!(at(state.span), "x");
    assert_eq!(at(*span), "dx = -theta * x dt - sigma dW + G @ dB");
    let summary: Vec<(bool, &str, bool, &str, &str)> =
        terms.iter().map(|t| (t.negate, at(t.coef.span), t.matmul, t.differential.name.as_str(), at(t.span))).collect();
    assert_eq!(
        summary,
        [
            (false, "-theta * x", false, "dt", "-theta * x dt"),
            (true, "sigma", false, "dW", "sigma dW"),
            (false, "G", true, "dB", "G @ dB"),
        ]
    );
    let Member::Sde { state, terms, .. } = &model.members[2] else { panic!() };
    assert_eq!((state.name.as_str(), terms.len()), ("y", 1));
    assert!(matches!(&model.members[3], Member::Ode { .. }));
    let printed = crate::syntax::print::print_module(&m);
    assert!(printed.contains("model s stratonovich"), "{printed}");
    assert!(printed.contains("dx = (* (neg theta) x) dt - sigma dW + G @ dB"), "{printed}");
    assert!(printed.contains("noise B: [3]"), "{printed}");
}

#[test]
fn stochastic_equation_errors_explain_the_term_form() {
    let (code, _, _, message) = error("model a {\n  dx = f dt + g\n}");
    assert_eq!(code, codes::SYNTAX);
    assert!(message.contains("expected"), "{message}");
    let d = crate::syntax::parse("model a {\n  dx = f dt + g\n}", F).unwrap_err();
    assert!(d.hints.iter().any(|h| h.contains("`f dt`, `g dW`, `G @ dW` or `F @ dX`")), "{:?}", d.hints);
    // A sum as a coefficient needs parentheses.
    let d = crate::syntax::parse("model a {\n  dx = a + b dt\n}", F).unwrap_err();
    assert!(d.hints.iter().any(|h| h.contains("(a + b) dt")), "{:?}", d.hints);
}
