//! A client of a running process's admin server (`--admin-addr`): what `sluice top` and
//! `sluice tap` read.

use std::time::Duration;

use sluice_console::Token;

/// Where `sluice top` and `sluice tap` look when given no address.
pub(crate) const DEFAULT_ADDR: &str = "127.0.0.1:9598";

/// An admin server's address, with the admin token if one is given.
pub(crate) struct AdminClient {
    base: String,
    http: reqwest::Client,
    token: Option<Token>,
}

impl AdminClient {
    /// A client of `addr` (`HOST:PORT`, or an `http://` or `https://` address).
    pub(crate) fn new(addr: &str, token: Option<Token>) -> anyhow::Result<AdminClient> {
        sluice_connect::tls::install_provider();
        let base = if addr.starts_with("http://") || addr.starts_with("https://") {
            addr.trim_end_matches('/').to_owned()
        } else {
            format!("http://{addr}")
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .build()?;
        Ok(AdminClient { base, http, token })
    }

    /// The address, as shown to the person.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// `GET path` as JSON, within `limit`; the error says what went wrong in a person's words.
    pub(crate) async fn json(
        &self,
        path: &str,
        limit: Duration,
    ) -> Result<serde_json::Value, String> {
        let answer = self.send(path, Some(limit)).await?;
        let body = answer
            .bytes()
            .await
            .map_err(|e| format!("{}: the answer broke off: {e}", self.base))?;
        serde_json::from_slice(&body)
            .map_err(|e| format!("{} answered what is not JSON: {e}", self.base))
    }

    /// `GET path`, with the token if given, its body left to be read; an answer that is not a
    /// success is an error with what the server said.
    pub(crate) async fn send(
        &self,
        path: &str,
        limit: Option<Duration>,
    ) -> Result<reqwest::Response, String> {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(limit) = limit {
            request = request.timeout(limit);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.reveal());
        }
        let answer = request.send().await.map_err(|e| {
            if e.is_connect() {
                format!("{}: nothing answers there", self.base)
            } else if e.is_timeout() {
                format!("{}: no answer in time", self.base)
            } else {
                format!("{}: the request failed: {e}", self.base)
            }
        })?;
        let status = answer.status();
        if status.is_success() {
            return Ok(answer);
        }
        let body = answer.bytes().await.unwrap_or_default();
        let said = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_default();
        Err(format!("{} answered {status}: {said}", self.base))
    }
}
