//! AlterUserScramCredentials (KIP-554): deletions, then upsertions of client-salted
//! credentials, written to the store file. The rules live in `security::scram_admin`;
//! the write (with fsync) runs on a blocking thread.

use super::{str_bytes, Local};
use crate::broker::error::NONE;
use crate::security::scram_admin::{self, Deletion, Upsertion};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse};

pub async fn handle(ctx: &Local<'_>, req: AlterUserScramCredentialsRequest) -> AlterUserScramCredentialsResponse {
    let deletions: Vec<Deletion> =
        req.deletions.into_iter().map(|d| Deletion { user: d.name.to_string(), mechanism: d.mechanism }).collect();
    let upsertions: Vec<Upsertion> = req
        .upsertions
        .into_iter()
        .map(|u| Upsertion {
            user: u.name.to_string(),
            mechanism: u.mechanism,
            iterations: u.iterations,
            salt: u.salt.to_vec(),
            salted_password: u.salted_password.to_vec(),
        })
        .collect();
    let store = ctx.security.credentials.clone();
    let users: Vec<String> =
        deletions.iter().map(|d| &d.user).chain(upsertions.iter().map(|u| &u.user)).cloned().collect();
    let outcome = tokio::task::spawn_blocking(move || scram_admin::alter(&store, &deletions, &upsertions)).await;
    let results = match outcome {
        Ok(results) => results
            .into_iter()
            .map(|(user, r)| {
                let result = AlterUserScramCredentialsResult::default().with_user(str_bytes(user));
                match r {
                    Ok(()) => result.with_error_code(NONE),
                    Err(e) => result
                        .with_error_code(e.response_error().code())
                        .with_error_message(Some(str_bytes(e.to_string()))),
                }
            })
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "AlterUserScramCredentials task failed");
            let mut seen = std::collections::HashSet::new();
            users
                .into_iter()
                .filter(|u| seen.insert(u.clone()))
                .map(|user| {
                    AlterUserScramCredentialsResult::default()
                        .with_user(str_bytes(user))
                        .with_error_code(ResponseError::UnknownServerError.code())
                        .with_error_message(Some(str_bytes("internal error")))
                })
                .collect()
        }
    };
    AlterUserScramCredentialsResponse::default().with_results(results)
}
