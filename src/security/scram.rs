//! SCRAM (RFC 5802, RFC 7677): stored credentials and the server side of one exchange.
//! Pure: no I/O, no clock; the caller looks credentials up and may inject the nonce.
//!
//! What gregor accepts, like Apache Kafka: no channel binding (`n` or `y` flag), an
//! authorization id only when it equals the user, no extensions (Kafka's `tokenauth`
//! would mean delegation tokens, which gregor does not issue). Passwords are used as
//! bytes without SASLprep, as Kafka does, so both sides derive the same keys.

use super::sasl::{Mechanism, SaslError, SaslStep};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac, pbkdf2};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::num::NonZeroU32;

/// RFC 7677's floor, and Kafka's: fewer iterations are refused everywhere.
pub const ITERATIONS_MIN: u32 = 4096;
/// Kafka's ceiling for AlterUserScramCredentials; gregor's CLI keeps to it too.
pub const ITERATIONS_MAX: u32 = 16384;
/// What gregor salts with when nobody says otherwise (password files, the CLI).
pub const ITERATIONS_DEFAULT: u32 = 8192;
/// Salts gregor generates.
pub const SALT_BYTES: usize = 32;
/// Random bytes behind the server's half of the nonce (hex on the wire).
const SERVER_NONCE_BYTES: usize = 24;
/// Bound on one client message: a user name and a nonce fit many times over.
pub const MESSAGE_BYTES_MAX: usize = 4096;

/// The SCRAM hash. Kafka numbers them on the wire (KIP-554): 1 and 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    pub fn from_mechanism(m: Mechanism) -> Option<ScramMechanism> {
        match m {
            Mechanism::ScramSha256 => Some(ScramMechanism::Sha256),
            Mechanism::ScramSha512 => Some(ScramMechanism::Sha512),
            Mechanism::Plain => None,
        }
    }

    pub fn mechanism(self) -> Mechanism {
        match self {
            ScramMechanism::Sha256 => Mechanism::ScramSha256,
            ScramMechanism::Sha512 => Mechanism::ScramSha512,
        }
    }

    pub fn name(self) -> &'static str {
        self.mechanism().name()
    }

    pub fn from_name(name: &str) -> Option<ScramMechanism> {
        Mechanism::from_name(name).and_then(ScramMechanism::from_mechanism)
    }

    /// Kafka's `ScramMechanism.type()` (0 is UNKNOWN).
    pub fn code(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    pub fn from_code(code: i8) -> Option<ScramMechanism> {
        ScramMechanism::ALL.into_iter().find(|m| m.code() == code)
    }

    /// Length of keys, proofs and signatures.
    pub fn output_bytes(self) -> usize {
        self.digest().output_len()
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            ScramMechanism::Sha256 => &digest::SHA256,
            ScramMechanism::Sha512 => &digest::SHA512,
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            ScramMechanism::Sha256 => hmac::HMAC_SHA256,
            ScramMechanism::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            ScramMechanism::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            ScramMechanism::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    pub(crate) fn mac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        hmac::sign(&hmac::Key::new(self.hmac(), key), data).as_ref().to_vec()
    }

    pub(crate) fn hash(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.digest(), data).as_ref().to_vec()
    }

    /// RFC 5802 `Hi()`: PBKDF2 with the mechanism's HMAC, one hash long.
    pub(crate) fn salt_password(self, password: &[u8], salt: &[u8], iterations: NonZeroU32) -> Vec<u8> {
        let mut out = vec![0u8; self.output_bytes()];
        pbkdf2::derive(self.pbkdf2(), iterations, salt, password, &mut out);
        out
    }
}

impl From<ScramMechanism> for Mechanism {
    fn from(m: ScramMechanism) -> Mechanism {
        m.mechanism()
    }
}

/// What the server stores for one user and mechanism (RFC 5802 §3): enough to check a
/// proof, not enough to produce one.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl fmt::Debug for ScramCredential {
    // the keys let anyone who reads them mount an offline attack: never print them
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredential").field("iterations", &self.iterations).finish_non_exhaustive()
    }
}

impl ScramCredential {
    /// Salts `password` (PBKDF2, `iterations` ≥ 1) and derives the stored keys.
    pub fn from_password(mech: ScramMechanism, password: &[u8], salt: &[u8], iterations: u32) -> ScramCredential {
        let rounds = NonZeroU32::new(iterations).expect("SCRAM iterations are validated to be ≥ 4096");
        let mut salted = mech.salt_password(password, salt, rounds);
        let credential = ScramCredential::from_salted_password(mech, &salted, salt, iterations);
        wipe(&mut salted);
        credential
    }

    /// From `Hi(password, salt, i)` as a client computed it (AlterUserScramCredentials
    /// sends that, never the password).
    pub fn from_salted_password(mech: ScramMechanism, salted: &[u8], salt: &[u8], iterations: u32) -> ScramCredential {
        let mut client_key = mech.mac(salted, b"Client Key");
        let stored_key = mech.hash(&client_key);
        wipe(&mut client_key);
        ScramCredential { salt: salt.to_vec(), iterations, stored_key, server_key: mech.mac(salted, b"Server Key") }
    }

    /// A fresh random salt of [`SALT_BYTES`].
    pub fn generate(mech: ScramMechanism, password: &[u8], iterations: u32) -> ScramCredential {
        ScramCredential::from_password(mech, password, &random_bytes::<SALT_BYTES>(), iterations)
    }

    /// Whether `password` is the one behind this credential (PLAIN). Runs PBKDF2, so it
    /// costs what a client pays per SCRAM login; the comparison is constant time.
    pub fn verify_password(&self, mech: ScramMechanism, password: &[u8]) -> bool {
        let Some(rounds) = NonZeroU32::new(self.iterations) else { return false };
        let mut salted = mech.salt_password(password, &self.salt, rounds);
        let mut client_key = mech.mac(&salted, b"Client Key");
        let ok = constant_time_eq(&mech.hash(&client_key), &self.stored_key);
        wipe(&mut salted);
        wipe(&mut client_key);
        ok
    }

    /// The credential in the base64 form configs and the store file hold.
    pub fn encode(&self) -> EncodedCredential {
        EncodedCredential {
            salt: BASE64.encode(&self.salt),
            iterations: self.iterations,
            stored_key: BASE64.encode(&self.stored_key),
            server_key: BASE64.encode(&self.server_key),
        }
    }

    /// Decodes and checks an [`EncodedCredential`]; the error names the bad field.
    pub fn decode(mech: ScramMechanism, e: &EncodedCredential) -> Result<ScramCredential, DecodeError> {
        let field = |field: &'static str, value: &str| {
            BASE64
                .decode(value.trim())
                .map_err(|_| DecodeError { field, message: "not valid base64 (standard alphabet, padded)".into() })
        };
        let credential = ScramCredential {
            salt: field("salt", &e.salt)?,
            iterations: e.iterations,
            stored_key: field("stored_key", &e.stored_key)?,
            server_key: field("server_key", &e.server_key)?,
        };
        if credential.salt.is_empty() {
            return Err(DecodeError { field: "salt", message: "must not be empty".into() });
        }
        if credential.iterations < ITERATIONS_MIN {
            return Err(DecodeError { field: "iterations", message: format!("must be ≥ {ITERATIONS_MIN}") });
        }
        for (field, key) in [("stored_key", &credential.stored_key), ("server_key", &credential.server_key)] {
            let want = mech.output_bytes();
            if key.len() != want {
                let message = format!("{} keys are {want} bytes, this one has {}", mech.name(), key.len());
                return Err(DecodeError { field, message });
            }
        }
        Ok(credential)
    }
}

/// A stored credential that does not decode: which field, and why (never its value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct DecodeError {
    pub field: &'static str,
    pub message: String,
}

/// A credential as base64 text: the config's `scram_sha_*` entries, the store file, and
/// what `gregor user add --print-yaml` prints.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncodedCredential {
    pub salt: String,
    pub iterations: u32,
    pub stored_key: String,
    pub server_key: String,
}

impl fmt::Debug for EncodedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodedCredential").field("iterations", &self.iterations).finish_non_exhaustive()
    }
}

/// A credential to run an exchange against, and whether the user really exists. For an
/// unknown user the caller passes [`fake_credential`]: the exchange then looks the same
/// as for a real user up to the proof check, which fails with the usual message.
pub struct CredentialLookup {
    pub credential: ScramCredential,
    pub known: bool,
}

/// A credential for a user that does not exist, the same on every attempt (a fresh
/// salt per attempt would tell the user apart from a real one). Derived from a
/// per-process `secret`, so it says nothing about real credentials.
pub fn fake_credential(mech: ScramMechanism, secret: &[u8], user: &str) -> ScramCredential {
    let key = hmac::Key::new(hmac::HMAC_SHA512, secret);
    let derive = |label: &str, len: usize| {
        let mut ctx = hmac::Context::with_key(&key);
        for part in [label.as_bytes(), b"\0", mech.name().as_bytes(), b"\0", user.as_bytes()] {
            ctx.update(part);
        }
        ctx.sign().as_ref()[..len].to_vec()
    };
    ScramCredential {
        salt: derive("salt", SALT_BYTES),
        iterations: ITERATIONS_DEFAULT,
        stored_key: derive("stored_key", mech.output_bytes()),
        server_key: derive("server_key", mech.output_bytes()),
    }
}

/// The server side of one SCRAM exchange: client-first → server-first, client-final →
/// server-final. Any failure ends the exchange.
pub struct ScramServer {
    mechanism: ScramMechanism,
    /// The server's half of the nonce (printable ASCII without `,`).
    server_nonce: String,
    state: State,
}

enum State {
    AwaitClientFirst,
    AwaitClientFinal(Box<Pending>),
    Ended,
}

/// What client-first and server-first fixed, for checking client-final.
struct Pending {
    user: String,
    known: bool,
    credential: ScramCredential,
    /// `n,,` or `n,a=user,` as received: client-final's `c=` must carry it back.
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    /// Client nonce followed by server nonce.
    nonce: String,
}

impl ScramServer {
    /// A server with a random nonce.
    pub fn new(mechanism: ScramMechanism) -> ScramServer {
        // alphanumeric, like Kafka's server nonces
        let nonce = random_bytes::<SERVER_NONCE_BYTES>().iter().map(|b| format!("{b:02x}")).collect();
        ScramServer::with_server_nonce(mechanism, nonce)
    }

    /// A server with a chosen nonce (tests, RFC vectors).
    pub fn with_server_nonce(mechanism: ScramMechanism, server_nonce: String) -> ScramServer {
        assert!(is_nonce(&server_nonce), "a SCRAM nonce is printable ASCII without ','");
        ScramServer { mechanism, server_nonce, state: State::AwaitClientFirst }
    }

    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// Feeds the next client message. `lookup` is asked once, for the user client-first
    /// names, and returns a fake credential for an unknown user (see [`CredentialLookup`]).
    pub fn step(
        &mut self,
        message: &[u8],
        lookup: impl FnOnce(&str) -> CredentialLookup,
    ) -> Result<SaslStep, SaslError> {
        let state = std::mem::replace(&mut self.state, State::Ended);
        match state {
            State::AwaitClientFirst => {
                let (pending, server_first) = self.client_first(message, lookup)?;
                self.state = State::AwaitClientFinal(pending);
                Ok(SaslStep::Challenge(server_first.into_bytes()))
            }
            State::AwaitClientFinal(pending) => {
                let server_final = self.client_final(message, &pending)?;
                Ok(SaslStep::Done { user: pending.user, token: server_final.into_bytes() })
            }
            State::Ended => Err(SaslError::new("the SCRAM exchange has already ended")),
        }
    }

    fn client_first(
        &self,
        message: &[u8],
        lookup: impl FnOnce(&str) -> CredentialLookup,
    ) -> Result<(Box<Pending>, String), SaslError> {
        let first = parse_client_first(message)?;
        let CredentialLookup { credential, known } = lookup(&first.user);
        let nonce = format!("{}{}", first.client_nonce, self.server_nonce);
        let server_first = format!("r={nonce},s={},i={}", BASE64.encode(&credential.salt), credential.iterations);
        let pending = Pending {
            user: first.user,
            known,
            credential,
            gs2_header: first.gs2_header,
            client_first_bare: first.bare,
            server_first: server_first.clone(),
            nonce,
        };
        Ok((Box::new(pending), server_first))
    }

    fn client_final(&self, message: &[u8], p: &Pending) -> Result<String, SaslError> {
        let fin = parse_client_final(message, self.mechanism)?;
        let binding_ok = fin.channel_binding == p.gs2_header.as_bytes()
            || (p.gs2_header.starts_with("n,") && fin.channel_binding == b"n,,");
        if !binding_ok {
            return Err(SaslError::new("SCRAM channel binding (c=) does not match the client-first message"));
        }
        // Kafka checks only that the client's nonce ends with the server's: librdkafka
        // 2.0.x (Debian's kcat) sends the client half twice. The proof still covers
        // the message exactly as sent, so nothing weakens.
        if !fin.nonce.ends_with(p.nonce.as_str()) {
            return Err(SaslError::new("SCRAM nonce (r=) does not match the one the server sent"));
        }
        let auth_message = format!("{},{},{}", p.client_first_bare, p.server_first, fin.without_proof);
        let mech = self.mechanism;
        let client_signature = mech.mac(&p.credential.stored_key, auth_message.as_bytes());
        let mut client_key: Vec<u8> = fin.proof.iter().zip(&client_signature).map(|(a, b)| a ^ b).collect();
        let proof_ok = constant_time_eq(&mech.hash(&client_key), &p.credential.stored_key);
        wipe(&mut client_key);
        if !(proof_ok && p.known) {
            return Err(authentication_failed(mech));
        }
        let signature = mech.mac(&p.credential.server_key, auth_message.as_bytes());
        Ok(format!("v={}", BASE64.encode(signature)))
    }
}

/// The one message for a wrong password and an unknown user alike.
fn authentication_failed(mech: ScramMechanism) -> SaslError {
    SaslError::new(format!("authentication failed: invalid credentials for {}", mech.name()))
}

struct ClientFirst {
    gs2_header: String,
    user: String,
    client_nonce: String,
    bare: String,
}

fn malformed(what: &str) -> SaslError {
    SaslError::new(format!("malformed SCRAM {what}"))
}

fn as_text<'a>(message: &'a [u8], what: &str) -> Result<&'a str, SaslError> {
    if message.len() > MESSAGE_BYTES_MAX {
        return Err(SaslError::new(format!("SCRAM {what} is longer than {MESSAGE_BYTES_MAX} bytes")));
    }
    std::str::from_utf8(message).map_err(|_| malformed(what))
}

/// `gs2-header client-first-message-bare`, RFC 5802 §7.
fn parse_client_first(message: &[u8]) -> Result<ClientFirst, SaslError> {
    const WHAT: &str = "client-first message";
    let text = as_text(message, WHAT)?;
    let (flag, rest) = text.split_once(',').ok_or_else(|| malformed(WHAT))?;
    match flag {
        "n" | "y" => {}
        f if f.starts_with("p=") => return Err(SaslError::new("SCRAM channel binding is not supported")),
        _ => return Err(malformed(WHAT)),
    }
    let (authzid, bare) = rest.split_once(',').ok_or_else(|| malformed(WHAT))?;
    let gs2_header = text[..text.len() - bare.len()].to_string();
    let mut attrs = bare.split(',');
    let user = match attrs.next() {
        Some(a) if a.starts_with("m=") => return Err(SaslError::new("SCRAM mandatory extensions are not supported")),
        Some(a) => decode_sasl_name(a.strip_prefix("n=").ok_or_else(|| malformed(WHAT))?)?,
        None => return Err(malformed(WHAT)),
    };
    let client_nonce = attrs.next().and_then(|a| a.strip_prefix("r=")).filter(|n| is_nonce(n));
    let client_nonce = client_nonce.ok_or_else(|| malformed(WHAT))?.to_string();
    reject_extensions(attrs)?;
    if !authzid.is_empty() {
        let requested = decode_sasl_name(authzid.strip_prefix("a=").ok_or_else(|| malformed(WHAT))?)?;
        if requested != user {
            return Err(SaslError::new("SCRAM authorization id must be empty or equal the user name"));
        }
    }
    Ok(ClientFirst { gs2_header, user, client_nonce, bare: bare.to_string() })
}

/// gregor knows no SCRAM extension, so any is refused; `tokenauth` gets its own reason.
fn reject_extensions<'a>(mut attrs: impl Iterator<Item = &'a str>) -> Result<(), SaslError> {
    match attrs.next() {
        None => Ok(()),
        Some(a) if a.starts_with("tokenauth=") => {
            Err(SaslError::new("SCRAM delegation-token authentication (tokenauth) is not supported"))
        }
        Some(_) => Err(SaslError::new("SCRAM extensions are not supported")),
    }
}

/// RFC 5802 `saslname`: `=2C` and `=3D` stand for `,` and `=`; nothing else may follow `=`.
fn decode_sasl_name(encoded: &str) -> Result<String, SaslError> {
    let mut out = String::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let escape = rest.get(i..i + 3);
        match escape {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(SaslError::new("malformed SCRAM user name: `=` must start =2C or =3D")),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    if out.is_empty() {
        return Err(SaslError::new("SCRAM user name is empty"));
    }
    Ok(out)
}

/// RFC 5802 `printable`: ASCII 0x21..=0x7E except `,`; at least one character.
fn is_nonce(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

struct ClientFinal<'a> {
    channel_binding: Vec<u8>,
    nonce: &'a str,
    without_proof: &'a str,
    proof: Vec<u8>,
}

/// `c=…,r=…,p=…`, RFC 5802 §7 (no extensions).
fn parse_client_final(message: &[u8], mech: ScramMechanism) -> Result<ClientFinal<'_>, SaslError> {
    const WHAT: &str = "client-final message";
    let text = as_text(message, WHAT)?;
    let (without_proof, proof) = text.rsplit_once(',').ok_or_else(|| malformed(WHAT))?;
    let proof = proof.strip_prefix("p=").ok_or_else(|| malformed(WHAT))?;
    let proof = BASE64.decode(proof).map_err(|_| malformed(WHAT))?;
    if proof.len() != mech.output_bytes() {
        return Err(malformed(WHAT));
    }
    let mut attrs = without_proof.split(',');
    let binding = attrs.next().and_then(|a| a.strip_prefix("c=")).ok_or_else(|| malformed(WHAT))?;
    let channel_binding = BASE64.decode(binding).map_err(|_| malformed(WHAT))?;
    let nonce = attrs.next().and_then(|a| a.strip_prefix("r=")).ok_or_else(|| malformed(WHAT))?;
    reject_extensions(attrs)?;
    Ok(ClientFinal { channel_binding, nonce, without_proof, proof })
}

/// Compares without an early exit, so timing says nothing about where secrets differ.
/// Lengths are public (they follow from the mechanism).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Overwrites key material before it is freed (best effort: copies may exist elsewhere).
pub(crate) fn wipe(bytes: &mut [u8]) {
    bytes.fill(0);
    std::hint::black_box(bytes);
}

pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    SystemRandom::new().fill(&mut out).expect("the operating system's random source failed");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SCRAM client as RFC 5802 §3 describes it, to drive the server.
    struct TestClient {
        mech: ScramMechanism,
        /// Sent in client-first and, base64, as client-final's `c=`.
        gs2_header: String,
        first_bare: String,
        nonce: String,
    }

    struct ClientFinalOut {
        message: String,
        expected_server_signature: Vec<u8>,
    }

    impl TestClient {
        fn new(mech: ScramMechanism, user: &str, nonce: &str) -> (TestClient, String) {
            TestClient::with_header(mech, "n,,", user, nonce)
        }

        fn with_header(mech: ScramMechanism, gs2_header: &str, user: &str, nonce: &str) -> (TestClient, String) {
            let user = user.replace('=', "=3D").replace(',', "=2C");
            let first_bare = format!("n={user},r={nonce}");
            let message = format!("{gs2_header}{first_bare}");
            (TestClient { mech, gs2_header: gs2_header.into(), first_bare, nonce: nonce.into() }, message)
        }

        fn respond(&self, server_first: &str, password: &[u8]) -> ClientFinalOut {
            let mut attrs = server_first.split(',');
            let nonce = attrs.next().unwrap().strip_prefix("r=").unwrap();
            assert!(nonce.starts_with(&self.nonce), "server nonce must extend ours");
            let salt = BASE64.decode(attrs.next().unwrap().strip_prefix("s=").unwrap()).unwrap();
            let iterations: u32 = attrs.next().unwrap().strip_prefix("i=").unwrap().parse().unwrap();
            let salted = self.mech.salt_password(password, &salt, NonZeroU32::new(iterations).unwrap());
            let client_key = self.mech.mac(&salted, b"Client Key");
            let stored_key = self.mech.hash(&client_key);
            let without_proof = format!("c={},r={nonce}", BASE64.encode(&self.gs2_header));
            let auth = format!("{},{server_first},{without_proof}", self.first_bare);
            let signature = self.mech.mac(&stored_key, auth.as_bytes());
            let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
            let server_key = self.mech.mac(&salted, b"Server Key");
            ClientFinalOut {
                message: format!("{without_proof},p={}", BASE64.encode(proof)),
                expected_server_signature: self.mech.mac(&server_key, auth.as_bytes()),
            }
        }
    }

    fn known(c: &ScramCredential) -> impl FnOnce(&str) -> CredentialLookup + '_ {
        |_| CredentialLookup { credential: c.clone(), known: true }
    }

    fn challenge(step: SaslStep) -> String {
        match step {
            SaslStep::Challenge(t) => String::from_utf8(t).unwrap(),
            other => panic!("expected a challenge, got {other:?}"),
        }
    }

    const RFC_SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
    const RFC_SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

    fn rfc7677_credential() -> ScramCredential {
        ScramCredential::from_password(ScramMechanism::Sha256, b"pencil", &BASE64.decode(RFC_SALT).unwrap(), 4096)
    }

    /// RFC 7677 §3, byte for byte.
    #[test]
    fn rfc7677_sha256_vector() {
        let credential = rfc7677_credential();
        let mut server = ScramServer::with_server_nonce(ScramMechanism::Sha256, RFC_SERVER_NONCE.into());
        let server_first = challenge(server.step(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", known(&credential)).unwrap());
        assert_eq!(
            server_first,
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let client_final = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                            p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        // the test client computes the RFC's proof too, so the SHA-512 test below can trust it
        let (client, _) = TestClient::new(ScramMechanism::Sha256, "user", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(client.respond(&server_first, b"pencil").message, client_final);
        let done = server.step(client_final.as_bytes(), |_| unreachable!("looked up once")).unwrap();
        assert_eq!(
            done,
            SaslStep::Done { user: "user".into(), token: b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec() }
        );
        assert!(server.step(b"again", |_| unreachable!()).is_err(), "a finished exchange takes no more steps");
    }

    #[test]
    fn sha512_round_trip_with_generated_credential() {
        let credential = ScramCredential::generate(ScramMechanism::Sha512, b"s3cret", ITERATIONS_MIN);
        assert_eq!(credential.salt.len(), SALT_BYTES);
        assert_eq!(credential.stored_key.len(), 64);
        let mut server = ScramServer::new(ScramMechanism::Sha512);
        let (client, first) = TestClient::new(ScramMechanism::Sha512, "al,i=ce", "abc123");
        let mut seen_user = String::new();
        let server_first = challenge(
            server
                .step(first.as_bytes(), |u| {
                    seen_user = u.to_string();
                    CredentialLookup { credential: credential.clone(), known: true }
                })
                .unwrap(),
        );
        assert_eq!(seen_user, "al,i=ce", "=2C and =3D decode");
        let out = client.respond(&server_first, b"s3cret");
        match server.step(out.message.as_bytes(), |_| unreachable!()).unwrap() {
            SaslStep::Done { user, token } => {
                assert_eq!(user, "al,i=ce");
                assert_eq!(token, format!("v={}", BASE64.encode(out.expected_server_signature)).into_bytes());
            }
            other => panic!("{other:?}"),
        }
    }

    fn run_exchange(credential: &ScramCredential, is_known: bool, password: &[u8]) -> Result<SaslStep, SaslError> {
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        let (client, first) = TestClient::new(ScramMechanism::Sha256, "bob", "nonce1");
        let lookup = |_: &str| CredentialLookup { credential: credential.clone(), known: is_known };
        let server_first = challenge(server.step(first.as_bytes(), lookup)?);
        server.step(client.respond(&server_first, password).message.as_bytes(), |_| unreachable!())
    }

    #[test]
    fn wrong_password_and_unknown_user_fail_alike() {
        let real = ScramCredential::generate(ScramMechanism::Sha256, b"right", ITERATIONS_MIN);
        let wrong = run_exchange(&real, true, b"wrong").unwrap_err();
        let fake = fake_credential(ScramMechanism::Sha256, b"process secret", "bob");
        let unknown = run_exchange(&fake, false, b"anything").unwrap_err();
        assert_eq!(wrong, unknown);
        assert!(!wrong.message.contains("right") && !wrong.message.contains("wrong"));
        // even a fake that the password happened to match is refused for an unknown user
        let lucky = ScramCredential::generate(ScramMechanism::Sha256, b"guess", ITERATIONS_MIN);
        assert_eq!(run_exchange(&lucky, false, b"guess").unwrap_err(), wrong);
    }

    #[test]
    fn fake_credentials_are_stable_per_user_and_look_real() {
        let a = fake_credential(ScramMechanism::Sha512, b"k", "ghost");
        assert_eq!(a, fake_credential(ScramMechanism::Sha512, b"k", "ghost"));
        assert_ne!(a.salt, fake_credential(ScramMechanism::Sha512, b"k", "other").salt);
        assert_ne!(a.salt, fake_credential(ScramMechanism::Sha512, b"k2", "ghost").salt);
        assert_ne!(a.salt, fake_credential(ScramMechanism::Sha256, b"k", "ghost").salt);
        assert_eq!((a.salt.len(), a.iterations, a.stored_key.len()), (SALT_BYTES, ITERATIONS_DEFAULT, 64));
    }

    #[test]
    fn tampered_nonce_fails() {
        let credential = rfc7677_credential();
        let mut server = ScramServer::with_server_nonce(ScramMechanism::Sha256, RFC_SERVER_NONCE.into());
        let (client, first) = TestClient::new(ScramMechanism::Sha256, "user", "rOprNGfwEbeRWgbNEkqO");
        let server_first = challenge(server.step(first.as_bytes(), known(&credential)).unwrap());
        let tampered = server_first.replacen("k0,", "k1,", 1);
        let message = client.respond(&tampered, b"pencil").message;
        let err = server.step(message.as_bytes(), |_| unreachable!()).unwrap_err();
        assert!(err.message.contains("nonce"), "{err}");
    }

    fn first_step_error(message: &[u8]) -> SaslError {
        let credential = rfc7677_credential();
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        server.step(message, known(&credential)).unwrap_err()
    }

    #[test]
    fn channel_binding_authzid_and_extensions_are_refused() {
        assert!(first_step_error(b"p=tls-unique,,n=user,r=abc").message.contains("channel binding"));
        let err = first_step_error(b"n,a=admin,n=user,r=abc");
        assert!(err.message.contains("authorization id"), "{err}");
        let err = first_step_error(b"n,,n=user,r=abc,tokenauth=true");
        assert!(err.message.contains("tokenauth"), "{err}");
        assert!(first_step_error(b"n,,n=user,r=abc,ext=1").message.contains("extensions"));
        assert!(first_step_error(b"n,,m=x,n=user,r=abc").message.contains("mandatory"));
    }

    #[test]
    fn matching_authzid_and_y_flag_are_accepted() {
        let credential = rfc7677_credential();
        for header in ["n,a=user,", "y,,", "n,a=us=3Der,"] {
            let user = if header.contains("3D") { "us=er" } else { "user" };
            let mut server = ScramServer::new(ScramMechanism::Sha256);
            let (client, first) = TestClient::with_header(ScramMechanism::Sha256, header, user, "abc");
            let server_first = challenge(server.step(first.as_bytes(), known(&credential)).unwrap());
            let message = client.respond(&server_first, b"pencil").message;
            let done = server.step(message.as_bytes(), |_| unreachable!()).unwrap();
            assert!(matches!(done, SaslStep::Done { user: u, .. } if u == user), "{header}");
        }
    }

    /// A client that offered `y` (channel binding supported) must not be talked down to `n`.
    #[test]
    fn downgraded_channel_binding_flag_is_refused() {
        let credential = rfc7677_credential();
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        let (_, first) = TestClient::with_header(ScramMechanism::Sha256, "y,,", "user", "abc");
        let server_first = challenge(server.step(first.as_bytes(), known(&credential)).unwrap());
        let (n_client, _) = TestClient::new(ScramMechanism::Sha256, "user", "abc");
        let message = n_client.respond(&server_first, b"pencil").message; // c=biws, i.e. n,,
        let err = server.step(message.as_bytes(), |_| unreachable!()).unwrap_err();
        assert!(err.message.contains("channel binding"), "{err}");
    }

    #[test]
    fn malformed_messages_are_errors() {
        for bad in [
            &b""[..],
            b"n",
            b"n,,",
            b"x,,n=user,r=abc",
            b"n,,n=,r=abc",
            b"n,,n=us=er,r=abc",
            b"n,,n=user",
            b"n,,n=user,r=",
            b"n,,n=user,r=a b",
            b"n,,user,r=abc",
            b"n,x,n=user,r=abc",
            b"\xff\xfe,,n=user,r=abc",
        ] {
            first_step_error(bad);
        }
        assert!(first_step_error(&vec![b'a'; MESSAGE_BYTES_MAX + 1]).message.contains("longer"));
        let credential = rfc7677_credential();
        for bad_final in [
            &b"garbage"[..],
            b"c=biws,r=abcxyz",
            b"c=biws,r=abcxyz,p=!!!",
            b"c=biws,r=abcxyz,p=AAAA",
            b"r=abcxyz,c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            b"c=biws,r=abcxyz,x=1,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        ] {
            let mut server = ScramServer::with_server_nonce(ScramMechanism::Sha256, "xyz".into());
            server.step(b"n,,n=user,r=abc", known(&credential)).unwrap();
            server.step(bad_final, |_| unreachable!()).unwrap_err();
        }
    }

    #[test]
    fn password_verification() {
        let c = ScramCredential::generate(ScramMechanism::Sha256, b"pw", ITERATIONS_MIN);
        assert!(c.verify_password(ScramMechanism::Sha256, b"pw"));
        assert!(!c.verify_password(ScramMechanism::Sha256, b"pW"));
        assert!(!c.verify_password(ScramMechanism::Sha512, b"pw"), "keys of the other hash never match");
        assert!(rfc7677_credential().verify_password(ScramMechanism::Sha256, b"pencil"));
    }

    #[test]
    fn salted_password_gives_the_same_credential() {
        let salt = b"NaCl";
        let salted = ScramMechanism::Sha512.salt_password(b"pw", salt, NonZeroU32::new(4096).unwrap());
        assert_eq!(
            ScramCredential::from_salted_password(ScramMechanism::Sha512, &salted, salt, 4096),
            ScramCredential::from_password(ScramMechanism::Sha512, b"pw", salt, 4096)
        );
    }

    #[test]
    fn encoding_round_trips_and_debug_hides_keys() {
        let c = ScramCredential::generate(ScramMechanism::Sha256, b"pw", 8192);
        let e = c.encode();
        assert_eq!(ScramCredential::decode(ScramMechanism::Sha256, &e).unwrap(), c);
        let err = ScramCredential::decode(ScramMechanism::Sha512, &e).unwrap_err();
        assert_eq!(err.field, "stored_key", "{err}");
        let bad = EncodedCredential { salt: "!".into(), ..e.clone() };
        assert_eq!(ScramCredential::decode(ScramMechanism::Sha256, &bad).unwrap_err().field, "salt");
        let few = EncodedCredential { iterations: 100, ..e.clone() };
        assert_eq!(ScramCredential::decode(ScramMechanism::Sha256, &few).unwrap_err().field, "iterations");
        for debug in [format!("{c:?}"), format!("{e:?}")] {
            assert!(!debug.contains(&e.stored_key) && !debug.contains(&e.server_key) && !debug.contains(&e.salt));
            assert!(debug.contains("8192"), "{debug}");
        }
    }

    #[test]
    fn mechanism_codes_are_kafkas() {
        assert_eq!(ScramMechanism::from_code(1), Some(ScramMechanism::Sha256));
        assert_eq!(ScramMechanism::from_code(2), Some(ScramMechanism::Sha512));
        assert_eq!(ScramMechanism::from_code(0), None);
        assert_eq!(ScramMechanism::from_name("SCRAM-SHA-512"), Some(ScramMechanism::Sha512));
        assert_eq!(ScramMechanism::from_name("PLAIN"), None);
    }
}
