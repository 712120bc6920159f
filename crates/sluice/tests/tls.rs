//! TLS on both ends, against servers of the tests' own whose certificates a certificate
//! authority of the test's own signed:
//! - PostgreSQL refusing connections without TLS: the `postgres` sink and the PostgreSQL job
//!   store connect with `sslmode=verify-full&sslrootcert=CA.crt`, and refuse the server when
//!   they cannot verify it;
//! - Redis and NATS speaking TLS only, and RabbitMQ and a Kafka-protocol broker behind a TLS
//!   front (socat), each asking for a client certificate: a pipeline writes to and reads from
//!   each with `tls: {ca_file, cert_file, key_file}`, and one without the certificate is refused;
//! - the `http` source and the admin server serving HTTPS, the source asking senders for a
//!   certificate, tried with curl.

mod common;
#[path = "common/kafka.rs"]
mod kafka;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{
    PrivatePostgres, PrivateServer, Running, SLUICE, TlsFront, free_port, interrupt, lines, run,
    start, text, wait_until, write,
};

fn jobs(store: &str, args: &[&str]) -> std::process::Output {
    Command::new(SLUICE)
        .args(["jobs", "--store", store])
        .args(args)
        .output()
        .expect("sluice runs")
}

#[test]
fn the_postgres_sink_and_job_store_speak_tls_to_a_server_that_requires_it() {
    let db = PrivatePostgres::start_tls();
    db.psql("CREATE TABLE seen (seq bigint NOT NULL)");
    let verified = format!("{}?sslmode=verify-full&sslrootcert={}", db.url(), db.ca());

    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = write(
        dir.path(),
        "tls.yaml",
        &format!(
            "sources:\n  numbers: {{ type: generator, count: 100 }}\n\
             sinks:\n  db: {{ type: postgres, inputs: [numbers], url: \"{verified}\", \
             table: seen, columns: {{ seq: seq }} }}\n"
        ),
    );
    let out = run(&pipeline, Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(db.psql("SELECT count(*) FROM seen").trim(), "100");

    let migrated = jobs(&verified, &["migrate"]);
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    let enqueued = jobs(&verified, &["enqueue", "greet", "{\"name\": \"Ada\"}"]);
    assert!(enqueued.status.success(), "{}", text(&enqueued.stderr));
    let listed = jobs(&verified, &["list", "--json"]);
    assert!(
        text(&listed.stdout).contains("greet"),
        "{}",
        text(&listed.stdout)
    );

    // The server takes no connection without TLS.
    let plain = jobs(&format!("{}?sslmode=disable", db.url()), &["list"]);
    assert!(!plain.status.success());
    assert!(
        text(&plain.stderr).contains("pg_hba.conf"),
        "{}",
        text(&plain.stderr)
    );
    // A certificate that no trusted authority signed is refused.
    let untrusted = jobs(
        &format!(
            "{}?sslmode=verify-full&sslrootcert=/etc/ssl/certs/ca-certificates.crt",
            db.url()
        ),
        &["list"],
    );
    assert!(!untrusted.status.success(), "{}", text(&untrusted.stdout));
}

/// Runs `pipeline` (which writes 50 events to a service and reads them back into `out`) until
/// `out` holds them all.
fn round_trip(pipeline: &str, out: &Path) {
    let running = start(pipeline);
    wait_until(
        Duration::from_secs(60),
        || out.exists() && lines(out).len() >= 50,
        || {
            format!(
                "{} of 50 came back",
                if out.exists() { lines(out).len() } else { 0 }
            )
        },
    );
    let output = running.interrupt();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let mut seqs: Vec<i64> = lines(out)
        .iter()
        .filter_map(|v| v["seq"].as_i64())
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 50, "every event came back");
}

/// A pipeline: 50 generated events into the sink `sink`, and the source `source` into `out`.
fn through(dir: &Path, name: &str, sink: &str, source: &str) -> (String, std::path::PathBuf) {
    let out = dir.join(format!("{name}.jsonl"));
    let pipeline = write(
        dir,
        &format!("{name}.yaml"),
        &format!(
            "sources:\n  numbers: {{ type: generator, count: 50 }}\n  back: {source}\n\
             sinks:\n  there: {sink}\n  \
             saved: {{ type: file, inputs: [back], path: \"{}\" }}\n",
            out.display()
        ),
    );
    (pipeline, out)
}

/// A pipeline whose `sink` cannot verify its server (or show it a certificate) fails its
/// writes, and says why.
fn refused(dir: &Path, name: &str, sink: &str, says: &str) {
    let pipeline = write(
        dir,
        &format!("{name}-refused.yaml"),
        &format!(
            "pipeline: {{ shutdown_timeout: 2s }}\n\
             sources:\n  numbers: {{ type: generator, count: 1 }}\n\
             sinks:\n  there: {sink}\n"
        ),
    );
    let running: Running = start(&pipeline);
    std::thread::sleep(Duration::from_secs(3));
    let output = running.interrupt();
    let logs = text(&output.stderr);
    assert!(logs.contains(says), "{name}: {logs}");
}

#[test]
fn redis_nats_rabbitmq_and_kafka_connectors_verify_servers_and_show_certificates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let id = std::process::id();

    let redis = PrivateServer::redis_tls();
    let (url, tls) = (redis.url(), redis.client_tls());
    let (pipeline, out) = through(
        dir.path(),
        "redis",
        &format!(
            "{{ type: redis_stream, inputs: [numbers], url: \"{url}\", stream: s, tls: {tls} }}"
        ),
        &format!("{{ type: redis_stream, url: \"{url}\", stream: s, group: g, tls: {tls} }}"),
    );
    round_trip(&pipeline, &out);
    assert_eq!(redis.redis_cli(&["XLEN", "s"]).trim(), "50");

    let nats = PrivateServer::nats_tls();
    let (url, tls) = (nats.url(), nats.client_tls());
    let (pipeline, out) = through(
        dir.path(),
        "nats",
        &format!("{{ type: nats, inputs: [numbers], url: \"{url}\", subject: S.x, tls: {tls} }}"),
        &format!(
            "{{ type: nats, url: \"{url}\", stream: S, subjects: [S.x], consumer: d, tls: {tls} }}"
        ),
    );
    round_trip(&pipeline, &out);

    let rabbit = TlsFront::start(5672);
    let (url, tls) = (
        format!("amqps://guest:guest@127.0.0.1:{}/%2f", rabbit.port),
        rabbit.client_tls(),
    );
    let queue = format!("sluice-tls-{id}");
    let (pipeline, out) = through(
        dir.path(),
        "amqp",
        &format!(
            "{{ type: amqp, inputs: [numbers], url: \"{url}\", routing_key: {queue}, tls: {tls} }}"
        ),
        &format!("{{ type: amqp, url: \"{url}\", queue: {queue}, tls: {tls} }}"),
    );
    round_trip(&pipeline, &out);
    refused(
        dir.path(),
        "amqp",
        &format!("{{ type: amqp, inputs: [numbers], url: \"{url}\", routing_key: {queue} }}"),
        "cannot connect to the AMQP broker",
    );

    // tansu takes no client certificates: it sits behind a TLS front that asks for them, and
    // tells clients to come to the front.
    let front_port = free_port();
    let broker = PrivateServer::kafka(Some(front_port));
    let front = TlsFront::on(front_port, broker.port);
    let tls = front.client_tls();
    let (ca, cert, key) = (
        front.file("ca.crt"),
        front.file("client.crt"),
        front.file("client.key"),
    );
    kafka::create_topic_with(
        &[
            ("bootstrap.servers", broker.brokers().as_str()),
            ("security.protocol", "ssl"),
            ("ssl.ca.location", ca.as_str()),
            ("ssl.certificate.location", cert.as_str()),
            ("ssl.key.location", key.as_str()),
        ],
        "secured",
        1,
    );
    let brokers = broker.brokers();
    let (pipeline, out) = through(
        dir.path(),
        "kafka",
        &format!(
            "{{ type: kafka, inputs: [numbers], brokers: \"{brokers}\", topic: secured, tls: {tls} }}"
        ),
        &format!(
            "{{ type: kafka, brokers: \"{brokers}\", topics: [secured], group: g, tls: {tls} }}"
        ),
    );
    round_trip(&pipeline, &out);
}

#[test]
fn the_http_source_and_the_admin_server_serve_https() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    common::make_certificates(&d);
    let (port, admin) = (free_port(), free_port());
    let out = dir.path().join("received.jsonl");
    let pipeline = write(
        dir.path(),
        "https.yaml",
        &format!(
            "sources:\n  hooks:\n    type: http\n    address: \"127.0.0.1:{port}\"\n\
             \x20   tls: {{ cert_file: \"{d}/server.crt\", key_file: \"{d}/server.key\", \
             client_ca_file: \"{d}/ca.crt\" }}\n\
             sinks:\n  saved: {{ type: file, inputs: [hooks], path: \"{}\" }}\n",
            out.display()
        ),
    );
    let child = Command::new(SLUICE)
        .args(["run", "--quiet", &pipeline])
        .args(["--admin-addr", &format!("127.0.0.1:{admin}")])
        .args(["--admin-tls-cert", &format!("{d}/server.crt")])
        .args(["--admin-tls-key", &format!("{d}/server.key")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sluice");
    wait_until(
        Duration::from_secs(20),
        || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && std::net::TcpStream::connect(("127.0.0.1", admin)).is_ok()
        },
        || "never listened".to_owned(),
    );
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "10", "--cacert"])
            .arg(format!("{d}/ca.crt"))
            .args(args)
            .output()
            .expect("curl");
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    };
    let url = format!("https://127.0.0.1:{port}/");
    let client = [
        "--cert",
        &format!("{d}/client.crt"),
        "--key",
        &format!("{d}/client.key"),
    ]
    .map(str::to_owned);
    let mut post: Vec<&str> = client.iter().map(String::as_str).collect();
    post.extend(["--data", "{\"n\":1}", &url]);
    let (ok, answer, err) = curl(&post);
    assert!(ok, "{err}");
    assert!(answer.contains("\"accepted\":1"), "{answer}");
    // Without a client certificate the handshake fails; over plain HTTP nothing answers.
    let (ok, _, err) = curl(&["--data", "{\"n\":2}", &url]);
    assert!(!ok, "a sender without a certificate was let in");
    assert!(!err.is_empty());
    let plain = common::request("POST", &format!("127.0.0.1:{port}"), "/", b"{\"n\":3}");
    assert!(
        !matches!(plain, Ok((200, _))),
        "plain HTTP was answered: {plain:?}"
    );
    let (ok, metrics, err) = curl(&[&format!("https://127.0.0.1:{admin}/metrics")]);
    assert!(ok, "{err}");
    assert!(metrics.contains("sluice_"), "{metrics}");
    let (ok, ready, err) = curl(&[&format!("https://127.0.0.1:{admin}/ready")]);
    assert!(ok, "{err}");
    assert!(ready.contains("\"ready\":true"), "{ready}");

    let output = interrupt(child);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let kept: Vec<i64> = lines(&out).iter().filter_map(|v| v["n"].as_i64()).collect();
    assert_eq!(kept, vec![1], "only the certified sender's event was kept");
}
