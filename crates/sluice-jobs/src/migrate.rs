//! Schema migrations: numbered SQL files per database, applied in order, each once, recorded in
//! `sluice_schema`.

/// One migration: its number and its SQL (statements separated by `;` at line ends).
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) sql: &'static str,
}

/// SQLite's migrations.
#[cfg(feature = "sqlite")]
pub(crate) const SQLITE: &[Migration] = &[Migration {
    version: 1,
    sql: include_str!("../migrations/sqlite/0001_jobs.sql"),
}];

/// PostgreSQL's migrations.
#[cfg(feature = "postgres")]
pub(crate) const POSTGRES: &[Migration] = &[Migration {
    version: 1,
    sql: include_str!("../migrations/postgres/0001_jobs.sql"),
}];

/// The statements of a migration, without comments.
pub(crate) fn statements(sql: &str) -> impl Iterator<Item = String> + '_ {
    sql.split(";\n")
        .map(|stmt| {
            stmt.lines()
                .filter(|line| !line.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
                .trim()
                .to_owned()
        })
        .filter(|stmt| !stmt.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_split_into_statements_without_comments() {
        let stmts: Vec<String> = statements(
            "-- a table\nCREATE TABLE t (a INT);\n\n-- an index\nCREATE INDEX i ON t (a);\n",
        )
        .collect();
        assert_eq!(
            stmts,
            vec!["CREATE TABLE t (a INT)", "CREATE INDEX i ON t (a)"]
        );
    }
}
