//! `list` methods: the `filter`, `orderBy`, `maxResults` and `pageToken` parameters, as the
//! field docs of `ListRequest` describe them.
//!
//! Filters: comparisons `field OP value` with OP one of `=`, `!=`, `:`, `<`, `>`, `<=`, `>=`
//! (AIP-160; `field:*` tests presence, `labels.KEY:*` or `labels:KEY` a label's) or `eq`/`ne`
//! (the value is an RE2-style regular expression that must match the whole field); fields are
//! paths into the resource's JSON (`name`, `labels.owner`, `network`, `pscConnectionStatus`).
//! Expressions combine with parentheses, `AND` (or just a space) and `OR`; as in AIP-160, `OR`
//! binds tighter than `AND`. Anything else is answered 400.

use regex::Regex;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::model::compact;

/// The most, and default, results per page.
pub const MAX_RESULTS: usize = 500;

#[derive(Debug)]
enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Cmp {
        field: String,
        op: String,
        value: String,
    },
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

fn bad_filter(why: &str) -> ApiError {
    ApiError::invalid(format!("Invalid list filter expression: {why}"))
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn skip_space(&mut self) {
        let trimmed = self.rest().trim_start();
        self.at = self.text.len() - trimmed.len();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        let rest = self.rest();
        if !rest.starts_with(token) {
            return false;
        }
        // A word (AND, OR, eq, ne) must end there: `names` is a field, not `name` + `s`.
        let word = token.chars().all(char::is_alphabetic);
        let boundary = rest[token.len()..]
            .chars()
            .next()
            .is_none_or(|c| c.is_whitespace() || c == '(' || c == '\'' || c == '"');
        if !word || boundary {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    /// `and := or (('AND')? or)*`
    fn and(&mut self) -> Result<Expr, ApiError> {
        let mut all = vec![self.or()?];
        loop {
            self.skip_space();
            if self.rest().is_empty() || self.rest().starts_with(')') {
                break;
            }
            self.eat("AND");
            all.push(self.or()?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Expr::And(all)
        })
    }

    /// `or := factor ('OR' factor)*`
    fn or(&mut self) -> Result<Expr, ApiError> {
        let mut any = vec![self.factor()?];
        while self.eat("OR") {
            any.push(self.factor()?);
        }
        Ok(if any.len() == 1 {
            any.remove(0)
        } else {
            Expr::Or(any)
        })
    }

    fn factor(&mut self) -> Result<Expr, ApiError> {
        if self.eat("(") {
            let inner = self.and()?;
            if !self.eat(")") {
                return Err(bad_filter("missing ')'"));
            }
            return Ok(inner);
        }
        self.skip_space();
        let field_len = self
            .rest()
            .find(|c: char| !(c.is_alphanumeric() || c == '.' || c == '_' || c == '-'))
            .unwrap_or(self.rest().len());
        if field_len == 0 {
            return Err(bad_filter("expected a field name"));
        }
        let field = self.rest()[..field_len].to_string();
        self.at += field_len;
        let op = ["!=", "<=", ">=", "=", ":", "<", ">", "eq", "ne"]
            .into_iter()
            .find(|op| self.eat(op))
            .ok_or_else(|| bad_filter(&format!("expected an operator after '{field}'")))?;
        Ok(Expr::Cmp {
            field,
            op: op.to_string(),
            value: self.value()?,
        })
    }

    fn value(&mut self) -> Result<String, ApiError> {
        self.skip_space();
        let rest = self.rest().to_string();
        if let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let end = rest[1..]
                .find(quote)
                .ok_or_else(|| bad_filter("unterminated quote"))?;
            self.at += end + 2;
            return Ok(rest[1..=end].to_string());
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || c == ')')
            .unwrap_or(rest.len());
        if end == 0 {
            return Err(bad_filter("expected a value"));
        }
        self.at += end;
        Ok(rest[..end].to_string())
    }
}

/// A parsed filter, ready to test resources with.
#[derive(Debug)]
pub struct Filter(Option<Expr>);

impl Filter {
    pub fn parse(text: Option<&str>) -> Result<Filter, ApiError> {
        let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
            return Ok(Filter(None));
        };
        let mut parser = Parser { text, at: 0 };
        let expr = parser.and()?;
        parser.skip_space();
        if !parser.rest().is_empty() {
            return Err(bad_filter(&format!("unexpected '{}'", parser.rest())));
        }
        check(&expr)?;
        Ok(Filter(Some(expr)))
    }

    pub fn matches(&self, resource: &Value) -> bool {
        self.0.as_ref().is_none_or(|e| eval(e, resource))
    }
}

/// Regular expressions are compiled once here so that a bad one is a 400, not a silent miss.
fn check(expr: &Expr) -> Result<(), ApiError> {
    match expr {
        Expr::And(all) | Expr::Or(all) => all.iter().try_for_each(check),
        Expr::Cmp { op, value, .. } if op == "eq" || op == "ne" => anchored(value)
            .map(|_| ())
            .map_err(|_| bad_filter(&format!("bad regular expression '{value}'"))),
        Expr::Cmp { .. } => Ok(()),
    }
}

fn anchored(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{pattern})$"))
}

fn lookup<'v>(resource: &'v Value, field: &str) -> Option<&'v Value> {
    field
        .split('.')
        .try_fold(resource, |v, part| v.get(part))
        .filter(|v| !v.is_null())
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn eval(expr: &Expr, resource: &Value) -> bool {
    match expr {
        Expr::And(all) => all.iter().all(|e| eval(e, resource)),
        Expr::Or(any) => any.iter().any(|e| eval(e, resource)),
        Expr::Cmp { field, op, value } => {
            let found = lookup(resource, field);
            match (op.as_str(), found) {
                (":", Some(_)) if value == "*" => true,
                (":", Some(Value::Object(map))) => map.contains_key(value.as_str()),
                (":" | "=", Some(v)) => scalar(v) == *value,
                ("!=", Some(v)) => scalar(v) != *value,
                ("!=", None) => true,
                ("eq", Some(v)) => anchored(value).is_ok_and(|re| re.is_match(&scalar(v))),
                ("ne", Some(v)) => anchored(value).is_ok_and(|re| !re.is_match(&scalar(v))),
                ("ne", None) => true,
                (cmp @ ("<" | ">" | "<=" | ">="), Some(v)) => {
                    let (a, b) = (scalar(v), value.clone());
                    let order = match (a.parse::<f64>(), b.parse::<f64>()) {
                        (Ok(x), Ok(y)) => x.partial_cmp(&y),
                        _ => Some(a.cmp(&b)),
                    };
                    order.is_some_and(|o| match cmp {
                        "<" => o.is_lt(),
                        ">" => o.is_gt(),
                        "<=" => o.is_le(),
                        _ => o.is_ge(),
                    })
                }
                _ => false,
            }
        }
    }
}

/// A list's parameters, from the query string.
#[derive(Debug, Default)]
pub struct ListParams<'a> {
    pub filter: Option<&'a str>,
    pub max_results: Option<&'a str>,
    pub page_token: Option<&'a str>,
    pub order_by: Option<&'a str>,
}

/// A list answer: `{kind, id, items, nextPageToken, selfLink}` (`items` left out when empty).
/// Page tokens are opaque to clients; here they carry the offset of the next page.
pub fn list(
    mut items: Vec<Value>,
    params: &ListParams,
    kind: &str,
    self_link: &str,
) -> Result<Value, ApiError> {
    let filter = Filter::parse(params.filter)?;
    let max = match params.max_results {
        None => MAX_RESULTS,
        Some(text) => match text.parse::<usize>() {
            Ok(0) => MAX_RESULTS,
            Ok(n) if n <= MAX_RESULTS => n,
            _ => {
                return Err(ApiError::invalid_field(
                    "maxResults",
                    text,
                    "Must be less than or equal to 500",
                ));
            }
        },
    };
    let start = match params.page_token {
        None | Some("") => 0,
        Some(token) => token
            .strip_prefix("Cg")
            .and_then(|n| usize::from_str_radix(n, 16).ok())
            .ok_or_else(|| ApiError::invalid_field("pageToken", token, "Invalid page token."))?,
    };
    match params.order_by {
        None | Some("") | Some("name") => {}
        Some("creationTimestamp desc") => items
            .sort_by(|a, b| scalar(&b["creationTimestamp"]).cmp(&scalar(&a["creationTimestamp"]))),
        Some(other) => {
            return Err(ApiError::invalid_field(
                "orderBy",
                other,
                "Only sorting by name or creationTimestamp desc is supported.",
            ));
        }
    }
    let matching: Vec<Value> = items.into_iter().filter(|i| filter.matches(i)).collect();
    let next = (start + max < matching.len()).then(|| format!("Cg{:x}", start + max));
    let page: Vec<Value> = matching.into_iter().skip(start).take(max).collect();
    let id = self_link
        .strip_prefix(crate::model::LINK_BASE)
        .unwrap_or(self_link);
    Ok(compact(json!({
        "kind": kind,
        "id": id,
        "items": page,
        "nextPageToken": next,
        "selfLink": self_link,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str, labels: Value) -> Value {
        json!({"name": name, "labels": labels, "pscConnectionStatus": "PENDING", "priority": 900})
    }

    fn names(filter: &str, items: &[Value]) -> Vec<String> {
        let f = Filter::parse(Some(filter)).unwrap_or_else(|e| panic!("{filter}: {e:?}"));
        items
            .iter()
            .filter(|i| f.matches(i))
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn filters_follow_the_documented_forms() {
        let items = [
            r("a", json!({"owner": "privatelinkd", "doc": "orders"})),
            r("b", json!({"owner": "someone"})),
            r("c", json!({})),
        ];
        assert_eq!(names("labels.owner = privatelinkd", &items), ["a"]);
        assert_eq!(names("labels.owner=\"privatelinkd\"", &items), ["a"]);
        assert_eq!(names("labels.owner:*", &items), ["a", "b"]);
        assert_eq!(names("labels:doc", &items), ["a"]);
        assert_eq!(names("name != a", &items), ["b", "c"]);
        assert_eq!(names("(labels.owner = someone) (name = b)", &items), ["b"]);
        assert_eq!(names("(name = a) AND (labels.doc = orders)", &items), ["a"]);
        assert_eq!(names("(name = a) OR (name = c)", &items), ["a", "c"]);
        assert_eq!(names("name = c AND name = a OR name = c", &items), ["c"]);
        assert_eq!(names("name eq '[ab]'", &items), ["a", "b"]);
        assert_eq!(names("name ne a", &items), ["b", "c"]);
        assert_eq!(names("labels.owner eq priv.*", &items), ["a"]);
        assert_eq!(names("pscConnectionStatus = PENDING", &items).len(), 3);
        assert_eq!(names("priority < 1000", &items).len(), 3);
        for bad in [
            "name",
            "= a",
            "(name = a",
            "name = a)",
            "name eq '('",
            "name ~ a",
        ] {
            assert!(Filter::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn pages_follow_max_results_and_tokens() {
        let items: Vec<Value> = (0..7).map(|i| r(&format!("n{i}"), json!({}))).collect();
        let params = ListParams {
            max_results: Some("3"),
            ..Default::default()
        };
        let link = "https://www.googleapis.com/compute/v1/projects/p/regions/r/addresses";
        let first = list(items.clone(), &params, "compute#addressList", link).unwrap();
        assert_eq!(first["items"].as_array().unwrap().len(), 3);
        assert_eq!(first["id"], "projects/p/regions/r/addresses");
        let token = first["nextPageToken"].as_str().unwrap();
        let second = ListParams {
            max_results: Some("3"),
            page_token: Some(token),
            ..Default::default()
        };
        let page = list(items.clone(), &second, "k", link).unwrap();
        assert_eq!(page["items"][0]["name"], "n3");
        let bad = ListParams {
            max_results: Some("501"),
            ..Default::default()
        };
        assert_eq!(list(items.clone(), &bad, "k", link).unwrap_err().http, 400);
        let empty = list(Vec::new(), &ListParams::default(), "k", link).unwrap();
        assert!(empty.get("items").is_none() && empty.get("nextPageToken").is_none());
    }
}
