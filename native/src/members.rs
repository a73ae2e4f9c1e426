//! The per-member work of judging a shared attribute value, compiled: which members of a
//! linked value are linked themselves, and the majority of their activity hours.
//!
//! The pure-Python references are `stream_guard.core.linking.index.fitting_members` (with
//! `shrunk_likeness`, `volume_term`, `member_fit`) and `index.majority_mask`;
//! `tests/unit/core/test_linking_index.py` compares both paths. Only decisions and integers
//! leave this module (no float sums, whose rounding differs between Python versions), and
//! every float is computed with the same operations in the same order as the reference,
//! rounded as Python's `round(x, 4)` does.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Python's `round(x, 4)` of a finite float: the nearest number of 4 decimals (ties to
/// even, on the float's exact value), as the nearest float; Rust's formatting rounds alike.
fn round4(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.4}").parse().unwrap_or(x)
}

/// `(a & b).bit_count() / (a | b).bit_count()` (0 when both are empty), as `index._jaccard`.
fn jaccard(a: u64, b: u64) -> f64 {
    let union = (a | b).count_ones();
    if union == 0 {
        return 0.0;
    }
    f64::from((a & b).count_ones()) / f64::from(union)
}

/// The hours in which at least half of `masks` are active (`index.majority_mask`).
#[pyfunction]
#[pyo3(signature = (masks, bits = 24))]
pub fn majority_mask(masks: Vec<u64>, bits: u32) -> u64 {
    let n = masks.len() as u64;
    let mut out = 0u64;
    for b in 0..bits.min(64) {
        let count = masks.iter().filter(|m| (*m >> b) & 1 == 1).count() as u64;
        if 2 * count >= n {
            out |= 1 << b;
        }
    }
    out
}

/// Which of a value's members are linked (`index.fitting_members`), read from its columns.
///
/// `cols` holds the members' rows; `offsets` the start of each row to judge (day requests,
/// likeness, age in days, hours mask), in the order wanted. Returns the positions in
/// `offsets` of the members that fit and their four fields packed as native-endian doubles
/// (a `MemberTable`'s columns). The settings come as the numbers the reference computes
/// from them; `log4` is `math.log(4.0)` as Python computed it. A row whose hours are not a
/// whole number in [0, 2**53) raises `ValueError` (the caller judges the value in Python).
#[pyfunction]
#[allow(clippy::too_many_arguments)] // (the reference's own parameters, flattened)
#[pyo3(signature = (cols, offsets, median_requests, major, min_likeness, min_volume_term, min_fit,
                    young_days, prior_weight, likeness_prior, log4))]
pub fn fitting_rows<'py>(
    py: Python<'py>,
    cols: PyBuffer<f64>,
    offsets: Vec<usize>,
    median_requests: f64,
    major: u64,
    min_likeness: f64,
    min_volume_term: f64,
    min_fit: f64,
    young_days: f64,
    prior_weight: f64,
    likeness_prior: f64,
    log4: f64,
) -> PyResult<(Vec<usize>, Bound<'py, PyBytes>)> {
    let c = cols
        .as_slice(py)
        .ok_or_else(|| PyValueError::new_err("member columns: not a contiguous buffer"))?;
    let mut fit = Vec::new();
    let mut packed: Vec<u8> = Vec::new();
    for (j, &i) in offsets.iter().enumerate() {
        if i.checked_add(4).is_none_or(|end| end > c.len()) {
            return Err(PyValueError::new_err(format!("member columns: no row at offset {i}")));
        }
        let (day, likeness, age, hours) = (c[i].get(), c[i + 1].get(), c[i + 2].get(), c[i + 3].get());
        if !(0.0..9_007_199_254_740_992.0).contains(&hours) || hours.fract() != 0.0 {
            return Err(PyValueError::new_err("member columns: hours are not a mask"));
        }
        // shrunk_likeness
        let own = round4((day * likeness + likeness_prior * prior_weight) / (day + prior_weight));
        if own < min_likeness {
            continue;
        }
        // volume_term: max(log(...), 0.0) then min(..., 1.0), picked as Python's max and min
        // pick (the first argument unless the second is strictly beyond it: NaN stays)
        let ratio = ((day + 1.0) / (median_requests + 1.0)).ln();
        let above = if 0.0 > ratio { 0.0 } else { ratio };
        let scaled = above / log4;
        let vt = round4(1.0 - if 1.0 < scaled { 1.0 } else { scaled });
        #[allow(clippy::neg_cmp_op_on_partial_ord)] // (NaN fails, as the reference's `vt >= t and ...`)
        if !(vt >= min_volume_term) {
            continue;
        }
        // member_fit
        let young = if 0.0 <= age && age < young_days { 1.0 } else { 0.0 };
        let member = round4((likeness + young + vt + jaccard(hours as u64, major)) / 4.0);
        if member >= min_fit {
            fit.push(j);
            for x in [day, likeness, age, hours] {
                packed.extend_from_slice(&x.to_ne_bytes());
            }
        }
    }
    Ok((fit, PyBytes::new(py, &packed)))
}
