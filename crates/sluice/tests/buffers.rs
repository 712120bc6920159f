//! Disk buffers through a kill and an outage: an HTTP source answers `200` once an event is
//! synced to the sink's disk buffer, PostgreSQL is stopped mid-run (the answers go on), the
//! process is SIGKILLed, PostgreSQL comes back and the pipeline is started again: every event
//! that was answered `200` reaches the table. A buffer whose file the test cuts and damages
//! loses only the events its log reports lost.

// The counts of duplicates are the tests' report, on standard error.
#![allow(clippy::print_stderr)]

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{PrivatePostgres, free_port, request, start_in, text, wait_until, write};

/// Events in each request.
const PER_REQUEST: u64 = 100;

/// A pipeline `buffered`: an HTTP source on `port` into table `seen` of `db`, through a disk
/// buffer kept under `dir/data`.
fn pipeline(dir: &Path, port: u16, db: &PrivatePostgres) -> String {
    write(
        dir,
        "buffered.yaml",
        &format!(
            "pipeline: {{ name: buffered, data_dir: {data} }}\n\
             sources:\n  hook: {{ type: http, address: \"127.0.0.1:{port}\", path: /events }}\n\
             sinks:\n  db:\n    type: postgres\n    inputs: [hook]\n    url: \"{url}\"\n    \
             table: seen\n    columns: {{ seq: seq }}\n    \
             buffer: {{ type: disk, max_size: 64MiB }}\n",
            data = dir.join("data").display(),
            url = db.url(),
        ),
    )
}

/// Posts requests of [`PER_REQUEST`] events from `from` on, one after the other, until `stop`;
/// keeps the events of every request answered `200`.
struct Poster {
    acknowledged: Arc<Mutex<HashSet<u64>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Poster {
    fn start(addr: String, from: u64) -> Poster {
        let acknowledged = Arc::new(Mutex::new(HashSet::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (acked, stopped) = (Arc::clone(&acknowledged), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut next = from;
            while !stopped.load(Ordering::Relaxed) {
                let seqs: Vec<u64> = (next..next + PER_REQUEST).collect();
                let body: Vec<serde_json::Value> = seqs
                    .iter()
                    .map(|s| serde_json::json!({ "seq": s }))
                    .collect();
                let body = serde_json::to_vec(&body).expect("json");
                match request("POST", &addr, "/events", &body) {
                    Ok((200, _)) => {
                        acked.lock().expect("lock").extend(seqs);
                        next += PER_REQUEST;
                    }
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Poster {
            acknowledged,
            stop,
            thread: Some(thread),
        }
    }

    fn count(&self) -> usize {
        self.acknowledged.lock().expect("lock").len()
    }

    /// Stops posting; the events answered `200`.
    fn stop(mut self) -> HashSet<u64> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("poster");
        }
        std::mem::take(&mut *self.acknowledged.lock().expect("lock"))
    }
}

fn seqs(db: &PrivatePostgres) -> Vec<u64> {
    db.psql("SELECT seq FROM seen")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Posts events, stops PostgreSQL and posts more (they are still answered), then SIGKILLs the
/// process: returns the events answered `200` and the pipeline file.
///
/// With `in_flight`, requests are still being posted when the kill comes (the last may have
/// reached the buffer unanswered); without, posting stops first, so every event in the buffer
/// was answered.
fn kill_during_an_outage(
    dir: &Path,
    db: &PrivatePostgres,
    in_flight: bool,
) -> (HashSet<u64>, String) {
    db.psql("CREATE TABLE seen (seq bigint NOT NULL)");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let file = pipeline(dir, port, db);
    let running = start_in(dir, &["run", "--quiet", &file], &[]);
    let poster = Poster::start(addr, 0);
    wait_until(
        Duration::from_secs(30),
        || seqs(db).len() >= 2_000,
        || format!("{} rows written", seqs(db).len()),
    );
    db.halt();
    // With the database away the buffer still takes events, and the source answers.
    let before = poster.count();
    wait_until(
        Duration::from_secs(30),
        || poster.count() >= before + 5_000,
        || {
            format!(
                "{} events answered during the outage",
                poster.count() - before
            )
        },
    );
    let acknowledged = if in_flight {
        running.kill();
        poster.stop()
    } else {
        let acknowledged = poster.stop();
        running.kill();
        acknowledged
    };
    db.resume();
    (acknowledged, file)
}

/// Runs the pipeline again until every event of `wanted` is in the table, then stops it with
/// SIGINT: returns its standard error.
fn deliver(dir: &Path, file: &str, db: &PrivatePostgres, wanted: &HashSet<u64>) -> String {
    let running = start_in(dir, &["run", "--quiet", file], &[]);
    let missing = || wanted.difference(&seqs(db).into_iter().collect()).count();
    wait_until(
        Duration::from_secs(60),
        || missing() == 0,
        || format!("{} acknowledged events missing from the table", missing()),
    );
    let out = running.interrupt();
    text(&out.stderr)
}

#[test]
fn every_acknowledged_event_reaches_postgres_through_a_kill_and_an_outage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = PrivatePostgres::start();
    let (acknowledged, file) = kill_during_an_outage(dir.path(), &db, true);
    deliver(dir.path(), &file, &db, &acknowledged);
    let rows = seqs(&db);
    let distinct: HashSet<u64> = rows.iter().copied().collect();
    assert!(acknowledged.is_subset(&distinct));
    eprintln!(
        "disk buffer through a SIGKILL during a PostgreSQL outage: {} events acknowledged, all \
         in the table, {} written twice",
        acknowledged.len(),
        rows.len() - distinct.len()
    );
}

/// The buffer's segments, oldest first.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let buffer = dir.join("data/buffers/buffered/db");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&buffer)
        .expect("buffer dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    found.sort();
    found
}

#[test]
fn a_cut_and_damaged_buffer_loses_only_what_its_log_reports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = PrivatePostgres::start();
    // Every event in the buffer was answered, so every record lost was acknowledged.
    let (acknowledged, file) = kill_during_an_outage(dir.path(), &db, false);
    let last = segments(dir.path()).pop().expect("a segment");
    let mut bytes = std::fs::read(&last).expect("read");
    // A byte changed in the middle, and the last 9 bytes cut off.
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    bytes.truncate(bytes.len() - 9);
    std::fs::write(&last, &bytes).expect("write");
    let running = start_in(dir.path(), &["run", "--quiet", &file], &[]);
    let arrived = || seqs(&db).into_iter().collect::<HashSet<u64>>();
    // Everything but the damaged records arrives; then the count stops moving.
    let seen = std::cell::Cell::new(0);
    wait_until(
        Duration::from_secs(60),
        || {
            let now = acknowledged.intersection(&arrived()).count();
            let settled = now == seen.get() && now + 5 >= acknowledged.len();
            seen.set(now);
            std::thread::sleep(Duration::from_millis(300));
            settled
        },
        || format!("{} of {} arrived", seen.get(), acknowledged.len()),
    );
    let out = running.interrupt();
    let log = text(&out.stderr);
    let reported: usize = log
        .split("lost=")
        .skip(1)
        .filter_map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum();
    let missing = acknowledged.difference(&arrived()).count();
    eprintln!(
        "damaged disk buffer: {missing} acknowledged events missing, {reported} reported lost"
    );
    assert!(reported >= 1, "the damage is reported: {log}");
    assert_eq!(missing, reported, "{log}");
}
