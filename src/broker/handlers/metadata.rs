//! Metadata: brokers, controller, and topics with their partitions; creates
//! missing topics when both the request and `auto.create.topics.enable` allow.
//! Authorized operations are the authorization layer's to fill.

use super::{str_bytes, Ctx};
use crate::broker::error::BrokerError;
use crate::broker::Topic;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use std::sync::Arc;
use uuid::Uuid;

pub fn handle(ctx: &Ctx<'_>, req: MetadataRequest) -> MetadataResponse {
    let b = ctx.broker;
    let (host, port) = ctx.advertised();
    // v0: an empty list means all topics; v1+: null means all
    let all = req.topics.is_none() || (ctx.version == 0 && req.topics.as_ref().is_some_and(|t| t.is_empty()));
    let auto_create = (ctx.version < 4 || req.allow_auto_topic_creation) && b.config.broker.auto_create_topics_enable;
    let topics = if all {
        b.topics().iter().map(|t| describe_topic(ctx, t)).collect()
    } else {
        req.topics
            .unwrap_or_default()
            .into_iter()
            .map(|rt| match rt.name {
                Some(name) => by_name(ctx, &name, auto_create),
                None => by_id(ctx, rt.topic_id),
            })
            .collect()
    };
    let (brokers, controller) = match b.cluster.get() {
        Some(cluster) => (cluster_brokers(ctx, &cluster.image()), cluster.controller_id().unwrap_or(-1)),
        None => (
            vec![MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.node_id()))
                .with_host(str_bytes(host))
                .with_port(port as i32)],
            b.node_id(),
        ),
    };
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id((ctx.version >= 2).then(|| str_bytes(b.cluster_id())))
        .with_controller_id(BrokerId(controller))
        .with_topics(topics)
}

/// Live brokers with an endpoint on the listener this client came in on.
fn cluster_brokers(ctx: &Ctx<'_>, image: &crate::cluster::image::Image) -> Vec<MetadataResponseBroker> {
    image
        .live_brokers()
        .filter_map(|r| {
            let e = r.endpoint(&ctx.conn.listener)?;
            Some(
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(r.id))
                    .with_host(str_bytes(e.host.clone()))
                    .with_port(e.port as i32)
                    .with_rack(r.rack.clone().map(str_bytes)),
            )
        })
        .collect()
}

/// A topic's partitions as the metadata image has them.
fn cluster_partitions(ctx: &Ctx<'_>, t: &Topic) -> Option<Vec<MetadataResponsePartition>> {
    let image = ctx.broker.cluster.get()?.image();
    let ti = image.topics.get(&t.name)?;
    let ids = |v: &[i32]| v.iter().map(|id| BrokerId(*id)).collect::<Vec<_>>();
    Some(
        ti.partitions
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let offline: Vec<i32> = p.replicas.iter().copied().filter(|r| !image.is_live(*r)).collect();
                let code =
                    if p.leader < 0 { kafka_protocol::error::ResponseError::LeaderNotAvailable.code() } else { 0 };
                let mp = MetadataResponsePartition::default()
                    .with_error_code(code)
                    .with_partition_index(i as i32)
                    .with_leader_id(BrokerId(p.leader))
                    .with_replica_nodes(ids(&p.replicas))
                    .with_isr_nodes(ids(&p.isr))
                    .with_offline_replicas(ids(&offline));
                if ctx.version >= 7 {
                    mp.with_leader_epoch(p.leader_epoch)
                } else {
                    mp
                }
            })
            .collect(),
    )
}

fn by_name(ctx: &Ctx<'_>, name: &TopicName, auto_create: bool) -> MetadataResponseTopic {
    let b = ctx.broker;
    let found = match b.topic(name) {
        Some(t) => Ok(t),
        None if auto_create => b.auto_create_topic(name),
        None => Err(BrokerError::UnknownTopicOrPartition),
    };
    match found {
        Ok(t) => describe_topic(ctx, &t),
        Err(e) => MetadataResponseTopic::default().with_name(Some(name.clone())).with_error_code(e.code()),
    }
}

fn by_id(ctx: &Ctx<'_>, id: Uuid) -> MetadataResponseTopic {
    match ctx.broker.topic_by_id(id) {
        Some(t) => describe_topic(ctx, &t),
        None => MetadataResponseTopic::default()
            .with_name(None)
            .with_topic_id(id)
            .with_error_code(BrokerError::UnknownTopicId.code()),
    }
}

fn describe_topic(ctx: &Ctx<'_>, t: &Arc<Topic>) -> MetadataResponseTopic {
    let partitions = cluster_partitions(ctx, t).unwrap_or_else(|| local_partitions(ctx, t));
    let mt = MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(t.name.clone()))))
        .with_is_internal(ctx.version >= 1 && t.is_internal())
        .with_partitions(partitions);
    if ctx.version >= 10 {
        mt.with_topic_id(t.id)
    } else {
        mt
    }
}

fn local_partitions(ctx: &Ctx<'_>, t: &Arc<Topic>) -> Vec<MetadataResponsePartition> {
    t.partitions()
        .iter()
        .map(|p| {
            let o = p.offsets();
            let me = BrokerId(ctx.broker.node_id());
            let mp = MetadataResponsePartition::default()
                .with_partition_index(p.index)
                .with_leader_id(BrokerId(o.leader_id))
                .with_replica_nodes(vec![me])
                .with_isr_nodes(vec![me]);
            if ctx.version >= 7 {
                mp.with_leader_epoch(o.leader_epoch)
            } else {
                mp
            }
        })
        .collect()
}
