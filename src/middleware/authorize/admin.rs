//! Rules for producers and cluster administration: InitProducerId (WRITE on the
//! transactional id; without one, IDEMPOTENT_WRITE on the cluster or WRITE on some
//! topic, KIP-679), the ACL APIs (DESCRIBE or ALTER on the cluster) and the SCRAM
//! credential APIs (DESCRIBE or ALTER on the cluster).

use super::{Check, Decision, Denied};
use crate::security::acl::{Operation, ResourceType, CLUSTER_NAME};
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::DeleteAclsFilterResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::DescribeUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, CreateAclsRequest, CreateAclsResponse,
    DeleteAclsRequest, DeleteAclsResponse, DescribeAclsRequest, DescribeAclsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse, InitProducerIdRequest,
    InitProducerIdResponse, ProducerId, ResponseKind,
};
use std::collections::BTreeSet;

pub(super) fn init_producer_id(c: &Check, r: InitProducerIdRequest) -> Decision<InitProducerIdRequest> {
    let refused = match &r.transactional_id {
        Some(txn) => {
            (!c.allowed(Operation::Write, ResourceType::TransactionalId, txn)).then_some(Denied::TransactionalId)
        }
        None => {
            let allowed = c.allowed_quietly(Operation::IdempotentWrite, ResourceType::Cluster, CLUSTER_NAME)
                || c.any_quietly(Operation::Write, ResourceType::Topic);
            if !allowed {
                c.denied(Operation::IdempotentWrite, ResourceType::Cluster, CLUSTER_NAME);
            }
            (!allowed).then_some(Denied::Cluster)
        }
    };
    let Some(why) = refused else { return Decision::Forward(r, None) };
    let resp = InitProducerIdResponse::default()
        .with_error_code(why.code())
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    Decision::Answer(ResponseKind::InitProducerId(resp))
}

pub(super) fn describe_acls(c: &Check, r: DescribeAclsRequest) -> Decision<DescribeAclsRequest> {
    if c.cluster(Operation::Describe) {
        return Decision::Forward(r, None);
    }
    let resp = DescribeAclsResponse::default()
        .with_error_code(Denied::Cluster.code())
        .with_error_message(Some(Denied::Cluster.message()));
    Decision::Answer(ResponseKind::DescribeAcls(resp))
}

pub(super) fn create_acls(c: &Check, r: CreateAclsRequest) -> Decision<CreateAclsRequest> {
    if c.cluster(Operation::Alter) {
        return Decision::Forward(r, None);
    }
    let results = r
        .creations
        .iter()
        .map(|_| {
            AclCreationResult::default()
                .with_error_code(Denied::Cluster.code())
                .with_error_message(Some(Denied::Cluster.message()))
        })
        .collect();
    Decision::Answer(ResponseKind::CreateAcls(CreateAclsResponse::default().with_results(results)))
}

pub(super) fn delete_acls(c: &Check, r: DeleteAclsRequest) -> Decision<DeleteAclsRequest> {
    if c.cluster(Operation::Alter) {
        return Decision::Forward(r, None);
    }
    let results = r
        .filters
        .iter()
        .map(|_| {
            DeleteAclsFilterResult::default()
                .with_error_code(Denied::Cluster.code())
                .with_error_message(Some(Denied::Cluster.message()))
        })
        .collect();
    Decision::Answer(ResponseKind::DeleteAcls(DeleteAclsResponse::default().with_filter_results(results)))
}

pub(super) fn describe_user_scram_credentials(
    c: &Check,
    r: DescribeUserScramCredentialsRequest,
) -> Decision<DescribeUserScramCredentialsRequest> {
    if c.cluster(Operation::Describe) {
        return Decision::Forward(r, None);
    }
    let results = r
        .users
        .iter()
        .flatten()
        .map(|u| {
            DescribeUserScramCredentialsResult::default()
                .with_user(u.name.clone())
                .with_error_code(Denied::Cluster.code())
                .with_error_message(Some(Denied::Cluster.message()))
        })
        .collect();
    let resp = DescribeUserScramCredentialsResponse::default()
        .with_error_code(Denied::Cluster.code())
        .with_error_message(Some(Denied::Cluster.message()))
        .with_results(results);
    Decision::Answer(ResponseKind::DescribeUserScramCredentials(resp))
}

pub(super) fn alter_user_scram_credentials(
    c: &Check,
    r: AlterUserScramCredentialsRequest,
) -> Decision<AlterUserScramCredentialsRequest> {
    if c.cluster(Operation::Alter) {
        return Decision::Forward(r, None);
    }
    // one result per user named, as Kafka answers
    let users: BTreeSet<_> =
        r.deletions.iter().map(|d| d.name.clone()).chain(r.upsertions.iter().map(|u| u.name.clone())).collect();
    let results = users
        .into_iter()
        .map(|user| {
            AlterUserScramCredentialsResult::default()
                .with_user(user)
                .with_error_code(Denied::Cluster.code())
                .with_error_message(Some(Denied::Cluster.message()))
        })
        .collect();
    let resp = AlterUserScramCredentialsResponse::default().with_results(results);
    Decision::Answer(ResponseKind::AlterUserScramCredentials(resp))
}
