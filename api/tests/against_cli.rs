//! The API solves like `nde run`, bit for bit: the same CSV text (numbers
//! written to round-trip) and the same `.npz` arrays.

mod common;

use common::{example, nde, temp};
use nde::{Program, SolveSpec};

fn lorenz() -> nde::CompiledModel {
    let program = Program::from_file(example("lorenz.nde")).unwrap();
    program.model("lorenz").unwrap().compile().unwrap()
}

#[test]
fn lorenz_csv_equals_nde_run_for_each_kind_of_solver() {
    let model = lorenz();
    for method in ["tsit5", "dopri5", "rodas5", "auto"] {
        let cli = nde(&[
            "run",
            "examples/lorenz.nde",
            "--t1",
            "10",
            "--saves",
            "51",
            "--solver",
            method,
            "--rtol",
            "1e-8",
            "--atol",
            "1e-10",
        ]);
        let spec = SolveSpec::new(0.0, 10.0).saves(51).method(method).tolerances(1e-8, 1e-10);
        let sol = model.solve(&spec).unwrap();
        assert_eq!(sol.to_csv(), cli, "{method}");
    }
}

#[test]
fn lorenz_npz_equals_nde_run_with_save_times_and_fixed_steps() {
    let model = lorenz();
    let out = temp("lorenz_rk4.npz");
    let out_s = out.to_str().unwrap();
    nde(&["run", "examples/lorenz.nde", "--at", "0,0.5,1.25,3", "--solver", "rk4", "--dt", "0.01", "-o", out_s]);
    let arrays = nde::runtime::io::read_npz(&out).unwrap();
    let spec = SolveSpec::new(0.0, 3.0).save_at(&[0.0, 0.5, 1.25, 3.0]).method("rk4").dt(0.01);
    let sol = model.solve(&spec).unwrap();
    let y = arrays.iter().find(|a| a.name == "y").unwrap();
    assert_eq!(y.shape, [4, 3]);
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&y.data), bits(sol.states()));
    // And the API's own `.npz` is the command's, array for array.
    let ours = temp("lorenz_rk4_api.npz");
    sol.save(&ours).unwrap();
    assert_eq!(nde::runtime::io::read_npz(&ours).unwrap(), arrays);
}

#[test]
fn batch_of_the_mlp_with_parameters_from_npz_equals_nde_run() {
    let program = Program::from_file(example("bench_mlp.nde")).unwrap();
    let mut model = program.default_model().unwrap().compile().unwrap();
    // Parameters: the initialisers' values scaled, written and read back.
    let mut params = model.parameters().clone();
    for v in params.as_mut_slice() {
        *v *= 0.5;
    }
    let p_path = temp("mlp_params.npz");
    params.save_npz(&p_path).unwrap();
    let report = model.parameters_mut().load_npz(&p_path).unwrap();
    assert!(report.kept.is_empty() && report.unused.is_empty(), "{report:?}");
    assert_eq!(model.parameters(), &params);

    let y0s = [0.1, 0.2, -0.5, 0.3, 1.0, -1.0];
    let y0_path = temp("mlp_y0.npz");
    nde::runtime::io::write_npz(&y0_path, &[nde::runtime::io::Array::new("y0", vec![3, 2], y0s.to_vec())]).unwrap();
    let cli = nde(&[
        "run",
        "examples/bench_mlp.nde",
        "--params",
        p_path.to_str().unwrap(),
        "--y0",
        y0_path.to_str().unwrap(),
        "--at",
        "0:2:5",
        "--solver",
        "dopri5",
        "--rtol",
        "1e-6",
        "--atol",
        "1e-8",
    ]);
    let spec = SolveSpec::new(0.0, 2.0).saves(5).method("dopri5").tolerances(1e-6, 1e-8);
    let sol = model.solve_batch(&spec, &y0s).unwrap();
    assert_eq!(sol.n_trajectories(), 3);
    assert_eq!(sol.to_csv(), cli);
}

#[test]
fn sde_paths_equal_nde_run() {
    let program = Program::from_file(example("ou.nde")).unwrap();
    let model = program.default_model().unwrap().compile().unwrap();
    let cli = nde(&[
        "run",
        "examples/ou.nde",
        "--t1",
        "2",
        "--saves",
        "9",
        "--dt",
        "0.01",
        "--paths",
        "3",
        "--noise-seed",
        "7",
    ]);
    let spec = SolveSpec::new(0.0, 2.0).saves(9).dt(0.01).paths(3).noise_seed(7);
    let sol = model.solve(&spec).unwrap();
    assert_eq!(sol.to_csv(), cli);
    let other = model.solve(&spec.clone().noise_seed(8)).unwrap();
    assert_ne!(other.states(), sol.states(), "another seed draws other paths");
}

#[test]
fn large_stiff_model_takes_the_sparse_path_like_nde_run() {
    let program = Program::from_file(example("brusselator_1d.nde")).unwrap();
    let model = program.default_model().unwrap().compile().unwrap();
    assert!(model.n_state() >= 64, "the sparse path needs 64 states or more");
    let cli = nde(&["run", "examples/brusselator_1d.nde", "--solver", "rodas5", "--t1", "2", "--saves", "5"]);
    let sol = model.solve(&SolveSpec::new(0.0, 2.0).saves(5).method("rodas5")).unwrap();
    assert_eq!(sol.to_csv(), cli);
}
