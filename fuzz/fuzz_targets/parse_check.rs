//! Fuzz target: any bytes through parse + check + lower must give a program
//! or diagnostics, never a panic. Imports of files are refused (the fuzzer
//! must not read the disk); `use std...` imports work.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nde_compiler::driver::{check_source, FileLoader, FrontendOptions};
use nde_compiler::span::SourceMap;

struct NoFiles;

impl FileLoader for NoFiles {
    fn load(&self, _path: &std::path::Path) -> std::io::Result<String> {
        Err(std::io::Error::other("file imports are disabled while fuzzing"))
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut sources = SourceMap::new();
    let root = sources.add("fuzz.nde", text);
    let _ = check_source(sources, root, &NoFiles, &FrontendOptions::default());
});
