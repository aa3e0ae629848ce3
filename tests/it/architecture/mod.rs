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
//! The table is read in `table.rs`, the code in `scan.rs`. The scanner is hand-written and
//! small: comments, strings and characters are blanked out, the rest is cut into identifiers and
//! punctuation, and paths are read from the tokens. Code under `#[cfg(test)]` (an item, or a
//! `mod tests;` file) is not counted: the column is about the product. What the column means is
//! written above the table in ARCHITECTURE.md.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

mod scan;
mod table;

use scan::{Crate, scan, tokens};
use table::{MayUse, Row, backticked, code_map, dependencies};

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
