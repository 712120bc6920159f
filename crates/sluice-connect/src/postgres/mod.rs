//! PostgreSQL: the `postgres` sink and source, and the table of Kafka offsets it shares with the `kafka`
//! source for exactly-once delivery.

pub(crate) mod exactly_once;
mod sink;
mod source;
mod writer;

pub use sink::{OnConflict, PostgresSink};
pub use source::PostgresSource;

use std::path::{Path, PathBuf};

use sluice_core::BoxError;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// Checks that exactly one of `url` and `url_file` is given.
pub(crate) fn check_address(url: Option<&str>, url_file: Option<&Path>) -> Result<(), BoxError> {
    match (url, url_file) {
        (Some(_), Some(_)) => Err("give `url` or `url_file`, not both".into()),
        (None, None) => Err("no database: set `url` (such as \
                             `postgres://app:${PGPASSWORD}@db:5432/app`) or `url_file`"
            .into()),
        _ => Ok(()),
    }
}

/// A pool of at most `connections` connections to the database at `url` or in `url_file`,
/// connecting when first used.
pub(crate) fn pool(
    url: Option<&str>,
    url_file: Option<&PathBuf>,
    connections: u32,
) -> Result<PgPool, BoxError> {
    let url = match (url, url_file) {
        (Some(url), _) => url.to_owned(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read `url_file` {}: {e}", path.display()))?
            .trim()
            .to_owned(),
        (None, None) => return Err("no database address".into()),
    };
    // The address is not repeated in the error: it may hold a password.
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e: sqlx::Error| format!("the database address is not valid: {e}"))?;
    // A database that cannot be reached fails the attempt soon, for the retry policy to pace.
    Ok(PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect_lazy_with(options))
}

/// Whether a statement was refused for the events' data: a value the column cannot take, a
/// constraint broken, a row over a limit (SQLSTATE classes `22`, `23`, `54`), or a value that
/// could not be encoded. Trying again cannot help, so those events are refused. Every other
/// failure is about the database (unreachable, restarting, overloaded, a table or a grant not
/// there yet) and is waited out.
pub(crate) fn refused_for_data(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| ["22", "23", "54"].iter().any(|c| code.starts_with(c))),
        sqlx::Error::Encode(_) => true,
        _ => false,
    }
}

/// A quoted identifier; names are limited to letters, digits and `_` so that no quoting can be
/// escaped.
pub(crate) fn identifier(name: &str) -> Result<String, BoxError> {
    let plain = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        Ok(format!("\"{name}\""))
    } else {
        Err(format!(
            "`{name}` is not a plain name: use letters, digits and `_`, not starting with a digit"
        )
        .into())
    }
}

/// `name` or `schema.name`, quoted.
pub(crate) fn table_name(table: &str) -> Result<String, BoxError> {
    let parts: Vec<String> = table.split('.').map(identifier).collect::<Result<_, _>>()?;
    if parts.len() > 2 {
        return Err(format!("table `{table}`: write `name` or `schema.name`").into());
    }
    Ok(parts.join("."))
}

/// The keys of a field path: `.` is the whole event, `a.b` the field `b` of `a`.
pub(crate) fn field_path(path: &str) -> Result<Vec<String>, BoxError> {
    let path = path.trim();
    if path == "." {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = path
        .trim_start_matches('.')
        .split('.')
        .map(str::to_owned)
        .collect();
    if keys.iter().any(String::is_empty) {
        return Err(format!(
            "field `{path}`: write a field name (`total`), a nested one (`order.total`) or `.`"
        )
        .into());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_connections_are_waited_out() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(!refused_for_data(&sqlx::Error::Io(refused)));
        assert!(!refused_for_data(&sqlx::Error::PoolTimedOut));
        assert!(refused_for_data(&sqlx::Error::Encode(
            "not a number".into()
        )));
    }
}
