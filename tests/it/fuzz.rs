//! Mutation fuzzing of the two readers of user input, on stable Rust: the endpoint file reader
//! and the daemon-config reader get the validation corpus mutated (bit flips, cut and repeated
//! bytes, YAML punctuation, splices of two files), and must never panic nor take a second.
//!
//! The suite runs a few thousand inputs; the on-demand run (figures in BENCHMARKS.md) a million:
//! `PRIVATELINKD_FUZZ_CASES=1000000 cargo test --release --test it -- --ignored fuzz::`

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use privatelinkd::settings::Settings;
use privatelinkd::source;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Every file a user could hand the readers, as bytes.
fn corpus() -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for dir in [
        "tests/fixtures/invalid",
        "tests/fixtures/valid",
        "tests/fixtures/valid/nested",
        "examples/endpoints",
        "examples/demo/endpoints",
    ] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                files.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    for path in [
        "config/privatelinkd.yaml",
        "examples/demo/privatelinkd.yaml",
        "examples/demo/world.yaml",
    ] {
        files.push((path.into(), std::fs::read(path).unwrap()));
    }
    files
}

/// One change to an input.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit {
        at: usize,
        bit: u8,
    },
    Delete {
        at: usize,
        len: usize,
    },
    Repeat {
        at: usize,
        len: usize,
        times: u8,
    },
    Insert {
        at: usize,
        token: &'static str,
    },
    /// The tail of another corpus file from `at`.
    Splice {
        at: usize,
        other: usize,
        from: usize,
    },
}

/// YAML's own punctuation and the things parsers trip on.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ": ",
    "- ",
    "---\n",
    "...\n",
    "&a ",
    "*a",
    "!!str ",
    "!!binary ",
    "? ",
    "|\n",
    ">-\n",
    "\"",
    "'",
    "\\",
    "\t",
    "\n",
    "  ",
    "#",
    "%YAML 1.2\n",
    "<<: *a\n",
    "\u{feff}",
    "é",
    "\u{0}",
    "0x1F",
    "1e999",
    "-.inf",
    "~",
    "null",
    "true",
    "9999999999999999999999",
    "subnetIds",
    "metadata",
    "apiVersion: privatelinkd.io/v1\n",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<prop::sample::Index>();
    prop_oneof![
        (at.clone(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit {
            at: at.index(usize::MAX),
            bit
        }),
        (at.clone(), 1usize..64).prop_map(|(at, len)| Mutation::Delete {
            at: at.index(usize::MAX),
            len
        }),
        (at.clone(), 1usize..32, 2u8..64).prop_map(|(at, len, times)| Mutation::Repeat {
            at: at.index(usize::MAX),
            len,
            times
        }),
        (at.clone(), prop::sample::select(TOKENS)).prop_map(|(at, token)| Mutation::Insert {
            at: at.index(usize::MAX),
            token
        }),
        (at.clone(), any::<usize>(), any::<usize>()).prop_map(|(at, other, from)| {
            Mutation::Splice {
                at: at.index(usize::MAX),
                other,
                from,
            }
        }),
    ]
}

fn mutate(input: &[u8], mutations: &[Mutation], corpus: &[(PathBuf, Vec<u8>)]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for m in mutations {
        let place = |at: usize, len: usize| if len == 0 { 0 } else { at % (len + 1) };
        match *m {
            Mutation::FlipBit { at, bit } if !bytes.is_empty() => {
                let i = at % bytes.len();
                bytes[i] ^= 1 << bit;
            }
            Mutation::FlipBit { .. } => {}
            Mutation::Delete { at, len } => {
                let i = place(at, bytes.len());
                let end = (i + len).min(bytes.len());
                bytes.drain(i..end);
            }
            Mutation::Repeat { at, len, times } => {
                let i = place(at, bytes.len());
                let end = (i + len).min(bytes.len());
                let chunk = bytes[i..end].to_vec();
                for _ in 0..times {
                    bytes.splice(i..i, chunk.iter().copied());
                }
            }
            Mutation::Insert { at, token } => {
                let i = place(at, bytes.len());
                bytes.splice(i..i, token.bytes());
            }
            Mutation::Splice { at, other, from } => {
                let i = place(at, bytes.len());
                let other = &corpus[other % corpus.len()].1;
                let from = place(from, other.len());
                bytes.truncate(i);
                bytes.extend_from_slice(&other[from..]);
            }
        }
    }
    bytes
}

/// Runs `cases` mutated inputs through both readers; returns how many ran and the slowest.
fn fuzz(cases: u32) -> (u32, Duration) {
    let corpus = corpus();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let slowest = std::cell::Cell::new(Duration::ZERO);
    let ran = std::cell::Cell::new(0);
    let strategy = (0..corpus.len(), prop::collection::vec(mutation(), 1..6));
    let result = runner.run(&strategy, |(base, mutations)| {
        let input = mutate(&corpus[base].1, &mutations, &corpus);
        let started = Instant::now();
        let file = source::parse_file(Path::new("fuzzed.yaml"), &input);
        // A file is either valid or says why, at a place inside it.
        prop_assert!(file.is_valid() || !file.problems.is_empty());
        if let Ok(text) = std::str::from_utf8(&input) {
            let _ = Settings::parse(Path::new("/etc/privatelinkd/fuzzed.yaml"), text);
        }
        let took = started.elapsed();
        slowest.set(slowest.get().max(took));
        ran.set(ran.get() + 1);
        prop_assert!(
            took < Duration::from_secs(1),
            "took {took:?}: {:?}",
            String::from_utf8_lossy(&input)
        );
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    (ran.get(), slowest.get())
}

#[test]
fn mutated_files_and_configs_never_panic_or_hang() {
    let (ran, slowest) = fuzz(3_000);
    assert!(ran >= 3_000);
    eprintln!("{ran} inputs, slowest {slowest:?}");
}

/// The on-demand run: `PRIVATELINKD_FUZZ_CASES` inputs (a million for BENCHMARKS.md).
#[test]
#[ignore]
fn fuzz_on_demand() {
    let cases = std::env::var("PRIVATELINKD_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let started = Instant::now();
    let (ran, slowest) = fuzz(cases);
    eprintln!(
        "fuzz: {ran} inputs in {:?}, zero panics, slowest input {slowest:?}",
        started.elapsed()
    );
}
