//! The worker file: which store, which queues, how each kind of job is run, schedules and
//! retention. Read like a pipeline file: `${VAR}` interpolation, `--set key.path=value`, and
//! every problem reported at once with file, line, column and key path. [`WorkerSettings`] is
//! the file checked; [`WorkerSettings::worker`] makes the worker it describes on a store.
//!
//! ```yaml
//! store: sqlite://sluice-jobs.db
//! queues:
//!   default: { concurrency: 10, prefetch: 40 }
//!   reports: { concurrency: 2, partition_limit: 1, rate_limit: { rate: 10, per: 1s } }
//! kinds:
//!   send_email:
//!     handler: { type: http, url: "http://mailer.internal/send" }
//!     timeout: 30s
//!   resize:
//!     handler: { type: exec, command: [convert-image, --stdin] }
//!     max_attempts: 5
//!     backoff: { initial: 10s, max: 1h }
//!   nightly_etl:
//!     handler: { type: pipeline, path: etl.yaml }
//! schedules:
//!   nightly:
//!     cron: "0 3 * * *"
//!     timezone: Europe/Paris
//!     job: { kind: nightly_etl, queue: reports }
//! retention: { succeeded: 1d, dead: 30d }
//! ```
//!
//! A kind may keep its jobs for a time of its own, in every queue: `kinds: { report: {
//! handler: …, retention: { succeeded: 90d } } }`.

mod handler;

pub use handler::{HandlerSpec, PipelineHandler};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use sluice_core::policy::{Backoff, RateLimit};
use sluice_jobs::store::{RateScope, SharedRate};
use sluice_jobs::worker::{KindConfig, Retention};
use sluice_jobs::{JobState, NewJob, QueueConfig, Schedule, Store, Worker, WorkerBuilder};

use crate::diagnostic::{Diagnostic, Diagnostics, Loc};
use crate::spec::{JitterSpec, TracingSpec};

/// The worker file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerFile {
    /// The store's address. `--store` and `SLUICE_STORE` win over it.
    #[serde(default)]
    pub store: Option<String>,
    /// The worker's name. Defaults to `HOST-PID-RANDOM`.
    #[serde(default)]
    pub name: Option<String>,
    /// How long a running job's lease lasts. Defaults to `30s`.
    #[serde(
        default,
        deserialize_with = "sluice_event::duration::deserialize_option"
    )]
    pub lease: Option<Duration>,
    /// How long shutdown waits for running jobs. Defaults to `30s`.
    #[serde(
        default,
        deserialize_with = "sluice_event::duration::deserialize_option"
    )]
    pub shutdown_timeout: Option<Duration>,
    /// The queues served. Defaults to `default` with 10 jobs at once.
    #[serde(default)]
    queues: BTreeMap<String, QueueSpec>,
    /// How each kind of job runs.
    #[serde(default)]
    pub kinds: BTreeMap<String, KindSpec>,
    /// Cron schedules.
    #[serde(default)]
    schedules: BTreeMap<String, ScheduleSpec>,
    /// How long finished jobs are kept.
    #[serde(default)]
    retention: Option<RetentionSpec>,
    /// Where the worker's traces go. Defaults to the `OTEL_*` variables.
    #[serde(default)]
    pub tracing: Option<TracingSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueSpec {
    #[serde(default)]
    concurrency: Option<usize>,
    #[serde(default)]
    prefetch: Option<usize>,
    #[serde(default)]
    partition_limit: Option<u32>,
    #[serde(default)]
    rate_limit: Option<RateSpec>,
    #[serde(default)]
    shared_rate: Option<SharedRateSpec>,
    #[serde(
        default,
        deserialize_with = "sluice_event::duration::deserialize_option"
    )]
    poll_interval: Option<Duration>,
    #[serde(default)]
    retention: Option<RetentionSpec>,
}

/// A queue's rate shared by every worker: `{ limit: 100, per: 1m }`, counted for the whole
/// queue or `by: kind` or `by: partition_key`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SharedRateSpec {
    limit: u32,
    #[serde(deserialize_with = "sluice_event::duration::deserialize")]
    per: Duration,
    #[serde(default)]
    by: RateScope,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RateSpec {
    rate: u32,
    #[serde(
        default = "one_second",
        deserialize_with = "sluice_event::duration::deserialize"
    )]
    per: Duration,
    #[serde(default = "one")]
    burst: u32,
}

fn one_second() -> Duration {
    Duration::from_secs(1)
}

fn one() -> u32 {
    1
}

/// How jobs of one kind run.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindSpec {
    /// What runs them.
    pub handler: HandlerSpec,
    #[serde(
        default,
        deserialize_with = "sluice_event::duration::deserialize_option"
    )]
    timeout: Option<Duration>,
    #[serde(default)]
    max_attempts: Option<u32>,
    #[serde(default)]
    backoff: Option<BackoffSpec>,
    #[serde(default)]
    retention: Option<RetentionSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackoffSpec {
    #[serde(
        default = "one_second",
        deserialize_with = "sluice_event::duration::deserialize"
    )]
    initial: Duration,
    #[serde(
        default = "one_hour",
        deserialize_with = "sluice_event::duration::deserialize"
    )]
    max: Duration,
    #[serde(default = "two")]
    multiplier: f64,
    #[serde(default = "equal")]
    jitter: JitterSpec,
}

fn one_hour() -> Duration {
    Duration::from_secs(3600)
}

fn two() -> f64 {
    2.0
}

fn equal() -> JitterSpec {
    JitterSpec::Equal
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleSpec {
    cron: String,
    #[serde(default)]
    timezone: Option<String>,
    job: NewJob,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionSpec {
    #[serde(
        default,
        deserialize_with = "sluice_event::duration::deserialize_option"
    )]
    succeeded: Option<Duration>,
    #[serde(
        default,
        deserialize_with = "sluice_event::duration::deserialize_option"
    )]
    dead: Option<Duration>,
    #[serde(
        default,
        deserialize_with = "sluice_event::duration::deserialize_option"
    )]
    cancelled: Option<Duration>,
}

impl RetentionSpec {
    fn rules(&self, queue: Option<&str>, kind: Option<&str>) -> Vec<Retention> {
        [
            (JobState::Succeeded, self.succeeded),
            (JobState::Dead, self.dead),
            (JobState::Cancelled, self.cancelled),
        ]
        .into_iter()
        .filter_map(|(state, keep)| {
            keep.map(|keep| Retention {
                state,
                queue: queue.map(str::to_owned),
                kind: kind.map(str::to_owned),
                keep,
            })
        })
        .collect()
    }
}

/// A worker file, checked: everything the worker needs but the store and the handlers.
#[derive(Debug)]
pub struct WorkerSettings {
    /// The file's name, as messages give it.
    pub name: String,
    /// The file as written.
    pub file: WorkerFile,
    /// Where it is (pipeline paths are relative to it).
    pub dir: PathBuf,
    /// The queues.
    pub queues: Vec<QueueConfig>,
    /// Each kind's settings.
    pub kinds: BTreeMap<String, KindConfig>,
    /// The schedules.
    pub schedules: Vec<Schedule>,
    /// Retention rules.
    pub retention: Vec<Retention>,
}

impl WorkerSettings {
    /// Reads a worker file (`None`: the defaults), with `--set` overrides and `${VAR}`s from
    /// the environment.
    pub fn read(path: Option<&Path>, sets: &[String]) -> Result<WorkerSettings, Diagnostics> {
        let (name, text) = match path {
            Some(path) => {
                let name = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Diagnostics(vec![Diagnostic {
                        file: name.clone(),
                        at: Loc::default(),
                        path: String::new(),
                        message: format!("cannot read the file: {e}"),
                    }])
                })?;
                (name, text)
            }
            None => ("(command line)".to_owned(), String::new()),
        };
        let dir = path
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        parse(&name, &text, sets, &|var| std::env::var(var).ok())
            .map(|parsed| WorkerSettings { dir, ..parsed })
    }

    /// The worker the file describes, on `store`: its queues, schedules, retention and lease,
    /// and a handler per kind (pipeline files are read and checked now, so a mistake stops the
    /// worker before it claims anything). Further settings can be made on the builder.
    pub fn worker(&self, store: Arc<dyn Store>) -> Result<WorkerBuilder, Diagnostics> {
        let mut builder = Worker::builder(store);
        for queue in &self.queues {
            builder = builder.queue(queue.clone());
        }
        for schedule in &self.schedules {
            builder = builder.schedule(schedule.clone());
        }
        for rule in &self.retention {
            builder = builder.retention(rule.clone());
        }
        if let Some(name) = &self.file.name {
            builder = builder.name(name.clone());
        }
        if let Some(lease) = self.file.lease {
            builder = builder.lease(lease);
        }
        if let Some(timeout) = self.file.shutdown_timeout {
            builder = builder.shutdown_timeout(timeout);
        }
        let mut problems = Vec::new();
        for (kind, spec) in &self.file.kinds {
            let config = self.kinds.get(kind).cloned().unwrap_or_default();
            let (with, installed) = spec.handler.install(builder, kind, config, &self.dir);
            builder = with;
            if let Err(message) = installed {
                problems.push(Diagnostic {
                    file: self.name.clone(),
                    at: Loc::default(),
                    path: format!("kinds.{kind}.handler"),
                    message,
                });
            }
        }
        if problems.is_empty() {
            Ok(builder)
        } else {
            Err(Diagnostics(problems))
        }
    }
}

/// Parses the text of a worker file named `file`, with `--set` overrides and `${VAR}`s from
/// `env`; its pipeline paths are relative to the current folder ([`WorkerSettings::read`]
/// makes them relative to the file's).
pub fn parse(
    file: &str,
    text: &str,
    sets: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<WorkerSettings, Diagnostics> {
    let diag = |at: Loc, path: &str, message: String| Diagnostic {
        file: file.to_owned(),
        at,
        path: path.to_owned(),
        message,
    };
    let root = crate::load::tree(&crate::load::Source {
        file,
        text,
        sets,
        env,
    })?;
    let worker: WorkerFile = root
        .deserialize("")
        .map_err(|(at, path, message)| Diagnostics(vec![diag(at, &path, message)]))?;
    let place = |path: &[&str]| {
        path.iter()
            .try_fold(&root, |node, key| node.get(key))
            .map_or(root.at, |node| node.at)
    };
    let mut problems = Vec::new();
    let mut queues = Vec::new();
    let mut retention = worker
        .retention
        .as_ref()
        .map(|r| r.rules(None, None))
        .unwrap_or_default();
    for (name, spec) in &worker.queues {
        let mut queue = QueueConfig::new(name.clone());
        if let Some(n) = spec.concurrency {
            if n == 0 {
                problems.push(diag(
                    place(&["queues", name, "concurrency"]),
                    &format!("queues.{name}.concurrency"),
                    "concurrency must be at least 1".to_owned(),
                ));
            }
            queue = queue.concurrency(n);
        }
        if let Some(n) = spec.prefetch {
            queue = queue.prefetch(n);
        }
        if let Some(n) = spec.partition_limit {
            queue = queue.partition_limit(n);
        }
        if let Some(rate) = &spec.rate_limit {
            queue = queue.rate_limit(RateLimit::new(rate.rate.max(1), rate.per).burst(rate.burst));
        }
        if let Some(rate) = &spec.shared_rate {
            queue = queue.shared_rate(SharedRate::new(rate.limit, rate.per).by(rate.by));
        }
        if let Some(interval) = spec.poll_interval {
            queue = queue.poll_interval(interval);
        }
        if let Some(rules) = &spec.retention {
            retention.extend(rules.rules(Some(name), None));
        }
        queues.push(queue);
    }
    let kinds = worker
        .kinds
        .iter()
        .map(|(kind, spec)| {
            let mut config = KindConfig {
                timeout: spec.timeout,
                max_attempts: spec.max_attempts,
                ..KindConfig::default()
            };
            if let Some(b) = &spec.backoff {
                config.backoff = Backoff::exponential(b.initial, b.max)
                    .multiplier(b.multiplier)
                    .jitter(b.jitter.into());
            }
            (kind.clone(), config)
        })
        .collect();
    for (kind, spec) in &worker.kinds {
        if let Some(rules) = &spec.retention {
            retention.extend(rules.rules(None, Some(kind)));
        }
    }
    let mut schedules = Vec::new();
    for (name, spec) in &worker.schedules {
        let schedule = Schedule::new(name.clone(), &spec.cron, spec.job.clone()).map_err(|e| {
            diag(
                place(&["schedules", name, "cron"]),
                &format!("schedules.{name}.cron"),
                e.to_string(),
            )
        });
        let schedule = schedule.and_then(|s| match &spec.timezone {
            Some(zone) => s.time_zone(zone).map_err(|e| {
                diag(
                    place(&["schedules", name, "timezone"]),
                    &format!("schedules.{name}.timezone"),
                    e.to_string(),
                )
            }),
            None => Ok(s),
        });
        match schedule {
            Ok(s) => schedules.push(s),
            Err(d) => problems.push(d),
        }
    }
    if problems.is_empty() {
        Ok(WorkerSettings {
            name: file.to_owned(),
            file: worker,
            dir: PathBuf::new(),
            queues,
            kinds,
            schedules,
            retention,
        })
    } else {
        Err(Diagnostics(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<WorkerSettings, String> {
        parse("worker.yaml", text, &[], &|_| None).map_err(|d| d.to_string())
    }

    #[test]
    fn a_full_file_reads() {
        let settings = read(
            "store: sqlite://jobs.db\nqueues:\n  default: { concurrency: 4, prefetch: 8, partition_limit: 2, rate_limit: { rate: 5 }, shared_rate: { limit: 100, per: 1m, by: kind } }\n\
             kinds:\n  mail:\n    handler: { type: http, url: 'http://x' }\n    timeout: 3s\n    backoff: { initial: 2s }\n    retention: { dead: 90d }\n  \
             sh:\n    handler: { type: exec, command: 'cat' }\n\
             schedules:\n  nightly:\n    cron: '0 3 * * *'\n    timezone: Europe/Paris\n    job: { kind: sh }\n\
             retention: { succeeded: 1h }\n",
        )
        .expect("valid");
        assert_eq!(settings.file.store.as_deref(), Some("sqlite://jobs.db"));
        assert_eq!(
            (
                settings.queues[0].concurrency,
                settings.queues[0].prefetch,
                settings.queues[0].partition_limit
            ),
            (4, 8, Some(2))
        );
        assert_eq!(settings.kinds["mail"].timeout, Some(Duration::from_secs(3)));
        assert_eq!(
            settings.queues[0].shared_rate,
            Some(SharedRate::new(100, Duration::from_secs(60)).by(RateScope::Kind))
        );
        assert!(
            settings
                .retention
                .iter()
                .any(|r| r.kind.as_deref() == Some("mail")
                    && r.state == JobState::Dead
                    && r.keep == Duration::from_secs(90 * 24 * 3600)),
            "{:?}",
            settings.retention
        );
        assert_eq!(
            settings.kinds["mail"].backoff.initial,
            Duration::from_secs(2)
        );
        assert_eq!(settings.schedules.len(), 1);
        assert_eq!(settings.retention[0].keep, Duration::from_secs(3600));
    }

    #[test]
    fn mistakes_are_placed_and_explained() {
        let err = read("kinds:\n  mail:\n    handler: { type: smtp }\n").expect_err("bad handler");
        assert!(err.starts_with("worker.yaml:3:"), "{err}");
        assert!(err.contains("kinds.mail.handler"), "{err}");
        assert!(
            err.contains("`exec`, `http`, `pipeline`") || err.contains("exec"),
            "{err}"
        );
        let err = read("queues:\n  default: { concurency: 4 }\n").expect_err("typo");
        assert!(
            err.contains("worker.yaml:2:") && err.contains("concurrency"),
            "{err}"
        );
        let err = read("schedules:\n  x:\n    cron: 'every day'\n    job: { kind: k }\n")
            .expect_err("bad cron");
        assert!(
            err.contains("worker.yaml:3:") && err.contains("schedules.x.cron"),
            "{err}"
        );
        let err = read("lease: soon\n").expect_err("bad duration");
        assert!(err.contains("`soon` is not a duration"), "{err}");
        let err =
            read("queues:\n  default:\n    shared_rate: { limit: 10, per: 1s, by: tenant }\n")
                .expect_err("bad scope");
        assert!(
            err.contains("worker.yaml:3:")
                && err.contains("`kind`")
                && err.contains("`partition_key`"),
            "{err}"
        );
    }
}
