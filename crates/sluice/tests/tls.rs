//! TLS to PostgreSQL, against a server of the test's own that refuses connections without TLS
//! and whose certificate a certificate authority of the test's own signed: the `postgres` sink
//! and the PostgreSQL job store connect with `sslmode=verify-full&sslrootcert=CA.crt`, and
//! refuse the server when they cannot verify it.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{PrivatePostgres, SLUICE, run, text, write};

fn jobs(store: &str, args: &[&str]) -> std::process::Output {
    Command::new(SLUICE)
        .args(["jobs", "--store", store])
        .args(args)
        .output()
        .expect("sluice runs")
}

#[test]
fn the_postgres_sink_and_job_store_speak_tls_to_a_server_that_requires_it() {
    let db = PrivatePostgres::start_tls();
    db.psql("CREATE TABLE seen (seq bigint NOT NULL)");
    let verified = format!("{}?sslmode=verify-full&sslrootcert={}", db.url(), db.ca());

    let dir = tempfile::tempdir().expect("tempdir");
    let pipeline = write(
        dir.path(),
        "tls.yaml",
        &format!(
            "sources:\n  numbers: {{ type: generator, count: 100 }}\n\
             sinks:\n  db: {{ type: postgres, inputs: [numbers], url: \"{verified}\", \
             table: seen, columns: {{ seq: seq }} }}\n"
        ),
    );
    let out = run(&pipeline, Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(db.psql("SELECT count(*) FROM seen").trim(), "100");

    let migrated = jobs(&verified, &["migrate"]);
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    let enqueued = jobs(&verified, &["enqueue", "greet", "{\"name\": \"Ada\"}"]);
    assert!(enqueued.status.success(), "{}", text(&enqueued.stderr));
    let listed = jobs(&verified, &["list", "--json"]);
    assert!(
        text(&listed.stdout).contains("greet"),
        "{}",
        text(&listed.stdout)
    );

    // The server takes no connection without TLS.
    let plain = jobs(&format!("{}?sslmode=disable", db.url()), &["list"]);
    assert!(!plain.status.success());
    assert!(
        text(&plain.stderr).contains("pg_hba.conf"),
        "{}",
        text(&plain.stderr)
    );
    // A certificate that no trusted authority signed is refused.
    let untrusted = jobs(
        &format!(
            "{}?sslmode=verify-full&sslrootcert=/etc/ssl/certs/ca-certificates.crt",
            db.url()
        ),
        &["list"],
    );
    assert!(!untrusted.status.success(), "{}", text(&untrusted.stdout));
}
