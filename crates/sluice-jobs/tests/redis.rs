//! The conformance and worker suites on the Redis store, against the real server named by
//! `SLUICE_TEST_REDIS` (default `redis://127.0.0.1:6379`; `scripts/services.sh` starts one where
//! none runs). Each test works under a key prefix of its own, deleted first.

#![cfg(feature = "redis")]

mod conformance;
mod workers;

use std::sync::Arc;

use futures::future::BoxFuture;
use sluice_jobs::store::RedisStore;
use sluice_jobs::{Clock, Store};

fn server() -> String {
    std::env::var("SLUICE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn open(case: String, clock: Arc<dyn Clock>, fresh: bool) -> BoxFuture<'static, Arc<dyn Store>> {
    Box::pin(async move {
        let prefix = format!("sluice-test-{case}");
        if fresh {
            let client = redis::Client::open(server()).expect("address");
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .expect("Redis is reachable");
            // SCAN, not KEYS: a shared server may hold millions of other keys, and KEYS would
            // block it (and time out) reading them all at once.
            let mut cursor = 0u64;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(format!("{{{prefix}}}:*"))
                    .arg("COUNT")
                    .arg(10_000)
                    .query_async(&mut conn)
                    .await
                    .expect("scan");
                if !keys.is_empty() {
                    let _: () = redis::cmd("DEL")
                        .arg(keys)
                        .query_async(&mut conn)
                        .await
                        .expect("delete");
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        let store = RedisStore::connect(&format!("{}?prefix={prefix}", server()))
            .await
            .expect("connect");
        let store: Arc<dyn Store> = Arc::new(store.with_clock(clock));
        store
    })
}

conformance!(open);
workers!(open);
