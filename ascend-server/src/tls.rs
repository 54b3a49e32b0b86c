//! TLS serving: the certificate chain and private key (PEM files) that `ascend serve --tls-cert
//! --tls-key` loads, turned into a rustls server configuration (TLS 1.2 and 1.3, the `ring`
//! provider the rest of the workspace uses, ALPN `http/1.1`).
//!
//! Certificates are read once at start; rotating them means restarting the process (replicas
//! behind a load balancer restart one at a time).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result};

/// Where the server's certificate chain and private key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM file: the server certificate first, then any intermediates.
    pub cert: PathBuf,
    /// PEM file: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl TlsFiles {
    /// Both files, or neither; one without the other is a configuration error.
    pub fn pair(cert: Option<PathBuf>, key: Option<PathBuf>) -> Result<Option<Self>> {
        match (cert, key) {
            (Some(cert), Some(key)) => Ok(Some(Self { cert, key })),
            (None, None) => Ok(None),
            (Some(_), None) => Err(Error::Config(
                "tls_cert is set but tls_key is not: TLS needs both".into(),
            )),
            (None, Some(_)) => Err(Error::Config(
                "tls_key is set but tls_cert is not: TLS needs both".into(),
            )),
        }
    }

    /// Read both files into a server configuration; every failure names the file and the
    /// reason (unreadable, no certificate, no key, key not matching the certificate).
    pub fn load(&self) -> Result<Arc<rustls::ServerConfig>> {
        let chain = read_certificates(&self.cert)?;
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| pem_error(&self.key, "a private key", &e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("TLS set-up failed: {e}")))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| {
                Error::Config(format!(
                    "TLS: {} and {} do not make a usable certificate and key: {e}",
                    self.cert.display(),
                    self.key.display()
                ))
            })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// Every PEM certificate of a file (at least one).
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, "certificates", &e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, "certificates", &e))?;
    if chain.is_empty() {
        return Err(Error::Config(format!(
            "TLS: {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(chain)
}

fn pem_error(path: &Path, what: &str, e: &rustls::pki_types::pem::Error) -> Error {
    use rustls::pki_types::pem::Error as Pem;
    let why = match e {
        Pem::NoItemsFound => "no PEM item of that kind".to_owned(),
        Pem::Io(io) => io.to_string(),
        other => format!("{other:?}"),
    };
    Error::Config(format!(
        "TLS: cannot read {what} from {}: {why}",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/tls")
            .join(name)
    }

    #[test]
    fn a_certificate_and_its_key_load() {
        let files = TlsFiles {
            cert: data("server.pem"),
            key: data("server.key"),
        };
        let config = files.load().expect("loads");
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn bad_files_are_named_in_the_error() {
        let missing = TlsFiles {
            cert: data("nope.pem"),
            key: data("server.key"),
        };
        let e = missing.load().unwrap_err().to_string();
        assert!(e.contains("nope.pem"), "{e}");

        let key_as_cert = TlsFiles {
            cert: data("server.key"),
            key: data("server.key"),
        };
        let e = key_as_cert.load().unwrap_err().to_string();
        assert!(e.contains("no PEM"), "{e}");

        let cert_as_key = TlsFiles {
            cert: data("server.pem"),
            key: data("server.pem"),
        };
        let e = cert_as_key.load().unwrap_err().to_string();
        assert!(e.contains("private key"), "{e}");

        let mismatch = TlsFiles {
            cert: data("server.pem"),
            key: data("other.key"),
        };
        let e = mismatch.load().unwrap_err().to_string();
        assert!(e.contains("do not make a usable"), "{e}");
    }

    #[test]
    fn one_file_without_the_other_is_refused() {
        assert!(TlsFiles::pair(Some("c".into()), None).is_err());
        assert!(TlsFiles::pair(None, Some("k".into())).is_err());
        assert_eq!(TlsFiles::pair(None, None).unwrap(), None);
    }
}
