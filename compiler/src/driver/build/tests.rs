//! The C text of a library: literals, the descriptor's constants, the
//! version script, and the agreement with the runtime crate's ABI.

use super::csrc::{self, c_string, exported_symbols, CModel};
use super::header::header;
use crate::codegen::ObjectKernel;

fn kernel(symbol: &str, n: usize, out: usize) -> ObjectKernel {
    ObjectKernel {
        symbol: symbol.into(),
        batch_symbol: format!("{symbol}_batch"),
        n_state: n,
        n_param: 2,
        out_len: out,
        scratch_len: 0,
        batch_scratch_len: 0,
    }
}

fn model() -> CModel {
    CModel {
        name: "m".into(),
        n_state: 2,
        n_param: 2,
        state_names: vec!["y[0]".into(), "y[1]".into()],
        param_arrays: vec![("a".into(), 0, 1), ("f.W1".into(), 1, 1)],
        params: vec![0.1, -1.0 / 3.0],
        default_method: "tsit5".into(),
        default_rtol: 1e-7,
        default_atol: 0.0,
        default_dt: 0.0,
        default_max_steps: 0,
        rhs: kernel("nde_k_m_rhs", 2, 2),
        vjp: kernel("nde_k_m_vjp", 4, 4),
        jac: kernel("nde_k_m_jac", 2, 4),
        dfdt: kernel("nde_k_m_dfdt", 2, 2),
        init: kernel("nde_k_m_init", 0, 2),
        losses: Vec::new(),
    }
}

#[test]
fn c_strings_escape_quotes_backslashes_and_bytes() {
    assert_eq!(c_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
    assert_eq!(c_string("é"), "\"\\303\\251\"");
}

#[test]
fn parameters_are_written_as_exact_bit_patterns() {
    let glue = csrc::glue(&model());
    for v in [0.1f64, -1.0 / 3.0] {
        assert!(glue.contains(&format!("0x{:016x}ULL", v.to_bits())), "{v} missing:\n{glue}");
    }
    // Scalars of the descriptor: shortest round-trip literals.
    assert!(glue.contains("1e-7"), "{glue}");
}

#[test]
fn the_version_script_exports_the_api_only() {
    let m = model();
    let script = csrc::version_script(&m);
    assert!(script.contains("m_rhs;") && script.contains("m_solve;") && script.contains("local: *;"));
    assert!(!script.contains("nde_embed"), "{script}");
    let head = header(&m);
    for sym in exported_symbols(&m) {
        assert!(head.contains(&format!("{sym}(")), "{sym} is exported but not declared in the header");
    }
}

#[test]
fn the_rhs_fast_path_is_only_used_without_scratch() {
    let mut m = model();
    assert!(csrc::glue(&m).contains("nde_k_m_rhs(t, y, h->params, dy, 0)"));
    m.rhs.scratch_len = 10;
    assert!(!csrc::glue(&m).contains("h->params"));
}

#[test]
fn the_glue_agrees_with_the_runtime_crate_on_its_constants() {
    assert_eq!(csrc::ABI_VERSION, nde_embed::ABI_VERSION);
    assert_eq!(csrc::HANDLE_MAGIC, nde_embed::HANDLE_MAGIC);
}

#[test]
fn a_loss_gets_its_wrapper_symbol_and_bundled_data() {
    let mut m = model();
    m.losses.push(csrc::CLoss {
        name: "fit".into(),
        kernel: kernel("nde_k_m_loss0", 5, 1),
        vjp: kernel("nde_k_m_loss0_vjp", 6, 7),
        init_vjp: None,
        method: "tsit5".into(),
        rtol: 1e-6,
        atol: 1e-9,
        dt: 0.0,
        max_steps: 0,
        adjoint: 0,
        checkpoints: 0,
        t0: 0.0,
        n_traj: 1,
        times: vec![0.0, 0.5],
        y0s: vec![1.0, 2.0],
        input_len: 5,
        nfe_at: 3,
        steps_at: 4,
        inputs: vec![0.0; 5],
    });
    let glue = csrc::glue(&m);
    assert!(glue.contains("int m_loss_fit(") && glue.contains("nde_embed_loss((const struct nde_embed_handle *)m, 0,"));
    assert!(glue.contains("loss0_times.d") && glue.contains(&format!("0x{:016x}ULL", 0.5f64.to_bits())));
    assert!(glue.contains("loss0_y0s.d") && !glue.contains("nde_k_m_loss0_init_vjp"));
    assert!(exported_symbols(&m).contains(&"m_loss_fit".to_string()));
    assert!(header(&m).contains("int m_loss_fit(const m_model *m, double *value, double *grad, size_t grad_len);"));
    // Initial states from `init`: its VJP kernel instead of bundled states.
    m.losses[0].init_vjp = Some(kernel("nde_k_m_loss0_init_vjp", 2, 2));
    m.losses[0].y0s.clear();
    let glue = csrc::glue(&m);
    assert!(glue.contains("nde_k_m_loss0_init_vjp_batch") && !glue.contains("loss0_y0s"), "{glue}");
    assert!(header(&m).contains("the model's initial state at the handle's parameters"));
}
