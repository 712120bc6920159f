//! The conformance suite on the Redis store, against the real server named by
//! `SLUICE_TEST_REDIS` (default `redis://127.0.0.1:6379`; `scripts/services.sh` starts one where
//! none runs). Each test works under a key prefix of its own, deleted first.

#![cfg(feature = "redis")]

mod conformance;

use std::sync::Arc;

use conformance::Harness;
use sluice_jobs::Store;
use sluice_jobs::store::RedisStore;

fn server() -> String {
    std::env::var("SLUICE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

async fn harness(case: &str) -> Harness {
    let prefix = format!("sluice-conformance-{case}");
    let client = redis::Client::open(server()).expect("address");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis is reachable");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{{{prefix}}}:*"))
        .query_async(&mut conn)
        .await
        .expect("keys");
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut conn)
            .await
            .expect("delete");
    }
    let url = format!("{}?prefix={prefix}", server());
    let clock = conformance::start_clock();
    let open = {
        let clock = clock.clone();
        move |url: String| {
            let clock = clock.clone();
            async move {
                let store = RedisStore::connect(&url)
                    .await
                    .expect("connect")
                    .with_clock(Arc::new(clock));
                let store: Arc<dyn Store> = Arc::new(store);
                store
            }
        }
    };
    let store = open(url.clone()).await;
    Harness {
        store,
        clock,
        reopen: Box::new(move || Box::pin(open(url.clone()))),
    }
}

conformance!(harness);
