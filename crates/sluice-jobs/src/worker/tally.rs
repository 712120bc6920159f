//! The worker's minute counts per queue (jobs that succeeded, attempts that failed, how long
//! jobs waited), which the registrar sends to the store's registry.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::store::registry::{MinuteStats, minute_of};

/// The minute counts of one worker: each queue's current and recent minutes, each with whether
/// it changed since it was last sent. A few entries (queues times two), looked up by a scan
/// that allocates nothing: this runs for every job.
#[derive(Default)]
pub(crate) struct Tally(Mutex<Vec<(MinuteStats, bool)>>);

impl Tally {
    fn record(&self, queue: &str, at: DateTime<Utc>, count: impl FnOnce(&mut MinuteStats)) {
        let start = minute_of(at);
        let mut minutes = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let index = match minutes
            .iter()
            .position(|(m, _)| m.minute == start && m.queue == queue)
        {
            Some(index) => index,
            None => {
                minutes.push((MinuteStats::new(queue, at), false));
                minutes.len() - 1
            }
        };
        let (minute, changed) = &mut minutes[index];
        count(minute);
        *changed = true;
    }

    /// A job of `queue` started at `at` after waiting `wait` since it was due.
    pub(crate) fn waited(&self, queue: &str, at: DateTime<Utc>, wait: Duration) {
        self.record(queue, at, |m| m.waited(wait));
    }

    /// A job of `queue` succeeded at `at`.
    pub(crate) fn succeeded(&self, queue: &str, at: DateTime<Utc>) {
        self.record(queue, at, |m| m.succeeded += 1);
    }

    /// An attempt of a job of `queue` failed at `at`.
    pub(crate) fn failed(&self, queue: &str, at: DateTime<Utc>) {
        self.record(queue, at, |m| m.failed += 1);
    }

    /// The minutes that changed since they were last taken, whole; forgets those that ended
    /// over a minute before `now` and were sent.
    pub(crate) fn changed(&self, now: DateTime<Utc>) -> Vec<MinuteStats> {
        let mut minutes = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = minute_of(now);
        minutes.retain(|(minute, changed)| {
            *changed || current - minute.minute <= chrono::Duration::minutes(1)
        });
        minutes
            .iter_mut()
            .filter(|(_, changed)| *changed)
            .map(|(minute, changed)| {
                *changed = false;
                minute.clone()
            })
            .collect()
    }

    /// Marks `minutes` changed again (they could not be sent).
    pub(crate) fn unsent(&self, minutes: &[MinuteStats]) {
        let mut counted = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (kept, changed) in counted.iter_mut() {
            if minutes
                .iter()
                .any(|m| m.minute == kept.minute && m.queue == kept.queue)
            {
                *changed = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_minutes_are_taken_once_and_old_ones_forgotten() {
        let tally = Tally::default();
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        tally.succeeded("q", t0);
        tally.failed("q", t0);
        tally.waited("q", t0, Duration::from_millis(3));
        let taken = tally.changed(t0);
        assert_eq!(taken.len(), 1);
        assert_eq!((taken[0].succeeded, taken[0].failed), (1, 1));
        assert!(tally.changed(t0).is_empty(), "nothing changed since");
        tally.unsent(&taken);
        assert_eq!(tally.changed(t0).len(), 1, "an unsent minute is sent again");
        tally.succeeded("q", t0);
        let later = t0 + chrono::Duration::minutes(5);
        assert_eq!(
            tally.changed(later)[0].succeeded,
            2,
            "a changed minute is sent, however old, and whole"
        );
        assert!(tally.0.lock().map(|m| m.len()).unwrap_or_default() == 1);
        assert!(tally.changed(later).is_empty());
        assert!(
            tally.0.lock().map(|m| m.is_empty()).unwrap_or_default(),
            "sent and ended: forgotten"
        );
    }
}
