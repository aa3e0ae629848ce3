//! ARCHITECTURE.md's code map, checked against the code, so the document cannot drift (issue 19;
//! rust-analyzer's tidy tests are the model).
//!
//! The test reads the repository's own `src/` tree and the code-map table, and fails when:
//! - a file under `src/` is in no row (a directory row must also name the file in backticks);
//! - a row names a `src/` path, or a directory row a `.rs` file, that does not exist;
//! - a row's files refer (`crate::x`, `super::super::x`, `privatelinkd::x` in the binary) to a
//!   top-level module of the crate its "may use" column does not list;
//! - the column lists a module that no file of the row refers to (so it cannot go stale).
//!
//! The scanner is hand-written and small: comments, strings and characters are blanked out, the
//! rest is cut into identifiers and punctuation, and paths are read from the tokens. Code under
//! `#[cfg(test)]` (an item, or a `mod tests;` file) is not counted: the column is about the
//! product. What the column means is written above the table in ARCHITECTURE.md.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

const DOC: &str = "ARCHITECTURE.md";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn architecture_code_map_matches_the_code() {
    let root = root();
    let doc = fs::read_to_string(root.join(DOC)).expect("read ARCHITECTURE.md");
    let rows = code_map(&doc).unwrap_or_else(|e| panic!("{DOC}: {e}"));
    let crate_ = Crate::read(&root);
    let problems = check(&rows, &crate_, &dependencies(&root));
    assert!(
        problems.is_empty(),
        "{DOC}'s code map disagrees with the code ({} problem(s)); update the table (or the code):\n\n{}\n\n\
         (\"may use\" lists the other top-level modules of the crate a row's files refer to through \
         `crate::x` paths, test code aside: see the paragraph above the table.)",
        problems.len(),
        problems.join("\n\n")
    );
}

/// The checks, each problem as one message for the person who has to update the table.
fn check(rows: &[Row], crate_: &Crate, deps: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();

    // Every `src/` path a row names exists.
    for row in rows {
        for path in row.paths.iter().filter(|p| p.starts_with("src/")) {
            let exists = if path.ends_with('/') {
                crate_.files.keys().any(|f| f.starts_with(path.as_str()))
            } else {
                crate_.files.contains_key(path)
            };
            if !exists {
                problems.push(format!(
                    "{}: `{path}` is in the code map but not in the source tree (moved or removed?)",
                    row.at()
                ));
            }
        }
    }

    // Every file is in exactly one row; a directory row names each of its files.
    let mut files_of: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for file in crate_.files.keys() {
        let Some((row, covering)) = owner(rows, file) else {
            problems.push(format!(
                "`{file}` is in no row of the code map: add a row (path, what it holds, the crate \
                 modules it may use), or name it in backticks in the row of its directory"
            ));
            continue;
        };
        if covering.ends_with('/') {
            let relative = &file[covering.len()..];
            let named = backticked(&rows[row].text)
                .any(|t| t == relative || t.ends_with(&format!("/{relative}")));
            if !named {
                problems.push(format!(
                    "{}: `{file}` is under `{covering}` but the row does not name it: say in \
                     the \"holds\" column what `{relative}` holds",
                    rows[row].at()
                ));
            }
        }
        files_of.entry(row).or_default().push(file);
    }

    // A directory row names no `.rs` file that is not there.
    for row in rows {
        let dirs: Vec<&String> = row
            .paths
            .iter()
            .filter(|p| p.starts_with("src/") && p.ends_with('/'))
            .collect();
        if dirs.is_empty() {
            continue;
        }
        for name in backticked(&row.text).filter(|t| t.ends_with(".rs") && !t.starts_with("src/")) {
            let found = dirs.iter().any(|d| {
                crate_.files.contains_key(&format!("{d}{name}"))
                    || crate_.files.contains_key(&format!("src/{name}"))
            });
            if !found {
                problems.push(format!(
                    "{}: the row names `{name}`, which is not under {} (moved or removed?)",
                    row.at(),
                    dirs.iter()
                        .map(|d| format!("`{d}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }

    // "may use" against the code.
    for (index, row) in rows.iter().enumerate() {
        if !row.paths.iter().any(|p| p.starts_with("src/")) {
            continue; // not part of the crate: the column is for the reader only
        }
        let allowed = match row.may_use(&crate_.modules, deps) {
            Ok(MayUse::Everything) => continue,
            Ok(MayUse::Modules(m)) => m,
            Err(e) => {
                problems.push(format!("{}: {e}", row.at()));
                continue;
            }
        };
        // module used -> the files that use it
        let mut used: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for file in files_of.get(&index).into_iter().flatten() {
            let source = &crate_.files[*file];
            if source.test_only {
                continue;
            }
            for module in &source.uses {
                used.entry(module).or_default().push(file);
            }
        }
        let table: Vec<&str> = allowed.iter().map(String::as_str).collect();
        let code: Vec<&str> = used.keys().copied().collect();
        let mut messages = Vec::new();
        for (module, files) in &used {
            if !allowed.contains(*module) {
                messages.push(format!(
                    "uses `{module}` ({}), which \"may use\" does not list",
                    files.join(", ")
                ));
            }
        }
        for module in &allowed {
            if !used.contains_key(module.as_str()) {
                messages.push(format!(
                    "\"may use\" lists `{module}`, which no file of the row uses (stale?)"
                ));
            }
        }
        if !messages.is_empty() {
            let mut text = format!("{}:", row.at());
            for m in &messages {
                let _ = write!(text, "\n  - {m}");
            }
            let _ = write!(
                text,
                "\n  the code uses: {}\n  the table says: {}",
                list(&code),
                list(&table)
            );
            problems.push(text);
        }
    }
    problems
}

fn list(modules: &[&str]) -> String {
    if modules.is_empty() {
        "– (nothing)".to_owned()
    } else {
        modules.join(", ")
    }
}

/// The row that covers `file`, and the path of that row that does: a file named exactly wins
/// over a directory, a deeper directory over a shallower one.
fn owner<'a>(rows: &'a [Row], file: &str) -> Option<(usize, &'a str)> {
    let mut best: Option<(usize, &str)> = None;
    for (index, row) in rows.iter().enumerate() {
        for path in &row.paths {
            let covers = if path.ends_with('/') {
                file.starts_with(path.as_str())
            } else {
                file == path
            };
            let better = match best {
                None => true,
                Some((_, b)) => {
                    (!path.ends_with('/') && b.ends_with('/'))
                        || (path.ends_with('/') == b.ends_with('/') && path.len() > b.len())
                }
            };
            if covers && better {
                best = Some((index, path));
            }
        }
    }
    best
}

/// The texts between pairs of backticks.
fn backticked(text: &str) -> impl Iterator<Item = &str> {
    text.split('`').skip(1).step_by(2)
}

// ---------------------------------------------------------------------------------------------
// The document.

struct Row {
    /// 1-based line in ARCHITECTURE.md.
    line: usize,
    /// The backticked paths of the "path" column (`src/plan/`, `src/diag.rs`, ...).
    paths: Vec<String>,
    /// The whole row, where a directory row names its files.
    text: String,
    /// The "may use" column as written.
    may_use: String,
}

enum MayUse {
    Everything,
    Modules(BTreeSet<String>),
}

impl Row {
    fn at(&self) -> String {
        format!("{DOC}:{}: row {}", self.line, self.paths.join(", "))
    }

    /// The column's crate modules: `everything`, `–` (none), or items `name` or
    /// `name (a note for the reader)`, comma-separated, where a name is a top-level module of
    /// the crate or an external crate of Cargo.toml's `[dependencies]` (not checked).
    fn may_use(
        &self,
        modules: &BTreeSet<String>,
        deps: &BTreeSet<String>,
    ) -> Result<MayUse, String> {
        let cell = self.may_use.trim();
        if cell == "everything" {
            return Ok(MayUse::Everything);
        }
        let mut set = BTreeSet::new();
        if matches!(cell, "–" | "-" | "—" | "") {
            return Ok(MayUse::Modules(set));
        }
        for item in split_top_level(cell) {
            let item = item.trim();
            let name = match item.find('(') {
                Some(open) if item.ends_with(')') => item[..open].trim(),
                _ => item,
            };
            let name = name.trim_matches('`');
            let word = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
            if !word {
                return Err(format!(
                    "\"may use\" item {item:?} is not `name` or `name (note)`; the column is \
                     `everything`, `–`, or a comma-separated list of crate modules (and external \
                     crates)"
                ));
            }
            if modules.contains(name) {
                set.insert(name.to_owned());
            } else if !deps.contains(&name.replace('-', "_")) {
                return Err(format!(
                    "\"may use\" names `{name}`, which is neither a top-level module of the crate \
                     ({}) nor a crate of Cargo.toml's [dependencies]",
                    modules.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
        Ok(MayUse::Modules(set))
    }
}

/// Splits at commas outside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let (mut items, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&text[start..]);
    items
}

/// The rows of the table under "## Code map": `| path | holds | may use |`.
fn code_map(doc: &str) -> Result<Vec<Row>, String> {
    let lines: Vec<&str> = doc.lines().collect();
    let section = lines
        .iter()
        .position(|l| l.trim() == "## Code map")
        .ok_or("no \"## Code map\" section")?;
    let header = (section..lines.len())
        .find(|&i| lines[i].trim_start().starts_with('|'))
        .ok_or("no table under \"## Code map\"")?;
    let columns = cells(lines[header]);
    if columns != ["path", "holds", "may use"] {
        return Err(format!(
            "line {}: the code map's columns are {columns:?}, expected path | holds | may use",
            header + 1
        ));
    }
    let mut rows = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(header + 2) {
        if !line.trim_start().starts_with('|') {
            break;
        }
        let cells = cells(line);
        if cells.len() != 3 {
            return Err(format!(
                "line {}: a code-map row has {} cells, expected 3 (a `|` inside a cell?)",
                i + 1,
                cells.len()
            ));
        }
        let paths: Vec<String> = backticked(cells[0]).map(str::to_owned).collect();
        if paths.is_empty() {
            return Err(format!(
                "line {}: the path column names no path in backticks",
                i + 1
            ));
        }
        rows.push(Row {
            line: i + 1,
            paths,
            text: line.to_string(),
            may_use: cells[2].to_owned(),
        });
    }
    if rows.is_empty() {
        return Err("the code map has no rows".into());
    }
    Ok(rows)
}

fn cells(line: &str) -> Vec<&str> {
    let line = line.trim();
    let line = line.strip_prefix('|').unwrap_or(line);
    let line = line.strip_suffix('|').unwrap_or(line);
    line.split('|').map(str::trim).collect()
}

/// The external crates the product depends on (Cargo.toml's `[dependencies]`), `-` as `_`.
fn dependencies(root: &Path) -> BTreeSet<String> {
    let manifest = fs::read_to_string(root.join("Cargo.toml")).expect("read Cargo.toml");
    manifest
        .lines()
        .skip_while(|l| l.trim() != "[dependencies]")
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(key, _)| key.trim().replace('-', "_"))
        .filter(|k| !k.is_empty() && !k.starts_with('#'))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The code.

struct Crate {
    /// Top-level modules: `src/foo.rs` and `src/foo/`, the library's and the binary's (`cli`).
    modules: BTreeSet<String>,
    /// Every file under `src/`, by path from the repository's root (`src/plan/mod.rs`).
    files: BTreeMap<String, Source>,
}

struct Source {
    /// The other top-level modules this file refers to outside test code.
    uses: BTreeSet<String>,
    /// The file is test code only (`#[cfg(test)] mod tests;`, or `#![cfg(test)]`).
    test_only: bool,
}

impl Crate {
    fn read(root: &Path) -> Crate {
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
enum Tok {
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
fn tokens(text: &str) -> Vec<Tok> {
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

struct Scan {
    /// First segments of paths from the crate's root (names of modules, and of anything else).
    uses: BTreeSet<String>,
    /// `#[cfg(test)] mod x;`: files of test code.
    test_modules: Vec<String>,
    /// `#![cfg(test)]`.
    test_only: bool,
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
fn scan(t: &[Tok], module: &[String], in_binary: bool) -> Scan {
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

// ---------------------------------------------------------------------------------------------
// The checker checked: what it must see, and what it must not be fooled by.

#[test]
fn architecture_scanner_reads_paths_from_the_crate_root() {
    let source = r##"
        //! Uses `crate::doc_comment` only in a comment.
        use crate::{alpha, beta::{Gamma, delta::Epsilon}, self as whole};
        use super::super::zeta::Eta;
        use super::sibling; /* crate::block /* crate::nested */ comment */
        fn f<'a>(x: &'a str) -> char {
            let _ = "crate::in_string \" crate::escaped";
            let _ = r#"crate::raw "quoted" string"#;
            let _ = crate::theta::iota(x);
            let _ = other::crate_like::kappa;
            '\''
        }
        #[cfg(test)]
        #[allow(unused)]
        mod tests { use crate::test_only; }
        #[cfg(test)]
        mod more_tests;
        #[cfg(test)]
        use crate::test_import;
        pub(crate) fn g() -> [u8; 2] { crate::lambda::MU }
    "##;
    let module = ["top".to_owned(), "inner".to_owned()];
    let found = scan(&tokens(source), &module, false);
    let uses: Vec<&str> = found.uses.iter().map(String::as_str).collect();
    assert_eq!(uses, ["alpha", "beta", "lambda", "theta", "zeta"]);
    assert_eq!(found.test_modules, ["more_tests"]);

    // One `super` from a first-level module's file reaches the root; not from deeper.
    assert!(
        scan(&tokens("use super::x;"), &["a".to_owned()], false)
            .uses
            .contains("x")
    );
    assert!(
        scan(&tokens("use super::x;"), &module, false)
            .uses
            .is_empty()
    );
    // The binary reaches the library by its name.
    assert!(
        scan(&tokens("privatelinkd::plan::plan()"), &[], true)
            .uses
            .contains("plan")
    );
}

#[test]
fn architecture_may_use_column_grammar() {
    let modules: BTreeSet<String> = ["cloud", "plan", "yaml"].map(String::from).into();
    let deps: BTreeSet<String> = ["granit_parser"].map(String::from).into();
    let row = |cell: &str| Row {
        line: 1,
        paths: vec!["src/x.rs".into()],
        text: String::new(),
        may_use: cell.into(),
    };
    let modules_of = |cell: &str| match row(cell).may_use(&modules, &deps) {
        Ok(MayUse::Modules(m)) => Ok(m.into_iter().collect::<Vec<_>>()),
        Ok(MayUse::Everything) => Ok(vec!["*".to_owned()]),
        Err(e) => Err(e),
    };
    assert_eq!(modules_of("everything"), Ok(vec!["*".into()]));
    assert_eq!(modules_of("–"), Ok(vec![]));
    assert_eq!(
        modules_of("plan (types, the ownership marks), cloud, granit-parser"),
        Ok(vec!["cloud".into(), "plan".into()])
    );
    assert!(
        modules_of("cloud types").is_err(),
        "free words after a name"
    );
    assert!(
        modules_of("clod").is_err(),
        "neither a module nor a dependency"
    );
}
