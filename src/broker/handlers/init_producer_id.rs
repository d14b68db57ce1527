//! InitProducerId: producer ids for idempotent producers. Transactions are not
//! offered, so a transactional id gets a clear error rather than a silent success.

use super::Ctx;
use crate::broker::error::BrokerError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

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
    // in a cluster every node hands out ids from blocks the metadata log allocates
    let ids = &ctx.broker.producer_ids;
    let result = match ctx.broker.cluster.get() {
        Some(cluster) => ids.init_from(current, |_| {
            // retriable, as Kafka answers while its block request is pending
            cluster.allocate_producer_ids().map_err(|e| {
                tracing::warn!(error = %e, "no producer-id block from the metadata quorum");
                BrokerError::CoordinatorLoadInProgress(format!("no producer-id block yet: {e}"))
            })
        }),
        None => ids.init(current),
    };
    match result {
        Ok((pid, epoch)) => {
            InitProducerIdResponse::default().with_producer_id(ProducerId(pid)).with_producer_epoch(epoch)
        }
        Err(e) => failed(e),
    }
}
