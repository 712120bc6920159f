//! NATS JetStream: the `nats` source (a durable pull consumer) and sink (publishes that wait
//! for the stream's acknowledgement), and what they share: connecting without the password in
//! the address, which the client would otherwise log, and over TLS when asked.

mod sink;
mod source;

pub use sink::NatsSink;
pub use source::NatsSource;

use sluice_core::BoxError;

use crate::tls::ClientTls;

/// The address without its credentials, and the credentials: `nats://user:pass@host:4222`
/// gives `nats://host:4222` and `(user, Some(pass))`; `nats://token@host` gives the token as
/// the user and no password.
fn split_credentials(url: &str) -> (String, Option<(String, Option<String>)>) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return (url.to_owned(), None);
    };
    let address = if scheme.is_empty() {
        format!("{host}{path}")
    } else {
        format!("{scheme}://{host}{path}")
    };
    let credentials = match userinfo.split_once(':') {
        Some((user, password)) => (user.to_owned(), Some(password.to_owned())),
        None => (userinfo.to_owned(), None),
    };
    (address, Some(credentials))
}

/// Connects to the server at `url`, giving its credentials apart from the address; with `tls`,
/// over TLS only, verifying the server with its CA (else the system's) and showing its client
/// certificate, if any.
pub(crate) async fn connect(
    url: &str,
    tls: Option<&ClientTls>,
) -> Result<async_nats::Client, BoxError> {
    let (address, credentials) = split_credentials(url);
    let mut options = match credentials {
        None => async_nats::ConnectOptions::new(),
        Some((user, Some(password))) => {
            async_nats::ConnectOptions::with_user_and_password(user, password)
        }
        Some((token, None)) => async_nats::ConnectOptions::with_token(token),
    };
    if let Some(tls) = tls {
        crate::tls::install_provider();
        tls.check()?;
        options = options.require_tls(true);
        if let Some(ca) = &tls.ca_file {
            options = options.add_root_certificates(ca.clone());
        }
        if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
    }
    Ok(options.connect(address.as_str()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_taken_out_of_the_address() {
        assert_eq!(
            split_credentials("nats://user:p@ss@127.0.0.1:4222"),
            (
                "nats://127.0.0.1:4222".to_owned(),
                Some(("user".to_owned(), Some("p@ss".to_owned())))
            ),
            "the last @ ends the credentials"
        );
        assert_eq!(
            split_credentials("tls://t0ken@nats.internal"),
            (
                "tls://nats.internal".to_owned(),
                Some(("t0ken".to_owned(), None))
            )
        );
        assert_eq!(
            split_credentials("nats://127.0.0.1:4222"),
            ("nats://127.0.0.1:4222".to_owned(), None)
        );
    }
}
