//! TLS: with --tls-cert and --tls-key the relay serves wss itself; unusable files stop it at
//! start with an error that names the file.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::{Relay, WAIT};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_tungstenite::tungstenite::Message;

/// A fresh folder under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("courier-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn a_wss_client_that_trusts_the_certificate_is_welcomed() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = TempDir::new("tls");
    let (cert_path, key_path) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    std::fs::write(&cert_path, certified.cert.pem()).unwrap();
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).unwrap();
    let relay = Relay::start_with(|c| {
        c.tls_cert = Some(cert_path.clone());
        c.tls_key = Some(key_path.clone());
    })
    .await;

    let mut roots = RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(relay.addr).await.unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake with the relay");
    let url = format!("wss://localhost:{}/ws", relay.addr.port());
    let (mut ws, response) = tokio_tungstenite::client_async(url, tls).await.unwrap();
    assert_eq!(response.status(), 101);
    ws.send(Message::text(
        json!({"type":"hello","name":"alice"}).to_string(),
    ))
    .await
    .unwrap();
    let frame = tokio::time::timeout(WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let welcome: Value = serde_json::from_str(frame.to_text().unwrap()).unwrap();
    assert_eq!(welcome["type"], "welcome", "{welcome}");

    // Plain http on the TLS port gets nowhere (the handshake fails), and the relay goes on.
    let tcp = tokio::net::TcpStream::connect(relay.addr).await.unwrap();
    assert!(
        tokio_tungstenite::client_async(format!("ws://{}/ws", relay.addr), tcp)
            .await
            .is_err()
    );
    relay.shutdown().await;
}

#[test]
fn unusable_certificate_or_key_files_stop_the_relay_with_their_path() {
    let dir = TempDir::new("badtls");
    let junk = dir.0.join("junk.pem");
    std::fs::write(&junk, "-----BEGIN NOTHING-----\n").unwrap();
    let missing = dir.0.join("missing-cert.pem");
    for (cert, key, named) in [(&missing, &junk, &missing), (&junk, &junk, &junk)] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_courier"))
            .args(["--listen", "127.0.0.1:0", "--static-dir", "/nonexistent"])
            .arg("--db")
            .arg(dir.0.join("courier.db"))
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&named.display().to_string()),
            "the error names {}: {stderr}",
            named.display()
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
