//! YAML read into a tree that remembers where every key and value was written.
//!
//! serde stops at the first error and forgets positions, but `validate` must report every
//! problem with its line and column. So user files are first read into this tree, checked as a
//! whole against the JSON Schema of their Rust type (see [`crate::checked`]), and only then
//! deserialized. Scalars are resolved by the YAML 1.2 core schema, like serde-saphyr does.

use std::collections::HashMap;

use granit_parser::{Event, Options, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value as Json};

use crate::diag::{Finding, Pos};

/// Deeper nesting than this is certainly not an endpoint file; refusing it bounds the stack.
const MAX_DEPTH: usize = 64;
/// Aliases can expand a small file into a huge tree ("billion laughs"); this caps the nodes.
const MAX_NODES: usize = 100_000;

/// A YAML node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// A plain scalar that reads as a number, with the text as written: a number given where
    /// a string is expected is accepted only if this text is exactly the number's own spelling.
    Number(Number, String),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in file order; keys are unique (duplicates are reported and the first kept).
    Map(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

impl Node {
    /// The JSON equivalent, which schemas check and serde deserializes.
    pub fn to_json(&self) -> Json {
        match &self.value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n, _) => Json::Number(n.clone()),
            Value::Str(s) => Json::String(s.clone()),
            Value::Seq(items) => Json::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => Json::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }

    /// The node at a JSON pointer (`/spec/aws/subnetIds/1`), if there is one.
    pub fn at(&self, pointer: &str) -> Option<&Node> {
        self.walk(pointer).map(|(node, _)| node)
    }

    /// Where the key of the member at `pointer` was written (the node itself for array items).
    pub fn key_pos(&self, pointer: &str) -> Option<Pos> {
        self.walk(pointer)
            .map(|(node, key)| key.unwrap_or(node.pos))
    }

    fn walk(&self, pointer: &str) -> Option<(&Node, Option<Pos>)> {
        let mut node = self;
        let mut key_pos = None;
        for raw in pointer.split('/').skip(1) {
            let token = raw.replace("~1", "/").replace("~0", "~");
            match &node.value {
                Value::Map(entries) => {
                    let entry = entries.iter().find(|e| e.key == token)?;
                    key_pos = Some(entry.key_pos);
                    node = &entry.value;
                }
                Value::Seq(items) => {
                    node = items.get(token.parse::<usize>().ok()?)?;
                    key_pos = None;
                }
                _ => return None,
            }
        }
        Some((node, key_pos))
    }

    /// A short name of the node's type for messages ("a mapping", "the number 4000").
    pub fn describe(&self) -> String {
        match &self.value {
            Value::Null => "nothing (null)".into(),
            Value::Bool(b) => format!("the boolean {b}"),
            Value::Number(_, text) => format!("the number {text}"),
            Value::Str(s) => format!("the string {s:?}"),
            Value::Seq(_) => "a list".into(),
            Value::Map(_) => "a mapping".into(),
        }
    }
}

/// Everything read from one YAML text: its non-empty documents and the problems found.
///
/// A syntax error ends the reading at that point; other problems (duplicate keys) are
/// collected and the documents are still returned, so that they can be checked too.
#[derive(Debug, Default)]
pub struct Loaded {
    pub documents: Vec<Node>,
    pub problems: Vec<Finding>,
}

/// Reads every document of a YAML text.
pub fn load(text: &str) -> Loaded {
    let mut options = Options::default();
    options.emit_comments = false;
    options.flow_nesting_limit = MAX_DEPTH;
    options.block_nesting_limit = MAX_DEPTH;
    let mut builder = Builder::default();
    for event in Parser::new_from_str_with_options(text, options) {
        match event {
            Ok((event, span)) => {
                if let Err(problem) = builder.on_event(event, span) {
                    builder.out.problems.push(problem);
                    break;
                }
            }
            Err(err) => {
                let marker = err.marker();
                let pos = Pos {
                    line: marker.line().max(1),
                    column: marker.col() + 1,
                };
                builder
                    .out
                    .problems
                    .push(Finding::new(pos, format!("YAML syntax: {}", err.info())));
                break;
            }
        }
    }
    builder.out
}

/// A collection being filled while its events arrive.
enum Frame {
    Seq {
        items: Vec<Node>,
        pos: Pos,
        anchor: usize,
    },
    Map {
        entries: Vec<Entry>,
        pending_key: Option<(String, Pos)>,
        pos: Pos,
        anchor: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    out: Loaded,
}

fn pos_of(span: &Span) -> Pos {
    Pos {
        line: span.start.line().max(1),
        column: span.start.col() + 1,
    }
}

impl Builder {
    fn on_event(&mut self, event: Event<'_>, span: Span) -> Result<(), Finding> {
        let pos = pos_of(&span);
        match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentStart(..) => Ok(()),
            Event::DocumentEnd => {
                self.anchors.clear();
                Ok(())
            }
            Event::Scalar(text, style, anchor, tag) => {
                let forced_str = tag.is_some_and(|t| t.to_string().ends_with(":str"));
                let value = if style == ScalarStyle::Plain && !forced_str {
                    resolve_plain(&text)
                } else {
                    Value::Str(text.into_owned())
                };
                self.finish(Node { value, pos }, anchor, pos)
            }
            Event::SequenceStart(_, anchor, _) => {
                self.enter(pos)?;
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    pos,
                    anchor,
                });
                Ok(())
            }
            Event::MappingStart(_, anchor, _) => {
                self.enter(pos)?;
                self.stack.push(Frame::Map {
                    entries: Vec::new(),
                    pending_key: None,
                    pos,
                    anchor,
                });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, start, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { items, pos, anchor }) => (Value::Seq(items), pos, anchor),
                    Some(Frame::Map {
                        entries,
                        pos,
                        anchor,
                        ..
                    }) => (Value::Map(entries), pos, anchor),
                    None => return Ok(()),
                };
                self.finish(Node { value, pos: start }, anchor, start)
            }
            Event::Alias(id) => {
                let node = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| Finding::new(pos, "alias refers to an unknown anchor"))?;
                self.nodes += count_nodes(&node);
                if self.nodes > MAX_NODES {
                    return Err(Finding::new(
                        pos,
                        format!("aliases expand this file beyond {MAX_NODES} nodes"),
                    ));
                }
                self.finish(Node { pos, ..node }, 0, pos)
            }
            // Not emitted with the options we set, but the enum is open to them.
            _ => Ok(()),
        }
    }

    fn enter(&mut self, pos: Pos) -> Result<(), Finding> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Finding::new(
                pos,
                format!("nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    /// Places a completed node into its parent (or ends the document).
    fn finish(&mut self, node: Node, anchor: usize, pos: Pos) -> Result<(), Finding> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(Finding::new(
                pos,
                format!("the file holds more than {MAX_NODES} nodes"),
            ));
        }
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                // Empty documents (a trailing `---`) hold nothing to check.
                if node.value != Value::Null {
                    self.out.documents.push(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => {
                    let key = match node.value {
                        Value::Str(s) => s,
                        Value::Number(_, text) => text,
                        Value::Bool(b) => b.to_string(),
                        Value::Null => "null".to_string(),
                        Value::Seq(_) | Value::Map(_) => {
                            return Err(Finding::new(pos, "a mapping key must be a plain value"));
                        }
                    };
                    *pending_key = Some((key, node.pos));
                }
                Some((key, key_pos)) => {
                    if let Some(first) = entries.iter().find(|e| e.key == key) {
                        let line = first.key_pos.line;
                        self.out.problems.push(Finding::new(
                            key_pos,
                            format!("duplicate key `{key}` (first given on line {line})"),
                        ));
                    } else {
                        entries.push(Entry {
                            key,
                            key_pos,
                            value: node,
                        });
                    }
                }
            },
        }
        Ok(())
    }
}

fn count_nodes(node: &Node) -> usize {
    1 + match &node.value {
        Value::Seq(items) => items.iter().map(count_nodes).sum(),
        Value::Map(entries) => entries.iter().map(|e| count_nodes(&e.value)).sum(),
        _ => 0,
    }
}

/// Resolves a plain scalar by the YAML 1.2 core schema.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    match parse_number(text) {
        Some(n) => Value::Number(n, text.to_string()),
        None => Value::Str(text.to_string()),
    }
}

fn parse_number(text: &str) -> Option<Number> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let negative = text.starts_with('-');
    let radix = |prefix: &str, radix: u32| {
        let rest = digits.strip_prefix(prefix)?;
        let n = i64::from_str_radix(rest, radix).ok()?;
        Some(Number::from(if negative { -n } else { n }))
    };
    if let Some(n) = radix("0x", 16).or_else(|| radix("0o", 8)) {
        return Some(n);
    }
    if digits.is_empty() || !digits.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    if digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.parse::<i64>() {
            return Some(n.into());
        }
        if let Ok(n) = text.parse::<u64>() {
            return Some(n.into());
        }
    }
    // Floats: digits, one optional dot and exponent; Rust's parser also takes "inf"/"nan"
    // spellings that YAML's core schema does not, hence the character check.
    let float_chars = digits
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if float_chars {
        return text.parse::<f64>().ok().and_then(Number::from_f64);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        let loaded = load(text);
        assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
        assert_eq!(loaded.documents.len(), 1);
        loaded.documents.into_iter().next().unwrap()
    }

    #[test]
    fn resolves_core_schema_scalars() {
        let cases = [
            ("a: 12", Json::from(12)),
            ("a: '12'", Json::from("12")),
            ("a: 0x1F", Json::from(31)),
            ("a: 1.5", Json::from(1.5)),
            ("a: true", Json::from(true)),
            ("a: ~", Json::Null),
            ("a: !!str 12", Json::from("12")),
            (
                "a: 1379661944646413143",
                Json::from(1379661944646413143_i64),
            ),
            ("a: .inf", Json::from(".inf")),
            ("a: us-east-1", Json::from("us-east-1")),
        ];
        for (text, want) in cases {
            assert_eq!(one(text).to_json()["a"], want, "{text}");
        }
    }

    #[test]
    fn positions_point_at_keys_and_values() {
        let doc = one("a:\n  b: [x, y]\n  c: 3\n");
        assert_eq!(
            doc.at("/a/b/1").unwrap().pos,
            Pos {
                line: 2,
                column: 10
            }
        );
        assert_eq!(doc.key_pos("/a/c"), Some(Pos { line: 3, column: 3 }));
        assert_eq!(doc.at("/a").unwrap().pos, Pos { line: 2, column: 3 });
        assert!(doc.at("/a/zz").is_none());
    }

    #[test]
    fn duplicate_keys_are_reported_at_the_second() {
        let loaded = load("a: 1\nb: 2\na: 3\n");
        assert_eq!(loaded.problems.len(), 1);
        assert_eq!(loaded.problems[0].pos, Pos { line: 3, column: 1 });
        assert_eq!(loaded.documents[0].to_json()["a"], Json::from(1));
    }

    #[test]
    fn syntax_errors_and_limits_are_findings_not_panics() {
        assert_eq!(load("a: [1, 2\n").problems.len(), 1);
        assert_eq!(load(&"[".repeat(100_000)).problems.len(), 1);
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
        assert!(load(bomb).problems[0].message.contains("beyond"));
    }

    #[test]
    fn multiple_documents_skip_empty_ones() {
        let loaded = load("a: 1\n---\n---\nb: 2\n---\n");
        assert_eq!(loaded.documents.len(), 2);
        assert!(load("# only a comment\n").documents.is_empty());
    }
}
