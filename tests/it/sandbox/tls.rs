//! The fault server's TLS: the test certificate authority and server certificate of
//! `fixtures/tls/` (see its README), with rustls and its `ring` provider.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// `fixtures/tls/ca.pem`: the test certificate authority that signed the TLS fault server's
/// certificate (for `localhost` and 127.0.0.1); a client must trust it to reach that server.
pub fn test_ca() -> PathBuf {
    super::root().join("fixtures/tls/ca.pem")
}

/// The server side: `server.pem` (leaf and CA) and `server.key`.
pub(super) fn server_config() -> Arc<ServerConfig> {
    let dir = super::root().join("fixtures/tls");
    let chain = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .expect("fixtures/tls/server.pem");
    let key =
        PrivateKeyDer::from_pem_file(dir.join("server.key")).expect("fixtures/tls/server.key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("the fixture certificate and key match");
    Arc::new(config)
}
