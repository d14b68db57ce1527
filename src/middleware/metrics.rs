//! Metrics layer: per request, its count by API and version, its latency from frame
//! arrival, the error codes of its response, and the bytes and records it moved per
//! topic (appended Produce data, returned Fetch data). It sits before authentication,
//! so refused and failed requests count too; the queue/handle split is the router's.

use super::authorize::TopicDirectory;
use super::{BoxFuture, Request, Response, StackError};
use crate::metrics::{errors, Metrics};
use bytes::Bytes;
use kafka_protocol::messages::{RequestKind, ResponseKind, TopicName};
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};
use uuid::Uuid;

#[derive(Clone)]
pub struct MetricsLayer {
    metrics: Arc<Metrics>,
    topics: Arc<dyn TopicDirectory>,
}

impl MetricsLayer {
    pub fn new(metrics: Arc<Metrics>, topics: Arc<dyn TopicDirectory>) -> MetricsLayer {
        MetricsLayer { metrics, topics }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;
    fn layer(&self, inner: S) -> MetricsService<S> {
        MetricsService { inner, metrics: self.metrics.clone(), topics: self.topics.clone() }
    }
}

#[derive(Clone)]
pub struct MetricsService<S> {
    inner: S,
    metrics: Arc<Metrics>,
    topics: Arc<dyn TopicDirectory>,
}

/// A topic as a request or response names it: by name, or (newer versions) by id.
/// Names are shared buffers, so keeping one costs no copy.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TopicKey {
    Name(TopicName),
    Id(Uuid),
}

impl TopicKey {
    fn of(name: &TopicName, id: Uuid) -> TopicKey {
        if name.is_empty() && !id.is_nil() {
            TopicKey::Id(id)
        } else {
            TopicKey::Name(name.clone())
        }
    }
}

/// What a Produce request carried: per topic, per partition (index, bytes, records).
/// A request names few topics, so responses are matched by a scan, not a hash map.
type ProduceSizes = Vec<(TopicKey, Vec<(i32, u64, u64)>)>;

impl<S> Service<Request> for MetricsService<S>
where
    S: Service<Request, Response = Response, Error = StackError, Future = BoxFuture<Result<Response, StackError>>>,
{
    type Response = Response;
    type Error = StackError;
    type Future = BoxFuture<Result<Response, StackError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StackError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if !self.metrics.enabled() {
            return self.inner.call(req);
        }
        let (api, version, received) = (req.api_key, req.api_version, req.received);
        let produced = match &req.body {
            RequestKind::Produce(p) => Some(produce_sizes(p)),
            _ => None,
        };
        let (metrics, topics) = (self.metrics.clone(), self.topics.clone());
        let fut = self.inner.call(req);
        Box::pin(async move {
            let result = fut.await;
            metrics.observe_request(api, version, received.elapsed());
            if let Ok(Some(resp)) = &result {
                let mut counts: Vec<(i16, u64)> = Vec::new();
                errors::for_each_error(resp, &mut |code| match counts.iter_mut().find(|(c, _)| *c == code) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((code, 1)),
                });
                for (code, n) in counts {
                    metrics.request_error(api, code, n);
                }
                record_topic_bytes(&metrics, topics.as_ref(), resp, produced);
            }
            result
        })
    }
}

fn produce_sizes(p: &kafka_protocol::messages::ProduceRequest) -> ProduceSizes {
    p.topic_data
        .iter()
        .map(|t| {
            let partitions = t
                .partition_data
                .iter()
                .map(|pd| {
                    let (bytes, records) = pd.records.as_ref().map_or((0, 0), |r| (r.len() as u64, record_count(r)));
                    (pd.index, bytes, records)
                })
                .collect();
            (TopicKey::of(&t.name, t.topic_id), partitions)
        })
        .collect()
}

/// Records in a run of magic-v2 batches, read from each batch header (no decoding).
fn record_count(records: &Bytes) -> u64 {
    const LENGTH_AT: usize = 8;
    const COUNT_AT: usize = 57;
    let mut total = 0u64;
    let mut pos = 0usize;
    while let Some(header) = records.get(pos..pos + COUNT_AT + 4) {
        let length = i32::from_be_bytes(header[LENGTH_AT..LENGTH_AT + 4].try_into().expect("4 bytes"));
        let count = i32::from_be_bytes(header[COUNT_AT..COUNT_AT + 4].try_into().expect("4 bytes"));
        total += count.max(0) as u64;
        if length <= 0 {
            break;
        }
        pos += LENGTH_AT + 4 + length as usize;
    }
    total
}

fn topic_name(topics: &dyn TopicDirectory, key: &TopicKey) -> Option<String> {
    match key {
        TopicKey::Name(n) => Some(n.to_string()),
        TopicKey::Id(id) => topics.topic_name(*id),
    }
}

fn record_topic_bytes(
    metrics: &Metrics,
    topics: &dyn TopicDirectory,
    resp: &ResponseKind,
    produced: Option<ProduceSizes>,
) {
    match resp {
        ResponseKind::Produce(r) => {
            let Some(sizes) = produced else { return };
            for t in &r.responses {
                let key = TopicKey::of(&t.name, t.topic_id);
                let Some((_, sent)) = sizes.iter().find(|(k, _)| *k == key) else { continue };
                let (mut bytes, mut records) = (0, 0);
                for (i, p) in t.partition_responses.iter().enumerate().filter(|(_, p)| p.error_code == 0) {
                    // responses keep the request's order: the same position first
                    let same = sent.get(i).filter(|(index, _, _)| *index == p.index);
                    if let Some((_, b, n)) = same.or_else(|| sent.iter().find(|(index, _, _)| *index == p.index)) {
                        bytes += b;
                        records += n;
                    }
                }
                if bytes > 0 {
                    if let Some(name) = topic_name(topics, &key) {
                        metrics.bytes_in(&name, bytes, records);
                    }
                }
            }
        }
        ResponseKind::Fetch(r) => {
            for t in &r.responses {
                let bytes: u64 = t.partitions.iter().map(|p| p.records.as_ref().map_or(0, |r| r.len() as u64)).sum();
                if bytes > 0 {
                    if let Some(name) = topic_name(topics, &TopicKey::of(&t.topic, t.topic_id)) {
                        metrics.bytes_out(&name, bytes);
                    }
                }
            }
        }
        ResponseKind::DeleteTopics(r) => {
            for t in r.responses.iter().filter(|t| t.error_code == 0) {
                if let Some(name) = &t.name {
                    metrics.forget_topic(name);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(records: i32, payload: usize) -> Vec<u8> {
        let mut b = vec![0u8; 61 + payload];
        let length = (b.len() - 12) as i32;
        b[8..12].copy_from_slice(&length.to_be_bytes());
        b[57..61].copy_from_slice(&records.to_be_bytes());
        b
    }

    #[test]
    fn records_are_counted_across_batches_and_a_torn_tail_stops_the_count() {
        let mut all = batch(3, 10);
        all.extend(batch(5, 0));
        assert_eq!(record_count(&Bytes::from(all.clone())), 8);
        all.extend_from_slice(&[0u8; 20]);
        assert_eq!(record_count(&Bytes::from(all)), 8);
        assert_eq!(record_count(&Bytes::new()), 0);
    }
}
