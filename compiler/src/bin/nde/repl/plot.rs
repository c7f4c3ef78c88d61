//! `:plot FILE.svg|png`: a solution (or the training loss) drawn to a file
//! with plotters, written whole or not at all.
//!
//! SVG has a caption, axis labels and a legend; PNG has the same lines and
//! grid but no text (no font is bundled, and plotters' bitmap backend draws
//! text only through one). Never prints.

use std::error::Error;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

/// A named column of values.
pub type Series = (String, Vec<f64>);

/// What to draw: series against a shared x axis.
pub struct Figure<'a> {
    pub title: &'a str,
    pub x_name: &'a str,
    pub x: &'a [f64],
    pub series: &'a [Series],
}

const SIZE: (u32, u32) = (800, 480);

/// Writes `fig` to `path`, as SVG or PNG by its extension.
pub fn save(path: &Path, fig: &Figure) -> Result<(), Box<dyn Error>> {
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
    let bytes = match ext.as_deref() {
        Some("svg") => {
            let mut svg = String::new();
            draw(SVGBackend::with_string(&mut svg, SIZE).into_drawing_area(), fig, true)?;
            svg.into_bytes()
        }
        Some("png") => {
            let mut rgb = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
            draw(BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area(), fig, false)?;
            encode_png(&rgb)?
        }
        _ => return Err(format!("{}: plots are written as .svg or .png", path.display()).into()),
    };
    nde_runtime::io::write_atomic(path, |f| std::io::Write::write_all(f, &bytes))?;
    Ok(())
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, fig: &Figure, text: bool) -> Result<(), Box<dyn Error>>
where
    DB::ErrorType: 'static,
{
    let finite = |v: &&f64| v.is_finite();
    let fold = |it: &mut dyn Iterator<Item = &f64>| {
        it.filter(finite).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)))
    };
    let (x0, x1) = fold(&mut fig.x.iter());
    let (y0, y1) = fold(&mut fig.series.iter().flat_map(|(_, y)| y.iter()));
    if !(x0.is_finite() && y0.is_finite()) {
        return Err("nothing to plot: no finite values".into());
    }
    let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
    let pad = ((y1 - y0) * 0.05).max(1e-12);
    root.fill(&WHITE)?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(12);
    if text {
        builder.caption(fig.title, ("sans-serif", 20)).x_label_area_size(40).y_label_area_size(70);
    }
    let mut chart = builder.build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc(fig.x_name).draw()?;
    } else {
        mesh.disable_x_axis().disable_y_axis().draw()?;
    }
    for (k, (name, ys)) in fig.series.iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        let points = fig.x.iter().zip(ys).filter(|(a, b)| a.is_finite() && b.is_finite()).map(|(&a, &b)| (a, b));
        let line = chart.draw_series(LineSeries::new(points, color.stroke_width(2)))?;
        if text {
            line.label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
    }
    if text && !fig.series.is_empty() {
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    }
    root.present()?;
    Ok(())
}

fn encode_png(rgb: &[u8]) -> Result<Vec<u8>, Box<dyn Error>> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, SIZE.0, SIZE.1);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(rgb)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_svg_and_png() {
        let dir = std::env::temp_dir().join(format!("nde-repl-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let x = [0.0, 1.0, 2.0];
        let series = [("x".to_string(), vec![1.0, 0.5, 0.25])];
        let fig = Figure { title: "m", x_name: "t", x: &x, series: &series };
        save(&dir.join("a.svg"), &fig).unwrap();
        let svg = std::fs::read_to_string(dir.join("a.svg")).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("polyline"), "{svg}");
        save(&dir.join("a.png"), &fig).unwrap();
        let png = std::fs::read(dir.join("a.png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert!(save(&dir.join("a.pdf"), &fig).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
