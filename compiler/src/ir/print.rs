//! The IR's text form (`nde emit ir`): one node per line, deterministic.
//!
//! Owns the printed syntax of [`Function`], [`ModelIr`] and a whole
//! [`ProgramIr`] (models, then solvers, data sets, losses with their
//! functions, and `train` blocks, the non-function parts as `//` lines):
//!
//! ```text
//! fn rhs(t, y[2], p[4354]) -> [2] {
//!   %0: [2] = input y[0..2]
//!   %1: [64, 2] = input p[0..128]
//!   %2: [64] = matmul %1, %0
//!   %3: [64] = tanh %2
//!   out %3
//! }
//! ```
//!
//! Constants print their values inline (shortest round-trip form) up to
//! [`INLINE_CONST`] elements, and only the first few beyond that. Output is
//! snapshot-tested, so it must not depend on hashing, addresses or the host.
//!
//! Never: parse the text back (it is for people and snapshots), or print
//! anything but the IR itself.

use super::training::{BatchSpec, DataSource, DataSpec, InitialState, LossIr, LossStat, TrainSpec};
use super::{BinaryOp, Function, InputBuf, ModelIr, NoiseShape, Op, ProgramIr, Shape, Slot, SolverSpec, UnaryOp};
use std::fmt::{self, Write};

/// Constants with at most this many elements print every value.
pub const INLINE_CONST: usize = 8;
/// Larger constants print this many leading values and the count.
const ABBREV_CONST: usize = 4;

/// The text form of a function.
pub fn print_function(f: &Function) -> String {
    f.to_string()
}

/// The text form of a model: layout (for a CDE, an `input` line with the
/// path's channels and where `rhs` reads them), then the `rhs` and `init`
/// functions, then for an SDE a `diffusion` line (noise shape, calculus, additive) and
/// the diffusion function `g`.
pub fn print_model(m: &ModelIr) -> String {
    m.to_string()
}

/// The text form of a program: every model, then the solvers, data sets,
/// losses (a summary line, the input layout, the function) and `train`
/// blocks, separated by blank lines.
pub fn print_program(p: &ProgramIr) -> String {
    let mut out = String::new();
    for m in &p.models {
        out += &print_model(m);
        out += "\n";
    }
    let lines = |items: Vec<String>| items.into_iter().map(|l| l + "\n").collect::<String>();
    let mut sections = vec![
        lines(p.solvers.iter().map(|s| format!("solver {} = {}", s.name, solver_call(s))).collect()),
        lines(p.data.iter().map(print_data).collect()),
    ];
    sections.extend(p.losses.iter().map(print_loss));
    sections.push(lines(p.trains.iter().map(print_train).collect()));
    sections.retain(|s| !s.is_empty());
    out += &sections.join("\n");
    out
}

/// `method(option = value, ...)`.
fn solver_call(s: &SolverSpec) -> String {
    format!("{}({})", s.method, options(&s.options))
}

fn options(list: &[(String, f64)]) -> String {
    list.iter().map(|(k, v)| format!("{k} = {}", number(*v))).collect::<Vec<_>>().join(", ")
}

/// A whole number without a fraction (`1000`), anything else in Rust's
/// shortest round-trip form (`1e-7`, `0.01`).
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:?}")
    }
}

/// `name` or `name(options)`.
fn choice(name: &str, list: &[(String, f64)]) -> String {
    if list.is_empty() {
        name.to_string()
    } else {
        format!("{name}({})", options(list))
    }
}

/// One `//` line describing a data set.
pub fn print_data(d: &DataSpec) -> String {
    match &d.source {
        DataSource::Generate { model, times, solver, paths } => {
            let mut at = String::new();
            let _ = write_values(&mut at, times);
            let drawn = if *paths > 1 { format!(", paths = {paths}") } else { String::new() };
            format!(
                "// data {} = generate({model}, at = {at}, with = {}{drawn}): {} times",
                d.name,
                solver_call(solver),
                times.len()
            )
        }
        DataSource::Loaded { path, series } => {
            let missing = series.y.iter().filter(|v| v.is_nan()).count();
            let fields: Vec<String> = series
                .fields
                .iter()
                .map(|f| match f.width {
                    None => f.name.clone(),
                    Some(k) => format!("{} [{k}]", f.name),
                })
                .collect();
            let fields =
                if fields.is_empty() { String::new() } else { format!(", per trajectory {}", fields.join(", ")) };
            format!(
                "// data {} = load({:?}): {} times from {:?} to {:?}, columns {}, {} trajector{}, {missing} missing value{}{fields}",
                d.name,
                path.display().to_string(),
                series.t.len(),
                series.t.first().copied().unwrap_or(f64::NAN),
                series.t.last().copied().unwrap_or(f64::NAN),
                series.columns.join(", "),
                series.n_traj,
                if series.n_traj == 1 { "y" } else { "ies" },
                if missing == 1 { "" } else { "s" },
            )
        }
    }
}

/// A loss: what it solves, its input layout, then its function.
pub fn print_loss(l: &LossIr) -> String {
    let y = &l.layout;
    let (t, n, m) = (y.n_times, y.n_state, y.n_obs);
    let stats: Vec<&str> = l.stats_used.iter().map(|s| s.name()).collect();
    let sampling = match l.sampling {
        super::training::Sampling::Unbiased => "unbiased",
        super::training::Sampling::Biased => "biased",
    };
    let mut out = format!(
        "// loss {}: solve({}, at = {}.t, with = {} [{}]), sampling = {sampling}, reads {}\n",
        l.name,
        l.model,
        l.data,
        l.solver.name,
        solver_call(&l.solver),
        if stats.is_empty() { "no statistics".to_string() } else { stats.join(", ") },
    );
    let block = |at: usize, len: usize| format!("y[{at}..{}]", at + len);
    let sol = match y.paths {
        1 => format!("sol.y {} [{t}, {n}]", block(y.sol_y(), t * n)),
        p => format!("sol paths {} [{p}, {}]", block(y.sol_y(), p * t * n), t * n),
    };
    let data_stats = if y.data_stats {
        format!(
            ", {}.mean {}, {}.var {}, their mask {}",
            l.data,
            block(y.data_mean(), t * m),
            l.data,
            block(y.data_var(), t * m),
            block(y.data_stat_mask(), t * m)
        )
    } else {
        String::new()
    };
    let _ = write!(
        out,
        "// inputs: {sol}, {}.y {} [{t}, {m}], mask {}, times {}, stats {} ({})",
        l.data,
        block(y.obs_y(), t * m),
        block(y.obs_mask(), t * m),
        block(y.times(), t),
        block(y.stat(LossStat::ALL[0]), LossStat::ALL.len()),
        LossStat::ALL.iter().map(|s| s.name()).collect::<Vec<_>>().join(", "),
    );
    out += &data_stats;
    if y.n_field > 0 {
        let _ = write!(out, ", fields {}", block(y.fields(), y.n_field));
    }
    out.push('\n');
    out += &l.function.to_string();
    out
}

/// One `//` line describing a `train` block.
pub fn print_train(t: &TrainSpec) -> String {
    let batch = match t.batch {
        BatchSpec::Full => "full".to_string(),
        BatchSpec::Windows { length, count } => format!("windows(length = {length}, count = {count})"),
        BatchSpec::Trajectories { count } => format!("trajectories(count = {count})"),
    };
    let initial = match t.initial {
        InitialState::Model => "model",
        InitialState::Data => "data",
    };
    let gradient = match t.adjoint_checkpoints {
        Some(n) => format!("{}(checkpoints = {n})", t.gradient),
        None => t.gradient.clone(),
    };
    let mut line = format!(
        "// train {}: optimizer = {}, schedule = {}, steps = {}, batch = {batch}, initial = {initial}, gradient = {gradient}, seed = {}",
        t.loss,
        choice(&t.optimizer.rule, &t.optimizer.options),
        choice(&t.schedule.kind, &t.schedule.options),
        t.steps,
        t.seed,
    );
    if let Some(c) = t.clip {
        let _ = write!(line, ", clip = {}", number(c));
    }
    if let Some(path) = &t.checkpoint {
        let _ = write!(line, ", checkpoint = {:?} every {} steps", path.display().to_string(), t.checkpoint_every);
    }
    line
}

/// The op's mnemonic.
pub fn unary_name(op: UnaryOp) -> &'static str {
    match op {
        UnaryOp::Neg => "neg",
        UnaryOp::Exp => "exp",
        UnaryOp::Log => "log",
        UnaryOp::Sin => "sin",
        UnaryOp::Cos => "cos",
        UnaryOp::Tan => "tan",
        UnaryOp::Tanh => "tanh",
        UnaryOp::Sqrt => "sqrt",
        UnaryOp::Abs => "abs",
        UnaryOp::Relu => "relu",
        UnaryOp::Sigmoid => "sigmoid",
        UnaryOp::Softplus => "softplus",
        UnaryOp::Gelu => "gelu",
        UnaryOp::Elu => "elu",
        UnaryOp::Powi(_) => "powi",
        UnaryOp::Step => "step",
    }
}

/// The op's mnemonic.
pub fn binary_name(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "add",
        BinaryOp::Sub => "sub",
        BinaryOp::Mul => "mul",
        BinaryOp::Div => "div",
        BinaryOp::Pow => "pow",
        BinaryOp::Min => "min",
        BinaryOp::Max => "max",
    }
}

fn write_values(out: &mut impl Write, v: &[f64]) -> fmt::Result {
    if v.len() == 1 {
        return write!(out, "{:?}", v[0]);
    }
    let shown = if v.len() <= INLINE_CONST { v.len() } else { ABBREV_CONST };
    write!(out, "[")?;
    for (i, x) in v[..shown].iter().enumerate() {
        if i > 0 {
            write!(out, ", ")?;
        }
        write!(out, "{x:?}")?;
    }
    if shown < v.len() {
        write!(out, ", … ({} values)", v.len())?;
    }
    write!(out, "]")
}

fn write_op(out: &mut impl Write, op: &Op, shape: Shape) -> fmt::Result {
    let len = shape.len();
    match op {
        Op::Input { buf, offset } => match buf {
            InputBuf::Time => write!(out, "input t"),
            InputBuf::State => write!(out, "input y[{offset}..{}]", *offset as usize + len),
            InputBuf::Param => write!(out, "input p[{offset}..{}]", *offset as usize + len),
        },
        Op::Const(v) => {
            write!(out, "const ")?;
            write_values(out, v)
        }
        Op::Unary(UnaryOp::Powi(n), a) => write!(out, "powi %{}, {n}", a.0),
        Op::Unary(u, a) => write!(out, "{} %{}", unary_name(*u), a.0),
        Op::Binary(b, x, y) => write!(out, "{} %{}, %{}", binary_name(*b), x.0, y.0),
        Op::Broadcast(a) => write!(out, "broadcast %{}", a.0),
        Op::MatMul(a, b) => write!(out, "matmul %{}, %{}", a.0, b.0),
        Op::Transpose(a) => write!(out, "transpose %{}", a.0),
        Op::Sum(a) => write!(out, "sum %{}", a.0),
        Op::Slice { arg, axis, start } => {
            let n = shape.dims().get(*axis as usize).copied().unwrap_or(0);
            write!(out, "slice %{}, axis {axis}, {start}..{}", arg.0, start + n)
        }
        Op::Index { arg, axis, index } => write!(out, "index %{}, axis {axis}, {index}", arg.0),
        Op::Concat { args, axis } => {
            write!(out, "concat axis {axis}")?;
            for a in args {
                write!(out, ", %{}", a.0)?;
            }
            Ok(())
        }
        Op::Reshape(a) => write!(out, "reshape %{}", a.0),
    }
}

impl fmt::Display for Function {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(out, "fn {}(t, y[{}], p[{}]) -> [{}] {{", self.name, self.n_state, self.n_param, self.output_len())?;
        for (i, node) in self.nodes.iter().enumerate() {
            write!(out, "  %{i}: {} = ", node.shape)?;
            write_op(out, &node.op, node.shape)?;
            writeln!(out)?;
        }
        for o in &self.outputs {
            writeln!(out, "  out %{}", o.0)?;
        }
        writeln!(out, "}}")
    }
}

fn write_slot(out: &mut fmt::Formatter<'_>, kind: &str, s: &Slot) -> fmt::Result {
    writeln!(out, "{kind} {}: {} @ {}", s.name, s.shape, s.offset)
}

impl fmt::Display for ModelIr {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(out, "model {} (n_state = {}, n_param = {})", self.name, self.n_state(), self.n_param())?;
        for s in &self.states {
            write_slot(out, "state", s)?;
        }
        for s in &self.params {
            write_slot(out, "param", s)?;
        }
        if !self.param_values.is_empty() {
            write!(out, "param values ")?;
            write_values(out, &self.param_values)?;
            writeln!(out)?;
        }
        if let Some(c) = &self.control {
            let n = self.n_state();
            let (x, dx) = (n, n + c.channels);
            writeln!(
                out,
                "input {0} = {1}({2}, time = {3}, counts = {4}): {5} channels, {0}(t) @ y[{x}..{dx}], d{0}/dt @ y[{dx}..{6}]",
                c.name,
                c.interpolation_name(),
                c.data,
                c.time_channel,
                c.counts,
                c.channels,
                dx + c.channels
            )?;
        }
        writeln!(out)?;
        write!(out, "{}", self.rhs)?;
        writeln!(out)?;
        write!(out, "{}", self.init)?;
        if let Some(d) = &self.diffusion {
            let noise = match d.noise {
                NoiseShape::Diagonal => "diagonal".to_string(),
                NoiseShape::General { m } => format!("general [{m}]"),
            };
            let calculus = if d.stratonovich { "stratonovich" } else { "ito" };
            let additive = if d.additive { ", additive" } else { "" };
            writeln!(out)?;
            writeln!(out, "diffusion: {noise} noise, {calculus}{additive}")?;
            write!(out, "{}", d.function)?;
        }
        for o in &self.outputs {
            writeln!(out)?;
            writeln!(out, "output {}: {}", o.name, o.shape)?;
            write!(out, "{}", o.function)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Builder;
    use expect_test::expect;

    fn sample() -> Function {
        let mut b = Builder::new("rhs", 2, 198);
        let t = b.time();
        let y = b.state(0, Shape::vector(2));
        let w = b.param(0, Shape::matrix(64, 2));
        let bias = b.param(128, Shape::vector(64));
        let m = b.matmul(w, y);
        let s = b.binary(BinaryOp::Add, m, bias);
        let h = b.unary(UnaryOp::Tanh, s);
        let c = b.constant((0..64).map(|i| i as f64 * 0.5).collect(), Shape::vector(64));
        let h2 = b.binary(BinaryOp::Mul, h, c);
        let v = b.param(192, Shape::matrix(2, 3));
        let vt = b.transpose(v);
        let r = b.slice(vt, 0, 1, 2);
        let col = b.index(r, 1, 0);
        let tc = b.binary(BinaryOp::Mul, t, col);
        let sq = b.unary(UnaryOp::Powi(3), tc);
        let one = b.constant(vec![1.0, -2.5], Shape::vector(2));
        let cat = b.concat(vec![sq, one], 0);
        let tot = b.sum(h2);
        let out = b.binary(BinaryOp::Add, cat, tot);
        let out2 = b.reshape(out, Shape::matrix(2, 2));
        b.output(out2);
        b.output(tot);
        b.finish()
    }

    #[test]
    fn function_snapshot() {
        expect![[r#"
            fn rhs(t, y[2], p[198]) -> [5] {
              %0: [] = input t
              %1: [2] = input y[0..2]
              %2: [64, 2] = input p[0..128]
              %3: [64] = input p[128..192]
              %4: [64] = matmul %2, %1
              %5: [64] = add %4, %3
              %6: [64] = tanh %5
              %7: [64] = const [0.0, 0.5, 1.0, 1.5, … (64 values)]
              %8: [64] = mul %6, %7
              %9: [2, 3] = input p[192..198]
              %10: [3, 2] = transpose %9
              %11: [2, 2] = slice %10, axis 0, 1..3
              %12: [2] = index %11, axis 1, 0
              %13: [2] = broadcast %0
              %14: [2] = mul %13, %12
              %15: [2] = powi %14, 3
              %16: [2] = const [1.0, -2.5]
              %17: [4] = concat axis 0, %15, %16
              %18: [] = sum %8
              %19: [4] = broadcast %18
              %20: [4] = add %17, %19
              %21: [2, 2] = reshape %20
              out %21
              out %18
            }
        "#]]
        .assert_eq(&print_function(&sample()));
    }

    #[test]
    fn model_snapshot() {
        let mut b = Builder::new("init", 0, 1);
        let p = b.param(0, Shape::scalar());
        let two = b.scalar(2.0);
        let y0 = b.binary(BinaryOp::Mul, p, two);
        b.output(y0);
        let init = b.finish();
        let mut b = Builder::new("rhs", 1, 1);
        let y = b.state(0, Shape::scalar());
        let p = b.param(0, Shape::scalar());
        let d = b.binary(BinaryOp::Mul, p, y);
        let d = b.unary(UnaryOp::Neg, d);
        b.output(d);
        let rhs = b.finish();
        let m = ModelIr {
            name: "decay".into(),
            states: vec![Slot { name: "x".into(), shape: Shape::scalar(), offset: 0 }],
            params: vec![Slot { name: "k".into(), shape: Shape::scalar(), offset: 0 }],
            param_values: vec![0.5],
            rhs,
            init,
            diffusion: None,
            control: None,
            outputs: Vec::new(),
        };
        expect![[r#"
            model decay (n_state = 1, n_param = 1)
            state x: [] @ 0
            param k: [] @ 0
            param values 0.5

            fn rhs(t, y[1], p[1]) -> [1] {
              %0: [] = input y[0..1]
              %1: [] = input p[0..1]
              %2: [] = mul %1, %0
              %3: [] = neg %2
              out %3
            }

            fn init(t, y[0], p[1]) -> [1] {
              %0: [] = input p[0..1]
              %1: [] = const 2.0
              %2: [] = mul %0, %1
              out %2
            }
        "#]]
        .assert_eq(&print_model(&m));
    }
}
