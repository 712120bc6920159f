//! `docs/metrics.md` is the specification of every metric: a pipeline and a worker on each store
//! are scraped, and what they export must be exactly what it lists (names, types, labels), as
//! far as each run meets the conditions it gives.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use common::{
    DATABASE, OK_AND_BAD_KINDS, PrivateServer, free_port, jobs_in, psql, refused_lookup_pipeline,
    scrape, start_in, wait_until, write,
};

/// One metric as the specification gives it.
#[derive(Debug)]
struct Spec {
    kind: String,
    labels: BTreeSet<String>,
    when: String,
}

/// The tables of `docs/metrics.md`, by metric name.
fn specification() -> BTreeMap<String, Spec> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/metrics.md");
    let text = std::fs::read_to_string(&path).expect("docs/metrics.md");
    text.lines()
        .filter(|l| l.starts_with("| `sluice_"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`').to_owned();
            let labels = cells[3]
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            (
                name,
                Spec {
                    kind: cells[2].to_owned(),
                    labels,
                    when: cells[4].to_owned(),
                },
            )
        })
        .collect()
}

/// What a scrape holds: each metric's type and the label names of its series.
fn exported(scrape: &str) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let mut metrics: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for line in scrape.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                metrics.entry(name.to_owned()).or_default().0 = kind.to_owned();
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let series = line.split_whitespace().next().unwrap_or_default();
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix)
                    .filter(|base| metrics.get(*base).is_some_and(|m| m.0 == "histogram"))
            })
            .unwrap_or(name);
        let names = labels
            .trim_end_matches('}')
            .split(',')
            .filter_map(|pair| pair.split_once('=').map(|(k, _)| k.to_owned()))
            .filter(|k| k != "le");
        metrics.entry(base.to_owned()).or_default().1.extend(names);
    }
    metrics
}

/// Checks a scrape against the specification, for a run that met the conditions `met`.
fn check(scrape: &str, spec: &BTreeMap<String, Spec>, met: &[&str], families: &[&str]) {
    let got = exported(scrape);
    for (name, (kind, labels)) in &got {
        let Some(spec) = spec.get(name) else {
            panic!("{name} is exported but docs/metrics.md does not list it:\n{scrape}");
        };
        assert_eq!(kind, &spec.kind, "{name}: the type");
        assert_eq!(labels, &spec.labels, "{name}: the labels");
    }
    for (name, spec) in spec {
        let in_family = families.iter().any(|f| name.starts_with(f));
        if in_family && met.contains(&spec.when.as_str()) {
            assert!(
                got.contains_key(name),
                "{name} ({}) is listed but not exported:\n{scrape}",
                spec.when
            );
        }
    }
}

/// Runs `sluice ARGS` in `dir` until its `/metrics` at `admin` shows what `ready` looks for;
/// returns that scrape and stops the process.
fn scrape_once(dir: &Path, args: &[&str], admin: &str, ready: impl Fn(&str) -> bool) -> String {
    let running = start_in(dir, args, &[]);
    wait_until(
        Duration::from_secs(30),
        || ready(&scrape(admin)),
        || scrape(admin),
    );
    let scraped = scrape(admin);
    running.interrupt();
    scraped
}

/// Runs `sluice worker` on `store` with `dir`'s `worker.yaml` until its `/metrics` shows what
/// `ready` looks for; returns that scrape and stops the worker.
fn scrape_worker(dir: &Path, store: &str, ready: impl Fn(&str) -> bool) -> String {
    let admin = format!("127.0.0.1:{}", free_port());
    scrape_once(
        dir,
        &[
            "worker",
            "--store",
            store,
            "--config",
            "worker.yaml",
            "--admin-addr",
            &admin,
        ],
        &admin,
        ready,
    )
}

#[test]
fn a_pipeline_exports_exactly_what_the_specification_lists() {
    let spec = specification();
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = format!("127.0.0.1:{}", free_port());
    refused_lookup_pipeline(dir.path(), &admin);
    let scraped = scrape_once(
        dir.path(),
        &["run", "pipeline.yaml", "--quiet", "--admin-addr", &admin],
        &admin,
        |text| {
            text.contains("sluice_stage_circuit_state{")
                && text
                    .contains("sluice_stage_errors_total{pipeline=\"pipeline\",stage=\"lookup\"} ")
        },
    );
    check(
        &scraped,
        &spec,
        &["always", "breaker", "disk buffer"],
        &["sluice_stage_", "sluice_connector_", "sluice_buffer_"],
    );
}

/// Runs a worker on `store` with a kind that succeeds and one that fails twice, scrapes it once
/// both have run, and checks the scrape.
fn worker_exports_what_is_listed(store: &str) {
    let spec = specification();
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "worker.yaml", OK_AND_BAD_KINDS);
    for args in [&["migrate"][..], &["enqueue", "ok"], &["enqueue", "bad"]] {
        jobs_in(dir.path(), store, args);
    }
    let scraped = scrape_worker(dir.path(), store, |text| {
        text.contains("sluice_jobs_dead_total{") && text.contains("sluice_jobs{")
    });
    check(
        &scraped,
        &spec,
        &["always", "failure"],
        &[
            "sluice_jobs",
            "sluice_job_",
            "sluice_worker_",
            "sluice_connector_",
        ],
    );
}

/// A worker file's shared rate per kind holds back what is over it, and the scrape of a worker
/// on `store` says so: 2 of 5 `ok` jobs start in the hour, the one `bad` job is not held back
/// by them.
fn worker_counts_the_claims_a_rate_held_back(store: &str) {
    let spec = specification();
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "worker.yaml",
        &format!(
            "queues:\n  default:\n    shared_rate: {{ limit: 2, per: 1h, by: kind }}\n{OK_AND_BAD_KINDS}"
        ),
    );
    jobs_in(dir.path(), store, &["migrate"]);
    for _ in 0..5 {
        jobs_in(dir.path(), store, &["enqueue", "ok"]);
    }
    jobs_in(dir.path(), store, &["enqueue", "bad"]);
    let scraped = scrape_worker(dir.path(), store, |text| {
        text.contains("sluice_jobs_rate_limited_total{queue=\"default\"}")
            && text.contains("sluice_jobs_dead_total{")
    });
    check(
        &scraped,
        &spec,
        &["always", "shared rate"],
        &["sluice_jobs"],
    );
    let succeeded = common::queue_counts(dir.path(), store, "default")["succeeded"].as_u64();
    assert_eq!(succeeded, Some(2), "2 `ok` jobs an hour");
}

#[test]
fn a_worker_on_sqlite_counts_the_claims_a_rate_held_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    worker_counts_the_claims_a_rate_held_back(&format!(
        "sqlite://{}/jobs.db",
        dir.path().display()
    ));
}

#[test]
fn a_worker_on_postgresql_counts_the_claims_a_rate_held_back() {
    let schema = "sluice_metrics_rate";
    psql(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    worker_counts_the_claims_a_rate_held_back(&format!("{DATABASE}?schema={schema}"));
    psql(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
}

#[test]
fn a_worker_on_sqlite_exports_exactly_what_the_specification_lists() {
    let dir = tempfile::tempdir().expect("tempdir");
    worker_exports_what_is_listed(&format!("sqlite://{}/jobs.db", dir.path().display()));
}

#[test]
fn a_worker_on_postgresql_exports_exactly_what_the_specification_lists() {
    let schema = "sluice_metrics_spec";
    psql(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    worker_exports_what_is_listed(&format!("{DATABASE}?schema={schema}"));
    psql(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
}

#[test]
fn a_worker_on_redis_exports_exactly_what_the_specification_lists() {
    let redis = PrivateServer::redis();
    worker_exports_what_is_listed(&redis.url());
}
