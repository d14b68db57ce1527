//! The error codes a response carries, top level and per resource (Kafka's
//! `AbstractResponse.errorCounts`), for `gregor_kafka_request_errors_total`.
//! NONE (0) is not counted.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::ResponseKind;

/// Calls `f` once per non-zero error code in the response.
pub fn for_each_error(resp: &ResponseKind, f: &mut dyn FnMut(i16)) {
    let mut e = |code: i16| {
        if code != 0 {
            f(code)
        }
    };
    match resp {
        ResponseKind::Produce(r) => {
            r.responses.iter().flat_map(|t| &t.partition_responses).for_each(|p| e(p.error_code))
        }
        ResponseKind::Fetch(r) => {
            e(r.error_code);
            r.responses.iter().flat_map(|t| &t.partitions).for_each(|p| e(p.error_code));
        }
        ResponseKind::ListOffsets(r) => r.topics.iter().flat_map(|t| &t.partitions).for_each(|p| e(p.error_code)),
        ResponseKind::Metadata(r) => {
            e(r.error_code);
            for t in &r.topics {
                e(t.error_code);
                t.partitions.iter().for_each(|p| e(p.error_code));
            }
        }
        ResponseKind::ApiVersions(r) => e(r.error_code),
        ResponseKind::CreateTopics(r) => r.topics.iter().for_each(|t| e(t.error_code)),
        ResponseKind::DeleteTopics(r) => r.responses.iter().for_each(|t| e(t.error_code)),
        ResponseKind::DescribeConfigs(r) => r.results.iter().for_each(|t| e(t.error_code)),
        ResponseKind::AlterConfigs(r) => r.responses.iter().for_each(|t| e(t.error_code)),
        ResponseKind::IncrementalAlterConfigs(r) => r.responses.iter().for_each(|t| e(t.error_code)),
        ResponseKind::CreatePartitions(r) => r.results.iter().for_each(|t| e(t.error_code)),
        ResponseKind::DescribeCluster(r) => e(r.error_code),
        ResponseKind::FindCoordinator(r) => {
            e(r.error_code);
            r.coordinators.iter().for_each(|c| e(c.error_code));
        }
        ResponseKind::JoinGroup(r) => e(r.error_code),
        ResponseKind::SyncGroup(r) => e(r.error_code),
        ResponseKind::Heartbeat(r) => e(r.error_code),
        ResponseKind::LeaveGroup(r) => {
            e(r.error_code);
            r.members.iter().for_each(|m| e(m.error_code));
        }
        ResponseKind::OffsetCommit(r) => r.topics.iter().flat_map(|t| &t.partitions).for_each(|p| e(p.error_code)),
        ResponseKind::OffsetFetch(r) => {
            e(r.error_code);
            r.topics.iter().flat_map(|t| &t.partitions).for_each(|p| e(p.error_code));
            for g in &r.groups {
                e(g.error_code);
                g.topics.iter().flat_map(|t| &t.partitions).for_each(|p| e(p.error_code));
            }
        }
        ResponseKind::ListGroups(r) => e(r.error_code),
        ResponseKind::DescribeGroups(r) => r.groups.iter().for_each(|g| e(g.error_code)),
        ResponseKind::DeleteGroups(r) => r.results.iter().for_each(|g| e(g.error_code)),
        ResponseKind::OffsetDelete(r) => {
            e(r.error_code);
            r.topics.iter().flat_map(|t| &t.partitions).for_each(|p| e(p.error_code));
        }
        ResponseKind::InitProducerId(r) => e(r.error_code),
        ResponseKind::DescribeAcls(r) => e(r.error_code),
        ResponseKind::CreateAcls(r) => r.results.iter().for_each(|a| e(a.error_code)),
        ResponseKind::DeleteAcls(r) => r.filter_results.iter().for_each(|a| e(a.error_code)),
        ResponseKind::DescribeUserScramCredentials(r) => {
            e(r.error_code);
            r.results.iter().for_each(|u| e(u.error_code));
        }
        ResponseKind::AlterUserScramCredentials(r) => r.results.iter().for_each(|u| e(u.error_code)),
        ResponseKind::SaslHandshake(r) => e(r.error_code),
        ResponseKind::SaslAuthenticate(r) => e(r.error_code),
        ResponseKind::DescribeClientQuotas(r) => e(r.error_code),
        ResponseKind::AlterClientQuotas(r) => r.entries.iter().for_each(|q| e(q.error_code)),
        _ => {}
    }
}

/// Kafka's name for an error code (`NOT_LEADER_OR_FOLLOWER`, `NONE` for 0), or
/// `UNKNOWN_<code>` for a code Kafka does not define.
pub fn error_name(code: i16) -> String {
    if code == 0 {
        return "NONE".into();
    }
    match ResponseError::try_from_code(code) {
        Some(ResponseError::Unknown(_)) | None => format!("UNKNOWN_{code}"),
        Some(err) => upper_snake(&format!("{err:?}")),
    }
}

fn upper_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
    use kafka_protocol::messages::ProduceResponse;

    #[test]
    fn names_are_kafkas() {
        assert_eq!(error_name(6), "NOT_LEADER_OR_FOLLOWER");
        assert_eq!(error_name(29), "TOPIC_AUTHORIZATION_FAILED");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(9999), "UNKNOWN_9999");
    }

    #[test]
    fn per_partition_codes_are_counted_and_none_is_not() {
        let resp = ProduceResponse::default().with_responses(vec![TopicProduceResponse::default()
            .with_partition_responses(vec![
                PartitionProduceResponse::default().with_error_code(0),
                PartitionProduceResponse::default().with_error_code(3),
                PartitionProduceResponse::default().with_error_code(3),
            ])]);
        let mut codes = vec![];
        for_each_error(&ResponseKind::Produce(resp), &mut |c| codes.push(c));
        assert_eq!(codes, vec![3, 3]);
    }
}
