//! Observation data (`nde_runtime::data`): good CSV and `.npz` files read to
//! known values, every kind of bad file rejected with a message naming the
//! file and the line (or the entry of `t`), exact CSV round trips, windows.
//!
//! Fixtures live in `tests/data/`; the `.npz` ones are written by
//! `tests/data/make_npz.py` with numpy.

use std::path::{Path, PathBuf};

use nde_runtime::data::{DataArray, DataError, DataErrorKind, Series};
use nde_runtime::io::{write_npz, Array};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

fn load_err(name: &str) -> (DataError, String) {
    let path = fixture(name);
    let err = Series::load(&path).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with(&path.display().to_string()), "message must name the file: {msg}");
    assert_eq!(err.file, path.display().to_string());
    (err, msg)
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Compares two slices treating NaN as equal to NaN.
fn assert_same(actual: &[f64], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (a, e) in actual.iter().zip(expected) {
        assert!(a == e || (a.is_nan() && e.is_nan()), "{actual:?} vs {expected:?}");
    }
}

const NAN: f64 = f64::NAN;

// ---------------------------------------------------------------- good CSV

#[test]
fn irregular_csv_with_comments_blanks_and_missing_values() {
    let s = Series::load(&fixture("irregular.csv")).unwrap();
    assert_eq!(s.t, vec![0.0, 0.15, 0.4, 1.0, 2.75]);
    assert_eq!(s.columns, vec!["x", "v"]);
    assert_eq!((s.n_traj, s.n_times(), s.n_cols()), (1, 5, 2));
    assert_same(&s.y, &[1.0, 0.0, 0.9, -0.125, NAN, -0.5, NAN, NAN, -0.25, NAN]);
    assert_eq!(s.value(0, 1, 1), -0.125);
    assert!(s.value(0, 3, 0).is_nan());
}

#[test]
fn csv_text_with_bom_crlf_and_any_time_name() {
    let s = Series::from_csv_text("\u{feff}seconds,a\r\n0,1\r\n2,\r\n", "x.csv").unwrap();
    assert_eq!(s.t, vec![0.0, 2.0]);
    assert_eq!(s.columns, vec!["a"]);
    assert_same(&s.y, &[1.0, NAN]);
}

// ---------------------------------------------------------------- bad CSV

#[test]
fn ragged_row() {
    let (err, msg) = load_err("ragged.csv");
    assert_eq!((err.kind, err.row), (DataErrorKind::Ragged, Some(3)));
    assert!(msg.contains("ragged.csv, line 3: line 3 has 2 cells, the header (line 1) has 3"), "{msg}");
    assert!(err.hint.is_some());
}

#[test]
fn cell_that_is_not_a_number() {
    // Line numbers count the comment and the blank line before the row.
    let (err, msg) = load_err("bad_number.csv");
    assert_eq!((err.kind, err.row, err.column.as_deref()), (DataErrorKind::BadValue, Some(5), Some("y")));
    assert!(msg.contains("bad_number.csv, line 5, column `y`: `abc` is not a number"), "{msg}");
}

#[test]
fn times_out_of_order() {
    let path = fixture("non_monotone.csv");
    let (err, msg) = load_err("non_monotone.csv");
    assert_eq!((err.kind, err.row), (DataErrorKind::TimeOrder, Some(7)));
    assert_eq!(
        msg,
        format!(
            "{}, line 7: time 0.5 is not after the previous time 0.7 \
             (hint: times must be strictly increasing: sort the rows by time)",
            path.display()
        )
    );
}

#[test]
fn duplicate_time() {
    let (err, msg) = load_err("duplicate_time.csv");
    assert_eq!((err.kind, err.row), (DataErrorKind::TimeOrder, Some(4)));
    assert!(msg.contains("duplicate_time.csv, line 4: time 0.5 is not after the previous time 0.5"), "{msg}");
    assert!(msg.contains("merge the rows that share a time"), "{msg}");
}

#[test]
fn all_nan_value_column() {
    let (err, msg) = load_err("all_nan.csv");
    assert_eq!((err.kind, err.row, err.column.as_deref()), (DataErrorKind::EmptyColumn, None, Some("y")));
    assert!(msg.contains("all_nan.csv, column `y`: column `y` has no values"), "{msg}");
}

#[test]
fn header_only() {
    let (err, msg) = load_err("header_only.csv");
    assert_eq!((err.kind, err.row), (DataErrorKind::Empty, Some(2)));
    assert!(msg.contains("header_only.csv, line 2: the file has a header but no data rows"), "{msg}");
}

#[test]
fn empty_file() {
    let (err, msg) = load_err("empty.csv");
    assert_eq!(err.kind, DataErrorKind::Empty);
    assert!(msg.contains("empty.csv: the file is empty"), "{msg}");
    let err = Series::from_csv_text("", "e.csv").unwrap_err();
    assert_eq!(err.kind, DataErrorKind::Empty);
}

#[test]
fn missing_and_infinite_times() {
    let (err, msg) = load_err("missing_time.csv");
    assert_eq!((err.kind, err.row), (DataErrorKind::BadTime, Some(3)));
    assert!(msg.contains("missing_time.csv, line 3, column `t`: the time is missing"), "{msg}");
    let (err, msg) = load_err("infinite_time.csv");
    assert_eq!((err.kind, err.row), (DataErrorKind::BadTime, Some(3)));
    assert!(msg.contains("infinite_time.csv, line 3: time inf is not finite"), "{msg}");
    let err = Series::from_csv_text("t,x\n0,1\nnan,2\n", "n.csv").unwrap_err();
    assert_eq!((err.kind, err.row), (DataErrorKind::BadTime, Some(3)));
}

#[test]
fn no_value_columns() {
    let (err, msg) = load_err("no_values.csv");
    assert_eq!((err.kind, err.row), (DataErrorKind::Header, Some(1)));
    assert!(msg.contains("no_values.csv, line 1: no value columns"), "{msg}");
}

#[test]
fn bad_headers_and_infinite_values() {
    let err = Series::from_csv_text("t,x,\n0,1,\n", "h.csv").unwrap_err();
    assert_eq!((err.kind, err.row), (DataErrorKind::Header, Some(1)));
    assert!(err.to_string().contains("header cell 3 has no column name"), "{err}");
    let err = Series::from_csv_text("# c\nt,x,x\n0,1,2\n", "h.csv").unwrap_err();
    assert_eq!((err.kind, err.row, err.column.as_deref()), (DataErrorKind::Header, Some(2), Some("x")));
    let err = Series::from_csv_text("t,x,y\n0,1,2\n1,2,-inf\n", "v.csv").unwrap_err();
    assert_eq!((err.kind, err.row, err.column.as_deref()), (DataErrorKind::BadValue, Some(3), Some("y")));
    assert!(err.to_string().starts_with("v.csv, line 3, column `y`: value -inf is not finite"), "{err}");
}

#[test]
fn missing_file_and_wrong_extension() {
    let path = fixture("no_such_file.csv");
    let err = Series::load(&path).unwrap_err();
    assert_eq!(err.kind, DataErrorKind::NotFound);
    assert!(err.to_string().starts_with(&format!("{}: no such file", path.display())), "{err}");

    let (err, msg) = load_err("observations.txt");
    assert_eq!(err.kind, DataErrorKind::Extension);
    assert!(msg.contains("unsupported extension `.txt`"), "{msg}");

    let err = Series::load(Path::new("observations")).unwrap_err();
    assert_eq!(err.kind, DataErrorKind::Extension);
    assert!(err.to_string().starts_with("observations: the file name has no extension"), "{err}");
}

#[test]
fn invalid_utf8_names_the_line() {
    let dir = std::env::temp_dir().join(format!("nde-data-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("latin1.csv");
    std::fs::write(&path, b"t,x\n0,1\n1,\xe9\n").unwrap();
    let err = Series::load(&path).unwrap_err();
    assert_eq!((err.kind, err.row), (DataErrorKind::Unreadable, Some(3)));
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------- npz

const NPZ_T: [f64; 5] = [0.0, 0.1, 0.35, 1.0, 2.5];

#[test]
fn npz_single_trajectory() {
    let s = Series::load(&fixture("single.npz")).unwrap();
    assert_eq!(s.t, NPZ_T);
    assert_eq!(s.columns, vec!["y0", "y1"]);
    assert_eq!(s.n_traj, 1);
    assert_same(&s.y, &[1.0, 0.0, 0.9, -0.5, NAN, -1.0, 0.25, -2.0, -1.0, 0.5]);
}

#[test]
fn npz_fortran_order_float32_and_integer_times() {
    let s = Series::load(&fixture("fortran.npz")).unwrap();
    assert_eq!(s.t, vec![0.0, 1.0, 3.0, 4.0, 10.0]);
    let single = [1.0, 0.0, 0.9, -0.5, NAN, -1.0, 0.25, -2.0, -1.0, 0.5];
    let as_f32: Vec<f64> = single.iter().map(|&v| f64::from(v as f32)).collect();
    assert_same(&s.y, &as_f32);
}

#[test]
fn npz_many_trajectories() {
    // y[b, i, j] = 100 b + 10 i + j, except y[1, 2, 0] = NaN.
    let s = Series::from_npz_bytes(&std::fs::read(fixture("multi.npz")).unwrap(), "multi.npz").unwrap();
    assert_eq!((s.n_traj, s.n_times(), s.n_cols()), (3, 5, 2));
    for b in 0..3 {
        for i in 0..5 {
            for j in 0..2 {
                let v = s.value(b, i, j);
                if (b, i, j) == (1, 2, 0) {
                    assert!(v.is_nan());
                } else {
                    assert_eq!(v, (100 * b + 10 * i + j) as f64, "[{b}, {i}, {j}]");
                }
            }
        }
    }
}

#[test]
fn npz_shape_mismatch() {
    let (err, msg) = load_err("bad_shape.npz");
    assert_eq!((err.kind, err.array.map(|a| a.name())), (DataErrorKind::Shape, Some("y")));
    assert!(msg.contains("bad_shape.npz, array `y`: `y` has shape [2, 4, 3] but `t` has shape [5]"), "{msg}");
}

#[test]
fn npz_decreasing_times_name_the_entry() {
    let (err, msg) = load_err("decreasing_t.npz");
    assert_eq!((err.kind, err.row, err.array.map(|a| a.name())), (DataErrorKind::TimeOrder, Some(3), Some("t")));
    assert!(msg.contains("decreasing_t.npz, entry 3 of `t`: time 0.75 is not after the previous time 1"), "{msg}");
}

#[test]
fn npz_missing_array_lists_those_present() {
    let (err, msg) = load_err("missing_y.npz");
    assert_eq!(err.kind, DataErrorKind::Shape);
    assert!(msg.contains("no array `y` in the archive (it holds `t`, `x`)"), "{msg}");
}

#[test]
fn npz_column_missing_in_every_trajectory() {
    let (err, msg) = load_err("all_nan.npz");
    assert_eq!((err.kind, err.column.as_deref()), (DataErrorKind::EmptyColumn, Some("y1")));
    assert!(msg.contains("column `y1` has no values: it is missing at every time of every trajectory"), "{msg}");
}

#[test]
fn npz_not_an_archive() {
    let err = Series::from_npz_bytes(b"t,x\n0,1\n", "fake.npz").unwrap_err();
    assert_eq!(err.kind, DataErrorKind::Format);
    assert!(err.to_string().starts_with("fake.npz: not a .npz (zip) archive"), "{err}");
}

#[test]
fn npz_written_by_the_runtime_with_one_dimensional_y_and_bad_t() {
    let dir = std::env::temp_dir().join(format!("nde-data-npz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ours.npz");
    let write = |t: Vec<f64>, t_shape: Vec<usize>, y: Vec<f64>, y_shape: Vec<usize>| {
        write_npz(&path, &[Array::new("t", t_shape, t), Array::new("y", y_shape, y)]).unwrap();
        Series::load(&path)
    };
    let s = write(vec![0.0, 1.0, 2.0], vec![3], vec![5.0, NAN, 7.0], vec![3]).unwrap();
    assert_eq!(s.columns, vec!["y0"]);
    assert_same(&s.y, &[5.0, NAN, 7.0]);

    let err = write(vec![0.0, NAN], vec![2], vec![1.0, 2.0], vec![2, 1]).unwrap_err();
    assert_eq!((err.kind, err.row), (DataErrorKind::BadTime, Some(1)));
    assert!(err.to_string().contains("ours.npz, entry 1 of `t`: the time is missing"), "{err}");

    let err = write(vec![0.0, 1.0], vec![1, 2], vec![1.0, 2.0], vec![2, 1]).unwrap_err();
    assert_eq!((err.kind, err.array.map(|a| a.name())), (DataErrorKind::Shape, Some("t")));

    let err = write(vec![], vec![0], vec![], vec![0, 1]).unwrap_err();
    assert_eq!(err.kind, DataErrorKind::Empty);

    let err = write(vec![0.0, 1.0], vec![2], vec![1.0, f64::INFINITY], vec![2, 1]).unwrap_err();
    assert_eq!((err.kind, err.array.map(|a| a.name())), (DataErrorKind::BadValue, Some("y")));
    assert!(err.to_string().contains("(trajectory 0, time index 1)"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn npz_per_trajectory_fields() {
    let dir = std::env::temp_dir().join(format!("nde-data-fields-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("labelled.npz");
    // 3 trajectories of 2 times: `label` [3, 2] and `weight` [3] are fields,
    // `grid` [2] (not one per trajectory) and `cube` [3, 1, 1] are not.
    let write = |label: Vec<f64>| {
        let arrays = [
            Array::new("t", vec![2], vec![0.0, 1.0]),
            Array::new("y", vec![3, 2, 1], vec![1.0, 2.0, 3.0, NAN, 5.0, 6.0]),
            Array::new("label", vec![3, 2], label),
            Array::new("weight", vec![3], vec![0.5, 1.0, 2.0]),
            Array::new("grid", vec![2], vec![0.0, 1.0]),
            Array::new("cube", vec![3, 1, 1], vec![1.0, 2.0, 3.0]),
        ];
        write_npz(&path, &arrays).unwrap();
        Series::load(&path)
    };
    let s = write(vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0]).unwrap();
    let names: Vec<&str> = s.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["label", "weight"]);
    let label = s.field("label").unwrap();
    assert_eq!((label.width, label.of(1)), (Some(2), &[0.0, 1.0][..]));
    let weight = s.field("weight").unwrap();
    assert_eq!((weight.width, weight.len(), weight.of(2)), (None, 1, &[2.0][..]));
    let one = s.trajectory(1);
    assert_eq!(one.fields[0].values, [0.0, 1.0]);
    assert_eq!(one.fields[1].values, [1.0]);

    let err = write(vec![1.0, 0.0, 0.0, NAN, 1.0, 0.0]).unwrap_err();
    assert_eq!((err.kind, err.row, err.array), (DataErrorKind::BadValue, Some(3), Some(DataArray::Field)));
    assert_eq!(err.column.as_deref(), Some("label"));
    assert!(err.to_string().contains("labelled.npz, entry 3 of `label`: value NaN of trajectory 1"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------- values, round trip, windows

fn awkward() -> Series {
    let t = vec![-1.5, 0.0, 1e-300, 0.1 + 0.2, 7.0, 1e10];
    let y = vec![0.1, NAN, -0.0, 1e-310, 3.0, 2.0 / 3.0, NAN, f64::MAX, -1e300, 0.5, 1234.5678 * 1e-7, NAN];
    Series::from_values(t, vec!["x".into(), "speed".into()], 1, y).unwrap()
}

#[test]
fn csv_text_round_trips_every_bit() {
    let s = awkward();
    let text = s.to_csv_text();
    let back = Series::from_csv_text(&text, "round.csv").unwrap();
    assert_eq!(back.columns, s.columns);
    assert_eq!(back.n_traj, 1);
    assert_eq!(bits(&back.t), bits(&s.t));
    // NaN is written as `nan` and read back as the canonical NaN.
    assert_eq!(bits(&back.y), bits(&s.y));
}

#[test]
fn csv_text_golden() {
    let s = Series::from_values(vec![0.0, 0.5], vec!["x".into(), "y".into()], 1, vec![1.0, NAN, -2.5, 0.1]).unwrap();
    assert_eq!(s.to_csv_text(), "t,x,y\n0.0,1.0,nan\n0.5,-2.5,0.1\n");
}

#[test]
fn windows_and_trajectories() {
    let s = Series::load(&fixture("multi.npz")).unwrap();
    let (y, t) = s.window(2, 1, 3);
    assert_eq!(t, vec![0.1, 0.35, 1.0]);
    assert_eq!(y, vec![210.0, 211.0, 220.0, 221.0, 230.0, 231.0]);
    let (y, t) = s.window(0, 4, 1);
    assert_eq!((y, t), (vec![40.0, 41.0], vec![2.5]));
    let (y, t) = s.window(1, 5, 0);
    assert!(y.is_empty() && t.is_empty());

    let one = s.trajectory(1);
    assert_eq!((one.n_traj, one.n_times(), one.n_cols()), (1, 5, 2));
    assert_same(&one.y, &[100.0, 101.0, 110.0, 111.0, NAN, 121.0, 130.0, 131.0, 140.0, 141.0]);
    let back = Series::from_csv_text(&one.to_csv_text(), "one.csv").unwrap();
    assert_eq!(bits(&back.y), bits(&one.y));
}

#[test]
fn from_values_validates_like_the_readers() {
    let cols = || vec!["a".to_string()];
    let err = Series::from_values(vec![0.0, 1.0], cols(), 2, vec![1.0; 3]).unwrap_err();
    assert_eq!(err.kind, DataErrorKind::Shape);
    assert!(err.to_string().contains("3 values, expected 2 trajectories × 2 times × 1 columns = 4"), "{err}");

    let err = Series::from_values(vec![0.0, 2.0, 1.0], cols(), 1, vec![1.0; 3]).unwrap_err();
    assert_eq!(err.to_string(), "<values>, entry 2 of `t`: time 1 is not after the previous time 2 (hint: times must be strictly increasing: sort the rows by time)");

    let err = Series::from_values(vec![0.0, 1.0], cols(), 2, vec![NAN; 4]).unwrap_err();
    assert_eq!((err.kind, err.column.as_deref()), (DataErrorKind::EmptyColumn, Some("a")));

    let err = Series::from_values(vec![0.0], vec!["a".into(), "a".into()], 1, vec![1.0, 2.0]).unwrap_err();
    assert_eq!(err.kind, DataErrorKind::Header);
    let err = Series::from_values(vec![0.0], vec!["a,b".into()], 1, vec![1.0]).unwrap_err();
    assert_eq!(err.kind, DataErrorKind::Header);
    let err = Series::from_values(vec![0.0], vec![], 1, vec![]).unwrap_err();
    assert_eq!(err.kind, DataErrorKind::Header);
    let err = Series::from_values(vec![], cols(), 1, vec![]).unwrap_err();
    assert_eq!(err.kind, DataErrorKind::Empty);
    let err = Series::from_values(vec![0.0], cols(), 0, vec![]).unwrap_err();
    assert_eq!(err.kind, DataErrorKind::Empty);
    let err = Series::from_values(vec![0.0], cols(), usize::MAX, vec![1.0]).unwrap_err();
    assert_eq!(err.kind, DataErrorKind::Shape);
}
