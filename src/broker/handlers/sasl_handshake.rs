//! SaslHandshake that reaches the router: on a listener without SASL, or after the
//! session was established with re-authentication off. Kafka answers
//! ILLEGAL_SASL_STATE (SASL listeners handle the real exchange in
//! `middleware::authenticate`).

use super::Local;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};

pub fn handle(_ctx: &Local<'_>, _req: SaslHandshakeRequest) -> SaslHandshakeResponse {
    SaslHandshakeResponse::default().with_error_code(ResponseError::IllegalSaslState.code())
}
