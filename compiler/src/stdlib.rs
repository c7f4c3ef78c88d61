//! The standard library: `.nde` sources under `stdlib/std/`, embedded in the
//! compiler with `include_str!`, and the intrinsics each module exports.
//!
//! A stdlib module is ordinary `.nde` text (its `fn`s and `const`s are
//! checked like a user file's) plus a list of *intrinsics*: names the
//! compiler implements itself because the language cannot express them yet
//! (the layer constructors `mlp` and `linear`, which create parameters).
//! This module is data only; `sema` resolves `use std.*` against it and
//! never reads the file system for the stdlib.

/// One module of the standard library, e.g. `std.nn`.
#[derive(Debug)]
pub struct StdModule {
    /// The dotted path used in `use`, e.g. `std.nn`.
    pub path: &'static str,
    /// The name its source gets in the source map (shown in diagnostics).
    pub file_name: &'static str,
    pub source: &'static str,
    /// Names the module exports that the compiler implements itself.
    pub intrinsics: &'static [&'static str],
}

/// Every stdlib module.
pub const MODULES: &[StdModule] = &[
    StdModule {
        path: "std.nn",
        file_name: "<stdlib>/std/nn.nde",
        source: include_str!("../../stdlib/std/nn.nde"),
        intrinsics: &["mlp", "linear"],
    },
    StdModule {
        path: "std.sde",
        file_name: "<stdlib>/std/sde.nde",
        source: include_str!("../../stdlib/std/sde.nde"),
        intrinsics: &[],
    },
];

/// The stdlib module with this dotted path.
pub fn module(path: &str) -> Option<&'static StdModule> {
    MODULES.iter().find(|m| m.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_are_found_by_path() {
        let nn = module("std.nn").expect("std.nn exists");
        assert!(nn.intrinsics.contains(&"mlp"));
        assert!(nn.source.contains("fn swish"));
        assert!(module("std.nope").is_none());
    }
}
