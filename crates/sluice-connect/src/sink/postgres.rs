//! The `postgres` sink: writes events as rows of a table, in batches, inserting or upserting.
//!
//! Each batch is one statement, `INSERT INTO table (columns) SELECT columns FROM
//! jsonb_populate_recordset(NULL::table, $1)`, so PostgreSQL itself converts each field to its
//! column's type. When the database refuses a batch for its data (a value of the wrong type, a
//! constraint violated: SQLSTATE classes 22 and 23), the sink splits the batch in halves and
//! tries each on its own, down to single rows: the rows it accepts commit, and each row it
//! refuses goes to the error output with the database's message. Any other failure (the
//! connection, a missing table) fails the whole batch, which the sink's retry policy tries
//! again; rows of a batch that was half written when the connection broke may then be written
//! twice, which an upsert (`conflict`) makes harmless.
//!
//! With `conflict`, a row whose key exists updates it (`on_conflict: update`, the default) or is
//! skipped (`on_conflict: nothing`); of several events with the same key in one batch, the last
//! wins.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Map, Value};
use sluice_core::{BoxError, Flow, Sink, WriteError};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Connection};

use super::{BuiltSink, SinkContext, attach};
use crate::event::Event;

/// What an upsert does with a row whose key exists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnConflict {
    /// Update the row's other columns. The default.
    #[default]
    Update,
    /// Keep the row as it is.
    Nothing,
}

/// Writes events as rows of a PostgreSQL table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSink {
    /// The database: `postgres://USER:PASSWORD@HOST:PORT/DB` (use `${VAR}` for the password),
    /// or `url_file`.
    #[serde(default)]
    pub url: Option<String>,
    /// A file holding the database address (a mounted secret), read when the sink starts.
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// The table, `name` or `schema.name`.
    pub table: String,
    /// Each column and the event field it takes: `id`, `customer.id` (nested), or `.` (the
    /// whole event, for a `jsonb` column).
    pub columns: BTreeMap<String, String>,
    /// The columns of the table's unique key: with them, a row whose key exists is updated or
    /// skipped (`on_conflict`) instead of refused.
    #[serde(default)]
    pub conflict: Vec<String>,
    /// With `conflict`: `update` (the default) or `nothing`.
    #[serde(default)]
    pub on_conflict: OnConflict,
    /// Most rows in one statement. Defaults to 1000.
    #[serde(default = "default_max_events")]
    pub max_events: usize,
}

fn default_max_events() -> usize {
    1000
}

impl PostgresSink {
    /// Checks the options that need no database: names, paths, the address.
    pub fn check(&self) -> Result<(), BoxError> {
        table_name(&self.table)?;
        if self.columns.is_empty() {
            return Err(
                "`columns` names no column; map each column to an event field, \
                        such as `columns: { id: id, total: order.total }`"
                    .into(),
            );
        }
        for (column, path) in &self.columns {
            identifier(column)?;
            field_path(path)?;
        }
        for key in &self.conflict {
            if !self.columns.contains_key(key) {
                return Err(format!(
                    "conflict column `{key}` is not among `columns`; add it there, mapped to \
                     the event field that holds the key"
                )
                .into());
            }
        }
        match (&self.url, &self.url_file) {
            (Some(_), Some(_)) => Err("give `url` or `url_file`, not both".into()),
            (None, None) => Err("no database: set `url` (such as \
                                 `postgres://app:${PGPASSWORD}@db:5432/app`) or `url_file`"
                .into()),
            _ => Ok(()),
        }
    }

    /// The statement that writes a batch, its `$1` a JSON array of row objects.
    fn statement(&self) -> Result<String, BoxError> {
        let table = table_name(&self.table)?;
        let columns: Vec<String> = self
            .columns
            .keys()
            .map(|c| identifier(c))
            .collect::<Result<_, _>>()?;
        let list = columns.join(", ");
        let mut sql = format!(
            "INSERT INTO {table} ({list}) SELECT {list} FROM jsonb_populate_recordset(NULL::{table}, $1)"
        );
        if !self.conflict.is_empty() {
            let keys: Vec<String> = self
                .conflict
                .iter()
                .map(|c| identifier(c))
                .collect::<Result<_, _>>()?;
            let updates: Vec<String> = columns
                .iter()
                .filter(|c| !keys.contains(c))
                .map(|c| format!("{c} = EXCLUDED.{c}"))
                .collect();
            sql.push_str(&format!(" ON CONFLICT ({})", keys.join(", ")));
            if self.on_conflict == OnConflict::Nothing || updates.is_empty() {
                sql.push_str(" DO NOTHING");
            } else {
                sql.push_str(&format!(" DO UPDATE SET {}", updates.join(", ")));
            }
        }
        Ok(sql)
    }

    fn options(&self) -> Result<PgConnectOptions, BoxError> {
        let url = match (&self.url, &self.url_file) {
            (Some(url), _) => url.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read `url_file` {}: {e}", path.display()))?
                .trim()
                .to_owned(),
            (None, None) => return Err("no database address".into()),
        };
        // The address is not repeated in the error: it may hold a password.
        url.parse()
            .map_err(|e: sqlx::Error| format!("the database address is not valid: {e}").into())
    }

    /// Attaches the sink. It connects on its first batch, and again whenever the connection is
    /// lost.
    pub fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> Result<BuiltSink, BoxError> {
        self.check()?;
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(self.options()?);
        let writer = Writer {
            statement: self.statement()?,
            columns: self
                .columns
                .iter()
                .map(|(c, p)| Ok((c.clone(), field_path(p)?)))
                .collect::<Result<_, BoxError>>()?,
            keys: if self.on_conflict == OnConflict::Update {
                self.conflict.clone()
            } else {
                Vec::new()
            },
            max_events: self.max_events.max(1),
            pool,
        };
        Ok(attach(input, ctx, writer))
    }
}

/// A quoted identifier; names are limited to letters, digits and `_` so that no quoting can be
/// escaped.
fn identifier(name: &str) -> Result<String, BoxError> {
    let plain = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        Ok(format!("\"{name}\""))
    } else {
        Err(format!(
            "`{name}` is not a plain name: use letters, digits and `_`, not starting with a digit"
        )
        .into())
    }
}

/// `name` or `schema.name`, quoted.
fn table_name(table: &str) -> Result<String, BoxError> {
    let parts: Vec<String> = table.split('.').map(identifier).collect::<Result<_, _>>()?;
    if parts.len() > 2 {
        return Err(format!("table `{table}`: write `name` or `schema.name`").into());
    }
    Ok(parts.join("."))
}

/// The keys of a field path: `.` is the whole event, `a.b` the field `b` of `a`.
fn field_path(path: &str) -> Result<Vec<String>, BoxError> {
    let path = path.trim();
    if path == "." {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = path
        .trim_start_matches('.')
        .split('.')
        .map(str::to_owned)
        .collect();
    if keys.iter().any(String::is_empty) {
        return Err(format!(
            "field `{path}`: write a field name (`total`), a nested one (`order.total`) or `.`"
        )
        .into());
    }
    Ok(keys)
}

struct Writer {
    statement: String,
    /// Each column and the path of its field.
    columns: Vec<(String, Vec<String>)>,
    /// The key columns of an updating upsert, to keep the last of several rows with one key.
    keys: Vec<String>,
    max_events: usize,
    pool: PgPool,
}

/// Why a statement failed: the rows (split and try again) or everything else (the whole batch).
enum Failure {
    Rows(String),
    Batch(BoxError),
}

/// The row an event makes: each column's field, `null` where the event lacks it.
fn row(columns: &[(String, Vec<String>)], event: &Event) -> Value {
    let value = event.value();
    let mut row = Map::with_capacity(columns.len());
    for (column, path) in columns {
        let mut field = value;
        for key in path {
            field = field.get(key).unwrap_or(&Value::Null);
        }
        row.insert(column.clone(), field.clone());
    }
    Value::Object(row)
}

impl Writer {
    async fn insert(&self, rows: &[(usize, Value)]) -> Result<(), Failure> {
        let batch = Value::Array(rows.iter().map(|(_, row)| row.clone()).collect());
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| Failure::Batch(e.into()))?;
        let result = sqlx::query(AssertSqlSafe(self.statement.as_str()))
            .bind(Json(batch))
            .execute(&mut *conn)
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(db))
                if db
                    .code()
                    .is_some_and(|c| c.starts_with("22") || c.starts_with("23")) =>
            {
                let mut message = db.message().to_owned();
                if let Some(detail) = db
                    .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .and_then(|e| e.detail())
                {
                    message = format!("{message} ({detail})");
                }
                Err(Failure::Rows(message))
            }
            Err(e) => {
                // A connection in an unknown state is not given back to the pool.
                if !matches!(e, sqlx::Error::Database(_)) {
                    let _ = conn.detach().close().await;
                }
                Err(Failure::Batch(e.into()))
            }
        }
    }
}

impl Sink<Event> for Writer {
    async fn write(&mut self, events: &[Event]) -> Result<(), WriteError> {
        let mut rows: Vec<(usize, Value)> = events
            .iter()
            .enumerate()
            .map(|(i, e)| (i, row(&self.columns, e)))
            .collect();
        if !self.keys.is_empty() {
            // One statement may not update a row twice: the last event of each key wins.
            let mut last: HashMap<String, usize> = HashMap::new();
            for (at, (_, row)) in rows.iter().enumerate() {
                let key: Vec<&Value> = self.keys.iter().map(|k| &row[k]).collect();
                last.insert(serde_json::to_string(&key).unwrap_or_default(), at);
            }
            let mut at = 0;
            rows.retain(|(_, row)| {
                let key: Vec<&Value> = self.keys.iter().map(|k| &row[k]).collect();
                let keep = last.get(&serde_json::to_string(&key).unwrap_or_default()) == Some(&at);
                at += 1;
                keep
            });
        }
        let mut rejected: Vec<(usize, BoxError)> = Vec::new();
        let mut pending: Vec<&[(usize, Value)]> = rows.chunks(self.max_events).rev().collect();
        while let Some(part) = pending.pop() {
            match self.insert(part).await {
                Ok(()) => {}
                Err(Failure::Batch(e)) => return Err(WriteError::Batch(e)),
                Err(Failure::Rows(message)) if part.len() == 1 => {
                    rejected.push((part[0].0, message.into()));
                }
                Err(Failure::Rows(_)) => {
                    let (first, second) = part.split_at(part.len() / 2);
                    pending.push(second);
                    pending.push(first);
                }
            }
        }
        if rejected.is_empty() {
            Ok(())
        } else {
            Err(WriteError::Items(rejected))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(options: &str) -> PostgresSink {
        serde_json::from_str(options).expect("valid options")
    }

    #[test]
    fn the_statement_upserts_on_the_key() {
        let s = sink(
            r#"{"url": "postgres://x@y/z", "table": "shop.orders",
                "columns": {"id": "id", "total": "order.total", "raw": "."}, "conflict": ["id"]}"#,
        );
        s.check().expect("valid");
        assert_eq!(
            s.statement().expect("statement"),
            "INSERT INTO \"shop\".\"orders\" (\"id\", \"raw\", \"total\") SELECT \"id\", \"raw\", \"total\" \
             FROM jsonb_populate_recordset(NULL::\"shop\".\"orders\", $1) ON CONFLICT (\"id\") \
             DO UPDATE SET \"raw\" = EXCLUDED.\"raw\", \"total\" = EXCLUDED.\"total\""
        );
    }

    #[test]
    fn names_that_could_escape_quoting_are_refused() {
        for table in ["orders; DROP TABLE x", "a.b.c", "\"q\"", ""] {
            assert!(table_name(table).is_err(), "{table}");
        }
        let s = sink(
            r#"{"url": "postgres://x@y/z", "table": "t", "columns": {"id": "id"}, "conflict": ["key"]}"#,
        );
        let err = s
            .check()
            .expect_err("conflict column not mapped")
            .to_string();
        assert!(err.contains("`key` is not among `columns`"), "{err}");
    }

    #[test]
    fn rows_take_nested_fields_and_nulls() {
        let s = sink(
            r#"{"url": "postgres://x@y/z", "table": "t", "columns": {"id": "id", "city": "address.city", "all": "."}}"#,
        );
        let columns: Vec<(String, Vec<String>)> = s
            .columns
            .iter()
            .map(|(c, p)| (c.clone(), field_path(p).expect("path")))
            .collect();
        let event = Event::new(serde_json::json!({"id": 7, "address": {"zip": "75001"}}));
        assert_eq!(
            row(&columns, &event),
            serde_json::json!({"id": 7, "city": null, "all": {"id": 7, "address": {"zip": "75001"}}})
        );
    }
}
