//! Trust for `wss://` URLs: the webpki roots (Mozilla's list, compiled in,
//! so a container without a CA bundle connects too) unless
//! [`ConnectOptions::tls_roots`] names others; rustls with the `ring`
//! provider.

use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

use super::{ClientError, ConnectOptions};

/// The default trust anchors: the webpki roots.
pub fn webpki_roots() -> RootCertStore {
    webpki_roots::TLS_SERVER_ROOTS.iter().cloned().collect()
}

/// The TLS client configuration for `options` (the default one is built once).
pub(super) fn client_config(options: &ConnectOptions) -> Result<Arc<ClientConfig>, ClientError> {
    static DEFAULT: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    match &options.tls_roots {
        Some(roots) => build(roots.clone()),
        None => {
            if let Some(config) = DEFAULT.get() {
                return Ok(config.clone());
            }
            let config = build(Arc::new(webpki_roots()))?;
            Ok(DEFAULT.get_or_init(|| config).clone())
        }
    }
}

fn build(roots: Arc<RootCertStore>) -> Result<Arc<ClientConfig>, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

impl ConnectOptions {
    /// Also trusts the certificates in `pem` (a private CA, or a server's
    /// self-signed certificate) for `wss://`, on top of the roots trusted so
    /// far (the webpki roots by default).
    pub fn trust_pem(mut self, pem: &[u8]) -> Result<Self, ClientError> {
        let mut roots = match self.tls_roots.take() {
            Some(roots) => (*roots).clone(),
            None => webpki_roots(),
        };
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| ClientError::Tls(format!("trusted PEM: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| ClientError::Tls(format!("trusted PEM: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(ClientError::Tls(
                "trusted PEM: no certificate (BEGIN CERTIFICATE) in it".into(),
            ));
        }
        self.tls_roots = Some(Arc::new(roots));
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_without_a_certificate_is_refused() {
        let options = ConnectOptions::player("p");
        assert!(options.clone().trust_pem(b"not pem").is_err());
        assert!(
            options
                .trust_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .is_err()
        );
    }

    #[test]
    fn the_default_roots_are_the_webpki_list() {
        assert!(webpki_roots().len() > 50);
        let options = ConnectOptions::player("p");
        assert!(client_config(&options).is_ok());
    }
}
