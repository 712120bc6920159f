//! The `postgres` sink end to end, on the machine's PostgreSQL (`scripts/services.sh` starts
//! it): rows copied (plain inserts) and upserted in batches, rows the database refuses
//! dead-lettered with its message while the rest of their batch commits, and a second run of
//! the same upserts changing nothing. And the `postgres` source: a table read once, its rows
//! as events, left as they are or deleted as they are done.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{DATABASE, SLUICE, lines, psql, run_to_end, text, write};

#[test]
fn rows_are_upserted_and_refused_rows_dead_lettered_with_the_database_message() {
    load_orders("upsert", "conflict: [id]", 2, "1|ada|13|13\n5|dee|7|7\n", 4);
}

#[test]
fn plain_inserts_are_copied_and_refused_rows_dead_lettered_with_the_database_message() {
    // No conflict key: the batch is copied (COPY FROM STDIN); the second order 1 breaks the
    // primary key.
    load_orders(
        "copy",
        "max_events: 1000",
        1,
        "1|ada|12.5|12.5\n5|dee|7|7\n",
        5,
    );
}

/// Loads the same orders, some refused, `runs` times with `option` on the sink; checks the
/// rows and that each refused one, and the line that is not JSON, was dead-lettered.
fn load_orders(name: &str, option: &str, runs: usize, rows: &str, dead_letters: usize) {
    let schema = format!("sink_test_{name}_{}", std::process::id());
    psql(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; \
         CREATE TABLE {schema}.orders (id int PRIMARY KEY, customer text NOT NULL, \
             total numeric CHECK (total >= 0), raw jsonb)"
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write(
        dir.path(),
        "orders.jsonl",
        "{\"id\": 1, \"customer\": {\"name\": \"ada\"}, \"total\": 12.5}\n\
         {\"id\": 2, \"customer\": {\"name\": \"bob\"}, \"total\": \"twelve\"}\n\
         {\"id\": 3, \"total\": 5}\n\
         not json\n\
         {\"id\": 4, \"customer\": {\"name\": \"cy\"}, \"total\": -1}\n\
         {\"id\": 1, \"customer\": {\"name\": \"ada\"}, \"total\": 13}\n\
         {\"id\": 5, \"customer\": {\"name\": \"dee\"}, \"total\": 7}\n",
    );
    let dead = dir.path().join("dead.jsonl");
    let pipeline = write(
        dir.path(),
        "pipeline.yaml",
        &format!(
            "sources:\n  orders:\n    type: file\n    path: {input}\n\
             sinks:\n  db:\n    type: postgres\n    inputs: [orders]\n    url: ${{ORDERS_DB}}\n\
             \x20   table: {schema}.orders\n\
             \x20   columns: {{ id: id, customer: customer.name, total: total, raw: . }}\n\
             \x20   {option}\n\
             \x20 dead:\n    type: file\n    inputs: [orders.errors, db.errors]\n\
             \x20   path: {}\n    mode: truncate\n",
            dead.display()
        ),
    );
    for run in 0..runs {
        let child = Command::new(SLUICE)
            .args(["run", "--quiet", &pipeline])
            .env("ORDERS_DB", DATABASE)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("sluice");
        let out = run_to_end(child, Duration::from_secs(60));
        assert!(out.status.success(), "run {run}: {}", text(&out.stderr));
        assert_eq!(
            psql(&format!(
                "SELECT id, customer, total, raw->>'total' FROM {schema}.orders ORDER BY id"
            )),
            rows,
            "run {run}: the refused rows are not there"
        );
        let records = lines(&dead);
        let errors: Vec<String> = records
            .iter()
            .map(|r| r["error"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(records.len(), dead_letters, "run {run}: {errors:?}");
        let by_id = |id: i64| {
            records
                .iter()
                .find(|r| r["event"]["id"] == id)
                .map(|r| r["error"].as_str().unwrap_or_default().to_owned())
                .unwrap_or_else(|| panic!("no dead letter for id {id}: {errors:?}"))
        };
        assert!(
            by_id(2).contains("invalid input syntax for type numeric"),
            "{errors:?}"
        );
        assert!(by_id(3).contains("null value in column"), "{errors:?}");
        assert!(by_id(4).contains("check constraint"), "{errors:?}");
        assert!(
            records.iter().any(|r| r["raw"] == "not json"),
            "the line that is not JSON is dead-lettered by the source: {errors:?}"
        );
        assert!(
            records.iter().all(|r| r["stage"].is_string()),
            "{records:?}"
        );
    }
    psql(&format!("DROP SCHEMA {schema} CASCADE"));
}

#[test]
fn a_sink_without_a_database_or_with_unsafe_names_is_refused_at_validation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = write(
        dir.path(),
        "pipeline.yaml",
        "sources:\n  s:\n    type: generator\n    count: 1\n\
         sinks:\n  db:\n    type: postgres\n    inputs: [s]\n    table: orders; DROP TABLE x\n\
         \x20   columns: { id: id }\n",
    );
    let out = Command::new(SLUICE)
        .args(["validate", &pipeline])
        .output()
        .expect("sluice");
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("pipeline.yaml:") && err.contains("is not a plain name"),
        "{err}"
    );
}

#[test]
fn a_source_reads_a_table_once_and_deletes_the_rows_it_finished_when_asked() {
    let table = format!("source_test_{}", std::process::id());
    psql(&format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int, name text, doc jsonb); \
         INSERT INTO {table} SELECT n, 'n' || n, jsonb_build_object('even', n % 2 = 0) \
         FROM generate_series(1, 1200) n"
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    let read = |name: &str, options: &str, id: &str| {
        let out = dir.path().join(format!("{name}.jsonl"));
        let pipeline = write(
            dir.path(),
            &format!("{name}.yaml"),
            &format!(
                "sources:\n  rows: {{ type: postgres, url: \"{DATABASE}\", table: {table}{options} }}\n\
                 transforms:\n  odd: {{ type: filter, inputs: [rows], condition: '{id} % 2 == 1' }}\n\
                 sinks:\n  out: {{ type: file, inputs: [odd], path: {} }}\n",
                out.display()
            ),
        );
        let done = common::run(&pipeline, Duration::from_secs(60));
        assert!(done.status.success(), "{}", text(&done.stderr));
        lines(&out)
    };
    // Every column as its own field; the table is left as it is.
    let events = read("all", "", ".id");
    assert_eq!(events.len(), 600);
    assert_eq!(
        events[0],
        serde_json::json!({"id": 1, "name": "n1", "doc": {"even": false}})
    );
    assert_eq!(
        psql(&format!("SELECT count(*) FROM {table}")).trim(),
        "1200"
    );
    // Mapped as a sink's columns; each row deleted once its event is final (filtered too).
    let events = read(
        "mapped",
        ", columns: { id: key.id, doc: . }, delete_finished: true, batch_size: 100",
        ".key.id",
    );
    assert_eq!(events.len(), 600);
    assert_eq!(
        events[0],
        serde_json::json!({"key": {"id": 1}, "even": false})
    );
    assert_eq!(psql(&format!("SELECT count(*) FROM {table}")).trim(), "0");
    psql(&format!("DROP TABLE {table}"));
}
