//! The names every file sees without an import (maths builtins, losses, the
//! data and solve constructors, param initialisers), the layer intrinsics
//! that `std.nn` exports, the solver methods and options, and the options of
//! `train` blocks. Tables only: checking their uses lives elsewhere.

use crate::ir::UnaryOp;

/// The most elements one tensor may have (16 Mi, 128 MiB of `f64`): larger
/// shapes are rejected (E0312, E0313, E0311) rather than exhausting memory.
pub const MAX_ELEMENTS: usize = 1 << 24;

/// How deeply fn calls may nest while being inlined (E0206 beyond).
/// Most distinct fn instances (fn, argument shapes, constant argument values)
/// one compilation may check before E0407.
pub const MAX_FN_INSTANCES: usize = 20_000;

pub const MAX_CALL_DEPTH: usize = 64;

/// A builtin function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// Elementwise unary maths or activation.
    Unary(UnaryOp),
    /// `pow(a, b)`, elementwise with scalar broadcasting.
    Pow,
    Min,
    Max,
    /// All elements to a scalar.
    Sum,
    Mean,
    /// Euclidean (Frobenius) norm.
    Norm,
    Transpose,
    /// Along axis 0; scalars count as length-1 vectors.
    Concat,
    /// `reshape(x, [m, n])`.
    Reshape,
    /// `linspace(start, stop, n)`: `n` evenly spaced constants, both ends included.
    Linspace,
    /// `mse(a, b) = mean((a - b)^2)`.
    Mse,
    /// `mae(a, b) = mean(abs(a - b))`.
    Mae,
    /// `huber(a, b[, delta])`: mean of the Huber terms of `a - b`.
    Huber,
    /// `cross_entropy(logits, target)`: mean over rows of `-Σ target · log_softmax(logits)`.
    CrossEntropy,
    /// `accuracy(logits, target)`: the fraction of rows whose argmaxes agree (zero gradient).
    Accuracy,
    /// `solve(model, at = DATA.t, with = solver)`: only in losses.
    Solve,
    /// `load("file")`: only as the source of a `data` declaration.
    Load,
    /// `generate(model, at = times, with = solver)`: only as the source of a `data` declaration.
    Generate,
}

const UNARY: &[(&str, UnaryOp)] = &[
    ("exp", UnaryOp::Exp),
    ("log", UnaryOp::Log),
    ("sin", UnaryOp::Sin),
    ("cos", UnaryOp::Cos),
    ("tan", UnaryOp::Tan),
    ("tanh", UnaryOp::Tanh),
    ("sqrt", UnaryOp::Sqrt),
    ("abs", UnaryOp::Abs),
    ("relu", UnaryOp::Relu),
    ("sigmoid", UnaryOp::Sigmoid),
    ("softplus", UnaryOp::Softplus),
    ("gelu", UnaryOp::Gelu),
    ("elu", UnaryOp::Elu),
];

const OTHER: &[(&str, Builtin)] = &[
    ("pow", Builtin::Pow),
    ("min", Builtin::Min),
    ("max", Builtin::Max),
    ("sum", Builtin::Sum),
    ("mean", Builtin::Mean),
    ("norm", Builtin::Norm),
    ("transpose", Builtin::Transpose),
    ("concat", Builtin::Concat),
    ("reshape", Builtin::Reshape),
    ("linspace", Builtin::Linspace),
    ("mse", Builtin::Mse),
    ("mae", Builtin::Mae),
    ("huber", Builtin::Huber),
    ("cross_entropy", Builtin::CrossEntropy),
    ("accuracy", Builtin::Accuracy),
    ("solve", Builtin::Solve),
    ("load", Builtin::Load),
    ("generate", Builtin::Generate),
];

/// The builtin called `name`.
pub fn builtin(name: &str) -> Option<Builtin> {
    UNARY
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, op)| Builtin::Unary(op))
        .or_else(|| OTHER.iter().find(|(n, _)| *n == name).map(|&(_, b)| b))
}

/// A parameter initialiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Initialiser {
    Zeros,
    Ones,
    Glorot,
    /// `normal(std)`.
    Normal,
}

/// The initialiser called `name`.
pub fn initialiser(name: &str) -> Option<Initialiser> {
    match name {
        "zeros" => Some(Initialiser::Zeros),
        "ones" => Some(Initialiser::Ones),
        "glorot" => Some(Initialiser::Glorot),
        "normal" => Some(Initialiser::Normal),
        _ => None,
    }
}

/// A layer constructor (an intrinsic exported by `std.nn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// `mlp(IN -> H1 -> ... -> OUT, act = f, out = g)`.
    Mlp,
    /// `linear(IN -> OUT, bias = true|false)`.
    Linear,
}

/// The layer intrinsic called `name`.
pub fn layer(name: &str) -> Option<Layer> {
    match name {
        "mlp" => Some(Layer::Mlp),
        "linear" => Some(Layer::Linear),
        _ => None,
    }
}

/// The name every builtin, initialiser and `t` is known by: names a file or
/// model may not define.
pub fn reserved_names() -> impl Iterator<Item = &'static str> {
    UNARY.iter().map(|(n, _)| *n).chain(OTHER.iter().map(|(n, _)| *n)).chain(["zeros", "ones", "glorot", "normal", "t"])
}

/// Why a name is reserved, for E0203 messages.
pub fn reserved_kind(name: &str) -> Option<&'static str> {
    if name == "t" {
        Some("the time variable")
    } else if initialiser(name).is_some() {
        Some("a parameter initialiser")
    } else if builtin(name).is_some() {
        Some("a builtin function")
    } else {
        None
    }
}

/// The solver methods a `solver` declaration may name.
pub const SOLVER_METHODS: &[&str] = &[
    "euler",
    "midpoint",
    "heun",
    "rk4",
    "bosh3",
    "dopri5",
    "tsit5",
    "rodas5",
    "kvaerno5",
    "bdf",
    "radau5",
    "auto",
    "euler_maruyama",
    "milstein",
    "sra1",
    "reversible_heun",
];

/// The methods of [`SOLVER_METHODS`] that solve SDEs (the rest solve ODEs).
pub const SDE_SOLVER_METHODS: &[&str] = &["euler_maruyama", "milstein", "sra1", "reversible_heun"];

/// The ODE methods of [`SOLVER_METHODS`] that use the model's Jacobian
/// (`auto` switches to one): no gradients go through them yet.
pub const STIFF_SOLVER_METHODS: &[&str] = &["rodas5", "kvaerno5", "bdf", "radau5", "auto"];

/// The options a `solver` declaration may set.
pub const SOLVER_OPTIONS: &[&str] = &["rtol", "atol", "dt", "max_steps"];

/// The options of a `train` block.
pub const TRAIN_OPTIONS: &[&str] = &[
    "optimizer",
    "schedule",
    "clip",
    "steps",
    "batch",
    "initial",
    "gradient",
    "seed",
    "checkpoint",
    "checkpoint_every",
];

/// The optimisers of `optimizer = NAME(options)` and the options each takes
/// (`lr`, then the fields of the runtime's `train::Rule`).
pub const OPTIMIZERS: &[(&str, &[&str])] = &[
    ("sgd", &["lr", "momentum", "dampening", "nesterov", "weight_decay"]),
    ("adam", &["lr", "beta1", "beta2", "eps", "weight_decay"]),
    ("adamw", &["lr", "beta1", "beta2", "eps", "weight_decay"]),
    ("rmsprop", &["lr", "alpha", "eps", "momentum", "centered", "weight_decay"]),
];

/// The schedules of `schedule = NAME(options)` and their options.
pub const SCHEDULES: &[(&str, &[&str])] =
    &[("constant", &[]), ("cosine", &["warmup", "end"]), ("step", &["every", "gamma"])];

/// The batches of `batch = NAME(options)` and their options.
pub const BATCHES: &[(&str, &[&str])] =
    &[("full", &[]), ("windows", &["length", "count"]), ("trajectories", &["count"])];

/// The gradient methods of `gradient = NAME(options)` and their options.
pub const GRADIENTS: &[(&str, &[&str])] =
    &[("discrete", &["checkpoints"]), ("backsolve", &[]), ("interpolated", &[]), ("reversible", &[])];

/// Edit distance with adjacent transpositions (optimal string alignment),
/// for "did you mean" suggestions: `sigam` is one edit from `sigma`.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // d[i][j]: distance between a[..i] and b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The closest candidate within a small edit distance (ties: first wins).
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        if c == name {
            continue;
        }
        let d = edit_distance(name, c);
        let better = match best {
            Some((bd, _)) => d < bd,
            None => true,
        };
        if d <= limit && better {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(builtin("tanh"), Some(Builtin::Unary(UnaryOp::Tanh)));
        assert_eq!(builtin("concat"), Some(Builtin::Concat));
        assert_eq!(builtin("mlp"), None);
        assert_eq!(initialiser("glorot"), Some(Initialiser::Glorot));
        assert_eq!(layer("linear"), Some(Layer::Linear));
        assert_eq!(reserved_kind("t"), Some("the time variable"));
        assert_eq!(reserved_kind("sigma"), None);
        assert!(reserved_names().any(|n| n == "norm"));
    }

    #[test]
    fn suggestions() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("sigam", "sigma"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(closest("sigam", ["sigma", "rho", "beta"]), Some("sigma"));
        assert_eq!(closest("dopri", ["dopri5", "dopri8"]), Some("dopri5"), "ties go to the first");
        assert_eq!(closest("dopri", SOLVER_METHODS.iter().copied()), Some("dopri5"));
        assert_eq!(closest("zzz", ["sigma", "rho"]), None);
        assert_eq!(closest("x", ["x", "y"]), Some("y"));
    }
}
