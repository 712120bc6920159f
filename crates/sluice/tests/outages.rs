//! Services that go away under load and come back: a PostgreSQL, Redis, NATS, RabbitMQ or
//! Kafka-protocol server stopped
//! at once (its connections cut, as in a crash) for longer than any default retry window, while
//! a pipeline writes to it and a worker works jobs from it. The process stays up, `/ready` names the
//! connector that is down, and afterwards every event is in the table (none dead-lettered) and
//! every job succeeded (none failed). Each test runs a server of its own, so no other test sees
//! the outage. Duplicates (at-least-once delivery) are counted, printed and bounded.

// The counts of duplicates are the tests' report, on standard error.
#![allow(clippy::print_stderr)]

mod common;
#[path = "common/kafka.rs"]
mod kafka;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    PrivatePostgres, PrivateServer, Running, SLUICE, enqueue_records, free_port, lines,
    queue_counts, request, text, wait_until, write,
};

/// A server a test can stop and start again.
trait Service {
    /// Stops it at once.
    fn halt(&self);
    /// Starts it again.
    fn resume(&self);
}

impl Service for PrivatePostgres {
    fn halt(&self) {
        PrivatePostgres::halt(self);
    }
    fn resume(&self) {
        PrivatePostgres::resume(self);
    }
}

impl Service for PrivateServer {
    fn halt(&self) {
        PrivateServer::halt(self);
    }
    fn resume(&self) {
        PrivateServer::resume(self);
    }
}

/// A server that stops answering without closing its connections (SIGSTOP), as behind a cut
/// network, and then answers again (SIGCONT).
struct Stalled<'a, S>(&'a S, fn(&S, &str));

impl<S> Service for Stalled<'_, S> {
    fn halt(&self) {
        (self.1)(self.0, "STOP");
    }
    fn resume(&self) {
        (self.1)(self.0, "CONT");
    }
}

/// How long each service stays away: longer than any retry window a default could hide.
const OUTAGE: Duration = Duration::from_secs(30);

/// Waits until `/ready` at `addr` shows `connector` down.
fn wait_down(addr: &str, connector: &str) {
    let last = std::cell::RefCell::new(String::new());
    wait_until(
        Duration::from_secs(30),
        || match request("GET", addr, "/ready", b"") {
            Ok((503, body)) => {
                let down = serde_json::from_str::<serde_json::Value>(&body).is_ok_and(|r| {
                    r["connectors"][connector]
                        .as_str()
                        .is_some_and(|s| s.starts_with("down: "))
                });
                *last.borrow_mut() = body;
                down
            }
            Ok((_, body)) => {
                *last.borrow_mut() = body;
                false
            }
            Err(err) => {
                *last.borrow_mut() = err.to_string();
                false
            }
        },
        || {
            format!(
                "`{connector}` never showed down on /ready: {}",
                last.borrow()
            )
        },
    );
}

/// How many events the stage `stage` of the process whose admin server is at `addr` has
/// written, by its metrics.
fn written_by(addr: &str, stage: &str) -> u64 {
    let written = common::series(
        &common::scrape(addr),
        &format!("sluice_stage_items_out_total{{pipeline=\"outage\",stage=\"{stage}\"}}"),
    );
    written as u64
}

/// Keeps the service away for [`OUTAGE`], checking the process stays up.
fn ride_out(process: &mut Running) {
    std::thread::sleep(OUTAGE);
    let child = process.0.as_mut().expect("running");
    assert!(
        child.try_wait().expect("wait").is_none(),
        "the process ended during the outage"
    );
}

const EVENTS: u64 = 20_000;

#[test]
fn a_pipeline_waits_out_a_postgres_outage_and_dead_letters_nothing() {
    let db = PrivatePostgres::start();
    let sink = postgres_sink(&db, "");
    pipeline_rides_out(&db, "postgres", &sink, || postgres_seqs(&db));
}

#[test]
fn a_pipeline_waits_out_a_redis_outage_and_dead_letters_nothing() {
    let redis = PrivateServer::redis();
    let sink = redis_sink(&redis, "");
    pipeline_rides_out(&redis, "redis", &sink, || redis_seqs(&redis));
}

// Writes that get no answer within 5 s count as failed: the sink shows down and retries.

#[test]
fn a_pipeline_waits_out_a_redis_that_stops_answering_and_dead_letters_nothing() {
    let redis = PrivateServer::redis();
    let sink = redis_sink(&redis, ", timeout: 5s");
    let stalled = Stalled(&redis, PrivateServer::signal);
    pipeline_rides_out(&stalled, "stalled redis", &sink, || redis_seqs(&redis));
}

#[test]
fn a_pipeline_waits_out_a_postgres_that_stops_answering_and_dead_letters_nothing() {
    let db = PrivatePostgres::start();
    let sink = postgres_sink(&db, ", timeout: 5s");
    let stalled = Stalled(&db, PrivatePostgres::signal);
    pipeline_rides_out(&stalled, "stalled postgres", &sink, || postgres_seqs(&db));
}

/// A `postgres` sink writing each event's `seq` into table `seen` of `db` (made here), with
/// `extra` options.
fn postgres_sink(db: &PrivatePostgres, extra: &str) -> String {
    db.psql("CREATE TABLE seen (seq bigint NOT NULL)");
    format!(
        "type: postgres, url: \"{}\", table: seen, columns: {{ seq: seq }}{extra}",
        db.url()
    )
}

/// The `seq` of every row of `seen`.
fn postgres_seqs(db: &PrivatePostgres) -> Vec<u64> {
    db.psql("SELECT seq FROM seen")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// A `redis_stream` sink appending to stream `seen`, with `extra` options.
fn redis_sink(redis: &PrivateServer, extra: &str) -> String {
    format!(
        "type: redis_stream, url: \"{}\", stream: seen{extra}",
        redis.url()
    )
}

/// The `seq` of every event of stream `seen`.
fn redis_seqs(redis: &PrivateServer) -> Vec<u64> {
    redis
        .redis_cli(&["XRANGE", "seen", "-", "+"])
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|event| event["seq"].as_u64())
        .collect()
}

#[test]
fn a_pipeline_waits_out_a_nats_outage_and_dead_letters_nothing() {
    let nats = PrivateServer::nats();
    // A second pipeline reads the stream (creating it) into a file, through the outage too.
    let reader = Reader::start(&format!(
        "type: nats, url: \"{}\", stream: SEEN, subjects: [seen], consumer: reader",
        nats.url()
    ));
    let sink = format!("type: nats, url: \"{}\", subject: seen", nats.url());
    pipeline_rides_out(&nats, "nats", &sink, || reader.seqs());
    reader.stop();
}

/// A pipeline reading a service back into a file, through an outage too.
struct Reader {
    dir: tempfile::TempDir,
    running: Running,
}

impl Reader {
    /// Starts one with `source` (its options, flow style).
    fn start(source: &str) -> Reader {
        let dir = tempfile::tempdir().expect("tempdir");
        let pipeline = write(
            dir.path(),
            "reader.yaml",
            &format!(
                "sources:\n  seen: {{ {source} }}\n\
                 sinks:\n  out: {{ type: file, inputs: [seen], path: read.jsonl }}\n"
            ),
        );
        let running = Running(Some(
            Command::new(SLUICE)
                .args(["run", "--quiet", &pipeline])
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("sluice"),
        ));
        Reader { dir, running }
    }

    /// The `seq` of every event read so far.
    fn seqs(&self) -> Vec<u64> {
        lines(&self.dir.path().join("read.jsonl"))
            .iter()
            .filter_map(|event| event["seq"].as_u64())
            .collect()
    }

    /// Stops it (SIGINT), checking it ends well.
    fn stop(self) {
        let out = self.running.interrupt();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
}

#[test]
fn a_pipeline_waits_out_a_rabbitmq_outage_and_dead_letters_nothing() {
    let rabbit = PrivateServer::rabbitmq();
    // A second pipeline consumes the queue (declaring it) into a file, through the outage too;
    // the writer's publishes are confirmed only once a queue took them.
    let reader = Reader::start(&format!(
        "type: amqp, url: \"{}\", queue: seen",
        rabbit.url()
    ));
    let sink = format!("type: amqp, url: \"{}\", routing_key: seen", rabbit.url());
    pipeline_rides_out(&rabbit, "rabbitmq", &sink, || reader.seqs());
    reader.stop();
}

#[test]
fn a_pipeline_waits_out_a_kafka_broker_outage_and_dead_letters_nothing() {
    let broker = PrivateServer::kafka(None);
    let brokers = broker.brokers();
    kafka::create_topic_with(&[("bootstrap.servers", brokers.as_str())], "seen", 1);
    let sink = format!("type: kafka, brokers: \"{brokers}\", topic: seen");
    let seqs = || {
        kafka::read_all_from(&brokers, "seen", Duration::from_secs(2))
            .iter()
            .filter_map(|m| serde_json::from_str::<serde_json::Value>(m).ok())
            .filter_map(|event| event["seq"].as_u64())
            .collect()
    };
    pipeline_rides_out(&broker, "kafka", &sink, seqs);
}

/// Runs a generator at 2,000 events/s into the sink `sink` (its options, flow style) while
/// `service` goes away for [`OUTAGE`]; `seqs` reads back what the service holds.
fn pipeline_rides_out(service: &dyn Service, name: &str, sink: &str, seqs: impl Fn() -> Vec<u64>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let dead = dir.path().join("dead.jsonl");
    let pipeline = write(
        dir.path(),
        "outage.yaml",
        &format!(
            "sources:\n  numbers: {{ type: generator, count: {EVENTS}, rate: 2000 }}\n\
             sinks:\n  db: {{ {sink}, inputs: [numbers] }}\n\
             \x20 dead: {{ type: file, inputs: [db.errors], path: {} }}\n",
            dead.display()
        ),
    );
    let addr = format!("127.0.0.1:{}", free_port());
    let mut run = Running(Some(
        Command::new(SLUICE)
            .args(["run", "--quiet", "--admin-addr", &addr, &pipeline])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sluice"),
    ));
    wait_until(
        Duration::from_secs(30),
        || written_by(&addr, "db") >= 1_000,
        || "nothing was written".into(),
    );
    service.halt();
    wait_down(&addr, "db");
    ride_out(&mut run);
    service.resume();
    let out = common::run_to_end(run.0.take().expect("running"), Duration::from_secs(120));
    assert!(out.status.success(), "{}", text(&out.stderr));
    // What reads the service back may lag behind the writer.
    let distinct = || {
        let mut written = seqs();
        written.sort_unstable();
        written.dedup();
        written.len() as u64
    };
    wait_until(
        Duration::from_secs(120),
        || distinct() >= EVENTS,
        || format!("{} of {EVENTS} events read back", distinct()),
    );
    assert_eq!(
        lines(&dead),
        Vec::<serde_json::Value>::new(),
        "nothing dead-lettered"
    );
    let mut written = seqs();
    let total = written.len() as u64;
    written.sort_unstable();
    written.dedup();
    assert_eq!(written.len() as u64, EVENTS, "every event was written");
    let twice = total - EVENTS;
    eprintln!(
        "{name} outage of {OUTAGE:?} under a pipeline: {EVENTS} events, {twice} written twice"
    );
    // A batch that the server took as the connection was cut is written again.
    assert!(
        twice <= sluice_core::SINK_GATHER as u64,
        "{twice} duplicates"
    );
}

#[test]
fn a_worker_waits_out_a_postgres_outage_and_fails_no_job() {
    let db = PrivatePostgres::start();
    worker_rides_out(&db, "postgres", &db.url());
}

#[test]
fn a_worker_waits_out_a_postgres_that_stops_answering_and_fails_no_job() {
    let db = PrivatePostgres::start();
    let stalled = Stalled(&db, PrivatePostgres::signal);
    worker_rides_out(&stalled, "stalled postgres", &db.url());
}

#[test]
fn a_worker_waits_out_a_redis_outage_and_fails_no_job() {
    let redis = PrivateServer::redis();
    worker_rides_out(&redis, "redis", &redis.url());
}

/// Works 3,000 jobs from `store` while `service` goes away for [`OUTAGE`].
fn worker_rides_out(service: &dyn Service, name: &str, store: &str) {
    const JOBS: usize = 3_000;
    let dir = tempfile::tempdir().expect("tempdir");
    enqueue_records(
        dir.path(),
        store,
        "queues:\n  default: { concurrency: 16 }\n",
        JOBS,
    );
    let addr = format!("127.0.0.1:{}", free_port());
    let mut worker = Running(Some(
        Command::new(SLUICE)
            .args(["worker", "--store", store, "--config", "worker.yaml"])
            .args(["--quiet", "--admin-addr", &addr])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("worker starts"),
    ));
    let runs = dir.path().join("runs.jsonl");
    wait_until(
        Duration::from_secs(60),
        || lines(&runs).len() >= 200,
        || "the worker did no job".into(),
    );
    service.halt();
    wait_down(&addr, "job store");
    ride_out(&mut worker);
    service.resume();
    let counts = || queue_counts(dir.path(), store, "default");
    wait_until(
        Duration::from_secs(120),
        || counts()["succeeded"].as_u64() == Some(JOBS as u64),
        || format!("jobs by state: {:?}", counts()),
    );
    let done = lines(&runs);
    let mut seen: Vec<u64> = done.iter().filter_map(|r| r["n"].as_u64()).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), JOBS, "every job ran");
    let twice = done.len() - JOBS;
    eprintln!("{name} outage of {OUTAGE:?} under a worker: {JOBS} jobs, {twice} run twice");
    assert!(
        twice <= 16 * 2,
        "at most the jobs held by the worker run again: {twice}"
    );
    // Wait and run times are histograms with buckets, which Prometheus can sum across workers.
    let (_, metrics) = request("GET", &addr, "/metrics", b"").expect("metrics");
    for series in [
        r#"sluice_job_wait_seconds_bucket{queue="default",le="0.001"}"#,
        r#"sluice_job_run_seconds_bucket{queue="default",kind="record",le="0.001"}"#,
    ] {
        assert!(metrics.contains(series), "no {series} in:\n{metrics}");
    }
    worker.interrupt();
}

#[test]
fn a_source_breaker_stops_reconnecting_while_open_and_closes_once_the_service_is_back() {
    let redis = PrivateServer::redis();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.jsonl");
    let pipeline = write(
        dir.path(),
        "outage.yaml",
        &format!(
            "sources:\n  orders:\n    type: redis_stream\n    url: \"{}\"\n    stream: orders\n    \
             group: sluice\n    \
             circuit_breaker: {{ failure_ratio: 0.5, minimum_calls: 2, window: 4, open_for: 3s, half_open_calls: 1 }}\n\
             sinks:\n  out: {{ type: file, inputs: [orders], path: {} }}\n",
            redis.url(),
            out.display()
        ),
    );
    let add = |from: u64| {
        for seq in from..from + 10 {
            redis.redis_cli(&["XADD", "orders", "*", "body", &format!("{{\"seq\":{seq}}}")]);
        }
    };
    let addr = format!("127.0.0.1:{}", free_port());
    let run = Running(Some(
        Command::new(SLUICE)
            .args(["run", "--quiet", "--admin-addr", &addr, &pipeline])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sluice"),
    ));
    let state = || {
        common::series(
            &common::scrape(&addr),
            "sluice_stage_circuit_state{pipeline=\"outage\",stage=\"orders\"}",
        )
    };
    let errors = || {
        common::series(
            &common::scrape(&addr),
            "sluice_source_errors_total{source=\"orders\"}",
        )
    };
    wait_until(
        Duration::from_secs(30),
        || {
            redis
                .redis_cli(&["XINFO", "GROUPS", "orders"])
                .contains("sluice")
        },
        || "the source never joined its group".into(),
    );
    add(0);
    wait_until(
        Duration::from_secs(30),
        || lines(&out).len() == 10,
        || format!("{} of 10 events read", lines(&out).len()),
    );
    redis.halt();
    wait_until(
        Duration::from_secs(30),
        || state() == 1.0,
        || format!("the breaker never opened: state {}", state()),
    );
    let (_, ready) = request("GET", &addr, "/ready", b"").expect("/ready");
    assert!(ready.contains("circuit breaker open"), "{ready}");
    // While open, no attempt is made: the count of failures stands still.
    let failed = errors();
    std::thread::sleep(Duration::from_millis(2_000));
    assert_eq!(
        errors(),
        failed,
        "no reconnection while the breaker is open"
    );
    redis.resume();
    add(10);
    // The entries read before the outage whose acknowledgement it cut come again.
    let distinct = || {
        let mut seqs: Vec<u64> = lines(&out)
            .iter()
            .filter_map(|l| l["seq"].as_u64())
            .collect();
        seqs.sort_unstable();
        seqs.dedup();
        seqs.len()
    };
    wait_until(
        Duration::from_secs(30),
        || distinct() == 20 && state() == 0.0,
        || {
            format!(
                "{} of 20 events read, breaker state {} (a trial that reaches the service closes it)",
                distinct(),
                state()
            )
        },
    );
    drop(run);
}
