//! Authentication layer: gives every request its principal. On SASL listeners it
//! runs SaslHandshake and SaslAuthenticate itself (KIP-43, KIP-152), lets nothing but
//! ApiVersions and those through until the client has authenticated, and expires
//! sessions after `connections.max.reauth.ms` unless the client re-authenticates
//! (KIP-368). Elsewhere the principal is the client certificate's or ANONYMOUS.
//! After a v0 handshake the codec hands bare tokens in as SaslAuthenticate v0.

use super::{BoxFuture, ConnInfo, Request, Response, StackError};
use crate::config::ListenerSaslConfig;
use crate::security::sasl::{Mechanism, SaslError, SaslSession, SaslStep};
use crate::security::{Principal, Security};
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, RequestKind, ResponseKind, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tower::{Layer, Service};

#[derive(Clone)]
pub struct AuthenticateLayer {
    security: Arc<Security>,
    conn: Arc<ConnInfo>,
    /// The listener's enabled mechanisms; empty on listeners without SASL.
    mechanisms: Arc<[Mechanism]>,
}

impl AuthenticateLayer {
    pub fn new(security: Arc<Security>, conn: Arc<ConnInfo>, sasl: Option<&ListenerSaslConfig>) -> AuthenticateLayer {
        let mechanisms = sasl.map(|s| s.mechanisms.clone()).unwrap_or_default().into();
        AuthenticateLayer { security, conn, mechanisms }
    }
}

impl<S> Layer<S> for AuthenticateLayer {
    type Service = Authenticate<S>;
    fn layer(&self, inner: S) -> Authenticate<S> {
        let sasl = self.conn.security.uses_sasl();
        let principal = Arc::new(self.conn.tls_principal.clone().unwrap_or_else(Principal::anonymous));
        let phase = if sasl { Phase::Handshake } else { Phase::Authenticated { expires_at_ms: None } };
        let state = State { phase, principal, session_mechanism: None };
        Authenticate {
            inner,
            sasl,
            shared: Arc::new(Shared {
                security: self.security.clone(),
                conn: self.conn.clone(),
                mechanisms: self.mechanisms.clone(),
            }),
            state: Arc::new(Mutex::new(state)),
        }
    }
}

/// Per-connection facts that futures need after `call` returns.
struct Shared {
    security: Arc<Security>,
    conn: Arc<ConnInfo>,
    mechanisms: Arc<[Mechanism]>,
}

enum Phase {
    /// Waiting for SaslHandshake (a new connection on a SASL listener).
    Handshake,
    /// A mechanism is chosen; SaslAuthenticate tokens flow. `None` while a token is
    /// being evaluated on a blocking thread.
    Exchange { mechanism: Mechanism, session: Option<Box<SaslSession>>, user: Option<String> },
    /// Requests flow; after `expires_at_ms` only a re-authentication is accepted.
    Authenticated { expires_at_ms: Option<i64> },
}

struct State {
    phase: Phase,
    principal: Arc<Principal>,
    /// The mechanism of the current session: re-authentication must reuse it.
    session_mechanism: Option<Mechanism>,
}

#[derive(Clone)]
pub struct Authenticate<S> {
    inner: S,
    /// Whether this connection's listener requires SASL.
    sasl: bool,
    shared: Arc<Shared>,
    state: Arc<Mutex<State>>,
}

type Fut = BoxFuture<Result<Response, StackError>>;

impl<S> Service<Request> for Authenticate<S>
where
    S: Service<Request, Response = Response, Error = StackError, Future = Fut>,
{
    type Response = Response;
    type Error = StackError;
    type Future = Fut;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StackError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Fut {
        let mut state = self.state.lock().expect("auth state lock");
        req.principal = state.principal.clone();
        if !self.sasl {
            drop(state);
            return self.inner.call(req);
        }
        let reauth_enabled = self.shared.security.reauth_ms > 0;
        let now_ms = crate::time::now_ms();
        match (&state.phase, req.api_key) {
            (_, ApiKey::ApiVersions) => {}
            (Phase::Handshake, ApiKey::SaslHandshake) => return handshake(&self.shared, &mut state, &req),
            (Phase::Authenticated { .. }, ApiKey::SaslHandshake) if reauth_enabled => {
                return handshake(&self.shared, &mut state, &req)
            }
            (Phase::Exchange { .. }, ApiKey::SaslAuthenticate) => {
                drop(state);
                return authenticate(self.shared.clone(), self.state.clone(), req);
            }
            (Phase::Authenticated { expires_at_ms: Some(at) }, api) if now_ms >= *at => {
                return fail(format!("{api:?} after the SASL session expired without re-authentication"));
            }
            (Phase::Authenticated { .. }, _) => {}
            (_, api) => return fail(format!("{api:?} before SASL authentication completed")),
        }
        drop(state);
        self.inner.call(req)
    }
}

fn fail(why: String) -> Fut {
    Box::pin(async move { Err(StackError::Unauthenticated(why)) })
}

fn respond(body: ResponseKind) -> Fut {
    Box::pin(async move { Ok(Some(body)) })
}

/// SaslHandshake: picks the mechanism. An unsupported one (or a different one on
/// re-authentication) is answered with the enabled list, then the connection closes.
fn handshake(shared: &Shared, state: &mut State, req: &Request) -> Fut {
    let RequestKind::SaslHandshake(SaslHandshakeRequest { mechanism, .. }) = &req.body else {
        return fail("SaslHandshake body mismatch".into());
    };
    let enabled: Vec<StrBytes> = shared.mechanisms.iter().map(|m| StrBytes::from_static_str(m.name())).collect();
    let chosen = Mechanism::from_name(mechanism.as_str()).filter(|m| shared.mechanisms.contains(m));
    let consistent = state.session_mechanism.is_none() || state.session_mechanism == chosen;
    let response = SaslHandshakeResponse::default().with_mechanisms(enabled);
    match chosen {
        Some(m) if consistent => {
            // v0: the tokens that follow come bare, without Kafka request headers
            shared.conn.set_raw_sasl_tokens(req.api_version == 0);
            let session = SaslSession::new(m, shared.security.credentials.clone());
            state.phase = Phase::Exchange { mechanism: m, session: Some(Box::new(session)), user: None };
            respond(ResponseKind::SaslHandshake(response))
        }
        _ => {
            let why = format!("unsupported SASL mechanism `{}`", mechanism.as_str());
            shared.security.audit_authentication(&shared.conn, mechanism.as_str(), None, Err(&why));
            shared.conn.close_after_response();
            let code = ResponseError::UnsupportedSaslMechanism.code();
            respond(ResponseKind::SaslHandshake(response.with_error_code(code)))
        }
    }
}

/// SaslAuthenticate: one token of the exchange, evaluated on a blocking thread
/// (PLAIN derives keys; SCRAM hashes), after any delay owed for earlier failures
/// from the same address.
fn authenticate(shared: Arc<Shared>, state: Arc<Mutex<State>>, req: Request) -> Fut {
    let RequestKind::SaslAuthenticate(SaslAuthenticateRequest { auth_bytes, .. }) = req.body else {
        return fail("SaslAuthenticate body mismatch".into());
    };
    let version = req.api_version;
    Box::pin(async move {
        let (mechanism, mut session, user) = {
            let mut st = state.lock().expect("auth state lock");
            match &mut st.phase {
                Phase::Exchange { mechanism, session, user } => match session.take() {
                    Some(s) => {
                        // the first token names the user; later ones (SCRAM's proof) do not
                        let claimed = user.get_or_insert_with(|| claimed_user(*mechanism, &auth_bytes));
                        (*mechanism, s, claimed.clone())
                    }
                    None => return Err(StackError::Unauthenticated("overlapping SaslAuthenticate".into())),
                },
                _ => return Err(StackError::Unauthenticated("SaslAuthenticate outside an exchange".into())),
            }
        };
        let ip = shared.conn.peer.ip();
        let wait = shared.security.failure_delay.admit(ip, &user, crate::time::now_ms());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let (session, step) = tokio::task::spawn_blocking(move || {
            let step = session.step(&auth_bytes);
            (session, step)
        })
        .await
        .map_err(|e| StackError::Handler(format!("SASL step failed: {e}")))?;
        let response = match step {
            Ok(SaslStep::Challenge(token)) => {
                let mut st = state.lock().expect("auth state lock");
                st.phase = Phase::Exchange { mechanism, session: Some(session), user: Some(user) };
                SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(token))
            }
            Ok(SaslStep::Done { user, token }) => complete(&shared, &state, mechanism, user, token, version)?,
            Err(e) => return failed(&shared, mechanism, &user, e).await,
        };
        Ok(Some(ResponseKind::SaslAuthenticate(response)))
    })
}

/// A finished exchange: the new principal (unchanged on re-authentication), and
/// the session lifetime for clients that can re-authenticate (v1+).
fn complete(
    shared: &Shared,
    state: &Mutex<State>,
    mechanism: Mechanism,
    user: String,
    token: Vec<u8>,
    version: i16,
) -> Result<SaslAuthenticateResponse, StackError> {
    let principal = Principal::user(user);
    let mut st = state.lock().expect("auth state lock");
    if st.session_mechanism.is_some() && *st.principal != principal {
        let why = format!("re-authentication as {principal} on a connection of {}", st.principal);
        shared.security.audit_authentication(&shared.conn, mechanism.name(), Some(&principal), Err(&why));
        return Err(StackError::Unauthenticated(why));
    }
    let reauth_ms = shared.security.reauth_ms;
    let expires_at_ms = (reauth_ms > 0).then(|| crate::time::now_ms() + reauth_ms);
    shared.security.audit_authentication(&shared.conn, mechanism.name(), Some(&principal), Ok(()));
    st.phase = Phase::Authenticated { expires_at_ms };
    shared.conn.set_raw_sasl_tokens(false);
    st.principal = Arc::new(principal);
    shared.conn.set_principal(st.principal.clone());
    st.session_mechanism = Some(mechanism);
    let mut response = SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(token));
    if version >= 1 && reauth_ms > 0 {
        response = response.with_session_lifetime_ms(reauth_ms);
    }
    Ok(response)
}

/// A failed exchange: SASL_AUTHENTICATION_FAILED after the address's delay, then
/// the connection closes.
async fn failed(shared: &Shared, mechanism: Mechanism, user: &str, e: SaslError) -> Result<Response, StackError> {
    shared.security.audit_authentication(&shared.conn, mechanism.name(), None, Err(&e.message));
    tracing::info!(conn = shared.conn.id, peer = %shared.conn.peer, mechanism = mechanism.name(),
        reason = %e.message, "SASL authentication failed");
    let hold = shared.security.failure_delay.on_failure(shared.conn.peer.ip(), user, crate::time::now_ms());
    tokio::time::sleep(hold).await;
    shared.conn.close_after_response();
    let message = format!("SASL {} authentication failed: {}", mechanism.name(), e.message);
    let response = SaslAuthenticateResponse::default()
        .with_error_code(ResponseError::SaslAuthenticationFailed.code())
        .with_error_message(Some(StrBytes::from_string(message)));
    Ok(Some(ResponseKind::SaslAuthenticate(response)))
}

/// The user a first token claims, for keying the failure delay only (the exchange
/// itself parses and checks it): PLAIN's authcid, SCRAM's `n=`. Empty when none.
fn claimed_user(mechanism: Mechanism, token: &[u8]) -> String {
    let text = String::from_utf8_lossy(token);
    let user = match mechanism {
        Mechanism::Plain => text.split('\0').nth(1).unwrap_or(""),
        Mechanism::ScramSha256 | Mechanism::ScramSha512 => {
            text.split(',').find_map(|a| a.strip_prefix("n=")).unwrap_or("")
        }
    };
    user.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claimed_users() {
        assert_eq!(claimed_user(Mechanism::Plain, b"\0alice\0pw"), "alice");
        assert_eq!(claimed_user(Mechanism::Plain, b"admin\0alice\0pw"), "alice");
        assert_eq!(claimed_user(Mechanism::ScramSha512, b"n,,n=bob,r=abc"), "bob");
        assert_eq!(claimed_user(Mechanism::ScramSha256, b"garbage"), "");
    }
}
