//! DescribeUserScramCredentials and AlterUserScramCredentials (KIP-554) against an
//! in-process server, at every advertised version: round trips, Kafka's error codes
//! per user, and that a credential set online then logs a SCRAM client in.

use crate::call;
use crate::live::{versions, NONE};
use crate::wire::{str_bytes, Client, InProcessServer};
use alter_user_scram_credentials_request::{ScramCredentialDeletion, ScramCredentialUpsertion};
use gregor::security::sasl::{Mechanism, SaslError, SaslSession, SaslStep};
use gregor::security::scram::{ScramCredential, ScramMechanism};
use gregor::security::scram_client::ScramClient;
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::*;
use std::num::NonZeroU32;

const SHA256: i8 = 1;
const SHA512: i8 = 2;
/// The password of the config-defined user `admin`.
const ADMIN_PASSWORD: &[u8] = b"admin-secret";

/// A server whose config defines `admin` (SCRAM-SHA-256, 4096 iterations).
fn setup() -> (InProcessServer, Client) {
    let admin = ScramCredential::generate(ScramMechanism::Sha256, ADMIN_PASSWORD, 4096).encode();
    let yaml = format!(
        "users:\n  - name: admin\n    scram_sha_256: {{ salt: \"{}\", iterations: {}, stored_key: \"{}\", server_key: \"{}\" }}\n",
        admin.salt, admin.iterations, admin.stored_key, admin.server_key
    );
    let server = InProcessServer::start_with(&yaml);
    let client = Client::connect(server.addr);
    (server, client)
}

/// What a Kafka admin client sends: the password salted on the client side.
fn upsertion(user: &str, mechanism: i8, iterations: i32, password: &[u8]) -> ScramCredentialUpsertion {
    let salt = format!("salt-of-{user}").into_bytes();
    let (algorithm, len) = match mechanism {
        SHA512 => (ring::pbkdf2::PBKDF2_HMAC_SHA512, 64),
        _ => (ring::pbkdf2::PBKDF2_HMAC_SHA256, 32),
    };
    let mut salted = vec![0u8; len];
    let rounds = NonZeroU32::new(iterations.max(1) as u32).unwrap();
    ring::pbkdf2::derive(algorithm, rounds, &salt, password, &mut salted);
    ScramCredentialUpsertion::default()
        .with_name(str_bytes(user))
        .with_mechanism(mechanism)
        .with_iterations(iterations)
        .with_salt(salt.into())
        .with_salted_password(salted.into())
}

fn deletion(user: &str, mechanism: i8) -> ScramCredentialDeletion {
    ScramCredentialDeletion::default().with_name(str_bytes(user)).with_mechanism(mechanism)
}

/// (user, error code, error message) per result.
fn alter(
    c: &mut Client,
    v: i16,
    deletions: Vec<ScramCredentialDeletion>,
    upsertions: Vec<ScramCredentialUpsertion>,
) -> Vec<(String, i16, String)> {
    let req = AlterUserScramCredentialsRequest::default().with_deletions(deletions).with_upsertions(upsertions);
    let r = call!(c, AlterUserScramCredentials, v, req);
    r.results
        .into_iter()
        .map(|x| (x.user.to_string(), x.error_code, x.error_message.map(|m| m.to_string()).unwrap_or_default()))
        .collect()
}

fn codes(results: &[(String, i16, String)]) -> Vec<(&str, i16)> {
    let mut out: Vec<(&str, i16)> = results.iter().map(|(u, code, _)| (u.as_str(), *code)).collect();
    out.sort();
    out
}

/// One described user: (user, error code, [(mechanism, iterations)]).
type Described = (String, i16, Vec<(i8, i32)>);

/// The results, sorted by user.
fn describe(c: &mut Client, v: i16, users: Option<&[&str]>) -> Vec<Described> {
    use describe_user_scram_credentials_request::UserName;
    let users = users.map(|u| u.iter().map(|n| UserName::default().with_name(str_bytes(n))).collect());
    let r = call!(c, DescribeUserScramCredentials, v, DescribeUserScramCredentialsRequest::default().with_users(users));
    assert_eq!(r.error_code, NONE);
    let mut out: Vec<_> = r
        .results
        .into_iter()
        .map(|x| {
            let infos = x.credential_infos.iter().map(|i| (i.mechanism, i.iterations)).collect();
            (x.user.to_string(), x.error_code, infos)
        })
        .collect();
    out.sort();
    out
}

/// A whole SCRAM login against the server's credential store, as the SASL layer runs it.
fn login(server: &InProcessServer, mech: ScramMechanism, user: &str, password: &[u8]) -> Result<String, SaslError> {
    let mut session = SaslSession::new(mech.mechanism(), server.security().credentials.clone());
    let mut client = ScramClient::new(mech, user, password);
    let SaslStep::Challenge(server_first) = session.step(&client.client_first())? else { panic!("no challenge") };
    let SaslStep::Done { user, token } = session.step(&client.client_final(&server_first)?)? else {
        panic!("not done after client-final")
    };
    client.verify_server_final(&token)?;
    Ok(user)
}

#[test]
fn upserted_credentials_are_described_and_log_in() {
    let (s, mut c) = setup();
    let v = *versions(ApiKey::DescribeUserScramCredentials).end();
    for va in versions(ApiKey::AlterUserScramCredentials) {
        let all = describe(&mut c, v, None);
        assert_eq!(all, [("admin".to_string(), NONE, vec![(SHA256, 4096)])], "alter v{va}");
        let r = alter(
            &mut c,
            va,
            vec![],
            vec![upsertion("alice", SHA256, 4096, b"a-pw"), upsertion("bob", SHA512, 8192, b"b-pw")],
        );
        assert_eq!(codes(&r), [("alice", NONE), ("bob", NONE)], "{r:?}");
        assert_eq!(
            describe(&mut c, v, Some(&[])),
            [
                ("admin".to_string(), NONE, vec![(SHA256, 4096)]),
                ("alice".to_string(), NONE, vec![(SHA256, 4096)]),
                ("bob".to_string(), NONE, vec![(SHA512, 8192)]),
            ],
            "an empty list describes everyone"
        );
        assert_eq!(describe(&mut c, v, Some(&["bob"])), [("bob".to_string(), NONE, vec![(SHA512, 8192)])]);

        let stored = s.security().credentials.lookup("bob", Mechanism::ScramSha512).expect("upserted online");
        assert_eq!(stored.iterations, 8192);
        assert_eq!(login(&s, ScramMechanism::Sha256, "alice", b"a-pw").unwrap(), "alice");
        assert_eq!(login(&s, ScramMechanism::Sha512, "bob", b"b-pw").unwrap(), "bob");
        assert_eq!(login(&s, ScramMechanism::Sha256, "admin", ADMIN_PASSWORD).unwrap(), "admin");
        assert!(login(&s, ScramMechanism::Sha512, "alice", b"a-pw").is_err(), "alice has no SHA-512 credential");
        assert!(login(&s, ScramMechanism::Sha256, "alice", b"wrong").is_err());

        // a second mechanism for alice, then the first one removed
        assert_eq!(
            codes(&alter(&mut c, va, vec![], vec![upsertion("alice", SHA512, 4096, b"a-pw2")])),
            [("alice", NONE)]
        );
        assert_eq!(codes(&alter(&mut c, va, vec![deletion("alice", SHA256)], vec![])), [("alice", NONE)]);
        assert_eq!(describe(&mut c, v, Some(&["alice"])), [("alice".to_string(), NONE, vec![(SHA512, 4096)])]);
        assert!(login(&s, ScramMechanism::Sha256, "alice", b"a-pw").is_err());
        assert_eq!(login(&s, ScramMechanism::Sha512, "alice", b"a-pw2").unwrap(), "alice");

        // back to the start for the next version
        let r = alter(&mut c, va, vec![deletion("alice", SHA512), deletion("bob", SHA512)], vec![]);
        assert_eq!(codes(&r), [("alice", NONE), ("bob", NONE)]);
    }
}

#[test]
fn describe_errors_per_user() {
    let (_s, mut c) = setup();
    for v in versions(ApiKey::DescribeUserScramCredentials) {
        let r = describe(&mut c, v, Some(&["ghost", "admin", "admin"]));
        assert_eq!(
            r,
            [
                ("admin".to_string(), E::DuplicateResource.code(), vec![]),
                ("ghost".to_string(), E::ResourceNotFound.code(), vec![]),
            ],
            "v{v}"
        );
    }
}

#[test]
fn alter_errors_per_user() {
    let (s, mut c) = setup();
    for v in versions(ApiKey::AlterUserScramCredentials) {
        assert_eq!(codes(&alter(&mut c, v, vec![], vec![upsertion("twice", SHA256, 4096, b"pw")])), [("twice", NONE)]);
        let r = alter(
            &mut c,
            v,
            vec![deletion("missing", SHA256), deletion("admin", SHA256), deletion("twice", SHA256)],
            vec![
                upsertion("few", SHA256, 4095, b"pw"),
                upsertion("many", SHA512, 16385, b"pw"),
                upsertion("mech0", 0, 4096, b"pw"),
                upsertion("", SHA256, 4096, b"pw"),
                upsertion("twice", SHA512, 4096, b"pw"),
                upsertion("both", SHA256, 4096, b"pw"),
                upsertion("both", SHA512, 4096, b"pw"),
                upsertion("ok", SHA512, 16384, b"pw"),
            ],
        );
        assert_eq!(
            codes(&r),
            [
                ("", E::UnacceptableCredential.code()),
                ("admin", E::UnacceptableCredential.code()),
                ("both", E::DuplicateResource.code()),
                ("few", E::UnacceptableCredential.code()),
                ("many", E::UnacceptableCredential.code()),
                ("mech0", E::UnsupportedSaslMechanism.code()),
                ("missing", E::ResourceNotFound.code()),
                ("ok", NONE),
                ("twice", E::DuplicateResource.code()),
            ],
            "v{v}"
        );
        let admin = &r.iter().find(|(u, _, _)| u == "admin").unwrap().2;
        assert!(admin.contains("config file"), "v{v}: {admin}");
        assert!(s.security().credentials.lookup("both", Mechanism::ScramSha256).is_none(), "duplicates change nothing");
        // the config user is untouched and `ok` went through beside the failures
        assert_eq!(login(&s, ScramMechanism::Sha256, "admin", ADMIN_PASSWORD).unwrap(), "admin");
        assert_eq!(login(&s, ScramMechanism::Sha512, "ok", b"pw").unwrap(), "ok");
        assert_eq!(login(&s, ScramMechanism::Sha256, "twice", b"pw").unwrap(), "twice", "a duplicate deletes nothing");
        let cleanup = alter(&mut c, v, vec![deletion("ok", SHA512), deletion("twice", SHA256)], vec![]);
        assert_eq!(codes(&cleanup), [("ok", NONE), ("twice", NONE)]);
    }
}
