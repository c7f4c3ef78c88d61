//! Running an ensemble shader: buffers, dispatches, read-back, statuses.
//!
//! Owns the host side of [`super::shader`]'s binding layout: the parameters
//! and times are uploaded once; the trajectories run in chunks that fit the
//! device's limits (workgroups per dimension, storage-binding and buffer
//! sizes), each chunk one dispatch with its initial states uploaded and its
//! saved states, status words and failure times read back once. Shader and
//! pipeline creation run inside wgpu error scopes, so a rejected shader is a
//! [`GpuError::Device`], never a panic.
//!
//! Never: decide numerics (the shader does), or retry on failure.

use wgpu::util::DeviceExt;

use super::device::{self, Opened};
use super::shader::{Binding, STATUS_MAX_STEPS, STATUS_NON_FINITE, STATUS_OK, WORKGROUP};
use super::{Ensemble, GpuError, GpuOptions, Precision};
use nde_runtime::{SolveError, Stats};

/// One ensemble to run.
pub(super) struct Job<'a> {
    pub shader: &'a str,
    pub n: usize,
    pub params: &'a [f64],
    pub t0: f64,
    pub y0s: &'a [f64],
    pub saveat: &'a [f64],
    pub seed: u64,
    pub max_steps: usize,
    /// Whether the status words count rejected steps (adaptive solves).
    pub stats_rejected: bool,
    /// Output values per trajectory (`saves × n` for a solve).
    pub out_per_traj: usize,
}

fn encode(p: Precision, values: &[f64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len().max(1) * p.size());
    for &v in values {
        match p {
            Precision::F32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
            Precision::F64 => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
    if values.is_empty() {
        out.resize(p.size(), 0);
    }
    out
}

fn decode(p: Precision, bytes: &[u8]) -> Vec<f64> {
    match p {
        Precision::F32 => {
            bytes.chunks_exact(4).map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect()
        }
        Precision::F64 => bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect(),
    }
}

/// `x` moved down by 100 representable values of the precision (the
/// runtime's stretch threshold for the last step, in the device's type).
fn floor_100_ulps(p: Precision, x: f64) -> f64 {
    match p {
        Precision::F64 => {
            let mut v = x;
            for _ in 0..100 {
                v = v.next_down();
            }
            v
        }
        Precision::F32 => {
            let mut v = x as f32;
            for _ in 0..100 {
                v = v.next_down();
            }
            f64::from(v)
        }
    }
}

/// Runs a shader whose invocation `b` reads `nde_y0[b n..]` and
/// `nde_times[2 + b]` and writes `job.out_per_traj` values: the device
/// evaluation of single functions that tests compare with the interpreter.
pub(super) fn eval(job: &Job<'_>, options: &GpuOptions) -> Result<Vec<f64>, GpuError> {
    let prepared = prepare(job, options)?;
    let count = job.y0s.len() / job.n.max(1);
    let (out, _, _) = dispatch(
        &prepared.o,
        &prepared.pipeline,
        &prepared.layout,
        [&prepared.params, &prepared.times],
        job.y0s,
        count,
        0,
        job,
        options.precision,
    )?;
    Ok(out)
}

/// Trajectories per dispatch the device allows.
fn chunk_limit(o: &Opened, job: &Job<'_>, p: Precision) -> usize {
    let l = &o.limits;
    let groups = usize::try_from(l.max_compute_workgroups_per_dimension).unwrap_or(usize::MAX);
    let by_groups = groups.saturating_mul(WORKGROUP as usize);
    let max_bytes = l.max_storage_buffer_binding_size.min(l.max_buffer_size);
    let per_traj = (job.out_per_traj.max(job.n) * p.size()).max(16) as u64;
    let by_bytes = usize::try_from(max_bytes / per_traj).unwrap_or(usize::MAX);
    by_groups.min(by_bytes).max(1)
}

fn scoped<T>(device: &wgpu::Device, what: &str, make: impl FnOnce() -> T) -> Result<T, GpuError> {
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let value = make();
    match pollster::block_on(scope.pop()) {
        None => Ok(value),
        Some(e) => Err(GpuError::Device(format!("{what}: {e}"))),
    }
}

/// An open device with the job's pipeline and shared buffers.
struct Prepared {
    o: Opened,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    params: wgpu::Buffer,
    times: wgpu::Buffer,
}

fn prepare(job: &Job<'_>, options: &GpuOptions) -> Result<Prepared, GpuError> {
    let p = options.precision;
    let o = device::open(options)?;
    let dev = &o.device;
    let module = scoped(dev, "compiling the ensemble shader", || {
        dev.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("nde ensemble"),
            source: wgpu::ShaderSource::Wgsl(job.shader.into()),
        })
    })?;
    // An explicit layout: a shader need not use every binding (a model
    // without parameters never reads `nde_p`).
    let buffer = |binding: Binding, ty| wgpu::BindGroupLayoutEntry {
        binding: binding as u32,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer { ty, has_dynamic_offset: false, min_binding_size: None },
        count: None,
    };
    let storage_ro = wgpu::BufferBindingType::Storage { read_only: true };
    let storage_rw = wgpu::BufferBindingType::Storage { read_only: false };
    let layout = dev.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("nde ensemble"),
        entries: &[
            buffer(Binding::Params, storage_ro),
            buffer(Binding::Y0, storage_ro),
            buffer(Binding::Times, storage_ro),
            buffer(Binding::Out, storage_rw),
            buffer(Binding::Status, storage_rw),
            buffer(Binding::Fail, storage_rw),
            buffer(Binding::Config, wgpu::BufferBindingType::Uniform),
        ],
    });
    let pipeline_layout = dev.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("nde ensemble"),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let pipeline = scoped(dev, "creating the ensemble pipeline", || {
        dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("nde ensemble"),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        })
    })?;
    let storage = wgpu::BufferUsages::STORAGE;
    let params = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("params"),
        contents: &encode(p, job.params),
        usage: storage,
    });
    let t_end = job.saveat.last().copied().unwrap_or(job.t0);
    let mut times = vec![job.t0, floor_100_ulps(p, t_end)];
    times.extend_from_slice(job.saveat);
    let times = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("times"),
        contents: &encode(p, &times),
        usage: storage,
    });
    Ok(Prepared { o, pipeline, layout, params, times })
}

/// Runs `job` and returns the solved ensemble (or the first failed
/// trajectory's error, as the CPU batch solve reports it).
pub(super) fn run(job: &Job<'_>, options: &GpuOptions) -> Result<Ensemble, GpuError> {
    let p = options.precision;
    let Prepared { o, pipeline, layout, params, times } = prepare(job, options)?;
    let n = job.n;
    let saves = job.saveat.len();
    let batch = job.y0s.len() / n;
    let chunk = options.chunk.unwrap_or(usize::MAX).min(chunk_limit(&o, job, p)).max(1);
    let mut y = Vec::with_capacity(batch * saves * n);
    let mut status = Vec::with_capacity(batch * 4);
    let mut fail = Vec::with_capacity(batch * 2);
    let mut dispatches = 0;
    for first in (0..batch).step_by(chunk) {
        let count = chunk.min(batch - first);
        let y0 = &job.y0s[first * n..(first + count) * n];
        let (out, st, fl) = dispatch(&o, &pipeline, &layout, [&params, &times], y0, count, first, job, p)?;
        y.extend(out);
        status.extend(st);
        fail.extend(fl);
        dispatches += 1;
    }
    let mut stats = Vec::with_capacity(batch);
    for b in 0..batch {
        let s = &status[4 * b..4 * b + 4];
        let (t, h) = (fail[2 * b], fail[2 * b + 1]);
        let error = match s[0] {
            STATUS_OK => None,
            STATUS_MAX_STEPS => Some(SolveError::MaxStepsReached { t, max_steps: job.max_steps }),
            STATUS_NON_FINITE => Some(SolveError::NonFinite { t }),
            _ => Some(SolveError::StepSizeTooSmall { t, h }),
        };
        if let Some(error) = error {
            return Err(GpuError::Solve { trajectory: b, error });
        }
        let rejected = if job.stats_rejected { u64::from(s[2]) } else { 0 };
        stats.push(Stats { nfe: u64::from(s[3]), accepted: u64::from(s[1]), rejected, ..Stats::default() });
    }
    let adapter = format!("{} ({}, {})", o.info.name, o.info.backend, o.info.kind);
    Ok(Ensemble { t: job.saveat.to_vec(), y, batch, stats, adapter, dispatches })
}

type Chunk = (Vec<f64>, Vec<u32>, Vec<f64>);

/// One dispatch of `count` trajectories starting at global index `first`.
#[allow(clippy::too_many_arguments)]
fn dispatch(
    o: &Opened,
    pipeline: &wgpu::ComputePipeline,
    layout: &wgpu::BindGroupLayout,
    shared: [&wgpu::Buffer; 2],
    y0: &[f64],
    count: usize,
    first: usize,
    job: &Job<'_>,
    p: Precision,
) -> Result<Chunk, GpuError> {
    let dev = &o.device;
    let too_big = |what: &str| GpuError::Invalid(format!("the ensemble's {what} exceeds 2^32 on the device"));
    let count32 = u32::try_from(count).map_err(|_| too_big("chunk"))?;
    let first32 = u32::try_from(first).map_err(|_| too_big("trajectory index"))?;
    let storage = wgpu::BufferUsages::STORAGE;
    let y0 = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("y0"),
        contents: &encode(p, y0),
        usage: storage,
    });
    let cfg: Vec<u8> =
        [count32, first32, job.seed as u32, (job.seed >> 32) as u32].iter().flat_map(|v| v.to_le_bytes()).collect();
    let cfg = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("config"),
        contents: &cfg,
        usage: wgpu::BufferUsages::UNIFORM,
    });
    let out_len = (count * job.out_per_traj * p.size()) as u64;
    let status_len = (count * 4 * 4) as u64;
    let fail_len = (count * 2 * p.size()) as u64;
    let rw = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
    let make = |label, size: u64, usage| {
        dev.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size.max(4),
            usage,
            mapped_at_creation: false,
        })
    };
    let out = make("out", out_len, rw);
    let status = make("status", status_len, rw);
    let fail = make("fail", fail_len, rw);
    let read = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
    let staging = [
        make("out staging", out_len, read),
        make("status staging", status_len, read),
        make("fail staging", fail_len, read),
    ];
    let entries = [
        (Binding::Params, shared[0]),
        (Binding::Y0, &y0),
        (Binding::Times, shared[1]),
        (Binding::Out, &out),
        (Binding::Status, &status),
        (Binding::Fail, &fail),
        (Binding::Config, &cfg),
    ];
    let entries: Vec<wgpu::BindGroupEntry<'_>> = entries
        .iter()
        .map(|(b, buf)| wgpu::BindGroupEntry { binding: *b as u32, resource: buf.as_entire_binding() })
        .collect();
    let group = scoped(dev, "binding the ensemble buffers", || {
        dev.create_bind_group(&wgpu::BindGroupDescriptor { label: Some("nde ensemble"), layout, entries: &entries })
    })?;
    let mut enc = dev.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("nde ensemble") });
    {
        let mut pass =
            enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("solve"), timestamp_writes: None });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &group, &[]);
        pass.dispatch_workgroups(count32.div_ceil(WORKGROUP), 1, 1);
    }
    for (src, dst) in [&out, &status, &fail].into_iter().zip(&staging) {
        enc.copy_buffer_to_buffer(src, 0, dst, 0, src.size());
    }
    o.queue.submit([enc.finish()]);
    for s in &staging {
        s.map_async(wgpu::MapMode::Read, .., |_| {});
    }
    dev.poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| GpuError::Device(format!("waiting for the solve: {e}")))?;
    let bytes = |b: &wgpu::Buffer, len: u64| -> Result<Vec<u8>, GpuError> {
        let view = b.get_mapped_range(..).map_err(|e| GpuError::Device(format!("reading results back: {e}")))?;
        Ok(view[..len as usize].to_vec())
    };
    let y = decode(p, &bytes(&staging[0], out_len)?);
    let st =
        bytes(&staging[1], status_len)?.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let fl = decode(p, &bytes(&staging[2], fail_len)?);
    for s in &staging {
        s.unmap();
    }
    Ok((y, st, fl))
}
