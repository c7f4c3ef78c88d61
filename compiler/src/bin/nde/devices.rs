//! `nde devices`: the GPU adapters `nde run --device gpu` can use.

use nde_compiler::driver::gpu::{self, GpuError};

use crate::{exit, fail};

/// Prints one line per adapter: index, name, backend, kind, f64 support.
pub fn devices() -> u8 {
    match gpu::devices() {
        Ok(list) if list.is_empty() => {
            println!("no GPU adapters found (on Linux: a Vulkan driver, e.g. `apt-get install mesa-vulkan-drivers`)");
            0
        }
        Ok(list) => {
            for d in list {
                let f64 = if d.f64 { "f32 f64" } else { "f32" };
                let soft = if d.software { "  (software: --device auto skips it)" } else { "" };
                println!(
                    "{}: {}  [{}, {}]  precision {f64}  driver {}{soft}",
                    d.index, d.name, d.backend, d.kind, d.driver
                );
            }
            0
        }
        Err(e @ GpuError::NotBuilt) => fail(exit::USAGE, e),
        Err(e) => fail(exit::SOLVE_FAILED, e),
    }
}
