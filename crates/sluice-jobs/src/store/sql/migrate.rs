//! Schema migrations of the SQL stores: numbered SQL files per database, applied in order, each
//! once, recorded in `sluice_schema`; one runner for both databases.

use sqlx::{Database, Decode, Encode, Executor, FromRow, IntoArguments, Type};

use crate::store::error::StoreError;

/// One migration: its number and its SQL (statements separated by `;` at line ends).
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) sql: &'static str,
}

/// SQLite's migrations.
#[cfg(feature = "sqlite")]
pub(crate) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("../../../migrations/sqlite/0001_jobs.sql"),
    },
    Migration {
        version: 2,
        sql: include_str!("../../../migrations/sqlite/0002_traceparent.sql"),
    },
    Migration {
        version: 3,
        sql: include_str!("../../../migrations/sqlite/0003_registry.sql"),
    },
    Migration {
        version: 4,
        sql: include_str!("../../../migrations/sqlite/0004_results.sql"),
    },
    Migration {
        version: 5,
        sql: include_str!("../../../migrations/sqlite/0005_workflows.sql"),
    },
    Migration {
        version: 6,
        sql: include_str!("../../../migrations/sqlite/0006_batches.sql"),
    },
    Migration {
        version: 7,
        sql: include_str!("../../../migrations/sqlite/0007_unique_for.sql"),
    },
    Migration {
        version: 8,
        sql: include_str!("../../../migrations/sqlite/0008_rates.sql"),
    },
    Migration {
        version: 9,
        sql: include_str!("../../../migrations/sqlite/0009_batches_done.sql"),
    },
    Migration {
        version: 10,
        sql: include_str!("../../../migrations/sqlite/0010_rate_scopes.sql"),
    },
];

/// PostgreSQL's migrations.
#[cfg(feature = "postgres")]
pub(crate) const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("../../../migrations/postgres/0001_jobs.sql"),
    },
    Migration {
        version: 2,
        sql: include_str!("../../../migrations/postgres/0002_traceparent.sql"),
    },
    Migration {
        version: 3,
        sql: include_str!("../../../migrations/postgres/0003_registry.sql"),
    },
    Migration {
        version: 4,
        sql: include_str!("../../../migrations/postgres/0004_leases.sql"),
    },
    Migration {
        version: 5,
        sql: include_str!("../../../migrations/postgres/0005_results.sql"),
    },
    Migration {
        version: 6,
        sql: include_str!("../../../migrations/postgres/0006_workflows.sql"),
    },
    Migration {
        version: 7,
        sql: include_str!("../../../migrations/postgres/0007_batches.sql"),
    },
    Migration {
        version: 8,
        sql: include_str!("../../../migrations/postgres/0008_unique_for.sql"),
    },
    Migration {
        version: 9,
        sql: include_str!("../../../migrations/postgres/0009_rates.sql"),
    },
    Migration {
        version: 10,
        sql: include_str!("../../../migrations/postgres/0010_batches_done.sql"),
    },
    Migration {
        version: 11,
        sql: include_str!("../../../migrations/postgres/0011_rate_scopes.sql"),
    },
];

/// Applies the `migrations` not yet recorded, on `conn`, inside the transaction (holding
/// whatever lock keeps other processes out) that the store opened.
pub(crate) async fn apply<DB>(
    conn: &mut DB::Connection,
    migrations: &[Migration],
) -> Result<(), StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
{
    sqlx::query::<DB>("CREATE TABLE IF NOT EXISTS sluice_schema (version BIGINT PRIMARY KEY)")
        .execute(&mut *conn)
        .await
        .map_err(super::error)?;
    let current: i64 = sqlx::query_scalar::<DB, i64>(
        "SELECT CAST(coalesce(max(version), 0) AS BIGINT) FROM sluice_schema",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(super::error)?;
    for migration in migrations.iter().filter(|m| m.version > current) {
        for stmt in statements(migration.sql) {
            sqlx::query::<DB>(sqlx::AssertSqlSafe(stmt))
                .execute(&mut *conn)
                .await
                .map_err(super::error)?;
        }
        sqlx::query::<DB>("INSERT INTO sluice_schema (version) VALUES ($1)")
            .bind(migration.version)
            .execute(&mut *conn)
            .await
            .map_err(super::error)?;
    }
    Ok(())
}

/// The statements of a migration, without comments. A `;` at a line's end inside a
/// dollar-quoted body (`$$ … $$`, a function's) does not end the statement.
fn statements(sql: &str) -> impl Iterator<Item = String> + '_ {
    let mut pieces = sql.split(";\n");
    std::iter::from_fn(move || {
        let mut stmt = pieces.next()?.to_owned();
        while stmt.matches("$$").count() % 2 == 1 {
            let Some(more) = pieces.next() else { break };
            stmt.push_str(";\n");
            stmt.push_str(more);
        }
        Some(stmt)
    })
    .map(|stmt| {
        stmt.lines()
            .filter(|line| !line.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_owned()
    })
    .filter(|stmt| !stmt.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_split_into_statements_without_comments() {
        let stmts: Vec<String> = statements(
            "-- a table\nCREATE TABLE t (a INT);\n\n-- an index\nCREATE INDEX i ON t (a);\n",
        )
        .collect();
        assert_eq!(
            stmts,
            vec!["CREATE TABLE t (a INT)", "CREATE INDEX i ON t (a)"]
        );
    }

    #[test]
    fn function_bodies_stay_whole() {
        let stmts: Vec<String> = statements(
            "CREATE FUNCTION f() RETURNS INT LANGUAGE plpgsql AS $$\nBEGIN\n    RETURN 1;\nEND\n$$;\nSELECT 1;\n",
        )
        .collect();
        assert_eq!(stmts.len(), 2, "{stmts:?}");
        assert!(stmts[0].contains("RETURN 1;\nEND"), "{stmts:?}");
    }
}
