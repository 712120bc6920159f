//! Who may send to the `http` source: a bearer token or a user name and password (HTTP basic
//! authentication), each secret written inline (as `${VAR}`) or read from a file. A request
//! without the right `Authorization` header gets `401` and changes nothing.
//!
//! ```yaml
//! auth: { type: bearer, token: "${HOOK_TOKEN}" }
//! auth: { type: basic, username: hooks, password_file: /run/secrets/hooks }
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use sluice_event::secret::Secret;

/// How senders prove who they are.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    /// `Authorization: Bearer TOKEN`.
    Bearer {
        /// The token. Give it or `token_file`.
        token: Option<Secret>,
        /// A file holding the token.
        token_file: Option<PathBuf>,
    },
    /// `Authorization: Basic base64(USERNAME:PASSWORD)`.
    Basic {
        /// The user name.
        username: String,
        /// The password. Give it or `password_file`.
        password: Option<Secret>,
        /// A file holding the password.
        password_file: Option<PathBuf>,
    },
}

impl Auth {
    /// The `Authorization` header a sender must give, or why the secret cannot be had.
    pub(crate) fn header(&self) -> Result<Secret, String> {
        match self {
            Auth::Bearer { token, token_file } => {
                let token = Secret::inline_or_file(token.as_ref(), token_file.as_deref(), "token")?;
                Ok(Secret::new(format!("Bearer {}", token.expose())))
            }
            Auth::Basic {
                username,
                password,
                password_file,
            } => {
                let password = Secret::inline_or_file(
                    password.as_ref(),
                    password_file.as_deref(),
                    "password",
                )?;
                let pair = format!("{username}:{}", password.expose());
                Ok(Secret::new(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )))
            }
        }
    }

    /// What a refused request is told to send.
    fn challenge(&self) -> &'static str {
        match self {
            Auth::Bearer { .. } => "Bearer",
            Auth::Basic { .. } => "Basic realm=\"sluice\"",
        }
    }
}

/// An [`Auth`] ready to check requests.
#[derive(Debug, Clone)]
pub struct Guard {
    expected: Secret,
    challenge: &'static str,
}

impl Guard {
    /// Reads the secret now, so that a missing file fails at start.
    pub fn new(auth: &Auth) -> Result<Guard, String> {
        Ok(Guard {
            expected: auth.header()?,
            challenge: auth.challenge(),
        })
    }
}

/// Passes requests with the expected `Authorization` header; answers others `401`.
pub(crate) async fn check(guard: Arc<Guard>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    if given.is_some_and(|given| guard.expected.matches(given)) {
        return next.run(request).await;
    }
    let mut refused = (
        StatusCode::UNAUTHORIZED,
        "{\"error\":\"missing or wrong credentials\"}\n",
    )
        .into_response();
    refused.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(guard.challenge),
    );
    refused
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_built_from_the_secrets() {
        let bearer = Auth::Bearer {
            token: Some(Secret::new("t0k")),
            token_file: None,
        };
        assert!(bearer.header().is_ok_and(|h| h.matches(b"Bearer t0k")));
        let basic = Auth::Basic {
            username: "Aladdin".into(),
            password: Some(Secret::new("open sesame")),
            password_file: None,
        };
        assert!(
            basic
                .header()
                .is_ok_and(|h| h.matches(b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="))
        );
        let neither = Auth::Bearer {
            token: None,
            token_file: None,
        };
        assert!(neither.header().is_err());
    }
}
