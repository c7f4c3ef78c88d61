//! The standard library sources, embedded in the compiler.
