//! InitProducerId: producer ids for idempotent producers. Transactions are not
//! offered, so a transactional id gets a clear error rather than a silent success.

use super::Ctx;
use crate::broker::error::BrokerError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

/// Node ids in a cluster are below this (checked at start).
pub const NODE_ID_STRIDE: i64 = 1024;

pub fn handle(ctx: &Ctx<'_>, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let failed = |e: BrokerError| {
        InitProducerIdResponse::default()
            .with_error_code(e.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if req.transactional_id.is_some() {
        tracing::info!(
            conn = ctx.conn.id,
            "InitProducerId with a transactional id refused: transactions are not supported"
        );
        return failed(BrokerError::InvalidRequest("transactions are not supported by this broker".into()));
    }
    let current = (ctx.version >= 3 && req.producer_id.0 >= 0 && req.producer_epoch >= 0)
        .then_some((req.producer_id.0, req.producer_epoch));
    // in a cluster every node hands out ids; node n's are ≡ n (mod NODE_ID_STRIDE),
    // so that no two nodes give out the same one
    let clustered = ctx.broker.cluster.get().is_some();
    let me = i64::from(ctx.broker.node_id());
    let current = match current {
        Some((pid, epoch)) if clustered => (pid % NODE_ID_STRIDE == me).then_some((pid / NODE_ID_STRIDE, epoch)),
        other => other,
    };
    match ctx.broker.producer_ids.init(current) {
        Ok((pid, epoch)) => {
            let pid = if clustered { pid * NODE_ID_STRIDE + me } else { pid };
            InitProducerIdResponse::default().with_producer_id(ProducerId(pid)).with_producer_epoch(epoch)
        }
        Err(e) => failed(e),
    }
}
