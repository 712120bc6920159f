//! How the `postgres` sink writes a batch: by `COPY` or one statement, in one transaction with
//! its Kafka offsets when exactly once, splitting a batch the database refuses for its data down
//! to the rows it refuses.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use serde_json::Value;
use sluice_core::{BoxError, WriteError};
use sqlx::PgConnection;
use sqlx::postgres::PgPool;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Connection};

use crate::postgres::exactly_once::{self as pg, Partition};
use sluice_event::{Event, Field, FieldPaths, Position};

/// How a batch is written.
#[derive(Clone)]
pub(super) enum Method {
    /// Not decided until the table's column types are known.
    Unknown,
    /// `COPY ... FROM STDIN`, each column flagged if it is of type `json` or `jsonb`.
    Copy { statement: String, json: Vec<bool> },
    /// The `INSERT ... SELECT FROM jsonb_populate_recordset` statement.
    Insert,
}

#[derive(Clone)]
pub(super) struct Writer {
    pub(super) statement: String,
    /// The quoted table name.
    pub(super) table: String,
    pub(super) method: Method,
    /// The columns, in order.
    pub(super) columns: Vec<String>,
    /// The field of each column.
    pub(super) fields: FieldPaths,
    /// The fields of the key columns of an updating upsert, to keep the last of several rows
    /// with one key.
    pub(super) keys: Option<FieldPaths>,
    pub(super) max_events: usize,
    /// With `exactly_once`: the table, which keys its offsets.
    pub(super) exactly_once: Option<String>,
    /// Whether the table of offsets is known to exist.
    pub(super) offsets_table: bool,
    pub(super) pool: PgPool,
    /// Events left out because the table had them already (`sluice_sink_duplicates_total`).
    pub(super) duplicates: metrics::Counter,
}

/// Why a statement failed: the rows (split and try again) or everything else (the whole batch).
enum Failure {
    Rows(String),
    Batch(sqlx::Error),
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Failure {
        Failure::Batch(e)
    }
}

/// The values of an event's fields at `paths`, `null` where the event lacks one: its row.
fn row(paths: &FieldPaths, event: &Event) -> Vec<Value> {
    event
        .fields(paths)
        .into_iter()
        .map(|field| match field {
            Field::Missing => Value::Null,
            Field::Value(value) => value.clone(),
            Field::Text(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        })
        .collect()
}

/// An event's Kafka partition and offset, if it came from Kafka.
fn kafka_offset(event: &Event) -> Option<(&str, i32, i64)> {
    match &event.origin()?.position {
        Position::Offset {
            topic,
            partition,
            offset,
        } => Some((topic, *partition, *offset)),
        _ => None,
    }
}

/// Rows refused for their data: each row's place in the batch and the database's message.
type Refused = Vec<(usize, BoxError)>;

/// Appends `field` as a field of `COPY`'s text format: `\N` for null; for a JSON column, its
/// JSON text; else a string as it is, another value as its JSON text; escaped.
fn copy_field(out: &mut Vec<u8>, field: Field<'_>, json: bool) {
    let text = match field {
        Field::Missing | Field::Value(Value::Null) | Field::Text("null") => {
            out.extend_from_slice(b"\\N");
            return;
        }
        Field::Text(text) if !json && text.starts_with('"') => {
            match serde_json::from_str::<&str>(text) {
                Ok(plain) => Cow::Borrowed(plain),
                // Escapes to undo.
                Err(_) => Cow::Owned(serde_json::from_str::<String>(text).unwrap_or_default()),
            }
        }
        Field::Text(text) => Cow::Borrowed(text),
        Field::Value(Value::String(s)) if !json => Cow::Borrowed(s.as_str()),
        Field::Value(other) => Cow::Owned(other.to_string()),
    };
    for byte in text.bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            other => out.push(other),
        }
    }
}

impl Writer {
    /// Decides, from the table's column types, whether batches can be copied.
    async fn choose_method(&mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        let types: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT a.attname::text, t.typname::text, t.typcategory::text
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
             WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped",
        )
        .bind(&self.table)
        .fetch_all(conn)
        .await?;
        let mut json = Vec::with_capacity(self.columns.len());
        for column in &self.columns {
            match types.iter().find(|(name, _, _)| name == column) {
                Some((_, name, category)) if category != "A" && category != "C" => {
                    json.push(name == "json" || name == "jsonb");
                }
                // An array, a composite or a missing column: the statement converts (or
                // reports) it.
                _ => {
                    self.method = Method::Insert;
                    return Ok(());
                }
            }
        }
        let list: Vec<String> = self.columns.iter().map(|c| format!("\"{c}\"")).collect();
        self.method = Method::Copy {
            statement: format!("COPY {} ({}) FROM STDIN", self.table, list.join(", ")),
            json,
        };
        Ok(())
    }

    /// Writes the rows of `events` at `rows` with one statement or one `COPY`.
    async fn execute(
        &self,
        conn: &mut PgConnection,
        events: &[Event],
        rows: &[usize],
    ) -> Result<(), sqlx::Error> {
        if let Method::Copy { statement, json } = &self.method {
            let mut data = Vec::with_capacity(rows.len() * 128);
            for &at in rows {
                let fields = events[at].fields(&self.fields);
                for (column, (field, json)) in fields.into_iter().zip(json).enumerate() {
                    if column > 0 {
                        data.push(b'\t');
                    }
                    copy_field(&mut data, field, *json);
                }
                data.push(b'\n');
            }
            let mut copy = conn.copy_in_raw(statement).await?;
            copy.send(data).await?;
            copy.finish().await?;
        } else {
            let batch = Value::Array(
                rows.iter()
                    .map(|&at| {
                        let fields = self.columns.iter().zip(row(&self.fields, &events[at]));
                        Value::Object(fields.map(|(c, v)| (c.clone(), v)).collect())
                    })
                    .collect(),
            );
            sqlx::query(AssertSqlSafe(self.statement.as_str()))
                .bind(Json(batch))
                .execute(conn)
                .await?;
        }
        Ok(())
    }

    /// Writes the rows of `events` at `rows`, inside a savepoint when `conn` is in a
    /// transaction.
    async fn insert(
        &self,
        conn: &mut PgConnection,
        events: &[Event],
        rows: &[usize],
        savepoint: bool,
    ) -> Result<(), Failure> {
        let result = if savepoint {
            let mut part = conn.begin().await?;
            let result = self.execute(&mut part, events, rows).await;
            if result.is_ok() {
                part.commit().await?;
            } else {
                part.rollback().await?;
            }
            result
        } else {
            self.execute(conn, events, rows).await
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) if super::refused_for_data(&e) => {
                let message = match &e {
                    sqlx::Error::Database(db) => {
                        let message = db.message();
                        match db
                            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                            .and_then(|e| e.detail())
                        {
                            Some(detail) => format!("{message} ({detail})"),
                            None => message.to_owned(),
                        }
                    }
                    other => other.to_string(),
                };
                Err(Failure::Rows(message))
            }
            Err(e) => Err(Failure::Batch(e)),
        }
    }

    /// Writes the rows of `events` at `rows` in statements of `max_events`, splitting those
    /// refused for their data until the refused rows are found.
    async fn insert_all(
        &self,
        conn: &mut PgConnection,
        events: &[Event],
        rows: &[usize],
        savepoint: bool,
    ) -> Result<Refused, sqlx::Error> {
        let mut refused: Refused = Vec::new();
        let mut pending: Vec<&[usize]> = rows.chunks(self.max_events).rev().collect();
        while let Some(part) = pending.pop() {
            match self.insert(conn, events, part, savepoint).await {
                Ok(()) => {}
                Err(Failure::Batch(e)) => return Err(e),
                Err(Failure::Rows(message)) if part.len() == 1 => {
                    refused.push((part[0], message.into()));
                }
                Err(Failure::Rows(_)) => {
                    let (first, second) = part.split_at(part.len() / 2);
                    pending.push(second);
                    pending.push(first);
                }
            }
        }
        Ok(refused)
    }

    /// In one transaction: writes the rows of the events whose offsets are not done and
    /// records the offsets.
    ///
    /// Optimistically: the rows are written first and the partitions locked after, so that
    /// writers overlap, and only where some of the offsets turn out to be done already (read
    /// again after a crash, or written meanwhile by the process a partition moved to) is it
    /// done again the careful way, locking first and writing only the rest.
    async fn insert_once(
        &self,
        conn: &mut PgConnection,
        target: &str,
        events: &[Event],
        mut rows: Vec<usize>,
    ) -> Result<Refused, sqlx::Error> {
        let offsets: Vec<Option<(&str, i32, i64)>> = events.iter().map(kafka_offset).collect();
        let mut partitions: Vec<Partition> = offsets
            .iter()
            .flatten()
            .map(|&(t, p, _)| (t.to_owned(), p))
            .collect();
        partitions.sort_unstable();
        partitions.dedup();
        let mut tx = conn.begin().await?;
        let mut refused = self.insert_all(&mut tx, events, &rows, true).await?;
        let mut done = pg::lock(&mut tx, target, &partitions).await?;
        if rows.iter().any(|&at| done.contains(offsets[at])) {
            tx.rollback().await?;
            tx = conn.begin().await?;
            done = pg::lock(&mut tx, target, &partitions).await?;
            let before = rows.len();
            rows.retain(|&at| !done.contains(offsets[at]));
            self.duplicates.increment((before - rows.len()) as u64);
            refused = self.insert_all(&mut tx, events, &rows, true).await?;
        }
        let refused_at: HashSet<usize> = refused.iter().map(|(at, _)| *at).collect();
        let written = offsets
            .iter()
            .enumerate()
            .filter(|&(at, &offset)| !refused_at.contains(&at) && !done.contains(offset))
            .filter_map(|(_, &offset)| offset);
        pg::add(&mut tx, target, written).await?;
        tx.commit().await?;
        Ok(refused)
    }

    /// The events that make rows, by place: all of them, or only the last of several with
    /// one key when upserting.
    fn rows(&self, events: &[Event]) -> Vec<usize> {
        let Some(key_fields) = &self.keys else {
            return (0..events.len()).collect();
        };
        // One statement may not update a row twice: the last event of each key wins.
        let keys: Vec<String> = events
            .iter()
            .map(|e| serde_json::to_string(&row(key_fields, e)).unwrap_or_default())
            .collect();
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (at, key) in keys.iter().enumerate() {
            last.insert(key, at);
        }
        (0..events.len())
            .filter(|&at| last.get(keys[at].as_str()) == Some(&at))
            .collect()
    }
}

impl sluice_core::Sink<Event> for Writer {
    async fn write(&mut self, events: &[Event]) -> Result<(), WriteError> {
        let rows = self.rows(events);
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| WriteError::Batch(e.into()))?;
        if matches!(self.method, Method::Unknown)
            && let Err(e) = self.choose_method(&mut conn).await
        {
            return Err(WriteError::Batch(e.into()));
        }
        let written = match &self.exactly_once {
            Some(target) => {
                let ready = self.offsets_table || pg::create_offsets_table(&mut conn).await.is_ok();
                self.offsets_table = ready;
                self.insert_once(&mut conn, target, events, rows).await
            }
            None => self.insert_all(&mut conn, events, &rows, false).await,
        };
        match written {
            Ok(refused) if refused.is_empty() => Ok(()),
            Ok(refused) => Err(WriteError::Items(refused)),
            Err(e) => {
                // A connection in an unknown state is not given back to the pool.
                if !matches!(e, sqlx::Error::Database(_)) {
                    let _ = conn.detach().close().await;
                }
                Err(WriteError::Batch(e.into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_fields_are_escaped_and_json_columns_get_json() {
        let cases = [
            (serde_json::json!("a\tb\\c\nd"), false),
            (serde_json::json!(null), false),
            (serde_json::json!(true), false),
            (serde_json::json!("x"), true),
            (serde_json::json!({"k": "v\n"}), false),
        ];
        let expected = "a\\tb\\\\c\\nd|\\N|true|\"x\"|{\"k\":\"v\\\\n\"}|";
        // From values, and from their JSON text: the same fields.
        let mut out = Vec::new();
        for (value, json) in &cases {
            copy_field(&mut out, Field::Value(value), *json);
            out.push(b'|');
        }
        assert_eq!(String::from_utf8_lossy(&out), expected);
        let mut out = Vec::new();
        for (value, json) in &cases {
            copy_field(&mut out, Field::Text(&value.to_string()), *json);
            out.push(b'|');
        }
        assert_eq!(String::from_utf8_lossy(&out), expected);
        out.clear();
        copy_field(&mut out, Field::Missing, false);
        assert_eq!(out, b"\\N");
    }

    #[test]
    fn rows_take_nested_fields_and_nulls() {
        let path = |p: &str| p.split('.').map(str::to_owned).collect::<Vec<_>>();
        let paths = FieldPaths::new(vec![Vec::new(), path("address.city"), path("id")]);
        let event = Event::new(serde_json::json!({"id": 7, "address": {"zip": "75001"}}));
        // The columns in their (sorted) order: all, city, id.
        assert_eq!(
            row(&paths, &event),
            vec![
                serde_json::json!({"id": 7, "address": {"zip": "75001"}}),
                Value::Null,
                serde_json::json!(7)
            ]
        );
    }
}
