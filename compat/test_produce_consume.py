"""Produce and consume with the three Python clients: keys, headers, tombstones, empty
values, explicit timestamps, every compression codec; every record read back
byte-identical by every client, in order, at the offsets the producer was given."""

from __future__ import annotations

import time
import zlib

import pytest
from confluent_kafka import KafkaError, TopicPartition
from confluent_kafka.admin import OffsetSpec

from kafka_clients import (
    CLIENTS,
    CODECS,
    PRODUCE,
    Spec,
    assert_same_records,
    aio_consumer,
    ck_admin,
    ck_consumer,
    ck_create_topic,
    ck_producer,
    consume,
    expected_by_partition,
    kp_admin,
    kp_consumer,
    kp_produce,
    make_specs,
    run_async,
)
from segments import read_partition

T = 20


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c or "none")
@pytest.mark.parametrize("producer", CLIENTS)
def test_round_trip(gregor, new_topic, producer, codec):
    """One client produces (compressed with `codec`), all three read it back."""
    t = new_topic()
    ck_create_topic(gregor.bootstrap, t, partitions=3)
    specs = make_specs(120, 3, seed=zlib.crc32(f"{producer}/{codec}".encode()))
    delivered = PRODUCE[producer](gregor.bootstrap, t, specs, codec=codec)
    assert [d.partition for d in delivered] == [s.partition for s in specs]
    expected = expected_by_partition(specs, delivered)
    for p, recs in expected.items():
        assert [r.offset for r in recs] == list(range(len(recs))), \
            f"partition {p}: offsets given to the producer are not 0..n-1"

    for consumer in CLIENTS:
        got = consume(consumer, gregor.bootstrap, t, range(3), len(specs))
        assert_same_records(expected, got, f"{producer}/{codec or 'none'} -> {consumer}")

    # On disk: valid magic-v2 batches, stored with the producer's codec (gregor never
    # recompresses), holding exactly the records produced. A client may send a batch
    # uncompressed when compressing does not make it smaller (kafka-python does so
    # explicitly), so uncompressed batches are allowed beside `codec` ones.
    gregor.stop()
    for p, recs in expected.items():
        segs = read_partition(gregor.partition_dir(t, p))
        batches = [b for s in segs for b in s.batches]
        assert all(s.tail_bytes == 0 for s in segs), "bytes after the last batch"
        assert batches and all(b.magic == 2 and b.crc_ok for b in batches)
        codecs = [b.codec for b in batches]
        assert codec in codecs and set(codecs) <= {codec, None}, codecs
        assert sum(b.records_count for b in batches) == len(recs)
        assert [b.base_offset for b in batches] == sorted(b.base_offset for b in batches)
        assert batches[-1].last_offset == len(recs) - 1


def test_large_record_and_many_small(gregor, new_topic):
    """A 900 KB value (just under message.max.bytes) and 5,000 tiny records."""
    t = new_topic()
    ck_create_topic(gregor.bootstrap, t, partitions=1)
    big = Spec(0, b"big", bytes(range(256)) * 3600, (("h", b"1"),), None)
    small = [Spec(0, None, b"%d" % i) for i in range(5000)]
    delivered = PRODUCE["confluent"](gregor.bootstrap, t, [big] + small,
                                     **{"message.max.bytes": 1_000_000})
    assert [d.offset for d in delivered] == list(range(5001))
    for client in CLIENTS:
        got = consume(client, gregor.bootstrap, t, [0], 5001, timeout=30)
        assert len(got) == 5001, f"{client}: {len(got)} records"
        assert (got[0].key, got[0].value, got[0].headers) == (big.key, big.value, big.headers)
        assert [r.value for r in got[1:]] == [s.value for s in small], client
        assert [r.offset for r in got] == list(range(5001)), client


def test_consume_from_the_middle(gregor, new_topic):
    """A fetch offset inside a batch returns that batch; clients skip the earlier records."""
    t = new_topic()
    ck_create_topic(gregor.bootstrap, t, partitions=1)
    specs = make_specs(50, 1, big=False)
    delivered = PRODUCE["confluent"](gregor.bootstrap, t, specs, codec="lz4")
    expected = {0: expected_by_partition(specs, delivered)[0][17:]}
    for client in CLIENTS:
        got = consume(client, gregor.bootstrap, t, [0], 33, start=17)
        assert_same_records(expected, got, f"{client} from offset 17")


# ------------------------------------------------------------------ auto-create
@pytest.mark.parametrize("producer", CLIENTS)
def test_auto_create_on_produce(gregor_factory, new_topic, producer):
    g = gregor_factory(broker={"num.partitions": 3})
    t = new_topic()
    specs = [Spec(None, b"k%d" % i, b"v%d" % i) for i in range(30)]
    delivered = PRODUCE[producer](g.bootstrap, t, specs)
    md = ck_admin(g.bootstrap).list_topics(timeout=5).topics
    assert t in md and sorted(md[t].partitions) == [0, 1, 2], "auto-created with num.partitions"
    # the same key always went to the same partition
    part_of = {}
    for s, d in zip(specs, delivered):
        assert part_of.setdefault(s.key, d.partition) == d.partition
    expected = expected_by_partition([Spec(d.partition, s.key, s.value) for s, d in
                                      zip(specs, delivered)], delivered)
    got = consume("confluent", g.bootstrap, t, range(3), len(specs))
    assert_same_records(expected, got, "auto-created topic")


def test_auto_create_disabled(gregor_factory, new_topic):
    g = gregor_factory(broker={"auto.create.topics.enable": False})
    t = new_topic()
    a = ck_admin(g.bootstrap)
    md = a.list_topics(topic=t, timeout=5)
    assert md.topics[t].error is not None
    assert md.topics[t].error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART

    p = ck_producer(g.bootstrap, **{"message.timeout.ms": 2000})
    errors = []
    p.produce(t, b"v", on_delivery=lambda err, msg: errors.append(err))
    p.flush(10)
    assert len(errors) == 1 and errors[0] is not None, errors
    assert t not in a.list_topics(timeout=5).topics, "topic must not have been created"


# ------------------------------------------------------------------ offsets
def _timestamped(n: int, base: int) -> list[Spec]:
    return [Spec(0, b"k%d" % i, b"v%d" % i, (), base + i * 1000) for i in range(n)]


@pytest.fixture
def ten_timestamped(gregor, new_topic):
    """Topic with 10 records at CreateTime base, base+1s, ... base+9s on partition 0."""
    t = new_topic()
    ck_create_topic(gregor.bootstrap, t, partitions=1)
    base = int(time.time() * 1000) - 3_600_000
    PRODUCE["confluent"](gregor.bootstrap, t, _timestamped(10, base))
    return t, base


def test_offsets_confluent(gregor, ten_timestamped):
    t, base = ten_timestamped
    c = ck_consumer(gregor.bootstrap)
    try:
        assert c.get_watermark_offsets(TopicPartition(t, 0), timeout=10, cached=False) == (0, 10)
        q = [TopicPartition(t, 0, ts) for ts in (base - 5, base, base + 3500, base + 9000,
                                                  base + 9001)]
        got = [c.offsets_for_times([tp], timeout=10)[0] for tp in q]
        assert [tp.error for tp in got] == [None] * 5
        assert [tp.offset for tp in got] == [0, 0, 4, 9, -1]
    finally:
        c.close()

    a = ck_admin(gregor.bootstrap)
    tp = TopicPartition(t, 0)
    specs = {"earliest": OffsetSpec.earliest(), "latest": OffsetSpec.latest(),
             "ts": OffsetSpec.for_timestamp(base + 3500), "max": OffsetSpec.max_timestamp()}
    out = {}
    for name, spec in specs.items():
        (fut,) = a.list_offsets({tp: spec}, request_timeout=10).values()
        out[name] = fut.result(T)
    assert out["earliest"].offset == 0
    assert out["latest"].offset == 10
    assert (out["ts"].offset, out["ts"].timestamp) == (4, base + 4000)
    assert (out["max"].offset, out["max"].timestamp) == (9, base + 9000)


def test_offsets_kafka_python(gregor, ten_timestamped):
    from kafka import TopicPartition as KTP
    from kafka.admin import OffsetSpec as KOffsetSpec

    t, base = ten_timestamped
    tp = KTP(t, 0)
    c = kp_consumer(gregor.bootstrap)
    try:
        assert c.beginning_offsets([tp]) == {tp: 0}
        assert c.end_offsets([tp]) == {tp: 10}
        for ts, want in ((base - 5, (0, base)), (base + 3500, (4, base + 4000)),
                         (base + 9000, (9, base + 9000)), (base + 9001, None)):
            r = c.offsets_for_times({tp: ts})[tp]
            assert (None if r is None else (r.offset, r.timestamp)) == want, ts
    finally:
        c.close(autocommit=False)

    a = kp_admin(gregor.bootstrap)
    try:
        r = a.list_partition_offsets({tp: KOffsetSpec.EARLIEST})
        assert r[tp].offset == 0
        r = a.list_partition_offsets({tp: KOffsetSpec.LATEST})
        assert r[tp].offset == 10
    finally:
        a.close()


def test_offsets_aiokafka(gregor, ten_timestamped):
    from aiokafka import TopicPartition as ATP

    t, base = ten_timestamped
    tp = ATP(t, 0)

    async def run():
        c = aio_consumer(gregor.bootstrap)
        await c.start()
        try:
            assert await c.beginning_offsets([tp]) == {tp: 0}
            assert await c.end_offsets([tp]) == {tp: 10}
            out = []
            for ts in (base - 5, base + 3500, base + 9000, base + 9001):
                r = (await c.offsets_for_times({tp: ts}))[tp]
                out.append(None if r is None else (r.offset, r.timestamp))
            return out
        finally:
            await c.stop()

    assert run_async(run()) == [(0, base), (4, base + 4000), (9, base + 9000), None]


def test_offsets_of_empty_partition_and_after_more_writes(gregor, new_topic):
    t = new_topic()
    ck_create_topic(gregor.bootstrap, t, partitions=2)
    c = ck_consumer(gregor.bootstrap)
    try:
        for p in (0, 1):
            assert c.get_watermark_offsets(TopicPartition(t, p), timeout=10, cached=False) == (0, 0)
        kp_produce(gregor.bootstrap, t, [Spec(1, None, b"x")] * 7)
        assert c.get_watermark_offsets(TopicPartition(t, 1), timeout=10, cached=False) == (0, 7)
        assert c.get_watermark_offsets(TopicPartition(t, 0), timeout=10, cached=False) == (0, 0)
    finally:
        c.close()


# ------------------------------------------------------------------ client defaults
def test_kafka_python_default_producer_is_idempotent(gregor, new_topic):
    """kafka-python 3.x enables idempotence by default (KIP-679), so its default producer
    needs InitProducerId. Plain defaults, only bootstrap_servers set."""
    from kafka import KafkaProducer

    t = new_topic()
    p = KafkaProducer(bootstrap_servers=gregor.bootstrap, max_block_ms=10000,
                      request_timeout_ms=10000)
    try:
        md = p.send(t, key=b"k", value=b"v").get(timeout=15)
        assert (md.partition, md.offset) == (0, 0)
    finally:
        p.close(timeout=5)
    got = consume("confluent", gregor.bootstrap, t, [0], 1)
    assert [(r.key, r.value) for r in got] == [(b"k", b"v")]
