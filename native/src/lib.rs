//! `stream_guard._native`: the text signals of one prompt, compiled (this file), and the
//! per-account update and features built on them ([`account`]).
//!
//! The pure-Python reference is `stream_guard.core.signals` (`analyze_prompt`,
//! `prompt_fingerprint`) with `stream_guard.core.neardup.sketch`; this kernel gives the same
//! answers at a fraction of the cost (one pass for the words, no Python objects per word).
//! It takes every word list and pattern from the Python module that builds it
//! (`signals._build_kernel`), so the vocabulary has one source.
//!
//! It only reads text it reads exactly as Python does: ASCII without the information
//! separators `\x1c`-`\x1f` (whitespace to Python's `str.split` and `re`'s `\s`, not to
//! Rust's), and characters in [`READABLE`]: ranges (typographic punctuation, symbols, Latin,
//! Greek, Cyrillic, CJK, Hangul, fullwidth forms, emoji) whose case mapping and `\s` / `\w` /
//! `\d` classes Rust's `regex` and `char` share with Python's `str` and `re`, minus the
//! characters where they differ ([`UNREADABLE`]). `tests/unit/core/test_signals_native.py`
//! checks every one of them against the Python reference. Other text gets `None`, and the
//! caller runs the Python reference.

mod account;
mod members;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use rustc_hash::{FxHashMap, FxHashSet};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyString;
use regex::bytes::{NoExpand, Regex, RegexBuilder};
use xxhash_rust::xxh3::xxh3_64;

/// Buckets of the near-duplicate signature (one byte each), as in `neardup.K`.
const BUCKETS: usize = 8;
/// The bucket of a hash is its top 3 bits (`neardup._SHIFT`).
const BUCKET_SHIFT: u32 = 61;
/// Densification offset per bucket of distance (`neardup._ROTATE`).
const ROTATE: u64 = 0x9D;

/// Non-ASCII code points the kernel reads (inclusive ranges, ascending), less [`UNREADABLE`].
const READABLE: &[(u32, u32)] = &[
    (0x00A0, 0x024F),   // Latin-1 and Latin Extended-A and -B: no-break space, symbols, letters
    (0x0370, 0x03FF),   // Greek
    (0x0400, 0x04FF),   // Cyrillic
    (0x200B, 0x200B),   // zero-width space
    (0x2010, 0x2027),   // dashes, quotes, bullets, ellipsis
    (0x2030, 0x205E),   // per mille, primes, more punctuation
    (0x20A0, 0x20C0),   // currency signs
    (0x2190, 0x23FF),   // arrows, mathematical operators, technical symbols
    (0x2500, 0x27BF),   // box drawing, shapes, symbols, dingbats
    (0x3000, 0x30FF),   // CJK punctuation, kana
    (0x4E00, 0x9FFF),   // CJK ideographs
    (0xAC00, 0xD7A3),   // Hangul syllables
    (0xE000, 0xF8FF),   // private use (symbol fonts' bullets)
    (0xFF01, 0xFF5E),   // fullwidth ASCII
    (0xFFFD, 0xFFFD),   // replacement character
    (0x1D400, 0x1D7FF), // mathematical letters and digits
    (0x1F300, 0x1FAFF), // emoji and pictographs
];

/// Code points inside [`READABLE`] that Python and Rust classify differently (inclusive
/// ranges), found by the exhaustive test: numbers other than decimal digits (superscripts,
/// fractions, circled digits: `\w` to Python's `re`, which takes `str.isalnum`, not to Rust's
/// `regex`), combining marks (`\w` to Rust, not to Python) and connector punctuation other
/// than `_` (`\w` to Rust only). Python 3.11's Unicode is 14.0 and Rust's is newer; no
/// difference between them showed in these ranges.
const UNREADABLE: &[(u32, u32)] = &[
    (0x00B2, 0x00B3),
    (0x00B9, 0x00B9),
    (0x00BC, 0x00BE),
    (0x0130, 0x0130), // İ: lower-cases to i and a combining dot (a mark, see above)
    (0x0483, 0x0489),
    (0x203F, 0x2040),
    (0x2054, 0x2054),
    (0x2776, 0x2793),
    (0x302A, 0x302F),
    (0x3099, 0x309A),
    (0xFF3F, 0xFF3F),
];

fn readable(c: char) -> bool {
    let within = |ranges: &[(u32, u32)]| ranges.iter().any(|&(lo, hi)| lo <= c as u32 && c as u32 <= hi);
    within(READABLE) && !within(UNREADABLE)
}

/// Whether the kernel reads `text` exactly as the Python reference does.
fn reads(text: &str) -> bool {
    text.chars().all(|c| if c.is_ascii() { !('\x1c'..='\x1f').contains(&c) } else { readable(c) })
}

/// Text the kernel reads ([`reads`]), checked once for all its passes.
#[derive(Clone, Copy)]
pub(crate) struct Readable<'a>(&'a str);

impl<'a> Readable<'a> {
    pub(crate) fn of(text: &'a str) -> Option<Self> {
        reads(text).then_some(Self(text))
    }
}

/// `" ".join(text.split())` of readable text (`char::is_whitespace` is Python's
/// `str.isspace` on it); `text` is UTF-8 (a str, or parts of one cut at char boundaries).
fn fold_spaces(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    if text.is_ascii() {
        // Python's ASCII whitespace: `u8::is_ascii_whitespace` and \x0b (and \x1c-\x1f, which
        // readable text does not hold)
        let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r');
        for word in text.split(space).filter(|w| !w.is_empty()) {
            if !out.is_empty() {
                out.push(b' ');
            }
            out.extend_from_slice(word);
        }
        return out;
    }
    for word in String::from_utf8_lossy(text).split(char::is_whitespace).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(word.as_bytes());
    }
    out
}

/// `text.lower()` of readable text (UTF-8, as above).
fn lowercase(text: &[u8]) -> Vec<u8> {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    String::from_utf8_lossy(text).to_lowercase().into_bytes()
}

/// `signals._ends`: the first and last `scan` characters of a long prompt, joined by a newline.
fn ends(text: &str, scan: usize) -> Cow<'_, [u8]> {
    let raw = text.as_bytes();
    let chars = if text.is_ascii() { raw.len() } else { text.chars().count() };
    if chars <= 2 * scan {
        return Cow::Borrowed(raw);
    }
    let at = |n: usize| text.char_indices().nth(n).map_or(raw.len(), |(i, _)| i);
    let (head, tail) = (at(scan), at(chars - scan));
    let mut out = Vec::with_capacity(head + 1 + raw.len() - tail);
    out.extend_from_slice(&raw[..head]);
    out.push(b'\n');
    out.extend_from_slice(&raw[tail..]);
    Cow::Owned(out)
}

/// `signals._NAME.sub("#", text)`: a capitalised word after `[a-z,;]` and a space is masked
/// (the look-behind reads the text as it was before this substitution, as `re.sub` does).
fn mask_names(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        let named = c.is_ascii_uppercase()
            && i >= 2
            && text[i - 1] == b' '
            && matches!(text[i - 2], b'a'..=b'z' | b',' | b';')
            && i + 1 < text.len()
            && text[i + 1].is_ascii_lowercase();
        if named {
            let mut j = i + 2;
            while j < text.len() && text[j].is_ascii_lowercase() {
                j += 1;
            }
            out.push(b'#');
            i = j;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The `[a-z]+` runs of lower-cased text, each once.
fn words_of(lower: &[u8]) -> FxHashSet<&[u8]> {
    // sized for a word every ~6 bytes: no rehash while it fills
    let mut words = FxHashSet::with_capacity_and_hasher(lower.len() / 6 + 4, Default::default());
    let mut start = None;
    for (i, &b) in lower.iter().enumerate() {
        if b.is_ascii_lowercase() {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            words.insert(&lower[s..i]);
        }
    }
    if let Some(s) = start {
        words.insert(&lower[s..]);
    }
    words
}

/// `neardup.signature`: the 8-byte b-bit one-permutation MinHash of distinct words.
fn signature<'a>(words: impl Iterator<Item = &'a [u8]>) -> u64 {
    let mut hashes: Vec<u64> = words.map(xxh3_64).collect();
    hashes.sort_unstable();
    let mut mins = [None::<u64>; BUCKETS];
    for h in hashes {
        let bucket = (h >> BUCKET_SHIFT) as usize;
        if mins[bucket].is_none() {
            mins[bucket] = Some(h & 0xFF); // the smallest hash of the bucket comes first
        }
    }
    if mins.iter().all(Option::is_none) {
        return 0;
    }
    let mut out = 0u64;
    for j in 0..BUCKETS {
        let byte = match mins[j] {
            Some(m) => m,
            None => {
                let mut t = 1;
                while mins[(j + t) % BUCKETS].is_none() {
                    t += 1;
                }
                (mins[(j + t) % BUCKETS].unwrap_or(0) + t as u64 * ROTATE) & 0xFF
            }
        };
        out |= byte << (8 * j);
    }
    out
}

fn regex(pattern: &str) -> PyResult<Regex> {
    RegexBuilder::new(pattern)
        .size_limit(64 << 20) // `[^"\n]{1,200}` over Unicode classes is a large automaton
        .build()
        .map_err(|e| PyValueError::new_err(format!("pattern {pattern:?}: {e}")))
}

/// The signals' regexes, with Unicode classes as Python's `re` has them on `str`.
struct Patterns {
    cot_parts: Vec<(Vec<Vec<u8>>, Regex)>,
    code_task: Regex,
    how_much: Regex,
    what_is: Regex,
    mc_option: Regex,
    number: Regex,
    quoted: Regex,
}

impl Patterns {
    fn new(
        cot_parts: Vec<(Vec<String>, String)>,
        [code_task, how_much, what_is, mc_option, number, quoted]: [&str; 6],
    ) -> PyResult<Self> {
        let cot_parts = cot_parts
            .into_iter()
            .map(|(need, pattern)| Ok((need.into_iter().map(String::into_bytes).collect(), regex(&pattern)?)))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(Self {
            cot_parts,
            code_task: regex(code_task)?,
            how_much: regex(how_much)?,
            what_is: regex(what_is)?,
            mc_option: regex(mc_option)?,
            number: regex(number)?,
            quoted: regex(quoted)?,
        })
    }
}

/// Flags of a vocabulary word, above its capability-category bits (the low 8).
const COT_ANCHOR: u32 = 1 << 8;
const CODE_ANCHOR: u32 = 1 << 9;
const STOP_WORD: u32 = 1 << 10;
const CATEGORY_BITS: u32 = 0xFF;

/// What the signals know of words: category bits and flags per word, one lookup each.
fn vocabulary(
    keywords: HashMap<String, u32>,
    stop_words: HashSet<String>,
    cot_anchors: HashSet<String>,
    code_anchors: HashSet<String>,
) -> PyResult<FxHashMap<Vec<u8>, u32>> {
    let mut vocab: FxHashMap<Vec<u8>, u32> = FxHashMap::default();
    for (word, bit) in keywords {
        if bit & !CATEGORY_BITS != 0 {
            return Err(PyValueError::new_err(format!("category bit {bit} of {word:?} is not one of the low 8")));
        }
        *vocab.entry(word.into_bytes()).or_default() |= bit;
    }
    for (words, flag) in [(stop_words, STOP_WORD), (cot_anchors, COT_ANCHOR), (code_anchors, CODE_ANCHOR)] {
        for word in words {
            *vocab.entry(word.into_bytes()).or_default() |= flag;
        }
    }
    Ok(vocab)
}

/// One prompt's signals: `(cot, benchmark, categories, template, sketch, masked)`, the fields
/// of `signals.PromptSignals` in order.
pub(crate) type Signals = (bool, bool, u32, u64, Option<u64>, String);

/// The text-signal kernel, built once from the Python module's vocabulary and patterns.
#[pyclass(frozen, module = "stream_guard._native")]
pub(crate) struct TextKernel {
    vocab: FxHashMap<Vec<u8>, u32>,
    re: Patterns,
    scan: usize,
    min_words: usize,
    reasoning_bit: u32,
    code_bit: u32,
    math_bit: u32,
}

impl TextKernel {
    /// `signals.template_of` of readable text.
    fn template_of(&self, text: &[u8]) -> Vec<u8> {
        let re = &self.re;
        let unquoted: Cow<'_, [u8]> = if text.iter().any(|&b| b == b'"' || b == b'\'' || b == b'`') {
            re.quoted.replace_all(text, NoExpand(b"#"))
        } else {
            Cow::Borrowed(text)
        };
        let numbered = re.number.replace_all(&unquoted, NoExpand(b"#"));
        fold_spaces(&lowercase(&mask_names(&numbered)))
    }
}

#[pymethods]
impl TextKernel {
    #[new]
    #[pyo3(signature = (*, keywords, stop_words, cot_anchors, cot_parts, code_anchors, code_task, how_much,
                        what_is, mc_option, number, quoted, scan, min_words, reasoning_bit, code_bit, math_bit))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        keywords: HashMap<String, u32>,
        stop_words: HashSet<String>,
        cot_anchors: HashSet<String>,
        cot_parts: Vec<(Vec<String>, String)>,
        code_anchors: HashSet<String>,
        code_task: &str,
        how_much: &str,
        what_is: &str,
        mc_option: &str,
        number: &str,
        quoted: &str,
        scan: usize,
        min_words: usize,
        reasoning_bit: u32,
        code_bit: u32,
        math_bit: u32,
    ) -> PyResult<Self> {
        Ok(Self {
            vocab: vocabulary(keywords, stop_words, cot_anchors, code_anchors)?,
            re: Patterns::new(cot_parts, [code_task, how_much, what_is, mc_option, number, quoted])?,
            scan,
            min_words,
            reasoning_bit,
            code_bit,
            math_bit,
        })
    }

    /// `analyze_prompt(prompt, sketch=sketch)` as a tuple of `PromptSignals`' fields, or
    /// `None` for text the kernel does not read (the caller runs the Python reference).
    #[pyo3(signature = (prompt, sketch = false))]
    fn analyze(&self, prompt: &Bound<'_, PyString>, sketch: bool) -> Option<Signals> {
        Some(self.analyze_str(Readable::of(prompt.to_str().ok()?)?, sketch)) // (not UTF-8: a lone surrogate)
    }

    /// `prompt_fingerprint({"prompt": prompt})` (case and whitespace folded, xxh3), or `None`
    /// for text the kernel does not read.
    fn fingerprint(&self, prompt: &Bound<'_, PyString>) -> Option<u64> {
        Some(self.fingerprint_str(Readable::of(prompt.to_str().ok()?)?))
    }

    /// Whether the kernel reads this text (``None`` from :meth:`analyze` otherwise).
    fn reads(&self, text: &Bound<'_, PyString>) -> bool {
        text.to_str().is_ok_and(reads)
    }
}

impl TextKernel {
    /// [`TextKernel::analyze`] of text it reads.
    pub(crate) fn analyze_str(&self, Readable(prompt): Readable<'_>, sketch: bool) -> Signals {
        let re = &self.re;
        let text = ends(prompt, self.scan);
        let lower = lowercase(&text);
        let words = words_of(&lower);
        let mut flags = 0u32; // the categories and anchors of all words
        let mut content = Vec::with_capacity(if sketch { words.len() } else { 0 });
        for &w in &words {
            let f = self.vocab.get(w).copied().unwrap_or(0);
            flags |= f;
            if sketch && f & STOP_WORD == 0 {
                content.push(w);
            }
        }
        let mut categories = flags & CATEGORY_BITS;
        let has = |needle: &[u8]| text.windows(needle.len()).any(|w| w == needle);
        let multiple_choice = text.contains(&b'B') && text.contains(&b'C') && {
            let mut letters = 0u8;
            for caps in re.mc_option.captures_iter(&text) {
                if let Some(m) = caps.get(1) {
                    letters |= 1 << (m.as_bytes()[0] - b'A');
                }
            }
            letters.count_ones() >= 3
        };
        let code_task = (flags & CODE_ANCHOR != 0 || has(b">>>")) && re.code_task.is_match(&lower);
        let word_problem = re.what_is.is_match(&lower)
            || (re.how_much.is_match(&lower) && re.number.find_iter(&text).nth(1).is_some());
        if multiple_choice {
            categories |= self.reasoning_bit;
        }
        if code_task {
            categories |= self.code_bit;
        }
        if word_problem {
            categories |= self.math_bit;
        }
        let cot = flags & COT_ANCHOR != 0
            && re.cot_parts.iter().any(|(need, part)| {
                need.iter().any(|n| words.contains(n.as_slice())) && part.is_match(&lower)
            });
        let masked = self.template_of(&text);
        let template = xxh3_64(&masked);
        let signature = (sketch && content.len() >= self.min_words).then(|| signature(content.into_iter()));
        // masks replace whole matches of UTF-8 text: the masked text is valid UTF-8
        let masked = String::from_utf8(masked).unwrap_or_default();
        (cot, multiple_choice || code_task || word_problem, categories, template, signature, masked)
    }

    /// [`TextKernel::fingerprint`] of text it reads.
    pub(crate) fn fingerprint_str(&self, Readable(prompt): Readable<'_>) -> u64 {
        xxh3_64(&fold_spaces(&lowercase(prompt.as_bytes())))
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TextKernel>()?;
    m.add_class::<account::AccountKernel>()?;
    m.add_function(wrap_pyfunction!(members::fitting_rows, m)?)?;
    m.add_function(wrap_pyfunction!(members::majority_mask, m)?)?;
    // a Rust panic reaches Python as this BaseException: the worker dead-letters the event
    // like any processing error instead of stopping (stream/runtime.py)
    m.add("PanicException", m.py().get_type::<pyo3::panic::PanicException>())?;
    Ok(())
}
