//! HTTP source, sink and `http_call` end to end, against real sockets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use common::{SLUICE, free_port, interrupt, lines, raw, request, run_to_end, text, write};

/// A request as the test server saw it.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    body: String,
    /// When it came.
    at: Instant,
}

/// A tiny HTTP/1.1 server on a thread: answers each request with `handler`.
struct Server {
    addr: String,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    fn start(handler: impl Fn(&Request, usize) -> (u16, String) + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let handler = Arc::new(handler);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, handler) = (Arc::clone(&log), Arc::clone(&handler));
                std::thread::spawn(move || serve(stream, &log, &*handler));
            }
        });
        Server { addr, seen }
    }

    fn requests(&self) -> Vec<Request> {
        self.seen.lock().expect("lock").clone()
    }
}

fn serve(
    stream: TcpStream,
    log: &Mutex<Vec<Request>>,
    handler: &(dyn Fn(&Request, usize) -> (u16, String) + Sync),
) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or("").to_owned(),
        );
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request = Request {
            method,
            path,
            body: String::from_utf8_lossy(&body).into_owned(),
            at: Instant::now(),
        };
        let n = {
            let mut log = log.lock().expect("lock");
            log.push(request.clone());
            log.len()
        };
        let (status, answer) = handler(&request, n);
        let reply = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn http_source_answers_after_delivery_and_dead_letters_bad_bodies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let out = dir.path().join("received.jsonl");
    let dead = dir.path().join("dead.jsonl");
    let file = write(
        dir.path(),
        "webhook.yaml",
        &format!(
            r#"
sources:
  hook: {{ type: http, address: "127.0.0.1:{port}", path: /events, max_body_size: 1KiB }}
sinks:
  saved: {{ type: file, inputs: [hook], path: "{}" }}
  bad: {{ type: file, inputs: [hook.errors], path: "{}" }}
"#,
            out.display(),
            dead.display()
        ),
    );
    let child = Command::new(SLUICE)
        .args(["run", "--quiet", &file])
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let first = loop {
        match request("POST", &addr, "/events", br#"[{"n":1},{"n":2}]"#) {
            Ok(answer) => break answer,
            Err(_) if started.elapsed() < Duration::from_secs(20) => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("the HTTP source never answered: {e}"),
        }
    };
    assert_eq!(
        first,
        (200, "{\"accepted\":2,\"dead_lettered\":0}\n".to_owned()),
        "answered once delivered"
    );
    assert_eq!(lines(&out).len(), 2, "delivered before the answer");
    assert_eq!(
        request("POST", &addr, "/events", b"{\"n\":3}\n{\"n\":4}\n")
            .expect("post")
            .0,
        200
    );
    let (status, refused) = request("POST", &addr, "/events", b"{oops").expect("post");
    assert_eq!(status, 400, "nothing decoded: {refused}");
    assert!(refused.contains("invalid JSON"), "{refused}");
    assert_eq!(
        request("POST", &addr, "/events", b"").expect("post").0,
        400,
        "an empty body"
    );
    assert_eq!(
        request("POST", &addr, "/events", b"{\"n\":5}\n{oops").expect("post"),
        (200, "{\"accepted\":1,\"dead_lettered\":1}\n".to_owned()),
        "a body partly decoded"
    );
    assert_eq!(
        request("POST", &addr, "/events", &vec![b' '; 2048])
            .expect("post")
            .0,
        413
    );
    let out_lines = lines(&out);
    assert_eq!(
        out_lines
            .iter()
            .map(|v| v["n"].as_i64().unwrap_or(0))
            .collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    let dead_lines = lines(&dead);
    assert_eq!(dead_lines.len(), 1);
    assert_eq!(dead_lines[0]["raw"], "{oops");
    let output = interrupt(child);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A POST with an `Authorization` header (if any) and `Connection: close`.
fn post(addr: &str, authorization: Option<&str>, body: &str) -> String {
    let auth = authorization.map_or_else(String::new, |a| format!("Authorization: {a}\r\n"));
    let request = format!(
        "POST /events HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    raw(addr, request.as_bytes(), Duration::from_secs(10))
}

#[test]
fn http_source_refuses_strangers_and_slow_clients() {
    const TOKEN: &str = "hook-t0ken-5ecret";
    let dir = tempfile::tempdir().expect("tempdir");
    let (bearer_port, basic_port) = (free_port(), free_port());
    let out = dir.path().join("received.jsonl");
    let password = write(dir.path(), "password", "pa55-w0rd-5ecret\n");
    let file = write(
        dir.path(),
        "guarded.yaml",
        &format!(
            r#"
sources:
  bearer:
    type: http
    address: "127.0.0.1:{bearer_port}"
    path: /events
    auth: {{ type: bearer, token: "${{HOOK_TOKEN}}" }}
    header_timeout: 1s
    body_timeout: 1s
  basic:
    type: http
    address: "127.0.0.1:{basic_port}"
    path: /events
    auth: {{ type: basic, username: hooks, password_file: "{password}" }}
sinks:
  saved: {{ type: file, inputs: [bearer, basic], path: "{}" }}
"#,
            out.display(),
        ),
    );
    let child = Command::new(SLUICE)
        .args(["run", &file])
        .env("HOOK_TOKEN", TOKEN)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let (bearer, basic) = (
        format!("127.0.0.1:{bearer_port}"),
        format!("127.0.0.1:{basic_port}"),
    );
    let started = Instant::now();
    while TcpStream::connect(&basic).is_err() || TcpStream::connect(&bearer).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let stranger = post(&bearer, None, "{\"n\":1}");
    assert!(stranger.starts_with("HTTP/1.1 401"), "{stranger}");
    assert!(stranger.contains("www-authenticate: Bearer"), "{stranger}");
    let wrong = post(&bearer, Some("Bearer guess"), "{\"n\":2}");
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    let right = post(&bearer, Some(&format!("Bearer {TOKEN}")), "{\"n\":3}");
    assert!(right.starts_with("HTTP/1.1 200"), "{right}");
    // base64("hooks:pa55-w0rd-5ecret")
    let basic_answer = post(
        &basic,
        Some("Basic aG9va3M6cGE1NS13MHJkLTVlY3JldA=="),
        "{\"n\":4}",
    );
    assert!(basic_answer.starts_with("HTTP/1.1 200"), "{basic_answer}");
    let no_password = post(&basic, Some("Basic aG9va3M6"), "{\"n\":5}");
    assert!(no_password.starts_with("HTTP/1.1 401"), "{no_password}");

    // Headers that never end: the connection is closed after `header_timeout`.
    let started = Instant::now();
    let answer = raw(
        &bearer,
        b"POST /events HTTP/1.1\r\nHost: x\r\n",
        Duration::from_secs(10),
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a slow client held the connection for {:?}: {answer}",
        started.elapsed()
    );
    // A body that stops halfway: `408` after `body_timeout`.
    let started = Instant::now();
    let request = format!(
        "POST /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 100\r\n\r\n{{\"n\":"
    );
    let answer = raw(&bearer, request.as_bytes(), Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    let output = interrupt(child);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let mut saved: Vec<i64> = lines(&out)
        .iter()
        .map(|v| v["n"].as_i64().unwrap_or(0))
        .collect();
    saved.sort_unstable();
    assert_eq!(
        saved,
        vec![3, 4],
        "only the authenticated requests were kept"
    );
    let logs = text(&output.stderr);
    assert!(!logs.contains(TOKEN), "the token reached the logs");
    assert!(!logs.contains("pa55-w0rd"), "the password reached the logs");
}

#[test]
fn http_sink_retries_server_errors_and_dead_letters_rejections() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The first request fails with 503 (retried); requests carrying n=13 are refused with 400.
    let server = Server::start(|request, n| {
        if n == 1 {
            (503, "{\"error\":\"warming up\"}".into())
        } else if request.body.contains("\"seq\":13") {
            (400, "{\"error\":\"unlucky\"}".into())
        } else {
            (200, "{}".into())
        }
    });
    let dead = dir.path().join("dead.jsonl");
    let file = write(
        dir.path(),
        "post.yaml",
        &format!(
            r#"
sources:
  numbers: {{ type: generator, count: 20 }}
sinks:
  api:
    type: http
    inputs: [numbers]
    url: "http://{}/ingest"
    max_events: 5
    retry: {{ max_attempts: 3, initial: 10ms }}
  refused: {{ type: file, inputs: [api.errors], path: "{}" }}
"#,
            server.addr,
            dead.display()
        ),
    );
    let child = Command::new(SLUICE)
        .args(["run", "--quiet", &file])
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let output = run_to_end(child, Duration::from_secs(30));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.method == "POST" && r.path == "/ingest")
    );
    let delivered: usize = requests[1..]
        .iter()
        .filter(|r| !r.body.contains("\"seq\":13"))
        .map(|r| r.body.lines().count())
        .sum();
    let refused = lines(&dead);
    assert_eq!(
        delivered + refused.len(),
        20,
        "every event delivered or dead-lettered"
    );
    assert_eq!(
        refused.len(),
        5,
        "the batch of five holding seq 13 was refused"
    );
    assert!(
        refused[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("answered 400")),
        "{}",
        refused[0]
    );
}

#[test]
fn sinks_and_http_call_wait_out_server_errors_without_a_retry_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A service that answers 503 to its first 40 requests: far more than any fixed number of
    // attempts would ride out.
    let flaky = Server::start(|request, n| {
        if n <= 40 {
            (503, "{\"error\":\"restarting\"}".into())
        } else if request.path.starts_with("/users/") {
            (200, "{\"name\":\"ann\"}".into())
        } else {
            (200, "{}".into())
        }
    });
    // One that answers 503 three times, for a sink without any `retry`.
    let warming = Server::start(|_, n| {
        if n <= 3 {
            (503, "{}".into())
        } else {
            (200, "{}".into())
        }
    });
    let dead = dir.path().join("dead.jsonl");
    let file = write(
        dir.path(),
        "outage.yaml",
        &format!(
            r#"
sources:
  numbers: {{ type: generator, count: 20 }}
transforms:
  user:
    type: http_call
    inputs: [numbers]
    url: "http://{flaky}/users/{{{{ .seq }}}}"
    target: .user
    retry: {{ initial: 1ms, max: 5ms }}
sinks:
  api:
    type: http
    inputs: [user]
    url: "http://{flaky}/ingest"
    retry: {{ initial: 1ms, max: 5ms }}
  plain: {{ type: http, inputs: [numbers], url: "http://{warming}/ingest" }}
  dead: {{ type: file, inputs: [user.errors, api.errors, plain.errors], path: "{}" }}
"#,
            dead.display(),
            flaky = flaky.addr,
            warming = warming.addr,
        ),
    );
    let child = Command::new(SLUICE)
        .args(["run", "--quiet", &file])
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let output = run_to_end(child, Duration::from_secs(60));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        lines(&dead),
        Vec::<serde_json::Value>::new(),
        "nothing dead-lettered"
    );
    let delivered = |server: &Server| -> Vec<i64> {
        let mut seqs: Vec<i64> = server
            .requests()
            .iter()
            .filter(|r| r.path == "/ingest")
            .flat_map(|r| r.body.lines().map(str::to_owned).collect::<Vec<_>>())
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
            .filter_map(|event| event["seq"].as_i64())
            .collect();
        seqs.sort_unstable();
        seqs.dedup();
        seqs
    };
    let all: Vec<i64> = (0..20).collect();
    assert_eq!(delivered(&flaky), all, "every event enriched and posted");
    assert_eq!(delivered(&warming), all, "the sink without `retry` retried");
}

#[test]
fn a_sink_breaker_stops_the_writes_for_a_while_and_shows_on_ready_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Fails its first four requests, then takes everything.
    let service = Server::start(|_, n| {
        if n <= 4 {
            (503, "{}".into())
        } else {
            (200, "{}".into())
        }
    });
    let admin = format!("127.0.0.1:{}", free_port());
    let file = write(
        dir.path(),
        "breaker.yaml",
        &format!(
            r#"
sources:
  numbers: {{ type: generator, count: 20, rate: 50 }}
sinks:
  api:
    type: http
    inputs: [numbers]
    url: "http://{}/ingest"
    retry: {{ initial: 1ms, max: 5ms }}
    circuit_breaker: {{ failure_ratio: 0.5, minimum_calls: 2, window: 2, open_for: 2s, half_open_calls: 1 }}
  dead: {{ type: file, inputs: [api.errors], path: dead.jsonl }}
"#,
            service.addr
        ),
    );
    let child = Command::new(SLUICE)
        .args(["run", "--quiet", "--admin-addr", &admin, &file])
        .current_dir(dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    // While the breaker is open, /ready says so.
    let mut said = None;
    common::wait_until(
        Duration::from_secs(20),
        || {
            said = request("GET", &admin, "/ready", b"")
                .ok()
                .filter(|(_, body)| body.contains("circuit breaker open"));
            said.is_some()
        },
        || "/ready never showed the open breaker".to_owned(),
    );
    let output = run_to_end(child, Duration::from_secs(60));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let (status, body) = said.expect("/ready showed the open breaker");
    assert_eq!(status, 503, "{body}");
    let requests = service.requests();
    // Two failures open it for 2 s; each failed trial opens it again.
    let gaps: Vec<Duration> = requests
        .windows(2)
        .take(4)
        .map(|w| w[1].at.duration_since(w[0].at))
        .collect();
    assert!(gaps[0] < Duration::from_secs(1), "{gaps:?}");
    assert!(
        gaps[1..].iter().all(|g| *g >= Duration::from_millis(1900)),
        "no write while open: {gaps:?}"
    );
    let delivered: std::collections::BTreeSet<i64> = requests
        .iter()
        .skip(4)
        .flat_map(|r| r.body.lines().map(str::to_owned).collect::<Vec<_>>())
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
        .filter_map(|event| event["seq"].as_i64())
        .collect();
    assert_eq!(delivered, (0..20).collect(), "every event delivered");
    assert_eq!(
        lines(&dir.path().join("dead.jsonl")).len(),
        0,
        "nothing dead"
    );
}

#[test]
fn http_call_enriches_caches_and_fails_missing_users() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(|request, _| match request.path.as_str() {
        "/users/404" => (404, "{\"error\":\"no such user\"}".into()),
        path => {
            let id = path.trim_start_matches("/users/");
            (200, format!("{{\"id\":{id},\"name\":\"user-{id}\"}}"))
        }
    });
    let out = dir.path().join("enriched.jsonl");
    let dead = dir.path().join("dead.jsonl");
    let file = write(
        dir.path(),
        "enrich.yaml",
        &format!(
            r#"
sources:
  orders: {{ type: stdin }}
transforms:
  user:
    type: http_call
    inputs: [orders]
    url: "http://{}/users/{{{{ .user }}}}"
    target: .customer
    workers: 4
    retry: {{ max_attempts: 3, initial: 10ms }}
    timeout: 2s
    cache: {{ size: 100, ttl: 1m }}
sinks:
  out: {{ type: file, inputs: [user], path: "{}" }}
  failed: {{ type: file, inputs: [user.errors], path: "{}" }}
"#,
            server.addr,
            out.display(),
            dead.display()
        ),
    );
    let mut child = Command::new(SLUICE)
        .args(["run", "--quiet", &file])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut stdin = child.stdin.take().expect("stdin");
    for (order, user) in [(1, 7), (2, 8), (3, 7), (4, 404), (5, 7)] {
        writeln!(stdin, "{{\"order\":{order},\"user\":{user}}}").expect("write");
    }
    drop(stdin);
    let output = run_to_end(child, Duration::from_secs(30));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let enriched = lines(&out);
    let names: Vec<(i64, String)> = enriched
        .iter()
        .map(|e| {
            (
                e["order"].as_i64().unwrap_or(0),
                e["customer"]["name"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            (1, "user-7".into()),
            (2, "user-8".into()),
            (3, "user-7".into()),
            (5, "user-7".into())
        ]
    );
    let failed = lines(&dead);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["event"]["order"], 4);
    assert_eq!(failed[0]["attempts"], 1, "a 404 is not retried");
    let user_7_calls = server
        .requests()
        .iter()
        .filter(|r| r.path == "/users/7")
        .count();
    assert_eq!(user_7_calls, 1, "answers are cached by URL");
}

#[test]
fn http_job_handler_posts_arguments_and_retries_server_errors() {
    let server = Server::start(|_, n| {
        if n == 1 {
            (500, "warming up".to_owned())
        } else {
            (204, String::new())
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let worker = write(
        dir.path(),
        "worker.yaml",
        &format!(
            "kinds:\n  notify:\n    handler: {{ type: http, url: 'http://{}/hooks/notify' }}\n    \
             backoff: {{ initial: 10ms, max: 10ms }}\n",
            server.addr
        ),
    );
    let store = format!("sqlite://{}", dir.path().join("jobs.db").display());
    let enqueue = Command::new(SLUICE)
        .args([
            "jobs",
            "--store",
            &store,
            "enqueue",
            "notify",
            r#"{"user": 7}"#,
        ])
        .output()
        .expect("runs");
    assert!(
        enqueue.status.success(),
        "{}",
        String::from_utf8_lossy(&enqueue.stderr)
    );
    let worker = Command::new(SLUICE)
        .args([
            "worker",
            "--store",
            &store,
            "--config",
            &worker,
            "--exit-when-idle",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let out = run_to_end(worker, Duration::from_secs(30));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(
        requests
            .iter()
            .all(|r| r.method == "POST" && r.path == "/hooks/notify" && r.body == r#"{"user":7}"#)
    );
    let shown = Command::new(SLUICE)
        .args(["jobs", "--store", &store, "show", "1"])
        .output()
        .expect("runs");
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("state:         succeeded"), "{shown}");
    assert!(
        shown.contains("answered 500 Internal Server Error: warming up"),
        "{shown}"
    );
}

#[test]
fn http_call_ordered_by_user_keeps_each_users_order_and_waits_only_for_the_slow_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    // User 0's lookups take 100 ms; the others answer at once.
    let server = Server::start(|request, _| {
        let user = request.path.trim_start_matches("/users/").to_owned();
        if user == "0" {
            std::thread::sleep(Duration::from_millis(100));
        }
        (200, format!("{{\"id\":{user}}}"))
    });
    let out = dir.path().join("out.jsonl");
    let file = write(
        dir.path(),
        "ordered.yaml",
        &format!(
            r#"
sources:
  orders: {{ type: generator, count: 100 }}
transforms:
  keyed:
    type: jq
    inputs: [orders]
    program: '.user = .seq % 5'
  user:
    type: http_call
    inputs: [keyed]
    url: "http://{}/users/{{{{ .user }}}}"
    target: .customer
    workers: 4
    ordered_by: .user
sinks:
  out: {{ type: file, inputs: [user], path: "{}" }}
"#,
            server.addr,
            out.display()
        ),
    );
    let output = run_to_end(
        Command::new(SLUICE)
            .args(["run", "--quiet", &file])
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts"),
        Duration::from_secs(60),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events: Vec<(i64, i64)> = lines(&out)
        .iter()
        .map(|e| {
            (
                e["user"].as_i64().unwrap_or(-1),
                e["seq"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(events.len(), 100);
    for user in 0..5 {
        let seqs: Vec<i64> = events.iter().filter(|e| e.0 == user).map(|e| e.1).collect();
        assert!(seqs.is_sorted(), "user {user}: {seqs:?}");
    }
    // User 0's 20 lookups take 2 s one after the other; the 80 others do not wait for them.
    let last_other = events.iter().rposition(|e| e.0 != 0).expect("others");
    let second_slow = events.iter().filter(|e| e.0 == 0).nth(1).expect("slow");
    let second_slow = events.iter().position(|e| e == second_slow).expect("there");
    assert!(last_other < second_slow, "{events:?}");
}
