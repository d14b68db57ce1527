//! DescribeCluster: this node is the whole cluster, broker and controller alike.
//! Authorized operations are the authorization layer's to fill.

use super::{str_bytes, Ctx};
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

pub fn handle(ctx: &Ctx<'_>, req: DescribeClusterRequest) -> DescribeClusterResponse {
    let (host, port) = ctx.advertised();
    let me = ctx.broker.node_id();
    DescribeClusterResponse::default()
        .with_endpoint_type(if ctx.version >= 1 { req.endpoint_type } else { 1 })
        .with_cluster_id(str_bytes(ctx.broker.cluster_id.clone()))
        .with_controller_id(BrokerId(me))
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(BrokerId(me))
            .with_host(str_bytes(host))
            .with_port(port as i32)])
}
