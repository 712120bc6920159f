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

mod tidy {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use serde_json::json;
    use sluice_jobs::store::{ClaimParams, Completion, Outcome};
    use sluice_jobs::{NewJob, SystemClock};

    const SCHEMA: &str = "sluice_test_tidy";

    async fn admin() -> sqlx::PgPool {
        sqlx::PgPool::connect(&format!(
            "{}?options=-csearch_path%3D{SCHEMA}",
            super::server()
        ))
        .await
        .expect("PostgreSQL is reachable")
    }

    async fn due(admin: &sqlx::PgPool) -> bool {
        sqlx::query_scalar(include_str!("../src/store/postgres/queries/vacuum_due.sql"))
            .fetch_one(admin)
            .await
            .expect("vacuum_due.sql")
    }

    #[tokio::test]
    async fn the_store_vacuums_its_jobs_table_once_enough_rows_died_one_worker_at_a_time() {
        let store = super::open("tidy".to_owned(), Arc::new(SystemClock), true).await;
        assert!(
            !store.tidy().await.expect("tidy"),
            "nothing to do on a new table"
        );

        // 25,000 jobs claimed and ended leave 50,000 dead rows.
        let batch: Vec<NewJob> = (0..1000)
            .map(|i| NewJob::new("noop", json!({"i": i})))
            .collect();
        for _ in 0..25 {
            store.enqueue(batch.clone()).await.expect("enqueue");
        }
        loop {
            let claimed = store
                .claim(ClaimParams {
                    queue: "default".to_owned(),
                    limit: 1000,
                    worker: "w".to_owned(),
                    lease: Duration::from_secs(60),
                    partition_limit: None,
                    rate: None,
                })
                .await
                .expect("claim");
            if claimed.is_empty() {
                break;
            }
            let ended = claimed
                .into_iter()
                .map(|job| Completion {
                    id: job.id,
                    worker: "w".to_owned(),
                    outcome: Outcome::Succeeded,
                    discard: false,
                    result: None,
                })
                .collect();
            store.complete(ended).await.expect("complete");
        }

        // Statistics reach the server within a second or so.
        let admin = admin().await;
        let started = Instant::now();
        while !due(&admin).await {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the dead rows were never counted"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        // While another worker holds the lock, this one leaves the table alone.
        let mut other = admin.acquire().await.expect("connection");
        sqlx::query(include_str!(
            "../src/store/postgres/queries/vacuum_lock.sql"
        ))
        .execute(&mut *other)
        .await
        .expect("lock");
        assert!(
            !store.tidy().await.expect("tidy"),
            "another worker is vacuuming"
        );
        sqlx::query(include_str!(
            "../src/store/postgres/queries/vacuum_unlock.sql"
        ))
        .execute(&mut *other)
        .await
        .expect("unlock");

        assert!(store.tidy().await.expect("tidy"), "the table is vacuumed");
        let vacuums: i64 = sqlx::query_scalar(
            "SELECT vacuum_count FROM pg_stat_user_tables WHERE relid = 'sluice_jobs'::regclass",
        )
        .fetch_one(&admin)
        .await
        .expect("vacuum count");
        assert_eq!(vacuums, 1);
        assert!(!due(&admin).await, "no dead rows are left to vacuum");
    }
}
