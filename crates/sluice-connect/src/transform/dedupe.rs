//! `dedupe`: drops events whose key was seen recently.
//!
//! The most recent `cache_size` keys are remembered (each for `ttl`, when set); an event whose
//! key is among them is dropped and acknowledged as filtered. Runs on one worker: the memory of
//! keys is one.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Deserialize;
use sluice_core::{BoxError, Flow, Operators};
use sluice_event::Event;

use crate::component::{Transform, TransformContext, TransformOutputs};
use sluice_jq::Program;

/// The `dedupe` transform.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupeTransform {
    /// A jq expression giving what makes two events the same, such as `.id`. Defaults to the
    /// whole event.
    #[serde(default)]
    pub key: Option<Program>,
    /// How many recent keys to remember. Defaults to 100000.
    #[serde(default = "default_cache_size")]
    pub cache_size: usize,
    /// Forget a key this long after it was last seen. Defaults to none (only the size bounds
    /// memory).
    #[serde(
        default,
        deserialize_with = "sluice_event::duration::deserialize_option"
    )]
    pub ttl: Option<Duration>,
}

fn default_cache_size() -> usize {
    100_000
}

/// Recently seen keys, oldest first.
struct Seen {
    last: HashMap<String, (u64, Instant)>,
    order: VecDeque<(u64, String)>,
    next: u64,
    size: usize,
    ttl: Option<Duration>,
}

impl Seen {
    /// Records `key`; whether it was seen (and not forgotten) before.
    fn check(&mut self, key: String, now: Instant) -> bool {
        let fresh_enough = |at: Instant| self.ttl.is_none_or(|ttl| now.duration_since(at) < ttl);
        let duplicate = self.last.get(&key).is_some_and(|(_, at)| fresh_enough(*at));
        let stamp = self.next;
        self.next += 1;
        self.last.insert(key.clone(), (stamp, now));
        self.order.push_back((stamp, key));
        while self.last.len() > self.size || self.order.len() > 2 * self.size.max(1) {
            let Some((stamp, key)) = self.order.pop_front() else {
                break;
            };
            // Only the latest stamp of a key counts; older entries are leftovers.
            if self.last.get(&key).is_some_and(|(s, _)| *s == stamp) {
                self.last.remove(&key);
            }
        }
        duplicate
    }
}

impl Transform for DedupeTransform {
    fn build(
        &self,
        input: Flow<Event>,
        ctx: &TransformContext,
    ) -> Result<TransformOutputs, BoxError> {
        let key = self.key.clone();
        let mut seen = Seen {
            last: HashMap::new(),
            order: VecDeque::new(),
            next: 0,
            size: self.cache_size.max(1),
            ttl: self.ttl,
        };
        let (stage, errors) = ctx.stage(input);
        let unique = stage.try_flat_map(move |event: Event| {
            let identity = match &key {
                None => event.to_json_string(),
                Some(program) => match program.outputs(&event) {
                    Ok(values) => serde_json::Value::Array(values).to_string(),
                    Err(err) => return Err((event, err)),
                },
            };
            Ok((!seen.check(identity, Instant::now())).then_some(event))
        });
        Ok(TransformOutputs::main(unique, errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_recent_keys_within_size_and_ttl() {
        let mut seen = Seen {
            last: HashMap::new(),
            order: VecDeque::new(),
            next: 0,
            size: 2,
            ttl: Some(Duration::from_secs(10)),
        };
        let t = Instant::now();
        assert!(!seen.check("a".into(), t));
        assert!(seen.check("a".into(), t));
        assert!(!seen.check("b".into(), t));
        assert!(
            !seen.check("c".into(), t),
            "a fell out: only two keys are kept"
        );
        assert!(!seen.check("a".into(), t));
        assert!(
            !seen.check("c".into(), t + Duration::from_secs(11)),
            "c expired"
        );
    }
}
