//! The client side of SCRAM (RFC 5802), as Kafka clients speak it: `n,,` header, no
//! extensions. For connections gregor opens itself (an upstream cluster behind the
//! proxy) and for tests that log in to gregor.

use super::sasl::SaslError;
use super::scram::{random_bytes, wipe, ScramMechanism, ITERATIONS_MIN, MESSAGE_BYTES_MAX};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use std::num::NonZeroU32;

/// A server asking for more than this is refused: each iteration costs us, not it.
pub const SERVER_ITERATIONS_MAX: u32 = 1_000_000;
/// `n,,` base64: no channel binding, no authorization id.
const CHANNEL_BINDING: &str = "biws";

/// One client exchange: [`client_first`](ScramClient::client_first), then
/// [`client_final`](ScramClient::client_final) for the server-first message, then
/// [`verify_server_final`](ScramClient::verify_server_final).
pub struct ScramClient {
    mechanism: ScramMechanism,
    password: Vec<u8>,
    client_first_bare: String,
    client_nonce: String,
    /// Set by `client_final`: what server-final must prove.
    expected_server_signature: Option<Vec<u8>>,
}

impl Drop for ScramClient {
    fn drop(&mut self) {
        wipe(&mut self.password);
    }
}

impl ScramClient {
    pub fn new(mechanism: ScramMechanism, user: &str, password: &[u8]) -> ScramClient {
        ScramClient::with_nonce(mechanism, user, password, BASE64.encode(random_bytes::<24>()))
    }

    /// A client with a chosen nonce (RFC vectors); printable ASCII without `,`.
    pub fn with_nonce(mechanism: ScramMechanism, user: &str, password: &[u8], nonce: String) -> ScramClient {
        assert!(!nonce.is_empty() && nonce.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b','));
        let user = user.replace('=', "=3D").replace(',', "=2C");
        ScramClient {
            mechanism,
            password: password.to_vec(),
            client_first_bare: format!("n={user},r={nonce}"),
            client_nonce: nonce,
            expected_server_signature: None,
        }
    }

    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// Answers server-first with the proof.
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, SaslError> {
        let bad = || SaslError::new("malformed SCRAM server-first message");
        if server_first.len() > MESSAGE_BYTES_MAX {
            return Err(bad());
        }
        let text = std::str::from_utf8(server_first).map_err(|_| bad())?;
        let mut attrs = text.split(',');
        let nonce = attrs.next().and_then(|a| a.strip_prefix("r=")).ok_or_else(bad)?;
        let salt = attrs.next().and_then(|a| a.strip_prefix("s=")).ok_or_else(bad)?;
        let salt = BASE64.decode(salt).map_err(|_| bad())?;
        let iterations: u32 =
            attrs.next().and_then(|a| a.strip_prefix("i=")).ok_or_else(bad)?.parse().map_err(|_| bad())?;
        if !nonce.starts_with(&self.client_nonce) || nonce.len() == self.client_nonce.len() {
            return Err(SaslError::new("SCRAM server nonce does not extend the client's"));
        }
        if !(ITERATIONS_MIN..=SERVER_ITERATIONS_MAX).contains(&iterations) {
            return Err(SaslError::new(format!(
                "SCRAM server asks for {iterations} iterations (accepted: {ITERATIONS_MIN}..={SERVER_ITERATIONS_MAX})"
            )));
        }
        let m = self.mechanism;
        let rounds = NonZeroU32::new(iterations).expect("checked above");
        let mut salted = m.salt_password(&self.password, &salt, rounds);
        let mut client_key = m.mac(&salted, b"Client Key");
        let without_proof = format!("c={CHANNEL_BINDING},r={nonce}");
        let auth_message = format!("{},{text},{without_proof}", self.client_first_bare);
        let signature = m.mac(&m.hash(&client_key), auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        self.expected_server_signature = Some(m.mac(&m.mac(&salted, b"Server Key"), auth_message.as_bytes()));
        wipe(&mut salted);
        wipe(&mut client_key);
        Ok(format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes())
    }

    /// Checks that the server knew our credential (`v=`), or reports its `e=` error.
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), SaslError> {
        let text = std::str::from_utf8(server_final).map_err(|_| SaslError::new("malformed SCRAM server-final"))?;
        if let Some(error) = text.strip_prefix("e=") {
            return Err(SaslError::new(format!("SCRAM server error: {error}")));
        }
        let expected = self.expected_server_signature.as_ref().ok_or_else(|| SaslError::new("no proof sent yet"))?;
        let got = text.strip_prefix("v=").and_then(|v| BASE64.decode(v).ok());
        match got {
            Some(sig) if super::scram::constant_time_eq(&sig, expected) => Ok(()),
            _ => Err(SaslError::new("SCRAM server signature does not verify")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::sasl::SaslStep;
    use crate::security::scram::{CredentialLookup, ScramCredential, ScramServer};

    /// RFC 7677 §3 from the client's side.
    #[test]
    fn rfc7677_client_messages() {
        let mut c = ScramClient::with_nonce(ScramMechanism::Sha256, "user", b"pencil", "rOprNGfwEbeRWgbNEkqO".into());
        assert_eq!(c.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        assert_eq!(
            String::from_utf8(c.client_final(server_first).unwrap()).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        c.verify_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap();
        c.verify_server_final(b"v=AAAA").unwrap_err();
        assert!(c.verify_server_final(b"e=invalid-proof").unwrap_err().message.contains("invalid-proof"));
    }

    #[test]
    fn logs_in_to_the_server_with_sha512() {
        let credential = ScramCredential::generate(ScramMechanism::Sha512, b"pw", 4096);
        let mut server = ScramServer::new(ScramMechanism::Sha512);
        let mut client = ScramClient::new(ScramMechanism::Sha512, "a=b,c", b"pw");
        let lookup = |_: &str| CredentialLookup { credential: credential.clone(), known: true };
        let SaslStep::Challenge(first) = server.step(&client.client_first(), lookup).unwrap() else { panic!() };
        let fin = client.client_final(&first).unwrap();
        let SaslStep::Done { user, token } = server.step(&fin, |_| unreachable!()).unwrap() else { panic!() };
        assert_eq!(user, "a=b,c");
        client.verify_server_final(&token).unwrap();
    }

    #[test]
    fn hostile_server_first_is_refused() {
        for bad in [
            &b"r=other,s=AAAA,i=4096"[..],
            b"r=abc,s=AAAA,i=4096",
            b"r=abcX,s=AAAA,i=100",
            b"r=abcX,s=AAAA,i=99999999",
            b"r=abcX,s=!!,i=4096",
            b"r=abcX",
        ] {
            let mut c = ScramClient::with_nonce(ScramMechanism::Sha256, "u", b"p", "abc".into());
            c.client_final(bad).unwrap_err();
        }
    }
}
