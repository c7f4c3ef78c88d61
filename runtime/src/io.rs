//! Array files: numpy-compatible `.npz` archives and CSV with a header row,
//! read into flat row-major `f64` arrays and written whole or not at all
//! (a temporary file in the target's folder, then a rename).
//!
//! Never: interpret what the arrays mean (that is the caller's job), or
//! leave a half-written file behind.

use std::fmt;
use std::fs;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use npyz::WriterBuilder;

/// A named array: shape and row-major values.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl Array {
    pub fn new(name: impl Into<String>, shape: Vec<usize>, data: Vec<f64>) -> Array {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Array { name: name.into(), shape, data }
    }
}

/// What can go wrong reading or writing array files.
#[derive(Debug)]
pub enum IoError {
    NotFound {
        path: PathBuf,
    },
    Io {
        path: PathBuf,
        source: io::Error,
    },
    /// The file exists but its contents are not what the format requires.
    Format {
        path: PathBuf,
        message: String,
    },
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IoError::NotFound { path } => write!(f, "{}: no such file", path.display()),
            IoError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            IoError::Format { path, message } => write!(f, "{}: {message}", path.display()),
        }
    }
}

impl std::error::Error for IoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IoError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_err(path: &Path, source: io::Error) -> IoError {
    if source.kind() == io::ErrorKind::NotFound {
        IoError::NotFound { path: path.to_path_buf() }
    } else {
        IoError::Io { path: path.to_path_buf(), source }
    }
}

fn format_err(path: &Path, message: impl Into<String>) -> IoError {
    IoError::Format { path: path.to_path_buf(), message: message.into() }
}

/// Writes a file atomically: `write` fills a temporary file beside `path`,
/// which is then renamed over it. On any error the temporary is removed and
/// `path` is untouched.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut fs::File) -> io::Result<()>) -> Result<(), IoError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| format_err(path, "not a file name"))?;
    let tmp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        write(&mut file)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(path, e));
    }
    Ok(())
}

// ---------------------------------------------------------------- npz

/// Reads every array of a numpy `.npz` archive (`numpy.savez` or
/// `savez_compressed`), converting float32 and integer arrays to `f64` and
/// Fortran-ordered arrays to row-major.
pub fn read_npz(path: &Path) -> Result<Vec<Array>, IoError> {
    let file = fs::File::open(path).map_err(|e| io_err(path, e))?;
    let mut zip = zip::ZipArchive::new(io::BufReader::new(file))
        .map_err(|e| format_err(path, format!("not a .npz (zip) archive: {e}")))?;
    let mut arrays = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| format_err(path, format!("corrupt archive entry: {e}")))?;
        let entry_name = entry.name().map_err(|e| format_err(path, format!("corrupt archive entry: {e}")))?.to_string();
        let Some(name) = entry_name.strip_suffix(".npy") else { continue };
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut bytes).map_err(|e| io_err(path, e))?;
        arrays.push(parse_npy(path, name, &bytes)?);
    }
    Ok(arrays)
}

/// Reads a single `.npy` file.
pub fn read_npy(path: &Path) -> Result<Array, IoError> {
    let bytes = fs::read(path).map_err(|e| io_err(path, e))?;
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    parse_npy(path, &name, &bytes)
}

fn parse_npy(path: &Path, name: &str, bytes: &[u8]) -> Result<Array, IoError> {
    let npy = npyz::NpyFile::new(bytes).map_err(|e| format_err(path, format!("array `{name}`: {e}")))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let fortran = npy.order() == npyz::Order::Fortran;
    let descr = npy.dtype().descr();
    let bad = |e: io::Error| format_err(path, format!("array `{name}`: {e}"));
    let data: Vec<f64> = match descr.trim_matches('\'').trim_start_matches(['<', '>', '|', '=']) {
        "f8" => npy.into_vec::<f64>().map_err(bad)?,
        "f4" => npy.into_vec::<f32>().map_err(bad)?.into_iter().map(f64::from).collect(),
        "i8" => npy.into_vec::<i64>().map_err(bad)?.into_iter().map(|x| x as f64).collect(),
        "i4" => npy.into_vec::<i32>().map_err(bad)?.into_iter().map(f64::from).collect(),
        other => {
            return Err(format_err(
                path,
                format!("array `{name}` has dtype {other}; expected float64, float32 or an integer type"),
            ))
        }
    };
    let data = if fortran && shape.len() == 2 { transpose(&data, shape[1], shape[0]) } else { data };
    if fortran && shape.len() > 2 {
        return Err(format_err(path, format!("array `{name}`: Fortran-ordered arrays of rank > 2 are not supported")));
    }
    Ok(Array { name: name.to_string(), shape, data })
}

/// `data` is `rows x cols` row-major; returns its transpose.
fn transpose(data: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut out = vec![0.0; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

/// Writes arrays as an uncompressed `.npz` that `numpy.load` reads, atomically.
pub fn write_npz(path: &Path, arrays: &[Array]) -> Result<(), IoError> {
    write_atomic(path, |file| write_npz_to(io::BufWriter::new(file), arrays))
}

fn write_npz_to<W: Write + Seek>(w: W, arrays: &[Array]) -> io::Result<()> {
    let mut zip = zip::ZipWriter::new(w);
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for a in arrays {
        zip.start_file(format!("{}.npy", a.name), options).map_err(io::Error::other)?;
        let shape: Vec<u64> = a.shape.iter().map(|&d| d as u64).collect();
        let mut writer = npyz::WriteOptions::<f64>::new().default_dtype().shape(&shape).writer(&mut zip).begin_nd()?;
        writer.extend(a.data.iter().copied())?;
        writer.finish()?;
    }
    zip.finish().map_err(io::Error::other)?.flush()
}

// ---------------------------------------------------------------- csv

/// A table read from CSV: column names and rows of numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    /// Row-major, `rows * columns.len()` values.
    pub data: Vec<f64>,
}

impl Table {
    pub fn rows(&self) -> usize {
        if self.columns.is_empty() {
            0
        } else {
            self.data.len() / self.columns.len()
        }
    }
}

/// Reads a CSV file with a header row of column names and numeric rows.
/// Empty cells and `nan`/`NaN` read as NaN (missing values); anything else
/// that is not a number is an error naming the line and column.
pub fn read_csv(path: &Path) -> Result<Table, IoError> {
    let text = fs::read_to_string(path).map_err(|e| io_err(path, e))?;
    parse_csv(path, &text)
}

fn parse_csv(path: &Path, text: &str) -> Result<Table, IoError> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or_else(|| format_err(path, "empty file: expected a header row"))?;
    let columns: Vec<String> = header.split(',').map(|c| c.trim().trim_matches('"').to_string()).collect();
    let mut data = Vec::new();
    for (i, line) in lines {
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != columns.len() {
            return Err(format_err(
                path,
                format!("line {}: {} values, but the header names {} columns", i + 1, cells.len(), columns.len()),
            ));
        }
        for (j, cell) in cells.iter().enumerate() {
            let cell = cell.trim();
            let v = if cell.is_empty() || cell.eq_ignore_ascii_case("nan") {
                f64::NAN
            } else {
                cell.parse::<f64>().map_err(|_| {
                    format_err(path, format!("line {}, column `{}`: `{cell}` is not a number", i + 1, columns[j]))
                })?
            };
            data.push(v);
        }
    }
    Ok(Table { columns, data })
}

/// Writes a CSV file with a header row, atomically. Numbers are written in
/// Rust's shortest round-trip form, so reading them back gives the same bits.
pub fn write_csv(path: &Path, table: &Table) -> Result<(), IoError> {
    write_atomic(path, |file| {
        let mut w = io::BufWriter::new(file);
        write_csv_to(&mut w, table)?;
        w.flush()
    })
}

/// Writes CSV text (header and rows) to any writer.
pub fn write_csv_to(w: &mut impl Write, table: &Table) -> io::Result<()> {
    writeln!(w, "{}", table.columns.join(","))?;
    if table.columns.is_empty() {
        return Ok(());
    }
    for row in table.data.chunks(table.columns.len()) {
        for (j, v) in row.iter().enumerate() {
            if j > 0 {
                w.write_all(b",")?;
            }
            write!(w, "{v:?}")?;
        }
        w.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nde-io-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn npz_round_trip_is_exact() {
        let path = tmp("a.npz");
        let arrays = vec![
            Array::new("f.W1", vec![2, 3], vec![1.0, -2.5, 3.25, 0.1, 1e-300, f64::MAX]),
            Array::new("s", vec![], vec![std::f64::consts::PI]),
        ];
        write_npz(&path, &arrays).unwrap();
        assert_eq!(read_npz(&path).unwrap(), arrays);
    }

    #[test]
    fn reads_the_shared_bench_weights() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/mlp_weights.npz");
        if !path.exists() {
            return; // the shared folder sits beside the repository in CI and development
        }
        let arrays = read_npz(&path).unwrap();
        let w1 = arrays.iter().find(|a| a.name == "W1").unwrap();
        assert_eq!(w1.shape, vec![64, 2]);
    }

    #[test]
    fn csv_round_trip_and_missing_values() {
        let path = tmp("a.csv");
        let table = Table { columns: vec!["t".into(), "x".into()], data: vec![0.0, 1.0, 0.5, 0.1 + 0.2] };
        write_csv(&path, &table).unwrap();
        assert_eq!(read_csv(&path).unwrap(), table);
        let parsed = parse_csv(&path, "t,x\n0,\n1,nan\n").unwrap();
        assert!(parsed.data[1].is_nan() && parsed.data[3].is_nan());
    }

    #[test]
    fn csv_errors_name_the_line() {
        let p = Path::new("x.csv");
        let e = parse_csv(p, "t,x\n0,1\n1,2,3\n").unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
        let e = parse_csv(p, "t,x\n0,abc\n").unwrap_err().to_string();
        assert!(e.contains("`abc` is not a number"), "{e}");
        assert!(matches!(read_csv(Path::new("/nonexistent/x.csv")), Err(IoError::NotFound { .. })));
    }

    #[test]
    fn failed_write_leaves_no_file() {
        let path = tmp("never.csv");
        let r = write_atomic(&path, |_| Err(io::Error::other("boom")));
        assert!(r.is_err());
        assert!(!path.exists());
        let leftovers = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains("never.csv"));
        assert_eq!(leftovers.count(), 0);
    }
}
