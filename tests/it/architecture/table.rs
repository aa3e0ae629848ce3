//! The document: the rows of ARCHITECTURE.md's code map, and the "may use" column read.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use super::DOC;

pub(super) struct Row {
    /// 1-based line in ARCHITECTURE.md.
    pub(super) line: usize,
    /// The backticked paths of the "path" column (`src/plan/`, `src/diag.rs`, ...).
    pub(super) paths: Vec<String>,
    /// The whole row, where a directory row names its files.
    pub(super) text: String,
    /// The "may use" column as written.
    pub(super) may_use: String,
}

pub(super) enum MayUse {
    Everything,
    Modules(BTreeSet<String>),
}

impl Row {
    pub(super) fn at(&self) -> String {
        format!("{DOC}:{}: row {}", self.line, self.paths.join(", "))
    }

    /// The column's crate modules: `everything`, `–` (none), or items `name` or
    /// `name (a note for the reader)`, comma-separated, where a name is a top-level module of
    /// the crate or an external crate of Cargo.toml's `[dependencies]` (not checked).
    pub(super) fn may_use(
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
pub(super) fn code_map(doc: &str) -> Result<Vec<Row>, String> {
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
pub(super) fn dependencies(root: &Path) -> BTreeSet<String> {
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

/// The texts between pairs of backticks.
pub(super) fn backticked(text: &str) -> impl Iterator<Item = &str> {
    text.split('`').skip(1).step_by(2)
}
