//! Cron schedules: a job enqueued at every tick of a cron pattern in a time zone.
//!
//! Every worker that knows a schedule tries to fire each tick through [`Store::fire`], which
//! lets one of them through: a tick fires once however many workers run. Ticks that pass while
//! no worker runs are skipped, not caught up.
//!
//! [`Store::fire`]: crate::Store::fire

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;

use crate::job::NewJob;
use crate::store::registry::ScheduleInfo;

/// A job to enqueue at every tick of a cron pattern.
#[derive(Clone)]
pub struct Schedule {
    name: String,
    pattern: String,
    cron: Cron,
    zone: Tz,
    job: NewJob,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedule")
            .field("name", &self.name)
            .field("pattern", &self.pattern)
            .field("zone", &self.zone)
            .field("kind", &self.job.kind)
            .finish()
    }
}

/// Why a schedule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The cron pattern does not parse.
    #[error(
        "`{pattern}` is not a cron pattern ({reason}); expected five fields (minute hour day month weekday), an optional leading seconds field, or @hourly, @daily, @weekly, @monthly"
    )]
    Pattern {
        /// What was given.
        pattern: String,
        /// What the parser said.
        reason: String,
    },
    /// The time zone is not in the IANA database.
    #[error("`{0}` is not a time zone; expected an IANA name such as UTC or Europe/Paris")]
    Zone(String),
}

impl Schedule {
    /// Enqueues `job` at every tick of `pattern` (UTC unless [`Schedule::time_zone`] says
    /// otherwise). `name` identifies the schedule across workers.
    pub fn new(
        name: impl Into<String>,
        pattern: &str,
        job: NewJob,
    ) -> Result<Schedule, ScheduleError> {
        let cron = Cron::from_str(pattern).map_err(|e| ScheduleError::Pattern {
            pattern: pattern.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Schedule {
            name: name.into(),
            pattern: pattern.to_owned(),
            cron,
            zone: Tz::UTC,
            job,
        })
    }

    /// Reads the pattern in the time zone `zone` (an IANA name).
    pub fn time_zone(mut self, zone: &str) -> Result<Schedule, ScheduleError> {
        self.zone = zone
            .parse()
            .map_err(|_| ScheduleError::Zone(zone.to_owned()))?;
        Ok(self)
    }

    /// The schedule's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The job each tick enqueues.
    pub fn job(&self) -> &NewJob {
        &self.job
    }

    /// The schedule as workers report it to the store's registry.
    pub fn info(&self) -> ScheduleInfo {
        ScheduleInfo {
            name: self.name.clone(),
            cron: self.pattern.clone(),
            timezone: self.zone.name().to_owned(),
            job: self.job.clone(),
        }
    }

    /// The latest tick at or before `now`.
    pub fn latest_tick(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&now.with_timezone(&self.zone), true)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The first tick after `after`.
    pub fn next_tick(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&after.with_timezone(&self.zone), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::Value;

    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn ticks_follow_the_pattern_in_its_time_zone() {
        let daily = Schedule::new("report", "0 3 * * *", NewJob::new("report", Value::Null))
            .and_then(|s| s.time_zone("Europe/Paris"))
            .expect("valid schedule");
        // 03:00 in Paris is 02:00 UTC in winter and 01:00 UTC in summer.
        assert_eq!(
            daily.next_tick(utc(2030, 1, 10, 12, 0)),
            Some(utc(2030, 1, 11, 2, 0))
        );
        assert_eq!(
            daily.next_tick(utc(2030, 7, 10, 12, 0)),
            Some(utc(2030, 7, 11, 1, 0))
        );
        assert_eq!(
            daily.latest_tick(utc(2030, 1, 11, 2, 0)),
            Some(utc(2030, 1, 11, 2, 0))
        );
        assert_eq!(
            daily.latest_tick(utc(2030, 1, 11, 1, 59)),
            Some(utc(2030, 1, 10, 2, 0))
        );
    }

    #[test]
    fn bad_patterns_and_zones_say_what_is_expected() {
        let err = Schedule::new("x", "every day", NewJob::new("k", Value::Null))
            .expect_err("bad pattern");
        assert!(err.to_string().contains("expected five fields"), "{err}");
        let err = Schedule::new("x", "@hourly", NewJob::new("k", Value::Null))
            .and_then(|s| s.time_zone("Mars/Olympus"))
            .expect_err("bad zone");
        assert!(err.to_string().contains("IANA"), "{err}");
    }
}
