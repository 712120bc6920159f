//! The `generator` source: synthetic events, counted or endless, as fast as possible or at a
//! steady rate; for demos, tests and benchmarks.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::component::{BuiltSource, Progress, Source, SourceContext};
use sluice_core::BoxError;
use sluice_core::trace::{self, SpanKind};
use sluice_event::{Event, Origin, Position};

/// What the generator makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// `{"seq": n}`.
    #[default]
    Sequence,
    /// Web service logs: `ts`, `level` (INFO 60%, DEBUG 20%, WARN 12%, ERROR 8%), `service`,
    /// `user_id`, `latency_ms` (median about 30 ms, one in ten above 100 ms) and `msg`.
    Logs,
}

/// Makes synthetic events.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorSource {
    /// How many events to make. Defaults to none: until shutdown.
    #[serde(default)]
    pub count: Option<u64>,
    /// Events per second. Defaults to none: as fast as the pipeline takes them.
    #[serde(default)]
    pub rate: Option<f64>,
    /// What to make. Defaults to `sequence`.
    #[serde(default)]
    pub preset: Preset,
    /// Fields added to every event. Defaults to none.
    #[serde(default)]
    pub fields: Map<String, Value>,
    /// Seed of the random choices, so runs repeat. Defaults to 42.
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_seed() -> u64 {
    42
}

const LEVELS: [(&str, u32); 4] = [("INFO", 60), ("DEBUG", 20), ("WARN", 12), ("ERROR", 8)];
const SERVICES: [&str; 8] = [
    "api", "auth", "billing", "search", "db", "cache", "worker", "gateway",
];
const PATHS: [&str; 5] = [
    "/v1/items/",
    "/v1/users/",
    "/v2/orders/",
    "/health",
    "/v1/search?q=term",
];
const STATUSES: [u16; 12] = [200, 200, 200, 200, 200, 201, 204, 304, 400, 404, 429, 500];

/// Makes the events of one generator.
struct Maker {
    preset: Preset,
    fields: Map<String, Value>,
    rng: fastrand::Rng,
    origin_source: Arc<str>,
    start_ms: u64,
}

impl Maker {
    fn make(&mut self, seq: u64) -> Event {
        let mut value = match self.preset {
            Preset::Sequence => json!({ "seq": seq }),
            Preset::Logs => self.log(seq),
        };
        if let Value::Object(map) = &mut value {
            for (k, v) in &self.fields {
                map.insert(k.clone(), v.clone());
            }
        }
        Event::new(value).with_origin(Arc::new(Origin {
            source: Arc::clone(&self.origin_source),
            position: Position::Sequence(seq),
            trace: trace::receive(&self.origin_source, SpanKind::Internal, || None, Vec::new),
        }))
    }

    fn log(&mut self, seq: u64) -> Value {
        let rng = &mut self.rng;
        let mut roll = rng.u32(0..100);
        let level = LEVELS
            .iter()
            .find(|(_, weight)| {
                let hit = roll < *weight;
                roll = roll.saturating_sub(*weight);
                hit
            })
            .map_or("INFO", |(l, _)| *l);
        let ts_ms = self.start_ms + seq * 3 + rng.u64(0..3);
        let ts =
            humantime::format_rfc3339_millis(SystemTime::UNIX_EPOCH + Duration::from_millis(ts_ms));
        let service = format!(
            "{}-{}",
            SERVICES[rng.usize(0..SERVICES.len())],
            rng.u8(0..10)
        );
        let path = PATHS[rng.usize(0..PATHS.len())];
        // Log-normal latency: exp(3.4 + N(0,1)), from a sum of uniforms as the normal.
        let normal: f64 = (0..12).map(|_| rng.f64()).sum::<f64>() - 6.0;
        let latency = ((3.4 + normal).exp() * 10.0).round() / 10.0;
        json!({
            "ts": ts.to_string(),
            "level": level,
            "service": service,
            "user_id": rng.u32(1..1_000_000),
            "latency_ms": latency.min(30_000.0),
            "msg": format!("request completed path={path}{} status={}", rng.u32(0..100_000), STATUSES[rng.usize(0..STATUSES.len())]),
        })
    }
}

impl Source for GeneratorSource {
    /// What it makes is valid: it has no error output.
    fn has_errors(&self) -> bool {
        false
    }

    /// Generates when the pipeline runs.
    fn build(&self, ctx: &SourceContext) -> Result<BuiltSource, BoxError> {
        let mut maker = Maker {
            preset: self.preset,
            fields: self.fields.clone(),
            rng: fastrand::Rng::with_seed(self.seed),
            origin_source: Arc::from(ctx.name.as_str()),
            start_ms: 1_767_225_600_000, // 2026-01-01T00:00:00Z, so runs repeat
        };
        let count = self.count;
        let seqs = move || 0..count.unwrap_or(u64::MAX);
        let source = ctx.pipeline.source(&ctx.name);
        let events = match self.rate.filter(|r| *r > 0.0) {
            None => source.from_iter(seqs().map(move |seq| maker.make(seq))),
            Some(rate) => {
                let every = Duration::from_secs_f64(1.0 / rate);
                let start = tokio::time::Instant::now();
                let paced = futures::stream::iter(seqs()).then(move |seq| {
                    let due = start + every.mul_f64(seq as f64);
                    async move {
                        tokio::time::sleep_until(due).await;
                        seq
                    }
                });
                source.from_stream(paced.map(move |seq| maker.make(seq)))
            }
        };
        Ok(BuiltSource {
            events,
            errors: None,
            progress: count.map(|n| Progress::new(n, "events")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::{Operators, Pipeline};

    #[tokio::test]
    async fn makes_repeatable_log_events() {
        let make = || {
            let ctx = SourceContext {
                pipeline: Pipeline::new("gen"),
                name: "gen".into(),
                errors_wired: false,
                breaker: None,
            };
            let source = GeneratorSource {
                count: Some(1000),
                preset: Preset::Logs,
                ..GeneratorSource::default()
            };
            source.build(&ctx).expect("built").events.collect()
        };
        let first = make().await.expect("ran");
        assert_eq!(first, make().await.expect("ran"), "same seed, same events");
        let errors = first
            .iter()
            .filter(|e| e.value()["level"] == "ERROR")
            .count();
        assert!((40..=120).contains(&errors), "about 8% errors: {errors}");
        assert!(
            first[0].value()["ts"]
                .as_str()
                .is_some_and(|t| t.starts_with("2026-01-01T"))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn paces_events_at_the_rate() {
        let ctx = SourceContext {
            pipeline: Pipeline::new("gen"),
            name: "gen".into(),
            errors_wired: false,
            breaker: None,
        };
        let source = GeneratorSource {
            count: Some(11),
            rate: Some(10.0),
            ..GeneratorSource::default()
        };
        let started = tokio::time::Instant::now();
        let n = source
            .build(&ctx)
            .expect("built")
            .events
            .count()
            .await
            .expect("ran");
        assert_eq!(n, 11);
        assert!(started.elapsed() >= Duration::from_secs(1));
    }
}
