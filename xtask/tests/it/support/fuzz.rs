//! The one fuzzing harness of the test suite, shared by the parsers' property tests
//! (src/parsers_fuzz.rs) and the GitHub answer tests: arbtest for a bounded time (`ELS_FUZZ_MS`
//! milliseconds per target, default 1500; `ELS_FUZZ_SEED` replays one case) over mutations of
//! real inputs that break their structure.

use std::sync::atomic::{AtomicUsize, Ordering};

use arbtest::arbitrary::{self, Unstructured};

/// Text that breaks structure: quotes, brackets, separators, a NUL, a multi-byte character.
pub const TOKENS: &[&str] = &[
    "\"",
    "'",
    "[",
    "]",
    "[[",
    "{",
    "}",
    "=",
    ":",
    ",",
    "<",
    ">",
    "</",
    "/>",
    "\n",
    "\r\n",
    "#",
    "-",
    "@",
    "0",
    "9",
    "99999999999999999999",
    "\0",
    "é",
    "\u{10ffff}",
    "---\n",
    "From ",
    " ",
    "null",
    "true",
    "1.5e999",
    "\\",
    "&amp;",
    "&#xFFFFFF;",
];

/// A mutation of `seed`: one to four deletions, insertions, duplicated lines or truncations.
pub fn mutate(u: &mut Unstructured<'_>, seed: &[u8]) -> arbitrary::Result<Vec<u8>> {
    let mut bytes = seed.to_vec();
    for _ in 0..u.int_in_range(1..=4)? {
        let len = bytes.len();
        let at = u.int_in_range(0..=len)?;
        match u.int_in_range(0..=4)? {
            0 => {
                let end = (at + u.int_in_range(1..=64)?).min(len);
                bytes.drain(at..end);
            }
            1 => {
                let token = *u.choose(TOKENS)?;
                bytes.splice(at..at, token.bytes());
            }
            2 => {
                let raw: Vec<u8> = u.arbitrary()?;
                bytes.splice(at..at, raw);
            }
            3 => {
                let start = bytes[..at]
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |i| i + 1);
                let end = bytes[at..]
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(len, |i| at + i + 1);
                let line = bytes[start..end].to_vec();
                bytes.splice(end..end, line);
            }
            _ => bytes.truncate(at),
        }
    }
    Ok(bytes)
}

fn budget_ms() -> u64 {
    std::env::var("ELS_FUZZ_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500)
}

/// Runs `property` on arbitrary data for the time budget and returns the cases run.
pub fn cases(
    name: &str,
    mut property: impl FnMut(&mut Unstructured<'_>) -> arbitrary::Result<()>,
) -> usize {
    let cases = AtomicUsize::new(0);
    let mut test = arbtest::arbtest(|u| {
        cases.fetch_add(1, Ordering::Relaxed);
        property(u)
    })
    .budget_ms(budget_ms());
    if let Some(seed) = std::env::var("ELS_FUZZ_SEED")
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
    {
        test = test.seed(seed);
    }
    test.run();
    let n = cases.load(Ordering::Relaxed);
    eprintln!("fuzz {name}: {n} cases, no panic");
    assert!(n > 0, "{name}: no case ran");
    n
}
