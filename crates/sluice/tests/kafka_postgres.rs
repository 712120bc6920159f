//! `examples/kafka_to_postgres.yaml` end to end, on the machine's PostgreSQL and a
//! Kafka-protocol broker (`scripts/services.sh` starts them): 20,000 orders, some not JSON,
//! some not valid and some the database refuses, are loaded by a `sluice` process that is
//! SIGKILLed three times as it writes and started again each time; and again into a PostgreSQL
//! of the test's own that is stopped for 30 s as the example writes to it. Every valid order makes its
//! row exactly once (a trigger counts the writes of each row), and every bad one reaches the
//! dead-letter topic with its reason. Each restart waits for the killed member's session to
//! expire: tansu 0.6.0, the test broker, gives a member that joins while a dead one still
//! holds its partitions no partition, not even once the dead one's session has expired.

// The counts are the test's report, on standard error.
#![allow(clippy::print_stderr)]

mod common;
#[path = "common/kafka.rs"]
mod kafka;

use std::collections::HashSet;
use std::time::Duration;

use common::{DATABASE, PrivatePostgres, SLUICE, psql, start_with, text, wait_until};
use kafka::{BROKERS, create_topic, produce, read_all};

const ORDERS: usize = 20_000;
/// A little more than the source's Kafka session.
const SESSION: Duration = Duration::from_secs(11);
const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/kafka_to_postgres.yaml"
);
const TABLE_SQL: &str = include_str!("../../../examples/kafka_to_postgres.sql");

/// What becomes of order `i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Row,
    NotJson,
    Invalid,
    Refused,
}

fn fate(i: usize) -> Fate {
    match i % 100 {
        7 => Fate::NotJson,
        42 => Fate::Invalid,
        77 => Fate::Refused,
        _ => Fate::Row,
    }
}

fn order(i: usize) -> String {
    let quantity = match fate(i) {
        Fate::NotJson => return format!("order {i} is not JSON"),
        Fate::Invalid => 0,
        Fate::Refused => 5000,
        Fate::Row => 1 + i % 9,
    };
    serde_json::json!({
        "id": format!("o-{i}"),
        "customer": format!("C{}", i % 37),
        "quantity": quantity,
        "unit_price": 1.25,
        "placed_at": "2026-11-24T10:00:00Z",
    })
    .to_string()
}

#[test]
fn the_examples_own_tests_pass() {
    let out = std::process::Command::new(SLUICE)
        .args(["test", EXAMPLE])
        .output()
        .expect("sluice");
    assert!(
        out.status.success() && text(&out.stdout).ends_with("1 passed, 0 failed\n"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// One load of the example: its topics, its table (with a trigger counting the writes of each
/// row) on the database `sql` runs statements on, and the orders produced.
struct Load<'a> {
    topic: String,
    dead: String,
    table: String,
    expected: usize,
    sql: &'a dyn Fn(&str) -> String,
}

impl<'a> Load<'a> {
    /// Makes the topics and the table and produces the orders; `name` tells loads apart.
    fn prepare(name: &str, sql: &'a dyn Fn(&str) -> String) -> Load<'a> {
        let id = format!("{name}_{}", std::process::id());
        let load = Load {
            topic: format!("sluice-orders-{id}"),
            dead: format!("sluice-orders-dead-{id}"),
            table: format!("orders_{id}"),
            expected: (0..ORDERS).filter(|&i| fate(i) == Fate::Row).count(),
            sql,
        };
        create_topic(&load.topic, 3);
        create_topic(&load.dead, 1);
        let table = &load.table;
        sql(&format!(
            "DROP TABLE IF EXISTS {table}; {}; \
             ALTER TABLE {table} ADD COLUMN writes integer NOT NULL DEFAULT 1; \
             CREATE FUNCTION {table}_count() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN NEW.writes := OLD.writes + 1; RETURN NEW; END $$; \
             CREATE TRIGGER count_writes BEFORE UPDATE ON {table} \
                 FOR EACH ROW EXECUTE FUNCTION {table}_count()",
            TABLE_SQL.replace("IF NOT EXISTS orders", table)
        ));
        let messages: Vec<(String, String)> =
            (0..ORDERS).map(|i| (format!("o-{i}"), order(i))).collect();
        produce(&load.topic, &messages);
        load
    }

    /// The example's environment, writing to `database`.
    fn env<'b>(&'b self, database: &'b str) -> [(&'b str, &'b str); 6] {
        [
            ("KAFKA_BROKERS", BROKERS),
            ("ORDERS_TOPIC", self.topic.as_str()),
            ("ORDERS_GROUP", self.table.as_str()),
            ("ORDERS_TABLE", self.table.as_str()),
            ("DEAD_TOPIC", self.dead.as_str()),
            ("DATABASE_URL", database),
        ]
    }

    /// Rows in the table so far.
    fn rows(&self) -> usize {
        (self.sql)(&format!("SELECT count(*) FROM {}", self.table))
            .trim()
            .parse()
            .unwrap_or(0)
    }

    /// Waits for every valid order's row.
    fn wait_for_rows(&self) {
        wait_until(
            Duration::from_secs(180),
            || self.rows() >= self.expected,
            || format!("{} of {} rows", self.rows(), self.expected),
        );
    }

    /// Checks that each valid order made its row once and each bad one reached the dead-letter
    /// topic with its reason; then drops what the load made.
    fn check(&self, what: &str) {
        let (table, expected) = (&self.table, self.expected);
        let counts = (self.sql)(&format!(
            "SELECT count(*), count(DISTINCT id), sum(writes) FROM {table}"
        ));
        eprintln!(
            "kafka -> postgres {what}: at the end (rows, distinct ids, writes): {}",
            counts.trim()
        );
        assert_eq!(
            counts.trim(),
            format!("{expected}|{expected}|{expected}"),
            "each valid order written once"
        );
        let letters: Vec<serde_json::Value> = read_all(&self.dead, Duration::from_secs(5))
            .iter()
            .map(|l| serde_json::from_str(l).expect("dead letters are JSON"))
            .collect();
        let mut seen = HashSet::new();
        for letter in &letters {
            let why = letter["error"].as_str().unwrap_or_default();
            let i = match letter["event"]["id"].as_str() {
                Some(order) => order.trim_start_matches("o-").parse::<usize>().ok(),
                None => letter["raw"]
                    .as_str()
                    .and_then(|r| r.split(' ').nth(1))
                    .and_then(|n| n.parse().ok()),
            };
            let i = i.unwrap_or_else(|| panic!("a dead letter of no order: {letter}"));
            let expected_reason = match fate(i) {
                Fate::NotJson => "invalid JSON",
                Fate::Invalid => "`quantity` must be a positive number",
                Fate::Refused => "violates check constraint",
                Fate::Row => panic!("order {i} was dead-lettered: {letter}"),
            };
            assert!(why.contains(expected_reason), "{letter}");
            assert!(letter["position"]["offset"].is_i64(), "{letter}");
            seen.insert(i);
        }
        let bad: HashSet<usize> = (0..ORDERS).filter(|&i| fate(i) != Fate::Row).collect();
        assert_eq!(seen, bad, "every bad order dead-lettered");
        eprintln!(
            "kafka -> postgres {what}: {} dead letters for {} bad orders",
            letters.len(),
            bad.len()
        );
        (self.sql)(&format!(
            "DROP TABLE {table}; DROP FUNCTION {table}_count(); \
             DELETE FROM sluice_kafka_offsets WHERE target = '{table}'"
        ));
    }
}

#[test]
fn every_order_makes_its_row_once_through_kills_and_bad_ones_are_dead_lettered() {
    let sql = |q: &str| psql(q);
    let load = Load::prepare("kills", &sql);
    let env = load.env(DATABASE);
    let mut killed_at = Vec::new();
    for _ in 0..3 {
        let before = load.rows();
        let running = start_with(EXAMPLE, &env);
        wait_until(
            Duration::from_secs(120),
            || load.rows() > before + 2000,
            || format!("{} rows, {before} before", load.rows()),
        );
        running.kill();
        killed_at.push(load.rows());
        // The broker gives the dead member's partitions to the next one once its session (10 s)
        // has expired.
        std::thread::sleep(SESSION);
    }
    let last = start_with(EXAMPLE, &env);
    load.wait_for_rows();
    // Let the dead letters of the last part be produced, then stop gracefully.
    std::thread::sleep(Duration::from_secs(2));
    let out = last.interrupt();
    assert!(out.status.success(), "{}", text(&out.stderr));
    eprintln!("kafka -> postgres: killed with {killed_at:?} rows written");
    load.check("through kills");
}

#[test]
fn every_order_makes_its_row_once_through_a_postgres_restart() {
    // A database of the test's own, stopped at once for 30 s while the example writes to it.
    let db = PrivatePostgres::start();
    let sql = |q: &str| db.psql(q);
    let load = Load::prepare("restart", &sql);
    let url = db.url();
    let running = start_with(EXAMPLE, &load.env(&url));
    wait_until(
        Duration::from_secs(120),
        || load.rows() > 2000,
        || format!("{} rows", load.rows()),
    );
    db.halt();
    std::thread::sleep(Duration::from_secs(30));
    db.resume();
    load.wait_for_rows();
    std::thread::sleep(Duration::from_secs(2));
    let out = running.interrupt();
    assert!(out.status.success(), "{}", text(&out.stderr));
    load.check("through a 30 s PostgreSQL outage");
}
