//! A problem found in a user's file, with the place to fix it.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// A line and column in a source file, both counted from 1 as editors show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    /// The start of a file: where problems without a better place are reported.
    pub const START: Pos = Pos { line: 1, column: 1 };
}

/// One problem in one file: printed as `PATH:LINE:COL: error: MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Diagnostic {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Diagnostic {
    pub fn new(path: impl Into<PathBuf>, pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic {
            path: path.into(),
            line: pos.line,
            column: pos.column,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.path.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// A problem located in a document whose file name is added later, by whoever read the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub pos: Pos,
    pub message: String,
}

impl Finding {
    pub fn new(pos: Pos, message: impl Into<String>) -> Self {
        Finding {
            pos,
            message: message.into(),
        }
    }

    pub fn in_file(self, path: impl Into<PathBuf>) -> Diagnostic {
        Diagnostic::new(path, self.pos, self.message)
    }
}
