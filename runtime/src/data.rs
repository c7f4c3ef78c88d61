//! Observation data for training: the `data NAME = load("file.csv" | "file.npz")`
//! of the nde language, read into a validated [`Series`].
//!
//! Owns [`Series`] (trajectories sharing one strictly increasing time grid,
//! NaN marking a missing value, and per-trajectory [`Field`]s such as class
//! labels), its CSV and `.npz` readers, its CSV writer,
//! and [`DataError`], whose message names the file and the line (CSV) or the
//! entry of an array (`.npz`) at fault, with a hint on how to fix it.
//!
//! Never: print, panic on the contents of a file, or accept a series that
//! breaks its invariants (times finite and strictly increasing, at least one
//! time, value column and trajectory, every value column observed at least
//! once, values finite or NaN). Out-of-range indices passed to the accessors
//! ([`Series::value`], [`Series::window`]) are caller bugs and panic.

use std::collections::HashSet;
use std::fmt;
use std::io::{self, Read};
use std::path::Path;

/// Observations: `n_traj` trajectories sharing the time grid `t`.
///
/// Invariants (checked by every constructor): `t` is non-empty, finite and
/// strictly increasing; `columns` is non-empty with distinct, non-empty
/// names; `n_traj >= 1`; `y` holds `n_traj * t.len() * columns.len()`
/// values, each finite or NaN (missing); no column is missing everywhere;
/// every [`Field`] has `n_traj` rows of finite values.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Observation times, strictly increasing.
    pub t: Vec<f64>,
    /// Names of the value columns (CSV header; `y0, y1, …` for `.npz`).
    pub columns: Vec<String>,
    /// Number of trajectories sharing the time grid.
    pub n_traj: usize,
    /// Values, row-major `[n_traj][t.len()][columns.len()]`; NaN = missing.
    pub y: Vec<f64>,
    /// Per-trajectory values (`.npz` only, see [`Field`]), in archive order.
    pub fields: Vec<Field>,
}

/// A per-trajectory value of a data set: in an `.npz` archive, an array
/// other than `t` and `y` of shape `[B]` (one number per trajectory) or
/// `[B, k]` (`k` numbers per trajectory), `B` the number of trajectories,
/// e.g. one-hot class labels `label: [B, 2]`. Every value is finite: a
/// field has no missing values.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// The array's name in the archive.
    pub name: String,
    /// `None` for a `[B]` array (a scalar per trajectory), `Some(k)` for `[B, k]`.
    pub width: Option<usize>,
    /// Row-major `[B][k]` (`[B]` for a scalar field).
    pub values: Vec<f64>,
}

impl Field {
    /// Numbers per trajectory: `k`, or 1 for a scalar field.
    pub fn len(&self) -> usize {
        self.width.unwrap_or(1)
    }

    /// Whether a trajectory's value is empty (a `[B, 0]` array).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Trajectory `traj`'s value. Panics if `traj` is out of range.
    pub fn of(&self, traj: usize) -> &[f64] {
        let k = self.len();
        &self.values[traj * k..(traj + 1) * k]
    }
}

/// What kind of problem a [`DataError`] reports, for callers that react to
/// some kinds differently (the message already says it all for people).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataErrorKind {
    /// The file does not exist.
    NotFound,
    /// The file could not be read (permissions, not UTF-8, ...).
    Unreadable,
    /// The file's extension is neither `.csv` nor `.npz`.
    Extension,
    /// No header, no data rows, or an empty array.
    Empty,
    /// The header is unusable: an empty or duplicate column name, or no
    /// value column after the time column.
    Header,
    /// A CSV row has a different number of cells from the header.
    Ragged,
    /// A cell is not a number, or a value is infinite.
    BadValue,
    /// A time is missing (empty / NaN) or infinite.
    BadTime,
    /// A time is not after the previous one.
    TimeOrder,
    /// A value column has no observation at all.
    EmptyColumn,
    /// `.npz` arrays are missing or have shapes that do not fit together,
    /// or values passed to [`Series::from_values`] have the wrong length.
    Shape,
    /// The `.npz` archive or one of its arrays cannot be decoded.
    Format,
}

/// The arrays of an observation `.npz` archive (also the names used for
/// [`Series::from_values`]'s arguments in errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataArray {
    /// `t`: the times, shape `[T]`.
    T,
    /// `y`: the values, shape `[T, m]` or `[B, T, m]`.
    Y,
    /// A per-trajectory [`Field`]; its name is the error's `column`.
    Field,
}

impl DataArray {
    /// The array's name in the archive: `t` or `y` (`field` for a field,
    /// whose own name is the error's `column`).
    pub fn name(self) -> &'static str {
        match self {
            DataArray::T => "t",
            DataArray::Y => "y",
            DataArray::Field => "field",
        }
    }
}

impl fmt::Display for DataArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why observation data could not be loaded, and where in the file.
///
/// Displayed as ``file.csv, line 7, column `x`: message (hint: ...)``, each
/// part present only when known; for `.npz` files and
/// [`Series::from_values`] the place reads ``entry 3 of `t` `` (or
/// ``array `y` ``) instead of a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataError {
    /// The kind of problem.
    pub kind: DataErrorKind,
    /// The file as given by the caller (`<values>` for [`Series::from_values`]).
    pub file: String,
    /// For CSV, the 1-based line number in the file (comment and blank lines
    /// count). When the `array` field is set, the 0-based entry of that array.
    pub row: Option<usize>,
    /// The column at fault, by name.
    pub column: Option<String>,
    /// The array that `row` indexes, or that is at fault (`.npz`, values).
    pub array: Option<DataArray>,
    /// What is wrong, without the place.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl DataError {
    fn new(kind: DataErrorKind, file: &str, message: impl Into<String>) -> DataError {
        DataError {
            kind,
            file: file.to_string(),
            row: None,
            column: None,
            array: None,
            message: message.into(),
            hint: None,
        }
    }

    fn line(mut self, line: usize) -> DataError {
        self.row = Some(line);
        self
    }

    fn entry(mut self, array: DataArray, index: usize) -> DataError {
        self.array = Some(array);
        self.row = Some(index);
        self
    }

    fn array(mut self, array: DataArray) -> DataError {
        self.array = Some(array);
        self
    }

    fn column(mut self, name: &str) -> DataError {
        self.column = Some(name.to_string());
        self
    }

    fn hint(mut self, hint: &str) -> DataError {
        self.hint = Some(hint.to_string());
        self
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        match (&self.array, self.row) {
            (Some(DataArray::Field), Some(i)) => {
                write!(f, ", entry {i} of `{}`", self.column.as_deref().unwrap_or("?"))?;
                return write!(f, ": {}", self.message).and_then(|_| match &self.hint {
                    Some(hint) => write!(f, " (hint: {hint})"),
                    None => Ok(()),
                });
            }
            (Some(array), Some(i)) => write!(f, ", entry {i} of `{array}`")?,
            (Some(array), None) => write!(f, ", array `{array}`")?,
            (None, Some(line)) => write!(f, ", line {line}")?,
            (None, None) => {}
        }
        if let Some(column) = &self.column {
            write!(f, ", column `{column}`")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for DataError {}

const MISSING_HINT: &str = "write a missing value as an empty cell, `nan` or `NA`";
const ORDER_HINT: &str = "times must be strictly increasing: sort the rows by time";
const DUPLICATE_HINT: &str = "times must be strictly increasing: merge the rows that share a time";
const NPZ_HINT: &str = "save times as `t` [T] and values as `y` [T, m] or [B, T, m], e.g. numpy.savez(path, t=t, y=y)";

/// Where the `i`-th time of a series came from, for error messages.
#[derive(Clone, Copy)]
enum Rows<'a> {
    /// CSV: the 1-based line number of each data row.
    Lines(&'a [usize]),
    /// `.npz` or values: entry `i` of the array `t`.
    Entries,
}

impl Rows<'_> {
    fn place(self, err: DataError, i: usize) -> DataError {
        match self {
            Rows::Lines(lines) => err.line(lines[i]),
            Rows::Entries => err.entry(DataArray::T, i),
        }
    }
}

impl Series {
    /// Parses CSV text: a header line (time column first, any name, then the
    /// value columns), then one row per time. Cells are trimmed; empty cells,
    /// `nan` (any case) and `NA` are missing values; `#` comment lines and
    /// blank lines are skipped. `file` is used only in error messages.
    pub fn from_csv_text(text: &str, file: &str) -> Result<Series, DataError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
        let Some((header_line, header)) = lines.next() else {
            return Err(DataError::new(DataErrorKind::Empty, file, "the file is empty: expected a header line")
                .hint("start the file with a header such as `t,x,y`"));
        };
        let names = parse_header(header, header_line, file)?;
        let columns = names[1..].to_vec();
        let width = names.len();
        let mut t = Vec::new();
        let mut values = Vec::new();
        let mut row_lines = Vec::new();
        for (line, text) in lines {
            let cells: Vec<&str> = text.split(',').map(str::trim).collect();
            if cells.len() != width {
                return Err(DataError::new(
                    DataErrorKind::Ragged,
                    file,
                    format!("line {line} has {} cells, the header (line {header_line}) has {width}", cells.len()),
                )
                .line(line)
                .hint("every row needs one cell per column; leave a cell empty for a missing value"));
            }
            t.push(parse_time(cells[0], &names[0], line, file)?);
            for (cell, name) in cells[1..].iter().zip(&columns) {
                values.push(parse_value(cell, name, line, file)?);
            }
            row_lines.push(line);
        }
        if t.is_empty() {
            return Err(DataError::new(DataErrorKind::Empty, file, "the file has a header but no data rows")
                .line(header_line)
                .hint("add one row per observation time below the header"));
        }
        validate(t, columns, 1, values, file, Rows::Lines(&row_lines))
    }

    /// Parses a numpy `.npz` archive: `t` of shape `[T]` and `y` of shape
    /// `[T, m]` (one trajectory), `[B, T, m]` (`B` trajectories) or `[T]`
    /// (one column). Columns are named `y0 … y{m-1}`. Every other array of
    /// shape `[B]` or `[B, k]` (`B` trajectories) is a [`Field`]; a field
    /// value that is NaN or infinite is an error naming the array and the
    /// trajectory. Arrays of other shapes are ignored. float64, float32 and
    /// integer arrays are accepted, in C or Fortran order. `file` is used
    /// only in error messages.
    pub fn from_npz_bytes(bytes: &[u8], file: &str) -> Result<Series, DataError> {
        let (t_shape, t) = read_npz_array(bytes, DataArray::T.name(), file)?;
        let (y_shape, y) = read_npz_array(bytes, DataArray::Y.name(), file)?;
        let shape_err =
            |message: String| DataError::new(DataErrorKind::Shape, file, message).array(DataArray::Y).hint(NPZ_HINT);
        if t_shape.len() != 1 {
            return Err(DataError::new(
                DataErrorKind::Shape,
                file,
                format!("`t` has shape {t_shape:?}; expected a 1-D array of times"),
            )
            .array(DataArray::T)
            .hint(NPZ_HINT));
        }
        let n = t_shape[0];
        if n == 0 {
            return Err(DataError::new(DataErrorKind::Empty, file, "`t` is empty: expected at least one time")
                .array(DataArray::T)
                .hint(NPZ_HINT));
        }
        let (n_traj, m) = match y_shape[..] {
            [tn] if tn == n => (1, 1),
            [tn, m] if tn == n => (1, m),
            [b, tn, m] if tn == n => (b, m),
            [..] if (1..=3).contains(&y_shape.len()) => {
                return Err(shape_err(format!(
                    "`y` has shape {y_shape:?} but `t` has shape [{n}]: expected `y` of shape [{n}, m] or [B, {n}, m]"
                )))
            }
            _ => {
                return Err(shape_err(format!(
                    "`y` has shape {y_shape:?} (rank {}): expected [{n}, m] or [B, {n}, m]",
                    y_shape.len()
                )))
            }
        };
        if m == 0 {
            return Err(DataError::new(
                DataErrorKind::Header,
                file,
                format!("`y` has shape {y_shape:?}: no value columns"),
            )
            .array(DataArray::Y)
            .hint(NPZ_HINT));
        }
        if n_traj == 0 {
            return Err(DataError::new(
                DataErrorKind::Empty,
                file,
                format!("`y` has shape {y_shape:?}: no trajectories"),
            )
            .array(DataArray::Y)
            .hint(NPZ_HINT));
        }
        let columns = (0..m).map(|j| format!("y{j}")).collect();
        let mut series = validate(t, columns, n_traj, y, file, Rows::Entries)?;
        series.fields = read_fields(bytes, n_traj, file)?;
        Ok(series)
    }

    /// The field called `name`, if any.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Reads a `.csv` or `.npz` file, chosen by the extension (in any case).
    pub fn load(path: &Path) -> Result<Series, DataError> {
        let file = path.display().to_string();
        let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
        let csv = match ext.as_deref() {
            Some("csv") => true,
            Some("npz") => false,
            Some(other) => {
                return Err(DataError::new(
                    DataErrorKind::Extension,
                    &file,
                    format!("unsupported extension `.{other}`: expected `.csv` or `.npz`"),
                )
                .hint("save the observations as CSV with a header, or with numpy.savez"))
            }
            None => {
                return Err(DataError::new(
                    DataErrorKind::Extension,
                    &file,
                    "the file name has no extension: expected `.csv` or `.npz`",
                )
                .hint("save the observations as CSV with a header, or with numpy.savez"))
            }
        };
        let bytes = std::fs::read(path).map_err(|e| read_error(&file, &e))?;
        if !csv {
            return Series::from_npz_bytes(&bytes, &file);
        }
        match std::str::from_utf8(&bytes) {
            Ok(text) => Series::from_csv_text(text, &file),
            Err(e) => {
                let line = 1 + bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count();
                Err(DataError::new(DataErrorKind::Unreadable, &file, "the text is not valid UTF-8")
                    .line(line)
                    .hint("save the file as UTF-8 text"))
            }
        }
    }

    /// Checks values built in memory (generated data) with the same rules
    /// as the readers; `y` is row-major `[n_traj][t.len()][columns.len()]`.
    pub fn from_values(t: Vec<f64>, columns: Vec<String>, n_traj: usize, y: Vec<f64>) -> Result<Series, DataError> {
        const FILE: &str = "<values>";
        if t.is_empty() {
            return Err(DataError::new(DataErrorKind::Empty, FILE, "no times").array(DataArray::T));
        }
        if n_traj == 0 {
            return Err(DataError::new(DataErrorKind::Empty, FILE, "no trajectories"));
        }
        if columns.is_empty() {
            return Err(DataError::new(DataErrorKind::Header, FILE, "no value columns"));
        }
        let mut seen = HashSet::new();
        for name in &columns {
            if name.is_empty() || name.trim() != name || name.contains([',', '\n', '\r']) {
                return Err(DataError::new(
                    DataErrorKind::Header,
                    FILE,
                    format!("column name `{name}` is empty, padded or holds a comma or line break"),
                ));
            }
            if !seen.insert(name.as_str()) {
                return Err(DataError::new(DataErrorKind::Header, FILE, "the column name appears twice").column(name));
            }
        }
        let expected = n_traj.checked_mul(t.len()).and_then(|k| k.checked_mul(columns.len()));
        if expected != Some(y.len()) {
            let expected = expected.map_or("more than fit in memory".to_string(), |e| e.to_string());
            return Err(DataError::new(
                DataErrorKind::Shape,
                FILE,
                format!(
                    "{} values, expected {n_traj} trajectories × {} times × {} columns = {expected}",
                    y.len(),
                    t.len(),
                    columns.len()
                ),
            )
            .array(DataArray::Y));
        }
        validate(t, columns, n_traj, y, FILE, Rows::Entries)
    }

    /// Number of observation times.
    pub fn n_times(&self) -> usize {
        self.t.len()
    }

    /// Number of value columns.
    pub fn n_cols(&self) -> usize {
        self.columns.len()
    }

    /// The value of column `col` at time index `time` of trajectory `traj`
    /// (NaN if missing). Panics if an index is out of range.
    pub fn value(&self, traj: usize, time: usize, col: usize) -> f64 {
        assert!(traj < self.n_traj && time < self.n_times() && col < self.n_cols(), "index out of range");
        self.y[(traj * self.n_times() + time) * self.n_cols() + col]
    }

    /// Rows `time_start..time_start + len` of trajectory `traj`: the values,
    /// row-major `[len][n_cols]` (a copy), and the matching times. Panics if
    /// the window does not lie inside the series.
    pub fn window(&self, traj: usize, time_start: usize, len: usize) -> (Vec<f64>, Vec<f64>) {
        let end = time_start.checked_add(len).expect("window end overflows");
        assert!(traj < self.n_traj && end <= self.n_times(), "window out of range");
        let m = self.n_cols();
        let base = traj * self.n_times() * m;
        (self.y[base + time_start * m..base + end * m].to_vec(), self.t[time_start..end].to_vec())
    }

    /// Trajectory `traj` alone, as a series of one trajectory. Panics if
    /// `traj >= n_traj`.
    pub fn trajectory(&self, traj: usize) -> Series {
        let (y, t) = self.window(traj, 0, self.n_times());
        let fields = self
            .fields
            .iter()
            .map(|f| Field { name: f.name.clone(), width: f.width, values: f.of(traj).to_vec() })
            .collect();
        Series { t, columns: self.columns.clone(), n_traj: 1, y, fields }
    }

    /// CSV text of trajectory 0 (the only one of a single-trajectory
    /// series): a header `t,<columns>`, then one row per time. Numbers are
    /// written in Rust's shortest round-trip form and missing values as
    /// `nan`, so [`Series::from_csv_text`] reads back the same bits. Write a
    /// batch one trajectory per file with [`Series::trajectory`].
    pub fn to_csv_text(&self) -> String {
        let mut out = String::from("t");
        for name in &self.columns {
            out.push(',');
            out.push_str(name);
        }
        out.push('\n');
        let m = self.n_cols();
        for (i, &t) in self.t.iter().enumerate() {
            out.push_str(&format!("{t:?}"));
            for &v in &self.y[i * m..(i + 1) * m] {
                if v.is_nan() {
                    out.push_str(",nan");
                } else {
                    out.push_str(&format!(",{v:?}"));
                }
            }
            out.push('\n');
        }
        out
    }
}

// ---------------------------------------------------------------- validation

/// Checks the invariants that the layout does not already guarantee: times
/// finite and strictly increasing, values finite or NaN, no all-NaN column.
fn validate(
    t: Vec<f64>,
    columns: Vec<String>,
    n_traj: usize,
    y: Vec<f64>,
    file: &str,
    rows: Rows<'_>,
) -> Result<Series, DataError> {
    for (i, &ti) in t.iter().enumerate() {
        if ti.is_nan() {
            return Err(rows
                .place(DataError::new(DataErrorKind::BadTime, file, "the time is missing"), i)
                .hint("every observation needs a time; drop rows without one"));
        }
        if !ti.is_finite() {
            return Err(rows
                .place(DataError::new(DataErrorKind::BadTime, file, format!("time {ti} is not finite")), i)
                .hint("times must be finite numbers"));
        }
        if i > 0 && ti <= t[i - 1] {
            let hint = if ti == t[i - 1] { DUPLICATE_HINT } else { ORDER_HINT };
            let message = format!("time {ti} is not after the previous time {}", t[i - 1]);
            return Err(rows.place(DataError::new(DataErrorKind::TimeOrder, file, message), i).hint(hint));
        }
    }
    let (n, m) = (t.len(), columns.len());
    if let Some(k) = y.iter().position(|v| v.is_infinite()) {
        let (b, i, j) = (k / (n * m), k / m % n, k % m);
        let err = DataError::new(DataErrorKind::BadValue, file, format!("value {} is not finite", y[k]))
            .column(&columns[j])
            .hint("values must be finite numbers; use NaN for a missing value");
        return Err(match rows {
            Rows::Lines(_) => rows.place(err, i),
            Rows::Entries => {
                let err = err.array(DataArray::Y);
                DataError { message: format!("{} (trajectory {b}, time index {i})", err.message), ..err }
            }
        });
    }
    for (j, name) in columns.iter().enumerate() {
        if y.iter().skip(j).step_by(m).all(|v| v.is_nan()) {
            let place = if n_traj > 1 { "at every time of every trajectory" } else { "at every time" };
            return Err(DataError::new(
                DataErrorKind::EmptyColumn,
                file,
                format!("column `{name}` has no values: it is missing {place}"),
            )
            .column(name)
            .hint("remove the column, or give it at least one observation"));
        }
    }
    Ok(Series { t, columns, n_traj, y, fields: Vec::new() })
}

// ---------------------------------------------------------------- csv

/// Splits and checks the header: at least two columns, names non-empty and
/// distinct.
fn parse_header(header: &str, line: usize, file: &str) -> Result<Vec<String>, DataError> {
    let names: Vec<String> = header.split(',').map(|c| c.trim().trim_matches('"').trim().to_string()).collect();
    let mut seen = HashSet::new();
    for (j, name) in names.iter().enumerate() {
        if name.is_empty() {
            return Err(DataError::new(
                DataErrorKind::Header,
                file,
                format!("header cell {} has no column name", j + 1),
            )
            .line(line)
            .hint("name every column, and remove any trailing comma"));
        }
        if !seen.insert(name.as_str()) {
            return Err(DataError::new(DataErrorKind::Header, file, "the column name appears twice in the header")
                .line(line)
                .column(name)
                .hint("give every column a distinct name"));
        }
    }
    if names.len() < 2 {
        return Err(DataError::new(
            DataErrorKind::Header,
            file,
            format!("no value columns: the header names only the time column `{}`", names[0]),
        )
        .line(line)
        .hint("the first column is time; add value columns after it, e.g. `t,x`"));
    }
    Ok(names)
}

fn is_missing(cell: &str) -> bool {
    cell.is_empty() || cell.eq_ignore_ascii_case("nan") || cell == "NA"
}

fn parse_number(cell: &str, column: &str, line: usize, file: &str) -> Result<f64, DataError> {
    cell.parse::<f64>().map_err(|_| {
        DataError::new(DataErrorKind::BadValue, file, format!("`{cell}` is not a number"))
            .line(line)
            .column(column)
            .hint(MISSING_HINT)
    })
}

/// A time cell: a missing time is an error here, where the line is known.
fn parse_time(cell: &str, column: &str, line: usize, file: &str) -> Result<f64, DataError> {
    if is_missing(cell) {
        return Err(DataError::new(DataErrorKind::BadTime, file, "the time is missing")
            .line(line)
            .column(column)
            .hint("every row needs a time in the first column; drop rows without one"));
    }
    parse_number(cell, column, line, file)
}

fn parse_value(cell: &str, column: &str, line: usize, file: &str) -> Result<f64, DataError> {
    if is_missing(cell) {
        return Ok(f64::NAN);
    }
    parse_number(cell, column, line, file)
}

// ---------------------------------------------------------------- npz

fn read_error(file: &str, e: &io::Error) -> DataError {
    if e.kind() == io::ErrorKind::NotFound {
        DataError::new(DataErrorKind::NotFound, file, "no such file")
            .hint("check the path; a relative path is resolved from the working directory")
    } else {
        DataError::new(DataErrorKind::Unreadable, file, format!("cannot read the file: {e}"))
    }
}

/// Reads array `name` of an `.npz` archive as `(shape, row-major f64
/// values)`; a missing array is an error listing the arrays there are.
fn read_npz_array(bytes: &[u8], name: &str, file: &str) -> Result<(Vec<usize>, Vec<f64>), DataError> {
    let format_err = |message: String| {
        DataError::new(DataErrorKind::Format, file, message)
            .hint("write the file with numpy.savez or numpy.savez_compressed")
    };
    let mut zip = zip::ZipArchive::new(io::Cursor::new(bytes))
        .map_err(|e| format_err(format!("not a .npz (zip) archive: {e}")))?;
    let mut present = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| format_err(format!("corrupt archive entry: {e}")))?;
        let entry_name = entry.name().map_err(|e| format_err(format!("corrupt archive entry: {e}")))?.to_string();
        let Some(array) = entry_name.strip_suffix(".npy") else { continue };
        if array != name {
            present.push(format!("`{array}`"));
            continue;
        }
        let mut npy = Vec::new();
        entry.read_to_end(&mut npy).map_err(|e| format_err(format!("array `{name}`: {e}")))?;
        return parse_npy(&npy, name, file);
    }
    let there = if present.is_empty() { "no arrays".to_string() } else { present.join(", ") };
    Err(at_array(
        DataError::new(DataErrorKind::Shape, file, format!("no array `{name}` in the archive (it holds {there})")),
        name,
    )
    .hint(NPZ_HINT))
}

/// `err` placed at the array `name`: `t`, `y` or a field (named in `column`).
fn at_array(err: DataError, name: &str) -> DataError {
    match name {
        "t" => err.array(DataArray::T),
        "y" => err.array(DataArray::Y),
        field => err.array(DataArray::Field).column(field),
    }
}

/// The names of the arrays of an `.npz` archive, in archive order.
fn npz_array_names(bytes: &[u8], file: &str) -> Result<Vec<String>, DataError> {
    let format_err = |message: String| {
        DataError::new(DataErrorKind::Format, file, message)
            .hint("write the file with numpy.savez or numpy.savez_compressed")
    };
    let mut zip = zip::ZipArchive::new(io::Cursor::new(bytes))
        .map_err(|e| format_err(format!("not a .npz (zip) archive: {e}")))?;
    let mut names = Vec::new();
    for i in 0..zip.len() {
        let entry = zip.by_index(i).map_err(|e| format_err(format!("corrupt archive entry: {e}")))?;
        let entry_name = entry.name().map_err(|e| format_err(format!("corrupt archive entry: {e}")))?;
        if let Some(array) = entry_name.strip_suffix(".npy") {
            names.push(array.to_string());
        }
    }
    Ok(names)
}

/// The [`Field`]s of an archive with `n_traj` trajectories: every array
/// besides `t` and `y` of shape `[n_traj]` or `[n_traj, k]`, each value finite.
fn read_fields(bytes: &[u8], n_traj: usize, file: &str) -> Result<Vec<Field>, DataError> {
    let mut fields = Vec::new();
    for name in npz_array_names(bytes, file)? {
        if name == "t" || name == "y" {
            continue;
        }
        let (shape, values) = read_npz_array(bytes, &name, file)?;
        let width = match shape[..] {
            [b] if b == n_traj => None,
            [b, k] if b == n_traj => Some(k),
            _ => continue,
        };
        let field = Field { name, width, values };
        if let Some(i) = field.values.iter().position(|v| !v.is_finite()) {
            let traj = i / field.len().max(1);
            return Err(DataError::new(
                DataErrorKind::BadValue,
                file,
                format!(
                    "value {} of trajectory {traj} is not finite: a per-trajectory field has no missing values",
                    field.values[i]
                ),
            )
            .entry(DataArray::Field, i)
            .column(&field.name)
            .hint("give every trajectory a finite value (e.g. a one-hot label), or drop the trajectory"));
        }
        fields.push(field);
    }
    Ok(fields)
}

fn parse_npy(bytes: &[u8], name: &str, file: &str) -> Result<(Vec<usize>, Vec<f64>), DataError> {
    let bad = |e: io::Error| {
        at_array(DataError::new(DataErrorKind::Format, file, format!("cannot decode the array: {e}")), name)
            .hint("write the file with numpy.savez or numpy.savez_compressed")
    };
    let npy = npyz::NpyFile::new(bytes).map_err(bad)?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let fortran = npy.order() == npyz::Order::Fortran;
    let descr = npy.dtype().descr();
    let data: Vec<f64> = match descr.trim_matches('\'').trim_start_matches(['<', '>', '|', '=']) {
        "f8" => npy.into_vec::<f64>().map_err(bad)?,
        "f4" => npy.into_vec::<f32>().map_err(bad)?.into_iter().map(f64::from).collect(),
        "i8" => npy.into_vec::<i64>().map_err(bad)?.into_iter().map(|x| x as f64).collect(),
        "i4" => npy.into_vec::<i32>().map_err(bad)?.into_iter().map(f64::from).collect(),
        other => {
            let message = format!("dtype {other} is not supported: expected float64, float32 or an integer type");
            return Err(at_array(DataError::new(DataErrorKind::Format, file, message), name)
                .hint("convert the array with .astype(numpy.float64) before saving"));
        }
    };
    let data = if fortran { fortran_to_c(&data, &shape) } else { data };
    Ok((shape, data))
}

/// Reorders a Fortran-ordered (column-major) array of any rank to row-major.
fn fortran_to_c(data: &[f64], shape: &[usize]) -> Vec<f64> {
    let mut out = Vec::with_capacity(data.len());
    let mut index = vec![0usize; shape.len()];
    for _ in 0..data.len() {
        let (mut offset, mut stride) = (0, 1);
        for (&i, &d) in index.iter().zip(shape) {
            offset += i * stride;
            stride *= d;
        }
        out.push(data[offset]);
        // Advance the row-major multi-index (last axis fastest).
        for axis in (0..shape.len()).rev() {
            index[axis] += 1;
            if index[axis] < shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}
