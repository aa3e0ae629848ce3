//! The code: the files under `src/`, each with the crate's top-level modules it refers to
//! outside test code, read by a small hand-written scanner (see the test module's documentation).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

pub(super) struct Crate {
    /// Top-level modules: `src/foo.rs` and `src/foo/`, the library's and the binary's (`cli`).
    pub(super) modules: BTreeSet<String>,
    /// Every file under `src/`, by path from the repository's root (`src/plan/mod.rs`).
    pub(super) files: BTreeMap<String, Source>,
}

pub(super) struct Source {
    /// The other top-level modules this file refers to outside test code.
    pub(super) uses: BTreeSet<String>,
    /// The file is test code only (`#[cfg(test)] mod tests;`, or `#![cfg(test)]`).
    pub(super) test_only: bool,
}

impl Crate {
    pub(super) fn read(root: &Path) -> Crate {
        let src = root.join("src");
        let mut paths = Vec::new();
        walk(&src, &mut paths);
        let relative = |p: &Path| -> String {
            let r = p.strip_prefix(&src).expect("under src/");
            r.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        };
        let modules: BTreeSet<String> = paths
            .iter()
            .map(|p| relative(p))
            .filter(|r| r != "lib.rs" && r != "main.rs")
            .map(|r| {
                let first = r.split('/').next().unwrap_or_default();
                first.strip_suffix(".rs").unwrap_or(first).to_owned()
            })
            .collect();
        let library = fs::read_to_string(src.join("lib.rs"))
            .map(|text| declared_modules(&tokens(&text)))
            .unwrap_or_default();

        // First pass: each file's references and the modules it declares under #[cfg(test)].
        let mut scanned = Vec::new();
        let mut test_modules: BTreeSet<Vec<String>> = BTreeSet::new();
        for path in &paths {
            let rel = relative(path);
            let module = module_path(&rel);
            let text = fs::read_to_string(path).unwrap_or_default(); // non-UTF-8: no references
            let in_binary =
                rel == "main.rs" || module.first().is_some_and(|m| !library.contains(m));
            let scan = scan(&tokens(&text), &module, in_binary);
            for name in &scan.test_modules {
                let mut child = module.clone();
                child.push(name.clone());
                test_modules.insert(child);
            }
            scanned.push((rel, module, scan));
        }

        let mut files = BTreeMap::new();
        for (rel, module, scan) in scanned {
            let test_only =
                scan.test_only || (1..=module.len()).any(|n| test_modules.contains(&module[..n]));
            let own = module.first();
            let uses = scan
                .uses
                .into_iter()
                .filter(|m| modules.contains(m) && Some(m) != own)
                .collect();
            files.insert(format!("src/{rel}"), Source { uses, test_only });
        }
        Crate { modules, files }
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// `plan/mod.rs` -> `[plan]`, `cloud/sim/world.rs` -> `[cloud, sim, world]`, `lib.rs` -> `[]`.
fn module_path(relative: &str) -> Vec<String> {
    if relative == "lib.rs" || relative == "main.rs" {
        return Vec::new();
    }
    let mut parts: Vec<String> = relative.split('/').map(str::to_owned).collect();
    let last = parts.pop().unwrap_or_default();
    if last != "mod.rs" {
        parts.push(last.strip_suffix(".rs").unwrap_or(&last).to_owned());
    }
    parts
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

fn is(token: Option<&Tok>, word: &str) -> bool {
    matches!(token, Some(Tok::Ident(w)) if w == word)
}

/// The source as identifiers and punctuation; comments, strings, characters, numbers and
/// lifetimes dropped.
pub(super) fn tokens(text: &str) -> Vec<Tok> {
    let c: Vec<char> = text.chars().collect();
    let ident_start = |ch: char| ch.is_alphabetic() || ch == '_';
    let ident_continue = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if ch == '"' {
            i = skip_quoted(&c, i + 1, '"');
        } else if ident_start(ch) {
            let start = i;
            while i < c.len() && ident_continue(c[i]) {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            let at = c.get(i).copied();
            let raw_string = matches!(word.as_str(), "r" | "br" | "cr")
                && (at == Some('"') || (at == Some('#') && raw_quote(&c, i)));
            if raw_string {
                i = skip_raw(&c, i);
            } else if word == "r"
                && at == Some('#')
                && c.get(i + 1).is_some_and(|&n| ident_start(n))
            {
                let start = i + 1; // a raw identifier, r#type
                i = start;
                while i < c.len() && ident_continue(c[i]) {
                    i += 1;
                }
                out.push(Tok::Ident(c[start..i].iter().collect()));
            } else if matches!(word.as_str(), "b" | "c") && at == Some('"') {
                i = skip_quoted(&c, i + 1, '"');
            } else if word == "b" && at == Some('\'') {
                i = skip_quoted(&c, i + 1, '\'');
            } else {
                out.push(Tok::Ident(word));
            }
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
        } else if ch == '\'' {
            if next == Some('\\') {
                i = skip_quoted(&c, i + 1, '\'');
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3; // 'x'
            } else {
                i += 1; // a lifetime or a label: its name is dropped with it
                while i < c.len() && ident_continue(c[i]) {
                    i += 1;
                }
            }
        } else if ch == ':' && next == Some(':') {
            out.push(Tok::PathSep);
            i += 2;
        } else {
            out.push(Tok::Punct(ch));
            i += 1;
        }
    }
    out
}

/// From just after an opening quote to just after the closing one, escapes skipped.
fn skip_quoted(c: &[char], mut i: usize, quote: char) -> usize {
    while i < c.len() {
        if c[i] == '\\' {
            i += 2;
        } else if c[i] == quote {
            return i + 1;
        } else {
            i += 1;
        }
    }
    i
}

/// Whether `#`s at `i` are followed by a quote (a raw string's opening).
fn raw_quote(c: &[char], mut i: usize) -> bool {
    while c.get(i) == Some(&'#') {
        i += 1;
    }
    c.get(i) == Some(&'"')
}

/// From the `#`s (or quote) after `r` to just after the raw string's end.
fn skip_raw(c: &[char], mut i: usize) -> usize {
    let mut hashes = 0;
    while c.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    i += 1; // the opening quote
    while i < c.len() {
        if c[i] == '"' && (1..=hashes).all(|k| c.get(i + k) == Some(&'#')) {
            return i + 1 + hashes;
        }
        i += 1;
    }
    i
}

/// `mod x;` and `mod x { ... }` at any depth: the library's top-level modules.
fn declared_modules(tokens: &[Tok]) -> BTreeSet<String> {
    tokens
        .windows(2)
        .filter_map(|w| match w {
            [Tok::Ident(m), Tok::Ident(name)] if m == "mod" => Some(name.clone()),
            _ => None,
        })
        .collect()
}

pub(super) struct Scan {
    /// First segments of paths from the crate's root (names of modules, and of anything else).
    pub(super) uses: BTreeSet<String>,
    /// `#[cfg(test)] mod x;`: files of test code.
    pub(super) test_modules: Vec<String>,
    /// `#![cfg(test)]`.
    pub(super) test_only: bool,
}

fn cfg_test_at(t: &[Tok], i: usize) -> Option<usize> {
    let inner = t.get(i + 1) == Some(&Tok::Punct('!'));
    let j = if inner { i + 2 } else { i + 1 };
    let pattern = [
        Tok::Punct('['),
        Tok::Ident("cfg".into()),
        Tok::Punct('('),
        Tok::Ident("test".into()),
        Tok::Punct(')'),
        Tok::Punct(']'),
    ];
    (t.get(i) == Some(&Tok::Punct('#')) && t.get(j..j + pattern.len()) == Some(&pattern[..]))
        .then_some(j + pattern.len())
}

/// The index just after the item (or statement) starting at `i`: its `;` or its `{ ... }`,
/// whichever comes first outside brackets.
fn item_end(t: &[Tok], mut i: usize) -> usize {
    let mut depth = 0i32;
    while i < t.len() {
        match &t[i] {
            Tok::Punct('(' | '[') => depth += 1,
            Tok::Punct(')' | ']') => depth -= 1,
            Tok::Punct(';') if depth == 0 => return i + 1,
            Tok::Punct('{') if depth == 0 => {
                let mut braces = 0;
                while i < t.len() {
                    match &t[i] {
                        Tok::Punct('{') => braces += 1,
                        Tok::Punct('}') => {
                            braces -= 1;
                            if braces == 0 {
                                return i + 1;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                return i;
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// The paths in `t` that start at the crate's root: `crate::x`, `crate::{x, y::z}`,
/// `super::super::x` from deep enough, and `privatelinkd::x` in the binary.
pub(super) fn scan(t: &[Tok], module: &[String], in_binary: bool) -> Scan {
    let mut scan = Scan {
        uses: BTreeSet::new(),
        test_modules: Vec::new(),
        test_only: false,
    };
    let mut i = 0;
    while i < t.len() {
        if let Some(after) = cfg_test_at(t, i) {
            if t.get(i + 1) == Some(&Tok::Punct('!')) {
                scan.test_only = true;
                return scan;
            }
            let mut start = after;
            while t.get(start) == Some(&Tok::Punct('#')) {
                start = item_end_attribute(t, start);
            }
            let mut k = start;
            if is(t.get(k), "pub") {
                k += 1;
                if t.get(k) == Some(&Tok::Punct('(')) {
                    k = item_end_group(t, k);
                }
            }
            if let (true, Some(Tok::Ident(name)), Some(Tok::Punct(';'))) =
                (is(t.get(k), "mod"), t.get(k + 1), t.get(k + 2))
            {
                scan.test_modules.push(name.clone());
            }
            i = item_end(t, start);
            continue;
        }
        let after_sep = i > 0 && t[i - 1] == Tok::PathSep;
        let root_path = match &t[i] {
            Tok::Ident(w) if !after_sep && t.get(i + 1) == Some(&Tok::PathSep) => {
                if w == "crate" || (in_binary && w == "privatelinkd") {
                    Some(i + 2)
                } else if w == "super" {
                    let mut k = i;
                    let mut depth = module.len();
                    while is(t.get(k), "super") && t.get(k + 1) == Some(&Tok::PathSep) {
                        depth = depth.saturating_sub(1);
                        k += 2;
                    }
                    (depth == 0).then_some(k)
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some(k) = root_path {
            match t.get(k) {
                Some(Tok::Ident(name)) => {
                    scan.uses.insert(name.clone());
                }
                Some(Tok::Punct('{')) => {
                    let (mut depth, mut expect) = (0, true);
                    for token in &t[k..] {
                        match token {
                            Tok::Punct('{') => {
                                depth += 1;
                                expect = depth == 1;
                            }
                            Tok::Punct('}') => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            Tok::Punct(',') if depth == 1 => expect = true,
                            Tok::Ident(name) if expect && depth == 1 => {
                                if name != "self" {
                                    scan.uses.insert(name.clone());
                                }
                                expect = false;
                            }
                            _ => expect = false,
                        }
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    scan
}

/// Just after the attribute `#[...]` starting at `i`.
fn item_end_attribute(t: &[Tok], i: usize) -> usize {
    let mut k = i + 1;
    if t.get(k) == Some(&Tok::Punct('!')) {
        k += 1;
    }
    item_end_group(t, k)
}

/// Just after the bracketed group (`(...)` or `[...]`) opening at `i`.
fn item_end_group(t: &[Tok], mut i: usize) -> usize {
    let mut depth = 0;
    while i < t.len() {
        match &t[i] {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}
