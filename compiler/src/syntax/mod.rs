//! Parsing: text -> AST. Owns the pest parser; no pest type leaves this module.
pub mod ast;
