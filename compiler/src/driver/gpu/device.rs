//! Adapters and devices: finding, describing, choosing and opening one.
//!
//! Owns every call that discovers hardware. Honours wgpu's `WGPU_BACKEND`
//! (e.g. `vulkan`) for the backends searched. Never: create buffers or
//! pipelines (that is `ensemble`).

use super::{DeviceInfo, GpuError, GpuOptions, Precision};

fn descriptor() -> wgpu::InstanceDescriptor {
    wgpu::InstanceDescriptor::new_without_display_handle_from_env()
}

/// Every adapter of the searched backends, in wgpu's order.
fn adapters() -> (Vec<wgpu::Adapter>, wgpu::Backends) {
    let desc = descriptor();
    let backends = desc.backends;
    let instance = wgpu::Instance::new(desc);
    (pollster::block_on(instance.enumerate_adapters(backends)), backends)
}

fn describe(index: usize, a: &wgpu::Adapter) -> DeviceInfo {
    let info = a.get_info();
    let driver = [info.driver.as_str(), info.driver_info.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    DeviceInfo {
        index,
        name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        kind: format!("{:?}", info.device_type),
        driver,
        f64: a.features().contains(wgpu::Features::SHADER_F64),
        software: info.device_type == wgpu::DeviceType::Cpu,
    }
}

pub(super) fn list() -> Vec<DeviceInfo> {
    adapters().0.iter().enumerate().map(|(i, a)| describe(i, a)).collect()
}

/// Preference of a device type when none is named: lower is better.
fn rank(kind: wgpu::DeviceType) -> u8 {
    match kind {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// An open device with what the ensemble needs to know about it.
pub(super) struct Opened {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: DeviceInfo,
    pub limits: wgpu::Limits,
}

/// Chooses (`options.adapter`, else the best-ranked) and opens an adapter,
/// with `SHADER_F64` when `f64` is asked for.
pub(super) fn open(options: &GpuOptions) -> Result<Opened, GpuError> {
    let (list, backends) = adapters();
    let looked_for = format!(
        "wgpu backends {backends:?}{}; on Linux install a Vulkan driver, e.g. Mesa's `mesa-vulkan-drivers` \
         (lavapipe runs on the CPU)",
        std::env::var("WGPU_BACKEND").map(|b| format!(" from WGPU_BACKEND={b}")).unwrap_or_default()
    );
    let index = match options.adapter {
        Some(i) if i < list.len() => i,
        Some(i) => {
            return Err(GpuError::NoAdapter {
                looked_for: format!("adapter #{i} of {} found; {looked_for}", list.len()),
            })
        }
        None => (0..list.len())
            .min_by_key(|&i| rank(list[i].get_info().device_type))
            .ok_or(GpuError::NoAdapter { looked_for })?,
    };
    let adapter = &list[index];
    let info = describe(index, adapter);
    let f64 = options.precision == Precision::F64;
    if f64 && !info.f64 {
        return Err(GpuError::NoF64 { adapter: format!("{} ({})", info.name, info.backend) });
    }
    let features = if f64 { wgpu::Features::SHADER_F64 } else { wgpu::Features::empty() };
    let limits = adapter.limits();
    let desc = wgpu::DeviceDescriptor {
        label: Some("nde ensemble"),
        required_features: features,
        required_limits: limits.clone(),
        ..Default::default()
    };
    let (device, queue) = pollster::block_on(adapter.request_device(&desc))
        .map_err(|e| GpuError::Device(format!("{}: {e}", info.name)))?;
    Ok(Opened { device, queue, info, limits })
}
