//! Representative requests and responses per routed API and version: every field
//! that exists at that version holds a non-default value, and no field that is
//! absent at that version is set (kafka-protocol refuses to encode those).

use crate::wire::{simple_batch, str_bytes};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

pub const TOPIC_ID: Uuid = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
const OTHER_TOPIC_ID: Uuid = Uuid::from_u128(0xfeed_f00d_0000_0000_0000_0000_0000_0001);

fn topic(name: &str) -> TopicName {
    TopicName(str_bytes(name))
}

fn some(s: &str) -> Option<StrBytes> {
    Some(str_bytes(s))
}

/// A request for `api` at `version` with every field of that version set.
pub fn request(api: ApiKey, v: i16) -> RequestKind {
    match api {
        ApiKey::Produce => RequestKind::Produce(produce_request(v)),
        ApiKey::Fetch => RequestKind::Fetch(fetch_request(v)),
        ApiKey::ListOffsets => RequestKind::ListOffsets(list_offsets_request(v)),
        ApiKey::OffsetForLeaderEpoch => RequestKind::OffsetForLeaderEpoch(offset_for_leader_epoch_request(v)),
        ApiKey::Metadata => RequestKind::Metadata(metadata_request(v)),
        ApiKey::ApiVersions => RequestKind::ApiVersions(api_versions_request(v)),
        ApiKey::CreateTopics => RequestKind::CreateTopics(create_topics_request()),
        ApiKey::DeleteTopics => RequestKind::DeleteTopics(delete_topics_request(v)),
        ApiKey::DescribeConfigs => RequestKind::DescribeConfigs(describe_configs_request(v)),
        ApiKey::AlterConfigs => RequestKind::AlterConfigs(legacy_alter_configs_request()),
        ApiKey::CreatePartitions => RequestKind::CreatePartitions(create_partitions_request()),
        ApiKey::IncrementalAlterConfigs => RequestKind::IncrementalAlterConfigs(alter_configs_request()),
        ApiKey::DescribeCluster => RequestKind::DescribeCluster(describe_cluster_request(v)),
        ApiKey::FindCoordinator => RequestKind::FindCoordinator(find_coordinator_request(v)),
        ApiKey::JoinGroup => RequestKind::JoinGroup(join_group_request(v)),
        ApiKey::SyncGroup => RequestKind::SyncGroup(sync_group_request(v)),
        ApiKey::Heartbeat => RequestKind::Heartbeat(heartbeat_request(v)),
        ApiKey::LeaveGroup => RequestKind::LeaveGroup(leave_group_request(v)),
        ApiKey::OffsetCommit => RequestKind::OffsetCommit(offset_commit_request(v)),
        ApiKey::OffsetFetch => RequestKind::OffsetFetch(offset_fetch_request(v)),
        ApiKey::ListGroups => RequestKind::ListGroups(list_groups_request(v)),
        ApiKey::DescribeGroups => RequestKind::DescribeGroups(describe_groups_request(v)),
        ApiKey::DeleteGroups => RequestKind::DeleteGroups(delete_groups_request()),
        ApiKey::OffsetDelete => RequestKind::OffsetDelete(offset_delete_request()),
        ApiKey::InitProducerId => RequestKind::InitProducerId(init_producer_id_request(v)),
        ApiKey::DescribeAcls => RequestKind::DescribeAcls(describe_acls_request()),
        ApiKey::CreateAcls => RequestKind::CreateAcls(create_acls_request()),
        ApiKey::DeleteAcls => RequestKind::DeleteAcls(delete_acls_request()),
        ApiKey::DescribeUserScramCredentials => {
            RequestKind::DescribeUserScramCredentials(describe_user_scram_credentials_request())
        }
        ApiKey::AlterUserScramCredentials => {
            RequestKind::AlterUserScramCredentials(alter_user_scram_credentials_request())
        }
        ApiKey::DescribeClientQuotas => RequestKind::DescribeClientQuotas(describe_client_quotas_request()),
        ApiKey::AlterClientQuotas => RequestKind::AlterClientQuotas(alter_client_quotas_request()),
        ApiKey::SaslHandshake => {
            RequestKind::SaslHandshake(SaslHandshakeRequest::default().with_mechanism(str_bytes("SCRAM-SHA-512")))
        }
        ApiKey::SaslAuthenticate => RequestKind::SaslAuthenticate(
            SaslAuthenticateRequest::default().with_auth_bytes(bytes::Bytes::from_static(b"\0alice\0secret")),
        ),
        other => panic!("no sample request for {other:?}: add one when it is routed"),
    }
}

fn produce_request(v: i16) -> ProduceRequest {
    use produce_request::{PartitionProduceData, TopicProduceData};
    let partition =
        PartitionProduceData::default().with_index(1).with_records(Some(simple_batch(3, 1_700_000_000_000)));
    let td = TopicProduceData::default().with_partition_data(vec![partition]);
    let td = if v >= 13 { td.with_topic_id(TOPIC_ID) } else { td.with_name(topic("orders")) };
    ProduceRequest::default()
        .with_transactional_id(Some(TransactionalId(str_bytes("tx-1"))))
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![td])
}

fn fetch_request(v: i16) -> FetchRequest {
    use fetch_request::{FetchPartition, FetchTopic, ForgottenTopic, ReplicaState};
    let mut p = FetchPartition::default().with_partition(2).with_fetch_offset(42).with_partition_max_bytes(1 << 20);
    if v >= 5 {
        p = p.with_log_start_offset(7);
    }
    if v >= 9 {
        p = p.with_current_leader_epoch(5);
    }
    if v >= 12 {
        p = p.with_last_fetched_epoch(4);
    }
    if v >= 17 {
        p = p.with_replica_directory_id(OTHER_TOPIC_ID);
    }
    if v >= 18 {
        p = p.with_high_watermark(40);
    }
    let t = FetchTopic::default().with_partitions(vec![p]);
    let t = if v >= 13 { t.with_topic_id(TOPIC_ID) } else { t.with_topic(topic("orders")) };
    let mut r = FetchRequest::default()
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(52_428_800)
        .with_isolation_level(1)
        .with_topics(vec![t]);
    r = if v >= 15 {
        r.with_replica_state(ReplicaState::default().with_replica_id(BrokerId(3)).with_replica_epoch(9))
    } else {
        r.with_replica_id(BrokerId(3))
    };
    if v >= 7 {
        let f = ForgottenTopic::default().with_partitions(vec![0, 1]);
        let f = if v >= 13 { f.with_topic_id(OTHER_TOPIC_ID) } else { f.with_topic(topic("old")) };
        r = r.with_session_id(12).with_session_epoch(3).with_forgotten_topics_data(vec![f]);
    }
    if v >= 11 {
        r = r.with_rack_id(str_bytes("rack-a"));
    }
    if v >= 12 {
        r = r.with_cluster_id(some("cluster-x"));
    }
    r
}

fn list_offsets_request(v: i16) -> ListOffsetsRequest {
    use list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    let mut latest = ListOffsetsPartition::default().with_partition_index(3).with_timestamp(-1);
    let mut at = ListOffsetsPartition::default().with_partition_index(4).with_timestamp(1_700_000_000_000);
    if v >= 4 {
        latest = latest.with_current_leader_epoch(2);
        at = at.with_current_leader_epoch(2);
    }
    let t = ListOffsetsTopic::default().with_name(topic("orders")).with_partitions(vec![latest, at]);
    let mut r = ListOffsetsRequest::default().with_replica_id(BrokerId(7)).with_topics(vec![t]);
    if v >= 2 {
        r = r.with_isolation_level(1);
    }
    if v >= 10 {
        r = r.with_timeout_ms(1_500);
    }
    r
}

fn metadata_request(v: i16) -> MetadataRequest {
    use metadata_request::MetadataRequestTopic;
    let mut topics = vec![MetadataRequestTopic::default().with_name(Some(topic("orders")))];
    if v >= 10 {
        topics.push(MetadataRequestTopic::default().with_name(None).with_topic_id(TOPIC_ID));
    }
    let mut r = MetadataRequest::default().with_topics(Some(topics));
    if v >= 4 {
        r = r.with_allow_auto_topic_creation(false);
    }
    if (8..=10).contains(&v) {
        r = r.with_include_cluster_authorized_operations(true);
    }
    if v >= 8 {
        r = r.with_include_topic_authorized_operations(true);
    }
    r
}

fn api_versions_request(v: i16) -> ApiVersionsRequest {
    let r = ApiVersionsRequest::default();
    if v >= 3 {
        r.with_client_software_name(str_bytes("gregor-tests")).with_client_software_version(str_bytes("0.1.0"))
    } else {
        r
    }
}

fn create_topics_request() -> CreateTopicsRequest {
    use create_topics_request::{CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig};
    let config = |k: &str, val: &str| CreatableTopicConfig::default().with_name(str_bytes(k)).with_value(some(val));
    let counted = CreatableTopic::default()
        .with_name(topic("orders"))
        .with_num_partitions(3)
        .with_replication_factor(1)
        .with_configs(vec![config("retention.ms", "3600000"), config("cleanup.policy", "delete")]);
    let assigned = CreatableTopic::default()
        .with_name(topic("manual"))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_assignments(vec![
            CreatableReplicaAssignment::default().with_partition_index(0).with_broker_ids(vec![BrokerId(1)]),
            CreatableReplicaAssignment::default().with_partition_index(1).with_broker_ids(vec![BrokerId(1)]),
        ]);
    CreateTopicsRequest::default().with_topics(vec![counted, assigned]).with_timeout_ms(30_000).with_validate_only(true)
}

fn delete_topics_request(v: i16) -> DeleteTopicsRequest {
    use delete_topics_request::DeleteTopicState;
    let r = DeleteTopicsRequest::default().with_timeout_ms(15_000);
    if v >= 6 {
        r.with_topics(vec![
            DeleteTopicState::default().with_name(Some(topic("orders"))),
            DeleteTopicState::default().with_name(None).with_topic_id(TOPIC_ID),
        ])
    } else {
        r.with_topic_names(vec![topic("orders"), topic("manual")])
    }
}

fn describe_configs_request(v: i16) -> DescribeConfigsRequest {
    use describe_configs_request::DescribeConfigsResource;
    let r = DescribeConfigsRequest::default()
        .with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(str_bytes("orders"))
                .with_configuration_keys(Some(vec![str_bytes("retention.ms")])),
            DescribeConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(str_bytes("1"))
                .with_configuration_keys(None),
        ])
        .with_include_synonyms(true);
    if v >= 3 {
        r.with_include_documentation(true)
    } else {
        r
    }
}

fn legacy_alter_configs_request() -> AlterConfigsRequest {
    use alter_configs_request::{AlterConfigsResource, AlterableConfig};
    AlterConfigsRequest::default()
        .with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(str_bytes("orders"))
            .with_configs(vec![
                AlterableConfig::default().with_name(str_bytes("retention.ms")).with_value(some("1000")),
                AlterableConfig::default().with_name(str_bytes("segment.ms")).with_value(None),
            ])])
        .with_validate_only(true)
}

fn create_partitions_request() -> CreatePartitionsRequest {
    use create_partitions_request::{CreatePartitionsAssignment, CreatePartitionsTopic};
    let one = || CreatePartitionsAssignment::default().with_broker_ids(vec![BrokerId(1)]);
    CreatePartitionsRequest::default()
        .with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name(topic("orders"))
                .with_count(5)
                .with_assignments(Some(vec![one(), one()])),
            CreatePartitionsTopic::default().with_name(topic("manual")).with_count(4).with_assignments(None),
        ])
        .with_timeout_ms(30_000)
        .with_validate_only(true)
}

fn alter_configs_request() -> IncrementalAlterConfigsRequest {
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    IncrementalAlterConfigsRequest::default()
        .with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(str_bytes("orders"))
            .with_configs(vec![
                AlterableConfig::default()
                    .with_name(str_bytes("retention.ms"))
                    .with_config_operation(0)
                    .with_value(some("1000")),
                AlterableConfig::default().with_name(str_bytes("segment.ms")).with_config_operation(1).with_value(None),
            ])])
        .with_validate_only(true)
}

fn describe_cluster_request(v: i16) -> DescribeClusterRequest {
    let mut r = DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
    if v >= 1 {
        r = r.with_endpoint_type(2);
    }
    if v >= 2 {
        r = r.with_include_fenced_brokers(true);
    }
    r
}

/// A response for `api` at `version` with every field of that version set.
pub fn response(api: ApiKey, v: i16) -> ResponseKind {
    match api {
        ApiKey::Produce => ResponseKind::Produce(produce_response(v)),
        ApiKey::Fetch => ResponseKind::Fetch(fetch_response(v)),
        ApiKey::ListOffsets => ResponseKind::ListOffsets(list_offsets_response(v)),
        ApiKey::OffsetForLeaderEpoch => ResponseKind::OffsetForLeaderEpoch(offset_for_leader_epoch_response()),
        ApiKey::Metadata => ResponseKind::Metadata(metadata_response(v)),
        ApiKey::ApiVersions => ResponseKind::ApiVersions(api_versions_response(v)),
        ApiKey::CreateTopics => ResponseKind::CreateTopics(create_topics_response(v)),
        ApiKey::DeleteTopics => ResponseKind::DeleteTopics(delete_topics_response(v)),
        ApiKey::DescribeConfigs => ResponseKind::DescribeConfigs(describe_configs_response(v)),
        ApiKey::AlterConfigs => ResponseKind::AlterConfigs(legacy_alter_configs_response()),
        ApiKey::CreatePartitions => ResponseKind::CreatePartitions(create_partitions_response()),
        ApiKey::IncrementalAlterConfigs => ResponseKind::IncrementalAlterConfigs(alter_configs_response()),
        ApiKey::DescribeCluster => ResponseKind::DescribeCluster(describe_cluster_response(v)),
        ApiKey::FindCoordinator => ResponseKind::FindCoordinator(find_coordinator_response(v)),
        ApiKey::JoinGroup => ResponseKind::JoinGroup(join_group_response(v)),
        ApiKey::SyncGroup => ResponseKind::SyncGroup(sync_group_response(v)),
        ApiKey::Heartbeat => ResponseKind::Heartbeat(heartbeat_response(v)),
        ApiKey::LeaveGroup => ResponseKind::LeaveGroup(leave_group_response(v)),
        ApiKey::OffsetCommit => ResponseKind::OffsetCommit(offset_commit_response(v)),
        ApiKey::OffsetFetch => ResponseKind::OffsetFetch(offset_fetch_response(v)),
        ApiKey::ListGroups => ResponseKind::ListGroups(list_groups_response(v)),
        ApiKey::DescribeGroups => ResponseKind::DescribeGroups(describe_groups_response(v)),
        ApiKey::DeleteGroups => ResponseKind::DeleteGroups(delete_groups_response()),
        ApiKey::OffsetDelete => ResponseKind::OffsetDelete(offset_delete_response()),
        ApiKey::InitProducerId => ResponseKind::InitProducerId(init_producer_id_response()),
        ApiKey::DescribeAcls => ResponseKind::DescribeAcls(describe_acls_response()),
        ApiKey::CreateAcls => ResponseKind::CreateAcls(create_acls_response()),
        ApiKey::DeleteAcls => ResponseKind::DeleteAcls(delete_acls_response()),
        ApiKey::DescribeUserScramCredentials => {
            ResponseKind::DescribeUserScramCredentials(describe_user_scram_credentials_response())
        }
        ApiKey::AlterUserScramCredentials => {
            ResponseKind::AlterUserScramCredentials(alter_user_scram_credentials_response())
        }
        ApiKey::DescribeClientQuotas => ResponseKind::DescribeClientQuotas(describe_client_quotas_response()),
        ApiKey::AlterClientQuotas => ResponseKind::AlterClientQuotas(alter_client_quotas_response()),
        ApiKey::SaslHandshake => ResponseKind::SaslHandshake(
            SaslHandshakeResponse::default()
                .with_error_code(33)
                .with_mechanisms(vec![str_bytes("PLAIN"), str_bytes("SCRAM-SHA-512")]),
        ),
        ApiKey::SaslAuthenticate => {
            let mut r = SaslAuthenticateResponse::default()
                .with_error_code(58)
                .with_error_message(some("bad password"))
                .with_auth_bytes(bytes::Bytes::from_static(b"v=signature"));
            if v >= 1 {
                r = r.with_session_lifetime_ms(3_600_000);
            }
            ResponseKind::SaslAuthenticate(r)
        }
        other => panic!("no sample response for {other:?}: add one when it is routed"),
    }
}

fn produce_response(v: i16) -> ProduceResponse {
    use produce_response::{
        BatchIndexAndErrorMessage, LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
    };
    let mut p = PartitionProduceResponse::default()
        .with_index(1)
        .with_error_code(0)
        .with_base_offset(100)
        .with_log_append_time_ms(1_700_000_000_123);
    if v >= 5 {
        p = p.with_log_start_offset(3);
    }
    if v >= 8 {
        p = p
            .with_record_errors(vec![BatchIndexAndErrorMessage::default()
                .with_batch_index(2)
                .with_batch_index_error_message(some("bad record"))])
            .with_error_message(some("partly failed"));
    }
    if v >= 10 {
        p = p.with_current_leader(LeaderIdAndEpoch::default().with_leader_id(BrokerId(1)).with_leader_epoch(4));
    }
    let t = TopicProduceResponse::default().with_partition_responses(vec![p]);
    let t = if v >= 13 { t.with_topic_id(TOPIC_ID) } else { t.with_name(topic("orders")) };
    let mut r = ProduceResponse::default().with_responses(vec![t]).with_throttle_time_ms(5);
    if v >= 10 {
        r = r.with_node_endpoints(vec![NodeEndpoint::default()
            .with_node_id(BrokerId(1))
            .with_host(str_bytes("broker-1"))
            .with_port(9092)
            .with_rack(some("r1"))]);
    }
    r
}

fn fetch_response(v: i16) -> FetchResponse {
    use fetch_response::{
        AbortedTransaction, EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint, PartitionData,
        SnapshotId,
    };
    let mut p = PartitionData::default()
        .with_partition_index(2)
        .with_error_code(0)
        .with_high_watermark(50)
        .with_last_stable_offset(48)
        .with_aborted_transactions(Some(vec![AbortedTransaction::default()
            .with_producer_id(ProducerId(77))
            .with_first_offset(44)]))
        .with_records(Some(simple_batch(2, 1_700_000_000_000)));
    if v >= 5 {
        p = p.with_log_start_offset(10);
    }
    if v >= 11 {
        p = p.with_preferred_read_replica(BrokerId(1));
    }
    if v >= 12 {
        p = p
            .with_diverging_epoch(EpochEndOffset::default().with_epoch(3).with_end_offset(45))
            .with_current_leader(LeaderIdAndEpoch::default().with_leader_id(BrokerId(1)).with_leader_epoch(4))
            .with_snapshot_id(SnapshotId::default().with_end_offset(40).with_epoch(2));
    }
    let t = FetchableTopicResponse::default().with_partitions(vec![p]);
    let t = if v >= 13 { t.with_topic_id(TOPIC_ID) } else { t.with_topic(topic("orders")) };
    let mut r = FetchResponse::default().with_throttle_time_ms(7).with_responses(vec![t]);
    if v >= 7 {
        r = r.with_error_code(0).with_session_id(99);
    }
    if v >= 16 {
        r = r.with_node_endpoints(vec![NodeEndpoint::default()
            .with_node_id(BrokerId(1))
            .with_host(str_bytes("broker-1"))
            .with_port(9092)
            .with_rack(some("r1"))]);
    }
    r
}

fn offset_for_leader_epoch_request(v: i16) -> OffsetForLeaderEpochRequest {
    use offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
    let p = OffsetForLeaderPartition::default().with_partition(3).with_current_leader_epoch(5).with_leader_epoch(4);
    let t = OffsetForLeaderTopic::default().with_topic(topic("orders")).with_partitions(vec![p]);
    let r = OffsetForLeaderEpochRequest::default().with_topics(vec![t]);
    if v >= 3 {
        r.with_replica_id(BrokerId(2))
    } else {
        r
    }
}

fn offset_for_leader_epoch_response() -> OffsetForLeaderEpochResponse {
    use offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
    let p = EpochEndOffset::default().with_error_code(6).with_partition(3).with_leader_epoch(4).with_end_offset(99);
    let t = OffsetForLeaderTopicResult::default().with_topic(topic("orders")).with_partitions(vec![p]);
    OffsetForLeaderEpochResponse::default().with_throttle_time_ms(3).with_topics(vec![t])
}

fn list_offsets_response(v: i16) -> ListOffsetsResponse {
    use list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
    let mut p = ListOffsetsPartitionResponse::default()
        .with_partition_index(3)
        .with_error_code(0)
        .with_timestamp(1_700_000_000_000)
        .with_offset(17);
    if v >= 4 {
        p = p.with_leader_epoch(2);
    }
    let t = ListOffsetsTopicResponse::default().with_name(topic("orders")).with_partitions(vec![p]);
    let r = ListOffsetsResponse::default().with_topics(vec![t]);
    if v >= 2 {
        r.with_throttle_time_ms(3)
    } else {
        r
    }
}

fn metadata_response(v: i16) -> MetadataResponse {
    use metadata_response::{MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic};
    let mut broker =
        MetadataResponseBroker::default().with_node_id(BrokerId(1)).with_host(str_bytes("broker-1")).with_port(9092);
    if v >= 1 {
        broker = broker.with_rack(some("r1"));
    }
    let mut p = MetadataResponsePartition::default()
        .with_error_code(0)
        .with_partition_index(0)
        .with_leader_id(BrokerId(1))
        .with_replica_nodes(vec![BrokerId(1), BrokerId(2)])
        .with_isr_nodes(vec![BrokerId(1)]);
    if v >= 5 {
        p = p.with_offline_replicas(vec![BrokerId(2)]);
    }
    if v >= 7 {
        p = p.with_leader_epoch(6);
    }
    let mut t =
        MetadataResponseTopic::default().with_error_code(0).with_name(Some(topic("orders"))).with_partitions(vec![p]);
    if v >= 1 {
        t = t.with_is_internal(true);
    }
    if v >= 8 {
        t = t.with_topic_authorized_operations(0b1_1111_1000);
    }
    if v >= 10 {
        t = t.with_topic_id(TOPIC_ID);
    }
    let mut r = MetadataResponse::default().with_brokers(vec![broker]).with_topics(vec![t]);
    if v >= 1 {
        r = r.with_controller_id(BrokerId(1));
    }
    if v >= 2 {
        r = r.with_cluster_id(some("cluster-x"));
    }
    if v >= 3 {
        r = r.with_throttle_time_ms(2);
    }
    if (8..=10).contains(&v) {
        r = r.with_cluster_authorized_operations(0b1_0000_0000);
    }
    if v >= 13 {
        // top-level error: only set together with an empty result in practice,
        // but any value must survive the round trip
        r = r.with_error_code(0);
    }
    r
}

fn api_versions_response(v: i16) -> ApiVersionsResponse {
    use api_versions_response::{FinalizedFeatureKey, SupportedFeatureKey};
    let mut r = gregor::router::api_versions_response(0);
    if v >= 1 {
        r = r.with_throttle_time_ms(1);
    }
    if v >= 3 {
        r = r
            .with_supported_features(vec![SupportedFeatureKey::default()
                .with_name(str_bytes("metadata.version"))
                .with_min_version(1)
                .with_max_version(20)])
            .with_finalized_features_epoch(3)
            .with_finalized_features(vec![FinalizedFeatureKey::default()
                .with_name(str_bytes("metadata.version"))
                .with_min_version_level(1)
                .with_max_version_level(20)])
            .with_zk_migration_ready(true);
    }
    r
}

fn create_topics_response(v: i16) -> CreateTopicsResponse {
    use create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
    let mut t = CreatableTopicResult::default()
        .with_name(topic("orders"))
        .with_error_code(36)
        .with_error_message(some("Topic 'orders' already exists."));
    if v >= 5 {
        t = t.with_topic_config_error_code(0).with_num_partitions(3).with_replication_factor(1).with_configs(Some(
            vec![CreatableTopicConfigs::default()
                .with_name(str_bytes("retention.ms"))
                .with_value(some("3600000"))
                .with_read_only(true)
                .with_config_source(1)
                .with_is_sensitive(true)],
        ));
    }
    if v >= 7 {
        t = t.with_topic_id(TOPIC_ID);
    }
    CreateTopicsResponse::default().with_throttle_time_ms(4).with_topics(vec![t])
}

fn delete_topics_response(v: i16) -> DeleteTopicsResponse {
    use delete_topics_response::DeletableTopicResult;
    let mut t = DeletableTopicResult::default().with_name(Some(topic("orders"))).with_error_code(3);
    if v >= 5 {
        t = t.with_error_message(some("unknown topic"));
    }
    if v >= 6 {
        t = t.with_topic_id(TOPIC_ID);
    }
    DeleteTopicsResponse::default().with_throttle_time_ms(4).with_responses(vec![t])
}

fn describe_configs_response(v: i16) -> DescribeConfigsResponse {
    use describe_configs_response::{DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym};
    let mut entry = DescribeConfigsResourceResult::default()
        .with_name(str_bytes("retention.ms"))
        .with_value(some("3600000"))
        .with_read_only(true)
        .with_config_source(1)
        .with_is_sensitive(true)
        .with_synonyms(vec![DescribeConfigsSynonym::default()
            .with_name(str_bytes("log.retention.ms"))
            .with_value(some("604800000"))
            .with_source(4)]);
    if v >= 3 {
        entry = entry.with_config_type(5).with_documentation(some("How long to keep a log segment."));
    }
    let result = DescribeConfigsResult::default()
        .with_error_code(0)
        .with_error_message(some("ok"))
        .with_resource_type(2)
        .with_resource_name(str_bytes("orders"))
        .with_configs(vec![entry]);
    DescribeConfigsResponse::default().with_throttle_time_ms(6).with_results(vec![result])
}

fn legacy_alter_configs_response() -> AlterConfigsResponse {
    use alter_configs_response::AlterConfigsResourceResponse;
    AlterConfigsResponse::default().with_throttle_time_ms(9).with_responses(vec![
        AlterConfigsResourceResponse::default()
            .with_error_code(40)
            .with_error_message(some("Null value not supported"))
            .with_resource_type(2)
            .with_resource_name(str_bytes("orders")),
    ])
}

fn create_partitions_response() -> CreatePartitionsResponse {
    use create_partitions_response::CreatePartitionsTopicResult;
    CreatePartitionsResponse::default().with_throttle_time_ms(8).with_results(vec![
        CreatePartitionsTopicResult::default()
            .with_name(topic("orders"))
            .with_error_code(37)
            .with_error_message(some("Topic already has 3 partitions.")),
    ])
}

fn alter_configs_response() -> IncrementalAlterConfigsResponse {
    use incremental_alter_configs_response::AlterConfigsResourceResponse;
    IncrementalAlterConfigsResponse::default().with_throttle_time_ms(9).with_responses(vec![
        AlterConfigsResourceResponse::default()
            .with_error_code(40)
            .with_error_message(some("Invalid value"))
            .with_resource_type(2)
            .with_resource_name(str_bytes("orders")),
    ])
}

fn describe_cluster_response(v: i16) -> DescribeClusterResponse {
    use describe_cluster_response::DescribeClusterBroker;
    let mut b = DescribeClusterBroker::default()
        .with_broker_id(BrokerId(1))
        .with_host(str_bytes("broker-1"))
        .with_port(9092)
        .with_rack(some("r1"));
    if v >= 2 {
        b = b.with_is_fenced(true);
    }
    let mut r = DescribeClusterResponse::default()
        .with_throttle_time_ms(1)
        .with_error_code(0)
        .with_error_message(some("none"))
        .with_cluster_id(str_bytes("cluster-x"))
        .with_controller_id(BrokerId(1))
        .with_brokers(vec![b])
        .with_cluster_authorized_operations(0b1000_0000);
    if v >= 1 {
        r = r.with_endpoint_type(2);
    }
    r
}

// ---- consumer groups (classic protocol) ----

fn group(name: &str) -> GroupId {
    GroupId(str_bytes(name))
}

fn bytes(b: &'static [u8]) -> bytes::Bytes {
    bytes::Bytes::from_static(b)
}

fn find_coordinator_request(v: i16) -> FindCoordinatorRequest {
    let r = FindCoordinatorRequest::default();
    let r = if v >= 1 { r.with_key_type(1) } else { r };
    if v >= 4 {
        r.with_coordinator_keys(vec![str_bytes("tx-a"), str_bytes("tx-b")])
    } else {
        r.with_key(str_bytes("tx-a"))
    }
}

fn join_group_request(v: i16) -> JoinGroupRequest {
    use join_group_request::JoinGroupRequestProtocol;
    let mut r = JoinGroupRequest::default()
        .with_group_id(group("my-group"))
        .with_session_timeout_ms(10_000)
        .with_member_id(str_bytes("member-1"))
        .with_protocol_type(str_bytes("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(str_bytes("range"))
                .with_metadata(bytes(b"\x00\x01range-meta")),
            JoinGroupRequestProtocol::default().with_name(str_bytes("roundrobin")).with_metadata(bytes(b"\x00\x01rr")),
        ]);
    if v >= 1 {
        r = r.with_rebalance_timeout_ms(30_000);
    }
    if v >= 5 {
        r = r.with_group_instance_id(some("instance-1"));
    }
    if v >= 8 {
        r = r.with_reason(some("rejoining"));
    }
    r
}

fn sync_group_request(v: i16) -> SyncGroupRequest {
    use sync_group_request::SyncGroupRequestAssignment;
    let mut r = SyncGroupRequest::default()
        .with_group_id(group("my-group"))
        .with_generation_id(3)
        .with_member_id(str_bytes("member-1"))
        .with_assignments(vec![SyncGroupRequestAssignment::default()
            .with_member_id(str_bytes("member-1"))
            .with_assignment(bytes(b"\x00\x01assignment"))]);
    if v >= 3 {
        r = r.with_group_instance_id(some("instance-1"));
    }
    if v >= 5 {
        r = r.with_protocol_type(some("consumer")).with_protocol_name(some("range"));
    }
    r
}

fn heartbeat_request(v: i16) -> HeartbeatRequest {
    let r = HeartbeatRequest::default()
        .with_group_id(group("my-group"))
        .with_generation_id(3)
        .with_member_id(str_bytes("member-1"));
    if v >= 3 {
        r.with_group_instance_id(some("instance-1"))
    } else {
        r
    }
}

fn leave_group_request(v: i16) -> LeaveGroupRequest {
    use leave_group_request::MemberIdentity;
    let r = LeaveGroupRequest::default().with_group_id(group("my-group"));
    if v >= 3 {
        let mut m =
            MemberIdentity::default().with_member_id(str_bytes("member-1")).with_group_instance_id(some("instance-1"));
        if v >= 5 {
            m = m.with_reason(some("shutting down"));
        }
        r.with_members(vec![m, MemberIdentity::default().with_member_id(str_bytes("member-2"))])
    } else {
        r.with_member_id(str_bytes("member-1"))
    }
}

fn offset_commit_request(v: i16) -> OffsetCommitRequest {
    use offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
    let mut p = OffsetCommitRequestPartition::default()
        .with_partition_index(1)
        .with_committed_offset(42)
        .with_committed_metadata(some("meta"));
    if v >= 6 {
        p = p.with_committed_leader_epoch(3);
    }
    let mut r = OffsetCommitRequest::default()
        .with_group_id(group("my-group"))
        .with_generation_id_or_member_epoch(3)
        .with_member_id(str_bytes("member-1"))
        .with_topics(vec![OffsetCommitRequestTopic::default().with_name(topic("orders")).with_partitions(vec![p])]);
    if v <= 4 {
        r = r.with_retention_time_ms(86_400_000);
    }
    if v >= 7 {
        r = r.with_group_instance_id(some("instance-1"));
    }
    r
}

fn offset_fetch_request(v: i16) -> OffsetFetchRequest {
    use offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics};
    let r = if v >= 8 {
        let mut g = OffsetFetchRequestGroup::default().with_group_id(group("my-group")).with_topics(Some(vec![
            OffsetFetchRequestTopics::default().with_name(topic("orders")).with_partition_indexes(vec![0, 1]),
        ]));
        if v >= 9 {
            g = g.with_member_id(some("member-1")).with_member_epoch(5);
        }
        OffsetFetchRequest::default()
            .with_groups(vec![g, OffsetFetchRequestGroup::default().with_group_id(group("other")).with_topics(None)])
    } else {
        OffsetFetchRequest::default().with_group_id(group("my-group")).with_topics(Some(vec![
            OffsetFetchRequestTopic::default().with_name(topic("orders")).with_partition_indexes(vec![0, 1]),
        ]))
    };
    if v >= 7 {
        r.with_require_stable(true)
    } else {
        r
    }
}

fn list_groups_request(v: i16) -> ListGroupsRequest {
    let mut r = ListGroupsRequest::default();
    if v >= 4 {
        r = r.with_states_filter(vec![str_bytes("Stable"), str_bytes("Empty")]);
    }
    if v >= 5 {
        r = r.with_types_filter(vec![str_bytes("classic")]);
    }
    r
}

fn describe_groups_request(v: i16) -> DescribeGroupsRequest {
    let r = DescribeGroupsRequest::default().with_groups(vec![group("my-group"), group("other")]);
    if v >= 3 {
        r.with_include_authorized_operations(true)
    } else {
        r
    }
}

fn delete_groups_request() -> DeleteGroupsRequest {
    DeleteGroupsRequest::default().with_groups_names(vec![group("my-group"), group("other")])
}

fn offset_delete_request() -> OffsetDeleteRequest {
    use offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
    OffsetDeleteRequest::default().with_group_id(group("my-group")).with_topics(vec![
        OffsetDeleteRequestTopic::default().with_name(topic("orders")).with_partitions(vec![
            OffsetDeleteRequestPartition::default().with_partition_index(0),
            OffsetDeleteRequestPartition::default().with_partition_index(1),
        ]),
    ])
}

fn find_coordinator_response(v: i16) -> FindCoordinatorResponse {
    use find_coordinator_response::Coordinator;
    let r = if v >= 1 {
        FindCoordinatorResponse::default().with_throttle_time_ms(2)
    } else {
        FindCoordinatorResponse::default()
    };
    if v >= 4 {
        r.with_coordinators(vec![Coordinator::default()
            .with_key(str_bytes("tx-a"))
            .with_node_id(BrokerId(1))
            .with_host(str_bytes("broker-1"))
            .with_port(9092)
            .with_error_code(15)
            .with_error_message(some("loading"))])
    } else {
        let r = r.with_error_code(0).with_node_id(BrokerId(1)).with_host(str_bytes("broker-1")).with_port(9092);
        if v >= 1 {
            r.with_error_message(some("none"))
        } else {
            r
        }
    }
}

fn join_group_response(v: i16) -> JoinGroupResponse {
    use join_group_response::JoinGroupResponseMember;
    let mut m = JoinGroupResponseMember::default()
        .with_member_id(str_bytes("member-1"))
        .with_metadata(bytes(b"\x00\x01range-meta"));
    if v >= 5 {
        m = m.with_group_instance_id(some("instance-1"));
    }
    let mut r = JoinGroupResponse::default()
        .with_error_code(0)
        .with_generation_id(3)
        .with_protocol_name(some("range"))
        .with_leader(str_bytes("member-1"))
        .with_member_id(str_bytes("member-1"))
        .with_members(vec![m]);
    if v >= 2 {
        r = r.with_throttle_time_ms(4);
    }
    if v >= 7 {
        r = r.with_protocol_type(some("consumer"));
    }
    if v >= 9 {
        r = r.with_skip_assignment(true);
    }
    r
}

fn sync_group_response(v: i16) -> SyncGroupResponse {
    let mut r = SyncGroupResponse::default().with_error_code(0).with_assignment(bytes(b"\x00\x01assignment"));
    if v >= 1 {
        r = r.with_throttle_time_ms(4);
    }
    if v >= 5 {
        r = r.with_protocol_type(some("consumer")).with_protocol_name(some("range"));
    }
    r
}

fn heartbeat_response(v: i16) -> HeartbeatResponse {
    let r = HeartbeatResponse::default().with_error_code(27);
    if v >= 1 {
        r.with_throttle_time_ms(4)
    } else {
        r
    }
}

fn leave_group_response(v: i16) -> LeaveGroupResponse {
    use leave_group_response::MemberResponse;
    let mut r = LeaveGroupResponse::default().with_error_code(0);
    if v >= 1 {
        r = r.with_throttle_time_ms(4);
    }
    if v >= 3 {
        r = r.with_members(vec![MemberResponse::default()
            .with_member_id(str_bytes("member-1"))
            .with_group_instance_id(some("instance-1"))
            .with_error_code(25)]);
    }
    r
}

fn offset_commit_response(v: i16) -> OffsetCommitResponse {
    use offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
    let r = OffsetCommitResponse::default().with_topics(vec![OffsetCommitResponseTopic::default()
        .with_name(topic("orders"))
        .with_partitions(vec![OffsetCommitResponsePartition::default().with_partition_index(1).with_error_code(22)])]);
    if v >= 3 {
        r.with_throttle_time_ms(4)
    } else {
        r
    }
}

fn offset_fetch_response(v: i16) -> OffsetFetchResponse {
    use offset_fetch_response::{
        OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
        OffsetFetchResponseTopic, OffsetFetchResponseTopics,
    };
    let mut r = OffsetFetchResponse::default();
    if v >= 3 {
        r = r.with_throttle_time_ms(4);
    }
    if v >= 8 {
        let p = OffsetFetchResponsePartitions::default()
            .with_partition_index(1)
            .with_committed_offset(42)
            .with_committed_leader_epoch(3)
            .with_metadata(some("meta"))
            .with_error_code(0);
        return r.with_groups(vec![OffsetFetchResponseGroup::default()
            .with_group_id(group("my-group"))
            .with_topics(vec![OffsetFetchResponseTopics::default().with_name(topic("orders")).with_partitions(vec![p])])
            .with_error_code(0)]);
    }
    let mut p = OffsetFetchResponsePartition::default()
        .with_partition_index(1)
        .with_committed_offset(42)
        .with_metadata(some("meta"))
        .with_error_code(0);
    if v >= 5 {
        p = p.with_committed_leader_epoch(3);
    }
    r = r.with_topics(vec![OffsetFetchResponseTopic::default().with_name(topic("orders")).with_partitions(vec![p])]);
    if v >= 2 {
        r = r.with_error_code(14);
    }
    r
}

fn list_groups_response(v: i16) -> ListGroupsResponse {
    use list_groups_response::ListedGroup;
    let mut g = ListedGroup::default().with_group_id(group("my-group")).with_protocol_type(str_bytes("consumer"));
    if v >= 4 {
        g = g.with_group_state(str_bytes("Stable"));
    }
    if v >= 5 {
        g = g.with_group_type(str_bytes("classic"));
    }
    let r = ListGroupsResponse::default().with_error_code(0).with_groups(vec![g]);
    if v >= 1 {
        r.with_throttle_time_ms(4)
    } else {
        r
    }
}

fn describe_groups_response(v: i16) -> DescribeGroupsResponse {
    use describe_groups_response::{DescribedGroup, DescribedGroupMember};
    let mut m = DescribedGroupMember::default()
        .with_member_id(str_bytes("member-1"))
        .with_client_id(str_bytes("client-1"))
        .with_client_host(str_bytes("/127.0.0.1"))
        .with_member_metadata(bytes(b"\x00\x01meta"))
        .with_member_assignment(bytes(b"\x00\x01assignment"));
    if v >= 4 {
        m = m.with_group_instance_id(some("instance-1"));
    }
    let mut g = DescribedGroup::default()
        .with_error_code(0)
        .with_group_id(group("my-group"))
        .with_group_state(str_bytes("Stable"))
        .with_protocol_type(str_bytes("consumer"))
        .with_protocol_data(str_bytes("range"))
        .with_members(vec![m]);
    if v >= 3 {
        g = g.with_authorized_operations(0b1_1000);
    }
    if v >= 6 {
        g = g.with_error_message(some("none"));
    }
    let r = DescribeGroupsResponse::default().with_groups(vec![g]);
    if v >= 1 {
        r.with_throttle_time_ms(4)
    } else {
        r
    }
}

fn delete_groups_response() -> DeleteGroupsResponse {
    use delete_groups_response::DeletableGroupResult;
    DeleteGroupsResponse::default().with_throttle_time_ms(4).with_results(vec![
        DeletableGroupResult::default().with_group_id(group("my-group")).with_error_code(68),
        DeletableGroupResult::default().with_group_id(group("other")).with_error_code(69),
    ])
}

fn offset_delete_response() -> OffsetDeleteResponse {
    use offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
    OffsetDeleteResponse::default().with_error_code(0).with_throttle_time_ms(4).with_topics(vec![
        OffsetDeleteResponseTopic::default().with_name(topic("orders")).with_partitions(vec![
            OffsetDeleteResponsePartition::default().with_partition_index(1).with_error_code(86),
        ]),
    ])
}

// ---- idempotent producer ----

fn init_producer_id_request(v: i16) -> InitProducerIdRequest {
    let r = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(str_bytes("tx-1"))))
        .with_transaction_timeout_ms(60_000);
    if v >= 3 {
        r.with_producer_id(ProducerId(4_000)).with_producer_epoch(2)
    } else {
        r
    }
}

fn init_producer_id_response() -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_throttle_time_ms(4)
        .with_error_code(0)
        .with_producer_id(ProducerId(4_000))
        .with_producer_epoch(3)
}

// ---- ACLs ----

fn describe_acls_request() -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_type_filter(2)
        .with_resource_name_filter(some("orders"))
        .with_pattern_type_filter(2)
        .with_principal_filter(some("User:alice"))
        .with_host_filter(some("10.0.0.1"))
        .with_operation(3)
        .with_permission_type(3)
}

fn create_acls_request() -> CreateAclsRequest {
    use create_acls_request::AclCreation;
    CreateAclsRequest::default().with_creations(vec![AclCreation::default()
        .with_resource_type(2)
        .with_resource_name(str_bytes("orders-"))
        .with_resource_pattern_type(4)
        .with_principal(str_bytes("User:alice"))
        .with_host(str_bytes("*"))
        .with_operation(4)
        .with_permission_type(3)])
}

fn delete_acls_request() -> DeleteAclsRequest {
    use delete_acls_request::DeleteAclsFilter;
    DeleteAclsRequest::default().with_filters(vec![DeleteAclsFilter::default()
        .with_resource_type_filter(3)
        .with_resource_name_filter(some("payments"))
        .with_pattern_type_filter(3)
        .with_principal_filter(some("User:bob"))
        .with_host_filter(some("*"))
        .with_operation(6)
        .with_permission_type(2)])
}

fn describe_acls_response() -> DescribeAclsResponse {
    use describe_acls_response::{AclDescription, DescribeAclsResource};
    DescribeAclsResponse::default().with_throttle_time_ms(4).with_error_code(0).with_error_message(None).with_resources(
        vec![DescribeAclsResource::default()
            .with_resource_type(2)
            .with_resource_name(str_bytes("orders-"))
            .with_pattern_type(4)
            .with_acls(vec![AclDescription::default()
                .with_principal(str_bytes("User:alice"))
                .with_host(str_bytes("*"))
                .with_operation(4)
                .with_permission_type(3)])],
    )
}

fn create_acls_response() -> CreateAclsResponse {
    use create_acls_response::AclCreationResult;
    CreateAclsResponse::default().with_throttle_time_ms(4).with_results(vec![
        AclCreationResult::default().with_error_code(0).with_error_message(None),
        AclCreationResult::default().with_error_code(42).with_error_message(some("Invalid patternType 1")),
    ])
}

fn delete_acls_response() -> DeleteAclsResponse {
    use delete_acls_response::{DeleteAclsFilterResult, DeleteAclsMatchingAcl};
    DeleteAclsResponse::default().with_throttle_time_ms(4).with_filter_results(vec![DeleteAclsFilterResult::default()
        .with_error_code(0)
        .with_error_message(None)
        .with_matching_acls(vec![DeleteAclsMatchingAcl::default()
            .with_error_code(42)
            .with_error_message(some("defined in the config file"))
            .with_resource_type(3)
            .with_resource_name(str_bytes("payments"))
            .with_pattern_type(3)
            .with_principal(str_bytes("User:bob"))
            .with_host(str_bytes("*"))
            .with_operation(6)
            .with_permission_type(2)])])
}
// ---- SCRAM credentials (KIP-554) ----

fn describe_user_scram_credentials_request() -> DescribeUserScramCredentialsRequest {
    use describe_user_scram_credentials_request::UserName;
    DescribeUserScramCredentialsRequest::default().with_users(Some(vec![
        UserName::default().with_name(str_bytes("alice")),
        UserName::default().with_name(str_bytes("bob")),
    ]))
}

fn describe_user_scram_credentials_response() -> DescribeUserScramCredentialsResponse {
    use describe_user_scram_credentials_response::{CredentialInfo, DescribeUserScramCredentialsResult};
    DescribeUserScramCredentialsResponse::default()
        .with_throttle_time_ms(4)
        .with_error_code(0)
        .with_error_message(some("all fine"))
        .with_results(vec![
            DescribeUserScramCredentialsResult::default().with_user(str_bytes("alice")).with_credential_infos(vec![
                CredentialInfo::default().with_mechanism(1).with_iterations(4096),
                CredentialInfo::default().with_mechanism(2).with_iterations(8192),
            ]),
            DescribeUserScramCredentialsResult::default()
                .with_user(str_bytes("bob"))
                .with_error_code(91)
                .with_error_message(some("no such user")),
        ])
}

fn alter_user_scram_credentials_request() -> AlterUserScramCredentialsRequest {
    use alter_user_scram_credentials_request::{ScramCredentialDeletion, ScramCredentialUpsertion};
    AlterUserScramCredentialsRequest::default()
        .with_deletions(vec![ScramCredentialDeletion::default().with_name(str_bytes("alice")).with_mechanism(1)])
        .with_upsertions(vec![ScramCredentialUpsertion::default()
            .with_name(str_bytes("bob"))
            .with_mechanism(2)
            .with_iterations(8192)
            .with_salt(bytes::Bytes::from_static(b"salt-bytes"))
            .with_salted_password(bytes::Bytes::from(vec![7u8; 64]))])
}

fn alter_user_scram_credentials_response() -> AlterUserScramCredentialsResponse {
    use alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
    AlterUserScramCredentialsResponse::default().with_throttle_time_ms(4).with_results(vec![
        AlterUserScramCredentialsResult::default().with_user(str_bytes("alice")),
        AlterUserScramCredentialsResult::default()
            .with_user(str_bytes("bob"))
            .with_error_code(93)
            .with_error_message(some("too few iterations")),
    ])
}

// ---- client quotas (KIP-546) ----

fn describe_client_quotas_request() -> DescribeClientQuotasRequest {
    use describe_client_quotas_request::ComponentData;
    DescribeClientQuotasRequest::default()
        .with_components(vec![
            ComponentData::default().with_entity_type(str_bytes("user")).with_match_type(0).with_match(some("alice")),
            ComponentData::default().with_entity_type(str_bytes("client-id")).with_match_type(2),
        ])
        .with_strict(true)
}

fn describe_client_quotas_response() -> DescribeClientQuotasResponse {
    use describe_client_quotas_response::{EntityData, EntryData, ValueData};
    DescribeClientQuotasResponse::default()
        .with_throttle_time_ms(4)
        .with_error_code(0)
        .with_error_message(some("all fine"))
        .with_entries(Some(vec![EntryData::default()
            .with_entity(vec![
                EntityData::default().with_entity_type(str_bytes("user")).with_entity_name(some("alice")),
                EntityData::default().with_entity_type(str_bytes("client-id")).with_entity_name(None),
            ])
            .with_values(vec![
                ValueData::default().with_key(str_bytes("producer_byte_rate")).with_value(1048576.0),
                ValueData::default().with_key(str_bytes("request_percentage")).with_value(12.5),
            ])]))
}

fn alter_client_quotas_request() -> AlterClientQuotasRequest {
    use alter_client_quotas_request::{EntityData, EntryData, OpData};
    AlterClientQuotasRequest::default()
        .with_entries(vec![EntryData::default()
            .with_entity(vec![EntityData::default().with_entity_type(str_bytes("user")).with_entity_name(None)])
            .with_ops(vec![
                OpData::default().with_key(str_bytes("consumer_byte_rate")).with_value(2048.0),
                OpData::default().with_key(str_bytes("producer_byte_rate")).with_remove(true),
            ])])
        .with_validate_only(true)
}

fn alter_client_quotas_response() -> AlterClientQuotasResponse {
    use alter_client_quotas_response::{EntityData, EntryData};
    AlterClientQuotasResponse::default().with_throttle_time_ms(4).with_entries(vec![EntryData::default()
        .with_error_code(42)
        .with_error_message(some("Invalid configuration key x"))
        .with_entity(vec![EntityData::default()
            .with_entity_type(str_bytes("client-id"))
            .with_entity_name(some("app"))])])
}
