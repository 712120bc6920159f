//! Helpers shared by the end-to-end tests of the `sluice` binary.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// The binary under test.
pub const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

/// The machine's PostgreSQL (`scripts/services.sh` starts it).
pub const DATABASE: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Runs SQL with psql; returns what it printed (unaligned, tuples only).
pub fn psql(sql: &str) -> String {
    let out = Command::new("psql")
        .args([DATABASE, "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .output()
        .expect("psql");
    assert!(out.status.success(), "psql: {}", text(&out.stderr));
    text(&out.stdout)
}

/// Runs a command with redis-cli on the machine's Redis (`scripts/services.sh` starts it);
/// returns what it printed. Fails the test if it does not run.
pub fn redis_cli(args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(args)
        .output()
        .expect("redis-cli");
    assert!(out.status.success(), "redis-cli: {}", text(&out.stderr));
    text(&out.stdout)
}

/// The address of an empty job store in schema `schema` of the test PostgreSQL
/// (`SLUICE_TEST_POSTGRES`, by default the machine's): the schema is dropped first.
pub fn fresh_postgres_store(schema: &str) -> String {
    let server = std::env::var("SLUICE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let reset = Command::new("psql")
        .args([
            &server,
            "-qc",
            &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        ])
        .output()
        .expect("psql runs");
    assert!(reset.status.success(), "{}", text(&reset.stderr));
    format!("{server}?schema={schema}")
}

/// Runs `test` on a job store of its own on the test Redis (`SLUICE_TEST_REDIS`, by default
/// the machine's), under a key prefix named after `name` and this process, then deletes what
/// it left there.
pub fn on_redis_store(name: &str, test: impl FnOnce(&str)) {
    let server =
        std::env::var("SLUICE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("{name}-{}", std::process::id());
    test(&format!("{server}?prefix={prefix}"));
    let keys = Command::new("redis-cli")
        .args(["--scan", "--pattern", &format!("{{{prefix}}}:*")])
        .output()
        .expect("redis-cli runs");
    for key in text(&keys.stdout).lines() {
        let _ = Command::new("redis-cli").args(["DEL", key]).output();
    }
}

/// Bytes as text, for messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The JSON lines of a file (none if it does not exist yet; lines that are not JSON skipped).
pub fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The distinct `seq` fields (from the `generator` source) of a file of JSON lines.
pub fn seqs(path: &Path) -> HashSet<u64> {
    lines(path)
        .iter()
        .filter_map(|e| e["seq"].as_u64())
        .collect()
}

/// Waits until `done` holds, checking every 20 ms; past `limit`, fails the test with what
/// `progress` says.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool, progress: impl Fn() -> String) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{}", progress());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes `text` to `dir/name`; returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

/// A port nothing listens on (now).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits for `child` to end, failing the test rather than hanging past `limit`. Its output is
/// read meanwhile: a child that fills a pipe nobody reads blocks on it and never ends.
pub fn run_to_end(mut child: Child, limit: Duration) -> Output {
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            return Output {
                status,
                stdout: stdout.join().unwrap_or_default(),
                stderr: stderr.join().unwrap_or_default(),
            };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let stderr = stderr.join().unwrap_or_default();
    panic!(
        "sluice did not finish within {limit:?}; it wrote:\n{}",
        String::from_utf8_lossy(&stderr)
    );
}

/// Reads `pipe` to its end on a thread of its own.
fn drain<R: std::io::Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut out);
        }
        out
    })
}

/// Sends `signal` (`INT`, `TERM`, `KILL`) to a process.
pub fn signal(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(sent.success(), "kill -{signal} {pid}");
}

/// Sends SIGINT and waits for the process to end.
pub fn interrupt(child: Child) -> Output {
    signal(child.id(), "INT");
    run_to_end(child, Duration::from_secs(20))
}

/// Starts `sluice run --quiet PIPELINE`.
pub fn start(pipeline: &str) -> Running {
    start_with(pipeline, &[])
}

/// Starts `sluice run --quiet PIPELINE` with environment variables.
pub fn start_with(pipeline: &str, env: &[(&str, &str)]) -> Running {
    start_args(&["run", "--quiet", pipeline], env)
}

/// Starts `sluice ARGS` in `dir` with environment variables, without the caller's
/// `SLUICE_STORE` and `TRACEPARENT`.
pub fn start_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Running {
    Running(Some(
        Command::new(SLUICE)
            .args(args)
            .current_dir(dir)
            .env_remove("SLUICE_STORE")
            .env_remove("TRACEPARENT")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("sluice"),
    ))
}

/// Runs `sluice ARGS` in `dir` to its end, failing the test past `limit`.
pub fn run_in(dir: &Path, args: &[&str], limit: Duration) -> Output {
    let mut running = start_in(dir, args, &[]);
    run_to_end(running.0.take().expect("started"), limit)
}

/// Runs `sluice jobs --store STORE ARGS` in `dir`, failing the test if it fails.
pub fn jobs_in(dir: &Path, store: &str, args: &[&str]) {
    let out = Command::new(SLUICE)
        .args(["jobs", "--store", store])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("sluice runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// A pipeline (`pipeline.yaml` in `dir`) that exercises failures: a generator at 200 events/s
/// through `tag` (jq) into `lookup`, an `http_call` with a circuit breaker to
/// `http://ADMIN/missing`, which the admin server at `admin` answers 404, so the breaker opens
/// and every event goes to the dead letters (`dead.jsonl`).
pub fn refused_lookup_pipeline(dir: &Path, admin: &str) {
    write(
        dir,
        "pipeline.yaml",
        &format!(
            "sources:\n  numbers: {{ type: generator, rate: 200 }}\n\
             transforms:\n  tag: {{ type: jq, inputs: [numbers], program: '.tagged = true' }}\n  \
             lookup:\n    type: http_call\n    inputs: [tag]\n    url: http://{admin}/missing\n    target: .user\n    \
             circuit_breaker: {{ failure_ratio: 0.5, min_calls: 5, window: 10, open_for: 1s }}\n\
             sinks:\n  out: {{ type: file, inputs: [lookup], path: out.jsonl, buffer: {{ type: disk }} }}\n  \
             dead: {{ type: file, inputs: [lookup.errors], path: dead.jsonl }}\n"
        ),
    );
}

/// The kinds of a worker file that exercise failures: `ok` succeeds, `bad` fails twice and dies.
pub const OK_AND_BAD_KINDS: &str = "kinds:\n  ok:\n    handler: { type: exec, command: 'true' }\n  \
     bad:\n    handler: { type: exec, command: 'exit 1' }\n    max_attempts: 2\n    backoff: { initial: 10ms, max: 10ms }\n";

/// Starts `sluice ARGS` with environment variables.
fn start_args(args: &[&str], env: &[(&str, &str)]) -> Running {
    Running(Some(
        Command::new(SLUICE)
            .args(args)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("sluice"),
    ))
}

/// Runs `sluice run --quiet PIPELINE` to its end, failing the test past `limit`.
pub fn run(pipeline: &str, limit: Duration) -> Output {
    let mut running = start(pipeline);
    run_to_end(running.0.take().expect("started"), limit)
}

/// A running `sluice`; killed if the test fails before it stops it.
pub struct Running(pub Option<Child>);

impl Running {
    /// Sends SIGKILL and waits for the process to end.
    pub fn kill(mut self) {
        if let Some(child) = &self.0 {
            signal(child.id(), "KILL");
        }
        if let Some(mut child) = self.0.take() {
            let _ = child.wait();
        }
    }

    /// Sends SIGINT and waits for the process to end.
    pub fn interrupt(mut self) -> Output {
        interrupt(self.0.take().expect("running"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Checks the API whose OpenAPI document is at `url` with schemathesis (`st`, which
/// `scripts/services.sh schemathesis` installs): every check, 40 examples per operation from a
/// fixed seed, with the admin token `token` and without; no 5xx, every answer as described. The
/// operations named in `streaming` (by operation id) answer without end, so they are checked
/// without the token only, where they are refused.
pub fn schemathesis(dir: &Path, url: &str, token: &str, streaming: &[&str]) {
    for with_token in [true, false] {
        let mut st = Command::new("st");
        st.args([
            "run",
            url,
            "--checks",
            "all",
            "--max-examples",
            "40",
            "--seed",
            "1",
        ]);
        if with_token {
            st.args(["-H", &format!("Authorization: Bearer {token}")]);
            for operation in streaming {
                st.args(["--exclude-operation-id", operation]);
            }
        }
        let out = st
            .current_dir(dir)
            .output()
            .expect("schemathesis (`st`) runs: scripts/services.sh schemathesis installs it");
        assert!(
            out.status.success(),
            "schemathesis ({}): {}{}",
            if with_token {
                "with the token"
            } else {
                "without"
            },
            text(&out.stdout),
            text(&out.stderr)
        );
    }
}

/// A plain HTTP/1.1 request: the status and body of the answer.
pub fn request(
    method: &str,
    addr: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}

/// What `/metrics` at `addr` serves now; empty when it does not answer.
pub fn scrape(addr: &str) -> String {
    request("GET", addr, "/metrics", b"")
        .map(|(_, body)| body)
        .unwrap_or_default()
}

/// The value of `series` (a name with its labels, as written) in a scrape; 0 when absent.
pub fn series(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Sends raw bytes to `addr` and reads the answer until the server closes or `limit` passes.
pub fn raw(addr: &str, bytes: &[u8], limit: Duration) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(limit)).expect("timeout");
    stream.write_all(bytes).expect("send");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// A PostgreSQL server of the test's own, in a temporary folder and on a port of its own, that
/// the test may stop and start again without any other test seeing it. Stopped when dropped.
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
    tls: bool,
}

impl PrivatePostgres {
    /// Creates the cluster (trust authentication, user `postgres`) and starts it.
    pub fn start() -> PrivatePostgres {
        PrivatePostgres::create(false)
    }

    /// Like [`PrivatePostgres::start`], with TLS only: a certificate for 127.0.0.1 signed by a
    /// certificate authority of the test's own (its certificate is [`PrivatePostgres::ca`]),
    /// and connections without TLS refused.
    pub fn start_tls() -> PrivatePostgres {
        PrivatePostgres::create(true)
    }

    fn create(tls: bool) -> PrivatePostgres {
        let versions = std::fs::read_dir("/usr/lib/postgresql").expect("PostgreSQL is installed");
        let bin = versions
            .filter_map(Result::ok)
            .map(|v| v.path().join("bin"))
            .filter(|b| b.join("initdb").exists())
            .max()
            .expect("initdb");
        let dir = tempfile::tempdir().expect("tempdir");
        let cluster = PrivatePostgres {
            dir,
            bin,
            port: free_port(),
            tls,
        };
        let data = format!("{}/data", cluster.path());
        if tls {
            make_certificates(&cluster.path());
        }
        // The server refuses to run as root: it runs as `postgres` when the test is root.
        Command::new("chown")
            .args(["-R", "postgres:postgres", &cluster.path()])
            .status()
            .expect("chown");
        cluster.pg("initdb", &["-A", "trust", "-U", "postgres", "-D", &data]);
        if tls {
            std::fs::write(
                format!("{data}/pg_hba.conf"),
                "local all all trust\n\
                 hostssl all all 127.0.0.1/32 trust\n\
                 hostnossl all all 127.0.0.1/32 reject\n",
            )
            .expect("pg_hba.conf");
        }
        cluster.resume();
        cluster
    }

    /// The certificate of the authority that signed the server's (with [`PrivatePostgres::start_tls`]).
    pub fn ca(&self) -> String {
        format!("{}/ca.crt", self.path())
    }

    fn path(&self) -> String {
        self.dir.path().display().to_string()
    }

    /// One of the server's programs, to run as `postgres` when the test runs as root.
    fn program(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| text(&o.stdout).trim() == "0");
        if root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    /// Runs one of the server's programs; fails the test if it fails.
    fn pg(&self, name: &str, args: &[&str]) {
        let out = self.program(name).args(args).output().expect(name);
        assert!(
            out.status.success(),
            "{name} {args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }

    /// Its address, database `postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again) and waits until it serves.
    pub fn resume(&self) {
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.path()
        );
        if self.tls {
            let dir = self.path();
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key"
            ));
        }
        let (data, log) = (
            format!("{}/data", self.path()),
            format!("{}/server.log", self.path()),
        );
        self.pg(
            "pg_ctl",
            &["start", "-w", "-D", &data, "-l", &log, "-o", &options],
        );
    }

    /// Stops the server at once (`immediate`: connections are cut, as in a crash).
    pub fn halt(&self) {
        let data = format!("{}/data", self.path());
        self.pg("pg_ctl", &["stop", "-w", "-m", "immediate", "-D", &data]);
    }

    /// Sends `sig` (`STOP`, `CONT`) to the server and each of its processes: a stopped server
    /// keeps its connections open and answers nothing, as behind a cut network.
    pub fn signal(&self, sig: &str) {
        let pid = std::fs::read_to_string(format!("{}/data/postmaster.pid", self.path()))
            .expect("postmaster.pid");
        let pid = pid.lines().next().unwrap_or_default().trim().to_owned();
        let children = Command::new("pgrep")
            .args(["-P", &pid])
            .output()
            .expect("pgrep");
        for child in text(&children.stdout).split_whitespace() {
            let _ = Command::new("kill")
                .args([&format!("-{sig}"), child])
                .status();
        }
        signal(pid.parse().expect("a pid"), sig);
    }

    /// Runs SQL with psql; returns what it printed (unaligned, tuples only).
    pub fn psql(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .args([&self.url(), "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
            .output()
            .expect("psql");
        assert!(out.status.success(), "psql: {}", text(&out.stderr));
        text(&out.stdout)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = format!("{}/data", self.path());
        let _ = self
            .program("pg_ctl")
            .args(["stop", "-m", "immediate", "-D", &data])
            .output();
    }
}

/// A certificate authority, and a server certificate for 127.0.0.1 and a client certificate it
/// signed, in `dir` (`ca.crt`, `server.crt`, `server.key`, `client.crt`, `client.key`), made
/// with openssl.
pub fn make_certificates(dir: &str) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            text(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=sluice test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ]);
    for (name, usage) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth",
        ),
        ("client", "extendedKeyUsage=clientAuth"),
    ] {
        std::fs::write(
            format!("{dir}/{name}.ext"),
            format!(
                "{usage}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
            ),
        )
        .expect("extensions");
        let (key, csr, crt, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &key,
            "-out",
            &csr,
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &crt,
        ]);
    }
    Command::new("chmod")
        .args([
            "600",
            &format!("{dir}/server.key"),
            &format!("{dir}/client.key"),
        ])
        .status()
        .expect("chmod");
}

/// The `tls` option of a connector that trusts the CA of [`make_certificates`] in `dir` and
/// shows its client certificate.
pub fn client_tls(dir: &Path) -> String {
    let dir = dir.display();
    format!(
        "{{ ca_file: \"{dir}/ca.crt\", cert_file: \"{dir}/client.crt\", key_file: \"{dir}/client.key\" }}"
    )
}

/// A TLS front for a plain TCP service (socat): it takes TLS connections on a port of its own,
/// asks every client for a certificate signed by its CA, and forwards the bytes to the
/// service. For servers that cannot be given TLS without restarting the shared one.
pub struct TlsFront {
    dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
    socat: Child,
}

impl TlsFront {
    /// Starts one in front of `127.0.0.1:target` and waits until it listens.
    pub fn start(target: u16) -> TlsFront {
        TlsFront::on(free_port(), target)
    }

    /// Starts one on `port` in front of `127.0.0.1:target`.
    pub fn on(port: u16, target: u16) -> TlsFront {
        let dir = tempfile::tempdir().expect("tempdir");
        make_certificates(&dir.path().display().to_string());
        let d = dir.path().display();
        let socat = Command::new("socat")
            .arg(format!(
                "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={d}/server.crt,key={d}/server.key,cafile={d}/ca.crt,verify=1"
            ))
            .arg(format!("TCP:127.0.0.1:{target}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("socat");
        wait_until(
            Duration::from_secs(10),
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
            || format!("socat never listened on {port}"),
        );
        TlsFront { dir, port, socat }
    }

    /// The `tls` option that lets a client in.
    pub fn client_tls(&self) -> String {
        client_tls(self.dir.path())
    }

    /// The path of one of its certificate files (`ca.crt`, `client.key`…).
    pub fn file(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let _ = self.socat.kill();
        let _ = self.socat.wait();
    }
}

/// A server of the test's own (Redis, NATS) in a temporary folder and on a port of its own,
/// that the test may kill, freeze and start again without any other test seeing it. Stopped
/// when dropped.
pub struct PrivateServer {
    dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
    scheme: &'static str,
    /// The command that starts it in a folder, on a port, telling clients to come to another
    /// (for a broker behind a [`TlsFront`]; the same port otherwise).
    command: fn(&Path, u16, u16) -> Command,
    /// The port it tells clients to come to.
    advertised: u16,
    /// Whether it serves (not only listens: a Redis loading its file answers `LOADING`).
    serves: fn(&PrivateServer) -> bool,
    server: std::sync::Mutex<Option<Child>>,
    /// Whether it speaks TLS only, with the certificates of [`make_certificates`] in its folder,
    /// and asks every client for one.
    tls: bool,
    /// A file of its folder holding the server's process id, when the command starts it as a
    /// child of its own (RabbitMQ's script starts the Erlang VM).
    pid_file: Option<&'static str>,
}

impl PrivateServer {
    /// A Redis writing every command to its append-only file before answering (so a kill loses
    /// nothing it acknowledged).
    pub fn redis() -> PrivateServer {
        let serves = |redis: &PrivateServer| {
            redis
                .try_redis_cli(&["PING"])
                .is_some_and(|o| o.trim() == "PONG")
        };
        PrivateServer::start("redis", false, serves, |dir, port, _| {
            let mut c = Command::new("redis-server");
            c.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--appendonly", "yes", "--appendfsync", "always"])
                .args(["--save", "", "--dir"])
                .arg(dir);
            c
        })
    }

    /// A Redis speaking TLS only (`rediss://`), asking clients for a certificate.
    pub fn redis_tls() -> PrivateServer {
        let serves = |redis: &PrivateServer| {
            redis
                .try_redis_cli(&["PING"])
                .is_some_and(|o| o.trim() == "PONG")
        };
        PrivateServer::start("rediss", true, serves, |dir, port, _| {
            let mut c = Command::new("redis-server");
            c.args(["--bind", "127.0.0.1", "--port", "0"])
                .args(["--tls-port", &port.to_string(), "--tls-auth-clients", "yes"])
                .arg("--tls-cert-file")
                .arg(dir.join("server.crt"))
                .arg("--tls-key-file")
                .arg(dir.join("server.key"))
                .arg("--tls-ca-cert-file")
                .arg(dir.join("ca.crt"))
                .args(["--save", "", "--dir"])
                .arg(dir);
            c
        })
    }

    /// A NATS server with JetStream speaking TLS only, asking clients for a certificate.
    pub fn nats_tls() -> PrivateServer {
        let serves =
            |nats: &PrivateServer| std::net::TcpStream::connect(("127.0.0.1", nats.port)).is_ok();
        PrivateServer::start("nats", true, serves, |dir, port, _| {
            let mut c = Command::new("nats-server");
            c.args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
                .arg(dir)
                .args(["--tls", "--tlsverify", "--tlscert"])
                .arg(dir.join("server.crt"))
                .arg("--tlskey")
                .arg(dir.join("server.key"))
                .arg("--tlscacert")
                .arg(dir.join("ca.crt"));
            c
        })
    }

    /// The `tls` option that lets a client in.
    pub fn client_tls(&self) -> String {
        client_tls(self.dir.path())
    }

    /// A Kafka-protocol broker (tansu, as `scripts/services.sh` installs it) keeping its topics
    /// in SQLite in its folder, telling clients to come to `advertised` (its own port if none).
    pub fn kafka(advertised: Option<u16>) -> PrivateServer {
        let serves =
            |kafka: &PrivateServer| std::net::TcpStream::connect(("127.0.0.1", kafka.port)).is_ok();
        PrivateServer::start_advertising(
            "kafka",
            false,
            serves,
            |dir, port, advertised| {
                let root = std::env::var("TANSU_ROOT").unwrap_or_else(|_| {
                    format!(
                        "{}/.local/share/sluice/tansu-0.6.0-libsql",
                        std::env::var("HOME").unwrap_or_default()
                    )
                });
                let mut c = Command::new(format!("{root}/bin/tansu"));
                c.current_dir(dir)
                    .arg("broker")
                    .arg(format!("--listener-url=tcp://127.0.0.1:{port}"))
                    .arg(format!(
                        "--advertised-listener-url=tcp://127.0.0.1:{advertised}"
                    ))
                    .args(["--storage-engine", "sqlite://tansu.db", "--silent"]);
                c
            },
            advertised,
        )
    }

    /// Its address for a Kafka client: `127.0.0.1:PORT`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.advertised)
    }

    /// A NATS server with JetStream, storing streams in its folder.
    pub fn nats() -> PrivateServer {
        let serves =
            |nats: &PrivateServer| std::net::TcpStream::connect(("127.0.0.1", nats.port)).is_ok();
        PrivateServer::start("nats", false, serves, |dir, port, _| {
            let mut c = Command::new("nats-server");
            c.args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
                .arg(dir);
            c
        })
    }

    fn start(
        scheme: &'static str,
        tls: bool,
        serves: fn(&PrivateServer) -> bool,
        command: fn(&Path, u16, u16) -> Command,
    ) -> PrivateServer {
        PrivateServer::start_advertising(scheme, tls, serves, command, None)
    }

    fn start_advertising(
        scheme: &'static str,
        tls: bool,
        serves: fn(&PrivateServer) -> bool,
        command: fn(&Path, u16, u16) -> Command,
        advertised: Option<u16>,
    ) -> PrivateServer {
        let port = free_port();
        let server = PrivateServer {
            dir: tempfile::tempdir().expect("tempdir"),
            port,
            advertised: advertised.unwrap_or(port),
            scheme,
            command,
            serves,
            server: std::sync::Mutex::new(None),
            tls,
            pid_file: None,
        };
        if tls {
            make_certificates(&server.dir.path().display().to_string());
        }
        server.resume();
        server
    }

    /// Its address (with RabbitMQ's default user).
    pub fn url(&self) -> String {
        if self.scheme == "amqp" {
            return format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port);
        }
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    /// Starts the server (again) and waits until it serves.
    pub fn resume(&self) {
        let child = (self.command)(self.dir.path(), self.port, self.advertised)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect(self.scheme);
        *self.server.lock().expect("lock") = Some(child);
        // A RabbitMQ node boots in about 10 s on an idle machine, longer on a loaded one.
        wait_until(
            Duration::from_secs(60),
            || (self.serves)(self),
            || format!("the private {} never served", self.scheme),
        );
    }

    /// Kills the server (SIGKILL: connections cut, as in a crash).
    pub fn halt(&self) {
        if let Some(pid) = self.server_pid() {
            signal(pid, "KILL");
        }
        if let Some(mut child) = self.server.lock().expect("lock").take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `sig` (`STOP`, `CONT`) to the server: a stopped server keeps its connections open
    /// and answers nothing, as behind a cut network.
    pub fn signal(&self, sig: &str) {
        let pid = self
            .server_pid()
            .or_else(|| self.server.lock().expect("lock").as_ref().map(Child::id));
        if let Some(pid) = pid {
            signal(pid, sig);
        }
    }

    /// The server's process id, from its pid file, if it has one.
    fn server_pid(&self) -> Option<u32> {
        let file = self.dir.path().join(self.pid_file?);
        std::fs::read_to_string(file).ok()?.trim().parse().ok()
    }

    /// A RabbitMQ node of its own (its own node name, ports, database and logs), which keeps
    /// durable queues and persistent messages on disk across a kill.
    pub fn rabbitmq() -> PrivateServer {
        let serves = |rabbit: &PrivateServer| {
            std::net::TcpStream::connect(("127.0.0.1", rabbit.port)).is_ok()
        };
        let mut server = PrivateServer::start_advertising(
            "amqp",
            false,
            serves,
            |dir, port, _| {
                let d = dir.display();
                std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("plugins");
                std::fs::write(
                    dir.join("rabbitmq.conf"),
                    format!("listeners.tcp.default = 127.0.0.1:{port}\n"),
                )
                .expect("config");
                let mut c = Command::new("/usr/lib/rabbitmq/bin/rabbitmq-server");
                c.current_dir(dir)
                    .env("RABBITMQ_NODENAME", format!("sluice-test-{port}@localhost"))
                    .env("RABBITMQ_NODE_PORT", port.to_string())
                    .env("RABBITMQ_DIST_PORT", free_port().to_string())
                    .env("RABBITMQ_CONFIG_FILE", format!("{d}/rabbitmq.conf"))
                    .env("RABBITMQ_CONF_ENV_FILE", format!("{d}/rabbitmq-env.conf"))
                    .env("RABBITMQ_MNESIA_BASE", format!("{d}/mnesia"))
                    .env("RABBITMQ_LOG_BASE", format!("{d}/log"))
                    .env(
                        "RABBITMQ_ENABLED_PLUGINS_FILE",
                        format!("{d}/enabled_plugins"),
                    )
                    .env("RABBITMQ_PID_FILE", format!("{d}/rabbitmq.pid"))
                    .env("HOME", dir);
                c
            },
            None,
        );
        server.pid_file = Some("rabbitmq.pid");
        server
    }

    /// Runs a command with redis-cli on the server; what it printed, if it ran.
    fn try_redis_cli(&self, args: &[&str]) -> Option<String> {
        let mut cli = Command::new("redis-cli");
        cli.args(["-p", &self.port.to_string()]);
        if self.tls {
            let dir = self.dir.path();
            cli.args(["--tls", "--cacert"])
                .arg(dir.join("ca.crt"))
                .arg("--cert")
                .arg(dir.join("client.crt"))
                .arg("--key")
                .arg(dir.join("client.key"));
        }
        let out = cli.args(args).output().ok()?;
        out.status.success().then(|| text(&out.stdout))
    }

    /// Runs a command with redis-cli on the server; fails the test if it does not run.
    pub fn redis_cli(&self, args: &[&str]) -> String {
        self.try_redis_cli(args).expect("redis-cli")
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Prepares `dir` for workers whose `record` jobs each append their arguments to `runs.jsonl`:
/// the handler's pipeline `record.yaml`, the worker file `worker.yaml` (`settings`, then the
/// kind), and `count` jobs with arguments `{"n": 0}` to `{"n": count - 1}` enqueued into
/// `store` (migrated first).
pub fn enqueue_records(dir: &Path, store: &str, settings: &str, count: usize) {
    write(
        dir,
        "record.yaml",
        "sources:\n  job: { type: stdin }\nsinks:\n  runs: { type: file, inputs: [job], path: runs.jsonl }\n",
    );
    write(
        dir,
        "worker.yaml",
        &format!(
            "{settings}kinds:\n  record:\n    handler: {{ type: pipeline, path: record.yaml }}\n"
        ),
    );
    let queued: String = (0..count)
        .map(|n| format!("{{\"kind\": \"record\", \"args\": {{\"n\": {n}}}}}\n"))
        .collect();
    write(dir, "jobs.jsonl", &queued);
    jobs(dir, store, &["migrate"]);
    jobs(dir, store, &["enqueue", "--file", "jobs.jsonl"]);
}

/// `sluice jobs --store STORE ARGS` in `dir`; what it printed. Fails the test if it fails.
pub fn jobs(dir: &Path, store: &str, args: &[&str]) -> String {
    let out = Command::new(SLUICE)
        .args(["jobs", "--store", store])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("sluice runs");
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// The counts by state of `queue` in `store`, as `sluice jobs stats --json` prints them: an
/// object, or null when the queue holds no job.
pub fn queue_counts(dir: &Path, store: &str, queue: &str) -> serde_json::Value {
    let stats: serde_json::Value =
        serde_json::from_str(&jobs(dir, store, &["stats", "--json"])).expect("JSON");
    stats
        .as_array()
        .and_then(|queues| queues.iter().find(|q| q["queue"] == queue))
        .map_or(serde_json::Value::Null, |q| q["counts"].clone())
}
