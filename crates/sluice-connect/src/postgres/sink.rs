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

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use sluice_core::{BoxError, Flow};

use super::writer::{Method, Writer};
use super::{field_path, identifier, table_name};
use crate::component::sink::attach_writers;
use crate::component::{BuiltSink, OptionError, Sink, SinkContext};
use sluice_event::{Event, FieldPaths};

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
            duplicates: metrics::counter!(
                "sluice_sink_duplicates_total",
                "pipeline" => ctx.pipeline.name().to_owned(),
                "stage" => ctx.name.clone(),
            ),
        };
        Ok(attach_writers(input, ctx, writers, writer))
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
}
