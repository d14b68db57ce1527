"""Client quotas with real clients: confluent-kafka (librdkafka) producers and consumers
held to byte-rate quotas, an unthrottled client beside them running free, and the
quota admin APIs (driven with kafka-python's protocol classes: neither librdkafka nor
kafka-python 3.0 has admin methods for them) taking effect at once and surviving a
restart.

Rates are bytes acknowledged (producer) or delivered (consumer) between two
timestamps well after the start, over wall time: Kafka's quota windows let a new
client burst `quota × (quota.window.num − 1) × window` first, so the first seconds
are not the steady rate. Every measured figure is printed (`pytest -s` shows them).
"""

from __future__ import annotations

import json
import threading
import time

import confluent_kafka as ck
import pytest
from kafka import KafkaAdminClient
from kafka.protocol.admin.client_quotas import AlterClientQuotasRequest, DescribeClientQuotasRequest

from kafka_clients import ck_create_topic, wait_until

QUOTA = 512 * 1024  # bytes per second
TOLERANCE = 0.15
VALUE = b"q" * 10_000
RUN_S = 15.0
# the steady part: after the initial burst has been paid for
MEASURE_FROM_S, MEASURE_TO_S = 5.0, 15.0


def quotas_yaml() -> str:
    return (
        "quotas:\n"
        f"  - {{ client_id: limited-producer, producer_byte_rate: {QUOTA} }}\n"
        f"  - {{ client_id: limited-consumer, consumer_byte_rate: {QUOTA} }}\n"
    )


class Meter:
    """(time, bytes) events from one client, and the rate between two offsets from a
    start time."""

    def __init__(self):
        self.events: list[tuple[float, int]] = []
        self.lock = threading.Lock()
        self.start = time.monotonic()
        self.max_throttle_ms = 0

    def add(self, n: int):
        with self.lock:
            self.events.append((time.monotonic(), n))

    def rate(self, frm: float, to: float) -> float:
        a, b = self.start + frm, self.start + to
        with self.lock:
            total = sum(n for (t, n) in self.events if a <= t < b)
        return total / (to - frm)

    def stats(self, raw: str):
        # librdkafka's per-broker throttle window: {"min","max","avg",...} in ms
        for b in json.loads(raw).get("brokers", {}).values():
            if b.get("nodeid", -1) >= 0:
                self.max_throttle_ms = max(self.max_throttle_ms, b.get("throttle", {}).get("max", 0))


def produce_flat_out(bootstrap: str, topic: str, client_id: str, meter: Meter, seconds: float):
    def delivered(err, msg):
        if err is None:
            meter.add(len(msg.value()))

    p = ck.Producer({
        "bootstrap.servers": bootstrap, "client.id": client_id, "acks": 1, "linger.ms": 5,
        "batch.size": 65536, "queue.buffering.max.messages": 2000,
        "statistics.interval.ms": 500, "stats_cb": meter.stats,
    })
    end = meter.start + seconds
    while time.monotonic() < end:
        try:
            p.produce(topic, VALUE, on_delivery=delivered)
        except BufferError:
            p.poll(0.01)
            continue
        p.poll(0)
    # what is still queued would take long at the quota: drop it
    p.purge()
    p.flush(5)


def consume_flat_out(bootstrap: str, topic: str, client_id: str, meter: Meter, seconds: float):
    c = ck.Consumer({
        "bootstrap.servers": bootstrap, "client.id": client_id, "group.id": f"g-{client_id}",
        "enable.auto.commit": False, "fetch.max.bytes": 65536, "max.partition.fetch.bytes": 65536,
        "message.max.bytes": 65536,
        "statistics.interval.ms": 500, "stats_cb": meter.stats,
    })
    c.assign([ck.TopicPartition(topic, 0, ck.OFFSET_BEGINNING)])
    end = meter.start + seconds
    while time.monotonic() < end:
        for m in c.consume(500, 0.2):
            if m.error() is None:
                meter.add(len(m.value()))
    c.close()


def fill(bootstrap: str, topic: str, n_bytes: int):
    p = ck.Producer({"bootstrap.servers": bootstrap, "client.id": "filler", "linger.ms": 20,
                     "queue.buffering.max.messages": 100000})
    for _ in range(n_bytes // len(VALUE) + 1):
        while True:
            try:
                p.produce(topic, VALUE)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    assert p.flush(60) == 0


def within(rate: float, quota: float) -> bool:
    return abs(rate / quota - 1) <= TOLERANCE


def test_rates_are_held_to_quotas_while_an_unthrottled_client_runs_free(gregor_factory, new_topic):
    g = gregor_factory(extra_yaml=quotas_yaml())
    lim, free, data = new_topic("lim"), new_topic("free"), new_topic("data")
    for t in (lim, free, data):
        ck_create_topic(g.bootstrap, t)
    # enough for the consumer's burst and its steady part
    fill(g.bootstrap, data, int(QUOTA * (10 + RUN_S) * 1.3))

    meters = {"limited-producer": Meter(), "free-producer": Meter(), "limited-consumer": Meter()}
    threads = [
        threading.Thread(target=produce_flat_out, args=(g.bootstrap, lim, "limited-producer",
                                                        meters["limited-producer"], RUN_S)),
        threading.Thread(target=produce_flat_out, args=(g.bootstrap, free, "free-producer",
                                                        meters["free-producer"], RUN_S)),
        threading.Thread(target=consume_flat_out, args=(g.bootstrap, data, "limited-consumer",
                                                        meters["limited-consumer"], RUN_S)),
    ]
    start = time.monotonic()
    for m in meters.values():
        m.start = start
    for t in threads:
        t.start()
    for t in threads:
        t.join(RUN_S + 30)

    rates = {k: m.rate(MEASURE_FROM_S, MEASURE_TO_S) for k, m in meters.items()}
    for k, r in rates.items():
        print(f"\n{k}: {r / 1024:.0f} KiB/s over {MEASURE_FROM_S:.0f}-{MEASURE_TO_S:.0f} s "
              f"({r / QUOTA:.3f} x quota {QUOTA // 1024} KiB/s), "
              f"client-reported max throttle {meters[k].max_throttle_ms} ms")
    assert within(rates["limited-producer"], QUOTA), rates
    assert within(rates["limited-consumer"], QUOTA), rates
    # the unthrottled client is not slowed: far above the quota, never throttled
    assert rates["free-producer"] > 3 * QUOTA, rates
    assert meters["free-producer"].max_throttle_ms == 0
    # the throttle metrics move for the limited clients
    assert meters["limited-producer"].max_throttle_ms > 0
    assert meters["limited-consumer"].max_throttle_ms > 0


# ---------------------------------------------------------------- admin APIs


def alter_quota(admin: KafkaAdminClient, entity: dict, ops: dict) -> list[int]:
    """ops: key -> value, or None to remove. Returns each entry's error code."""
    E = AlterClientQuotasRequest.EntryData
    entry = E(entity=[E.EntityData(entity_type=t, entity_name=n) for t, n in entity.items()],
              ops=[E.OpData(key=k, value=float(v or 0), remove=v is None) for k, v in ops.items()])
    req = AlterClientQuotasRequest(entries=[entry], validate_only=False)

    async def send():
        return await admin._manager.send(req)

    return [e.error_code for e in admin._manager.run(send).entries]


def describe_quotas(admin: KafkaAdminClient) -> dict:
    """{((type, name), ...): {key: value}} for every entity."""
    req = DescribeClientQuotasRequest(components=[], strict=False)

    async def send():
        return await admin._manager.send(req)

    resp = admin._manager.run(send)
    assert resp.error_code == 0, resp
    return {tuple(sorted((d.entity_type, d.entity_name) for d in e.entity)):
            {v.key: v.value for v in e.values} for e in resp.entries}


def produce_timed(bootstrap: str, topic: str, client_id: str, n_bytes: int) -> tuple[float, int]:
    """Produces n_bytes as fast as allowed; (seconds taken, max throttle reported)."""
    meter = Meter()
    p = ck.Producer({"bootstrap.servers": bootstrap, "client.id": client_id, "acks": 1,
                     "linger.ms": 5, "batch.size": 65536,
                     "statistics.interval.ms": 200, "stats_cb": meter.stats})
    start = time.monotonic()
    for _ in range(n_bytes // len(VALUE)):
        p.produce(topic, VALUE)
        p.poll(0)
    assert p.flush(60) == 0
    took = time.monotonic() - start
    time.sleep(0.5)
    p.poll(0.5)  # a last stats callback
    return took, meter.max_throttle_ms


def test_api_quotas_apply_without_restart_and_survive_one(gregor_factory, new_topic):
    g = gregor_factory()
    topic = new_topic("api")
    ck_create_topic(g.bootstrap, topic)
    admin = KafkaAdminClient(bootstrap_servers=g.bootstrap, client_id="quota-admin")
    # 1.2 MB goes through unthrottled
    took, throttle = produce_timed(g.bootstrap, topic, "late", 1_200_000)
    print(f"\nno quota: 1.2 MB in {took:.2f} s, max throttle {throttle} ms")
    assert throttle == 0
    # 100 kB/s: a new client may send 1 MB at once, then is held to the rate
    assert alter_quota(admin, {"client-id": "late"}, {"producer_byte_rate": 100_000}) == [0]
    assert describe_quotas(admin) == {(("client-id", "late"),): {"producer_byte_rate": 100_000.0}}
    took, throttle = produce_timed(g.bootstrap, topic, "late", 1_200_000)
    print(f"quota set online: 1.2 MB in {took:.2f} s, max throttle {throttle} ms")
    assert throttle > 0 and took >= 1.0
    admin.close()

    g.restart()
    admin = KafkaAdminClient(bootstrap_servers=g.bootstrap, client_id="quota-admin")
    assert describe_quotas(admin) == {(("client-id", "late"),): {"producer_byte_rate": 100_000.0}}
    took, throttle = produce_timed(g.bootstrap, topic, "late", 1_200_000)
    print(f"after restart: 1.2 MB in {took:.2f} s, max throttle {throttle} ms")
    assert throttle > 0
    # removed online: unthrottled again at once
    assert alter_quota(admin, {"client-id": "late"}, {"producer_byte_rate": None}) == [0]
    assert describe_quotas(admin) == {}
    took, throttle = produce_timed(g.bootstrap, topic, "late", 1_200_000)
    assert throttle == 0, f"still throttled after removal ({took:.2f} s)"
    admin.close()


def test_an_edited_quota_file_is_reloaded(gregor_factory):
    g = gregor_factory()
    admin = KafkaAdminClient(bootstrap_servers=g.bootstrap, client_id="quota-admin")
    assert describe_quotas(admin) == {}
    edited = {"version": 1, "entries": [
        {"entity": {"user": "default", "client_id": None}, "values": {"request_percentage": 50.0}}]}
    tmp = g.data_dir / "gregor-quotas.json.edit"
    tmp.write_text(json.dumps(edited))
    tmp.rename(g.data_dir / "gregor-quotas.json")
    want = {(("user", None),): {"request_percentage": 50.0}}
    wait_until(lambda: describe_quotas(admin) == want, timeout=10, what="the edited file is reloaded")
    admin.close()


def test_config_quotas_reload_on_sighup_and_throttling_shows_in_metrics(gregor_factory, new_topic):
    import os
    import signal
    import urllib.request

    g = gregor_factory()
    topic = new_topic()
    ck_create_topic(g.bootstrap, topic)
    took, throttle = produce_timed(g.bootstrap, topic, "from-yaml", 1_200_000)
    assert throttle == 0, f"throttled before any quota ({took:.2f} s)"

    g.extra_yaml = "quotas:\n  - { client_id: from-yaml, producer_byte_rate: 100000 }\n"
    g.write_config()
    pid = g.pid
    os.kill(pid, signal.SIGHUP)
    wait_until(lambda: "config reloaded" in g.logs(), timeout=20, what="the config reload")
    admin = KafkaAdminClient(bootstrap_servers=g.bootstrap, client_id="quota-admin")
    assert describe_quotas(admin) == {(("client-id", "from-yaml"),): {"producer_byte_rate": 100_000.0}}
    admin.close()
    took, throttle = produce_timed(g.bootstrap, topic, "from-yaml", 1_200_000)
    print(f"after SIGHUP: 1.2 MB in {took:.2f} s, max throttle {throttle} ms")
    assert throttle > 0 and g.pid == pid

    # the throttle shows in the metrics, under the entity the rate is measured for
    with urllib.request.urlopen(g.admin_url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    line = [ln for ln in text.splitlines()
            if ln.startswith("gregor_quota_throttle_time_seconds_total{") and 'client_id="from-yaml"' in ln
            and 'quota_type="produce"' in ln]
    assert line and float(line[0].split()[-1]) > 0, line
