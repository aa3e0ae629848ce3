//! Where each key of a file format belongs: every mapping the JSON Schema describes, with the
//! keys it takes, so that an unknown key is matched against its own place's keys and a
//! misplaced one is told where it goes.

use serde_json::Value as Json;

/// Every mapping with properties in the schema `root`, from the document's root.
pub(super) fn places(root: &Json) -> Vec<Place> {
    let mut places = Vec::new();
    collect(root, root, &mut Vec::new(), &mut places, 0);
    places
}

/// A mapping the schema describes: where it sits and the keys it takes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Place {
    steps: Vec<Step>,
    pub(super) keys: Vec<String>,
}

/// One step from the document's root to a place.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    /// Any item of a list.
    Item,
    /// Any key of a mapping whose keys are names chosen by the user.
    AnyKey,
}

impl Place {
    /// Whether the mapping at `pointer` (a JSON pointer into the document) is this place.
    pub(super) fn holds(&self, pointer: &str) -> bool {
        let tokens: Vec<String> = pointer
            .split('/')
            .skip(1)
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect();
        tokens.len() == self.steps.len()
            && self
                .steps
                .iter()
                .zip(&tokens)
                .all(|(step, token)| match step {
                    Step::Key(k) => k == token,
                    Step::Item => token.parse::<usize>().is_ok(),
                    Step::AnyKey => true,
                })
    }

    /// How a person names the place: "in `spec.tidbCloud`", "in each of `clusters[].lifecycle`"
    /// "at the top level".
    pub(super) fn name(&self) -> String {
        if self.steps.is_empty() {
            return "at the top level".into();
        }
        let mut out = String::new();
        for step in &self.steps {
            match step {
                Step::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out += k;
                }
                Step::Item => out += "[]",
                Step::AnyKey => out += ".*",
            }
        }
        match out.strip_suffix("[]") {
            Some(list) => format!("in each item of `{list}`"),
            None => format!("in `{out}`"),
        }
    }
}

/// Every mapping with properties reachable from `schema` (at `steps` from the document's root),
/// following `$ref`s into `root`; `depth` bounds recursive definitions.
fn collect(root: &Json, schema: &Json, steps: &mut Vec<Step>, out: &mut Vec<Place>, depth: usize) {
    const MAX_DEPTH: usize = 24;
    let Json::Object(map) = schema else {
        return;
    };
    if depth > MAX_DEPTH {
        return;
    }
    if let Some(target) = map
        .get("$ref")
        .and_then(Json::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|pointer| root.pointer(pointer))
    {
        collect(root, target, steps, out, depth + 1);
    }
    for combinator in ["anyOf", "oneOf", "allOf"] {
        if let Some(Json::Array(options)) = map.get(combinator) {
            for option in options {
                collect(root, option, steps, out, depth + 1);
            }
        }
    }
    if let Some(Json::Object(props)) = map.get("properties") {
        let place = Place {
            steps: steps.clone(),
            keys: props.keys().cloned().collect(),
        };
        if !out.contains(&place) {
            out.push(place);
        }
        for (key, sub) in props {
            steps.push(Step::Key(key.clone()));
            collect(root, sub, steps, out, depth + 1);
            steps.pop();
        }
    }
    if let Some(sub @ Json::Object(_)) = map.get("additionalProperties") {
        steps.push(Step::AnyKey);
        collect(root, sub, steps, out, depth + 1);
        steps.pop();
    }
    if let Some(Json::Object(patterns)) = map.get("patternProperties") {
        for sub in patterns.values() {
            steps.push(Step::AnyKey);
            collect(root, sub, steps, out, depth + 1);
            steps.pop();
        }
    }
    let mut items: Vec<&Json> = Vec::new();
    match map.get("items") {
        Some(Json::Array(list)) => items.extend(list),
        Some(one) => items.push(one),
        None => {}
    }
    if let Some(Json::Array(list)) = map.get("prefixItems") {
        items.extend(list);
    }
    for item in items {
        steps.push(Step::Item);
        collect(root, item, steps, out, depth + 1);
        steps.pop();
    }
}
