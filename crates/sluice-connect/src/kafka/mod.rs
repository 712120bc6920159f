//! Kafka: the `kafka` source (a consumer group that commits only what is done) and sink (an
//! idempotent producer). With the `postgres` sink, Kafka → PostgreSQL is exactly once (see
//! [`crate::postgres`]). Both connect over TLS when given `tls` (librdkafka with OpenSSL).

mod offsets;
mod sink;
mod source;

pub use sink::KafkaSink;
pub use source::{ExactlyOnce, KafkaSource, KafkaStart};

use std::collections::BTreeMap;

use rdkafka::config::ClientConfig;

use crate::tls::ClientTls;

/// Adds what every Kafka client of Sluice is given to its own settings: the brokers, TLS when
/// asked, then the user's `options` (which may change any setting, `security.protocol:
/// sasl_ssl` say).
fn connection_settings(
    config: &mut ClientConfig,
    brokers: &str,
    tls: Option<&ClientTls>,
    options: &BTreeMap<String, String>,
) -> Result<(), String> {
    config.set("bootstrap.servers", brokers);
    if let Some(tls) = tls {
        tls.check()?;
        config.set("security.protocol", "ssl");
        let paths = [
            ("ssl.ca.location", &tls.ca_file),
            ("ssl.certificate.location", &tls.cert_file),
            ("ssl.key.location", &tls.key_file),
        ];
        for (key, path) in paths {
            if let Some(path) = path {
                config.set(key, path.to_string_lossy());
            }
        }
    }
    for (key, value) in options {
        config.set(key, value);
    }
    Ok(())
}
