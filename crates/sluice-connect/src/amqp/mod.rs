//! RabbitMQ (AMQP 0-9-1): the `amqp` source (a queue with manual acknowledgements) and sink
//! (an exchange, with publisher confirms), and what they share: connecting, over TLS for an
//! `amqps://` address.

mod sink;
mod source;

pub use sink::AmqpSink;
pub use source::AmqpSource;

use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::{Connection, ConnectionProperties};
use sluice_core::BoxError;

use crate::tls::ClientTls;

/// Connects to the broker at `url`; an `amqps://` address verifies the broker with `tls`'s CA
/// (else the system's) and shows its client certificate, if any.
pub(crate) async fn connect(url: &str, tls: Option<&ClientTls>) -> Result<Connection, BoxError> {
    crate::tls::install_provider();
    let mut config = OwnedTLSConfig::default();
    if let Some(tls) = tls {
        if !url.starts_with("amqps://") {
            return Err("`tls` needs an `amqps://` address".into());
        }
        config.cert_chain = tls
            .ca()?
            .map(|pem| String::from_utf8_lossy(&pem).into_owned());
        config.identity = tls.identity()?.map(|identity| OwnedIdentity::PKCS8 {
            pem: identity.cert,
            key: identity.key,
        });
    }
    let runtime = lapin::runtime::default_runtime()?;
    Connection::connect_with_config(url, ConnectionProperties::default(), config, runtime)
        .await
        .map_err(|e| format!("cannot connect to the AMQP broker: {e}").into())
}
