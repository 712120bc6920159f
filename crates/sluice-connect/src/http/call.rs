//! `http_call`: enriches each event with the answer of an HTTP request.
//!
//! ```yaml
//! profile:
//!   type: http_call
//!   inputs: [orders]
//!   url: "http://users.internal/v1/users/{{ .user_id }}"
//!   target: .user            # where the JSON answer goes
//!   workers: 16              # requests in flight
//!   retry: { initial: 200ms, max_elapsed: 1m }
//!   timeout: 2s
//!   cache: { size: 10000, ttl: 5m }
//!   circuit_breaker: { failure_ratio: 0.5, min_calls: 20, open_for: 30s }
//! ```
//!
//! `408`, `429`, `5xx` answers, connection errors and timeouts are retried, by default for as
//! long as they last (`retry.max_attempts` or `max_elapsed` bound them); other `4xx` answers and
//! URLs the event cannot fill fail the event at once. While the breaker (a common option, see
//! `sluice_config::spec::BreakerSpec`) is open, events fail fast to the error output.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use sluice_core::{BoxError, Cache, Flow, ItemError, Operators};
use sluice_event::Event;

use crate::component::{Transform, TransformContext, TransformOutputs};
use sluice_jq::Program;

/// The request method.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// `GET`. The default.
    #[default]
    Get,
    /// `POST` with the event as a JSON body.
    Post,
}

/// Answers to keep (by URL).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSpec {
    /// How many answers. Defaults to 10000.
    #[serde(default = "default_cache_size")]
    pub size: u64,
    /// How long each is kept. Defaults to `5m`.
    #[serde(
        default = "default_cache_ttl",
        deserialize_with = "sluice_event::duration::deserialize"
    )]
    pub ttl: Duration,
}

fn default_cache_size() -> u64 {
    10_000
}
fn default_cache_ttl() -> Duration {
    Duration::from_secs(300)
}

/// The `http_call` transform.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCallTransform {
    /// The URL; each `{{ jq }}` in it is replaced by that expression's value on the event.
    pub url: Template,
    /// `GET` or `POST`. Defaults to `GET`.
    #[serde(default)]
    pub method: Method,
    /// Where the answer goes: a path like `.user.profile`. Defaults to `.response`.
    #[serde(default = "default_target")]
    pub target: Target,
    /// Extra request headers. Defaults to none.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Keep answers by URL. Defaults to none.
    #[serde(default)]
    pub cache: Option<CacheSpec>,
}

fn default_target() -> Target {
    Target(vec!["response".to_owned()])
}

/// A URL with `{{ jq }}` holes, read from its text.
#[derive(Debug, Clone)]
pub struct Template(Vec<Part>);

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Template, D::Error> {
        Template::parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// Where in an event an answer goes: a path like `.user.profile`, read from its text.
#[derive(Debug, Clone)]
pub struct Target(Vec<String>);

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Target, D::Error> {
        target_path(&String::deserialize(deserializer)?)
            .map(Target)
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Expr(Program),
}

impl Template {
    fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            parts.push(Part::Text(rest[..open].to_owned()));
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| {
                format!(
                    "`{{{{` at character {} is not closed with `}}}}`",
                    text.len() - rest.len() + open + 1
                )
            })?;
            let program = Program::compile(after[..close].trim())
                .map_err(|e| format!("in `{{{{{}}}}}`: {e}", &after[..close]))?;
            parts.push(Part::Expr(program));
            rest = &after[close + 2..];
        }
        parts.push(Part::Text(rest.to_owned()));
        Ok(Template(parts))
    }

    fn render(&self, event: &Event) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Expr(p) => match p.outputs(event)?.into_iter().next() {
                    Some(Value::String(s)) => out.push_str(&s),
                    Some(other) => out.push_str(&other.to_string()),
                    None => return Err(format!("`{}` gave nothing for the URL", p.code())),
                },
            }
        }
        Ok(out)
    }
}

/// A non-2xx answer.
#[derive(Debug)]
struct Status {
    url: String,
    status: u16,
    body: String,
}

impl Status {
    fn retryable(&self) -> bool {
        self.status == 408 || self.status == 429 || self.status >= 500
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} answered {}: {}", self.url, self.status, self.body)
    }
}

impl std::error::Error for Status {}

/// Whether an attempt's error may pass: a `408`, `429` or `5xx` answer, a connection that failed
/// or a request that timed out. Not another `4xx`, nor a URL the event cannot fill.
fn retryable(err: &ItemError) -> bool {
    match err {
        ItemError::User(e) => {
            if let Some(status) = e.downcast_ref::<Status>() {
                status.retryable()
            } else {
                e.downcast_ref::<reqwest::Error>()
                    .is_some_and(|e| !e.is_builder())
            }
        }
        ItemError::TimedOut(_) => true,
        _ => false,
    }
}

/// Parses a target path like `.user.profile`.
fn target_path(text: &str) -> Result<Vec<String>, String> {
    let trimmed = text.trim();
    let Some(rest) = trimmed.strip_prefix('.') else {
        return Err(format!(
            "`{text}` is not a path; write it like `.response` or `.user.profile`"
        ));
    };
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    rest.split('.')
        .map(|k| {
            if k.is_empty()
                || !k
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
            {
                Err(format!(
                    "`{text}` is not a path; write it like `.response` or `.user.profile`"
                ))
            } else {
                Ok(k.to_owned())
            }
        })
        .collect()
}

impl Transform for HttpCallTransform {
    fn retries(&self) -> bool {
        true
    }

    fn build(
        &self,
        input: Flow<Event>,
        ctx: &TransformContext,
    ) -> Result<TransformOutputs, BoxError> {
        let client = super::client(Duration::from_secs(300))?;
        let ctx = TransformContext {
            policy: ctx.policy.clone().retry_if(retryable),
            ..ctx.clone()
        };
        let (stage, errors) = ctx.stage(input);
        let call = Arc::new(Caller {
            client,
            method: self.method,
            headers: self.headers.clone(),
            url: self.url.clone(),
        });
        let fetch = {
            let call = Arc::clone(&call);
            move |event: &Event| {
                let call = Arc::clone(&call);
                let request = call.request(event);
                async move { call.send(request?).await }
            }
        };
        let target = self.target.0.clone();
        let merge = move |mut event: Event, answer: Value| {
            set(event.value_mut(), &target, answer);
            event
        };
        let enriched = match &self.cache {
            Some(spec) => {
                let cache: Cache<String, Value> = Cache::new(spec.size, spec.ttl);
                let key = {
                    let call = Arc::clone(&call);
                    move |event: &Event| call.url.render(event).unwrap_or_default()
                };
                stage.enrich_cached(ctx.workers, cache, key, fetch, merge)
            }
            None => stage.enrich(ctx.workers, fetch, merge),
        };
        Ok(TransformOutputs::main(enriched, errors))
    }
}

/// What a request needs.
struct Caller {
    client: reqwest::Client,
    method: Method,
    headers: BTreeMap<String, String>,
    url: Template,
}

struct Request {
    url: String,
    body: Option<Vec<u8>>,
}

impl Caller {
    fn request(&self, event: &Event) -> Result<Request, BoxError> {
        let url = self.url.render(event)?;
        let body = (self.method == Method::Post).then(|| {
            let mut body = Vec::new();
            event.write_json(&mut body);
            body
        });
        Ok(Request { url, body })
    }

    async fn send(&self, request: Request) -> Result<Value, BoxError> {
        let mut builder = match &request.body {
            Some(body) => self
                .client
                .post(&request.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone()),
            None => self.client.get(&request.url),
        };
        for (k, v) in &self.headers {
            builder = builder.header(k, v);
        }
        let response = builder.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            return Err(Box::new(Status {
                url: request.url,
                status: status.as_u16(),
                body: text.chars().take(200).collect(),
            }));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

fn set(value: &mut Value, path: &[String], answer: Value) {
    let Some((first, rest)) = path.split_first() else {
        *value = answer;
        return;
    };
    if !value.is_object() {
        *value = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(map) = value {
        set(
            map.entry(first.clone()).or_insert(Value::Null),
            rest,
            answer,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_fill_holes_from_the_event() {
        let t = Template::parse("http://u/{{ .id }}/x?q={{.q}}").expect("valid");
        let event = Event::new(json!({"id": 7, "q": "a b"}));
        assert_eq!(t.render(&event), Ok("http://u/7/x?q=a b".to_owned()));
        assert!(Template::parse("http://u/{{ .id").is_err());
    }

    #[test]
    fn targets_are_dotted_paths() {
        assert_eq!(
            target_path(".user.profile"),
            Ok(vec!["user".to_owned(), "profile".to_owned()])
        );
        assert!(target_path("user").is_err());
    }
}
