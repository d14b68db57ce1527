//! Rules for consumer groups: FindCoordinator (DESCRIBE on the group or the
//! transactional id), membership (READ on the group), offsets (READ or DESCRIBE on
//! the group, READ or DESCRIBE on each topic), listing (DESCRIBE on the cluster, or
//! per group), describing and deleting (DESCRIBE, DELETE on the group). OffsetFetch,
//! with its two response shapes, has its own file.

use super::{split_denied, Check, Decision, Denied};
use crate::security::acl::{Operation, ResourceType, CLUSTER_NAME};
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::{
    BrokerId, DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest, OffsetCommitRequest,
    OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse, ResponseKind, SyncGroupRequest, SyncGroupResponse,
};
use std::sync::Arc;

/// FindCoordinator key types.
const KEY_GROUP: i8 = 0;
const KEY_TRANSACTION: i8 = 1;
/// FindCoordinator batches keys from v4; error messages from v1.
const FIND_COORDINATOR_BATCH_MIN: i16 = 4;
const FIND_COORDINATOR_MESSAGE_MIN: i16 = 1;
/// DescribeGroups: authorized operations from v3, error messages from v6.
const DESCRIBE_GROUPS_OPERATIONS_MIN: i16 = 3;
const DESCRIBE_GROUPS_MESSAGE_MIN: i16 = 6;

pub(super) fn find_coordinator(c: &Check, mut r: FindCoordinatorRequest) -> Decision<FindCoordinatorRequest> {
    let refused = |key: &str| -> Option<Denied> {
        match r.key_type {
            KEY_GROUP => (!c.group(Operation::Describe, key)).then_some(Denied::Group),
            KEY_TRANSACTION => {
                (!c.allowed(Operation::Describe, ResourceType::TransactionalId, key)).then_some(Denied::TransactionalId)
            }
            // unknown key types are the backend's to refuse
            _ => None,
        }
    };
    if c.version < FIND_COORDINATOR_BATCH_MIN {
        let Some(why) = refused(&r.key) else { return Decision::Forward(r, None) };
        let resp =
            FindCoordinatorResponse::default().with_error_code(why.code()).with_node_id(BrokerId(-1)).with_port(-1);
        let resp =
            if c.version >= FIND_COORDINATOR_MESSAGE_MIN { resp.with_error_message(Some(why.message())) } else { resp };
        return Decision::Answer(ResponseKind::FindCoordinator(resp));
    }
    let (kept, denied) = split_denied(std::mem::take(&mut r.coordinator_keys), |key| {
        let why = refused(key)?;
        Some(
            Coordinator::default()
                .with_key(key.clone())
                .with_node_id(BrokerId(-1))
                .with_port(-1)
                .with_error_code(why.code())
                .with_error_message(Some(why.message())),
        )
    });
    r.coordinator_keys = kept;
    if denied.is_empty() {
        return Decision::Forward(r, None);
    }
    if r.coordinator_keys.is_empty() {
        return Decision::Answer(ResponseKind::FindCoordinator(
            FindCoordinatorResponse::default().with_coordinators(denied),
        ));
    }
    Decision::Forward(r, merge!(FindCoordinator, |resp| resp.coordinators.extend(denied)))
}

pub(super) fn join_group(c: &Check, r: JoinGroupRequest) -> Decision<JoinGroupRequest> {
    if c.group(Operation::Read, &r.group_id) {
        return Decision::Forward(r, None);
    }
    // generation -1, empty member id and leader: Kafka's error response
    let resp = JoinGroupResponse::default().with_error_code(Denied::Group.code());
    Decision::Answer(ResponseKind::JoinGroup(resp))
}

pub(super) fn sync_group(c: &Check, r: SyncGroupRequest) -> Decision<SyncGroupRequest> {
    if c.group(Operation::Read, &r.group_id) {
        return Decision::Forward(r, None);
    }
    Decision::Answer(ResponseKind::SyncGroup(SyncGroupResponse::default().with_error_code(Denied::Group.code())))
}

pub(super) fn heartbeat(c: &Check, r: HeartbeatRequest) -> Decision<HeartbeatRequest> {
    if c.group(Operation::Read, &r.group_id) {
        return Decision::Forward(r, None);
    }
    Decision::Answer(ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(Denied::Group.code())))
}

pub(super) fn leave_group(c: &Check, r: LeaveGroupRequest) -> Decision<LeaveGroupRequest> {
    if c.group(Operation::Read, &r.group_id) {
        return Decision::Forward(r, None);
    }
    Decision::Answer(ResponseKind::LeaveGroup(LeaveGroupResponse::default().with_error_code(Denied::Group.code())))
}

pub(super) fn offset_commit(c: &Check, mut r: OffsetCommitRequest) -> Decision<OffsetCommitRequest> {
    let deny_topic = |t: &kafka_protocol::messages::offset_commit_request::OffsetCommitRequestTopic, why: Denied| {
        let partitions = t
            .partitions
            .iter()
            .map(|p| {
                OffsetCommitResponsePartition::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(why.code())
            })
            .collect();
        OffsetCommitResponseTopic::default().with_name(t.name.clone()).with_partitions(partitions)
    };
    if !c.group(Operation::Read, &r.group_id) {
        let topics = r.topics.iter().map(|t| deny_topic(t, Denied::Group)).collect();
        return Decision::Answer(ResponseKind::OffsetCommit(OffsetCommitResponse::default().with_topics(topics)));
    }
    let (kept, denied) = split_denied(std::mem::take(&mut r.topics), |t| {
        (!c.topic(Operation::Read, &t.name)).then(|| deny_topic(t, Denied::Topic))
    });
    r.topics = kept;
    if denied.is_empty() {
        return Decision::Forward(r, None);
    }
    if r.topics.is_empty() {
        return Decision::Answer(ResponseKind::OffsetCommit(OffsetCommitResponse::default().with_topics(denied)));
    }
    Decision::Forward(r, merge!(OffsetCommit, |resp| resp.topics.extend(denied)))
}

pub(super) fn offset_delete(c: &Check, mut r: OffsetDeleteRequest) -> Decision<OffsetDeleteRequest> {
    if !c.group(Operation::Delete, &r.group_id) {
        let resp = OffsetDeleteResponse::default().with_error_code(Denied::Group.code());
        return Decision::Answer(ResponseKind::OffsetDelete(resp));
    }
    let (kept, denied) = split_denied(std::mem::take(&mut r.topics), |t| {
        (!c.topic(Operation::Read, &t.name)).then(|| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(Denied::Topic.code())
                })
                .collect();
            OffsetDeleteResponseTopic::default().with_name(t.name.clone()).with_partitions(partitions)
        })
    });
    r.topics = kept;
    if denied.is_empty() {
        return Decision::Forward(r, None);
    }
    if r.topics.is_empty() {
        return Decision::Answer(ResponseKind::OffsetDelete(OffsetDeleteResponse::default().with_topics(denied)));
    }
    Decision::Forward(r, merge!(OffsetDelete, |resp| resp.topics.extend(denied)))
}

pub(super) fn list_groups(c: &Arc<Check>, r: ListGroupsRequest) -> Decision<ListGroupsRequest> {
    // the cluster's DESCRIBE shows every group; otherwise each group needs its own,
    // and neither is a denial worth auditing (it only filters)
    if c.allowed_quietly(Operation::Describe, ResourceType::Cluster, CLUSTER_NAME) {
        return Decision::Forward(r, None);
    }
    let c = c.clone();
    Decision::Forward(
        r,
        merge!(ListGroups, |resp| resp.groups.retain(|g| c.allowed_quietly(
            Operation::Describe,
            ResourceType::Group,
            &g.group_id
        ))),
    )
}

pub(super) fn describe_groups(c: &Arc<Check>, mut r: DescribeGroupsRequest) -> Decision<DescribeGroupsRequest> {
    let v = c.version;
    let (kept, denied) = split_denied(std::mem::take(&mut r.groups), |g| {
        (!c.group(Operation::Describe, g)).then(|| {
            let d = DescribedGroup::default().with_group_id(g.clone()).with_error_code(Denied::Group.code());
            if v >= DESCRIBE_GROUPS_MESSAGE_MIN {
                d.with_error_message(Some(Denied::Group.message()))
            } else {
                d
            }
        })
    });
    r.groups = kept;
    if !denied.is_empty() && r.groups.is_empty() {
        return Decision::Answer(ResponseKind::DescribeGroups(DescribeGroupsResponse::default().with_groups(denied)));
    }
    let want_ops = v >= DESCRIBE_GROUPS_OPERATIONS_MIN && r.include_authorized_operations;
    let c = c.clone();
    Decision::Forward(
        r,
        merge!(DescribeGroups, |resp| {
            if want_ops {
                for g in resp.groups.iter_mut() {
                    g.authorized_operations = c.operations(ResourceType::Group, &g.group_id);
                }
            }
            resp.groups.extend(denied);
        }),
    )
}

pub(super) fn delete_groups(c: &Check, mut r: DeleteGroupsRequest) -> Decision<DeleteGroupsRequest> {
    let (kept, denied) = split_denied(std::mem::take(&mut r.groups_names), |g| {
        (!c.group(Operation::Delete, g))
            .then(|| DeletableGroupResult::default().with_group_id(g.clone()).with_error_code(Denied::Group.code()))
    });
    r.groups_names = kept;
    if denied.is_empty() {
        return Decision::Forward(r, None);
    }
    if r.groups_names.is_empty() {
        return Decision::Answer(ResponseKind::DeleteGroups(DeleteGroupsResponse::default().with_results(denied)));
    }
    Decision::Forward(r, merge!(DeleteGroups, |resp| resp.results.extend(denied)))
}
