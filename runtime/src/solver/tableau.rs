//! Butcher tableaus of the explicit Runge–Kutta methods, as checked data.
//!
//! Owns [`Tableau`] and one `const` per method (`EULER` … `TSIT5`), with
//! coefficients to full `f64` precision: rational ones as fractions,
//! irrational ones (Tsit5) as the published decimal expansions, which the
//! compiler rounds correctly. [`Tableau::check`] verifies the consistency
//! conditions. Never steps or interpolates: that is `explicit_rk` and
//! `scheme`.
//!
//! Sources: design/ALGORITHMS.md §1.4; diffrax `_solver/{tsit5,dopri5,bosh3}.py`
//! for the error weights diffrax uses (for Dopri5 those are 2/3 of Hairer's
//! `b - b̂`: diffrax embeds Shampine's 4th-order solution, whose last weight is
//! 1/60, not Hairer's 1/40; ALGORITHMS.md's golden error 7.8333e-4 is with
//! diffrax's weights, so we use them).

// The Tsit5 literals are copied digit for digit from the published tables;
// rustc rounds them correctly to f64, so the extra digits are harmless.
#![allow(clippy::excessive_precision)]

use std::fmt;

/// An explicit Runge–Kutta method: `c`, strictly lower-triangular `a`, `b`
/// and optionally the error weights `b_err = b - b̂`.
#[derive(Debug)]
pub struct Tableau {
    pub name: &'static str,
    /// Stage times, `c[0] == 0`.
    pub c: &'static [f64],
    /// Row `i` holds `a[i][0..i]` (row 0 is empty).
    pub a: &'static [&'static [f64]],
    /// Weights of the propagated solution.
    pub b: &'static [f64],
    /// `b - b̂`: weights of the local error estimate (adaptive methods).
    pub b_err: Option<&'static [f64]>,
    /// First same as last: the last stage is `f(t1, y1)` (its row of `a`
    /// equals `b`, and `c = 1`).
    pub fsal: bool,
    /// Order of the propagated solution.
    pub order: u32,
}

/// A consistency condition a [`Tableau`] violates.
#[derive(Clone, Debug, PartialEq)]
pub enum TableauError {
    /// The arrays have inconsistent lengths.
    Shape { tableau: &'static str, what: String },
    /// `Σ_j a[row][j] != c[row]`.
    RowSum { tableau: &'static str, row: usize, sum: f64, c: f64 },
    /// `Σ b != 1`.
    WeightSum { tableau: &'static str, sum: f64 },
    /// `Σ b_err != 0`.
    ErrorWeightSum { tableau: &'static str, sum: f64 },
    /// Marked FSAL but the last row of `a` is not `b` (or `c` is not 1).
    Fsal { tableau: &'static str },
}

impl fmt::Display for TableauError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableauError::Shape { tableau, what } => write!(f, "tableau {tableau}: {what}"),
            TableauError::RowSum { tableau, row, sum, c } => {
                write!(f, "tableau {tableau}: row {row} of a sums to {sum:e}, but c = {c:e}")
            }
            TableauError::WeightSum { tableau, sum } => {
                write!(f, "tableau {tableau}: b sums to {sum:e}, not 1")
            }
            TableauError::ErrorWeightSum { tableau, sum } => {
                write!(f, "tableau {tableau}: error weights sum to {sum:e}, not 0")
            }
            TableauError::Fsal { tableau } => {
                write!(f, "tableau {tableau}: marked FSAL but its last row of a is not b with c = 1")
            }
        }
    }
}

impl std::error::Error for TableauError {}

/// `|sum - target| <= 8 ulp of the magnitudes summed`.
fn close(sum: f64, target: f64, terms: &[f64]) -> bool {
    let scale = terms.iter().map(|v| v.abs()).sum::<f64>().max(target.abs()).max(1.0);
    (sum - target).abs() <= 8.0 * f64::EPSILON * scale
}

impl Tableau {
    /// Number of stages.
    pub const fn stages(&self) -> usize {
        self.c.len()
    }

    /// Order of the error estimate's exponent in the step-size controller:
    /// diffrax's `solver.order()` for ODEs (5 for Tsit5/Dopri5, 3 for Bosh3).
    pub const fn error_order(&self) -> u32 {
        self.order
    }

    /// Checks shapes, `Σ_j a_ij = c_i`, `Σ b = 1`, `Σ b_err = 0` and the
    /// FSAL property, all to a few ulp.
    pub fn check(&self) -> Result<(), TableauError> {
        let s = self.stages();
        let shape = |what: String| Err(TableauError::Shape { tableau: self.name, what });
        if s == 0 {
            return shape("no stages".into());
        }
        if self.a.len() != s || self.b.len() != s {
            return shape(format!("{s} stages but {} rows of a and {} weights", self.a.len(), self.b.len()));
        }
        if self.c[0] != 0.0 {
            return shape(format!("c[0] = {} (explicit methods start at c = 0)", self.c[0]));
        }
        for (i, row) in self.a.iter().enumerate() {
            if row.len() != i {
                return shape(format!("row {i} of a has {} entries, expected {i}", row.len()));
            }
            let sum: f64 = row.iter().sum();
            if i > 0 && !close(sum, self.c[i], row) {
                return Err(TableauError::RowSum { tableau: self.name, row: i, sum, c: self.c[i] });
            }
        }
        let sum: f64 = self.b.iter().sum();
        if !close(sum, 1.0, self.b) {
            return Err(TableauError::WeightSum { tableau: self.name, sum });
        }
        if let Some(e) = self.b_err {
            if e.len() != s {
                return shape(format!("{s} stages but {} error weights", e.len()));
            }
            let sum: f64 = e.iter().sum();
            if !close(sum, 0.0, e) {
                return Err(TableauError::ErrorWeightSum { tableau: self.name, sum });
            }
        }
        if self.fsal {
            let last = self.a[s - 1];
            if s < 2 || self.c[s - 1] != 1.0 || self.b[s - 1] != 0.0 || last != &self.b[..s - 1] {
                return Err(TableauError::Fsal { tableau: self.name });
            }
        }
        Ok(())
    }
}

/// Forward Euler, order 1.
pub const EULER: Tableau =
    Tableau { name: "euler", c: &[0.0], a: &[&[]], b: &[1.0], b_err: None, fsal: false, order: 1 };

/// Explicit midpoint, order 2.
pub const MIDPOINT: Tableau = Tableau {
    name: "midpoint",
    c: &[0.0, 1.0 / 2.0],
    a: &[&[], &[1.0 / 2.0]],
    b: &[0.0, 1.0],
    b_err: None,
    fsal: false,
    order: 2,
};

/// Heun's method (explicit trapezoidal rule), order 2.
pub const HEUN: Tableau = Tableau {
    name: "heun",
    c: &[0.0, 1.0],
    a: &[&[], &[1.0]],
    b: &[1.0 / 2.0, 1.0 / 2.0],
    b_err: None,
    fsal: false,
    order: 2,
};

/// The classical fourth-order Runge–Kutta method.
pub const RK4: Tableau = Tableau {
    name: "rk4",
    c: &[0.0, 1.0 / 2.0, 1.0 / 2.0, 1.0],
    a: &[&[], &[1.0 / 2.0], &[0.0, 1.0 / 2.0], &[0.0, 0.0, 1.0]],
    b: &[1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0],
    b_err: None,
    fsal: false,
    order: 4,
};

/// Bogacki–Shampine 3(2), FSAL.
pub const BOSH3: Tableau = Tableau {
    name: "bosh3",
    c: &[0.0, 1.0 / 2.0, 3.0 / 4.0, 1.0],
    a: &[&[], &[1.0 / 2.0], &[0.0, 3.0 / 4.0], &[2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0]],
    b: &[2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0, 0.0],
    // b - b̂ with b̂ = [7/24, 1/4, 1/3, 1/8], exactly.
    b_err: Some(&[-5.0 / 72.0, 1.0 / 12.0, 1.0 / 9.0, -1.0 / 8.0]),
    fsal: true,
    order: 3,
};

/// Dormand–Prince 5(4), FSAL, with diffrax's (Shampine's) error weights.
pub const DOPRI5: Tableau = Tableau {
    name: "dopri5",
    c: &[0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0],
    a: &[
        &[],
        &[1.0 / 5.0],
        &[3.0 / 40.0, 9.0 / 40.0],
        &[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
        &[19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0],
        &[9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0],
        &[35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0],
    ],
    b: &[35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0, 0.0],
    // b - b̂ with b̂ = [1951/21600, 0, 22642/50085, 451/720, -12231/42400,
    // 649/6300, 1/60] (diffrax dopri5.py), reduced exactly.
    b_err: Some(&[
        71.0 / 86400.0,
        0.0,
        -142.0 / 50085.0,
        71.0 / 2880.0,
        -5751.0 / 169600.0,
        44.0 / 1575.0,
        -1.0 / 60.0,
    ]),
    fsal: true,
    order: 5,
};

const TS_B: [f64; 7] = [
    0.09646076681806522951816731316512876333711995238157997181903319145764851595234062815396,
    0.01,
    0.4798896504144995747752495322905965199130404621990332488332634944254542060153074523509,
    1.379008574103741893192274821856872770756462643091360525934940067397245698027561293331,
    -3.290069515436080679901047585711363850115683290894936158531296799594813811049925401677,
    2.324710524099773982415355918398765796109060233222962411944060046314465391054716027841,
    0.0,
];
const TS_BHAT: [f64; 7] = [
    0.09468075576583945807478876255758922856117527357724631226139574065785592789071067303271,
    0.009183565540343253096776363936645313759813746240984095238905939532922955247253608687270,
    0.4877705284247615707855642599631228241516691959761363774365216240304071651579571959813,
    1.234297566930478985655109673884237654035539930748192848315425833500484878378061439761,
    -2.707712349983525454881109975059321670689605166938197378763992255714444407154902012702,
    1.866628418170587035753719399566211498666255505244122593996591602841258328965767580089,
    1.0 / 66.0,
];

/// Tsitouras 5(4), FSAL.
pub const TSIT5: Tableau = Tableau {
    name: "tsit5",
    c: &[
        0.0,
        0.161,
        0.327,
        0.9,
        0.9800255409045096857298102862870245954942137979563024768854764293221195950761080302604,
        1.0,
        1.0,
    ],
    a: &[
        &[],
        &[0.161],
        &[
            -0.008480655492356988544426874250230774675121177393430391537369234245294192976164141156943,
            0.3354806554923569885444268742502307746751211773934303915373692342452941929761641411569,
        ],
        &[
            2.897153057105493432130432594192938764924887287701866490314866693455023795137503079289,
            -6.359448489975074843148159912383825625952700647415626703305928850207288721235210244366,
            4.362295432869581411017727318190886861027813359713760212991062156752264926097707165077,
        ],
        &[
            5.325864828439256604428877920840511317836476253097040101202360397727981648835607691791,
            -11.74888356406282787774717033978577296188744178259862899288666928009020615663593781589,
            7.495539342889836208304604784564358155658679161518186721010132816213648793440552049753,
            -0.09249506636175524925650207933207191611349983406029535244034750452930469056411389539635,
        ],
        &[
            5.861455442946420028659251486982647890394337666164814434818157239052507339770711679748,
            -12.92096931784710929170611868178335939541780751955743459166312250439928519268343184452,
            8.159367898576158643180400794539253485181918321135053305748355423955009222648673734986,
            -0.07158497328140099722453054252582973869127213147363544882721139659546372402303777878835,
            -0.02826905039406838290900305721271224146717633626879770007617876201276764571291579142206,
        ],
        &[TS_B[0], TS_B[1], TS_B[2], TS_B[3], TS_B[4], TS_B[5]],
    ],
    b: &TS_B,
    // Rounded f64 differences, as diffrax's tsit5.py computes them.
    b_err: Some(&[
        TS_B[0] - TS_BHAT[0],
        TS_B[1] - TS_BHAT[1],
        TS_B[2] - TS_BHAT[2],
        TS_B[3] - TS_BHAT[3],
        TS_B[4] - TS_BHAT[4],
        TS_B[5] - TS_BHAT[5],
        TS_B[6] - TS_BHAT[6],
    ]),
    fsal: true,
    order: 5,
};

/// Dopri5's continuous extension (Shampine; scipy `RK45.P`): `w_i(θ) = Σ_m P[i][m] θ^(m+1)`.
pub const DOPRI5_DENSE: [[f64; 4]; 7] = [
    [1.0, -8048581381.0 / 2820520608.0, 8663915743.0 / 2820520608.0, -12715105075.0 / 11282082432.0],
    [0.0, 0.0, 0.0, 0.0],
    [0.0, 131558114200.0 / 32700410799.0, -68118460800.0 / 10900136933.0, 87487479700.0 / 32700410799.0],
    [0.0, -1754552775.0 / 470086768.0, 14199869525.0 / 1410260304.0, -10690763975.0 / 1880347072.0],
    [0.0, 127303824393.0 / 49829197408.0, -318862633887.0 / 49829197408.0, 701980252875.0 / 199316789632.0],
    [0.0, -282668133.0 / 205662961.0, 2019193451.0 / 616988883.0, -1453857185.0 / 822651844.0],
    [0.0, 40617522.0 / 29380423.0, -110615467.0 / 29380423.0, 69997945.0 / 29380423.0],
];

/// Tsit5 continuous extension: `w_i(θ) = Σ_m R[i][m] θ^(m+1)`.
pub const TSIT5_DENSE: [[f64; 4]; 7] = [
    [
        0.999999999999999974283372471559910888475488471328,
        -2.763706197274825911336735930481400260916070804192,
        2.91325546182191274375068099306808,
        -1.0530884977290216,
    ],
    [0.0, 0.13169999999999999727, -0.22339999999999999818, 0.1017],
    [0.0, 3.93029623689475152850687446709813398, -5.94103387213150473470249202589458001, 2.490627285651252793],
    [
        0.0,
        -12.411077166933676983734381540685453484102414134010752,
        30.3381886302823215981729903691836576,
        -16.54810288924490272,
    ],
    [
        0.0,
        37.50931341651103919496903965334519631242339792120440212,
        -88.1789048947664011014276693541209817,
        47.37952196281928122,
    ],
    [0.0, -27.896526289197287805948263144598643896, 65.09189467479367152629021928716553658, -34.87065786149660974],
    [0.0, 1.5, -4.0, 2.5],
];

/// Every tableau above, for tests and listings.
pub const ALL: [&Tableau; 7] = [&EULER, &MIDPOINT, &HEUN, &RK4, &BOSH3, &DOPRI5, &TSIT5];
