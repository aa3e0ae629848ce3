//! Query strings and form bodies (`application/x-www-form-urlencoded`), and their redaction for
//! the request log.

/// A decoded query string or form body.
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(text: &str) -> Query {
        Query(
            text.split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    /// The first value of `key`. Resource Manager's parameter names are case-insensitive
    /// (`api-version`, `$skipToken`); OAuth's are not, but never differ only by case.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// `+` is a space, `%XX` a byte.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push((hi * 16 + lo) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parameters that may carry a credential: never logged.
const SECRET_PARAMETERS: [&str; 6] = [
    "access_token",
    "client_secret",
    "client_assertion",
    "code",
    "refresh_token",
    "sig",
];

/// The query string with credentials replaced by `REDACTED`.
pub fn redacted(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if SECRET_PARAMETERS.iter().any(|s| s.eq_ignore_ascii_case(k)) => {
                format!("{k}=REDACTED")
            }
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_and_secrets_are_redacted() {
        let q =
            Query::parse("scope=https%3A%2F%2Fmanagement.azure.com%2F.default&a=b+c&API-VERSION=1");
        assert_eq!(
            q.get("scope"),
            Some("https://management.azure.com/.default")
        );
        assert_eq!(q.get("a"), Some("b c"));
        assert_eq!(q.get("api-version"), Some("1"));
        assert_eq!(q.get("missing"), None);
        assert_eq!(
            redacted("api-version=1&access_token=t&client_secret=s"),
            "api-version=1&access_token=REDACTED&client_secret=REDACTED"
        );
    }
}
