//! TLS: `--tls-cert` and `--tls-key` (PEM) make the relay serve https and wss itself, with
//! rustls and the `ring` provider.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

use crate::config::Config;

/// Why TLS could not be set up. Each names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate file {}: {source}", path.display())]
    Cert {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("the TLS certificate file {} holds no PEM certificate", path.display())]
    NoCert { path: PathBuf },
    #[error("cannot read a PEM private key from {}: {source}", path.display())]
    Key {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("the TLS certificate {} and key {} do not make a server configuration: {source}", cert.display(), key.display())]
    Config {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
}

/// The TLS acceptor the configuration asks for: `None` without `--tls-cert`.
///
/// # Errors
/// A file is missing or unreadable, holds no PEM certificate or key, or the key does not fit
/// the certificate.
pub fn from_config(config: &Config) -> Result<Option<TlsAcceptor>, TlsError> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => acceptor(cert, key).map(Some),
        _ => Ok(None),
    }
}

/// A TLS acceptor for the certificate chain in `cert` and the private key in `key`.
///
/// # Errors
/// As [`from_config`].
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Cert {
            path: cert.into(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCert { path: cert.into() });
    }
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
        path: key.into(),
        source,
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, private_key))
        .map_err(|source| TlsError::Config {
            cert: cert.into(),
            key: key.into(),
            source,
        })?;
    // HTTP/1.1 only: the WebSocket upgrade needs it.
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_invalid_files_are_named_in_the_error() {
        let err = acceptor(Path::new("/nonexistent/cert.pem"), Path::new("/x.pem"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");

        let dir = std::env::temp_dir().join(format!("courier-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let err = acceptor(&junk, &junk).err().unwrap();
        assert!(err.to_string().contains("junk.pem"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
