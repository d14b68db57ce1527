//! SaslHandshake and SaslAuthenticate against an in-process server with a PLAINTEXT
//! and a SASL_PLAINTEXT listener, at every advertised version: the exchange itself
//! (SCRAM and PLAIN), what a connection may do before and after it, failures that
//! close the connection, and KIP-368 re-authentication.

use crate::live::versions;
use crate::wire::{str_bytes, Client, InProcessServer};
use bytes::Bytes;
use gregor::security::scram::ScramMechanism;
use gregor::security::scram_client::ScramClient;
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::*;
use std::net::SocketAddr;
use std::time::Duration;

const PASSWORD: &str = "s3cret";

/// `reauth_ms`: `connections.max.reauth.ms` (0 = off).
fn setup(reauth_ms: i64) -> (InProcessServer, SocketAddr) {
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("alice.pw");
    std::fs::write(&password_file, PASSWORD).unwrap();
    let bob_file = dir.path().join("bob.pw");
    std::fs::write(&bob_file, "bobs-password").unwrap();
    let server = InProcessServer::start_custom(|yaml| {
        let sasl_listener = "  - name: SASL\n    bind: 127.0.0.1:0\n    security: sasl_plaintext\n    \
             sasl: { mechanisms: [SCRAM-SHA-256, SCRAM-SHA-512, PLAIN] }\nadmin:";
        yaml.replacen("admin:", sasl_listener, 1).replacen(
            "broker:\n",
            &format!(
                "broker:\n  connections.max.reauth.ms: {reauth_ms}\n  connection.failed.authentication.delay.ms: 0\n"
            ),
            1,
        ) + &format!(
            "users:\n  - name: alice\n    password_file: {:?}\n  - name: bob\n    password_file: {:?}\n",
            password_file.display().to_string(),
            bob_file.display().to_string()
        )
    });
    std::mem::forget(dir); // the password files are read at start; the temp dir is tiny
    let sasl = server.listeners.iter().find(|(n, _)| n == "SASL").expect("SASL listener").1;
    (server, sasl)
}

fn handshake(c: &mut Client, mechanism: &str) -> SaslHandshakeResponse {
    let req = SaslHandshakeRequest::default().with_mechanism(str_bytes(mechanism));
    match c.call(ApiKey::SaslHandshake, 1, RequestKind::SaslHandshake(req)) {
        ResponseKind::SaslHandshake(r) => r,
        other => panic!("{other:?}"),
    }
}

fn authenticate(c: &mut Client, v: i16, token: &[u8]) -> SaslAuthenticateResponse {
    let req = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(token));
    match c.call(ApiKey::SaslAuthenticate, v, RequestKind::SaslAuthenticate(req)) {
        ResponseKind::SaslAuthenticate(r) => r,
        other => panic!("{other:?}"),
    }
}

/// A whole SCRAM exchange; returns the final response.
fn scram_login(c: &mut Client, v: i16, mech: ScramMechanism, user: &str, password: &str) -> SaslAuthenticateResponse {
    assert_eq!(handshake(c, mech.name()).error_code, 0);
    let mut client = ScramClient::new(mech, user, password.as_bytes());
    let first = authenticate(c, v, &client.client_first());
    assert_eq!(first.error_code, 0, "{:?}", first.error_message);
    let last = authenticate(c, v, &client.client_final(&first.auth_bytes).expect("server-first"));
    if last.error_code == 0 {
        client.verify_server_final(&last.auth_bytes).expect("server signature");
    }
    last
}

fn metadata_works(c: &mut Client) -> bool {
    matches!(c.call(ApiKey::Metadata, 12, RequestKind::Metadata(MetadataRequest::default())), ResponseKind::Metadata(_))
}

fn closed(c: &mut Client) -> bool {
    c.set_read_timeout(Duration::from_secs(5));
    matches!(c.read_frame(), Ok(None) | Err(_))
}

#[test]
fn sasl_requests_on_a_plaintext_listener_are_illegal() {
    let (server, _) = setup(0);
    let mut c = Client::connect(server.addr);
    for v in versions(ApiKey::SaslHandshake) {
        let req = SaslHandshakeRequest::default().with_mechanism(str_bytes("PLAIN"));
        let ResponseKind::SaslHandshake(r) = c.call(ApiKey::SaslHandshake, v, RequestKind::SaslHandshake(req)) else {
            panic!()
        };
        assert_eq!(r.error_code, E::IllegalSaslState.code(), "v{v}");
    }
    for v in versions(ApiKey::SaslAuthenticate) {
        assert_eq!(authenticate(&mut c, v, b"\0alice\0s3cret").error_code, E::IllegalSaslState.code(), "v{v}");
    }
    assert!(metadata_works(&mut c), "the connection stays usable");
}

#[test]
fn scram_and_plain_log_in_at_every_version() {
    let (_server, sasl) = setup(0);
    for v in versions(ApiKey::SaslAuthenticate) {
        for mech in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
            let mut c = Client::connect(sasl);
            let r = scram_login(&mut c, v, mech, "alice", PASSWORD);
            assert_eq!(r.error_code, 0, "v{v} {mech:?}: {:?}", r.error_message);
            assert_eq!(r.session_lifetime_ms, 0, "no re-authentication configured");
            assert!(metadata_works(&mut c));
        }
        let mut c = Client::connect(sasl);
        let hs = handshake(&mut c, "PLAIN");
        assert_eq!(hs.error_code, 0);
        assert_eq!(hs.mechanisms.len(), 3);
        assert_eq!(authenticate(&mut c, v, b"\0alice\0s3cret").error_code, 0, "v{v} PLAIN");
        assert!(metadata_works(&mut c));
        // once authenticated, a second exchange is illegal (re-authentication is off)
        assert_eq!(handshake(&mut c, "PLAIN").error_code, E::IllegalSaslState.code());
        assert!(metadata_works(&mut c));
    }
}

#[test]
fn failures_answer_then_close() {
    let (_server, sasl) = setup(0);
    for v in versions(ApiKey::SaslAuthenticate) {
        let mut c = Client::connect(sasl);
        let r = scram_login(&mut c, v, ScramMechanism::Sha512, "alice", "wrong");
        assert_eq!(r.error_code, E::SaslAuthenticationFailed.code(), "v{v}");
        assert!(r.error_message.is_some());
        assert!(closed(&mut c), "v{v}: the connection must close");

        let mut c = Client::connect(sasl);
        assert_eq!(handshake(&mut c, "PLAIN").error_code, 0);
        let r = authenticate(&mut c, v, b"\0nobody\0s3cret");
        assert_eq!(r.error_code, E::SaslAuthenticationFailed.code(), "v{v}");
        assert!(closed(&mut c));
    }
    let mut c = Client::connect(sasl);
    let r = handshake(&mut c, "GSSAPI");
    assert_eq!(r.error_code, E::UnsupportedSaslMechanism.code());
    assert_eq!(r.mechanisms.len(), 3, "the enabled mechanisms are listed");
    assert!(closed(&mut c));
}

#[test]
fn nothing_but_api_versions_before_authentication() {
    let (_server, sasl) = setup(0);
    let mut c = Client::connect(sasl);
    let ResponseKind::ApiVersions(av) =
        c.call(ApiKey::ApiVersions, 3, RequestKind::ApiVersions(ApiVersionsRequest::default()))
    else {
        panic!()
    };
    assert_eq!(av.error_code, 0);
    c.send(ApiKey::Metadata, 12, &RequestKind::Metadata(MetadataRequest::default()));
    assert!(closed(&mut c), "Metadata before authentication must close the connection");

    let mut c = Client::connect(sasl);
    c.send(
        ApiKey::SaslAuthenticate,
        2,
        &RequestKind::SaslAuthenticate(SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"x"))),
    );
    assert!(closed(&mut c), "SaslAuthenticate without a handshake must close the connection");
}

#[test]
fn sessions_expire_unless_the_client_re_authenticates() {
    let (_server, sasl) = setup(400);
    let mut c = Client::connect(sasl);
    let r = scram_login(&mut c, 2, ScramMechanism::Sha512, "alice", PASSWORD);
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 400));
    std::thread::sleep(Duration::from_millis(250));
    // re-authentication on the same connection, same mechanism and user
    let r = scram_login(&mut c, 2, ScramMechanism::Sha512, "alice", PASSWORD);
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 400));
    std::thread::sleep(Duration::from_millis(250));
    assert!(metadata_works(&mut c), "the renewed session is still valid");
    std::thread::sleep(Duration::from_millis(300));
    c.send(ApiKey::Metadata, 12, &RequestKind::Metadata(MetadataRequest::default()));
    assert!(closed(&mut c), "an expired session must close at its next request");

    // re-authenticating as someone else is refused
    let mut c = Client::connect(sasl);
    assert_eq!(scram_login(&mut c, 2, ScramMechanism::Sha512, "alice", PASSWORD).error_code, 0);
    assert_eq!(handshake(&mut c, "SCRAM-SHA-512").error_code, 0);
    let mut bob = ScramClient::new(ScramMechanism::Sha512, "bob", b"bobs-password");
    let first = authenticate(&mut c, 2, &bob.client_first());
    c.send(
        ApiKey::SaslAuthenticate,
        2,
        &RequestKind::SaslAuthenticate(
            SaslAuthenticateRequest::default()
                .with_auth_bytes(Bytes::from(bob.client_final(&first.auth_bytes).unwrap())),
        ),
    );
    assert!(closed(&mut c), "a principal change on re-authentication must close the connection");

    // and so is another mechanism
    let mut c = Client::connect(sasl);
    assert_eq!(scram_login(&mut c, 1, ScramMechanism::Sha512, "alice", PASSWORD).error_code, 0);
    assert_eq!(handshake(&mut c, "PLAIN").error_code, E::UnsupportedSaslMechanism.code());
    assert!(closed(&mut c));
}

/// After SaslHandshake v0 the tokens travel bare: a size prefix and the token, no
/// request or response header (what Sarama does by default for PLAIN).
#[test]
fn handshake_v0_switches_to_bare_tokens() {
    let (_server, sasl) = setup(0);
    let bare = |c: &mut Client, token: &[u8]| {
        let mut frame = (token.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(token);
        c.send_raw(&frame);
    };
    let handshake_v0 = |c: &mut Client| {
        let req = SaslHandshakeRequest::default().with_mechanism(str_bytes("PLAIN"));
        let ResponseKind::SaslHandshake(r) = c.call(ApiKey::SaslHandshake, 0, RequestKind::SaslHandshake(req)) else {
            panic!()
        };
        assert_eq!(r.error_code, 0);
    };
    let mut c = Client::connect(sasl);
    handshake_v0(&mut c);
    bare(&mut c, b"\0alice\0s3cret");
    assert_eq!(c.read_frame().unwrap(), Some(Vec::new()), "PLAIN's final token is empty");
    assert!(metadata_works(&mut c), "after the bare exchange, requests are framed again");

    let mut c = Client::connect(sasl);
    handshake_v0(&mut c);
    bare(&mut c, b"\0alice\0wrong");
    assert!(closed(&mut c), "a failed bare exchange closes without an answer");
}
