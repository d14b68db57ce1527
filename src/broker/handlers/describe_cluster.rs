//! DescribeCluster: this node is the whole cluster, broker and controller alike.
//! Authorized operations are the authorization layer's to fill.

use super::{str_bytes, Ctx};
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

pub fn handle(ctx: &Ctx<'_>, req: DescribeClusterRequest) -> DescribeClusterResponse {
    let (host, port) = ctx.advertised();
    let me = ctx.broker.node_id();
    if let Some(cluster) = ctx.broker.cluster.get() {
        let image = cluster.image();
        let brokers = image
            .live_brokers()
            .filter_map(|r| {
                let e = r.endpoint(&ctx.conn.listener)?;
                Some(
                    DescribeClusterBroker::default()
                        .with_broker_id(BrokerId(r.id))
                        .with_host(str_bytes(e.host.clone()))
                        .with_port(e.port as i32)
                        .with_rack(r.rack.clone().map(str_bytes)),
                )
            })
            .collect();
        return DescribeClusterResponse::default()
            .with_endpoint_type(if ctx.version >= 1 { req.endpoint_type } else { 1 })
            .with_cluster_id(str_bytes(ctx.broker.cluster_id()))
            .with_controller_id(BrokerId(cluster.controller_id().unwrap_or(-1)))
            .with_brokers(brokers);
    }
    DescribeClusterResponse::default()
        .with_endpoint_type(if ctx.version >= 1 { req.endpoint_type } else { 1 })
        .with_cluster_id(str_bytes(ctx.broker.cluster_id()))
        .with_controller_id(BrokerId(me))
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(BrokerId(me))
            .with_host(str_bytes(host))
            .with_port(port as i32)])
}
