//! The conformance suite on the PostgreSQL store, against the real server named by
//! `SLUICE_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`; `scripts/services.sh`
//! starts one where none runs). Each test works in a schema of its own, dropped and made anew.

#![cfg(feature = "postgres")]

mod conformance;

use std::sync::Arc;

use conformance::Harness;
use sluice_jobs::Store;
use sluice_jobs::store::PostgresStore;

fn server() -> String {
    std::env::var("SLUICE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

async fn harness(case: &str) -> Harness {
    let schema = format!("sluice_conformance_{case}");
    let admin = sqlx::PgPool::connect(&server())
        .await
        .expect("PostgreSQL is reachable");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .execute(&admin)
    .await
    .expect("drop schema");
    admin.close().await;
    let url = format!("{}?schema={schema}", server());
    let clock = conformance::start_clock();
    let open = {
        let clock = clock.clone();
        move |url: String| {
            let clock = clock.clone();
            async move {
                let store = PostgresStore::connect(&url)
                    .await
                    .expect("connect")
                    .with_clock(Arc::new(clock));
                store.migrate().await.expect("migrate");
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
