//! A secured run's ClickHouse: HTTPS only with the run's certificate, a client certificate of
//! the run's CA required, and a password on its administrative user `default`. A client without
//! the password (or with a wrong one), one speaking plaintext to the HTTPS port, one that does
//! not trust the run's CA, and one with the password but no client certificate are refused; the
//! harness's own endpoint gets in (so no refusal comes from a broken setup).

use std::net::Ipv4Addr;

use endpoints::clickhouse_tls::ClientCertificate;
use endpoints::{ClickHouseTls, Secret, client_for};
use harness::{NativeClickHouse, Placement, TlsFiles};

#[tokio::test(flavor = "multi_thread")]
async fn https_only_and_the_administrative_user_needs_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let tls = TlsFiles::create(&dir.path().join("tls"), &[Ipv4Addr::LOCALHOST]).unwrap();
    let password = Secret::new("a-run-s-admin-password");
    let server =
        NativeClickHouse::start_secured(dir.path(), &Placement::loopback(), &password, Some(&tls))
            .await
            .expect("a ClickHouse server on HTTPS with a password for default starts");
    let endpoint = server.endpoint();
    assert!(endpoint.url.starts_with("https://"), "{}", endpoint.url);
    assert_eq!(endpoint.password, password, "the harness logs in with it");
    assert_eq!(
        endpoint.tls.as_ref().and_then(ClickHouseTls::ca_file),
        Some(tls.ca.as_path()),
        "the harness trusts the run's CA"
    );
    assert_eq!(
        endpoint
            .tls
            .as_ref()
            .and_then(ClickHouseTls::client_certificate)
            .map(|c| &c.certificate),
        Some(&tls.client_certificate),
        "and shows the run's client certificate"
    );
    let answer: u8 = endpoint
        .client()
        .query("SELECT 1")
        .fetch_one()
        .await
        .expect("the password over TLS gets in");
    assert_eq!(answer, 1);

    // Wrong credentials, over TLS: ClickHouse itself refuses them.
    for (who, attempt) in [
        ("no password", Secret::default()),
        ("a wrong password", Secret::new("guessed")),
    ] {
        let refused = endpoint
            .client_as("default", &attempt)
            .query("SELECT 1")
            .fetch_one::<u8>()
            .await
            .expect_err(who);
        let text = refused.to_string();
        assert!(
            [
                "Password required",
                "Wrong password",
                "Authentication failed"
            ]
            .iter()
            .any(|refusal| text.contains(refusal)),
            "{who}: {text}"
        );
        assert!(
            !text.contains(password.expose()),
            "the error shows the password"
        );
    }

    // The right password, but no TLS: the HTTPS port answers plaintext with nothing.
    let plaintext_url = endpoint.url.replacen("https://", "http://", 1);
    let plaintext = client_for(&plaintext_url, "default", &password, None, None)
        .query("SELECT 1")
        .fetch_one::<u8>()
        .await
        .expect_err("plaintext HTTP to the HTTPS port");
    assert!(
        !plaintext.to_string().contains(password.expose()),
        "{plaintext}"
    );

    // The right password over TLS, trusting the run's CA, but no client certificate: the
    // server ends the handshake.
    let no_certificate = ClickHouseTls::new(Some(&tls.ca), None).unwrap();
    client_for(
        &endpoint.url,
        "default",
        &password,
        None,
        Some(&no_certificate),
    )
    .query("SELECT 1")
    .fetch_one::<u8>()
    .await
    .expect_err("a client without a certificate");
    // A certificate of another CA is no better.
    let elsewhere = TlsFiles::create(&dir.path().join("other-ca"), &[Ipv4Addr::LOCALHOST]).unwrap();
    let foreign = ClickHouseTls::new(
        Some(&tls.ca),
        Some(ClientCertificate {
            certificate: elsewhere.client_certificate.clone(),
            key: elsewhere.client_key.clone(),
        }),
    )
    .unwrap();
    client_for(&endpoint.url, "default", &password, None, Some(&foreign))
        .query("SELECT 1")
        .fetch_one::<u8>()
        .await
        .expect_err("a client certificate of another CA");

    // The right password over TLS, but trusting only the system's CAs: the run's certificate
    // is not one of theirs, so the client refuses the server before it says anything.
    let system_only = ClickHouseTls::new(None, None).unwrap();
    let untrusted = client_for(
        &endpoint.url,
        "default",
        &password,
        None,
        Some(&system_only),
    )
    .query("SELECT 1")
    .fetch_one::<u8>()
    .await
    .expect_err("a server whose certificate the client does not trust");
    let text = format!("{untrusted:?}");
    assert!(
        text.contains("certificate") || text.contains("Certificate"),
        "{text}"
    );
}
