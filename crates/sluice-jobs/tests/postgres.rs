//! The conformance and worker suites on the PostgreSQL store, against the real server named
//! by `SLUICE_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`;
//! `scripts/services.sh` starts one where none runs). Each test works in a schema of its own,
//! dropped and made anew.

#![cfg(feature = "postgres")]

mod conformance;
mod workers;

use std::sync::Arc;

use futures::future::BoxFuture;
use sluice_jobs::store::PostgresStore;
use sluice_jobs::{Clock, Store};

fn server() -> String {
    std::env::var("SLUICE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn open(case: String, clock: Arc<dyn Clock>, fresh: bool) -> BoxFuture<'static, Arc<dyn Store>> {
    Box::pin(async move {
        let schema = format!("sluice_test_{case}");
        if fresh {
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
        }
        let store = PostgresStore::connect(&format!("{}?schema={schema}", server()))
            .await
            .expect("connect")
            .with_clock(clock);
        store.migrate().await.expect("migrate");
        let store: Arc<dyn Store> = Arc::new(store);
        store
    })
}

conformance!(open);
workers!(open);
