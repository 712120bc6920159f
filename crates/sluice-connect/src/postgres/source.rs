//! The `postgres` source: reads the rows of a table once, as they are when it starts, and ends.
//!
//! The rows are read through a cursor in one `REPEATABLE READ` transaction, so the read is of
//! one snapshot: rows written meanwhile (by this very pipeline, say) are not read. Each row
//! becomes an event: every column as the field of its name, or as `columns` maps them (the
//! same map as the `postgres` sink's, read the other way: a column of `.` holds the whole
//! event).
//!
//! With `delete_finished`, each row is deleted once its event is final (delivered, filtered or
//! dead-lettered), in batches: a table used as a queue of work to do once, such as dead letters
//! to replay. A run that is stopped or killed leaves the rows whose events were not final, and
//! the next run reads them. The row is found again by its `ctid`, which cannot change meanwhile:
//! the open transaction keeps the table from being rewritten (`VACUUM FULL`, `CLUSTER`).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value};

use sluice_core::{AckToken, Acked, BoxError, Outcome};
use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, Connection};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{field_path, identifier, table_name};
use crate::component::connection::{SourceConnection, reconnecting};
use crate::component::source::{Acknowledger, from_reader};
use crate::component::{BuiltSource, OptionError, Source, SourceContext};
use sluice_event::codec::{Codec, Record};
use sluice_event::{Origin, Position};

/// Reads the rows of a PostgreSQL table once.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSource {
    /// The database: `postgres://USER:PASSWORD@HOST:PORT/DB` (use `${VAR}` for the password),
    /// or `url_file`.
    #[serde(default)]
    pub url: Option<String>,
    /// A file holding the database address (a mounted secret), read when the source starts.
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// The table, `name` or `schema.name`.
    pub table: String,
    /// Each column and the event field it goes to: `id`, `customer.id` (nested), or `.` (a
    /// `jsonb` column holding the whole event), as a `postgres` sink writes them. Defaults to
    /// every column, each as the field of its name.
    #[serde(default)]
    pub columns: Option<BTreeMap<String, String>>,
    /// Delete each row once its event is final. Defaults to false.
    #[serde(default)]
    pub delete_finished: bool,
    /// Rows fetched at once. Defaults to 500.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
}

fn default_batch_size() -> usize {
    500
}

impl Source for PostgresSource {
    fn reconnects(&self) -> bool {
        true
    }

    /// Checks the options that need no database: names, paths, the address.
    fn check(&self) -> Vec<OptionError> {
        let mut problems = Vec::new();
        if let Err(e) = table_name(&self.table) {
            problems.push(OptionError::new("table", e.to_string()));
        }
        for (column, path) in self.columns.iter().flatten() {
            if let Err(e) = identifier(column).and(field_path(path).map(drop)) {
                problems.push(OptionError::new(format!("columns.{column}"), e.to_string()));
            }
        }
        if let Err(e) = super::check_address(self.url.as_deref(), self.url_file.as_deref()) {
            problems.push(OptionError::new("url", e.to_string()));
        }
        problems
    }

    /// Starts reading when the pipeline runs.
    fn build(&self, ctx: &SourceContext) -> Result<BuiltSource, BoxError> {
        if let Some(problem) = self.check().into_iter().next() {
            return Err(problem.message.into());
        }
        let columns = match &self.columns {
            Some(columns) => Some(
                columns
                    .iter()
                    .map(|(column, path)| Ok((column.clone(), field_path(path)?)))
                    .collect::<Result<Vec<_>, BoxError>>()?,
            ),
            None => None,
        };
        let reader = Reader {
            health: ctx.connection(),
            pool: super::pool(self.url.as_deref(), self.url_file.as_ref(), 2)?,
            table: table_name(&self.table)?,
            columns,
            batch_size: self.batch_size.max(1),
            source: Arc::from(ctx.name.as_str()),
            sent: Mutex::default(),
        };
        let delete = self.delete_finished;
        Ok(from_reader(ctx, Codec::Json, move |tx, cancel| {
            reader.run(tx, cancel, delete)
        }))
    }
}

struct Reader {
    health: SourceConnection,
    pool: PgPool,
    /// The quoted table name.
    table: String,
    /// Each column and the path of its field; `None` for every column as the field of its name.
    columns: Option<Vec<(String, Vec<String>)>>,
    batch_size: usize,
    source: Arc<str>,
    /// The rows sent so far, by `ctid`: a read that starts again after losing its connection
    /// skips them.
    sent: Mutex<HashSet<String>>,
}

impl Reader {
    async fn run(
        self,
        tx: mpsc::Sender<Vec<Acked<Record>>>,
        cancel: CancellationToken,
        delete: bool,
    ) {
        let deleter = delete.then(|| deleter(self.pool.clone(), &self.table));
        let finished = deleter.as_ref().map(Acknowledger::sender);
        reconnecting(&self.health, &cancel, || {
            self.read(&tx, &cancel, finished.as_ref())
        })
        .await;
        // The source ends once the reader is gone; the last rows are deleted as the pipeline
        // drains, and the run ends after that.
        drop(tx);
        drop(finished);
        if let Some(deleter) = deleter {
            deleter.finished().await;
        }
    }

    /// Reads the table's rows through a cursor, up to the end or shutdown (`Ok`) or a
    /// database error.
    async fn read(
        &self,
        tx: &mpsc::Sender<Vec<Acked<Record>>>,
        cancel: &CancellationToken,
        finished: Option<&mpsc::UnboundedSender<String>>,
    ) -> Result<(), BoxError> {
        let mut conn = self.pool.acquire().await?;
        self.health.up();
        let mut snapshot = conn.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *snapshot)
            .await?;
        let declare = format!(
            "DECLARE sluice_rows NO SCROLL CURSOR FOR SELECT ctid::text, to_jsonb(t)::text FROM {} t",
            self.table
        );
        sqlx::query(AssertSqlSafe(declare))
            .execute(&mut *snapshot)
            .await?;
        let fetch = format!("FETCH {} FROM sluice_rows", self.batch_size);
        let mut position = 0u64;
        loop {
            let rows: Vec<(String, String)> = tokio::select! {
                () = cancel.cancelled() => return Ok(()),
                rows = sqlx::query_as(AssertSqlSafe(fetch.as_str())).fetch_all(&mut *snapshot) => rows?,
            };
            if rows.is_empty() {
                return Ok(());
            }
            let batch = self.records(rows, &mut position, finished)?;
            if !batch.is_empty() && tx.send(batch).await.is_err() {
                return Ok(());
            }
        }
    }

    /// The records of `rows` not sent before, each acknowledged to `finished` (by its `ctid`)
    /// once final; `position` counts the rows read.
    fn records(
        &self,
        rows: Vec<(String, String)>,
        position: &mut u64,
        finished: Option<&mpsc::UnboundedSender<String>>,
    ) -> Result<Vec<Acked<Record>>, BoxError> {
        let mut sent = self
            .sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut batch = Vec::with_capacity(rows.len());
        for (ctid, row) in rows {
            *position += 1;
            if !sent.insert(ctid.clone()) {
                continue;
            }
            let bytes = match &self.columns {
                None => Bytes::from(row.into_bytes()),
                Some(columns) => Bytes::from(event_of(&serde_json::from_str(&row)?, columns)),
            };
            let finished = finished.cloned();
            let token = AckToken::new(move |outcome: Outcome| {
                if let Some(finished) = finished
                    && outcome.is_final()
                {
                    let _ = finished.send(ctid);
                }
            });
            let origin = Arc::new(Origin {
                source: self.source.clone(),
                trace: None,
                position: Position::Sequence(*position - 1),
            });
            let record = Record {
                bytes,
                origin,
                header: None,
                refused: None,
            };
            batch.push(Acked::new(record, token));
        }
        Ok(batch)
    }
}

/// The JSON of the event a row makes: each column's value at its field's path (`null`s left
/// out, as the sink writes `null` for a missing field); a column of the whole event gives its
/// fields.
fn event_of(row: &Map<String, Value>, columns: &[(String, Vec<String>)]) -> String {
    let mut event = Map::new();
    for (column, path) in columns {
        if let Some(value) = row.get(column).filter(|v| !v.is_null()) {
            put(&mut event, path, value.clone());
        }
    }
    Value::Object(event).to_string()
}

/// Puts `value` at `path` in `at`, making the objects on the way; at the empty path, an
/// object's fields go into `at` itself.
fn put(at: &mut Map<String, Value>, path: &[String], value: Value) {
    match path {
        [] => {
            if let Value::Object(fields) = value {
                at.extend(fields);
            }
        }
        [last] => {
            at.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = at
                .entry(first.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(inner) = entry {
                put(inner, rest, value);
            }
        }
    }
}

/// Deletes the rows (by `ctid`) of `table` whose events are final; a row not deleted is read
/// again by the next run.
fn deleter(pool: PgPool, table: &str) -> Acknowledger {
    let delete = Arc::new(format!(
        "DELETE FROM {table} WHERE ctid = ANY($1::text[]::tid[])"
    ));
    Acknowledger::spawn(move |ctids| {
        let (pool, delete) = (pool.clone(), Arc::clone(&delete));
        async move {
            sqlx::query(AssertSqlSafe(delete.as_str()))
                .bind(ctids)
                .execute(&pool)
                .await?;
            Ok(())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_row_makes_the_event_the_sink_wrote() {
        let columns = vec![
            ("stage".to_owned(), vec!["stage".to_owned()]),
            (
                "total".to_owned(),
                vec!["order".to_owned(), "total".to_owned()],
            ),
            ("rest".to_owned(), Vec::new()),
            ("gone".to_owned(), vec!["gone".to_owned()]),
        ];
        let row = json!({"stage": "check", "total": 5, "rest": {"id": 1}, "gone": null});
        let row = row.as_object().expect("an object");
        let event: Value = serde_json::from_str(&event_of(row, &columns)).expect("JSON");
        assert_eq!(
            event,
            json!({"stage": "check", "order": {"total": 5}, "id": 1})
        );
    }
}
