//! SaslAuthenticate that reaches the router (no SASL on this listener, or the
//! connection already authenticated): ILLEGAL_SASL_STATE, as Kafka answers.

use super::{str_bytes, Local};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse};

pub fn handle(ctx: &Local<'_>, _req: SaslAuthenticateRequest) -> SaslAuthenticateResponse {
    let why = if ctx.conn.security.uses_sasl() {
        "SaslAuthenticate received after successful authentication"
    } else {
        "SaslAuthenticate received on a listener without SASL"
    };
    SaslAuthenticateResponse::default()
        .with_error_code(ResponseError::IllegalSaslState.code())
        .with_error_message(Some(str_bytes(why)))
}
