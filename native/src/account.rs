//! The per-account work of the detection core, compiled: counting one request event into an
//! account's state, and reading the account's features at an evaluation boundary.
//!
//! The pure-Python references are `stream_guard.core.state.AccountState.add_python` (with
//! `window.Windows.add`, `recent.Recent.push` / `near` and `signals.prompt_fingerprint` /
//! `analyze_prompt`) and `stream_guard.core.features.extract_python` (with `Windows.view`).
//! [`AccountKernel`] does the same work on the same Python objects (the account's `array`
//! buffers and slots, the datasketches HLL), so checkpoints, features and tests see one state
//! layout; it only leaves the interpreter for the arithmetic. It takes the counter order, the
//! ring layout and the feature order from the Python modules that own them
//! (`state._build_kernel`), and it asks the Python reference for the text the compiled text
//! kernel does not read. `tests/unit/core/test_state_native.py` compares both paths.

use std::cell::Cell;
use std::sync::Mutex;

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyKeyError, PyOverflowError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyString, PyTuple};
use rustc_hash::FxHashMap;
use xxhash_rust::xxh3::xxh3_64;

use crate::{Readable, TextKernel};

/// Python's `float.__floordiv__` (CPython's `float_floor_div`): `a // b` for finite floats,
/// then `int()` of it.
fn floor_div(a: f64, b: f64) -> PyResult<i64> {
    let rem = a % b; // C fmod: the sign of the dividend
    let mut div = (a - rem) / b;
    if rem != 0.0 && ((b < 0.0) != (rem < 0.0)) {
        div -= 1.0;
    }
    let q = if div != 0.0 {
        let mut q = div.floor();
        if div - q > 0.5 {
            q += 1.0;
        }
        q
    } else {
        0.0_f64.copysign(a / b)
    };
    if !q.is_finite() || q.abs() >= 9.2e18 {
        return Err(PyOverflowError::new_err("cannot convert float infinity to integer"));
    }
    Ok(q as i64)
}

/// Sampling-parameter pairs whose hash [`AccountKernel`] remembers before it forgets them all.
const PARAMS_CACHE: usize = 4096;

/// A key that determines `str(value)` of a float or `None` (its type and bits), else `None`.
fn float_key(value: &Bound<'_, PyAny>) -> Option<u128> {
    if value.is_none() {
        return Some(0);
    }
    if value.is_exact_instance_of::<PyFloat>() {
        return value.downcast::<PyFloat>().ok().map(|f| (1u128 << 64) | u128::from(f.value().to_bits()));
    }
    None
}

/// `state._h`: xxh3 of `str(value)` in UTF-8.
fn value_hash(value: &Bound<'_, PyAny>) -> PyResult<u64> {
    if let Ok(text) = value.downcast::<PyString>() {
        return Ok(xxh3_64(text.to_str()?.as_bytes()));
    }
    Ok(xxh3_64(value.str()?.to_str()?.as_bytes()))
}

/// A ring of `recent.Recent`: its slots and its [next write position, fill] in `pos`.
#[derive(Clone, Copy)]
struct Ring {
    offset: usize,
    capacity: usize,
    pos: usize,
}

impl Ring {
    /// `Recent.push`: whether `fingerprint` was among the ring's recent ones; stores it if not.
    /// (A write position past the ring, from a damaged record, is an error, never a panic:
    /// a panic would get past the worker's `except Exception`.)
    fn push(self, slots: &[Cell<u32>], pos: &[Cell<u8>], fingerprint: u64) -> PyResult<bool> {
        let folded = (fingerprint & 0xFFFF_FFFF) as u32;
        let fp = if folded == 0 { 1 } else { folded };
        let window = &slots[self.offset..self.offset + self.capacity];
        if window.iter().any(|s| s.get() == fp) {
            return Ok(true);
        }
        let p = pos[self.pos].get() as usize;
        if p >= self.capacity {
            return Err(PyValueError::new_err("AccountKernel: a ring's write position lies outside it"));
        }
        window[p].set(fp);
        pos[self.pos].set(((p + 1) % self.capacity) as u8);
        let fill = &pos[self.pos + 1];
        if (fill.get() as usize) < self.capacity {
            fill.set(fill.get() + 1);
        }
        Ok(false)
    }
}

/// How many counters [`Counters`] places (its fields but `count`).
const COUNTED: usize = 18;

/// Where each counter of `window.COUNTERS` sits in a horizon's block.
struct Counters {
    count: usize,
    requests: usize,
    input_tokens: usize,
    output_tokens: usize,
    cot: usize,
    benchmark: usize,
    max_tokens: usize,
    rate_limited: usize,
    first_turn: usize,
    tools: usize,
    prompt_repeats: usize,
    template_repeats: usize,
    text: usize,
    hashed: usize,
    gaps: usize,
    gap_sum: usize,
    gap_sq_sum: usize,
    sketched: usize,
    near_dup: usize,
}

impl Counters {
    fn new(names: &[String]) -> PyResult<Self> {
        let at = |name: &str| {
            names.iter().position(|n| n == name).ok_or_else(|| {
                PyValueError::new_err(format!("AccountKernel counts {name:?}, which window.COUNTERS does not have"))
            })
        };
        let counters = Self {
            count: names.len(),
            requests: at("requests")?,
            input_tokens: at("input_tokens")?,
            output_tokens: at("output_tokens")?,
            cot: at("cot_requests")?,
            benchmark: at("benchmark_requests")?,
            max_tokens: at("max_tokens_hits")?,
            rate_limited: at("rate_limited")?,
            first_turn: at("first_turn_requests")?,
            tools: at("tool_requests")?,
            prompt_repeats: at("prompt_repeats")?,
            template_repeats: at("template_repeats")?,
            text: at("text_requests")?,
            hashed: at("hashed_requests")?,
            gaps: at("gaps")?,
            gap_sum: at("gap_sum")?,
            gap_sq_sum: at("gap_sq_sum")?,
            sketched: at("sketched_requests")?,
            near_dup: at("near_dup_requests")?,
        };
        // every name found, each once: a counter window.COUNTERS gained would stay at zero here
        if names.len() != COUNTED {
            return Err(PyValueError::new_err(format!(
                "window.COUNTERS has {} counters, AccountKernel counts {COUNTED}", names.len()
            )));
        }
        Ok(counters)
    }
}

/// The text signals of one prompt, from the compiled kernel or the Python reference.
struct Text {
    cot: bool,
    benchmark: bool,
    categories: u64,
    template: u64,
    sketch: Option<u64>,
}

/// The per-event update of `AccountState.add`, built once from the layout of the Python
/// modules that own it.
#[pyclass(frozen, module = "stream_guard._native")]
pub(crate) struct AccountKernel {
    kernel: Py<TextKernel>,
    fingerprint_fallback: PyObject,
    analyze_fallback: PyObject,
    signals_type: PyObject,
    tuple_new: PyObject,
    new_sketch: PyObject,
    params_hashes: Mutex<FxHashMap<(u128, u128), u64>>,
    counters: Counters,
    prompt: Ring,
    template: Ring,
    model: Ring,
    params: Ring,
    ip: Ring,
    user_agent: Ring,
    client: Ring,
    sketch_offset: usize,
    sketches: usize,
    sketch_pos: usize,
    near: u32,
    hour_bits: u32,
}

#[pymethods]
impl AccountKernel {
    #[new]
    #[pyo3(signature = (*, kernel, fingerprint_fallback, analyze_fallback, signals_type, new_sketch, counters,
                        rings, sketch_offset, sketches, near, hour_bits))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        kernel: Py<TextKernel>,
        fingerprint_fallback: PyObject,
        analyze_fallback: PyObject,
        signals_type: PyObject,
        new_sketch: PyObject,
        counters: Vec<String>,
        rings: Vec<(String, usize, usize)>,
        sketch_offset: usize,
        sketches: usize,
        near: u32,
        hour_bits: u32,
    ) -> PyResult<Self> {
        let ring = |name: &str| {
            rings
                .iter()
                .position(|(n, _, _)| n == name)
                .map(|i| Ring { offset: rings[i].1, capacity: rings[i].2, pos: 2 * i })
                .ok_or_else(|| PyValueError::new_err(format!("recent.RINGS has no ring {name:?}")))
        };
        if hour_bits > 32 || sketches == 0 || sketches > 255
            || rings.iter().any(|r| r.2 == 0 || r.2 > 255 || r.1 + r.2 > sketch_offset)
        {
            return Err(PyValueError::new_err("AccountKernel: unusable ring or mask layout"));
        }
        Ok(Self {
            kernel,
            fingerprint_fallback,
            analyze_fallback,
            signals_type,
            tuple_new: py.get_type::<PyTuple>().getattr(intern!(py, "__new__"))?.unbind(),
            new_sketch,
            params_hashes: Mutex::new(FxHashMap::default()),
            counters: Counters::new(&counters)?,
            prompt: ring("prompt")?,
            template: ring("template")?,
            model: ring("model")?,
            params: ring("params")?,
            ip: ring("ip")?,
            user_agent: ring("user_agent")?,
            client: ring("client")?,
            sketch_offset,
            sketches,
            sketch_pos: 2 * rings.len(),
            near,
            hour_bits,
        })
    }

    /// `AccountState.add_python(event, ts, s)` for an account seen before (``first_seen``
    /// set by the caller) with ``s``'s sketch sampling: counts the event into ``st`` and
    /// returns its `PromptSignals` (``None`` without prompt text).
    fn add(
        &self,
        py: Python<'_>,
        st: &Bound<'_, PyAny>,
        event: &Bound<'_, PyDict>,
        ts: f64,
        sketch_every: i64,
        sketch_all_below: f64,
    ) -> PyResult<PyObject> {
        if sketch_every <= 0 {
            return Err(PyValueError::new_err("near_dup_sketch_every must be positive"));
        }
        // timing: the gap to the latest event, the hours with activity
        let last_ts: f64 = st.getattr(intern!(py, "last_ts"))?.extract()?;
        let mut gap = 0.0;
        if ts > last_ts {
            if last_ts > 0.0 {
                gap = ts - last_ts;
            }
            st.setattr(intern!(py, "last_ts"), ts)?;
        }
        self.mark_hour(py, st, ts)?;

        let windows = st.getattr(intern!(py, "windows"))?;
        let recent = st.getattr(intern!(py, "recent"))?;
        let slots_buf = PyBuffer::<u32>::get(&recent.getattr(intern!(py, "slots"))?)?;
        let pos_buf = PyBuffer::<u8>::get(&recent.getattr(intern!(py, "pos"))?)?;
        let data_buf = PyBuffer::<f32>::get(&windows.getattr(intern!(py, "data"))?)?;
        let gens_buf = PyBuffer::<i64>::get(&windows.getattr(intern!(py, "gens"))?)?;
        let writable = || PyValueError::new_err("AccountKernel: account buffers must be writable and contiguous");
        let slots = slots_buf.as_mut_slice(py).ok_or_else(writable)?;
        let pos = pos_buf.as_mut_slice(py).ok_or_else(writable)?;
        let data = data_buf.as_mut_slice(py).ok_or_else(writable)?;
        let gens = gens_buf.as_mut_slice(py).ok_or_else(writable)?;
        let lengths: Vec<f64> = windows.getattr(intern!(py, "lengths"))?.extract()?;
        let c = &self.counters;
        if lengths.is_empty() || data.len() < 2 * c.count * lengths.len() || gens.len() < lengths.len()
            || slots.len() < self.sketch_offset + 2 * self.sketches || pos.len() < self.sketch_pos + 2
        {
            return Err(PyValueError::new_err("AccountKernel: account buffers smaller than their layout"));
        }
        let day = lengths.len() - 1;

        // the prompt: fingerprint, repeats, text signals, near duplicates
        let prompt = event.get_item(intern!(py, "prompt"))?.filter(|p| !p.is_none());
        // the text the compiled text kernel reads (checked once for both of its passes)
        let readable = prompt.as_ref().and_then(|p| p.downcast::<PyString>().ok()).and_then(|p| p.to_str().ok())
            .and_then(Readable::of);
        let kernel = self.kernel.get();
        let fingerprint = match readable.map(|t| kernel.fingerprint_str(t)) {
            Some(fp) => Some(fp),
            None => self.fingerprint_fallback.call1(py, (event,))?.extract::<Option<u64>>(py)?,
        };
        let prompt_repeat = match fingerprint {
            Some(fp) => self.prompt.push(slots, pos, fp)?,
            None => false,
        };
        let mut values = vec![0.0f64; c.count];
        let mut categories = 0u64;
        let mut signals: PyObject = py.None();
        if let Some(prompt) = &prompt {
            let mut sketch = false;
            if !prompt_repeat {
                let turn: i64 = st.getattr(intern!(py, "sketch_seq"))?.extract()?;
                st.setattr(intern!(py, "sketch_seq"), (turn + 1).rem_euclid(sketch_every))?;
                let base = 2 * c.count * day + c.text;
                sketch = turn == 0 || (data[base].get() as f64 + data[base + c.count].get() as f64) < sketch_all_below;
            }
            let text = match readable.map(|t| kernel.analyze_str(t, sketch)) {
                Some(fields) => {
                    let text = Text { cot: fields.0, benchmark: fields.1, categories: fields.2 as u64,
                                      template: fields.3, sketch: fields.4 };
                    signals = self.tuple_new.call1(py, (&self.signals_type, fields))?; // PromptSignals._make
                    text
                }
                None => {
                    let kwargs = PyDict::new(py);
                    kwargs.set_item(intern!(py, "sketch"), sketch)?;
                    let sig = self.analyze_fallback.bind(py).call((prompt,), Some(&kwargs))?;
                    let text = Text {
                        cot: sig.getattr(intern!(py, "cot"))?.is_truthy()?,
                        benchmark: sig.getattr(intern!(py, "benchmark"))?.is_truthy()?,
                        categories: sig.getattr(intern!(py, "categories"))?.extract()?,
                        template: sig.getattr(intern!(py, "template"))?.extract()?,
                        sketch: sig.getattr(intern!(py, "sketch"))?.extract()?,
                    };
                    signals = sig.unbind();
                    text
                }
            };
            values[c.cot] = f64::from(u8::from(text.cot));
            values[c.benchmark] = f64::from(u8::from(text.benchmark));
            categories = text.categories;
            if self.template.push(slots, pos, text.template)? && !prompt_repeat {
                values[c.template_repeats] = 1.0;
            }
            if let Some(signature) = text.sketch {
                values[c.sketched] = 1.0;
                values[c.near_dup] = f64::from(u8::from(self.near(slots, pos, signature)?));
            }
        }

        // spread: models, sampling parameters, addresses, clients
        let model = event.get_item(intern!(py, "model"))?.ok_or_else(|| PyKeyError::new_err("model"))?;
        self.model.push(slots, pos, value_hash(&model)?)?;
        let temperature = event.get_item(intern!(py, "temperature"))?;
        let top_p = event.get_item(intern!(py, "top_p"))?;
        if temperature.is_some() || top_p.is_some() {
            let none = || py.None().into_bound(py);
            let (temperature, top_p) = (temperature.unwrap_or_else(none), top_p.unwrap_or_else(none));
            let hash = match (float_key(&temperature), float_key(&top_p)) {
                // str((t, p)) of floats and None depends only on their bits: hashed once per pair
                (Some(t), Some(p)) => {
                    let mut cache = self.params_hashes.lock().map_err(|_| PyValueError::new_err("params cache"))?;
                    match cache.get(&(t, p)) {
                        Some(&hash) => hash,
                        None => {
                            let hash = value_hash(PyTuple::new(py, [temperature, top_p])?.as_any())?;
                            if cache.len() >= PARAMS_CACHE {
                                cache.clear();
                            }
                            cache.insert((t, p), hash);
                            hash
                        }
                    }
                }
                _ => value_hash(PyTuple::new(py, [temperature, top_p])?.as_any())?,
            };
            self.params.push(slots, pos, hash)?;
        }
        for (ring, field) in [(self.ip, intern!(py, "ip")), (self.user_agent, intern!(py, "user_agent")),
                              (self.client, intern!(py, "client_fingerprint"))] {
            if let Some(value) = event.get_item(field)?.filter(|v| !v.is_none()) {
                ring.push(slots, pos, value_hash(&value)?)?;
            }
        }

        // the counters of this request
        let required = |field: &Bound<'_, PyString>| -> PyResult<f64> {
            event.get_item(field)?.ok_or_else(|| PyKeyError::new_err(field.to_string()))?.extract()
        };
        values[c.requests] = 1.0;
        values[c.input_tokens] = required(intern!(py, "input_tokens"))?;
        values[c.output_tokens] = required(intern!(py, "output_tokens"))?;
        let flag = |v: bool| if v { 1.0 } else { 0.0 };
        values[c.max_tokens] = match event.get_item(intern!(py, "stop_reason"))? {
            Some(v) => flag(v.eq(intern!(py, "max_tokens"))?),
            None => 0.0,
        };
        values[c.rate_limited] = match event.get_item(intern!(py, "status"))? {
            Some(v) => flag(v.eq(429)?),
            None => 0.0,
        };
        values[c.first_turn] = match event.get_item(intern!(py, "turn_index"))? {
            Some(v) => flag(v.eq(0)?),
            None => 1.0,
        };
        values[c.tools] = match event.get_item(intern!(py, "tools"))? {
            Some(v) => flag(v.gt(0)?),
            None => 0.0,
        };
        values[c.prompt_repeats] = flag(prompt_repeat);
        values[c.text] = flag(prompt.is_some());
        values[c.hashed] = flag(prompt.is_none() && fingerprint.is_some());
        values[c.gaps] = flag(gap > 0.0);
        values[c.gap_sum] = gap;
        values[c.gap_sq_sum] = gap * gap;

        // the windows: roll each horizon to this event's generation, then add
        let mut late_for_day = false;
        for (h, &length) in lengths.iter().enumerate() {
            let generation = floor_div(ts, length)?;
            let current = gens[h].get();
            if generation != current {
                if generation < current {
                    late_for_day = h == day;
                    continue; // older than this horizon's current generation: too late for it
                }
                self.roll(py, &windows, data, h, generation, current, h == day)?;
                gens[h].set(generation);
            }
            let block = &data[2 * c.count * h..2 * c.count * h + c.count];
            for (cell, &v) in block.iter().zip(&values) {
                if v != 0.0 {
                    cell.set((cell.get() as f64 + v) as f32);
                }
            }
        }
        if !late_for_day {
            if let Some(fp) = fingerprint {
                let mut hll = windows.getattr(intern!(py, "hll"))?;
                if hll.is_none() {
                    hll = self.new_sketch.call0(py)?.into_bound(py);
                    windows.setattr(intern!(py, "hll"), &hll)?;
                }
                hll.call_method1(intern!(py, "update"), (fp,))?;
            }
            if categories != 0 {
                let cats: u64 = windows.getattr(intern!(py, "cats"))?.extract()?;
                windows.setattr(intern!(py, "cats"), cats | categories)?;
            }
        }
        st.setattr(intern!(py, "pending"), true)?;
        Ok(signals)
    }

    /// Whether `names` is the order of [`AccountKernel::features`] (`features.FEATURES`).
    #[staticmethod]
    fn feature_order_is(names: Vec<String>) -> bool {
        names.len() == FEATURES.len() && names.iter().zip(FEATURES).all(|(a, b)| a == b)
    }

    /// `pack(extract_python(st, at, s))` with `s.near_dup_min_basis`: the account's features
    /// as of event time `at`, written into `out` (an `array('d')` of `features.FEATURES`).
    fn features(
        &self,
        py: Python<'_>,
        st: &Bound<'_, PyAny>,
        at: f64,
        near_dup_min_basis: f64,
        out: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let windows = st.getattr(intern!(py, "windows"))?;
        let data_buf = PyBuffer::<f32>::get(&windows.getattr(intern!(py, "data"))?)?;
        let gens_buf = PyBuffer::<i64>::get(&windows.getattr(intern!(py, "gens"))?)?;
        let slots_buf = PyBuffer::<u32>::get(&st.getattr(intern!(py, "recent"))?.getattr(intern!(py, "slots"))?)?;
        let out_buf = PyBuffer::<f64>::get(out)?;
        let data = data_buf.to_vec(py)?;
        let gens = gens_buf.to_vec(py)?;
        let slots = slots_buf.to_vec(py)?;
        let target = out_buf.as_mut_slice(py).ok_or_else(|| PyValueError::new_err("features: out must be writable"))?;
        let lengths: Vec<f64> = windows.getattr(intern!(py, "lengths"))?.extract()?;
        let c = &self.counters;
        let n = c.count;
        if lengths.len() != 3 || data.len() < 6 * n || gens.len() < 3 || target.len() != FEATURES.len()
            || slots.len() < self.sketch_offset
        {
            return Err(PyValueError::new_err("features: account buffers do not have the kernel's layout"));
        }
        // Windows.view: the short and long horizons, then Windows.day_view
        let mut v = vec![0.0f64; 3 * n];
        for h in 0..3 {
            self.weighted(&data, gens[h], lengths[h], at, h, &mut v[h * n..(h + 1) * n])?;
        }
        let hll = windows.getattr(intern!(py, "hll"))?;
        let mut distinct: f64 =
            if hll.is_none() { 0.0 } else { hll.call_method0(intern!(py, "get_estimate"))?.extract()? };
        let mut prev_distinct: f64 = windows.getattr(intern!(py, "prev_distinct"))?.extract()?;
        let mut cats: u64 = windows.getattr(intern!(py, "cats"))?.extract()?;
        let mut prev_cats: u64 = windows.getattr(intern!(py, "prev_cats"))?.extract()?;
        let day_length = lengths[2];
        let day_generation = floor_div(at, day_length)?;
        if day_generation > gens[2] {
            let step = gens[2].checked_add(1) == Some(day_generation);
            (prev_distinct, prev_cats) = if step { (distinct, cats) } else { (0.0, 0) };
            (distinct, cats) = (0.0, 0);
        }
        let weight = py_min(py_max(1.0 - (at - day_generation as f64 * day_length) / day_length, 0.0), 1.0);
        let distinct = distinct + weight * prev_distinct;
        let cats = cats | if weight > 0.0 { prev_cats } else { 0 };

        // AccountState: hours, first seen, creation
        let hour_mask: u64 = st.getattr(intern!(py, "hour_mask"))?.extract()?;
        let last_hour: i64 = st.getattr(intern!(py, "last_hour"))?.extract()?;
        let first_seen: Option<f64> = st.getattr(intern!(py, "first_seen"))?.extract()?;
        let created_at: Option<f64> = st.getattr(intern!(py, "created_at"))?.extract()?;
        let shift = floor_div(at, 3600.0)? - 1 - last_hour; // AccountState.hours_as_of
        let all = (1u64 << self.hour_bits) - 1;
        let hours = if shift <= 0 {
            hour_mask
        } else if shift < i64::from(self.hour_bits) {
            (hour_mask << shift) & all
        } else {
            0
        };

        let (s, l, d) = (0, n, 2 * n);
        let (long_req, day_req) = (v[l + c.requests], v[d + c.requests]);
        let (long_text, day_text) = (v[l + c.text], v[d + c.text]);
        let with_prompt = day_text + v[d + c.hashed];
        let sketched = v[d + c.sketched];
        let gaps = v[d + c.gaps];
        let cv = if gaps >= 2.0 {
            let mean = v[d + c.gap_sum] / gaps;
            let var = py_max(v[d + c.gap_sq_sum] / gaps - mean * mean, 0.0);
            if mean > 0.0 { var.sqrt() / mean } else { 0.0 }
        } else {
            1.0
        };
        let observed = first_seen.map_or(0.0, |f| (at - f) / 3600.0);
        let born = created_at.or(first_seen);
        let values: [f64; 41] = [
            v[s + c.requests],
            long_req,
            day_req,
            v[l + c.input_tokens],
            v[l + c.output_tokens],
            v[d + c.output_tokens],
            v[l + c.output_tokens] / py_max(v[l + c.input_tokens], 1.0),
            v[l + c.output_tokens] / py_max(long_req, 1.0),
            v[d + c.output_tokens] / py_max(day_req, 1.0),
            share(v[l + c.cot], long_text),
            share(v[d + c.cot], day_text),
            share(v[l + c.benchmark], long_text),
            share(v[d + c.benchmark], day_text),
            long_text,
            day_text,
            share(v[l + c.first_turn], long_req),
            share(v[d + c.first_turn], day_req),
            with_prompt,
            share(v[d + c.max_tokens], day_req),
            share(v[d + c.rate_limited], day_req),
            share(v[d + c.tools], day_req),
            share(v[d + c.prompt_repeats], with_prompt),
            share(v[d + c.template_repeats], day_text - v[d + c.prompt_repeats]),
            if sketched >= near_dup_min_basis { share(v[d + c.near_dup], sketched) } else { 0.0 },
            sketched,
            distinct,
            share(distinct, with_prompt),
            f64::from(cats.count_ones()),
            gaps,
            cv,
            (cv - 1.0) / (cv + 1.0),
            f64::from(hours.count_ones()),
            observed,
            if observed >= 24.0 { f64::from(longest_zero_run(hours, self.hour_bits)) } else { 24.0 },
            Self::distinct(self.model, &slots),
            Self::distinct(self.params, &slots),
            Self::distinct(self.ip, &slots),
            Self::distinct(self.user_agent, &slots),
            Self::distinct(self.client, &slots),
            born.map_or(0.0, |b| py_max((at - b) / 86400.0, 0.0)),
            if created_at.is_some() { 1.0 } else { 0.0 },
        ];
        for (cell, value) in target.iter().zip(values) {
            cell.set(value);
        }
        Ok(())
    }
}

impl AccountKernel {
    /// `AccountState._mark_hour`.
    fn mark_hour(&self, py: Python<'_>, st: &Bound<'_, PyAny>, ts: f64) -> PyResult<()> {
        let hour = floor_div(ts, 3600.0)?;
        let last_hour: i64 = st.getattr(intern!(py, "last_hour"))?.extract()?;
        let mask: u64 = st.getattr(intern!(py, "hour_mask"))?.extract()?;
        let all = (1u64 << self.hour_bits) - 1;
        if hour > last_hour {
            let shift = hour - last_hour;
            let moved = if shift < i64::from(self.hour_bits) { (mask << shift) & all } else { 0 };
            st.setattr(intern!(py, "hour_mask"), moved | 1)?;
            st.setattr(intern!(py, "last_hour"), hour)?;
        } else if last_hour - hour < i64::from(self.hour_bits) {
            let bit = 1u64 << (last_hour - hour);
            if mask & bit == 0 {
                st.setattr(intern!(py, "hour_mask"), mask | bit)?;
            }
        }
        Ok(())
    }

    /// `Windows._roll`: horizon `h` moves from generation `current` to `generation`.
    #[allow(clippy::too_many_arguments)]
    fn roll(
        &self,
        py: Python<'_>,
        windows: &Bound<'_, PyAny>,
        data: &[Cell<f32>],
        h: usize,
        generation: i64,
        current: i64,
        is_day: bool,
    ) -> PyResult<()> {
        let n = self.counters.count;
        let base = 2 * n * h;
        let step = current.checked_add(1) == Some(generation);
        for i in 0..n {
            data[base + n + i].set(if step { data[base + i].get() } else { 0.0 });
            data[base + i].set(0.0);
        }
        if is_day {
            let hll = windows.getattr(intern!(py, "hll"))?;
            let previous: f64 = if !step || hll.is_none() {
                0.0
            } else {
                hll.call_method0(intern!(py, "get_estimate"))?.extract()?
            };
            windows.setattr(intern!(py, "prev_distinct"), previous)?;
            let cats = if step { windows.getattr(intern!(py, "cats"))? } else { 0u64.into_pyobject(py)?.into_any() };
            windows.setattr(intern!(py, "prev_cats"), cats)?;
            windows.setattr(intern!(py, "hll"), py.None())?;
            windows.setattr(intern!(py, "cats"), 0)?;
        }
        Ok(())
    }

    /// `Recent.near`: whether `signature` has at least `near` equal bytes with one of the
    /// stored signatures; then stores it (oldest out first).
    fn near(&self, slots: &[Cell<u32>], pos: &[Cell<u8>], signature: u64) -> PyResult<bool> {
        let ring = &slots[self.sketch_offset..self.sketch_offset + 2 * self.sketches];
        let fill = (pos[self.sketch_pos + 1].get() as usize).min(self.sketches);
        let found = (0..fill).any(|lane| {
            let stored = u64::from(ring[2 * lane].get()) | (u64::from(ring[2 * lane + 1].get()) << 32);
            let same = (0..8).filter(|b| (stored >> (8 * b)) as u8 == (signature >> (8 * b)) as u8).count();
            same as u32 >= self.near
        });
        let p = pos[self.sketch_pos].get() as usize;
        if p >= self.sketches {
            return Err(PyValueError::new_err("AccountKernel: the signatures' write position lies outside them"));
        }
        ring[2 * p].set((signature & 0xFFFF_FFFF) as u32);
        ring[2 * p + 1].set((signature >> 32) as u32);
        pos[self.sketch_pos].set(((p + 1) % self.sketches) as u8);
        let fill_cell = &pos[self.sketch_pos + 1];
        if (fill_cell.get() as usize) < self.sketches {
            fill_cell.set(fill_cell.get() + 1);
        }
        Ok(found)
    }
}

/// The features `features.extract_python` gives, in this order (checked against
/// `features.FEATURES` when the kernel is built).
const FEATURES: [&str; 41] = [
    "short_requests", "long_requests", "day_requests", "long_input_tokens", "long_output_tokens",
    "day_output_tokens", "out_in_ratio_long", "mean_output_tokens_long", "mean_output_tokens_day",
    "cot_share_long", "cot_share_day", "benchmark_share_long", "benchmark_share_day", "text_basis_long",
    "text_basis_day", "first_turn_share_long", "first_turn_share_day", "prompt_basis_day",
    "max_tokens_share_day", "rate_limited_share_day", "tool_share_day", "repeat_share_day",
    "template_repeat_share_day", "near_dup_share_day", "near_dup_basis_day", "distinct_prompts_day",
    "distinct_ratio_day", "categories_day", "gap_basis_day", "iat_cv_day", "burstiness_day", "active_hours",
    "observed_hours", "longest_rest_hours", "distinct_models", "distinct_params", "distinct_ips",
    "distinct_user_agents", "distinct_clients", "account_age_days", "age_known",
];

/// Python's `max(x, floor)` and `min(x, cap)` (the first argument wins ties and NaN).
fn py_max(x: f64, floor: f64) -> f64 {
    if floor > x { floor } else { x }
}

fn py_min(x: f64, cap: f64) -> f64 {
    if cap < x { cap } else { x }
}

/// `features._share`.
fn share(num: f64, den: f64) -> f64 {
    if den > 0.0 { py_min(py_max(num / den, 0.0), 1.0) } else { 0.0 }
}

/// `features._longest_zero_run`.
fn longest_zero_run(mask: u64, bits: u32) -> u32 {
    let (mut longest, mut run) = (0, 0);
    for i in 0..bits {
        if mask >> i & 1 == 1 {
            run = 0;
        } else {
            run += 1;
            longest = longest.max(run);
        }
    }
    longest
}

impl AccountKernel {
    /// `Windows._weighted` of horizon `h` as of `at`, added into `out`.
    fn weighted(&self, data: &[f32], generation_now: i64, length: f64, at: f64, h: usize, out: &mut [f64])
        -> PyResult<()> {
        let n = self.counters.count;
        let base = 2 * n * h;
        let generation = floor_div(at, length)?;
        let weight = py_min(py_max(1.0 - (at - generation as f64 * length) / length, 0.0), 1.0);
        let (cur, prev): (&[f32], &[f32]) = (&data[base..base + n], &data[base + n..base + 2 * n]);
        for i in 0..n {
            let (c, p) = if generation > generation_now {
                (0.0, if generation_now.checked_add(1) == Some(generation) { f64::from(cur[i]) } else { 0.0 })
            } else {
                (f64::from(cur[i]), f64::from(prev[i]))
            };
            out[i] = c + weight * p;
        }
        Ok(())
    }

    /// Distinct non-empty slots of a ring (`Recent.distinct`).
    fn distinct(ring: Ring, slots: &[u32]) -> f64 {
        let window = &slots[ring.offset..ring.offset + ring.capacity];
        let mut seen = 0usize;
        for (i, &s) in window.iter().enumerate() {
            if s != 0 && !window[..i].contains(&s) {
                seen += 1;
            }
        }
        seen as f64
    }
}
