//! Redis streams: the `redis_stream` source (a consumer group) and sink (`XADD`), and what they
//! share: the client, over TLS for a `rediss://` address.

mod sink;
mod source;

pub use sink::RedisStreamSink;
pub use source::{RedisStreamSource, StreamStart};

use sluice_core::BoxError;

use crate::tls::ClientTls;

/// The client for `url`: with `tls`, whose certificates it verifies the server with and shows
/// it; a `rediss://` address without `tls` trusts the system's certificate authorities.
pub(crate) fn client(url: &str, tls: Option<&ClientTls>) -> Result<redis::Client, BoxError> {
    crate::tls::install_provider();
    let invalid = |e: redis::RedisError| format!("the Redis address is not valid: {e}");
    let Some(tls) = tls else {
        return Ok(redis::Client::open(url).map_err(invalid)?);
    };
    if !url.starts_with("rediss://") {
        return Err("`tls` needs a `rediss://` address".into());
    }
    let certificates = redis::TlsCertificates {
        client_tls: tls.identity()?.map(|identity| redis::ClientTlsConfig {
            client_cert: identity.cert,
            client_key: identity.key,
        }),
        root_cert: tls.ca()?,
    };
    Ok(redis::Client::build_with_tls(url, certificates).map_err(invalid)?)
}
