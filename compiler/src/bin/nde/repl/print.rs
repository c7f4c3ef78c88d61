//! Text the REPL shows: tensors with their shape, aligned tables, and
//! terminal plots of a solution.
//!
//! Pure formatting: every function returns a `String` and touches no
//! terminal, so the output is the same on a terminal and in a pipe.

use nde_compiler::ir::infix::number;
use nde_compiler::ir::Shape;

/// Vectors longer than this (and matrices with more rows or columns) show their ends only.
const ELIDE: usize = 20;
/// Elements kept at each end of an elided axis.
const KEEP: usize = 8;

/// A value with its shape: `[2, 3] f64`, then the elements (a scalar on
/// its own line, a vector as a list, a matrix as aligned rows).
pub fn value(shape: Shape, v: &[f64]) -> String {
    let mut out = format!("{shape} f64\n");
    match shape.dims() {
        [] => out.push_str(&number(v.first().copied().unwrap_or(f64::NAN))),
        [_] => {
            let cells = elide(v.iter().map(|&x| number(x)).collect());
            out.push_str(&format!("[{}]", cells.join(", ")));
        }
        [_, n] => {
            let n = (*n as usize).max(1);
            let rows: Vec<Vec<String>> = v.chunks(n).map(|r| elide(r.iter().map(|&x| number(x)).collect())).collect();
            let rows = elide_rows(rows);
            out.push_str(&table(&rows, &[]));
            out.truncate(out.trim_end().len());
        }
        _ => out.push_str(&format!("{v:?}")),
    }
    out
}

/// The first and last [`KEEP`] items of a long list, with `…` between.
fn elide(items: Vec<String>) -> Vec<String> {
    if items.len() <= ELIDE {
        return items;
    }
    let mut out: Vec<String> = items[..KEEP].to_vec();
    out.push("…".into());
    out.extend_from_slice(&items[items.len() - KEEP..]);
    out
}

fn elide_rows(rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    if rows.len() <= ELIDE {
        return rows;
    }
    let width = rows[0].len();
    let mut out: Vec<Vec<String>> = rows[..KEEP].to_vec();
    out.push(vec!["⋮".to_string(); width]);
    out.extend_from_slice(&rows[rows.len() - KEEP..]);
    out
}

/// Rows of cells, each column right-aligned (left-aligned for the columns
/// listed in `left`), two spaces apart, one line per row.
pub fn table(rows: &[Vec<String>], left: &[usize]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> =
        (0..cols).map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, s)| {
                let pad = " ".repeat(width[c] - s.chars().count());
                if left.contains(&c) {
                    format!("{s}{pad}")
                } else {
                    format!("{pad}{s}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// A number to six significant digits (`12.3457`, `-0.00123457`, `1.23457e+08`).
pub fn short(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        return number(v);
    }
    let a = v.abs();
    if (1e-4..1e6).contains(&a) {
        let decimals = (5 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.decimals$}");
        let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
        if s == "-0" {
            "0".into()
        } else {
            s
        }
    } else {
        format!("{v:.5e}")
    }
}

/// Markers of the series of a terminal plot, in order.
const MARKERS: &[char] = &['*', '+', 'o', 'x', '#', '@', '%', '&', '=', '~'];

/// A plot of `series` against `x` in `width × height` character cells,
/// each series drawn with its own marker, with the y range on the left,
/// the x range below and a legend.
pub fn text_plot(x_name: &str, x: &[f64], series: &[(String, Vec<f64>)], width: usize, height: usize) -> String {
    let (width, height) = (width.max(8), height.max(4));
    let finite = |v: &&f64| v.is_finite();
    let range = |vals: &mut dyn Iterator<Item = &f64>| {
        vals.filter(finite).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)))
    };
    let (x0, x1) = range(&mut x.iter());
    let (mut y0, mut y1) = range(&mut series.iter().flat_map(|(_, ys)| ys.iter()));
    if !(x0.is_finite() && y0.is_finite()) {
        return "nothing to plot: no finite values\n".into();
    }
    if y1 - y0 <= f64::EPSILON * y0.abs().max(1.0) {
        (y0, y1) = (y0 - 1.0, y1 + 1.0);
    }
    let col = |v: f64| {
        if x1 > x0 {
            ((v - x0) / (x1 - x0) * (width - 1) as f64).round() as i64
        } else {
            0
        }
    };
    let row = |v: f64| ((y1 - v) / (y1 - y0) * (height - 1) as f64).round() as i64;
    let mut grid = vec![vec![' '; width]; height];
    for (k, (_, ys)) in series.iter().enumerate() {
        let mark = MARKERS[k % MARKERS.len()];
        let points: Vec<(i64, i64)> =
            x.iter().zip(ys).filter(|(a, b)| a.is_finite() && b.is_finite()).map(|(&a, &b)| (col(a), row(b))).collect();
        let mut put = |c: i64, r: i64| {
            if (0..width as i64).contains(&c) && (0..height as i64).contains(&r) {
                grid[r as usize][c as usize] = mark;
            }
        };
        if let [(c, r)] = points[..] {
            put(c, r);
        }
        for pair in points.windows(2) {
            let ((c0, r0), (c1, r1)) = (pair[0], pair[1]);
            let steps = (c1 - c0).abs().max((r1 - r0).abs()).max(1);
            for s in 0..=steps {
                let f = s as f64 / steps as f64;
                put(c0 + ((c1 - c0) as f64 * f).round() as i64, r0 + ((r1 - r0) as f64 * f).round() as i64);
            }
        }
    }
    let (top, bottom) = (short(y1), short(y0));
    let label = top.len().max(bottom.len());
    let mut out = String::new();
    for (r, line) in grid.iter().enumerate() {
        let tag = match r {
            0 => top.clone(),
            _ if r == height - 1 => bottom.clone(),
            _ => String::new(),
        };
        let line: String = line.iter().collect();
        out.push_str(&format!("{tag:>label$} |{}\n", line.trim_end()));
    }
    out.push_str(&format!("{} +{}\n", " ".repeat(label), "-".repeat(width)));
    let (left, right) = (short(x0), short(x1));
    let gap = width.saturating_sub(left.len() + right.len() + x_name.len()) / 2;
    out.push_str(&format!(
        "{}  {left}{}{x_name}{}{right}\n",
        " ".repeat(label),
        " ".repeat(gap),
        " ".repeat(width.saturating_sub(left.len() + right.len() + x_name.len() + gap))
    ));
    let legend: Vec<String> =
        series.iter().enumerate().map(|(k, (name, _))| format!("{} {name}", MARKERS[k % MARKERS.len()])).collect();
    out.push_str(&format!("{}  {}\n", " ".repeat(label), legend.join("   ")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_with_their_shape() {
        assert_eq!(value(Shape::scalar(), &[3.0]), "[] f64\n3");
        assert_eq!(value(Shape::vector(3), &[1.0, 0.5, -2.0]), "[3] f64\n[1, 0.5, -2]");
        assert_eq!(value(Shape::matrix(2, 2), &[1.0, 20.0, 300.0, 4.0]), "[2, 2] f64\n  1  20\n300   4");
        let long: Vec<f64> = (0..30).map(f64::from).collect();
        let text = value(Shape::vector(30), &long);
        assert!(text.contains("7, …, 22"), "{text}");
    }

    #[test]
    fn short_numbers_keep_six_digits() {
        assert_eq!(short(12.345678), "12.3457");
        assert_eq!(short(-0.00123456789), "-0.00123457");
        assert_eq!(short(2.0), "2");
        assert_eq!(short(1.5e8), "1.50000e8");
        assert_eq!(short(0.0), "0");
    }

    #[test]
    fn plots_mark_each_series_and_label_the_ranges() {
        let x: Vec<f64> = (0..11).map(f64::from).collect();
        let up: Vec<f64> = x.clone();
        let down: Vec<f64> = x.iter().map(|v| 10.0 - v).collect();
        let text = text_plot("t", &x, &[("up".into(), up), ("down".into(), down)], 21, 5);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 8, "{text}");
        assert!(lines[0].starts_with("10 |+") && lines[0].ends_with('*'), "{text}");
        assert!(lines[4].starts_with(" 0 |*") && lines[4].ends_with('+'), "{text}");
        assert!(lines[6].contains('0') && lines[6].contains("10") && lines[6].contains('t'), "{text}");
        assert!(lines[7].contains("* up") && lines[7].contains("+ down"), "{text}");
        assert!(text_plot("t", &[0.0], &[("x".into(), vec![f64::NAN])], 10, 4).starts_with("nothing"));
    }
}
