//! Dense routines that compiled kernels call: matrix–vector products (of
//! one vector, or of a group of vectors sharing the matrix), outer products and elementwise `tanh` over whole vectors, with 256-bit
//! SIMD where the host has it (cranelift emits at most 128-bit vectors).
//!
//! Owns the exact arithmetic of each routine (documented in [`mod@matvec`],
//! [`mod@group`], [`mod@outer`] and [`vmath`]): every routine has an AVX2+FMA
//! implementation and a portable one that perform the same IEEE operations
//! in the same order, so results are the same bits on every machine, and
//! the code generator's inline lowering of the same operations agrees with
//! them too. [`Routines::host`] picks the fastest implementation for this
//! machine once; the exported `extern "C"` symbols (`nde_rt_*`, for object
//! files and shared libraries) dispatch on every call.
//!
//! Never: allocate, keep state between calls, depend on the number of
//! threads, or access memory outside the extents documented per routine.

pub mod group;
pub mod matvec;
pub mod outer;
pub mod vmath;

#[cfg(test)]
mod tests;

/// `y[r] = Σ_c a[r·lda + c] x[c]` (`r < m`, `c < k`): see [`mod@matvec`].
pub type MatvecFn = unsafe extern "C" fn(m: usize, k: usize, a: *const f64, lda: usize, x: *const f64, y: *mut f64);
/// `ys[t][r] = Σ_c a[r·lda + c] xs[t][c]` (`t < n`, `r < m`, `c < k`): see [`mod@group`].
pub type MatvecGroupFn = unsafe extern "C" fn(
    m: usize,
    k: usize,
    a: *const f64,
    lda: usize,
    n: usize,
    xs: *const *const f64,
    ys: *const *mut f64,
);
/// `y[r] = Σ_c a[c·lda + r] x[c·incx]` (`r < m`, `c < k`): see [`mod@matvec`].
pub type MatvecTFn =
    unsafe extern "C" fn(m: usize, k: usize, a: *const f64, lda: usize, x: *const f64, incx: usize, y: *mut f64);
/// `a[i·lda + j] = y[j] · x[i·incx]` (`i < m`, `j < n`): see [`mod@outer`].
pub type OuterFn =
    unsafe extern "C" fn(m: usize, n: usize, x: *const f64, incx: usize, y: *const f64, a: *mut f64, lda: usize);
/// `y[i] = f(x[i] + b[i])` for `i < n`, or `f(x[i])` when `b` is null; `y`
/// is `x` or disjoint from it, and disjoint from `b`.
pub type MapFn = unsafe extern "C" fn(n: usize, x: *const f64, b: *const f64, y: *mut f64);

/// Symbol names of the routines, as compiled code imports them.
pub const MATVEC_SYMBOL: &str = "nde_rt_matvec";
pub const MATVEC_T_SYMBOL: &str = "nde_rt_matvec_t";
pub const MATVEC_GROUP_SYMBOL: &str = "nde_rt_matvec_group";
pub const OUTER_SYMBOL: &str = "nde_rt_outer";
pub const TANH_SYMBOL: &str = "nde_rt_tanh";

/// One implementation of every routine.
#[derive(Clone, Copy, Debug)]
pub struct Routines {
    /// Whether these are the 256-bit SIMD implementations (worth calling
    /// instead of inline 128-bit code).
    pub simd: bool,
    pub matvec: MatvecFn,
    pub matvec_t: MatvecTFn,
    pub matvec_group: MatvecGroupFn,
    pub outer: OuterFn,
    pub tanh: MapFn,
}

unsafe extern "C" fn matvec_portable(m: usize, k: usize, a: *const f64, lda: usize, x: *const f64, y: *mut f64) {
    // SAFETY: forwarded contract.
    unsafe { matvec::portable(m, k, a, lda, x, y) }
}
unsafe extern "C" fn matvec_t_portable(
    m: usize,
    k: usize,
    a: *const f64,
    lda: usize,
    x: *const f64,
    incx: usize,
    y: *mut f64,
) {
    // SAFETY: forwarded contract.
    unsafe { matvec::portable_t(m, k, a, lda, x, incx, y) }
}
unsafe extern "C" fn matvec_group_portable(
    m: usize,
    k: usize,
    a: *const f64,
    lda: usize,
    n: usize,
    xs: *const *const f64,
    ys: *const *mut f64,
) {
    // SAFETY: forwarded contract.
    unsafe { group::portable(m, k, a, lda, n, xs, ys) }
}
unsafe extern "C" fn outer_portable(
    m: usize,
    n: usize,
    x: *const f64,
    incx: usize,
    y: *const f64,
    a: *mut f64,
    lda: usize,
) {
    // SAFETY: forwarded contract.
    unsafe { outer::portable(m, n, x, incx, y, a, lda) }
}
unsafe extern "C" fn tanh_portable(n: usize, x: *const f64, b: *const f64, y: *mut f64) {
    // SAFETY: forwarded contract.
    unsafe { vmath::tanh_portable(n, x, b, y) }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! `extern "C"` entry points of the AVX2 implementations; reachable
    //! only through [`super::Routines::host`] after feature detection.

    pub(super) unsafe extern "C" fn matvec(m: usize, k: usize, a: *const f64, lda: usize, x: *const f64, y: *mut f64) {
        // SAFETY: forwarded contract; `host` checked AVX2 and FMA.
        unsafe { super::matvec::avx2::matvec(m, k, a, lda, x, y) }
    }
    pub(super) unsafe extern "C" fn matvec_t(
        m: usize,
        k: usize,
        a: *const f64,
        lda: usize,
        x: *const f64,
        incx: usize,
        y: *mut f64,
    ) {
        // SAFETY: as above.
        unsafe { super::matvec::avx2::matvec_t(m, k, a, lda, x, incx, y) }
    }
    pub(super) unsafe extern "C" fn matvec_group(
        m: usize,
        k: usize,
        a: *const f64,
        lda: usize,
        n: usize,
        xs: *const *const f64,
        ys: *const *mut f64,
    ) {
        // SAFETY: as above.
        unsafe { super::group::avx2::matvec_group(m, k, a, lda, n, xs, ys) }
    }
    pub(super) unsafe extern "C" fn outer(
        m: usize,
        n: usize,
        x: *const f64,
        incx: usize,
        y: *const f64,
        a: *mut f64,
        lda: usize,
    ) {
        // SAFETY: as above.
        unsafe { super::outer::avx2::outer(m, n, x, incx, y, a, lda) }
    }
    pub(super) unsafe extern "C" fn tanh(n: usize, x: *const f64, b: *const f64, y: *mut f64) {
        // SAFETY: as above.
        unsafe { super::vmath::avx2::tanh(n, x, b, y) }
    }
}

impl Routines {
    /// The portable implementations (any machine).
    pub fn portable() -> Routines {
        Routines {
            simd: false,
            matvec: matvec_portable,
            matvec_t: matvec_t_portable,
            matvec_group: matvec_group_portable,
            outer: outer_portable,
            tanh: tanh_portable,
        }
    }

    /// The fastest implementations this machine supports.
    pub fn host() -> Routines {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return Routines {
                simd: true,
                matvec: x86::matvec,
                matvec_t: x86::matvec_t,
                matvec_group: x86::matvec_group,
                outer: x86::outer,
                tanh: x86::tanh,
            };
        }
        Routines::portable()
    }

    /// `(symbol, address)` of every routine, for a JIT's symbol table.
    pub fn symbols(&self) -> [(&'static str, *const u8); 5] {
        [
            (MATVEC_SYMBOL, self.matvec as *const u8),
            (MATVEC_T_SYMBOL, self.matvec_t as *const u8),
            (MATVEC_GROUP_SYMBOL, self.matvec_group as *const u8),
            (OUTER_SYMBOL, self.outer as *const u8),
            (TANH_SYMBOL, self.tanh as *const u8),
        ]
    }
}

/// [`MatvecFn`] under its exported name, choosing the implementation per call.
///
/// # Safety
/// `a` is readable at `r·lda + c`, `x` at `0..k`, `y` writable at `0..m`
/// (`r < m`, `c < k`); `y` overlaps neither.
#[no_mangle]
pub unsafe extern "C" fn nde_rt_matvec(m: usize, k: usize, a: *const f64, lda: usize, x: *const f64, y: *mut f64) {
    // SAFETY: forwarded contract.
    unsafe { (Routines::host().matvec)(m, k, a, lda, x, y) }
}

/// [`MatvecTFn`] under its exported name, choosing the implementation per call.
///
/// # Safety
/// `a` is readable at `c·lda + r`, `x` at `c·incx`, `y` writable at `0..m`
/// (`r < m`, `c < k`); `y` overlaps neither.
#[no_mangle]
pub unsafe extern "C" fn nde_rt_matvec_t(
    m: usize,
    k: usize,
    a: *const f64,
    lda: usize,
    x: *const f64,
    incx: usize,
    y: *mut f64,
) {
    // SAFETY: forwarded contract.
    unsafe { (Routines::host().matvec_t)(m, k, a, lda, x, incx, y) }
}

/// [`MatvecGroupFn`] under its exported name, choosing the implementation per call.
///
/// # Safety
/// `xs` and `ys` are readable at `0..n`; `a` is readable at `r·lda + c`,
/// every `xs[t]` at `0..k`, every `ys[t]` writable at `0..m` (`r < m`,
/// `c < k`); no `ys[t]` overlaps `a`, any `xs[u]` or another `ys[u]`.
#[no_mangle]
pub unsafe extern "C" fn nde_rt_matvec_group(
    m: usize,
    k: usize,
    a: *const f64,
    lda: usize,
    n: usize,
    xs: *const *const f64,
    ys: *const *mut f64,
) {
    // SAFETY: forwarded contract.
    unsafe { (Routines::host().matvec_group)(m, k, a, lda, n, xs, ys) }
}

/// [`OuterFn`] under its exported name, choosing the implementation per call.
///
/// # Safety
/// `x` is readable at `i·incx`, `y` at `0..n`, `a` writable at `i·lda + j`
/// (`i < m`, `j < n`); `a` overlaps neither `x` nor `y`.
#[no_mangle]
pub unsafe extern "C" fn nde_rt_outer(
    m: usize,
    n: usize,
    x: *const f64,
    incx: usize,
    y: *const f64,
    a: *mut f64,
    lda: usize,
) {
    // SAFETY: forwarded contract.
    unsafe { (Routines::host().outer)(m, n, x, incx, y, a, lda) }
}

/// `tanh` ([`MapFn`]) under its exported name, choosing the implementation per call.
///
/// # Safety
/// `x` and `b` (unless null) readable and `y` writable at `0..n`; `y` is `x`
/// or disjoint from it, and disjoint from `b`.
#[no_mangle]
pub unsafe extern "C" fn nde_rt_tanh(n: usize, x: *const f64, b: *const f64, y: *mut f64) {
    // SAFETY: forwarded contract.
    unsafe { (Routines::host().tanh)(n, x, b, y) }
}

/// Elements a row-major `[rows, cols]` operand with row stride `ld` spans.
fn extent(rows: usize, cols: usize, ld: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * ld + cols
    }
}

/// Safe [`MatvecFn`] with `routines`' implementation.
///
/// # Panics
/// If `a`, `x` or `y` is shorter than the product needs.
pub fn matvec(routines: &Routines, m: usize, k: usize, a: &[f64], lda: usize, x: &[f64], y: &mut [f64]) {
    assert!(a.len() >= extent(m, k, lda) && x.len() >= k && y.len() >= m, "matvec: buffers too short");
    // SAFETY: extents checked; `y` is a unique borrow, so it overlaps neither input.
    unsafe { (routines.matvec)(m, k, a.as_ptr(), lda, x.as_ptr(), y.as_mut_ptr()) }
}

/// Safe [`MatvecTFn`] with `routines`' implementation.
///
/// # Panics
/// If `a`, `x` or `y` is shorter than the product needs.
#[allow(clippy::too_many_arguments)]
pub fn matvec_t(routines: &Routines, m: usize, k: usize, a: &[f64], lda: usize, x: &[f64], incx: usize, y: &mut [f64]) {
    assert!(
        a.len() >= extent(k, m, lda) && x.len() >= extent(k, 1, incx) && y.len() >= m,
        "matvec_t: buffers too short"
    );
    // SAFETY: as in `matvec`.
    unsafe { (routines.matvec_t)(m, k, a.as_ptr(), lda, x.as_ptr(), incx, y.as_mut_ptr()) }
}

/// Safe [`MatvecGroupFn`] with `routines`' implementation: `ys[t] = A xs[t]`
/// for every member `t`, with `A` the `[m, k]` matrix of row stride `lda`
/// in `a`.
///
/// # Panics
/// If `xs` and `ys` differ in length, or a buffer is shorter than the
/// product needs.
pub fn matvec_group(
    routines: &Routines,
    m: usize,
    k: usize,
    a: &[f64],
    lda: usize,
    xs: &[&[f64]],
    ys: &mut [&mut [f64]],
) {
    assert!(
        xs.len() == ys.len()
            && a.len() >= extent(m, k, lda)
            && xs.iter().all(|x| x.len() >= k)
            && ys.iter().all(|y| y.len() >= m),
        "matvec_group: buffers too short"
    );
    // Sixteen members per call, from arrays on the stack (members are
    // independent, so how they are grouped does not change a bit).
    for (xs, ys) in xs.chunks(16).zip(ys.chunks_mut(16)) {
        let mut xp = [std::ptr::null::<f64>(); 16];
        let mut yp = [std::ptr::null_mut::<f64>(); 16];
        for (p, x) in xp.iter_mut().zip(xs) {
            *p = x.as_ptr();
        }
        for (p, y) in yp.iter_mut().zip(ys.iter_mut()) {
            *p = y.as_mut_ptr();
        }
        // SAFETY: extents checked; the `ys` are distinct unique borrows, so
        // they overlap neither each other nor the inputs.
        unsafe { (routines.matvec_group)(m, k, a.as_ptr(), lda, xs.len(), xp.as_ptr(), yp.as_ptr()) }
    }
}

/// Safe [`OuterFn`] with `routines`' implementation: `a[i·lda + j] = y[j] · x[i·incx]`.
///
/// # Panics
/// If `x`, `y` or `a` is shorter than the product needs.
#[allow(clippy::too_many_arguments)]
pub fn outer(routines: &Routines, m: usize, n: usize, x: &[f64], incx: usize, y: &[f64], a: &mut [f64], lda: usize) {
    assert!(x.len() >= extent(m, 1, incx) && y.len() >= n && a.len() >= extent(m, n, lda), "outer: buffers too short");
    // SAFETY: extents checked; `a` is a unique borrow, so it overlaps neither input.
    unsafe { (routines.outer)(m, n, x.as_ptr(), incx, y.as_ptr(), a.as_mut_ptr(), lda) }
}

/// `x[i] = tanh(x[i])` with `routines`' implementation.
pub fn tanh_in_place(routines: &Routines, x: &mut [f64]) {
    // SAFETY: `y` is `x`, which the routine allows.
    unsafe { (routines.tanh)(x.len(), x.as_ptr(), std::ptr::null(), x.as_mut_ptr()) }
}

/// `y[i] = tanh(x[i] + b[i])` with `routines`' implementation.
///
/// # Panics
/// If the three slices differ in length.
pub fn tanh_add(routines: &Routines, x: &[f64], b: &[f64], y: &mut [f64]) {
    assert!(x.len() == y.len() && b.len() == y.len(), "tanh_add: lengths differ");
    // SAFETY: lengths checked; `y` is a unique borrow, disjoint from `x` and `b`.
    unsafe { (routines.tanh)(y.len(), x.as_ptr(), b.as_ptr(), y.as_mut_ptr()) }
}
