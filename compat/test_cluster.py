"""A three-node gregor cluster (Raft metadata quorum, ISR replication) driven by real
clients, with faults by kill -9.

- Every node's Metadata agrees: three brokers, each partition's leader, epoch,
  replicas and ISR, once caught up.
- confluent-kafka (idempotent, acks=all) and kafka-python (acks=all) write to an RF=3,
  min.insync.replicas=2 topic while the harness kills -9 and restarts the leader of
  partition 0 several times. Afterwards every acknowledged record is present exactly
  once, in send order per partition, read back from the new leaders.
- With two of three nodes down, the survivor cannot accept acks=all writes (no quorum
  to shrink the ISR; NOT_ENOUGH_REPLICAS or a timeout), and nothing it refused shows up
  once the others return.

`GREGOR_CLUSTER_FAULT_ROUNDS` sets the number of leader kills (default 3).
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import Gregor, free_port

ROUNDS = int(os.environ.get("GREGOR_CLUSTER_FAULT_ROUNDS", "3"))
NODES = 3


class Cluster:
    def __init__(self, workdir, broker: dict | None = None):
        ports = {n: free_port() for n in range(1, NODES + 1)}
        voters = ", ".join(f'"{n}@127.0.0.1:{p}"' for n, p in ports.items())
        settings = {
            "num.partitions": 3,
            "default.replication.factor": 3,
            "min.insync.replicas": 2,
            "broker.heartbeat.interval.ms": 300,
            "broker.session.timeout.ms": 2000,
            "replica.lag.time.max.ms": 5000,
            "replica.fetch.wait.max.ms": 200,
        }
        settings.update(broker or {})
        self.nodes = {
            n: Gregor(workdir, broker=settings, node_id=n,
                      extra_yaml=f"cluster:\n  voters: [{voters}]\n")
            for n in ports
        }

    @property
    def bootstrap(self) -> str:
        return ",".join(g.bootstrap for g in self.nodes.values())

    def start(self):
        for g in self.nodes.values():
            g.start(wait=False)
        for g in self.nodes.values():
            g.wait_ready(60)
        return self

    def cleanup(self):
        for g in self.nodes.values():
            g.cleanup()

    def metadata(self, node: int, topic: str):
        """(brokers, {partition: (leader, replicas, isr)}) as one node sees them."""
        admin = AdminClient({"bootstrap.servers": self.nodes[node].bootstrap})
        md = admin.list_topics(topic, timeout=10)
        parts = {p.id: (p.leader, sorted(p.replicas), sorted(p.isrs))
                 for p in md.topics[topic].partitions.values()}
        return sorted(md.brokers), parts

    def leader_of(self, topic: str, partition: int, among: list[int]) -> int:
        for n in among:
            try:
                _, parts = self.metadata(n, topic)
                leader = parts[partition][0]
                if leader in among:
                    return leader
            except Exception:
                continue
        raise AssertionError(f"no live leader for {topic}-{partition}")

    def wait_isr(self, topic: str, partitions: int, size: int, timeout: float = 60):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                _, last = self.metadata(1, topic)
                if len(last) == partitions and all(len(isr) == size and leader >= 0
                                                   for leader, _, isr in last.values()):
                    return last
            except Exception as e:  # a node restarting
                last = e
            time.sleep(0.2)
        raise AssertionError(f"ISR of {topic} not {size} everywhere: {last}")


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    try:
        yield c.start()
    finally:
        c.cleanup()


def create(cluster: Cluster, topic: str, partitions: int = 3):
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    fut = admin.create_topics([NewTopic(topic, partitions, 3)])[topic]
    fut.result(30)
    return cluster.wait_isr(topic, partitions, 3)


def read_all(bootstrap: str, topic: str, partitions: int, ends: dict[int, int]) -> dict[int, list[bytes]]:
    """Every record of every partition up to `ends`, by explicit assignment."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out: dict[int, list[bytes]] = {p: [] for p in range(partitions)}
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            if all(len(out[p]) >= ends[p] for p in range(partitions)):
                break
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            out[m.partition()].append(m.value())
    finally:
        c.close()
    return out


def test_every_node_serves_the_same_metadata(cluster, new_topic):
    topic = new_topic()
    create(cluster, topic)
    seen = [cluster.metadata(n, topic) for n in cluster.nodes]
    brokers, parts = seen[0]
    assert brokers == [1, 2, 3]
    assert all(s == seen[0] for s in seen), seen
    # leaders spread over the nodes, every replica in sync
    assert sorted(leader for leader, _, _ in parts.values()) == [1, 2, 3]
    for leader, replicas, isr in parts.values():
        assert replicas == [1, 2, 3] and isr == [1, 2, 3]


def test_acked_records_survive_leader_kills(cluster, new_topic):
    topic = new_topic()
    partitions = 3
    create(cluster, topic, partitions)
    acked: dict[int, list[tuple[int, bytes]]] = {p: [] for p in range(partitions)}
    errors: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))
            return
        with lock:
            acked[msg.partition()].append((msg.offset(), msg.value()))

    def confluent_writer():
        p = Producer({"bootstrap.servers": cluster.bootstrap, "enable.idempotence": True, "acks": "all",
                      "linger.ms": 5, "message.timeout.ms": 120000, "retry.backoff.ms": 100})
        i = 0
        while not stop.is_set():
            p.produce(topic, value=f"ck-{i}".encode(), partition=i % partitions, on_delivery=on_delivery)
            p.poll(0)
            i += 1
            if i % 200 == 0:
                time.sleep(0.05)
        assert p.flush(150) == 0, "confluent-kafka could not deliver everything"

    from kafka import KafkaProducer

    def kafka_python_writer():
        p = KafkaProducer(bootstrap_servers=cluster.bootstrap, acks="all", retries=50,
                          max_in_flight_requests_per_connection=1, request_timeout_ms=30000,
                          retry_backoff_ms=200)
        i = 0
        while not stop.is_set():
            part = i % partitions
            fut = p.send(topic, value=f"kp-{i}".encode(), partition=part)
            try:
                md = fut.get(timeout=60)
                with lock:
                    acked[md.partition].append((md.offset, f"kp-{i}".encode()))
            except Exception as e:  # not acknowledged: may or may not be in the log
                errors.append(f"kafka-python: {e!r}")
            i += 1
        p.close()

    writers = [threading.Thread(target=confluent_writer), threading.Thread(target=kafka_python_writer)]
    for w in writers:
        w.start()
    try:
        live = [1, 2, 3]
        for _ in range(ROUNDS):
            time.sleep(2)
            victim = cluster.leader_of(topic, 0, live)
            cluster.nodes[victim].kill()
            time.sleep(3)
            cluster.nodes[victim].start(timeout=60)
            cluster.wait_isr(topic, partitions, 3, timeout=90)
        time.sleep(2)
    finally:
        stop.set()
        for w in writers:
            w.join(180)
    assert sum(len(v) for v in acked.values()) > 500, acked
    ends = {}
    for part in range(partitions):
        offsets = [o for o, _ in acked[part]]
        assert len(set(offsets)) == len(offsets), f"two acks for one offset in partition {part}"
        ends[part] = max(offsets) + 1 if offsets else 0
    logs = read_all(cluster.bootstrap, topic, partitions, ends)
    for part in range(partitions):
        log = logs[part]
        for offset, value in acked[part]:
            assert offset < len(log) and log[offset] == value, \
                f"acked {value!r} at {part}/{offset} is missing or different: {log[offset:offset + 1]!r}"
        # each producer's records appear once and in send order
        for prefix in (b"ck-", b"kp-"):
            seq = [int(v[3:]) for v in log if v.startswith(prefix)]
            assert len(seq) == len(set(seq)), f"duplicates from {prefix!r} in partition {part}"
            assert seq == sorted(seq), f"{prefix!r} out of order in partition {part}"


def test_a_minority_refuses_acks_all(cluster, new_topic):
    topic = new_topic()
    create(cluster, topic, 1)
    leader = cluster.leader_of(topic, 0, [1, 2, 3])
    for n in cluster.nodes:
        if n != leader:
            cluster.nodes[n].kill()
    p = Producer({"bootstrap.servers": cluster.nodes[leader].bootstrap, "acks": "all",
                  "message.timeout.ms": 8000, "request.timeout.ms": 3000})
    results = []
    p.produce(topic, value=b"minority", partition=0, on_delivery=lambda err, msg: results.append(err))
    p.flush(20)
    assert results and results[0] is not None, "a lone node acknowledged an acks=all write"
    for n in cluster.nodes:
        if n != leader:
            cluster.nodes[n].start(wait=False)
    for n in cluster.nodes:
        cluster.nodes[n].wait_ready(60)
    # the majority carries on: acks=all works again
    cluster.wait_isr(topic, 1, 3, timeout=90)
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all", "enable.idempotence": True})
    ok = []
    p.produce(topic, value=b"majority", partition=0, on_delivery=lambda err, msg: ok.append((err, msg.offset())))
    p.flush(30)
    assert ok and ok[0][0] is None, ok
