//! Rate limits shared by every worker of a store: the windows they count in, and which of a
//! claim's candidates a rate per kind or per partition key lets start.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::period_millis;
use crate::metrics;

/// What a [`SharedRate`] counts apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateScope {
    /// The queue's jobs together.
    #[default]
    Queue,
    /// Each kind's jobs, in a window of its own.
    Kind,
    /// Each partition key's jobs, in a window of its own; jobs without a key are not counted.
    PartitionKey,
}

impl RateScope {
    /// Its name in worker files and scripts.
    pub fn as_str(self) -> &'static str {
        match self {
            RateScope::Queue => "queue",
            RateScope::Kind => "kind",
            RateScope::PartitionKey => "partition_key",
        }
    }
}

/// At most `limit` jobs of a queue (or of each kind or partition key in it, `by`) started in
/// each window of `per`, by all workers together: counted by the store in the claim itself, so
/// that claims at once cannot pass it. Windows are fixed, aligned on the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedRate {
    /// Jobs started per window.
    pub limit: u32,
    /// The window.
    pub per: Duration,
    /// What is counted apart. Defaults to the whole queue.
    pub by: RateScope,
}

impl SharedRate {
    /// `limit` jobs of the whole queue per window of `per` (at least 1 ms).
    pub fn new(limit: u32, per: Duration) -> SharedRate {
        SharedRate {
            limit,
            per: per.max(Duration::from_millis(1)),
            by: RateScope::Queue,
        }
    }

    /// Counts each kind or partition key apart instead (`scope`).
    pub fn by(self, scope: RateScope) -> SharedRate {
        SharedRate { by: scope, ..self }
    }

    fn per_millis(&self) -> i64 {
        period_millis(self.per).max(1)
    }

    /// The start of the window `now` falls in, in milliseconds since the epoch.
    pub fn window(&self, now: DateTime<Utc>) -> i64 {
        let per = self.per_millis();
        now.timestamp_millis().div_euclid(per) * per
    }

    /// When the window after the one `now` falls in begins.
    pub fn next_window(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.window(now).saturating_add(self.per_millis()))
            .unwrap_or(now)
    }

    /// How many of `wanted` jobs a claim may start when `used` were started in the window.
    pub fn allows(&self, used: i64, wanted: u32) -> u32 {
        let left = i64::from(self.limit).saturating_sub(used).max(0);
        u32::try_from(left).unwrap_or(u32::MAX).min(wanted)
    }

    /// The window a job of `kind` with `partition_key` counts in under a rate per kind or per
    /// key: its kind or its key; none for a job without a key, or under a rate of the queue.
    pub fn scope_of<'a>(&self, kind: &'a str, partition_key: Option<&'a str>) -> Option<&'a str> {
        match self.by {
            RateScope::Queue => None,
            RateScope::Kind => Some(kind),
            RateScope::PartitionKey => partition_key,
        }
    }

    /// How many of `wanted` jobs a claim under a rate of the whole queue may start, when `used`
    /// were started in the window; counts a claim cut short in `queue`'s metrics.
    pub(crate) fn cap(&self, queue: &str, used: i64, wanted: u32) -> u32 {
        let allowed = self.allows(used, wanted);
        if allowed < wanted {
            metrics::rate_limited(queue);
        }
        allowed
    }
}

/// An available job a claim under a rate per kind or per key may start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) id: i64,
    pub(crate) kind: String,
    pub(crate) partition_key: Option<String>,
}

/// What a claim under a rate per kind or per key starts.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Chosen {
    /// The jobs, in claim order.
    pub(crate) ids: Vec<i64>,
    /// The starts to count, per kind or key, in sorted order (the order windows are locked in).
    pub(crate) counted: BTreeMap<String, i64>,
    /// Whether the rate held a candidate back.
    pub(crate) capped: bool,
}

/// What a claim under a rate per kind or per key leaves out of its candidates: the kinds, and the
/// partition keys, whose window is used up (`used` holds the starts so far in the current
/// window) or, with a partition limit, that run `partition_limit` jobs already (`running`).
pub(crate) fn excluded<'a>(
    rate: &SharedRate,
    used: &'a HashMap<String, i64>,
    partition_limit: Option<u32>,
    running: &'a HashMap<String, i64>,
) -> (Vec<&'a str>, Vec<&'a str>) {
    let used_up = used
        .iter()
        .filter(|(_, n)| **n >= i64::from(rate.limit))
        .map(|(scope, _)| scope.as_str());
    let (mut kinds, mut keys) = (Vec::new(), Vec::new());
    match rate.by {
        RateScope::Queue => {}
        RateScope::Kind => kinds.extend(used_up),
        RateScope::PartitionKey => keys.extend(used_up),
    }
    if let Some(most) = partition_limit {
        keys.extend(
            running
                .iter()
                .filter(|(_, n)| **n >= i64::from(most))
                .map(|(key, _)| key.as_str()),
        );
    }
    (kinds, keys)
}

/// Picks from `candidates` (in claim order) at most `limit` jobs: each kind or key of `rate` no
/// more than its window has left (`used` holds its starts so far), and with a partition limit,
/// each key no more than `partition_limit` running (`running` holds those running now).
pub(crate) fn choose(
    rate: &SharedRate,
    candidates: &[Candidate],
    used: &HashMap<String, i64>,
    partition_limit: Option<u32>,
    running: &HashMap<String, i64>,
    limit: u32,
) -> Chosen {
    let mut chosen = Chosen::default();
    let mut busy: HashMap<&str, i64> = HashMap::new();
    for c in candidates {
        if chosen.ids.len() >= limit as usize {
            break;
        }
        let scope = rate.scope_of(&c.kind, c.partition_key.as_deref());
        if let Some(scope) = scope {
            let started = used.get(scope).copied().unwrap_or(0)
                + chosen.counted.get(scope).copied().unwrap_or(0);
            if started >= i64::from(rate.limit) {
                chosen.capped = true;
                continue;
            }
        }
        if let (Some(most), Some(key)) = (partition_limit, c.partition_key.as_deref()) {
            let n = busy
                .entry(key)
                .or_insert_with(|| running.get(key).copied().unwrap_or(0));
            if *n >= i64::from(most) {
                continue;
            }
            *n += 1;
        }
        if let Some(scope) = scope {
            *chosen.counted.entry(scope.to_owned()).or_insert(0) += 1;
        }
        chosen.ids.push(c.id);
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: i64, kind: &str, key: Option<&str>) -> Candidate {
        Candidate {
            id,
            kind: kind.to_owned(),
            partition_key: key.map(str::to_owned),
        }
    }

    #[test]
    fn each_kind_starts_no_more_than_its_window_has_left() {
        let rate = SharedRate::new(2, Duration::from_secs(60)).by(RateScope::Kind);
        let used = HashMap::from([("sms".to_owned(), 1)]);
        let candidates = vec![
            job(1, "sms", None),
            job(2, "sms", None),
            job(3, "mail", None),
            job(4, "mail", None),
            job(5, "mail", None),
        ];
        let chosen = choose(&rate, &candidates, &used, None, &HashMap::new(), 10);
        assert_eq!(chosen.ids, vec![1, 3, 4]);
        assert_eq!(
            chosen.counted,
            BTreeMap::from([("mail".to_owned(), 2), ("sms".to_owned(), 1)])
        );
        assert!(chosen.capped);
        let used_up = HashMap::from([("sms".to_owned(), 2), ("mail".to_owned(), 1)]);
        assert_eq!(
            excluded(&rate, &used_up, None, &HashMap::new()),
            (vec!["sms"], vec![])
        );
    }

    #[test]
    fn jobs_without_a_key_pass_a_rate_per_key_and_partition_limits_still_hold() {
        let rate = SharedRate::new(5, Duration::from_secs(1)).by(RateScope::PartitionKey);
        let running = HashMap::from([("acme".to_owned(), 1)]);
        let candidates = vec![
            job(1, "k", Some("acme")),
            job(2, "k", Some("acme")),
            job(3, "k", None),
            job(4, "k", Some("umbrella")),
        ];
        let chosen = choose(&rate, &candidates, &HashMap::new(), Some(2), &running, 10);
        assert_eq!(chosen.ids, vec![1, 3, 4]);
        assert!(!chosen.capped);
        let used = HashMap::from([("initech".to_owned(), 5)]);
        let full = HashMap::from([("acme".to_owned(), 2)]);
        let (kinds, mut keys) = excluded(&rate, &used, Some(2), &full);
        keys.sort_unstable();
        assert_eq!((kinds, keys), (vec![], vec!["acme", "initech"]));
        let limited = choose(
            &rate,
            &[job(1, "k", None), job(2, "k", None)],
            &HashMap::new(),
            None,
            &HashMap::new(),
            1,
        );
        assert_eq!(limited.ids, vec![1], "the claim's own limit holds");
    }
}
