//! Secrets in configuration files: a token or password written inline (usually as `${VAR}`,
//! from the environment) or read from a file (`token_file: /run/secrets/hook`). A [`Secret`]
//! never shows itself: its `Debug` and `Display` print `***`, so it cannot reach a log, an error
//! message or a dead-letter record by accident.

use std::fmt;
use std::path::Path;

use serde::Deserialize;

/// A secret string; see the [module docs](self).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps `text`.
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The secret given either inline or in a file (its content, without the final line
    /// break). `name` is the inline option's name (`token`); the file option is `{name}_file`.
    pub fn inline_or_file(
        inline: Option<&Secret>,
        file: Option<&Path>,
        name: &str,
    ) -> Result<Secret, String> {
        match (inline, file) {
            (Some(secret), None) => Ok(secret.clone()),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|text| Secret(text.trim_end_matches(['\r', '\n']).to_owned()))
                .map_err(|e| format!("cannot read `{name}_file` {}: {e}", path.display())),
            (Some(_), Some(_)) => Err(format!("give `{name}` or `{name}_file`, not both")),
            (None, None) => Err(format!(
                "no {name}: write `{name}: ${{VARIABLE}}` or `{name}_file: PATH`"
            )),
        }
    }

    /// Whether `other` is the secret, in time that does not depend on where they differ.
    pub fn matches(&self, other: &[u8]) -> bool {
        let mine = self.0.as_bytes();
        mine.len() == other.len()
            && mine
                .iter()
                .zip(other)
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_and_match_only_themselves() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret} {secret:?}"), "*** ***");
        assert!(secret.matches(b"hunter2"));
        assert!(!secret.matches(b"hunter3"));
        assert!(!secret.matches(b"hunter"));
    }

    #[test]
    fn a_secret_comes_inline_or_from_a_file_not_both() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        std::fs::write(&path, "from-file\n").expect("write");
        let inline = Secret::new("inline");
        assert_eq!(
            Secret::inline_or_file(None, Some(&path), "token").map(|s| s.0),
            Ok("from-file".to_owned())
        );
        assert!(Secret::inline_or_file(Some(&inline), Some(&path), "token").is_err());
        let missing = Secret::inline_or_file(None, None, "token").expect_err("none given");
        assert!(missing.contains("token_file"), "{missing}");
    }
}
