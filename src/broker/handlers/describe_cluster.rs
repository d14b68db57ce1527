//! DescribeCluster: this node is the whole cluster, broker and controller alike.

use super::{acl_op, str_bytes, Ctx, AUTHORIZED_OPERATIONS_OMITTED};
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

pub fn handle(ctx: &Ctx<'_>, req: DescribeClusterRequest) -> DescribeClusterResponse {
    let (host, port) = ctx.advertised();
    let me = ctx.broker.node_id();
    let ops =
        if req.include_cluster_authorized_operations { acl_op::cluster_all() } else { AUTHORIZED_OPERATIONS_OMITTED };
    DescribeClusterResponse::default()
        .with_endpoint_type(if ctx.version >= 1 { req.endpoint_type } else { 1 })
        .with_cluster_id(str_bytes(ctx.broker.cluster_id.clone()))
        .with_controller_id(BrokerId(me))
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(BrokerId(me))
            .with_host(str_bytes(host))
            .with_port(port as i32)])
        .with_cluster_authorized_operations(ops)
}
