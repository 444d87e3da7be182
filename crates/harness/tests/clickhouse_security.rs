//! A secured run's ClickHouse: its administrative user `default` has a password, so a client
//! without it (or with a wrong one) is refused, and the harness's own endpoint gets in.

use endpoints::Secret;
use harness::{NativeClickHouse, Placement};

#[tokio::test(flavor = "multi_thread")]
async fn the_administrative_user_needs_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let password = Secret::new("a-run-s-admin-password");
    let server = NativeClickHouse::start_secured(dir.path(), &Placement::loopback(), &password)
        .await
        .expect("a ClickHouse server with a password for default starts");
    let endpoint = server.endpoint();
    assert_eq!(endpoint.password, password, "the harness logs in with it");
    let answer: u8 = endpoint
        .client()
        .query("SELECT 1")
        .fetch_one()
        .await
        .expect("the password gets in");
    assert_eq!(answer, 1);
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
}
