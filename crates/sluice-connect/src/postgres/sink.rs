//! The `postgres` sink: writes events as rows of a table, in batches, inserting or upserting.
//!
//! A batch of plain inserts into columns of scalar or JSON types is one `COPY table (columns)
//! FROM STDIN`; otherwise (an upsert, an array or composite column) each batch is one
//! statement, `INSERT INTO table (columns) SELECT columns FROM
//! jsonb_populate_recordset(NULL::table, $1)`. Either way PostgreSQL itself converts each
//! field to its column's type, the same way: a string as its text, a number or a boolean as
//! its JSON text, an object or an array as JSON. `COPY` takes the fields of an event still in
//! the text it was read as straight from that text, without parsing the rest of it.
//!
//! With `writers` above 1, several batches are written at once, each on its own connection.
//!
//! When the database refuses a batch for its data (a value of the wrong type, a
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
//!
//! With `exactly_once`, each batch is one transaction that also records the Kafka offsets of its
//! events in `sluice_kafka_offsets` (see [`crate::postgres`]) and leaves out events whose
//! offsets are recorded already: a message read again after a crash, or written meanwhile by
//! the process its partition moved to, makes no second row.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;
use sluice_core::{BoxError, Flow, WriteError};
use sqlx::PgConnection;
use sqlx::postgres::PgPool;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Connection};

use crate::component::sink::attach_writers;
use crate::component::{BuiltSink, OptionError, Sink, SinkContext};
use crate::postgres::exactly_once::{self as pg, Partition};
use sluice_event::{Event, Field, FieldPaths, Position};

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
    /// Most rows in one statement. Defaults to 10,000, more than the sink gathers into one
    /// write, so that each write is one statement and pays its round trips once.
    #[serde(default = "default_max_events")]
    pub max_events: usize,
    /// Writes each batch in one transaction with the Kafka offsets of its events, and leaves
    /// out events whose offsets are there already: with a `kafka` source given the same
    /// `exactly_once` table, each message makes its row once, whatever crashes. Defaults to
    /// `false`.
    #[serde(default)]
    pub exactly_once: bool,
    /// Batches written at once, each on its own connection: while the database takes one, the
    /// next is prepared. Batches may then commit out of order, so with `conflict` an older
    /// event's row could replace a newer one's; the default is 2 without `conflict` and 1 with
    /// it.
    #[serde(default)]
    pub writers: Option<usize>,
}

fn default_max_events() -> usize {
    10_000
}

impl PostgresSink {
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
}

impl Sink for PostgresSink {
    /// Checks the options that need no database: names, paths, the address.
    fn check(&self) -> Vec<OptionError> {
        let mut problems = Vec::new();
        if let Err(e) = table_name(&self.table) {
            problems.push(OptionError::new("table", e.to_string()));
        }
        if self.columns.is_empty() {
            problems.push(OptionError::new(
                "columns",
                "`columns` names no column; map each column to an event field, such as \
                 `columns: { id: id, total: order.total }`",
            ));
        }
        for (column, path) in &self.columns {
            if let Err(e) = identifier(column).and(field_path(path).map(drop)) {
                problems.push(OptionError::new(format!("columns.{column}"), e.to_string()));
            }
        }
        for key in &self.conflict {
            if !self.columns.contains_key(key) {
                problems.push(OptionError::new(
                    "conflict",
                    format!(
                        "conflict column `{key}` is not among `columns`; add it there, mapped \
                         to the event field that holds the key"
                    ),
                ));
            }
        }
        if let Err(e) = super::check_address(self.url.as_deref(), self.url_file.as_deref()) {
            problems.push(OptionError::new("url", e.to_string()));
        }
        problems
    }

    /// Attaches the sink. It connects on its first batch, and again whenever the connection is
    /// lost.
    fn build(&self, input: Flow<Event>, ctx: &SinkContext) -> Result<BuiltSink, BoxError> {
        if let Some(problem) = self.check().into_iter().next() {
            return Err(problem.message.into());
        }
        let writers = self
            .writers
            .unwrap_or(if self.conflict.is_empty() { 2 } else { 1 })
            .clamp(1, 64);
        let pool = super::pool(self.url.as_deref(), self.url_file.as_ref(), writers as u32)?;
        let writer = Writer {
            statement: self.statement()?,
            table: table_name(&self.table)?,
            method: if self.conflict.is_empty() {
                Method::Unknown
            } else {
                Method::Insert
            },
            columns: self.columns.keys().cloned().collect(),
            fields: FieldPaths::new(
                self.columns
                    .values()
                    .map(|p| field_path(p))
                    .collect::<Result<_, _>>()?,
            ),
            keys: if self.on_conflict == OnConflict::Update && !self.conflict.is_empty() {
                Some(FieldPaths::new(
                    self.conflict
                        .iter()
                        .map(|k| field_path(&self.columns[k]))
                        .collect::<Result<_, _>>()?,
                ))
            } else {
                None
            },
            max_events: self.max_events.max(1),
            exactly_once: self.exactly_once.then(|| self.table.clone()),
            offsets_table: false,
            pool,
        };
        Ok(attach_writers(input, ctx, writers, writer))
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

/// How a batch is written.
#[derive(Clone)]
enum Method {
    /// Not decided until the table's column types are known.
    Unknown,
    /// `COPY ... FROM STDIN`, each column flagged if it is of type `json` or `jsonb`.
    Copy { statement: String, json: Vec<bool> },
    /// The `INSERT ... SELECT FROM jsonb_populate_recordset` statement.
    Insert,
}

#[derive(Clone)]
struct Writer {
    statement: String,
    /// The quoted table name.
    table: String,
    method: Method,
    /// The columns, in order.
    columns: Vec<String>,
    /// The field of each column.
    fields: FieldPaths,
    /// The fields of the key columns of an updating upsert, to keep the last of several rows
    /// with one key.
    keys: Option<FieldPaths>,
    max_events: usize,
    /// With `exactly_once`: the table, which keys its offsets.
    exactly_once: Option<String>,
    /// Whether the table of offsets is known to exist.
    offsets_table: bool,
    pool: PgPool,
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
            rows.retain(|&at| !done.contains(offsets[at]));
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

    fn sink(options: &str) -> PostgresSink {
        serde_json::from_str(options).expect("valid options")
    }

    #[test]
    fn the_statement_upserts_on_the_key() {
        let s = sink(
            r#"{"url": "postgres://x@y/z", "table": "shop.orders",
                "columns": {"id": "id", "total": "order.total", "raw": "."}, "conflict": ["id"]}"#,
        );
        assert_eq!(s.check(), Vec::new());
        assert_eq!(
            s.statement().expect("statement"),
            "INSERT INTO \"shop\".\"orders\" (\"id\", \"raw\", \"total\") SELECT \"id\", \"raw\", \"total\" \
             FROM jsonb_populate_recordset(NULL::\"shop\".\"orders\", $1) ON CONFLICT (\"id\") \
             DO UPDATE SET \"raw\" = EXCLUDED.\"raw\", \"total\" = EXCLUDED.\"total\""
        );
    }

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
    fn names_that_could_escape_quoting_are_refused() {
        for table in ["orders; DROP TABLE x", "a.b.c", "\"q\"", ""] {
            assert!(table_name(table).is_err(), "{table}");
        }
        let s = sink(
            r#"{"url": "postgres://x@y/z", "table": "t", "columns": {"id": "id"}, "conflict": ["key"]}"#,
        );
        let problems = s.check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "conflict");
        assert!(
            problems[0].message.contains("`key` is not among `columns`"),
            "{problems:?}"
        );
    }

    #[test]
    fn rows_take_nested_fields_and_nulls() {
        let s = sink(
            r#"{"url": "postgres://x@y/z", "table": "t", "columns": {"id": "id", "city": "address.city", "all": "."}}"#,
        );
        let paths = FieldPaths::new(
            s.columns
                .values()
                .map(|p| field_path(p).expect("path"))
                .collect(),
        );
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
