"""Proxy mode: real clients reach a real gregor upstream only through a gregor gateway.

Each test starts an upstream broker (single node, node id 1) and a gateway in front of
it (`proxy:` config, a port per upstream node). Clients are given the gateway's
bootstrap address only; what they write is checked on the upstream directly, and what
the upstream holds is checked through the gateway. Covered: produce/consume with three
clients and codecs, idempotent and acks=0 producers, consumer groups with a
rebalance, admin operations, ApiVersions, SASL_SSL + ACLs + quotas at the gateway in
front of a PLAINTEXT upstream, the gateway logging in to a SASL_SSL upstream, the
upstream killed mid-stream, a gateway restart, SNI addressing, and two virtual
clusters isolated from each other.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import confluent_kafka as ck
import pytest
from confluent_kafka.admin import ConfigResource, NewPartitions, NewTopic

from certs import _ca, _signed, make_certs
from conftest import Gregor, GregorError, free_port
from kafka_clients import (Spec, aio_produce, api_versions, assert_same_records, ck_admin, ck_consume,
                           ck_create_topic, ck_produce, consume, expected_by_partition, kp_produce,
                           make_specs, wait_until)

KCAT = shutil.which("kcat")
ALICE_PASSWORD = "alice-gw-pw"
GATEWAY_PASSWORD = "gateway-upstream-pw"


def gateway_yaml(upstream: Gregor, addressing: list[dict], upstream_extra: dict | None = None,
                 tenants: list[dict] | None = None) -> str:
    up = {"bootstrap": [upstream.bootstrap], "security": "plaintext", "metadata_refresh_ms": 1000}
    up.update(upstream_extra or {})
    proxy = {"upstream": up, "addressing": addressing}
    if tenants:
        proxy["virtual_clusters"] = tenants
    # JSON is YAML
    return "proxy: " + json.dumps(proxy) + "\n"


def port_addressing(listener: str, first_port: int, node_id_base: int = 1, nodes_max: int = 1) -> dict:
    return {"listener": listener, "mode": "port", "first_port": first_port,
            "node_id_base": node_id_base, "nodes_max": nodes_max}


def start_gateway(factory, upstream: Gregor, listeners: list[dict] | None = None,
                  addressing: list[dict] | None = None, extra_yaml: str = "",
                  upstream_extra: dict | None = None, tenants: list[dict] | None = None,
                  start: bool = True) -> Gregor:
    listeners = listeners or [{"name": "EXTERNAL", "security": "plaintext"}]
    if addressing is None:
        addressing = [port_addressing(listeners[0]["name"], free_port())]
    text = gateway_yaml(upstream, addressing, upstream_extra, tenants) + extra_yaml
    return factory(node_id=0, listeners=listeners, extra_yaml=text, start=start)


@pytest.fixture
def upstream(gregor_factory) -> Gregor:
    return gregor_factory(broker={"group.initial.rebalance.delay.ms": 0})


@pytest.fixture
def gw(gregor_factory, upstream) -> Gregor:
    return start_gateway(gregor_factory, upstream)


def node_ports(g: Gregor) -> set[int]:
    """The ports the gateway serves upstream nodes on, from its config."""
    text = g.config_path.read_text()
    proxy = json.loads(text.split("proxy: ", 1)[1].splitlines()[0])
    out = set()
    for a in proxy["addressing"]:
        if a["mode"] == "port":
            out |= set(range(a["first_port"], a["first_port"] + a["nodes_max"]))
    return out


def metrics(g: Gregor) -> str:
    with urllib.request.urlopen(g.admin_url + "/metrics", timeout=10) as r:
        return r.read().decode()


def metric_sum(text: str, name: str, **labels) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


# ------------------------------------------------------------------ data path
def test_three_clients_through_the_gateway_see_only_gateway_addresses(gw, upstream, new_topic):
    topic = new_topic()
    ck_create_topic(gw.bootstrap, topic, partitions=3)
    specs = make_specs(300, 3, seed=7)
    delivered = ck_produce(gw.bootstrap, topic, specs[:100], codec="zstd")
    delivered += kp_produce(gw.bootstrap, topic, specs[100:200], codec="gzip")
    delivered += aio_produce(gw.bootstrap, topic, specs[200:], codec="lz4")
    expected = expected_by_partition(specs, delivered)
    for client in ("confluent", "kafka-python", "aiokafka"):
        got = consume(client, gw.bootstrap, topic, range(3), len(specs))
        assert_same_records(expected, got, f"{client} through the gateway")
    # the upstream holds exactly that
    assert_same_records(expected, ck_consume(upstream.bootstrap, topic, range(3), len(specs)), "upstream")

    md = ck_admin(gw.bootstrap).list_topics(timeout=10)
    ports = node_ports(gw)
    assert {b.port for b in md.brokers.values()} <= ports, md.brokers
    assert {b.id for b in md.brokers.values()} == {1}
    if KCAT:
        out = subprocess.run([KCAT, "-L", "-b", gw.bootstrap], capture_output=True, text=True,
                             timeout=30, check=True).stdout
        assert f":{upstream.port}" not in out, out
        assert f"127.0.0.1:{min(ports)}" in out, out


def test_idempotent_and_acks0_producers(gw, upstream, new_topic):
    topic = new_topic()
    ck_create_topic(gw.bootstrap, topic, partitions=2)
    specs = make_specs(2000, 2, seed=3, big=False)
    delivered = ck_produce(gw.bootstrap, topic, specs, acks="all", **{
        "enable.idempotence": True, "max.in.flight.requests.per.connection": 5})
    got = ck_consume(gw.bootstrap, topic, range(2), len(specs))
    assert_same_records(expected_by_partition(specs, delivered), got, "idempotent producer")

    # acks=0: nothing is answered, and every record still lands, in order
    from kafka import KafkaProducer
    p = KafkaProducer(bootstrap_servers=gw.bootstrap, acks=0, linger_ms=5)
    for i in range(500):
        p.send(topic, value=b"acks0-%d" % i, partition=0)
    p.flush(30)
    p.close()

    def acks0_values():
        recs = ck_consume(upstream.bootstrap, topic, [0], 10_000, timeout=5)
        return [r.value for r in recs if r.value and r.value.startswith(b"acks0-")]
    wait_until(lambda: len(acks0_values()) == 500, what="500 acks=0 records upstream")
    assert acks0_values() == [b"acks0-%d" % i for i in range(500)]


def test_consumer_group_rebalances_through_the_gateway(gw, upstream, new_topic):
    topic, group = new_topic(), new_topic("group")
    ck_create_topic(gw.bootstrap, topic, partitions=4)
    ck_produce(gw.bootstrap, topic, make_specs(400, 4, big=False))
    conf = {"bootstrap.servers": gw.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
    members = [ck.Consumer(dict(conf, **{"client.id": f"m{i}"})) for i in range(2)]
    seen: dict[tuple[int, int], int] = {}
    try:
        for m in members:
            m.subscribe([topic])

        def poll_all(ms):
            for m in ms:
                for msg in m.consume(num_messages=200, timeout=0.2):
                    if not msg.error():
                        key = (msg.partition(), msg.offset())
                        seen[key] = seen.get(key, 0) + 1
                        try:
                            m.commit(message=msg, asynchronous=False)
                        except ck.KafkaException:
                            pass  # a rebalance under way: the record may come again

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
                len(seen) < 400 or not all(len(m.assignment()) == 2 for m in members)):
            poll_all(members)
        assert len(seen) == 400, f"{len(seen)} of 400 consumed by the group"
        assert all(len(m.assignment()) == 2 for m in members), [m.assignment() for m in members]
        # a member leaves: the other takes every partition and the new records
        members[1].close()
        survivors = members[:1]
        ck_produce(gw.bootstrap, topic, make_specs(200, 4, seed=9, big=False))
        deadline = time.monotonic() + 60
        while len(seen) < 600 and time.monotonic() < deadline:
            poll_all(survivors)
        assert len(seen) == 600, f"{len(seen)} of 600 after the rebalance"
        assert len(survivors[0].assignment()) == 4
    finally:
        members[0].close()
    # the group and its offsets live upstream
    admin = ck_admin(upstream.bootstrap)
    res = admin.list_consumer_group_offsets([ck.ConsumerGroupTopicPartitions(group)])[group].result(timeout=20)
    assert sum(tp.offset for tp in res.topic_partitions if tp.topic == topic) == 600


def test_admin_operations_through_the_gateway(gw, upstream, new_topic):
    topic = new_topic()
    a = ck_admin(gw.bootstrap)
    a.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1,
                              config={"retention.ms": "3600000"})])[topic].result(timeout=20)
    wait_until(lambda: topic in ck_admin(upstream.bootstrap).list_topics(timeout=5).topics,
               what="topic created upstream")
    res = a.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)])
    cfg = list(res.values())[0].result(timeout=20)
    assert cfg["retention.ms"].value == "3600000"
    a.create_partitions([NewPartitions(topic, 5)])[topic].result(timeout=20)
    wait_until(lambda: len(ck_admin(upstream.bootstrap).list_topics(timeout=5).topics[topic].partitions) == 5,
               what="5 partitions upstream")
    cluster = a.describe_cluster(request_timeout=20).result(timeout=20)
    assert [n.port for n in cluster.nodes] == [min(node_ports(gw))], cluster.nodes
    a.delete_topics([topic])[topic].result(timeout=20)
    wait_until(lambda: topic not in ck_admin(upstream.bootstrap).list_topics(timeout=5).topics,
               what="topic deleted upstream")


def test_api_versions_are_within_the_upstreams(gw, upstream):
    mine, theirs = api_versions(gw.bootstrap), api_versions(upstream.bootstrap)
    local = {17, 18, 29, 30, 31, 36, 48, 49, 50, 51}  # SASL, ApiVersions, ACL/SCRAM/quota admin
    for key, (lo, hi) in mine.items():
        if key in local:
            continue
        assert key in theirs, f"API {key} offered but the upstream lacks it"
        assert theirs[key][0] <= lo <= hi <= theirs[key][1], (key, (lo, hi), theirs[key])
    assert set(mine) - local == set(theirs) - local


# ------------------------------------------------------------------ policies
def test_sasl_ssl_acls_and_quotas_at_the_gateway_before_a_plaintext_upstream(
        gregor_factory, upstream, tmp_path, new_topic):
    pki = make_certs(tmp_path / "pki")
    (tmp_path / "alice.pw").write_text(ALICE_PASSWORD)
    listeners = [{"name": "SECURE", "security": "sasl_ssl",
                  "tls": {"cert": pki.server.cert, "key": pki.server.key},
                  "sasl": {"mechanisms": ["SCRAM-SHA-512", "PLAIN"]}}]
    extra = (
        "users:\n"
        f"  - name: alice\n    password_file: {json.dumps(str(tmp_path / 'alice.pw'))}\n"
        "authorizer: acl\n"
        "acls:\n"
        '  - { principal: "User:alice", resource: { type: topic, name: "ok-", pattern: prefixed }, '
        "operations: [all], permission: allow }\n"
        '  - { principal: "User:alice", resource: { type: group, name: "*" }, operations: [all], '
        "permission: allow }\n"
        "quotas:\n  - { user: alice, producer_byte_rate: 131072 }\n"
    )
    gw = start_gateway(gregor_factory, upstream, listeners=listeners, extra_yaml=extra)
    ok, secret = new_topic("ok-t"), new_topic("secret")
    for t in (ok, secret):
        ck_create_topic(upstream.bootstrap, t)
    auth = {"security.protocol": "SASL_SSL", "ssl.ca.location": pki.ca, "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": "alice", "sasl.password": ALICE_PASSWORD}

    # allowed topic: written, read back through the gateway. Kafka's rate spans at
    # least 10 one-second windows, so 1.8 MB at a 128 KiB/s quota (14 s worth) throttles
    big = [Spec(0, b"k%d" % i, b"x" * 28_000, (), None) for i in range(64)]
    delivered = ck_produce(gw.bootstrap, ok, big, timeout=60, **auth, **{"linger.ms": 50})
    got = ck_consume(gw.bootstrap, ok, [0], len(big), **auth)
    assert [r.value for r in got] == [s.value for s in big]
    assert delivered[-1].offset == 63
    # the throttle was computed for alice's principal and sent (KIP-219: the client waits)
    m = metrics(gw)
    assert metric_sum(m, "gregor_quota_throttle_time_seconds_total", user="alice") > 0, \
        [line for line in m.splitlines() if "quota" in line]

    # denied topic: TOPIC_AUTHORIZATION_FAILED, and nothing reaches the upstream
    p = ck.Producer({"bootstrap.servers": gw.bootstrap, **auth, "message.timeout.ms": 10000})
    errors = []
    p.produce(secret, b"no", on_delivery=lambda err, msg: errors.append(err))
    p.flush(20)
    assert errors and errors[0] is not None and errors[0].code() == ck.KafkaError.TOPIC_AUTHORIZATION_FAILED, errors
    assert ck_consume(upstream.bootstrap, secret, [0], 1, timeout=3) == []
    md = ck_admin(gw.bootstrap, **auth).list_topics(timeout=10)
    assert ok in md.topics and secret not in md.topics, "Metadata is filtered by DESCRIBE"

    # a wrong password is refused at the gateway
    bad = ck_admin(gw.bootstrap, **dict(auth, **{"sasl.password": "wrong"}))
    with pytest.raises(ck.KafkaException):
        bad.list_topics(timeout=5)


def test_the_gateway_logs_in_to_a_sasl_ssl_upstream(gregor_factory, tmp_path, new_topic):
    pki = make_certs(tmp_path / "pki")
    (tmp_path / "gw.pw").write_text(GATEWAY_PASSWORD)
    up = gregor_factory(
        listeners=[{"name": "SECURE", "security": "sasl_ssl",
                    "tls": {"cert": pki.server.cert, "key": pki.server.key},
                    "sasl": {"mechanisms": ["SCRAM-SHA-256"]}}],
        extra_yaml=f"users:\n  - name: gateway\n    password_file: {json.dumps(str(tmp_path / 'gw.pw'))}\n")
    upstream_extra = {"security": "sasl_ssl", "tls": {"ca": pki.ca, "server_name": "localhost"},
                      "sasl": {"mechanism": "SCRAM-SHA-256", "username": "gateway",
                               "password_file": str(tmp_path / "gw.pw")}}
    gw = start_gateway(gregor_factory, up, upstream_extra=upstream_extra)
    topic = new_topic()
    ck_create_topic(gw.bootstrap, topic)
    specs = make_specs(200, 1)
    delivered = ck_produce(gw.bootstrap, topic, specs, codec="snappy")
    assert_same_records(expected_by_partition(specs, delivered),
                        consume("kafka-python", gw.bootstrap, topic, [0], len(specs)), "plaintext client")

    # a wrong upstream password: the gateway never becomes ready and says why
    upstream_extra["sasl"] = dict(upstream_extra["sasl"], password="wrong", password_file=None)
    del upstream_extra["sasl"]["password_file"]
    bad = start_gateway(gregor_factory, up, upstream_extra=upstream_extra, start=False)
    with pytest.raises(GregorError):
        bad.start(timeout=4)
    assert "SASL login failed" in bad.log_tail(40)


# ------------------------------------------------------------------ faults
def test_upstream_killed_mid_stream_loses_nothing_acknowledged(gregor_factory, upstream, new_topic):
    gw = start_gateway(gregor_factory, upstream)
    topic = new_topic()
    ck_create_topic(gw.bootstrap, topic, partitions=2)
    p = ck.Producer({"bootstrap.servers": gw.bootstrap, "enable.idempotence": True, "linger.ms": 5,
                     "message.timeout.ms": 60000, "retry.backoff.ms": 100})
    acked: dict[int, list[bytes]] = {0: [], 1: []}
    lock = threading.Lock()

    def done(err, msg):
        if err is None:
            with lock:
                acked[msg.partition()].append(msg.value())

    total = 6000
    for i in range(total):
        p.produce(topic, b"v%06d" % i, partition=i % 2, on_delivery=done)
        p.poll(0)
        if i == total // 3:
            p.flush(30)
            upstream.kill()  # kill -9, mid-stream
        if i == total // 3 + 500:
            upstream.start()
        if i % 100 == 0:
            time.sleep(0.01)
    assert p.flush(90) == 0, "records left undelivered"
    with lock:
        assert sum(map(len, acked.values())) == total
    for part in (0, 1):
        got = [r.value for r in ck_consume(gw.bootstrap, topic, [part], total // 2 + 100, timeout=30)]
        assert sorted(got) == sorted(acked[part]), f"partition {part}: acknowledged records missing or extra"
        assert len(got) == len(set(got)), "duplicates despite idempotence"
        assert got == sorted(got), "out of order"


def test_gateway_restart(gregor_factory, upstream, new_topic):
    gw = start_gateway(gregor_factory, upstream)
    topic = new_topic()
    ck_create_topic(gw.bootstrap, topic)
    p = ck.Producer({"bootstrap.servers": gw.bootstrap, "linger.ms": 5, "message.timeout.ms": 60000})
    errors = []
    cb = lambda err, msg: errors.append(err) if err else None  # noqa: E731
    for i in range(100):
        p.produce(topic, b"before-%d" % i, on_delivery=cb)
    assert p.flush(30) == 0
    gw.restart()
    for i in range(100):
        p.produce(topic, b"after-%d" % i, on_delivery=cb)
    assert p.flush(60) == 0 and not errors, errors
    got = [r.value for r in ck_consume(gw.bootstrap, topic, [0], 200)]
    assert got == [b"before-%d" % i for i in range(100)] + [b"after-%d" % i for i in range(100)]


# ------------------------------------------------------------------ SNI
def test_sni_addressing_one_tls_port(gregor_factory, upstream, tmp_path, new_topic, monkeypatch):
    d = tmp_path / "sni"
    d.mkdir()
    ca = _ca(d, "sni-ca")
    server = _signed(d, ca, "sni-server", "/CN=bootstrap.gregor.test",
                     "subjectAltName=DNS:bootstrap.gregor.test,DNS:*.gregor.test\n"
                     "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    listeners = [{"name": "TLS", "security": "ssl", "advertised_host": "bootstrap.gregor.test",
                  "tls": {"cert": server.cert, "key": server.key}}]
    addressing = [{"listener": "TLS", "mode": "sni", "domain": "gregor.test"}]
    gw = start_gateway(gregor_factory, upstream, listeners=listeners, addressing=addressing)
    real = socket.getaddrinfo
    asked: list[str] = []

    def resolve(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".gregor.test"):
            asked.append(host)
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    tls = {"security_protocol": "SSL", "ssl_cafile": ca.cert, "ssl_check_hostname": True}
    bootstrap = f"bootstrap.gregor.test:{gw.port}"
    topic = new_topic()
    ck_create_topic(upstream.bootstrap, topic)
    p = KafkaProducer(bootstrap_servers=bootstrap, **tls)
    for i in range(50):
        p.send(topic, b"sni-%d" % i, partition=0)
    p.flush(30)
    p.close()
    c = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", **tls)
    c.assign([TopicPartition(topic, 0)])
    got = []
    deadline = time.monotonic() + 20
    while len(got) < 50 and time.monotonic() < deadline:
        for recs in c.poll(timeout_ms=200).values():
            got += [r.value for r in recs]
    c.close()
    assert got == [b"sni-%d" % i for i in range(50)]
    assert "broker-1.gregor.test" in asked, f"the client never addressed the node by name: {set(asked)}"


# ------------------------------------------------------------------ virtual clusters
def test_two_virtual_clusters_are_isolated(gregor_factory, upstream, new_topic):
    listeners = [{"name": "TENANT_A", "security": "plaintext"}, {"name": "TENANT_B", "security": "plaintext"}]
    addressing = [port_addressing("TENANT_A", free_port()), port_addressing("TENANT_B", free_port())]
    tenants = [{"name": "a", "prefix": "team-a.", "listener": "TENANT_A"},
               {"name": "b", "prefix": "team-b.", "listener": "TENANT_B"}]
    gw = start_gateway(gregor_factory, upstream, listeners=listeners, addressing=addressing, tenants=tenants)
    a, b = gw.listener("TENANT_A"), gw.listener("TENANT_B")
    topic = new_topic("orders")
    for addr in (a, b):
        ck_create_topic(addr, topic, partitions=2)
    ck_produce(a, topic, [Spec(0, None, b"A-%d" % i, (), None) for i in range(30)])
    ck_produce(b, topic, [Spec(0, None, b"B-%d" % i, (), None) for i in range(20)])
    assert [r.value for r in ck_consume(a, topic, [0], 30)] == [b"A-%d" % i for i in range(30)]
    assert [r.value for r in ck_consume(b, topic, [0], 20)] == [b"B-%d" % i for i in range(20)]

    upstream_topics = set(ck_admin(upstream.bootstrap).list_topics(timeout=10).topics)
    assert {f"team-a.{topic}", f"team-b.{topic}"} <= upstream_topics
    assert topic not in upstream_topics
    ck_create_topic(upstream.bootstrap, "unowned-topic")
    for addr in (a, b):
        seen = set(ck_admin(addr).list_topics(timeout=10).topics)
        assert seen == {topic}, f"a tenant sees {seen}"

    # groups: A's group lives upstream as team-a.<group>; B cannot see or describe it
    group = new_topic("g")
    c = ck.Consumer({"bootstrap.servers": a, "group.id": group, "auto.offset.reset": "earliest",
                     "enable.auto.commit": False})
    c.subscribe([topic])
    n = 0
    deadline = time.monotonic() + 30
    while n < 30 and time.monotonic() < deadline:
        for m in c.consume(num_messages=100, timeout=0.3):
            if not m.error():
                n += 1
                c.commit(message=m, asynchronous=False)
    c.close()
    assert n == 30
    # (an AdminClient must outlive its futures)
    admins = {addr: ck_admin(addr) for addr in (upstream.bootstrap, a, b)}

    def groups(addr):
        return {g.group_id for g in admins[addr].list_consumer_groups().result(timeout=20).valid}
    up_groups, a_groups, b_groups = groups(upstream.bootstrap), groups(a), groups(b)
    assert f"team-a.{group}" in up_groups, up_groups
    assert group in a_groups and not any(g.startswith("team-") for g in a_groups), a_groups
    assert group not in b_groups, b_groups
    # B's offsets for the same group name are its own (none)
    res = admins[b].list_consumer_group_offsets([ck.ConsumerGroupTopicPartitions(
        group, [ck.TopicPartition(topic, 0)])])[group].result(timeout=20)
    assert res.topic_partitions[0].offset < 0, res.topic_partitions
