//! The solver methods users can name.
//!
//! Owns [`Method`]: its names, properties and parsing. Never solves.

use std::fmt;
use std::str::FromStr;

use super::tableau::{self, Tableau};
use crate::error::UnknownMethod;

/// An explicit Runge–Kutta method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// Forward Euler, fixed step, order 1.
    Euler,
    /// Explicit midpoint, fixed step, order 2.
    Midpoint,
    /// Heun (explicit trapezoidal), fixed step, order 2.
    Heun,
    /// Classical Runge–Kutta, fixed step, order 4.
    Rk4,
    /// Bogacki–Shampine 3(2), adaptive.
    Bosh3,
    /// Dormand–Prince 5(4), adaptive.
    Dopri5,
    /// Tsitouras 5(4), adaptive; the default.
    Tsit5,
}

const ALL: [Method; 7] =
    [Method::Euler, Method::Midpoint, Method::Heun, Method::Rk4, Method::Bosh3, Method::Dopri5, Method::Tsit5];

impl Method {
    /// The lower-case name used on the command line and in `.nde` files.
    pub fn name(self) -> &'static str {
        self.tableau().name
    }

    /// Whether the method has an error estimate and adapts its step size.
    pub fn is_adaptive(self) -> bool {
        self.tableau().b_err.is_some()
    }

    /// Order of convergence.
    pub fn order(self) -> u32 {
        self.tableau().order
    }

    /// Every method, fixed-step ones first.
    pub fn all() -> &'static [Method] {
        &ALL
    }

    /// The Butcher tableau.
    pub fn tableau(self) -> &'static Tableau {
        match self {
            Method::Euler => &tableau::EULER,
            Method::Midpoint => &tableau::MIDPOINT,
            Method::Heun => &tableau::HEUN,
            Method::Rk4 => &tableau::RK4,
            Method::Bosh3 => &tableau::BOSH3,
            Method::Dopri5 => &tableau::DOPRI5,
            Method::Tsit5 => &tableau::TSIT5,
        }
    }

    /// Derivative slots a workspace needs for this method.
    pub(crate) fn slots(self) -> usize {
        let t = self.tableau();
        t.stages() + usize::from(!t.fsal)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = UnknownMethod;

    /// Parses a method name, ignoring ASCII case (`"tsit5"`, `"Tsit5"`).
    fn from_str(s: &str) -> Result<Method, UnknownMethod> {
        ALL.iter()
            .copied()
            .find(|m| m.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownMethod { name: s.to_string(), known: ALL.iter().map(|m| m.name()).collect() })
    }
}
