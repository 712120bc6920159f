//! The measurement every Rust job engine of `bench/jobs.sh` goes through (Sluice's stores in
//! `throughput.rs`, apalis in `bench/peers/apalis`), as `bench/peers/bench.mjs` does for the
//! Node.js peers:
//!
//! 1. enqueue JOBS no-op jobs in batches of 1,000 (inserts/s);
//! 2. run `SLUICE_BENCH_AFTER_INSERT` if set (`bench/jobs.sh` has PostgreSQL `ANALYZE` there,
//!    for every engine alike);
//! 3. work them down with PROCESSES processes (jobs worked/s);
//! 4. with one process's workers idle, enqueue one job every 5 ms, SAMPLES times, and measure
//!    from enqueue to the handler's start (p50/p99 pickup latency).
//!
//! With `SLUICE_BENCH_PROCESSES=2` the second process is a copy of the bench started with
//! `SLUICE_BENCH_ROLE=helper`: it sets up the same engine, says `ready`, starts its workers on a
//! `start` line, reports `done N` on its stdout and stops when its stdin closes.

use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Any error of a bench.
pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;

/// The run's settings, from the environment.
pub(crate) struct Settings {
    /// Jobs to insert and work (`SLUICE_BENCH_JOBS`).
    pub(crate) jobs: usize,
    /// Jobs run at once per process (`SLUICE_BENCH_CONCURRENCY`).
    pub(crate) concurrency: usize,
    /// Pickup samples (`SLUICE_BENCH_SAMPLES`).
    pub(crate) samples: usize,
    /// Processes that work the jobs down (`SLUICE_BENCH_PROCESSES`).
    pub(crate) processes: usize,
    /// Whether this process is a helper.
    pub(crate) helper: bool,
}

/// A number from the environment, or `default`.
pub(crate) fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Settings {
    /// Reads the settings from the environment.
    pub(crate) fn from_env() -> Settings {
        Settings {
            jobs: setting("SLUICE_BENCH_JOBS", 100_000),
            concurrency: setting("SLUICE_BENCH_CONCURRENCY", 100),
            samples: setting("SLUICE_BENCH_SAMPLES", 500),
            processes: setting("SLUICE_BENCH_PROCESSES", 1).max(1),
            helper: std::env::var("SLUICE_BENCH_ROLE").as_deref() == Ok("helper"),
        }
    }
}

/// Microseconds since the Unix epoch: what a sampled job carries as `sent_us`.
pub(crate) fn micros_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// What a process's handlers count: jobs done, and the pickup waits of sampled jobs.
#[derive(Clone, Default)]
pub(crate) struct Tally {
    done: Arc<AtomicUsize>,
    waits: Arc<Mutex<Vec<f64>>>,
}

impl Tally {
    /// Counts one job; `sent_us` is the enqueue time of a sampled job.
    pub(crate) fn handled(&self, sent_us: Option<u64>) {
        if let Some(sent) = sent_us {
            let waited = micros_now().saturating_sub(sent) as f64 / 1000.0;
            self.waits
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(waited);
        }
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    fn done(&self) -> usize {
        self.done.load(Ordering::Relaxed)
    }
}

/// A job engine under measurement.
pub(crate) trait Engine {
    /// Inserts 1,000 no-op jobs.
    fn insert_batch(&mut self) -> impl Future<Output = Result<(), Error>>;
    /// Starts the workers, which count each job in `tally`.
    fn start(&mut self, tally: Tally) -> impl Future<Output = Result<(), Error>>;
    /// Enqueues one job carrying `sent_us`.
    fn send(&mut self, sent_us: u64) -> impl Future<Output = Result<(), Error>>;
    /// Stops the workers once what they hold is done.
    fn halt(&mut self) -> impl Future<Output = Result<(), Error>>;
}

/// What [`measure`] found.
pub(crate) struct Figures {
    /// Jobs inserted per second.
    pub(crate) inserts_per_s: f64,
    /// Jobs worked per second, all processes together.
    pub(crate) worked_per_s: f64,
    /// Median pickup latency of an idle worker, in milliseconds.
    pub(crate) p50_ms: f64,
    /// 99th percentile pickup latency, in milliseconds.
    pub(crate) p99_ms: f64,
}

impl Figures {
    /// The line `bench/jobs.sh` reads, for `variant`.
    pub(crate) fn line(&self, variant: &str, settings: &Settings) -> String {
        format!(
            "variant={variant} processes={} jobs={} concurrency={} inserts_per_s={:.0} \
             items_per_s={:.0} p50_ms={:.2} p99_ms={:.2}",
            settings.processes,
            settings.jobs,
            settings.concurrency,
            self.inserts_per_s,
            self.worked_per_s,
            self.p50_ms,
            self.p99_ms
        )
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

async fn until(reached: impl Fn() -> bool) {
    while !reached() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Runs steps 1 to 4 on `engine`, or, in a helper process, lends it its workers.
pub(crate) async fn run(
    engine: &mut impl Engine,
    settings: &Settings,
) -> Result<Option<Figures>, Error> {
    if settings.helper {
        help(engine).await?;
        return Ok(None);
    }
    measure(engine, settings).await.map(Some)
}

/// Runs steps 1 to 4 on `engine`.
async fn measure(engine: &mut impl Engine, settings: &Settings) -> Result<Figures, Error> {
    let jobs = settings.jobs;
    let started = Instant::now();
    for _ in 0..jobs / 1000 {
        engine.insert_batch().await?;
    }
    let inserts_per_s = jobs as f64 / started.elapsed().as_secs_f64();
    if let Ok(command) = std::env::var("SLUICE_BENCH_AFTER_INSERT") {
        let status = std::process::Command::new("sh")
            .args(["-c", &command])
            .status()?;
        if !status.success() {
            return Err(format!("`{command}` failed: {status}").into());
        }
    }

    let mut helpers = Vec::new();
    for _ in 1..settings.processes {
        helpers.push(Helper::spawn().await?);
    }
    let tally = Tally::default();
    let started = Instant::now();
    for helper in &mut helpers {
        helper.start().await?;
    }
    engine.start(tally.clone()).await?;
    let helped = || {
        helpers
            .iter()
            .map(|h| h.done.load(Ordering::Relaxed))
            .sum::<usize>()
    };
    until(|| tally.done() + helped() >= jobs).await;
    let worked_per_s = jobs as f64 / started.elapsed().as_secs_f64();
    let mut helped = 0;
    for helper in helpers {
        helped += helper.stop().await?;
    }

    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..settings.samples {
        engine.send(micros_now()).await?;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    until(|| tally.done() + helped >= jobs + settings.samples).await;
    engine.halt().await?;
    let mut waits = tally
        .waits
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    waits.sort_by(f64::total_cmp);
    Ok(Figures {
        inserts_per_s,
        worked_per_s,
        p50_ms: percentile(&waits, 0.5),
        p99_ms: percentile(&waits, 0.99),
    })
}

/// The helper's side: `engine`'s workers, started and stopped over stdin, counted on stdout.
async fn help(engine: &mut impl Engine) -> Result<(), Error> {
    println!("ready");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    if lines.next_line().await?.as_deref() != Some("start") {
        return Ok(());
    }
    let tally = Tally::default();
    engine.start(tally.clone()).await?;
    let report = {
        let tally = tally.clone();
        tokio::spawn(async move {
            let mut said = 0;
            loop {
                let now = tally.done();
                if now != said {
                    println!("done {now}");
                    said = now;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    while lines.next_line().await?.is_some() {}
    report.abort();
    engine.halt().await?;
    println!("done {}", tally.done());
    Ok(())
}

/// A helper process and what it has reported done.
struct Helper {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    done: Arc<AtomicUsize>,
    reader: Option<tokio::io::Lines<BufReader<tokio::process::ChildStdout>>>,
    reading: Option<tokio::task::JoinHandle<()>>,
}

impl Helper {
    /// Starts a copy of this bench as a helper and waits until it is ready.
    async fn spawn() -> Result<Helper, Error> {
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .args(std::env::args().skip(1))
            .env("SLUICE_BENCH_ROLE", "helper")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take().ok_or("helper without stdin")?;
        let stdout = child.stdout.take().ok_or("helper without stdout")?;
        let mut reader = BufReader::new(stdout).lines();
        if reader.next_line().await?.as_deref() != Some("ready") {
            return Err("the helper process did not get ready".into());
        }
        Ok(Helper {
            child,
            stdin,
            done: Arc::default(),
            reader: Some(reader),
            reading: None,
        })
    }

    /// Starts its workers and follows what it reports done.
    async fn start(&mut self) -> Result<(), Error> {
        self.stdin.write_all(b"start\n").await?;
        self.stdin.flush().await?;
        let mut reader = self.reader.take().ok_or("helper started twice")?;
        let done = self.done.clone();
        self.reading = Some(tokio::spawn(async move {
            while let Ok(Some(line)) = reader.next_line().await {
                if let Some(n) = line.strip_prefix("done ").and_then(|n| n.parse().ok()) {
                    done.store(n, Ordering::Relaxed);
                }
            }
        }));
        Ok(())
    }

    /// Stops it; returns how many jobs it did in all.
    async fn stop(self) -> Result<usize, Error> {
        drop(self.stdin);
        let mut child = self.child;
        child.wait().await?;
        if let Some(reading) = self.reading {
            reading.await?;
        }
        Ok(self.done.load(Ordering::Relaxed))
    }
}
