"""A three-node gregor cluster (Raft metadata quorum, ISR replication) driven by real
clients, with faults by kill -9, SIGSTOP/SIGCONT and network partitions. The nodes
reach each other only through `netfault.Net`, a relay per link that can be cut.

- Every node's Metadata agrees: three brokers, each partition's leader, epoch,
  replicas and ISR, once caught up.
- confluent-kafka (idempotent, acks=all) and kafka-python (acks=all) write to an RF=3,
  min.insync.replicas=2 topic while the harness, round after round, kills -9 and
  restarts the leader of partition 0, freezes it (SIGSTOP) past its session and
  thaws it, or cuts it off from the other nodes (clients still reach it) and heals.
  Afterwards every acknowledged record is present exactly once, in send order per
  partition, read back from the new leaders, and every replica's segment files hold
  the same records.
- A leader cut off from its peers, with a client that reaches only it, does not
  acknowledge an acks=all write; the majority elects a new leader and takes writes;
  healed, the old leader truncates what it took alone.
- A consumer group (confluent-kafka and kafka-python members) keeps consuming while its
  coordinator is killed -9 twice: every acknowledged record is consumed, and the last
  commits are the partitions' ends.
- With two of three nodes down, the survivor cannot accept acks=all writes (no quorum
  to shrink the ISR; NOT_ENOUGH_REPLICAS or a timeout), and nothing it refused shows up
  once the others return.
- A SCRAM user, ACLs and a client quota, each set through a different node, are
  described and enforced by every node (also after a kill -9 and restart), and their
  deletions reach every node: they live in the metadata log.

`GREGOR_CLUSTER_FAULT_ROUNDS` sets the number of fault rounds (default 6: kill, freeze,
partition, twice).
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.errors import KafkaConnectionError
from kafka.record import MemoryRecords

from certs import make_certs
from conftest import Gregor, free_port, fresh_port
from netfault import CLIENT, Net
from sasl_wire import WireClient

ROUNDS = int(os.environ.get("GREGOR_CLUSTER_FAULT_ROUNDS", "6"))
NODES = 3


class Cluster:
    def __init__(self, workdir, broker: dict | None = None, listeners: list[dict] | None = None,
                 extra_yaml: str = "", cluster_yaml: str = "", net: Net | None = None):
        """With `net`, nodes reach each other only through its relays (see `relayed`)."""
        self.net = net
        ports = {n: free_port() for n in range(1, NODES + 1)}
        voters = {n: ", ".join(f'"{m}@127.0.0.1:{p}"' for m, p in ports.items()) for n in ports}
        node_listeners = {n: listeners for n in ports}
        node_yaml = {n: cluster_yaml for n in ports}
        if net is not None:
            voters, node_listeners, node_yaml = self.relayed(net, ports, cluster_yaml)
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
            n: Gregor(workdir, broker=settings, node_id=n, listeners=node_listeners[n],
                      extra_yaml=f"cluster:\n  voters: [{voters[n]}]\n{node_yaml[n]}{extra_yaml}")
            for n in ports
        }

    @staticmethod
    def relayed(net: Net, controller: dict[int, int], cluster_yaml: str):
        """Per-node voters, listeners and cluster settings that route every link
        through `net`: node n lists each other voter at its relay n→m, fetches over
        its own listener name REPLn, which every node advertises at its relay n→m,
        and clients reach node n's PLAINTEXT listener through relay 0→n."""
        # every node port is picked (and kept out of the relays' way) before any relay binds
        taken = set(controller.values())
        client_ports = {n: fresh_port(taken) for n in controller}
        repl_ports = {(f, n): fresh_port(taken) for n in controller for f in controller}

        def relay(src: int, dst: int, port: int) -> int:
            return net.relay(src, dst, port, avoid=taken)

        voters, listeners = {}, {}
        for n in controller:
            own = [f'"{n}@127.0.0.1:{controller[n]}"']
            others = [f'"{m}@127.0.0.1:{relay(n, m, controller[m])}"' for m in controller if m != n]
            voters[n] = ", ".join(own + others)
            specs = [{"name": "PLAINTEXT", "port": client_ports[n],
                      "advertised_port": relay(CLIENT, n, client_ports[n])}]
            for follower in controller:
                spec = {"name": f"REPL{follower}", "port": repl_ports[(follower, n)]}
                if follower != n:
                    spec["advertised_port"] = relay(follower, n, repl_ports[(follower, n)])
                specs.append(spec)
            listeners[n] = specs
        yaml = {n: f"  controller_bind: 127.0.0.1:{controller[n]}\n  inter_broker_listener: REPL{n}\n{cluster_yaml}"
                for n in controller}
        return voters, listeners, yaml

    client: dict = {}  # librdkafka settings every client of the harness uses

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
        if self.net is not None:
            self.net.heal()
        # SIGTERM to all at once: each leaves through the quorum (controlled
        # shutdown), which the last one alone would wait for in vain
        for g in self.nodes.values():
            if g.running():
                for sig in (signal.SIGCONT, signal.SIGTERM):
                    try:
                        os.kill(g.pid, sig)
                    except ProcessLookupError:
                        pass
        for g in self.nodes.values():
            g.cleanup()
        if self.net is not None:
            self.net.close()

    def metadata(self, node: int, topic: str):
        """(brokers, {partition: (leader, replicas, isr)}) as one node sees them."""
        admin = AdminClient({"bootstrap.servers": self.nodes[node].bootstrap, **self.client})
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
    c = Cluster(tmp_path, net=Net())
    try:
        yield c.start()
    finally:
        c.cleanup()


def send_to(admin, node: int, request):
    """`request`'s answer from `node` itself (kafka-python): a client otherwise picks
    whichever broker it likes, and these tests ask each node in turn."""
    async def go():
        return await admin._manager.send(request, node_id=node)
    return admin._manager.run(go)


def create(cluster: Cluster, topic: str, partitions: int = 3):
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap, **cluster.client})
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


def replica_log(g: Gregor, topic: str, partition: int) -> list[bytes]:
    """Node `g`'s copy of a partition, read from its segment files: values by offset."""
    data = b"".join(f.read_bytes() for f in sorted((g.data_dir / f"{topic}-{partition}").glob("*.log")))
    records = MemoryRecords(data)
    out: list[bytes] = []
    while records.has_next():
        for r in records.next_batch():
            assert r.offset == len(out), f"node {g.node_id}: offset {r.offset} after {len(out)} records"
            out.append(r.value)
    return out


def replicas_agree(cluster: Cluster, topic: str, partitions: int, timeout: float = 60) -> dict[int, list[bytes]]:
    """Waits until every node holds the same copy of each partition, and returns it."""
    deadline = time.monotonic() + timeout
    while True:
        logs = {n: {p: replica_log(g, topic, p) for p in range(partitions)} for n, g in cluster.nodes.items()}
        if all(logs[n] == logs[1] for n in logs):
            return logs[1]
        if time.monotonic() > deadline:
            ends = {n: {p: len(log) for p, log in parts.items()} for n, parts in logs.items()}
            raise AssertionError(f"the replicas of {topic} differ (lengths by node: {ends})")
        time.sleep(0.5)


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
    # one cluster id, though each node lists the others at addresses of its own
    from kafka.admin import KafkaAdminClient
    from kafka.protocol.metadata import MetadataRequest

    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    try:
        ids = {n: send_to(admin, n, MetadataRequest(topics=[], allow_auto_topic_creation=False)).cluster_id
               for n in cluster.nodes}
    finally:
        admin.close()
    assert len(set(ids.values())) == 1 and None not in ids.values(), ids


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
        for round_ in range(ROUNDS):
            time.sleep(2)
            victim = cluster.leader_of(topic, 0, live)
            if round_ % 3 == 0:
                cluster.nodes[victim].kill()
                time.sleep(3)
                cluster.nodes[victim].start(timeout=60)
            elif round_ % 3 == 1:
                # frozen past its session: fenced, its leaderships move; on SIGCONT
                # it is a stale leader until it learns the new epochs
                cluster.nodes[victim].pause()
                time.sleep(5)
                cluster.nodes[victim].resume()
            else:
                # cut off from the other nodes, not from the clients: it keeps
                # running and taking writes it cannot replicate while the majority
                # fences it and elects new leaders
                cluster.net.partition(victim, [n for n in live if n != victim])
                time.sleep(5)
                cluster.net.heal()
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
    # and every replica holds the same records
    replicas = replicas_agree(cluster, topic, partitions)
    for part in range(partitions):
        log = logs[part]
        assert replicas[part][:len(log)] == log, f"partition {part}: the replicas differ from what was consumed"
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
    assert acks_all_outcome(cluster.nodes[leader].bootstrap, topic, 8000) is not None, \
        "a lone node acknowledged an acks=all write"
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


def test_a_partitioned_leader_refuses_acks_all_and_the_majority_carries_on(cluster, new_topic):
    topic = new_topic()
    create(cluster, topic, 1)
    produce_one(cluster.bootstrap, topic, b"before")
    leader = cluster.leader_of(topic, 0, [1, 2, 3])
    others = [n for n in cluster.nodes if n != leader]
    # the leader is cut off from the other nodes, and so is the client: all it
    # reaches is the old leader, which still believes it leads
    cluster.net.partition(leader, others)
    for n in others:
        cluster.net.cut(CLIENT, n)
    assert acks_all_outcome(cluster.nodes[leader].bootstrap, topic, 6000) is not None, \
        "a partitioned leader acknowledged an acks=all write"
    # the majority fences it and carries on, reached by a client that now sees only them
    cluster.net.cut(CLIENT, leader)
    for n in others:
        cluster.net.restore(CLIENT, n)
    new_leader = wait_for_leader(cluster, topic, others)
    assert new_leader in others
    produce_one(",".join(cluster.nodes[n].bootstrap for n in others), topic, b"majority")
    # healed, the old leader drops what it took alone and copies the majority's log
    cluster.net.heal()
    cluster.wait_isr(topic, 1, 3, timeout=90)
    assert replicas_agree(cluster, topic, 1)[0] == [b"before", b"majority"]


def acks_all_outcome(bootstrap: str, topic: str, timeout_ms: int):
    """The delivery error of one acks=all record b"minority" (None: acknowledged),
    given up after `timeout_ms`."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                  "message.timeout.ms": timeout_ms, "request.timeout.ms": 3000})
    results = []
    p.produce(topic, value=b"minority", partition=0, on_delivery=lambda err, msg: results.append(err))
    p.flush(20)
    assert results, "no delivery report"
    return results[0]


def produce_one(bootstrap: str, topic: str, value: bytes) -> int:
    """Writes one record acks=all (idempotent) and returns its offset."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                  "message.timeout.ms": 30000})
    out = []
    p.produce(topic, value=value, partition=0, on_delivery=lambda err, msg: out.append((err, msg.offset())))
    p.flush(40)
    assert out and out[0][0] is None, out
    return out[0][1]


def wait_for_leader(cluster: Cluster, topic: str, among: list[int], timeout: float = 30) -> int:
    """The leader of partition 0 once the nodes `among` agree it is one of them."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            seen = {cluster.metadata(n, topic)[1][0][0] for n in among}
            if len(seen) == 1 and seen <= set(among):
                return seen.pop()
            last = seen
        except Exception as e:  # noqa: BLE001 - a node that cannot answer yet
            last = e
        time.sleep(0.3)
    raise AssertionError(f"no leader of {topic}-0 among {among}: {last}")


def coordinator_of(cluster: Cluster, group: str) -> int:
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    deadline = time.monotonic() + 30
    while True:
        try:
            return admin.describe_consumer_groups([group])[group].result(10).coordinator.id
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_groups_consume_through_coordinator_failover(cluster, new_topic):
    """A confluent-kafka and a kafka-python consumer share a group while a producer
    writes; the group's coordinator is killed -9 and restarted twice. The group finds
    the new coordinator (the new leader of its offsets partition, which loaded the
    commits), rebalances, and between them the members read every acknowledged
    record; the offsets they committed last are the partitions' ends."""
    from kafka import KafkaConsumer

    topic = new_topic()
    group = f"{topic}-group"
    partitions = 3
    create(cluster, topic, partitions)
    acked: set[bytes] = set()
    consumed: set[bytes] = set()
    lock = threading.Lock()
    stop_producing = threading.Event()
    stop_consuming = threading.Event()
    failures: list[str] = []

    def producer():
        p = Producer({"bootstrap.servers": cluster.bootstrap, "enable.idempotence": True, "acks": "all",
                      "linger.ms": 5, "message.timeout.ms": 120000})

        def on_delivery(err, msg):
            if err is None:
                with lock:
                    acked.add(msg.value())

        i = 0
        while not stop_producing.is_set():
            p.produce(topic, value=f"r-{i}".encode(), on_delivery=on_delivery)
            p.poll(0)
            i += 1
            if i % 50 == 0:
                time.sleep(0.05)
        if p.flush(150) != 0:
            failures.append("producer could not deliver everything")

    # before leaving, each member commits what it read (retrying, as an application
    # shutting down cleanly does, while the coordinator changes or the group
    # rebalances), and keeps polling until both have: a member leaving starts a
    # rebalance that would refuse the other's last commit
    finished = {"confluent": threading.Event(), "kafka-python": threading.Event()}

    def finish(name, commit, poll):
        deadline = time.monotonic() + 45
        while True:
            try:
                commit()
                break
            except Exception as e:  # noqa: BLE001 - each client has its own error types
                if "NO_OFFSET" in str(e):
                    break
                if time.monotonic() > deadline:
                    failures.append(f"{name}'s final commit: {e!r}")
                    break
                poll()  # rejoin if the group moved on
        finished[name].set()
        deadline = time.monotonic() + 60
        while not all(e.is_set() for e in finished.values()) and time.monotonic() < deadline:
            poll()

    def confluent_member():
        c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group,
                      "auto.offset.reset": "earliest", "auto.commit.interval.ms": 500,
                      "session.timeout.ms": 10000, "heartbeat.interval.ms": 1000})
        c.subscribe([topic])

        def poll():
            m = c.poll(0.5)
            if m is not None and not m.error():
                with lock:
                    consumed.add(m.value())
        try:
            while not stop_consuming.is_set():
                poll()
            finish("confluent", lambda: c.commit(asynchronous=False), poll)
        finally:
            c.close()

    def kafka_python_member():
        c = KafkaConsumer(topic, bootstrap_servers=cluster.bootstrap, group_id=group,
                          auto_offset_reset="earliest", auto_commit_interval_ms=500,
                          session_timeout_ms=10000, heartbeat_interval_ms=1000,
                          request_timeout_ms=30000)
        def poll():
            try:
                batches = c.poll(timeout_ms=200)
            except KafkaConnectionError:
                return  # a node killed under it: kafka-python 3 raises, and reconnects on the next poll
            for records in batches.values():
                with lock:
                    consumed.update(r.value for r in records)
        try:
            while not stop_consuming.is_set():
                poll()
            finish("kafka-python", lambda: c.commit(timeout_ms=10000), poll)
        finally:
            c.close()

    threads = [threading.Thread(target=f) for f in (producer, confluent_member, kafka_python_member)]
    for t in threads:
        t.start()
    try:
        for _ in range(2):
            deadline = time.monotonic() + 60
            while True:  # the group is consuming
                with lock:
                    before = len(consumed)
                time.sleep(1)
                with lock:
                    if len(consumed) > before:
                        break
                assert time.monotonic() < deadline, "the group consumes nothing"
            victim = coordinator_of(cluster, group)
            cluster.nodes[victim].kill()
            time.sleep(3)
            cluster.nodes[victim].start(timeout=60)
            cluster.wait_isr(topic, partitions, 3, timeout=90)
        time.sleep(2)
    finally:
        stop_producing.set()
        threads[0].join(180)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with lock:
                if acked <= consumed:
                    break
            time.sleep(0.5)
        stop_consuming.set()
        for t in threads[1:]:
            t.join(150)
    assert not any(t.is_alive() for t in threads[1:]), "a member did not finish"
    assert not failures, failures
    assert len(acked) > 300, len(acked)
    missing = acked - consumed
    assert not missing, f"{len(missing)} acknowledged records never consumed, e.g. {sorted(missing)[:5]}"
    # the members' last commits reached the new coordinators: they are the ends
    probe = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group})
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        committed = {tp.partition: tp.offset for tp in probe.committed(tps, timeout=30)}
        ends = {p: probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
    finally:
        probe.close()
    assert committed == ends, (committed, ends)


def test_replication_over_a_sasl_ssl_listener(tmp_path, new_topic):
    """The only listener is SASL_SSL with ACLs: followers log in to their leaders
    as the inter-broker user (a super user, as in Kafka) over TLS, so acks=all
    writes complete and every replica joins the ISR; a client without rights is
    still refused."""
    import json

    pki = make_certs(tmp_path / "pki")
    for name in ("broker", "alice"):
        (tmp_path / f"{name}.pw").write_text(f"{name}-secret-password")
    pw = lambda name: json.dumps(str(tmp_path / f"{name}.pw"))  # noqa: E731
    listeners = [{"name": "SECURE", "security": "sasl_ssl",
                  "tls": {"cert": pki.server.cert, "key": pki.server.key},
                  "sasl": {"mechanisms": ["SCRAM-SHA-512"]}}]
    client_yaml = (
        "  inter_broker_client:\n"
        f"    tls: {{ ca: {json.dumps(pki.ca)}, server_name: localhost }}\n"
        f"    sasl: {{ mechanism: SCRAM-SHA-512, username: broker, password_file: {pw('broker')} }}\n"
    )
    extra = (
        f"users:\n  - name: broker\n    password_file: {pw('broker')}\n"
        f"  - name: alice\n    password_file: {pw('alice')}\n"
        "super_users: [\"User:broker\"]\n"
        "authorizer: acl\n"
        "acls:\n"
        '  - { principal: "User:alice", resource: { type: topic, name: "*" }, operations: [describe, read], '
        "permission: allow }\n"
    )
    c = Cluster(tmp_path, listeners=listeners, extra_yaml=extra, cluster_yaml=client_yaml)
    auth = {"security.protocol": "SASL_SSL", "ssl.ca.location": pki.ca, "sasl.mechanism": "SCRAM-SHA-512",
            "ssl.endpoint.identification.algorithm": "none"}
    c.client = dict(auth, **{"sasl.username": "broker", "sasl.password": "broker-secret-password"})
    try:
        c.start()
        topic = new_topic()
        create(c, topic, 3)  # waits for a full ISR: followers fetched over SASL_SSL
        p = Producer({"bootstrap.servers": c.bootstrap, "acks": "all", "enable.idempotence": True, **c.client})
        acked = []
        for i in range(300):
            p.produce(topic, value=f"s-{i}".encode(), partition=i % 3,
                      on_delivery=lambda err, msg: acked.append(err))
        assert p.flush(30) == 0
        assert len(acked) == 300 and not any(acked), acked[:3]
        # alice may read but not write
        denied = []
        q = Producer({"bootstrap.servers": c.bootstrap, "acks": "all", **auth,
                      "sasl.username": "alice", "sasl.password": "alice-secret-password",
                      "message.timeout.ms": 10000})
        q.produce(topic, value=b"nope", partition=0, on_delivery=lambda err, msg: denied.append(err))
        q.flush(15)
        assert denied and denied[0] is not None and "AUTHORIZATION" in denied[0].name(), denied
        parts = c.wait_isr(topic, 3, 3)
        assert all(isr == [1, 2, 3] for _, _, isr in parts.values()), parts
    finally:
        c.cleanup()


def test_users_acls_and_quotas_set_online_hold_on_every_node(tmp_path, new_topic):
    """SCRAM users, ACLs and client quotas live in the metadata log: each change goes
    through one node (kafka-python, raw requests addressed to it), and every node then
    describes it, authenticates and authorizes by it (confluent-kafka and kafka-python
    logging in to each node), also after a kill -9 and restart; deletions reach every
    node the same way."""
    import hashlib
    import json

    from kafka.admin import KafkaAdminClient
    from kafka.protocol.admin.acl import CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest
    from kafka.protocol.admin.client_quotas import AlterClientQuotasRequest, DescribeClientQuotasRequest
    from kafka.protocol.admin.users import AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest

    (tmp_path / "broker.pw").write_text("broker-secret-password")
    pw_file = json.dumps(str(tmp_path / "broker.pw"))
    listeners = [{"name": "SECURE", "security": "sasl_plaintext",
                  "sasl": {"mechanisms": ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"]}}]
    client_yaml = ("  inter_broker_client:\n"
                   f"    sasl: {{ mechanism: SCRAM-SHA-512, username: broker, password_file: {pw_file} }}\n")
    extra = (f"users:\n  - name: broker\n    password_file: {pw_file}\n"
             "super_users: [\"User:broker\"]\nauthorizer: acl\n")
    c = Cluster(tmp_path, listeners=listeners, extra_yaml=extra, cluster_yaml=client_yaml)
    sasl = lambda user, password, mech="SCRAM-SHA-512": {  # noqa: E731
        "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": mech,
        "sasl.username": user, "sasl.password": password}
    c.client = sasl("broker", "broker-secret-password")
    carol_password = "carol-secret-password"
    topic = new_topic()

    def admin_on(node: int, user="broker", password="broker-secret-password", mech="SCRAM-SHA-512"):
        # the bootstrap connection logs in to this node
        return KafkaAdminClient(bootstrap_servers=c.nodes[node].bootstrap, security_protocol="SASL_PLAINTEXT",
                                sasl_mechanism=mech, sasl_plain_username=user, sasl_plain_password=password,
                                request_timeout_ms=15000)

    def seen_on(node: int) -> tuple:
        """(carol's SCRAM mechanisms, her ACL operations, her quotas) as `node` describes them."""
        admin = admin_on(node)
        try:
            users = send_to(admin, node, DescribeUserScramCredentialsRequest(users=None)).results
            mechs = sorted(i.mechanism for u in users if u.user == "carol" for i in u.credential_infos)
            acls = send_to(admin, node, DescribeAclsRequest(**carol_acls)).resources
            ops = sorted(a.operation for r in acls for a in r.acls)
            quotas = send_to(admin, node, DescribeClientQuotasRequest(components=[], strict=False)).entries
            carol_quotas = {v.key: v.value for e in quotas
                            if [(d.entity_type, d.entity_name) for d in e.entity] == [("user", "carol")]
                            for v in e.values}
            return mechs, ops, carol_quotas
        finally:
            admin.close()

    def wait_everywhere(want: tuple, nodes=(1, 2, 3), timeout: float = 20):
        deadline = time.monotonic() + timeout
        while True:
            seen = {n: seen_on(n) for n in nodes}
            if all(s == want for s in seen.values()) or time.monotonic() > deadline:
                assert all(s == want for s in seen.values()), seen
                return
            time.sleep(0.3)

    # every ACL of carol's: DescribeAcls and DeleteAcls filter fields
    carol_acls = dict(resource_type_filter=1, resource_name_filter=None, pattern_type_filter=1,
                      principal_filter="User:carol", host_filter=None, operation=1, permission_type=1)

    def set_carol_quota(admin, node: int, value: float | None):
        """producer_byte_rate for user carol, through `node`; None removes it."""
        E = AlterClientQuotasRequest.EntryData
        entry = E(entity=[E.EntityData(entity_type="user", entity_name="carol")],
                  ops=[E.OpData(key="producer_byte_rate", value=value or 0.0, remove=value is None)])
        r = send_to(admin, node, AlterClientQuotasRequest(entries=[entry], validate_only=False))
        assert [x.error_code for x in r.entries] == [0], r

    def carol_logs_in(node: int):
        admin_on(node, "carol", carol_password, "SCRAM-SHA-256").close()

    def carol_refused(node: int) -> bool:
        """Exactly: SASL_AUTHENTICATION_FAILED to PLAIN, which checks her password
        against her SCRAM credentials (a real client would retry until its timeout)."""
        host, port = c.nodes[node].bootstrap.rsplit(":", 1)
        w = WireClient(host, int(port))
        try:
            return w.plain("carol", carol_password)[0] == 58
        finally:
            w.close()

    try:
        c.start()
        create(c, topic, 3)
        admin = admin_on(1)
        try:
            # a user through node 1 (the client salts the password: KIP-554)
            salt = os.urandom(16)
            U = AlterUserScramCredentialsRequest.ScramCredentialUpsertion
            up = U(name="carol", mechanism=1, iterations=4096, salt=salt,
                   salted_password=hashlib.pbkdf2_hmac("sha256", carol_password.encode(), salt, 4096))
            r = send_to(admin, 1, AlterUserScramCredentialsRequest(deletions=[], upsertions=[up]))
            assert [x.error_code for x in r.results] == [0], r
            # her ACLs through node 2: write and describe on the topic
            A = CreateAclsRequest.AclCreation
            r = send_to(admin, 2, CreateAclsRequest(creations=[
                A(resource_type=2, resource_name=topic, resource_pattern_type=3, principal="User:carol",
                  host="*", operation=op, permission_type=3) for op in (4, 8)]))
            assert [x.error_code for x in r.results] == [0, 0], r
            # her quota through node 3
            set_carol_quota(admin, 3, 10485760.0)
        finally:
            admin.close()
        wait_everywhere(([1], [4, 8], {"producer_byte_rate": 10485760.0}))
        for n in (1, 2, 3):
            carol_logs_in(n)
            assert not carol_refused(n)

        # carol writes acks=all to every partition, so every leader checks her ACLs
        p = Producer({"bootstrap.servers": c.bootstrap, "acks": "all",
                      **sasl("carol", carol_password, "SCRAM-SHA-256")})
        results = []
        for part in range(3):
            p.produce(topic, value=b"carol", partition=part, on_delivery=lambda err, msg: results.append(err))
        assert p.flush(30) == 0 and results == [None] * 3, results

        # a node killed and restarted rebuilds them from the log
        c.nodes[3].kill()
        c.nodes[3].start(timeout=60)
        carol_logs_in(3)
        wait_everywhere(([1], [4, 8], {"producer_byte_rate": 10485760.0}), nodes=(3,))

        # deletions, through other nodes, reach every node
        admin = admin_on(3)
        try:
            r = send_to(admin, 3, DeleteAclsRequest(filters=[DeleteAclsRequest.DeleteAclsFilter(**carol_acls)]))
            assert r.filter_results[0].error_code == 0 and len(r.filter_results[0].matching_acls) == 2, r
            X = AlterUserScramCredentialsRequest.ScramCredentialDeletion
            r = send_to(admin, 2, AlterUserScramCredentialsRequest(deletions=[X(name="carol", mechanism=1)],
                                                                upsertions=[]))
            assert [x.error_code for x in r.results] == [0], r
            set_carol_quota(admin, 1, None)
        finally:
            admin.close()
        wait_everywhere(([], [], {}))
        assert all(carol_refused(n) for n in (1, 2, 3))
    finally:
        c.cleanup()


def test_producer_ids_come_from_blocks_in_the_metadata_log(cluster):
    """Every node hands out producer ids (InitProducerId, sent to each node by
    kafka-python) from its own block of the metadata log: no two nodes share a
    block, and a node killed -9 and restarted takes a new block rather than reusing
    its old one."""
    from kafka.admin import KafkaAdminClient
    from kafka.protocol.producer.transaction import InitProducerIdRequest

    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap, request_timeout_ms=20000)

    def init_on(node: int) -> int:
        r = send_to(admin, node, InitProducerIdRequest(
            transactional_id=None, transaction_timeout_ms=60000, producer_id=-1, producer_epoch=-1))
        assert r.error_code == 0 and r.producer_epoch == 0, r
        return r.producer_id

    try:
        ids = {n: [init_on(n), init_on(n)] for n in (1, 2, 3)}
        for n, (a, b) in ids.items():
            assert b == a + 1, f"node {n} hands out its block in order: {ids}"
        blocks = {n: a // 1000 for n, (a, _) in ids.items()}
        assert len(set(blocks.values())) == 3, f"each node has a block of its own: {ids}"
        cluster.nodes[1].kill()
        cluster.nodes[1].start(timeout=60)
        deadline = time.monotonic() + 30
        while True:
            try:
                after = init_on(1)
                break
            except (AssertionError, KafkaConnectionError):  # reconnecting, or the quorum settling
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        assert after // 1000 not in blocks.values(), f"node 1 reused a block after its restart: {after}, {ids}"
        assert after not in [i for pair in ids.values() for i in pair]
    finally:
        admin.close()
