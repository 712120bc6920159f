//! Who may change things: the bearer of the admin token, from a page of the console's own
//! origin.

use std::fmt;

use axum::http::{HeaderMap, header};

/// The admin token: whoever sends it may change jobs and queues. Never printed.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// A token from its text, trimmed; `None` when empty (an empty token would allow anyone).
    pub fn new(text: &str) -> Option<Token> {
        let text = text.trim();
        (!text.is_empty()).then(|| Token(text.to_owned()))
    }

    /// The token's text, for a client to send (`sluice tap`); never to be printed.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// Whether `given` is this token, compared in time independent of where they differ.
    fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(****)")
    }
}

/// Whether the request carries the token (`Authorization: Bearer TOKEN`).
pub(crate) fn authorized(token: Option<&Token>, headers: &HeaderMap) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    matches!((token, given), (Some(token), Some(given)) if token.matches(given.trim()))
}

/// Why a change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No token is configured: the console is read-only.
    ReadOnly,
    /// The request comes from a page of another site.
    CrossSite,
    /// The request lacks the token, or carries a wrong one.
    NoToken,
}

impl Refusal {
    /// What the person is told.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Refusal::ReadOnly => {
                "the console is read-only: start it with --admin-token-file FILE or SLUICE_ADMIN_TOKEN to allow changes and live samples of events"
            }
            Refusal::CrossSite => "a request from another site is refused",
            Refusal::NoToken => "this needs the admin token, as `Authorization: Bearer TOKEN`",
        }
    }
}

/// Lets a change through only with the token, and only from the console's own origin.
pub(crate) fn may_change(token: Option<&Token>, headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(expected) = token else {
        return Err(Refusal::ReadOnly);
    };
    if cross_site(headers) {
        return Err(Refusal::CrossSite);
    }
    if !authorized(Some(expected), headers) {
        return Err(Refusal::NoToken);
    }
    Ok(())
}

/// Whether the browser says the request comes from a page of another site.
fn cross_site(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if text("sec-fetch-site").is_some_and(|site| site == "cross-site" || site == "same-site") {
        return true;
    }
    match (text(header::ORIGIN.as_str()), text(header::HOST.as_str())) {
        (Some(origin), Some(host)) => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            origin == "null" || !origin_host.eq_ignore_ascii_case(host)
        }
        (Some(_), None) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn changes_need_the_token_from_the_same_origin() {
        let token = Token::new(" s3cret\n");
        let token = token.as_ref();
        let ok = headers(&[
            ("authorization", "Bearer s3cret"),
            ("host", "127.0.0.1:9599"),
        ]);
        assert!(may_change(token, &ok).is_ok());
        let same_origin = headers(&[
            ("authorization", "Bearer s3cret"),
            ("host", "127.0.0.1:9599"),
            ("origin", "http://127.0.0.1:9599"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert!(may_change(token, &same_origin).is_ok());
        for bad in [
            headers(&[("authorization", "Bearer s3cre"), ("host", "h")]),
            headers(&[("authorization", "s3cret"), ("host", "h")]),
            headers(&[("host", "h")]),
            headers(&[
                ("authorization", "Bearer s3cret"),
                ("host", "127.0.0.1:9599"),
                ("origin", "http://evil.example"),
            ]),
            headers(&[
                ("authorization", "Bearer s3cret"),
                ("host", "127.0.0.1:9599"),
                ("sec-fetch-site", "cross-site"),
            ]),
        ] {
            assert!(may_change(token, &bad).is_err(), "{bad:?}");
        }
        assert_eq!(may_change(None, &ok), Err(Refusal::ReadOnly));
        assert!(Token::new("  ").is_none());
        assert_eq!(format!("{:?}", Token::new("x")), "Some(Token(****))");
    }
}
