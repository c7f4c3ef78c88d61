//! `nde simplify 'EXPR'`: simplify an expression given on the command line
//! and print it as readable maths.
//!
//! The expression goes through the normal front end: it is wrapped in a
//! synthetic model in which each free name is a parameter (a scalar unless
//! `--shape NAME=[m, n]` says otherwise), checked and lowered; its IR is
//! simplified and printed with the infix printer. Errors are rendered like
//! any compiler diagnostic, against the wrapped source.

use std::collections::HashMap;

use nde_compiler::driver::frontend::{check, FsLoader};
use nde_compiler::ir::infix::{print_infix, InfixNames};
use nde_compiler::lower::lower_model;
use nde_compiler::simplify::{simplify as run_simplify, SimplifyOptions, StopReason};
use nde_compiler::span::SourceMap;
use nde_compiler::syntax::{self, ast};

use crate::{exit, fail, render};

#[derive(clap::Args)]
pub struct SimplifyArgs {
    /// The expression, e.g. 'x * 1 + -(-y)'. Free names are variables.
    #[arg(allow_hyphen_values = true)]
    pub expr: String,
    /// List the rewrites that lead from the expression to the result.
    #[arg(long)]
    pub explain: bool,
    /// Also use rewrites that may change results (reassociation, factoring, 0*x = 0, ...).
    #[arg(long)]
    pub fast_math: bool,
    /// The shape of a variable (default: scalar), e.g. --shape 'W=[2, 3]'. Repeatable.
    #[arg(long = "shape", value_name = "NAME=[DIMS]")]
    pub shapes: Vec<String>,
}

/// Names the synthetic model uses (not valid as user variables: they start with `__`).
const STATE: &str = "__nde_state";
const VALUE: &str = "__nde_value";

pub fn simplify(args: &SimplifyArgs) -> u8 {
    let mut shapes = HashMap::new();
    for s in &args.shapes {
        match parse_shape_arg(s) {
            Ok((name, dims)) => {
                shapes.insert(name, dims);
            }
            Err(e) => return fail(exit::USAGE, e),
        }
    }
    // First pass: parse the bare wrapper to find the expression's free names.
    let mut sources = SourceMap::new();
    let bare = source(&args.expr, &[], &shapes);
    let file = sources.add("expression", bare.clone());
    let module = match syntax::parse(&bare, file) {
        Ok(m) => m,
        Err(d) => {
            emit_in_expression(&args.expr, &bare, vec![d]);
            return exit::MODEL_ERRORS;
        }
    };
    let names = free_names(&module);
    for name in shapes.keys() {
        if !names.contains(name) {
            return fail(exit::USAGE, format!("--shape names `{name}`, which the expression does not use"));
        }
    }
    let text = source(&args.expr, &names, &shapes);
    let mut sources = SourceMap::new();
    let root = sources.add("expression", text.clone());
    let program = match check(&mut sources, root, &FsLoader) {
        Ok(p) => p,
        Err(diags) => {
            emit_in_expression(&args.expr, &text, diags.0);
            return exit::MODEL_ERRORS;
        }
    };
    let Some(mut model) = program.models.into_iter().next() else {
        return fail(exit::MODEL_ERRORS, "internal error: the expression's model did not check");
    };
    let Some(value) = model.lets.last().cloned() else {
        return fail(exit::MODEL_ERRORS, "internal error: the expression's value is missing");
    };
    model.states.clear();
    model.rhs = vec![value];
    let ir = lower_model(&model, 0);
    let opts = SimplifyOptions { fast_math: args.fast_math, explain: args.explain, ..SimplifyOptions::default() };
    let (g, report) = run_simplify(&ir.rhs, &opts);
    let infix_names = InfixNames { params: ir.params.clone(), ..InfixNames::default() };
    let show = |f: &nde_compiler::ir::Function| print_infix(f, &infix_names).trim_end().replace('\n', "; ");
    if args.explain {
        println!("   {}", show(&ir.rhs));
        for step in &report.steps {
            let dir = if step.backward { " (backwards)" } else { "" };
            println!("=  {}    [{}{dir}]", show(&step.result), step.rule);
        }
        let stop = match &report.stop_reason {
            StopReason::Saturated => "saturated".to_string(),
            StopReason::IterationLimit => "iteration limit".to_string(),
            StopReason::NodeLimit => "node limit".to_string(),
            StopReason::NotRun => "not run".to_string(),
            StopReason::Other(s) => s.clone(),
        };
        println!(
            "flops {} -> {}, nodes {} -> {}; {} iterations ({stop}), e-graph of {} nodes",
            report.flops_before,
            report.flops_after,
            report.nodes_before,
            report.nodes_after,
            report.iterations,
            report.egraph_nodes
        );
    }
    print!("{}", print_infix(&g, &infix_names));
    0
}

/// Renders diagnostics found in the synthetic model `wrapper` against the
/// user's own `expr`: spans are moved to the expression's text (a place in
/// the wrapper after the expression, such as its closing brace, becomes the
/// expression's end), so the user never sees the wrapper.
fn emit_in_expression(expr: &str, wrapper: &str, mut diags: Vec<nde_compiler::diag::Diagnostic>) {
    let start = wrapper.rfind(expr).unwrap_or(0) as u32;
    let mut sources = SourceMap::new();
    let file = sources.add("<expression>", expr.to_string());
    let end = expr.len() as u32;
    let shift = |span: &mut nde_compiler::span::Span| {
        span.file = file;
        span.start = span.start.saturating_sub(start).min(end);
        span.end = span.end.saturating_sub(start).min(end).max(span.start);
    };
    for d in &mut diags {
        shift(&mut d.primary.span);
        d.secondary.iter_mut().for_each(|l| shift(&mut l.span));
    }
    render::emit(&sources, &diags);
}

/// The synthetic model around `expr`: `names` as parameters with their shapes.
fn source(expr: &str, names: &[String], shapes: &HashMap<String, Vec<usize>>) -> String {
    let mut text = String::from("model expression {\n");
    for name in names {
        let dims = shapes.get(name).map(|d| d.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", "));
        match dims {
            Some(d) => text.push_str(&format!("  param {name}: [{d}] = 0\n")),
            None => text.push_str(&format!("  param {name} = 0\n")),
        }
    }
    text.push_str(&format!("  state {STATE} = 0\n  d{STATE}/dt = 0\n  let {VALUE} =\n"));
    text.push_str(expr);
    text.push_str("\n}\n");
    text
}

/// `NAME=[2, 3]` (also `NAME=[]`, `NAME=[4]`).
fn parse_shape_arg(s: &str) -> Result<(String, Vec<usize>), String> {
    let bad = || format!("--shape expects NAME=[DIMS], e.g. 'W=[2, 3]', found `{s}`");
    let (name, dims) = s.split_once('=').ok_or_else(bad)?;
    let name = name.trim();
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(bad());
    }
    let inner = dims.trim().strip_prefix('[').and_then(|d| d.strip_suffix(']')).ok_or_else(bad)?;
    let dims: Result<Vec<usize>, _> =
        inner.split(',').map(str::trim).filter(|d| !d.is_empty()).map(|d| d.parse::<usize>()).collect();
    let dims = dims.map_err(|_| bad())?;
    if dims.len() > 2 || dims.contains(&0) {
        return Err(format!("--shape `{s}`: shapes have at most two dimensions, each at least 1"));
    }
    Ok((name.to_string(), dims))
}

/// The names the expression reads, in order of first use (not `t`, not
/// called names).
fn free_names(module: &ast::Module) -> Vec<String> {
    let mut names = Vec::new();
    for item in &module.items {
        if let ast::Item::Model(m) = item {
            for member in &m.members {
                if let ast::Member::Let { name, value, .. } = member {
                    if name.name == VALUE {
                        collect(value, &mut names);
                    }
                }
            }
        }
    }
    names
}

/// Adds the names `e` reads to `names` (in order of first use; not `t`, not called names).
pub(crate) fn collect(e: &ast::Expr, names: &mut Vec<String>) {
    use ast::ExprKind as K;
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match &e.kind {
            K::Name(n) => {
                if n != "t" && !names.contains(n) {
                    names.push(n.clone());
                }
            }
            K::Number(_) | K::Str(_) => {}
            K::Unary(_, a) | K::Transpose(a) => stack.push(a),
            K::Binary(_, a, b) => {
                stack.push(b);
                stack.push(a);
            }
            K::Call { callee, args } => {
                for a in args.iter().rev() {
                    stack.push(&a.value);
                }
                if !matches!(callee.kind, K::Name(_)) {
                    stack.push(callee);
                }
            }
            K::Index { base, indices } => {
                for i in indices.iter().rev() {
                    match i {
                        ast::IndexArg::Single(x) => stack.push(x),
                        ast::IndexArg::Slice { start, stop, .. } => {
                            stack.extend(stop.iter());
                            stack.extend(start.iter());
                        }
                    }
                }
                stack.push(base);
            }
            K::Field { base, .. } => stack.push(base),
            K::Array(items) | K::Arrow(items) => stack.extend(items.iter().rev()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_arguments() {
        assert_eq!(parse_shape_arg("W=[2, 3]"), Ok(("W".to_string(), vec![2, 3])));
        assert_eq!(parse_shape_arg("x=[]"), Ok(("x".to_string(), vec![])));
        assert!(parse_shape_arg("W=2,3").is_err());
        assert!(parse_shape_arg("=[2]").is_err());
        assert!(parse_shape_arg("W=[1,2,3]").is_err());
        assert!(parse_shape_arg("W=[0]").is_err());
    }
}
