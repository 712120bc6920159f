//! The conformance and worker suites on the SQLite store, one fresh file per test.

#![cfg(feature = "sqlite")]

mod conformance;
mod workers;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use futures::future::BoxFuture;
use sluice_jobs::store::SqliteStore;
use sluice_jobs::{Clock, Store};

/// The database file of a case, in a directory that lasts as long as the test process.
fn path(case: &str) -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"))
        .path()
        .join(format!("{case}.db"))
}

fn open(case: String, clock: Arc<dyn Clock>, fresh: bool) -> BoxFuture<'static, Arc<dyn Store>> {
    Box::pin(async move {
        let path = path(&case);
        if fresh {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        let store = SqliteStore::open(&format!("sqlite://{}", path.display()))
            .await
            .expect("open");
        let store: Arc<dyn Store> = Arc::new(store.with_clock(clock));
        store
    })
}

conformance!(open);
workers!(open);
