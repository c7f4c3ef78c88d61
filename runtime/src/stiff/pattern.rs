//! The structure of a sparse Jacobian and what is computed from it alone:
//! its check, its column view and a column colouring.
//!
//! Owns [`JacobianPattern`] (compressed sparse rows), [`PatternError`] and
//! [`Colouring`]. A colouring partitions the columns into groups that share
//! no row (Curtis, Powell & Reid 1974), so one directional derivative per
//! group — a JVP with the sum of the group's unit vectors — recovers every
//! structurally non-zero entry: for a tridiagonal pattern that is 3
//! directions whatever `n` is. Never evaluates a field and never touches
//! values.

use std::fmt;

/// Which entries of an `n × n` Jacobian can be non-zero: `rows` has `n + 1`
/// offsets into `cols`, and row `i`'s structurally non-zero columns are
/// `cols[rows[i]..rows[i + 1]]`, strictly increasing (compressed sparse
/// row). Values stored "in the pattern's order" follow `cols`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JacobianPattern {
    pub rows: Vec<usize>,
    pub cols: Vec<usize>,
}

/// Why a [`JacobianPattern`] does not describe an `n × n` matrix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PatternError {
    /// `rows` does not have `n + 1` entries starting at 0 and ending at
    /// `cols.len()`.
    Offsets { n: usize, rows: usize },
    /// Row `row`'s offsets decrease or run past the entries.
    Decreasing { row: usize },
    /// Row `row` names column `col`, which is `>= n` or not after the
    /// previous one.
    Column { row: usize, col: usize },
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatternError::Offsets { n, rows } => write!(
                f,
                "a Jacobian pattern for {n} states needs {} row offsets from 0 to the number of entries, got {rows}",
                n + 1
            ),
            PatternError::Decreasing { row } => write!(f, "the Jacobian pattern's row offsets decrease at row {row}"),
            PatternError::Column { row, col } => {
                write!(f, "row {row} of the Jacobian pattern has column {col} out of range or out of order")
            }
        }
    }
}

impl std::error::Error for PatternError {}

impl JacobianPattern {
    /// The pattern whose row `i` has the columns `rows[i]` (sorted and
    /// deduplicated here).
    pub fn from_rows(rows: &[Vec<usize>]) -> JacobianPattern {
        let mut offsets = Vec::with_capacity(rows.len() + 1);
        let mut cols = Vec::new();
        offsets.push(0);
        for r in rows {
            let start = cols.len();
            cols.extend_from_slice(r);
            cols[start..].sort_unstable();
            let mut w = start;
            for k in start..cols.len() {
                if w == start || cols[w - 1] != cols[k] {
                    cols[w] = cols[k];
                    w += 1;
                }
            }
            cols.truncate(w);
            offsets.push(cols.len());
        }
        JacobianPattern { rows: offsets, cols }
    }

    /// Every entry of an `n × n` matrix.
    pub fn dense(n: usize) -> JacobianPattern {
        JacobianPattern { rows: (0..=n).map(|i| i * n).collect(), cols: (0..n * n).map(|k| k % n).collect() }
    }

    /// Number of rows.
    pub fn n(&self) -> usize {
        self.rows.len().saturating_sub(1)
    }

    /// Number of structurally non-zero entries.
    pub fn nnz(&self) -> usize {
        self.cols.len()
    }

    /// The columns of row `i`.
    pub fn row(&self, i: usize) -> &[usize] {
        &self.cols[self.rows[i]..self.rows[i + 1]]
    }

    /// Whether entry `(i, j)` is in the pattern.
    pub fn contains(&self, i: usize, j: usize) -> bool {
        self.row(i).binary_search(&j).is_ok()
    }

    /// Checks that this is a pattern of an `n × n` matrix.
    pub fn validate(&self, n: usize) -> Result<(), PatternError> {
        if self.rows.len() != n + 1 || self.rows[0] != 0 || self.rows[n] != self.cols.len() {
            return Err(PatternError::Offsets { n, rows: self.rows.len() });
        }
        for i in 0..n {
            if self.rows[i + 1] < self.rows[i] || self.rows[i + 1] > self.cols.len() {
                return Err(PatternError::Decreasing { row: i });
            }
            let mut prev = None;
            for &col in self.row(i) {
                if col >= n || prev.is_some_and(|p| col <= p) {
                    return Err(PatternError::Column { row: i, col });
                }
                prev = Some(col);
            }
        }
        Ok(())
    }

    /// The column view: for each column `j`, the `(row, position in cols)`
    /// of its entries, by increasing row; `offsets` has `n + 1` entries.
    pub fn columns(&self, n_cols: usize) -> ColumnView {
        let mut offsets = vec![0usize; n_cols + 1];
        for &c in &self.cols {
            offsets[c + 1] += 1;
        }
        for j in 0..n_cols {
            offsets[j + 1] += offsets[j];
        }
        let mut next = offsets.clone();
        let mut entries = vec![(0usize, 0usize); self.cols.len()];
        for i in 0..self.n() {
            for k in self.rows[i]..self.rows[i + 1] {
                let c = self.cols[k];
                entries[next[c]] = (i, k);
                next[c] += 1;
            }
        }
        ColumnView { offsets, entries }
    }

    /// A greedy Curtis–Powell–Reid colouring of the columns (of an `n`-column
    /// matrix): columns are taken in order and each gets the smallest colour
    /// not used by a column sharing a row with it. Two columns of one
    /// colour never share a row.
    pub fn colouring(&self, n_cols: usize) -> Colouring {
        let by_col = self.columns(n_cols);
        let mut colour = vec![u32::MAX; n_cols];
        // `mark[c] == j + 1`: colour `c` is taken by a neighbour of column `j`.
        let mut mark: Vec<usize> = Vec::new();
        let mut n_colours = 0u32;
        for j in 0..n_cols {
            for &(row, _) in by_col.column(j) {
                for &k in self.row(row) {
                    let c = colour[k];
                    if c != u32::MAX {
                        mark[c as usize] = j + 1;
                    }
                }
            }
            let c = (0..n_colours).find(|&c| mark[c as usize] != j + 1).unwrap_or(n_colours);
            if c == n_colours {
                n_colours += 1;
                mark.push(0);
            }
            colour[j] = c;
        }
        Colouring { colour, n_colours: n_colours as usize }
    }
}

/// A pattern seen by columns (see [`JacobianPattern::columns`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnView {
    pub offsets: Vec<usize>,
    /// `(row, position of the entry in the pattern's cols)`.
    pub entries: Vec<(usize, usize)>,
}

impl ColumnView {
    /// The entries of column `j`.
    pub fn column(&self, j: usize) -> &[(usize, usize)] {
        &self.entries[self.offsets[j]..self.offsets[j + 1]]
    }
}

/// A partition of the columns into groups that share no row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Colouring {
    /// The colour of each column, `< n_colours`.
    pub colour: Vec<u32>,
    pub n_colours: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tridiagonal(n: usize) -> JacobianPattern {
        let rows: Vec<Vec<usize>> = (0..n).map(|i| (i.saturating_sub(1)..(i + 2).min(n)).collect()).collect();
        JacobianPattern::from_rows(&rows)
    }

    #[test]
    fn a_tridiagonal_pattern_takes_three_colours_at_any_size() {
        for n in [3, 10, 1000] {
            let p = tridiagonal(n);
            p.validate(n).unwrap();
            assert_eq!(p.nnz(), 3 * n - 2);
            let c = p.colouring(n);
            assert_eq!(c.n_colours, 3, "n = {n}");
            assert_valid_colouring(&p, &c);
        }
    }

    fn assert_valid_colouring(p: &JacobianPattern, c: &Colouring) {
        for i in 0..p.n() {
            let row = p.row(i);
            for (a, &j) in row.iter().enumerate() {
                for &k in &row[a + 1..] {
                    assert_ne!(c.colour[j], c.colour[k], "columns {j} and {k} share row {i}");
                }
            }
        }
    }

    #[test]
    fn dense_patterns_need_one_colour_per_column_and_arrowheads_are_valid() {
        let d = JacobianPattern::dense(5);
        d.validate(5).unwrap();
        assert_eq!(d.colouring(5).n_colours, 5);
        // Arrowhead: row 0 and column 0 full, plus the diagonal.
        let n = 20;
        let rows: Vec<Vec<usize>> = (0..n).map(|i| if i == 0 { (0..n).collect() } else { vec![0, i] }).collect();
        let p = JacobianPattern::from_rows(&rows);
        let c = p.colouring(n);
        assert_valid_colouring(&p, &c);
        assert_eq!(c.n_colours, n);
    }

    #[test]
    fn from_rows_sorts_and_deduplicates_and_columns_invert_rows() {
        let p = JacobianPattern::from_rows(&[vec![2, 0, 2], vec![], vec![1]]);
        assert_eq!(p, JacobianPattern { rows: vec![0, 2, 2, 3], cols: vec![0, 2, 1] });
        assert!(p.contains(0, 2) && !p.contains(1, 1));
        let v = p.columns(3);
        assert_eq!(v.column(0), &[(0, 0)]);
        assert_eq!(v.column(1), &[(2, 2)]);
        assert_eq!(v.column(2), &[(0, 1)]);
    }

    #[test]
    fn malformed_patterns_are_errors() {
        let p = JacobianPattern { rows: vec![0, 1], cols: vec![0] };
        assert_eq!(p.validate(2), Err(PatternError::Offsets { n: 2, rows: 2 }));
        let p = JacobianPattern { rows: vec![0, 2, 2], cols: vec![1, 0] };
        assert_eq!(p.validate(2), Err(PatternError::Column { row: 0, col: 0 }));
        let p = JacobianPattern { rows: vec![0, 1, 2], cols: vec![0, 2] };
        assert_eq!(p.validate(2), Err(PatternError::Column { row: 1, col: 2 }));
        let p = JacobianPattern { rows: vec![0, 2, 1, 2], cols: vec![0, 1] };
        assert!(p.validate(3).is_err());
        assert!(PatternError::Column { row: 1, col: 2 }.to_string().contains("row 1"));
    }
}
