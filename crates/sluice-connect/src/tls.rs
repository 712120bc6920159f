//! TLS, on both ends. [`ServerTls`] secures a listener (the `http` source, the admin server)
//! with a certificate and key, and optionally asks every client for a certificate signed by a
//! CA of its own. [`ClientTls`] secures a connection to a service (Redis, NATS, RabbitMQ,
//! Kafka): the CA that signed the server's certificate, when it is not one the system trusts,
//! and a client certificate when the server asks for one. Files are PEM.
//!
//! ```yaml
//! tls: { cert_file: /etc/sluice/server.pem, key_file: /etc/sluice/server.key }
//! tls: { ca_file: /etc/sluice/ca.pem, cert_file: client.pem, key_file: client.key }
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// TLS to a service; see the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTls {
    /// The CA certificates that may sign the server's certificate. Defaults to the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// This client's certificate, for a server that asks for one. Needs `key_file`.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// The private key of `cert_file`.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

/// A client certificate and its key, as PEM.
#[derive(Clone)]
pub struct Identity {
    /// The certificate chain.
    pub cert: Vec<u8>,
    /// The private key.
    pub key: Vec<u8>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identity { key: *** }")
    }
}

impl ClientTls {
    /// Why these settings cannot be used (a file missing, a certificate without its key), if
    /// they cannot.
    pub fn check(&self) -> Result<(), String> {
        self.ca()?;
        self.identity()?;
        Ok(())
    }

    /// The CA certificates, as PEM, if a file names them.
    pub fn ca(&self) -> Result<Option<Vec<u8>>, String> {
        self.ca_file
            .as_deref()
            .map(|path| read("ca_file", path))
            .transpose()
    }

    /// The client certificate and key, if given.
    pub fn identity(&self) -> Result<Option<Identity>, String> {
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Ok(Some(Identity {
                cert: read("cert_file", cert)?,
                key: read("key_file", key)?,
            })),
            (None, None) => Ok(None),
            (Some(_), None) => Err("`cert_file` needs `key_file`, its private key".to_owned()),
            (None, Some(_)) => Err("`key_file` needs `cert_file`, its certificate".to_owned()),
        }
    }
}

/// TLS on a listener; see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    /// The server's certificate chain.
    pub cert_file: PathBuf,
    /// Its private key.
    pub key_file: PathBuf,
    /// When set, every client must present a certificate signed by one of these CAs.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

#[cfg(feature = "http")]
impl ServerTls {
    /// The acceptor that performs the handshakes, or why the files cannot make one.
    pub fn acceptor(&self) -> Result<tokio_rustls::TlsAcceptor, String> {
        use std::sync::Arc;

        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};

        install_provider();
        let certs = |option: &str, path: &Path| {
            CertificateDer::pem_slice_iter(&read(option, path)?)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("`{option}` {}: {e}", path.display()))
        };
        let chain = certs("cert_file", &self.cert_file)?;
        if chain.is_empty() {
            return Err(format!(
                "`cert_file` {} holds no PEM certificate",
                self.cert_file.display()
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(&read("key_file", &self.key_file)?)
            .map_err(|e| format!("`key_file` {}: {e}", self.key_file.display()))?;
        let builder = rustls::ServerConfig::builder();
        let builder = match &self.client_ca_file {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in certs("client_ca_file", path)? {
                    roots
                        .add(cert)
                        .map_err(|e| format!("`client_ca_file` {}: {e}", path.display()))?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                    .build()
                    .map_err(|e| format!("`client_ca_file` {}: {e}", path.display()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| format!("`cert_file` and `key_file` do not make a pair: {e}"))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

/// Installs the process-wide TLS provider (ring), unless one is installed already.
pub fn install_provider() {
    // Either this call installs it or an earlier one did: both are fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn read(option: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read `{option}` {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_without_its_key_is_refused_with_what_to_add() {
        let tls = ClientTls {
            cert_file: Some("client.pem".into()),
            ..ClientTls::default()
        };
        assert_eq!(
            tls.check(),
            Err("`cert_file` needs `key_file`, its private key".to_owned())
        );
    }

    #[test]
    fn a_missing_file_is_named_with_its_option() {
        let tls = ClientTls {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..ClientTls::default()
        };
        let err = tls.check().expect_err("no such file");
        assert!(
            err.starts_with("cannot read `ca_file` /nonexistent/ca.pem"),
            "{err}"
        );
    }

    #[cfg(feature = "http")]
    #[test]
    fn a_server_certificate_that_is_not_pem_is_refused() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, "not a certificate").expect("write");
        std::fs::write(&key, "not a key").expect("write");
        let tls = ServerTls {
            cert_file: cert,
            key_file: key,
            client_ca_file: None,
        };
        let err = tls.acceptor().err().expect("not PEM");
        assert!(err.contains("holds no PEM certificate"), "{err}");
    }
}
