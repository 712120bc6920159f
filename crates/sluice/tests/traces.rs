//! Traces end to end: the `sluice` binary sends its spans over OTLP (gRPC and HTTP/protobuf) to
//! a receiver of the test's own, and their structure is checked: a job's enqueue, its first
//! attempt (a child) and its retry (a new trace linked to the enqueue), with the messaging
//! attributes; the context handed to what a handler runs; log lines naming their trace; an
//! event's trace from an HTTP request through a pipeline, a Kafka topic and a second pipeline;
//! the share of events sampled; and a collector that is down costing the work nothing but a
//! counter.

mod common;
#[path = "common/kafka.rs"]
mod kafka;
#[path = "common/otlp.rs"]
mod otlp;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::{
    DATABASE, free_port, lines, psql, raw, run_to_end, scrape, series, start_in, start_with, text,
    wait_until, write,
};
use otlp::{CLIENT, CONSUMER, INTERNAL, PRODUCER, Receiver, SERVER, STATUS_ERROR, STATUS_OK, Span};

/// `sluice ARGS` in `dir` with `env`, to its end.
fn sluice(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut running = start_in(dir, args, env);
    let out = run_to_end(running.0.take().expect("started"), Duration::from_secs(60));
    assert!(
        out.status.success(),
        "sluice {args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

fn named<'a>(spans: &'a [Span], kind: i32, attempt: &str) -> Vec<&'a Span> {
    spans
        .iter()
        .filter(|s| {
            s.kind == kind && (attempt.is_empty() || s.attr("sluice.job.attempt") == attempt)
        })
        .collect()
}

#[test]
fn a_job_trace_runs_from_its_enqueue_through_every_attempt() {
    let collector = Receiver::grpc();
    let endpoint = collector.endpoint();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cr%3Dt"),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    // The first attempt fails, the second succeeds; each writes the TRACEPARENT it was given.
    write(
        dir.path(),
        "worker.yaml",
        "kinds:\n  flaky:\n    handler: { type: exec, command: 'echo \"$TRACEPARENT\" >> seen.txt; [ -f done ] || { touch done; echo \"not yet\" >&2; exit 1; }' }\n    \
         backoff: { initial: 10ms, max: 10ms }\n",
    );
    let id = text(
        &sluice(
            dir.path(),
            &["jobs", "enqueue", "flaky", "--queue", "default"],
            &env,
        )
        .stdout,
    )
    .trim()
    .to_owned();
    sluice(
        dir.path(),
        &["worker", "--config", "worker.yaml", "--exit-when-idle"],
        &env,
    );
    let spans = collector.wait_for(Duration::from_secs(20), |spans| {
        named(spans, PRODUCER, "").len() == 1 && named(spans, CONSUMER, "").len() == 2
    });
    let enqueue = named(&spans, PRODUCER, "")[0];
    let first = named(&spans, CONSUMER, "1")[0];
    let second = named(&spans, CONSUMER, "2")[0];

    assert_eq!(enqueue.name, "send default");
    assert_eq!(enqueue.attr("messaging.system"), "sluice");
    assert_eq!(enqueue.attr("messaging.destination.name"), "default");
    assert_eq!(enqueue.attr("messaging.message.id"), id);
    assert_eq!(enqueue.attr("sluice.job.kind"), "flaky");
    assert_eq!(
        enqueue.resource.get("service.name").map(String::as_str),
        Some("sluice")
    );

    // The first attempt is the enqueue's child, in its trace.
    assert_eq!(first.name, "process default");
    assert_eq!(
        (first.trace_id.as_str(), first.parent_span_id.as_str()),
        (enqueue.trace_id.as_str(), enqueue.span_id.as_str())
    );
    assert_eq!(first.attr("messaging.operation.type"), "process");
    assert_eq!(first.attr("messaging.message.id"), id);
    assert_eq!(first.attr("sluice.job.outcome"), "retryable");
    assert_eq!(first.attr("error.type"), "handler_error");
    assert_eq!(first.status_code, STATUS_ERROR);
    assert!(first.status_message.contains("not yet"), "{first:?}");

    // The retry starts a trace of its own, linked to the enqueue.
    assert_ne!(second.trace_id, enqueue.trace_id);
    assert!(second.parent_span_id.is_empty(), "{second:?}");
    assert_eq!(
        second.links,
        vec![(enqueue.trace_id.clone(), enqueue.span_id.clone())]
    );
    assert_eq!(second.attr("sluice.job.outcome"), "succeeded");
    assert_eq!(second.status_code, STATUS_OK);
    assert!(second.attr("error.type").is_empty());

    // Each attempt's command was given its own span's context.
    let seen = std::fs::read_to_string(dir.path().join("seen.txt")).expect("seen");
    assert_eq!(
        seen.lines().collect::<Vec<_>>(),
        vec![first.traceparent(), second.traceparent()]
    );
    // Every export carried the header the environment names, its value decoded.
    let keys = collector.api_keys();
    assert!(
        !keys.is_empty() && keys.iter().all(|k| k == "s3cr=t"),
        "{keys:?}"
    );
}

#[test]
fn a_job_enqueued_inside_a_trace_continues_it_over_http_on_postgresql() {
    let schema = "sluice_traces";
    psql(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    let store = format!("{DATABASE}?schema={schema}");
    let collector = Receiver::http();
    let endpoint = collector.endpoint();
    let caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-api-key=s3cr%3Dt"),
        ("OTEL_SERVICE_NAME", "billing"),
        ("SLUICE_STORE", store.as_str()),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "worker.yaml",
        "kinds:\n  charge:\n    handler: { type: exec, command: 'exit 4' }\n    max_attempts: 1\n",
    );
    sluice(dir.path(), &["jobs", "migrate"], &env);
    let mut with_caller = env.to_vec();
    with_caller.push(("TRACEPARENT", caller));
    let id = text(
        &sluice(
            dir.path(),
            &["jobs", "enqueue", "charge", "{\"cents\": 250}"],
            &with_caller,
        )
        .stdout,
    )
    .trim()
    .to_owned();
    let shown: serde_json::Value = serde_json::from_str(&text(
        &sluice(dir.path(), &["jobs", "show", &id, "--json"], &env).stdout,
    ))
    .expect("JSON job");
    let worker = sluice(
        dir.path(),
        &[
            "--log-format",
            "json",
            "worker",
            "--config",
            "worker.yaml",
            "--exit-when-idle",
        ],
        &env,
    );
    let spans = collector.wait_for(Duration::from_secs(20), |spans| {
        named(spans, PRODUCER, "").len() == 1 && named(spans, CONSUMER, "").len() == 1
    });
    let enqueue = named(&spans, PRODUCER, "")[0];
    let attempt = named(&spans, CONSUMER, "")[0];
    assert_eq!(
        (enqueue.trace_id.as_str(), enqueue.parent_span_id.as_str()),
        ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"),
        "the enqueue continues the caller's trace"
    );
    assert_eq!(
        shown["traceparent"],
        enqueue.traceparent(),
        "stored with the job"
    );
    assert_eq!(attempt.trace_id, enqueue.trace_id);
    assert_eq!(attempt.parent_span_id, enqueue.span_id);
    assert_eq!(attempt.attr("sluice.job.outcome"), "dead");
    assert_eq!(attempt.status_code, STATUS_ERROR);
    assert_eq!(
        enqueue.resource.get("service.name").map(String::as_str),
        Some("billing")
    );

    // The worker's line about the failed attempt names the attempt's span.
    let logs = text(&worker.stderr);
    let failed: serde_json::Value = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["message"] == "job attempt failed")
        .unwrap_or_else(|| panic!("a failed attempt is logged: {logs}"));
    assert_eq!(failed["trace_id"], attempt.trace_id.as_str(), "{failed}");
    assert_eq!(failed["span_id"], attempt.span_id.as_str(), "{failed}");
    let keys = collector.api_keys();
    assert!(
        !keys.is_empty() && keys.iter().all(|k| k == "s3cr=t"),
        "{keys:?}"
    );
    psql(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
}

#[test]
fn a_collector_that_is_down_costs_the_work_nothing_but_a_counter() {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let env = [("OTEL_EXPORTER_OTLP_ENDPOINT", dead.as_str())];
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "worker.yaml",
        "queues:\n  default: { concurrency: 20 }\nkinds:\n  noop:\n    handler: { type: exec, command: 'true' }\n",
    );
    let lines: String = (0..200)
        .map(|n| format!("{{\"kind\": \"noop\", \"args\": {n}}}\n"))
        .collect();
    write(dir.path(), "jobs.jsonl", &lines);
    sluice(
        dir.path(),
        &["jobs", "enqueue", "--file", "jobs.jsonl"],
        &env,
    );
    let admin = format!("127.0.0.1:{}", free_port());
    let worker = start_in(
        dir.path(),
        &["worker", "--config", "worker.yaml", "--admin-addr", &admin],
        &env,
    );
    wait_until(
        Duration::from_secs(60),
        || {
            let text = scrape(&admin);
            series(
                &text,
                "sluice_jobs_succeeded_total{queue=\"default\",kind=\"noop\"}",
            ) >= 200.0
                && series(
                    &text,
                    "sluice_trace_spans_dropped_total{reason=\"export_failed\"}",
                ) >= 1.0
        },
        || scrape(&admin),
    );
    let out = worker.interrupt();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let logs = text(&out.stderr);
    assert_eq!(
        logs.matches("cannot send spans to the collector").count(),
        1,
        "the collector being down is said once: {logs}"
    );
}

/// The one span named `name`, failing the test with every span when there is not exactly one.
fn the<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    let found: Vec<&Span> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one span `{name}` in {spans:#?}");
    found[0]
}

#[test]
fn an_event_trace_runs_from_an_http_request_through_kafka_into_a_second_pipeline() {
    let collector = Receiver::http();
    let endpoint = collector.endpoint();
    let env = [("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())];
    let topic = format!("sluice-traces-{}", std::process::id());
    kafka::create_topic(&topic, 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = format!("127.0.0.1:{}", free_port());
    let dead = dir.path().join("dead.jsonl");
    let first = write(
        dir.path(),
        "first.yaml",
        &format!(
            "sources:\n  api:\n    type: http\n    address: {addr}\n    path: /orders\n\
             transforms:\n  total:\n    type: jq\n    inputs: [api]\n    program: '.total = .price + .qty'\n\
             sinks:\n  topic:\n    type: kafka\n    inputs: [total]\n    brokers: {}\n    topic: {topic}\n\
             \x20 dead:\n    type: file\n    inputs: [total.errors]\n    path: {}\n",
            kafka::BROKERS,
            dead.display()
        ),
    );
    let out = dir.path().join("out.jsonl");
    let second = write(
        dir.path(),
        "second.yaml",
        &format!(
            "pipeline:\n  tracing: {{ service_name: fulfilment }}\n\
             sources:\n  orders:\n    type: kafka\n    brokers: {}\n    topics: [{topic}]\n    group: traces\n\
             transforms:\n  big:\n    type: filter\n    inputs: [orders]\n    condition: '.total > 5'\n\
             sinks:\n  out:\n    type: file\n    inputs: [big]\n    path: {}\n",
            kafka::BROKERS,
            out.display()
        ),
    );
    let first = start_with(&first, &env);
    let second = start_with(&second, &env);
    let caller = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331");
    let body = r#"[{"price": 4, "qty": 5}, {"price": "four", "qty": 5}]"#;
    let request = format!(
        "POST /orders HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         traceparent: 00-{}-{}-01\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        caller.0,
        caller.1,
        body.len()
    );
    wait_until(
        Duration::from_secs(30),
        || std::net::TcpStream::connect(&addr).is_ok(),
        || "the HTTP source listens".to_owned(),
    );
    let answer = raw(&addr, request.as_bytes(), Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 20"), "{answer}");
    wait_until(
        Duration::from_secs(60),
        || out.exists() && lines(&out).len() == 1,
        || format!("{:?}", std::fs::read_to_string(&out)),
    );
    let spans = collector.wait_for(Duration::from_secs(30), |spans| {
        [
            "api",
            "api.decode",
            "total",
            "topic write",
            "orders",
            "orders.decode",
            "big",
            "out write",
        ]
        .iter()
        .all(|name| spans.iter().any(|s| s.name == *name))
    });
    drop((first.interrupt(), second.interrupt()));
    let spans: Vec<Span> = spans
        .into_iter()
        .filter(|s| s.trace_id == caller.0)
        .collect();

    // The request's span continues the caller's trace; each of its two events has a span in
    // every stage of the first pipeline, a child of the request's; the write too (linked to
    // the one event it carried: the other failed).
    let api = the(&spans, "api");
    assert_eq!((api.kind, api.parent_span_id.as_str()), (SERVER, caller.1));
    assert_eq!(api.attr("http.request.method"), "POST");
    for name in ["api.decode", "total"] {
        let stage: Vec<&Span> = spans.iter().filter(|s| s.name == name).collect();
        assert_eq!(stage.len(), 2, "a span per event in `{name}`: {spans:#?}");
        for span in stage {
            assert_eq!(
                (span.kind, span.parent_span_id.as_str()),
                (INTERNAL, api.span_id.as_str()),
                "{name}"
            );
            assert_eq!(span.attr("sluice.stage"), name);
        }
    }
    let write_span = the(&spans, "topic write");
    assert_eq!(write_span.kind, CLIENT);
    assert_eq!(write_span.parent_span_id, api.span_id);
    assert_eq!(
        write_span.links,
        vec![(api.trace_id.clone(), api.span_id.clone())]
    );

    // The second pipeline read the context from the message's header: the same trace.
    let orders = the(&spans, "orders");
    assert_eq!(
        (orders.kind, orders.parent_span_id.as_str()),
        (CONSUMER, api.span_id.as_str())
    );
    assert_eq!(orders.attr("messaging.system"), "kafka");
    assert_eq!(orders.attr("messaging.destination.name"), topic);
    assert_eq!(
        orders.resource.get("service.name").map(String::as_str),
        Some("fulfilment")
    );
    for name in ["orders.decode", "big", "out write"] {
        assert_eq!(the(&spans, name).parent_span_id, orders.span_id, "{name}");
    }

    // The order that failed keeps its trace id in its dead-letter record.
    let dead = lines(&dead);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["trace_id"], caller.0);
    assert_eq!(dead[0]["stage"], "total");
}

#[test]
fn a_pipeline_traces_the_share_of_events_its_file_asks_for() {
    let collector = Receiver::grpc();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.jsonl");
    let pipeline = write(
        dir.path(),
        "sampled.yaml",
        &format!(
            "pipeline:\n  tracing: {{ endpoint: '{}', protocol: grpc, sample_ratio: 0.1 }}\n\
             sources:\n  numbers:\n    type: generator\n    count: 2000\n\
             transforms:\n  odd:\n    type: filter\n    inputs: [numbers]\n    condition: '.seq % 2 == 1'\n\
             sinks:\n  out:\n    type: file\n    inputs: [odd]\n    path: {}\n",
            collector.endpoint(),
            out.display()
        ),
    );
    let run = common::run(&pipeline, Duration::from_secs(60));
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(lines(&out).len(), 1000);
    // The spans still queued were sent before the run ended.
    let spans = collector.spans();
    let sampled: Vec<&Span> = spans.iter().filter(|s| s.name == "numbers").collect();
    // 2,000 events at 0.1: 200 expected; outside 120..=280 is a chance below one in 10^9.
    assert!(
        (120..=280).contains(&sampled.len()),
        "{} sampled",
        sampled.len()
    );
    for source in &sampled {
        let children: Vec<&str> = spans
            .iter()
            .filter(|s| s.parent_span_id == source.span_id)
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(
            children.iter().filter(|n| **n == "odd").count(),
            1,
            "{children:?}"
        );
        assert!(
            source.parent_span_id.is_empty() && children.len() <= 2,
            "{children:?}"
        );
    }
    let linked: usize = spans
        .iter()
        .filter(|s| s.name == "out write")
        .map(|s| s.links.len())
        .sum();
    let odd = sampled
        .iter()
        .filter(|s| {
            spans.iter().any(|w| {
                w.name == "out write" && w.links.contains(&(s.trace_id.clone(), s.span_id.clone()))
            })
        })
        .count();
    assert_eq!(
        linked, odd,
        "each write links the sampled events it carried, once"
    );
    assert!(
        odd > 0 && odd < sampled.len(),
        "the odd half was written: {odd} of {}",
        sampled.len()
    );
}
