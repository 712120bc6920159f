//! The table of Kafka offsets that makes Kafka → PostgreSQL exactly-once, shared by the
//! `postgres` sink and the `kafka` source.
//!
//! The table `sluice_kafka_offsets` holds, for each target table and each partition of a topic,
//! the set of offsets whose messages are done (`int8multirange`, PostgreSQL 14 or later). The
//! sink adds the offsets of the rows it writes in the same transaction as the rows, and leaves
//! out messages already in the set; the source adds `[0, c)` once every message before `c` is
//! final (which folds the gaps left by filtered or dead-lettered messages) and, when it is
//! given a partition, starts at the end of the set's first range. Each fact written is true
//! whoever writes it, so a process that lost its partitions and still writes does no harm.

use std::collections::HashMap;

use sluice_core::BoxError;
use sqlx::PgConnection;
use sqlx::postgres::PgPool;

/// The table of offsets.
const OFFSETS_TABLE: &str = "sluice_kafka_offsets";

/// A topic's partition.
pub(crate) type Partition = (String, i32);

/// The offsets of one partition that are done: sorted, disjoint ranges `[start, end)`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Done(Vec<(i64, i64)>);

impl Done {
    /// Reads PostgreSQL's text form of an `int8multirange` of canonical ranges:
    /// `{}` or `{[0,100),[150,200)}`.
    fn parse(text: &str) -> Result<Done, BoxError> {
        let inner = text
            .trim()
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .ok_or_else(|| format!("not a multirange: {text}"))?;
        let mut ranges = Vec::new();
        for range in inner.split("),").filter(|r| !r.is_empty()) {
            let bounds = range
                .trim_start_matches('[')
                .trim_end_matches(')')
                .split_once(',')
                .ok_or_else(|| format!("not a range: {range}"))?;
            let parse = |b: &str| {
                b.trim()
                    .parse::<i64>()
                    .map_err(|_| format!("not a bounded range of offsets: {text}"))
            };
            ranges.push((parse(bounds.0)?, parse(bounds.1)?));
        }
        Ok(Done(ranges))
    }

    /// Whether `offset` is done.
    pub(crate) fn contains(&self, offset: i64) -> bool {
        let at = self.0.partition_point(|&(_, end)| end <= offset);
        self.0.get(at).is_some_and(|&(start, _)| start <= offset)
    }

    /// Where to resume: the first offset not done, when every offset before it is.
    fn resume_at(&self) -> Option<i64> {
        match self.0.first() {
            Some(&(0, end)) => Some(end),
            _ => None,
        }
    }
}

/// Creates the table of offsets if it is missing.
pub(crate) async fn create_offsets_table(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE IF NOT EXISTS {OFFSETS_TABLE} (
            target text NOT NULL,
            topic text NOT NULL,
            \"partition\" integer NOT NULL,
            done int8multirange NOT NULL DEFAULT '{{}}',
            PRIMARY KEY (target, topic, \"partition\"))"
    )))
    .execute(conn)
    .await?;
    Ok(())
}

/// Where each partition written to `target` resumes (see [`Done::resume_at`]); creates the
/// table of offsets if it is missing.
pub(crate) async fn resume_points(
    pool: &PgPool,
    target: &str,
) -> Result<HashMap<Partition, i64>, BoxError> {
    create_offsets_table(&mut *pool.acquire().await?).await?;
    let rows: Vec<(String, i32, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT topic, \"partition\", done::text FROM {OFFSETS_TABLE} WHERE target = $1"
    )))
    .bind(target)
    .fetch_all(pool)
    .await?;
    let mut points = HashMap::new();
    for (topic, partition, done) in rows {
        if let Some(at) = Done::parse(&done)?.resume_at() {
            points.insert((topic, partition), at);
        }
    }
    Ok(points)
}

/// Records that every offset before each `end` of each partition is done, for `target`.
pub(crate) async fn mark_done_before(
    pool: &PgPool,
    target: &str,
    ends: &[(Partition, i64)],
) -> Result<(), BoxError> {
    let (topics, partitions, offsets) = columns(ends.iter().map(|((t, p), o)| (t, *p, *o)));
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {OFFSETS_TABLE} AS k (target, topic, \"partition\", done)
         SELECT $1, t, p, int8multirange(int8range(0, o))
         FROM unnest($2::text[], $3::int4[], $4::int8[]) AS x(t, p, o) ORDER BY t, p
         ON CONFLICT (target, topic, \"partition\") DO UPDATE SET done = k.done + EXCLUDED.done"
    )))
    .bind(target)
    .bind(topics)
    .bind(partitions)
    .bind(offsets)
    .execute(pool)
    .await?;
    Ok(())
}

/// What is done in each of some partitions, sorted by partition.
#[derive(Debug, Default)]
pub(crate) struct Locked(Vec<(Partition, Done)>);

impl Locked {
    /// Whether a message at `offset` (topic, partition, offset), if it has one, is done.
    pub(crate) fn contains(&self, offset: Option<(&str, i32, i64)>) -> bool {
        offset.is_some_and(|(topic, partition, offset)| {
            self.0
                .binary_search_by(|((t, p), _)| (t.as_str(), *p).cmp(&(topic, partition)))
                .is_ok_and(|at| self.0[at].1.contains(offset))
        })
    }
}

/// In a transaction: locks the rows of `partitions` for `target` (creating them) and returns
/// what is done in each.
pub(crate) async fn lock(
    tx: &mut PgConnection,
    target: &str,
    partitions: &[Partition],
) -> Result<Locked, sqlx::Error> {
    let topics: Vec<&str> = partitions.iter().map(|(t, _)| t.as_str()).collect();
    let numbers: Vec<i32> = partitions.iter().map(|(_, p)| *p).collect();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {OFFSETS_TABLE} (target, topic, \"partition\")
         SELECT $1, t, p FROM unnest($2::text[], $3::int4[]) AS x(t, p) ORDER BY t, p
         ON CONFLICT DO NOTHING"
    )))
    .bind(target)
    .bind(&topics)
    .bind(&numbers)
    .execute(&mut *tx)
    .await?;
    let rows: Vec<(String, i32, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT topic, \"partition\", done::text FROM {OFFSETS_TABLE}
         WHERE target = $1 AND (topic, \"partition\") IN
             (SELECT * FROM unnest($2::text[], $3::int4[]))
         ORDER BY topic, \"partition\" FOR UPDATE"
    )))
    .bind(target)
    .bind(&topics)
    .bind(&numbers)
    .fetch_all(&mut *tx)
    .await?;
    let mut locked = rows
        .into_iter()
        .map(|(topic, partition, done)| {
            Done::parse(&done)
                .map(|d| ((topic, partition), d))
                .map_err(sqlx::Error::Decode)
        })
        .collect::<Result<Vec<_>, _>>()?;
    // In Rust's order of strings, which the database's collation need not follow.
    locked.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(Locked(locked))
}

/// In the transaction that wrote their rows: records `offsets` as done for `target`.
pub(crate) async fn add(
    tx: &mut PgConnection,
    target: &str,
    offsets: impl Iterator<Item = (&str, i32, i64)>,
) -> Result<(), sqlx::Error> {
    let ranges = ranges(offsets);
    if ranges.is_empty() {
        return Ok(());
    }
    let (topics, partitions, starts) = columns(ranges.iter().map(|&(t, p, s, _)| (t, p, s)));
    let ends: Vec<i64> = ranges.iter().map(|&(_, _, _, end)| end).collect();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {OFFSETS_TABLE} AS k SET done = k.done + x.done
         FROM (SELECT t, p, range_agg(int8range(s, e)) AS done
               FROM unnest($2::text[], $3::int4[], $4::int8[], $5::int8[]) AS u(t, p, s, e)
               GROUP BY t, p) AS x
         WHERE k.target = $1 AND k.topic = x.t AND k.\"partition\" = x.p"
    )))
    .bind(target)
    .bind(topics)
    .bind(partitions)
    .bind(starts)
    .bind(ends)
    .execute(tx)
    .await?;
    Ok(())
}

/// `offsets` as the fewest ranges `[start, end)` per partition.
fn ranges<'a>(offsets: impl Iterator<Item = (&'a str, i32, i64)>) -> Vec<(&'a str, i32, i64, i64)> {
    let mut offsets: Vec<(&str, i32, i64)> = offsets.collect();
    offsets.sort_unstable();
    let mut ranges: Vec<(&str, i32, i64, i64)> = Vec::new();
    for (topic, partition, offset) in offsets {
        match ranges.last_mut() {
            Some((t, p, _, end)) if *t == topic && *p == partition && *end >= offset => {
                *end = (*end).max(offset + 1);
            }
            _ => ranges.push((topic, partition, offset, offset + 1)),
        }
    }
    ranges
}

/// Rows of (topic, partition, offset) as three arrays to bind.
fn columns<T: AsRef<str>>(
    rows: impl Iterator<Item = (T, i32, i64)>,
) -> (Vec<String>, Vec<i32>, Vec<i64>) {
    let mut out = (Vec::new(), Vec::new(), Vec::new());
    for (topic, partition, offset) in rows {
        out.0.push(topic.as_ref().to_owned());
        out.1.push(partition);
        out.2.push(offset);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_make_the_fewest_ranges() {
        let offsets = [
            ("t", 1, 5),
            ("t", 0, 3),
            ("t", 0, 1),
            ("t", 0, 2),
            ("t", 1, 7),
            ("t", 0, 2),
        ];
        assert_eq!(
            ranges(offsets.into_iter()),
            vec![("t", 0, 1, 4), ("t", 1, 5, 6), ("t", 1, 7, 8)]
        );
    }

    #[test]
    fn done_offsets_are_read_from_a_multirange() {
        let done = Done::parse("{[0,100),[150,200)}").expect("parses");
        assert_eq!(done, Done(vec![(0, 100), (150, 200)]));
        assert!(done.contains(0) && done.contains(99) && done.contains(150));
        assert!(!done.contains(100) && !done.contains(149) && !done.contains(200));
        assert_eq!(done.resume_at(), Some(100));
        let empty = Done::parse("{}").expect("parses");
        assert!(!empty.contains(0));
        assert_eq!(empty.resume_at(), None);
        assert_eq!(
            Done::parse("{[5,9)}").expect("parses").resume_at(),
            None,
            "offsets before 5 are not known to be done"
        );
        assert!(Done::parse("[1,2)").is_err());
        let locked = Locked(vec![(("a".into(), 0), done), (("b".into(), 1), empty)]);
        assert!(locked.contains(Some(("a", 0, 99))));
        assert!(!locked.contains(Some(("a", 0, 100))));
        assert!(!locked.contains(Some(("a", 1, 0))));
        assert!(!locked.contains(Some(("b", 1, 0))));
        assert!(!locked.contains(None));
        assert!(Done::parse("{[1,)}").is_err());
    }
}
