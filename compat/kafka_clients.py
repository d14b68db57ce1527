"""Thin, uniform wrappers over the three Python Kafka clients used by the tests:
confluent-kafka (librdkafka), kafka-python and aiokafka. Every consumer reads by
explicit partition assignment (no consumer group: gregor has no group coordinator yet).

A record is compared as `Rec(partition, offset, key, value, headers, timestamp)`, with
headers as a tuple of (str, bytes) pairs in wire order.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct
import time
from dataclasses import dataclass
from typing import Callable, Iterable, NamedTuple

import confluent_kafka as ck
from confluent_kafka.admin import AdminClient

CODECS = [None, "gzip", "snappy", "lz4", "zstd"]
CLIENTS = ["confluent", "kafka-python", "aiokafka"]
DEFAULT_TIMEOUT = 20.0

# kafka-python and aiokafka log connection errors at ERROR level while a broker
# restarts; that is expected noise in these tests.
logging.getLogger("kafka").setLevel(logging.CRITICAL)
logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


class Rec(NamedTuple):
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple
    timestamp: int


@dataclass
class Spec:
    """A record to produce."""
    partition: int | None
    key: bytes | None
    value: bytes | None
    headers: tuple = ()
    timestamp: int | None = None


@dataclass
class Delivered:
    partition: int
    offset: int


def wait_until(pred: Callable[[], object], timeout: float = DEFAULT_TIMEOUT,
               interval: float = 0.05, what: str = "condition"):
    """Polls pred until it returns a truthy value; returns it. Fails after timeout."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - kept for the failure message
            last_exc = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                                 + (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)


def norm_headers(h) -> tuple:
    if not h:
        return ()
    return tuple((k if isinstance(k, str) else k.decode(), v) for k, v in h)


def make_specs(n: int, partitions: int, seed: int = 1, ts_base: int | None = None,
               big: bool = True) -> list[Spec]:
    """n records spread round-robin over explicit partitions: binary keys, some null
    keys, null values (tombstones), empty values, headers (with a duplicate key and an
    empty value), a few large compressible values, explicit CreateTime timestamps."""
    rnd = random.Random(seed)
    if ts_base is None:
        ts_base = int(time.time() * 1000) - 60_000
    specs = []
    for i in range(n):
        key = None if i % 7 == 3 else b"key-%d-" % i + bytes([i % 256, 0, 255])
        if i % 5 == 4 and key is not None:
            # Kafka allows a record with neither key nor value, but kafka-python and
            # aiokafka refuse to send one ("Need at least one: key or value").
            value = None
        elif i % 11 == 6:
            value = b""
        elif big and i % 13 == 0:
            value = (b"compressible %d " % i) * rnd.randint(200, 800)
        else:
            value = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 300)))
        if i % 3 == 0:
            headers = ()
        else:
            headers = (("h1", b"v%d" % i), ("bin", bytes([0, i % 256, 255])), ("h1", b""))
        specs.append(Spec(i % partitions, key, value, headers, ts_base + i))
    return specs


def expected_by_partition(specs: list[Spec], delivered: list[Delivered]) -> dict[int, list[Rec]]:
    out: dict[int, list[Rec]] = {}
    for s, d in zip(specs, delivered):
        out.setdefault(d.partition, []).append(
            Rec(d.partition, d.offset, s.key, s.value, tuple(s.headers), s.timestamp))
    return out


def by_partition(recs: Iterable[Rec]) -> dict[int, list[Rec]]:
    out: dict[int, list[Rec]] = {}
    for r in recs:
        out.setdefault(r.partition, []).append(r)
    return out


def assert_same_records(expected: dict[int, list[Rec]], got: list[Rec], what: str = ""):
    """Per partition: same records, same order, same offsets; timestamps compared when
    the expected record carries one."""
    got_p = by_partition(got)
    assert sorted(got_p) == sorted(expected), \
        f"{what}: partitions {sorted(got_p)} != expected {sorted(expected)}"
    for p, exp in expected.items():
        g = got_p[p]
        assert [r.offset for r in g] == [r.offset for r in exp], \
            f"{what}: partition {p} offsets {[r.offset for r in g][:20]}... != " \
            f"{[r.offset for r in exp][:20]}..."
        for e, r in zip(exp, g):
            want = e if e.timestamp is not None else e._replace(timestamp=r.timestamp)
            assert r == want, f"{what}: partition {p} offset {e.offset}:\n got  {r!r:.300}\n want {want!r:.300}"


# ======================================================================= confluent
def ck_producer(bootstrap: str, **conf) -> ck.Producer:
    c = {"bootstrap.servers": bootstrap, "linger.ms": 10, "message.timeout.ms": 30000}
    c.update(conf)
    return ck.Producer(c)


def ck_produce(bootstrap: str, topic: str, specs: list[Spec], codec: str | None = None,
               timeout: float = DEFAULT_TIMEOUT, **conf) -> list[Delivered]:
    if codec:
        conf["compression.type"] = codec
    p = ck_producer(bootstrap, **conf)
    results: list = [None] * len(specs)

    def cb(i):
        def done(err, msg):
            results[i] = err if err is not None else Delivered(msg.partition(), msg.offset())
        return done

    for i, s in enumerate(specs):
        kw = {}
        if s.partition is not None:
            kw["partition"] = s.partition
        if s.timestamp is not None:
            kw["timestamp"] = s.timestamp
        if s.headers:
            kw["headers"] = list(s.headers)
        p.produce(topic, value=s.value, key=s.key, on_delivery=cb(i), **kw)
        p.poll(0)
    left = p.flush(timeout)
    assert left == 0, f"confluent producer: {left} messages not delivered in {timeout}s"
    errs = [r for r in results if not isinstance(r, Delivered)]
    assert not errs, f"confluent producer: delivery errors: {errs[:5]}"
    return results


def ck_consumer(bootstrap: str, **conf) -> ck.Consumer:
    c = {
        "bootstrap.servers": bootstrap,
        "group.id": "gregor-compat-assign-only",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 100,
    }
    c.update(conf)
    return ck.Consumer(c)


def ck_consume(bootstrap: str, topic: str, partitions: Iterable[int], count: int,
               start: int = ck.OFFSET_BEGINNING, timeout: float = DEFAULT_TIMEOUT,
               **conf) -> list[Rec]:
    c = ck_consumer(bootstrap, **conf)
    try:
        c.assign([ck.TopicPartition(topic, p, start) for p in partitions])
        out: list[Rec] = []
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            for m in c.consume(num_messages=500, timeout=0.2):
                if m.error():
                    if m.error().code() == ck.KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError(f"confluent consumer error: {m.error()}")
                out.append(Rec(m.partition(), m.offset(), m.key(), m.value(),
                               norm_headers(m.headers()), m.timestamp()[1]))
        return out
    finally:
        c.close()


def ck_admin(bootstrap: str, **conf) -> AdminClient:
    c = {"bootstrap.servers": bootstrap}
    c.update(conf)
    return AdminClient(c)


def ck_create_topic(bootstrap: str, topic: str, partitions: int = 1, config: dict | None = None):
    from confluent_kafka.admin import NewTopic
    a = ck_admin(bootstrap)
    fs = a.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1,
                                   config=config or {})], operation_timeout=10)
    fs[topic].result(timeout=DEFAULT_TIMEOUT)
    wait_until(lambda: topic in a.list_topics(timeout=5).topics, what=f"{topic} in metadata")


# ======================================================================= kafka-python
def kp_produce(bootstrap: str, topic: str, specs: list[Spec], codec: str | None = None,
               timeout: float = DEFAULT_TIMEOUT, **conf) -> list[Delivered]:
    from kafka import KafkaProducer
    c = dict(bootstrap_servers=bootstrap, linger_ms=10, enable_idempotence=False,
             request_timeout_ms=int(timeout * 1000), max_block_ms=int(timeout * 1000))
    if codec:
        c["compression_type"] = codec
    c.update(conf)
    p = KafkaProducer(**c)
    try:
        futs = []
        for s in specs:
            futs.append(p.send(topic, value=s.value, key=s.key, partition=s.partition,
                               timestamp_ms=s.timestamp, headers=list(s.headers)))
        p.flush(timeout=timeout)
        out = []
        for f in futs:
            md = f.get(timeout=timeout)
            out.append(Delivered(md.partition, md.offset))
        return out
    finally:
        p.close(timeout=5)


def kp_consumer(bootstrap: str, **conf):
    from kafka import KafkaConsumer
    c = dict(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
             auto_offset_reset="earliest", fetch_max_wait_ms=100)
    c.update(conf)
    return KafkaConsumer(**c)


def kp_consume(bootstrap: str, topic: str, partitions: Iterable[int], count: int,
               start: int | None = None, timeout: float = DEFAULT_TIMEOUT, **conf) -> list[Rec]:
    from kafka import TopicPartition
    c = kp_consumer(bootstrap, **conf)
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        c.assign(tps)
        for tp in tps:
            if start is None:
                c.seek_to_beginning(tp)
            else:
                c.seek(tp, start)
        out: list[Rec] = []
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            for tp, recs in c.poll(timeout_ms=200).items():
                for r in recs:
                    out.append(Rec(r.partition, r.offset, r.key, r.value,
                                   norm_headers(r.headers), r.timestamp))
        return out
    finally:
        c.close(autocommit=False)


def kp_admin(bootstrap: str, **conf):
    from kafka.admin import KafkaAdminClient
    return KafkaAdminClient(bootstrap_servers=bootstrap, **conf)


# ======================================================================= aiokafka
def run_async(coro):
    return asyncio.run(coro)


async def _aio_produce(bootstrap, topic, specs, codec, timeout, conf):
    from aiokafka import AIOKafkaProducer
    c = dict(bootstrap_servers=bootstrap, linger_ms=10, request_timeout_ms=int(timeout * 1000))
    if codec:
        c["compression_type"] = codec
    c.update(conf)
    p = AIOKafkaProducer(**c)
    await asyncio.wait_for(p.start(), timeout)
    try:
        futs = []
        for s in specs:
            futs.append(await p.send(topic, value=s.value, key=s.key, partition=s.partition,
                                     timestamp_ms=s.timestamp, headers=list(s.headers)))
        mds = await asyncio.wait_for(asyncio.gather(*futs), timeout)
        return [Delivered(md.partition, md.offset) for md in mds]
    finally:
        await p.stop()


def aio_produce(bootstrap: str, topic: str, specs: list[Spec], codec: str | None = None,
                timeout: float = DEFAULT_TIMEOUT, **conf) -> list[Delivered]:
    return run_async(_aio_produce(bootstrap, topic, specs, codec, timeout, conf))


def aio_consumer(bootstrap: str, **conf):
    from aiokafka import AIOKafkaConsumer
    c = dict(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
             auto_offset_reset="earliest", fetch_max_wait_ms=100)
    c.update(conf)
    return AIOKafkaConsumer(**c)


async def _aio_consume(bootstrap, topic, partitions, count, start, timeout, conf):
    from aiokafka import TopicPartition
    c = aio_consumer(bootstrap, **conf)
    await asyncio.wait_for(c.start(), timeout)
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        c.assign(tps)
        if start is None:
            await c.seek_to_beginning(*tps)
        else:
            for tp in tps:
                c.seek(tp, start)
        out: list[Rec] = []
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            got = await c.getmany(timeout_ms=200)
            for tp, recs in got.items():
                for r in recs:
                    out.append(Rec(r.partition, r.offset, r.key, r.value,
                                   norm_headers(r.headers), r.timestamp))
        return out
    finally:
        await c.stop()


def aio_consume(bootstrap: str, topic: str, partitions: Iterable[int], count: int,
                start: int | None = None, timeout: float = DEFAULT_TIMEOUT, **conf) -> list[Rec]:
    return run_async(_aio_consume(bootstrap, topic, list(partitions), count, start, timeout, conf))


# ======================================================================= dispatch
PRODUCE = {"confluent": ck_produce, "kafka-python": kp_produce, "aiokafka": aio_produce}


def consume(client: str, bootstrap: str, topic: str, partitions: Iterable[int], count: int,
            start: int | None = None, timeout: float = DEFAULT_TIMEOUT, **conf) -> list[Rec]:
    partitions = list(partitions)
    if client == "confluent":
        return ck_consume(bootstrap, topic, partitions, count,
                          ck.OFFSET_BEGINNING if start is None else start, timeout, **conf)
    if client == "kafka-python":
        return kp_consume(bootstrap, topic, partitions, count, start, timeout, **conf)
    if client == "aiokafka":
        return aio_consume(bootstrap, topic, partitions, count, start, timeout, **conf)
    raise ValueError(client)


# ======================================================================= raw protocol
def api_versions(bootstrap: str, timeout: float = 10.0) -> dict[int, tuple[int, int]]:
    """The broker's ApiVersions v0 answer: {api_key: (min_version, max_version)}."""
    host, port = bootstrap.rsplit(":", 1)
    client_id = b"gregor-compat"
    body = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">i", buf[:4])[0]:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed during ApiVersions")
            buf += chunk
    correlation, error, n = struct.unpack_from(">ihi", buf, 4)
    assert correlation == 1 and error == 0, (correlation, error)
    out = {}
    for i in range(n):
        key, lo, hi = struct.unpack_from(">hhh", buf, 14 + 6 * i)
        out[key] = (lo, hi)
    return out
