//! The conformance suite on the SQLite store, one fresh file per test.

#![cfg(feature = "sqlite")]

mod conformance;

use std::sync::Arc;

use conformance::Harness;
use sluice_jobs::Store;
use sluice_jobs::store::SqliteStore;

async fn harness(_case: &str) -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
    let clock = conformance::start_clock();
    let open = {
        let clock = clock.clone();
        move |url: String| {
            let clock = clock.clone();
            async move {
                let store: Arc<dyn Store> = Arc::new(
                    SqliteStore::open(&url)
                        .await
                        .expect("open")
                        .with_clock(Arc::new(clock)),
                );
                store
            }
        }
    };
    let store = open(url.clone()).await;
    // The directory lives as long as the test's process; each test has its own.
    std::mem::forget(dir);
    Harness {
        store,
        clock,
        reopen: Box::new(move || Box::pin(open(url.clone()))),
    }
}

conformance!(harness);
