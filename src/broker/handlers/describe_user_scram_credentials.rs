//! DescribeUserScramCredentials (KIP-554): each user's SCRAM mechanisms and iteration
//! counts (never salts or keys). The rules live in `security::scram_admin`.

use super::{str_bytes, Local};
use crate::broker::error::NONE;
use crate::security::scram_admin;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse};

pub fn handle(ctx: &Local<'_>, req: DescribeUserScramCredentialsRequest) -> DescribeUserScramCredentialsResponse {
    let names: Option<Vec<String>> = req.users.map(|users| users.into_iter().map(|u| u.name.to_string()).collect());
    let results = scram_admin::describe(&ctx.security.credentials, names.as_deref())
        .into_iter()
        .map(|(user, result)| {
            let r = DescribeUserScramCredentialsResult::default().with_user(str_bytes(user));
            match result {
                Ok(infos) => r.with_error_code(NONE).with_credential_infos(
                    infos
                        .into_iter()
                        .map(|(m, iterations)| {
                            // iterations are ≤ ITERATIONS_MAX or a validated config value: within i32
                            let iterations = i32::try_from(iterations).unwrap_or(i32::MAX);
                            CredentialInfo::default().with_mechanism(m.code()).with_iterations(iterations)
                        })
                        .collect(),
                ),
                Err(e) => {
                    r.with_error_code(e.response_error().code()).with_error_message(Some(str_bytes(e.to_string())))
                }
            }
        })
        .collect();
    DescribeUserScramCredentialsResponse::default().with_error_code(NONE).with_results(results)
}
