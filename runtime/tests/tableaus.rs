//! Butcher tableaus check themselves, satisfy the order conditions of
//! their stated order, and `Method` parses and describes itself.

use nde_runtime::solver::tableau::{Tableau, TableauError, ALL};
use nde_runtime::Method;

#[test]
fn every_tableau_passes_check() {
    for t in ALL {
        t.check().unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn check_catches_broken_tableaus() {
    let row_sum = Tableau {
        name: "bad-row",
        c: &[0.0, 0.5],
        a: &[&[], &[0.4]],
        b: &[0.0, 1.0],
        b_err: None,
        fsal: false,
        order: 2,
    };
    assert!(matches!(row_sum.check(), Err(TableauError::RowSum { row: 1, .. })));
    let weights = Tableau {
        name: "bad-b",
        c: &[0.0, 0.5],
        a: &[&[], &[0.5]],
        b: &[0.1, 1.0],
        b_err: None,
        fsal: false,
        order: 2,
    };
    assert!(matches!(weights.check(), Err(TableauError::WeightSum { .. })));
    let err = Tableau {
        name: "bad-e",
        c: &[0.0, 1.0],
        a: &[&[], &[1.0]],
        b: &[0.5, 0.5],
        b_err: Some(&[0.5, 0.4]),
        fsal: false,
        order: 2,
    };
    assert!(matches!(err.check(), Err(TableauError::ErrorWeightSum { .. })));
    let fsal = Tableau {
        name: "bad-fsal",
        c: &[0.0, 1.0],
        a: &[&[], &[1.0]],
        b: &[0.5, 0.5],
        b_err: None,
        fsal: true,
        order: 2,
    };
    assert!(matches!(fsal.check(), Err(TableauError::Fsal { .. })));
    let shape = Tableau {
        name: "bad-shape",
        c: &[0.0, 1.0],
        a: &[&[], &[]],
        b: &[0.5, 0.5],
        b_err: None,
        fsal: false,
        order: 2,
    };
    assert!(matches!(shape.check(), Err(TableauError::Shape { .. })));
    // Messages name the tableau.
    assert!(row_sum.check().unwrap_err().to_string().contains("bad-row"));
}

/// Dense lower-triangular `a` (s×s).
fn dense_a(t: &Tableau) -> Vec<Vec<f64>> {
    let s = t.stages();
    t.a.iter().map(|row| (0..s).map(|j| row.get(j).copied().unwrap_or(0.0)).collect()).collect()
}

fn mat_vec(a: &[Vec<f64>], v: &[f64]) -> Vec<f64> {
    a.iter().map(|row| row.iter().zip(v).map(|(x, y)| x * y).sum()).collect()
}

fn dot(b: &[f64], v: &[f64]) -> f64 {
    b.iter().zip(v).map(|(x, y)| x * y).sum()
}

fn mul(u: &[f64], v: &[f64]) -> Vec<f64> {
    u.iter().zip(v).map(|(x, y)| x * y).collect()
}

/// Residuals of the 17 rooted-tree order conditions up to order 5 for
/// weights `b`, grouped by order: `res[p-1]` is the largest residual of
/// order `p`.
fn order_residuals(t: &Tableau, b: &[f64]) -> [f64; 5] {
    let a = dense_a(t);
    let c = t.c.to_vec();
    let ones = vec![1.0; c.len()];
    let c2 = mul(&c, &c);
    let c3 = mul(&c2, &c);
    let c4 = mul(&c3, &c);
    let ac = mat_vec(&a, &c);
    let ac2 = mat_vec(&a, &c2);
    let ac3 = mat_vec(&a, &c3);
    let aac = mat_vec(&a, &ac);
    let aac2 = mat_vec(&a, &ac2);
    let aaac = mat_vec(&a, &aac);
    let a_cac = mat_vec(&a, &mul(&c, &ac));
    let conds: [(usize, f64, f64); 17] = [
        (1, dot(b, &ones), 1.0),
        (2, dot(b, &c), 1.0 / 2.0),
        (3, dot(b, &c2), 1.0 / 3.0),
        (3, dot(b, &ac), 1.0 / 6.0),
        (4, dot(b, &c3), 1.0 / 4.0),
        (4, dot(b, &mul(&c, &ac)), 1.0 / 8.0),
        (4, dot(b, &ac2), 1.0 / 12.0),
        (4, dot(b, &aac), 1.0 / 24.0),
        (5, dot(b, &c4), 1.0 / 5.0),
        (5, dot(b, &mul(&c2, &ac)), 1.0 / 10.0),
        (5, dot(b, &mul(&c, &ac2)), 1.0 / 15.0),
        (5, dot(b, &mul(&c, &aac)), 1.0 / 30.0),
        (5, dot(b, &mul(&ac, &ac)), 1.0 / 20.0),
        (5, dot(b, &ac3), 1.0 / 20.0),
        (5, dot(b, &a_cac), 1.0 / 40.0),
        (5, dot(b, &aac2), 1.0 / 60.0),
        (5, dot(b, &aaac), 1.0 / 120.0),
    ];
    let mut res = [0.0f64; 5];
    for (p, got, want) in conds {
        res[p - 1] = res[p - 1].max((got - want).abs());
    }
    res
}

#[test]
fn weights_have_their_stated_order() {
    for t in ALL {
        let res = order_residuals(t, t.b);
        let p = t.order as usize;
        for (i, r) in res.iter().enumerate().take(p) {
            assert!(*r < 1e-14, "{}: order-{} condition residual {r:e}", t.name, i + 1);
        }
        if p < 5 {
            assert!(res[p] > 1e-6, "{}: satisfies order {} too (residual {:e})", t.name, p + 1, res[p]);
        }
    }
}

#[test]
fn embedded_weights_have_order_one_less() {
    for t in ALL {
        let Some(e) = t.b_err else { continue };
        let bhat: Vec<f64> = t.b.iter().zip(e).map(|(b, e)| b - e).collect();
        let res = order_residuals(t, &bhat);
        let p = t.order as usize;
        for (i, r) in res.iter().enumerate().take(p - 1) {
            assert!(*r < 1e-14, "{} b̂: order-{} residual {r:e}", t.name, i + 1);
        }
        assert!(res[p - 1] > 1e-5, "{} b̂ satisfies order {p} (residual {:e})", t.name, res[p - 1]);
    }
}

#[test]
fn methods_parse_and_describe_themselves() {
    let names: Vec<_> = Method::all().iter().map(|m| m.name()).collect();
    assert_eq!(names, ["euler", "midpoint", "heun", "rk4", "bosh3", "dopri5", "tsit5"]);
    for &m in Method::all() {
        assert_eq!(m.name().parse::<Method>(), Ok(m));
        assert_eq!(m.to_string(), m.name());
        assert_eq!(m.order(), m.tableau().order);
    }
    assert_eq!("Tsit5".parse::<Method>(), Ok(Method::Tsit5));
    let adaptive: Vec<_> = Method::all().iter().filter(|m| m.is_adaptive()).map(|m| m.name()).collect();
    assert_eq!(adaptive, ["bosh3", "dopri5", "tsit5"]);
    let orders: Vec<_> = Method::all().iter().map(|m| m.order()).collect();
    assert_eq!(orders, [1, 2, 2, 4, 3, 5, 5]);
    let err = "rk45".parse::<Method>().unwrap_err();
    assert_eq!(err.name, "rk45");
    assert_eq!(err.known.len(), 7);
    assert_eq!(
        err.to_string(),
        "unknown solver `rk45`; known solvers: euler, midpoint, heun, rk4, bosh3, dopri5, tsit5"
    );
}
