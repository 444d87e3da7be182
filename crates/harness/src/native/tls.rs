//! A certificate authority made for one run, and the certificates its servers present.
//!
//! Made with the `openssl` command line (Debian's `openssl`, which `ci/setup` installs): an
//! ECDSA P-256 CA valid for two days, a server certificate it signs for every address the
//! run's servers listen on (both `serverAuth` and `clientAuth`: the brokers present it to each
//! other's controller listener too), and a client certificate (`clientAuth` only) the run's
//! ClickHouse clients show. Keys are unencrypted PKCS#8 files of mode 0600 in the run's
//! directory, which is removed with the run. Nothing here is meant to outlive a run.

use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Result};

/// The subject of the servers' certificate: the principal their TLS connections carry
/// (`User:CN=evbench-server` in Kafka's ACLs).
pub const SERVER_SUBJECT: &str = "CN=evbench-server";

/// The subject of the clients' certificate (ClickHouse asks every client for one in a secured
/// run).
pub const CLIENT_SUBJECT: &str = "CN=evbench-client";

/// The files a run's TLS needs.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA certificate (PEM): what clients trust.
    pub ca: PathBuf,
    /// The servers' private key (PKCS#8 PEM).
    pub server_key: PathBuf,
    /// The servers' certificate (PEM).
    pub server_certificate: PathBuf,
    /// Key and certificate in one PEM file (Kafka's `ssl.keystore.type=PEM` form).
    pub server_keystore: PathBuf,
    /// The clients' certificate (PEM; `clientAuth` only), shown to servers that require one.
    pub client_certificate: PathBuf,
    /// Its private key (PKCS#8 PEM).
    pub client_key: PathBuf,
}

impl TlsFiles {
    /// Makes a new CA, a server certificate for `addresses` (and `localhost`) and a client
    /// certificate, in `dir`.
    pub fn create(dir: &Path, addresses: &[Ipv4Addr]) -> Result<TlsFiles> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create the TLS directory", e))?;
        let files = TlsFiles {
            ca: dir.join("ca.pem"),
            server_key: dir.join("server.key"),
            server_certificate: dir.join("server.pem"),
            server_keystore: dir.join("server-keystore.pem"),
            client_certificate: dir.join("client.pem"),
            client_key: dir.join("client.key"),
        };
        let ca_key = dir.join("ca.key");
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=evbench run CA",
            "-keyout",
            path(&ca_key),
            "-out",
            path(&files.ca),
        ])?;
        let ca = (files.ca.as_path(), ca_key.as_path());
        sign(
            dir,
            ca,
            SERVER_SUBJECT,
            &server_extensions(addresses),
            (&files.server_certificate, &files.server_key),
        )?;
        sign(
            dir,
            ca,
            CLIENT_SUBJECT,
            "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
            (&files.client_certificate, &files.client_key),
        )?;
        let key = std::fs::read_to_string(&files.server_key)
            .map_err(|e| Error::io("read the server key", e))?;
        let certificate = std::fs::read_to_string(&files.server_certificate)
            .map_err(|e| Error::io("read the server certificate", e))?;
        std::fs::write(&files.server_keystore, format!("{key}{certificate}"))
            .map_err(|e| Error::io("write the server keystore", e))?;
        for secret in [
            &ca_key,
            &files.server_key,
            &files.server_keystore,
            &files.client_key,
        ] {
            std::fs::set_permissions(secret, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| Error::io("restrict a key file to its owner", e))?;
        }
        Ok(files)
    }
}

/// A new key and a certificate for `subject` with `extensions`, signed by the CA
/// (`(certificate, key)`), written to `(certificate, key)`.
fn sign(
    dir: &Path,
    (ca, ca_key): (&Path, &Path),
    subject: &str,
    extensions: &str,
    (certificate, key): (&Path, &Path),
) -> Result<()> {
    let request = certificate.with_extension("csr");
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        &format!("/{subject}"),
        "-keyout",
        path(key),
        "-out",
        path(&request),
    ])?;
    let extensions_file = certificate.with_extension("ext");
    std::fs::write(&extensions_file, extensions)
        .map_err(|e| Error::io("write the certificate's extensions", e))?;
    openssl(&[
        "x509",
        "-req",
        "-days",
        "2",
        "-in",
        path(&request),
        "-CA",
        path(ca),
        "-CAkey",
        path(ca_key),
        "-CAcreateserial",
        "-CAserial",
        path(&dir.join("ca.srl")),
        "-extfile",
        path(&extensions_file),
        "-out",
        path(certificate),
    ])
}

/// The server certificate's extensions: every address as a subject alternative name (clients
/// verify the address they dialled), for servers and for clients.
fn server_extensions(addresses: &[Ipv4Addr]) -> String {
    let mut names = vec!["DNS:localhost".to_owned(), "IP:127.0.0.1".to_owned()];
    for address in addresses {
        let name = format!("IP:{address}");
        if !names.contains(&name) {
            names.push(name);
        }
    }
    format!(
        "subjectAltName={}\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n",
        names.join(",")
    )
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

fn openssl(args: &[&str]) -> Result<()> {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotOnPath {
                program: "openssl",
                hint: "a secured run makes its certificates with it; ci/setup installs it",
            },
            _ => Error::io("run openssl", e),
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(Error::ServerExited {
        name: format!("openssl {}", args.first().copied().unwrap_or_default()),
        status: output.status.to_string(),
        log_tail: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_address_is_a_subject_alternative_name_once() {
        let text = server_extensions(&[
            Ipv4Addr::new(198, 18, 7, 10),
            Ipv4Addr::LOCALHOST,
            Ipv4Addr::new(198, 18, 7, 10),
        ]);
        assert!(
            text.starts_with("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:198.18.7.10\n"),
            "{text}"
        );
        assert!(text.contains("extendedKeyUsage=serverAuth,clientAuth"));
    }

    #[test]
    fn the_ca_signs_a_certificate_openssl_verifies_and_keys_stay_private() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles::create(dir.path(), &[Ipv4Addr::new(198, 18, 7, 10)]).unwrap();
        let verified = Command::new("openssl")
            .args([
                "verify",
                "-CAfile",
                path(&files.ca),
                path(&files.server_certificate),
            ])
            .output()
            .unwrap();
        assert!(verified.status.success(), "{verified:?}");
        let client = Command::new("openssl")
            .args([
                "verify",
                "-CAfile",
                path(&files.ca),
                "-purpose",
                "sslclient",
                path(&files.client_certificate),
            ])
            .output()
            .unwrap();
        assert!(client.status.success(), "{client:?}");
        let client_key_mode = std::fs::metadata(&files.client_key)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(client_key_mode & 0o077, 0);
        let text = Command::new("openssl")
            .args([
                "x509",
                "-noout",
                "-text",
                "-in",
                path(&files.server_certificate),
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("IP Address:198.18.7.10"), "{text}");
        assert!(text.contains("CN = evbench-server") || text.contains("CN=evbench-server"));
        let mode = std::fs::metadata(&files.server_keystore)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the keystore is readable by others: {mode:o}"
        );
        let keystore = std::fs::read_to_string(&files.server_keystore).unwrap();
        assert!(
            keystore.starts_with("-----BEGIN PRIVATE KEY-----"),
            "not PKCS#8"
        );
        assert!(keystore.contains("-----BEGIN CERTIFICATE-----"));
    }
}
