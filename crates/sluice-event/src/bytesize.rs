//! Byte sizes in configuration: `512`, `64KiB`, `10MiB`, `1GB`.

use serde::{Deserialize, Deserializer};

/// Deserializes a byte size from a number of bytes or text with a unit.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bytes(usize),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Bytes(n) => Ok(n),
        Raw::Text(text) => parse(&text).map_err(serde::de::Error::custom),
    }
}

/// Deserializes an optional byte size (`null` or absent: none).
pub fn deserialize_option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<usize>, D::Error> {
    #[derive(Deserialize)]
    struct Size(#[serde(deserialize_with = "deserialize")] usize);
    Ok(Option::<Size>::deserialize(deserializer)?.map(|s| s.0))
}

/// Parses `text` as a byte size.
pub fn parse(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "kib" | "k" => 1024.0,
        "mb" => 1e6,
        "mib" | "m" => 1024.0 * 1024.0,
        "gb" => 1e9,
        "gib" | "g" => 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "`{text}` is not a byte size; write it like `512`, `64KiB` or `10MiB`"
            ));
        }
    };
    let n: f64 = number.parse().map_err(|_| {
        format!("`{text}` is not a byte size; write it like `512`, `64KiB` or `10MiB`")
    })?;
    Ok((n * factor) as usize)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_units() {
        assert_eq!(parse("512"), Ok(512));
        assert_eq!(parse("64KiB"), Ok(65536));
        assert_eq!(parse("1.5 MB"), Ok(1_500_000));
        assert!(parse("ten MiB").is_err());
        assert!(parse("10 parsecs").is_err());
    }
}
