//! `stream_guard._native`: the text signals of one prompt, compiled.
//!
//! The pure-Python reference is `stream_guard.core.signals` (`analyze_prompt`,
//! `prompt_fingerprint`) with `stream_guard.core.neardup.sketch`; this kernel gives the same
//! answers at a fraction of the cost (one pass for the words, ASCII regexes, no Python
//! objects per word). It takes every word list and pattern from the Python module that
//! builds it (`signals._native_kernel`), so the vocabulary has one source.
//!
//! It only reads text it reads exactly as Python does: ASCII without the information
//! separators `\x1c`-`\x1f` (whitespace to Python's `str.split` and `re`'s `\s`, not to
//! ASCII regexes). Other text gets `None`, and the caller runs the Python reference.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use rustc_hash::{FxHashMap, FxHashSet};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use regex::bytes::{NoExpand, Regex, RegexBuilder};
use xxhash_rust::xxh3::xxh3_64;

/// Buckets of the near-duplicate signature (one byte each), as in `neardup.K`.
const BUCKETS: usize = 8;
/// The bucket of a hash is its top 3 bits (`neardup._SHIFT`).
const BUCKET_SHIFT: u32 = 61;
/// Densification offset per bucket of distance (`neardup._ROTATE`).
const ROTATE: u64 = 0x9D;

/// Whether the kernel reads `text` exactly as the Python reference does.
fn eligible(text: &[u8]) -> bool {
    text.iter().all(|&b| b < 0x80 && !(0x1c..=0x1f).contains(&b))
}

/// Python's `str.isspace` on an eligible (ASCII, no `\x1c`-`\x1f`) byte.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `" ".join(text.split())` of eligible text.
fn fold_spaces(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for word in text.split(|&b| is_space(b)).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(word);
    }
    out
}

/// `signals._ends`: the first and last `scan` characters of a long prompt, joined by a newline.
fn ends(text: &[u8], scan: usize) -> Cow<'_, [u8]> {
    if text.len() <= 2 * scan {
        return Cow::Borrowed(text);
    }
    let mut out = Vec::with_capacity(2 * scan + 1);
    out.extend_from_slice(&text[..scan]);
    out.push(b'\n');
    out.extend_from_slice(&text[text.len() - scan..]);
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
    let mut words = FxHashSet::default();
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

fn ascii_regex(pattern: &str) -> PyResult<Regex> {
    RegexBuilder::new(pattern)
        .unicode(false)
        .build()
        .map_err(|e| PyValueError::new_err(format!("pattern {pattern:?}: {e}")))
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
type Signals = (bool, bool, u32, u64, Option<u64>, String);

/// The text-signal kernel, built once from the Python module's vocabulary and patterns.
#[pyclass(frozen, module = "stream_guard._native")]
struct TextKernel {
    vocab: FxHashMap<Vec<u8>, u32>,
    cot_parts: Vec<(Vec<Vec<u8>>, Regex)>,
    code_task: Regex,
    how_much: Regex,
    what_is: Regex,
    mc_option: Regex,
    number: Regex,
    quoted: Regex,
    scan: usize,
    min_words: usize,
    reasoning_bit: u32,
    code_bit: u32,
    math_bit: u32,
}

impl TextKernel {
    /// `signals.template_of` of eligible text.
    fn template_of(&self, text: &[u8]) -> Vec<u8> {
        let unquoted: Cow<'_, [u8]> = if text.iter().any(|&b| b == b'"' || b == b'\'' || b == b'`') {
            self.quoted.replace_all(text, NoExpand(b"#"))
        } else {
            Cow::Borrowed(text)
        };
        let numbered = self.number.replace_all(&unquoted, NoExpand(b"#"));
        let mut masked = mask_names(&numbered);
        masked.make_ascii_lowercase();
        fold_spaces(&masked)
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
        let cot_parts = cot_parts
            .into_iter()
            .map(|(need, pattern)| Ok((need.into_iter().map(String::into_bytes).collect(), ascii_regex(&pattern)?)))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(Self {
            vocab: vocabulary(keywords, stop_words, cot_anchors, code_anchors)?,
            cot_parts,
            code_task: ascii_regex(code_task)?,
            how_much: ascii_regex(how_much)?,
            what_is: ascii_regex(what_is)?,
            mc_option: ascii_regex(mc_option)?,
            number: ascii_regex(number)?,
            quoted: ascii_regex(quoted)?,
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
    fn analyze(&self, prompt: &str, sketch: bool) -> Option<Signals> {
        let raw = prompt.as_bytes();
        if !eligible(raw) {
            return None;
        }
        let text = ends(raw, self.scan);
        let lower = text.to_ascii_lowercase();
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
            for caps in self.mc_option.captures_iter(&text) {
                if let Some(m) = caps.get(1) {
                    letters |= 1 << (m.as_bytes()[0] - b'A');
                }
            }
            letters.count_ones() >= 3
        };
        let code_task = (flags & CODE_ANCHOR != 0 || has(b">>>")) && self.code_task.is_match(&lower);
        let word_problem = self.what_is.is_match(&lower)
            || (self.how_much.is_match(&lower) && self.number.find_iter(&text).nth(1).is_some());
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
            && self.cot_parts.iter().any(|(need, part)| {
                need.iter().any(|n| words.contains(n.as_slice())) && part.is_match(&lower)
            });
        let masked = self.template_of(&text);
        let template = xxh3_64(&masked);
        let signature = (sketch && content.len() >= self.min_words).then(|| signature(content.into_iter()));
        // ASCII in, ASCII out: the masked text is valid UTF-8
        let masked = String::from_utf8(masked).unwrap_or_default();
        Some((cot, multiple_choice || code_task || word_problem, categories, template, signature, masked))
    }

    /// `prompt_fingerprint({"prompt": prompt})` (case and whitespace folded, xxh3), or `None`
    /// for text the kernel does not read.
    fn fingerprint(&self, prompt: &str) -> Option<u64> {
        let raw = prompt.as_bytes();
        if !eligible(raw) {
            return None;
        }
        Some(xxh3_64(&fold_spaces(&raw.to_ascii_lowercase())))
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TextKernel>()?;
    Ok(())
}
