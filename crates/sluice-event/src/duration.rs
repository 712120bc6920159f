//! Durations in configuration, written the human way: `250ms`, `10s`, `1m 30s`.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Deserializes a duration from text like `100ms` or `1h 30m` (a bare number is seconds).
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Seconds(s) => Ok(Duration::from_secs(s)),
        Raw::Text(text) => parse(&text).map_err(serde::de::Error::custom),
    }
}

/// Like [`deserialize`], for optional durations.
pub fn deserialize_option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    deserialize(deserializer).map(Some)
}

/// Parses `text` as a duration, with a message that says what is expected.
pub fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|_| {
        format!("`{text}` is not a duration; write it like `250ms`, `10s` or `1m 30s`")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_human_durations_and_explains_failures() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1m 30s"), Ok(Duration::from_secs(90)));
        let err = parse("10 parsecs").expect_err("not a unit");
        assert_eq!(
            err,
            "`10 parsecs` is not a duration; write it like `250ms`, `10s` or `1m 30s`"
        );
    }
}
