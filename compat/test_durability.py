"""Restarts and damaged logs: whatever the broker acknowledged is read back after a
clean stop and after kill -9; a torn or corrupt tail of the active segment is cut at
the last valid batch, and writes continue at the right offset."""

from __future__ import annotations

import os
import time

import pytest
from confluent_kafka import TopicCollection, TopicPartition
from confluent_kafka.admin import ConfigResource, ResourceType

from kafka_clients import (
    CLIENTS,
    Delivered,
    Spec,
    assert_same_records,
    ck_admin,
    ck_consume,
    ck_consumer,
    ck_create_topic,
    ck_produce,
    ck_producer,
    consume,
    expected_by_partition,
    kp_produce,
    make_specs,
    wait_until,
)
from segments import read_partition, read_segment

T = 20


def watermarks(bootstrap, topic, partition):
    c = ck_consumer(bootstrap)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)
    finally:
        c.close()


def topic_id(admin, topic):
    (fut,) = admin.describe_topics(TopicCollection([topic]), request_timeout=10).values()
    return str(fut.result(T).topic_id)


def merge(a: dict, b: dict) -> dict:
    out = {p: list(v) for p, v in a.items()}
    for p, v in b.items():
        out.setdefault(p, []).extend(v)
    return out


def assert_disk_clean(gregor, topic, partition, records: int):
    """Stopped broker: the partition's segments are valid batches covering 0..records-1."""
    segs = read_partition(gregor.partition_dir(topic, partition))
    batches = [b for s in segs for b in s.batches]
    for s in segs:
        assert s.tail_bytes == 0, f"{s.path.name}: {s.tail_bytes} bytes after the last batch"
    assert all(b.crc_ok and b.magic == 2 for b in batches), "invalid batch on disk"
    expect = 0
    for b in batches:
        assert b.base_offset == expect, f"batch at {b.base_offset}, expected {expect}"
        expect = b.last_offset + 1
    assert expect == records, f"disk holds offsets 0..{expect - 1}, expected {records} records"


# ------------------------------------------------------------------ restarts
def test_clean_restart_keeps_everything(gregor, new_topic):
    t = new_topic()
    ck_create_topic(gregor.bootstrap, t, partitions=3, config={"retention.ms": "3600000"})
    a = ck_admin(gregor.bootstrap)
    tid = topic_id(a, t)
    specs = make_specs(300, 3, seed=7)
    expected = expected_by_partition(specs, ck_produce(gregor.bootstrap, t, specs, codec="zstd"))

    assert gregor.stop() == 0
    for p in range(3):
        d = gregor.partition_dir(t, p)
        for ext in ("log", "index", "timeindex"):
            assert (d / f"00000000000000000000.{ext}").is_file(), f"missing {d.name}/*.{ext}"
        assert_disk_clean(gregor, t, p, len(expected[p]))

    gregor.start()
    a = ck_admin(gregor.bootstrap)
    for client in CLIENTS:
        assert_same_records(expected, consume(client, gregor.bootstrap, t, range(3), 300),
                            f"{client} after clean restart")
    md = a.list_topics(timeout=5).topics[t]
    assert sorted(md.partitions) == [0, 1, 2]
    cr = ConfigResource(ResourceType.TOPIC, t)
    (fut,) = a.describe_configs([cr]).values()
    assert fut.result(T)["retention.ms"].value == "3600000", "topic config lost on restart"
    assert topic_id(a, t) == tid, "topic id changed across restart"

    more = make_specs(30, 3, seed=8)
    d2 = kp_produce(gregor.bootstrap, t, more)
    for s, d in zip(more, d2):
        assert d.offset >= len(expected[d.partition]), "offset reused after restart"
    expected = merge(expected, expected_by_partition(more, d2))
    assert_same_records(expected, consume("aiokafka", gregor.bootstrap, t, range(3), 330),
                        "old + new records")


def test_kill9_keeps_acknowledged(gregor, new_topic):
    t = new_topic()
    ck_create_topic(gregor.bootstrap, t, partitions=2)
    expected = {}
    total = 0
    for round_ in range(3):
        specs = make_specs(100, 2, seed=round_)
        d = ck_produce(gregor.bootstrap, t, specs, codec="gzip" if round_ == 1 else None)
        expected = merge(expected, expected_by_partition(specs, d))
        total += len(specs)
        gregor.kill()
        gregor.start()
        for p in (0, 1):
            assert watermarks(gregor.bootstrap, t, p) == (0, len(expected[p])), \
                f"round {round_}: partition {p} high watermark after kill -9"
        assert_same_records(expected, ck_consume(gregor.bootstrap, t, [0, 1], total),
                            f"round {round_} after kill -9")
    assert_same_records(expected, consume("kafka-python", gregor.bootstrap, t, [0, 1], total),
                        "kafka-python after 3 kills")


def test_kill9_during_produce(gregor, new_topic):
    """kill -9 while a producer is sending: every acknowledged record is at the offset it
    was acknowledged with, unchanged (unacknowledged ones may be lost or, after the
    client's retry, duplicated)."""
    t = new_topic()
    ck_create_topic(gregor.bootstrap, t, partitions=2)
    p = ck_producer(gregor.bootstrap, **{"linger.ms": 2, "message.timeout.ms": 20000,
                                         "reconnect.backoff.max.ms": 500})
    acked: dict[tuple[int, int], bytes] = {}
    failed = []

    def cb(err, msg):
        if err is None:
            acked[(msg.partition(), msg.offset())] = msg.value()
        else:
            failed.append(err)

    n = 4000
    for i in range(n):
        p.produce(t, value=b"value-%06d" % i, key=b"%d" % (i % 50), partition=i % 2,
                  on_delivery=cb)
        p.poll(0)
        if i == n // 2:
            wait_until(lambda: (p.poll(0.01), len(acked) >= n // 4)[1],
                       what="a quarter acknowledged")
            gregor.kill()
    gregor.start()
    assert p.flush(40) == 0, "producer did not finish after restart"
    assert len(acked) >= n // 4

    hw = {q: watermarks(gregor.bootstrap, t, q)[1] for q in (0, 1)}
    got = ck_consume(gregor.bootstrap, t, [0, 1], hw[0] + hw[1], timeout=30)
    by_pos = {(r.partition, r.offset): r.value for r in got}
    assert len(by_pos) == hw[0] + hw[1]
    for q in (0, 1):
        assert sorted(o for (pp, o) in by_pos if pp == q) == list(range(hw[q])), \
            f"partition {q}: offsets are not contiguous from 0"
    wrong = {pos: (v, by_pos.get(pos)) for pos, v in acked.items() if by_pos.get(pos) != v}
    assert not wrong, f"{len(wrong)} acknowledged records missing or changed, e.g. " \
                      f"{list(wrong.items())[:3]}"


def test_segment_roll_and_restart(gregor_factory, new_topic):
    g = gregor_factory(broker={"log.segment.bytes": 4096})
    t = new_topic()
    ck_create_topic(g.bootstrap, t, partitions=1)
    specs = make_specs(200, 1, seed=3, big=False, ts_base=int(time.time() * 1000) - 100_000)
    # one batch per 10 records, so segments roll at batch boundaries
    delivered = []
    for i in range(0, 200, 10):
        delivered += ck_produce(g.bootstrap, t, specs[i:i + 10])
    expected = expected_by_partition(specs, delivered)
    g.kill()

    logs = sorted(g.partition_dir(t, 0).glob("*.log"))
    assert len(logs) > 3, f"expected several segments with segment.bytes=4096, got {logs}"
    prev_end = 0
    for path in logs:
        seg = read_segment(path)
        assert seg.batches, f"{path.name} is empty"
        assert int(path.stem) == seg.batches[0].base_offset == prev_end, \
            f"{path.name}: named for base offset {seg.batches[0].base_offset}?"
        assert len(path.stem) == 20
        for ext in ("index", "timeindex"):
            assert path.with_suffix("." + ext).exists(), f"no {path.stem}.{ext}"
        prev_end = seg.batches[-1].last_offset + 1
        if path != logs[-1]:
            assert seg.size <= 4096, f"{path.name} is {seg.size} bytes"
    assert prev_end == 200

    g.start()
    for client in CLIENTS:
        assert_same_records(expected, consume(client, g.bootstrap, t, [0], 200),
                            f"{client} across {len(logs)} segments")
    c = ck_consumer(g.bootstrap)
    try:
        base = specs[0].timestamp
        for want in (0, 57, 123, 199):
            (r,) = c.offsets_for_times([TopicPartition(t, 0, base + want)], timeout=10)
            assert r.offset == want, f"timestamp lookup across segments: {want} -> {r.offset}"
    finally:
        c.close()


# ------------------------------------------------------------------ damaged tails
def _produce_batches(bootstrap, topic, batches: int, per_batch: int) -> list[tuple[Spec, Delivered]]:
    p = ck_producer(bootstrap)
    out = []
    for b in range(batches):
        got = []
        specs = [Spec(0, b"b%d-k%d" % (b, i), os.urandom(40 + i), (("b", b"%d" % b),),
                      int(time.time() * 1000)) for i in range(per_batch)]
        for s in specs:
            p.produce(topic, key=s.key, value=s.value, partition=0, timestamp=s.timestamp,
                      headers=list(s.headers),
                      on_delivery=lambda err, msg: got.append(err or Delivered(msg.partition(), msg.offset())))
        assert p.flush(T) == 0
        assert all(isinstance(g, Delivered) for g in got), got
        out += list(zip(specs, got))
    return out


def _damage_and_recover(gregor, t, stop, damage):
    """Produce 6 batches, stop the broker (`stop`), damage the active segment with
    `damage(path, last_batch)`, restart; returns (records before the last batch, its
    base offset)."""
    sent = _produce_batches(gregor.bootstrap, t, 6, 4)
    assert [d.offset for _, d in sent] == list(range(24))
    stop()
    path = gregor.active_segment(t, 0)
    seg = read_segment(path)
    assert seg.tail_bytes == 0 and seg.batches[-1].last_offset == 23
    last = seg.batches[-1]
    assert last.records_count >= 1
    damage(path, last)
    gregor.start()
    keep = last.base_offset
    expected = expected_by_partition([s for s, _ in sent[:keep]], [d for _, d in sent[:keep]])
    return expected, keep


def _assert_prefix_served_and_writes_continue(gregor, t, expected, keep):
    assert watermarks(gregor.bootstrap, t, 0) == (0, keep), "high watermark after recovery"
    got = ck_consume(gregor.bootstrap, t, [0], keep)
    assert_same_records(expected, got, "valid prefix")
    more = [Spec(0, b"new%d" % i, b"after-recovery-%d" % i, (), None) for i in range(3)]
    d = ck_produce(gregor.bootstrap, t, more)
    assert [x.offset for x in d] == [keep, keep + 1, keep + 2], "writes after recovery"
    allrecs = merge(expected, expected_by_partition(more, d))
    for client in CLIENTS:
        assert_same_records(allrecs, consume(client, gregor.bootstrap, t, [0], keep + 3),
                            f"{client} after recovery")
    gregor.stop()
    assert_disk_clean(gregor, t, 0, keep + 3)


@pytest.mark.parametrize("cut", ["last-10-bytes", "inside-batch-header"])
@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_torn_tail(gregor, new_topic, how, cut):
    t = new_topic()
    ck_create_topic(gregor.bootstrap, t, partitions=1)

    def damage(path, last):
        new_size = path.stat().st_size - 10 if cut == "last-10-bytes" else last.position + 7
        os.truncate(path, new_size)

    expected, keep = _damage_and_recover(
        gregor, t, gregor.stop if how == "sigterm" else gregor.kill, damage)
    _assert_prefix_served_and_writes_continue(gregor, t, expected, keep)


def test_corrupt_tail_batch_after_kill(gregor, new_topic):
    """A last batch whose bytes changed (CRC32C mismatch) is dropped at recovery."""
    t = new_topic()
    ck_create_topic(gregor.bootstrap, t, partitions=1)

    def damage(path, last):
        with open(path, "r+b") as f:
            pos = last.end - 5  # inside the last record
            f.seek(pos)
            b = f.read(1)
            f.seek(pos)
            f.write(bytes([b[0] ^ 0xFF]))
        assert not read_segment(path).batches[-1].crc_ok

    expected, keep = _damage_and_recover(gregor, t, gregor.kill, damage)
    _assert_prefix_served_and_writes_continue(gregor, t, expected, keep)
