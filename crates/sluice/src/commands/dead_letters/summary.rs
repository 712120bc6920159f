//! What a set of dead-letter records holds: how many failed where and why, when, with samples.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

/// The longest sample shown, in characters.
const SAMPLE_CHARS: usize = 240;

/// Dead-letter records counted by stage and error.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Summary {
    /// Records read.
    records: u64,
    /// Of them, events that failed after decoding (they carry `event`).
    events: u64,
    /// Of them, records that never decoded (they carry `raw`).
    raw: u64,
    /// Lines that are not dead-letter records (not JSON, or no `stage` and `error`).
    unreadable: u64,
    /// The first and last `failed_at`.
    first: Option<String>,
    last: Option<String>,
    /// Per stage, per error.
    stages: BTreeMap<String, BTreeMap<String, Group>>,
    #[serde(skip)]
    samples: usize,
}

/// The records of one stage that failed with one error.
#[derive(Debug, Default, Serialize)]
struct Group {
    count: u64,
    first: Option<String>,
    last: Option<String>,
    samples: Vec<String>,
}

impl Summary {
    /// An empty summary that keeps up to `samples` examples per stage and error.
    pub(crate) fn new(samples: usize) -> Summary {
        Summary {
            samples,
            ..Summary::default()
        }
    }

    /// Counts one line of a dead-letter output.
    pub(crate) fn add_line(&mut self, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(record) => self.add(&record),
            Err(_) => self.unreadable += 1,
        }
    }

    /// Counts one record.
    pub(crate) fn add(&mut self, record: &Value) {
        let (Some(stage), Some(error)) = (record["stage"].as_str(), record["error"].as_str())
        else {
            self.unreadable += 1;
            return;
        };
        self.records += 1;
        let payload = if let Some(raw) = record.get("raw") {
            self.raw += 1;
            raw.as_str().map_or_else(|| raw.to_string(), str::to_owned)
        } else {
            self.events += 1;
            record["event"].to_string()
        };
        let at = record["failed_at"].as_str().map(str::to_owned);
        widen(&mut self.first, &mut self.last, at.as_ref());
        let group = self
            .stages
            .entry(stage.to_owned())
            .or_default()
            .entry(error.to_owned())
            .or_default();
        group.count += 1;
        widen(&mut group.first, &mut group.last, at.as_ref());
        if group.samples.len() < self.samples {
            group.samples.push(shorten(&payload));
        }
    }

    /// The summary for a person: a line for the whole, then each stage's errors, most frequent
    /// first, with their samples.
    pub(crate) fn text(&self, name: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{name}: {} dead letters ({} events, {} raw records that did not decode){}",
            self.records,
            self.events,
            self.raw,
            match (&self.first, &self.last) {
                (Some(first), Some(last)) => format!(", failed from {first} to {last}"),
                _ => String::new(),
            }
        );
        if self.unreadable > 0 {
            let _ = writeln!(
                out,
                "{} lines are not dead-letter records (not JSON, or no stage and error)",
                self.unreadable
            );
        }
        for (stage, errors) in &self.stages {
            let total: u64 = errors.values().map(|g| g.count).sum();
            let _ = writeln!(out, "\nstage {stage}: {total}");
            let mut errors: Vec<(&String, &Group)> = errors.iter().collect();
            errors.sort_by_key(|(_, g)| std::cmp::Reverse(g.count));
            for (error, group) in errors {
                let _ = writeln!(out, "  {:>8}  {error}", group.count);
                for sample in &group.samples {
                    let _ = writeln!(out, "            e.g. {sample}");
                }
            }
        }
        out
    }
}

/// Moves `first` and `last` out to take in `at` (RFC 3339 times compare as text).
fn widen(first: &mut Option<String>, last: &mut Option<String>, at: Option<&String>) {
    let Some(at) = at else { return };
    if first.as_ref().is_none_or(|f| at < f) {
        *first = Some(at.clone());
    }
    if last.as_ref().is_none_or(|l| at > l) {
        *last = Some(at.clone());
    }
}

/// `text` cut to [`SAMPLE_CHARS`] characters, marked when cut.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(SAMPLE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_counted_by_stage_and_error_with_samples() {
        let mut summary = Summary::new(1);
        for line in [
            r#"{"error":"poison","stage":"slow","failed_at":"2026-12-04T05:00:02Z","event":{"seq":50}}"#,
            r#"{"error":"poison","stage":"slow","failed_at":"2026-12-04T05:00:01Z","event":{"seq":0}}"#,
            r#"{"error":"invalid JSON","stage":"events","failed_at":"2026-12-04T05:00:03Z","raw":"{oops"}"#,
            "not json",
            "",
        ] {
            summary.add_line(line);
        }
        assert_eq!((summary.records, summary.events, summary.raw), (3, 2, 1));
        assert_eq!(summary.unreadable, 1);
        assert_eq!(summary.first.as_deref(), Some("2026-12-04T05:00:01Z"));
        assert_eq!(summary.last.as_deref(), Some("2026-12-04T05:00:03Z"));
        let slow = &summary.stages["slow"]["poison"];
        assert_eq!(
            (slow.count, slow.samples.as_slice()),
            (2, [r#"{"seq":50}"#.to_owned()].as_slice())
        );
        let text = summary.text("dead.jsonl");
        assert!(text.contains("3 dead letters (2 events, 1 raw"), "{text}");
        assert!(text.contains("stage events: 1"), "{text}");
        assert!(text.contains("e.g. {oops"), "{text}");
    }

    #[test]
    fn long_samples_are_cut() {
        let long = "x".repeat(1000);
        assert_eq!(shorten(&long).chars().count(), SAMPLE_CHARS + 1);
        assert_eq!(shorten("short"), "short");
    }
}
