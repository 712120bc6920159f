//! Any text as a `sluice jobs enqueue --file` file: each line that reads as a job is enqueued
//! into an SQLite store in memory and read back, and the stored job is the one enqueued (kind,
//! arguments, queue, priority, attempts, keys); a line that does not read is refused, never a
//! panic.
#![no_main]

use std::sync::{LazyLock, Mutex};

use libfuzzer_sys::fuzz_target;
use sluice_jobs::store::{Admin, Enqueued, Queue, SqliteStore, Store};
use sluice_jobs::NewJob;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
});

/// The store, and how many inputs it has taken: a fresh one every 1,000, so that memory stays
/// within libFuzzer's limit.
static STORE: Mutex<Option<(SqliteStore, u32)>> = Mutex::new(None);

fn fresh_store() -> SqliteStore {
    RUNTIME.block_on(async {
        let store = SqliteStore::open("sqlite::memory:").await.expect("store");
        store.migrate().await.expect("migrate");
        store
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let jobs: Vec<NewJob> = text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    if jobs.is_empty() {
        return;
    }
    let mut slot = STORE.lock().expect("store");
    if slot.as_ref().is_none_or(|(_, taken)| *taken >= 1_000) {
        // Closed inside the runtime, opened outside its `block_on` (which opening blocks on).
        let old = slot.take();
        RUNTIME.block_on(async move { drop(old) });
        *slot = Some((fresh_store(), 0));
    }
    let Some((store, taken)) = slot.as_mut() else {
        return;
    };
    *taken += 1;
    let store = &*store;
    RUNTIME.block_on(async {
        let Ok(enqueued) = store.enqueue(jobs.clone()).await else {
            // Refused as a whole (an empty kind, say): nothing to read back.
            return;
        };
        assert_eq!(enqueued.len(), jobs.len());
        for (job, outcome) in jobs.iter().zip(enqueued) {
            let Enqueued::Inserted(id) = outcome else {
                continue;
            };
            let stored = store.get(id).await.expect("get").expect("the job is there");
            assert_eq!(stored.kind, job.kind);
            assert_eq!(stored.args, job.args, "arguments stored as given");
            assert_eq!(stored.queue, job.queue);
            assert_eq!(stored.priority, job.priority);
            assert_eq!(stored.max_attempts, job.max_attempts);
            assert_eq!(stored.unique_key, job.unique_key);
            assert_eq!(stored.partition_key, job.partition_key);
            assert_eq!(stored.traceparent, job.traceparent);
        }
    });
});
