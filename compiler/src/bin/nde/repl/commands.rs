//! The REPL's `:commands` that inspect and manage the session: `:load`,
//! `:reload`, `:type`, `:simplify`, `:grad`, `:ir`, `:save`, `:list`,
//! `:help`, `:quit`; the dispatch to `:solve`, `:train` and `:plot`
//! ([`super::solve`]).
//!
//! Each command prints its result to stdout and returns a [`ReplError`]
//! without touching the session when it fails.

use std::path::Path;

use nde_compiler::autodiff;
use nde_compiler::driver;
use nde_compiler::ir::infix::{print_infix, InfixNames};
use nde_compiler::ir::print::{print_data, print_function, print_loss, print_model, print_train};
use nde_compiler::simplify::{simplify, SimplifyOptions};

use super::session::Vars;
use super::{print, solve, Flow, Repl, ReplError};

const HELP: &str = "\
Enter a definition (const, fn, model, solver, data, loss, train, use) to add it to the session;
a later definition of a name replaces the earlier one, and what depends on it is checked again.
Enter an expression to evaluate it: `A @ [1, 2]` prints its shape and value.
Input continues on the next line until brackets balance.

  :load FILE              add a file's definitions (relative paths then start from its folder)
  :reload                 read the last loaded file again
  :type EXPR              the shape of an expression
  :simplify EXPR          the expression simplified (free names are scalar variables)
  :grad EXPR wrt X[: S]   the derivative by the free variable X (of shape S, default scalar)
  :ir NAME                the tensor IR of a model, loss, data set or constant
  :solve MODEL [t1=10 t0=0 saves=101 at=0:10:11 solver=NAME rtol= atol= dt= max_steps=]
                          solve an ODE model; prints the final state, NFE and steps
  :train [LOSS] [STEPS]   run a train block (Ctrl-C stops it; the parameters so far are kept)
  :plot [NAMES] [FILE]    plot the last solution (FILE.svg or FILE.png saves it); `:plot loss` the training loss
  :save FILE              write the session's definitions as a .nde file
  :list                   the session's definitions
  :help                   this text
  :quit                   leave (also Ctrl-D)

Keys: Tab completes names, commands and file paths; Up/Down and Ctrl-R search the history;
Ctrl-C clears the line (or stops training).";

/// Runs `:command args` (the text after the colon).
pub fn run(r: &mut Repl, command: &str) -> Result<Flow, ReplError> {
    let (name, rest) = match command.find(char::is_whitespace) {
        Some(i) => (&command[..i], command[i..].trim()),
        None => (command, ""),
    };
    match name {
        "load" | "l" => load(r, Path::new(required(rest, ":load FILE")?))?,
        "reload" | "r" => {
            let path = r.session.loaded().map(Path::to_path_buf);
            let path = path.ok_or_else(|| ReplError::Usage("nothing to reload: no file was loaded".into()))?;
            load(r, &path)?
        }
        "type" | "t" => type_of(r, required(rest, ":type EXPR")?)?,
        "simplify" => simplify_expr(r, required(rest, ":simplify EXPR")?)?,
        "grad" => grad(r, required(rest, ":grad EXPR wrt NAME")?)?,
        "ir" => ir(r, required(rest, ":ir NAME")?)?,
        "solve" | "s" => solve::solve(r, required(rest, ":solve MODEL t1=10")?)?,
        "train" => solve::train(r, rest)?,
        "plot" | "p" => solve::plot(r, rest)?,
        "save" => save(r, required(rest, ":save FILE")?)?,
        "list" => list(r),
        "help" | "h" | "?" => println!("{HELP}"),
        "quit" | "q" | "exit" => return Ok(Flow::Quit),
        _ => {
            let hint = nde_compiler::sema::closest(&format!(":{name}"), super::editor::COMMANDS.iter().copied())
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            return Err(ReplError::Usage(format!("unknown command `:{name}`{hint} (:help lists them)")));
        }
    }
    Ok(Flow::Continue)
}

fn required<'a>(rest: &'a str, usage: &str) -> Result<&'a str, ReplError> {
    if rest.is_empty() {
        Err(ReplError::Usage(format!("usage: {usage}")))
    } else {
        Ok(rest)
    }
}

/// `:load FILE` (and `nde repl FILE`).
pub fn load(r: &mut Repl, path: &Path) -> Result<(), ReplError> {
    let defined = r.session.load(path)?;
    println!("loaded {} ({} definitions)", path.display(), defined.items.len());
    let quiet = super::session::Defined { items: Vec::new(), ..defined };
    r.after_change(&quiet);
    Ok(())
}

fn type_of(r: &mut Repl, expr: &str) -> Result<(), ReplError> {
    let origin = r.session.entry(expr);
    let model = r.session.expression(&origin, &Vars::default())?;
    println!("{} f64", model.rhs.shape(model.rhs.outputs[0]));
    Ok(())
}

/// Free names of `expr` as scalar parameters.
fn scalar_vars(r: &Repl, origin: &std::rc::Rc<super::session::Origin>) -> Result<Vars, ReplError> {
    let names = r.session.free_names(origin)?;
    Ok(Vars { params: names.into_iter().map(|n| (n, "[]".to_string())).collect(), state: None })
}

fn simplify_expr(r: &mut Repl, expr: &str) -> Result<(), ReplError> {
    let origin = r.session.entry(expr);
    let vars = scalar_vars(r, &origin)?;
    let model = r.session.expression(&origin, &vars)?;
    let (g, _) = simplify(&model.rhs, &SimplifyOptions::default());
    let names = InfixNames { params: model.params.clone(), ..InfixNames::default() };
    print!("{}", print_infix(&g, &names));
    Ok(())
}

/// `:grad EXPR wrt X[: [dims]]`: `∂EXPR/∂X`, built by the same Jacobian
/// pass as the models' kernels and simplified like them.
fn grad(r: &mut Repl, args: &str) -> Result<(), ReplError> {
    let usage = || ReplError::Usage("usage: :grad EXPR wrt NAME (or wrt NAME: [n] for a vector)".into());
    let at = args.rfind(" wrt ").ok_or_else(usage)?;
    let (expr, wrt) = (args[..at].trim(), args[at + 5..].trim());
    let (name, shape) = match wrt.split_once(':') {
        Some((n, s)) => (n.trim(), s.trim().to_string()),
        None => (wrt, "[]".to_string()),
    };
    if name.is_empty() || expr.is_empty() {
        return Err(usage());
    }
    let origin = r.session.entry(expr);
    let mut vars = scalar_vars(r, &origin)?;
    let Some(i) = vars.params.iter().position(|(n, _)| n == name) else {
        let why = if r.session.names().iter().any(|n| n == name) {
            format!("`{name}` is defined in the session; :grad differentiates by a free variable of the expression")
        } else {
            format!("the expression does not use `{name}`")
        };
        return Err(ReplError::Usage(why));
    };
    vars.params.remove(i);
    vars.state = Some((name.to_string(), shape));
    let model = r.session.expression(&origin, &vars)?;
    let jac = driver::prepare(autodiff::jacobian(&model.rhs));
    let (m, n) = (model.rhs.output_len(), model.n_state());
    let mut labels = Vec::new();
    if jac.outputs.len() > 1 {
        let mut at = 0;
        for &o in &jac.outputs {
            let len = jac.shape(o).len();
            labels.push(if len == 1 { format!("J[{at}]") } else { format!("J[{at}:{}]", at + len) });
            at += len;
        }
        println!("// J = ∂({expr})/∂{name}: [{m}, {n}] row-major, flat");
    }
    let names = InfixNames { states: model.states.clone(), params: model.params.clone(), outputs: labels };
    print!("{}", print_infix(&jac, &names));
    Ok(())
}

fn ir(r: &mut Repl, name: &str) -> Result<(), ReplError> {
    let program = r.session.program();
    if let Some(m) = program.model(name) {
        print!("{}", print_model(m));
    } else if let Some(l) = program.loss(name) {
        println!("{}", print_loss(l).trim_end());
        for t in program.trains.iter().filter(|t| t.loss == name) {
            println!("{}", print_train(t).trim_end());
        }
    } else if let Some(d) = program.data_set(name) {
        println!("{}", print_data(d).trim_end());
    } else if r.session.items().iter().any(|i| i.kind == "const" && i.name == name) {
        let origin = r.session.entry(name);
        let mut model = r.session.expression(&origin, &Vars::default())?;
        model.rhs.name = format!("const {name}");
        print!("{}", print_function(&model.rhs));
    } else {
        let known: Vec<&str> = r
            .session
            .items()
            .iter()
            .filter(|i| matches!(i.kind, "model" | "loss" | "data" | "const"))
            .map(|i| i.name.as_str())
            .collect();
        let known = if known.is_empty() { "none yet".to_string() } else { known.join(", ") };
        return Err(ReplError::Usage(format!(
            "no model, loss, data set or constant named `{name}` (the session has: {known})"
        )));
    }
    Ok(())
}

fn save(r: &mut Repl, file: &str) -> Result<(), ReplError> {
    let path = Path::new(file);
    let text = r.session.source();
    nde_runtime::io::write_atomic(path, |f| std::io::Write::write_all(f, text.as_bytes()))
        .map_err(|e| ReplError::File(e.to_string()))?;
    println!("saved {} definitions to {}", r.session.items().len(), path.display());
    Ok(())
}

fn list(r: &Repl) {
    let rows: Vec<Vec<String>> = r.session.items().iter().map(|i| vec![i.kind.to_string(), i.name.clone()]).collect();
    if rows.is_empty() {
        println!("the session is empty");
    } else {
        print!("{}", print::table(&rows, &[0, 1]));
    }
}
