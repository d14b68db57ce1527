"""The admin CLI (`gregor topics|groups|cluster …`) as a user runs it: the real binary
as a subprocess against a real gregor broker process, each outcome checked with
confluent-kafka (librdkafka) rather than with the CLI itself.

JSON output is parsed and asserted field by field; table output is checked where a
person would read it. Error cases check the exit status and the one-line message.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time

import confluent_kafka as ck
import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicCollection, TopicPartition
from confluent_kafka.admin import ConfigResource

from certs import make_certs
from conftest import Gregor, find_binary, free_port
from kafka_clients import ck_admin, wait_until

CLI_TIMEOUT_S = 60
BROKER = {"group.initial.rebalance.delay.ms": 0, "auto.create.topics.enable": False}
ADMIN_PASSWORD = "admin-s3cret"


def cli(bootstrap: str, *args: str, env: dict | None = None, extra: tuple = ()) -> subprocess.CompletedProcess:
    """Runs `gregor <args> --bootstrap-server <bootstrap>`; never raises on exit status."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("GREGOR_")}
    child_env.update(env or {})
    return subprocess.run(
        [str(find_binary()), *args, "--bootstrap-server", bootstrap, *extra],
        capture_output=True, text=True, timeout=CLI_TIMEOUT_S, env=child_env)


def cli_ok(bootstrap: str, *args: str, **kw) -> subprocess.CompletedProcess:
    r = cli(bootstrap, *args, **kw)
    assert r.returncode == 0, f"gregor {' '.join(args)} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def cli_json(bootstrap: str, *args: str, ok: bool = True, **kw):
    r = cli(bootstrap, *args, "--output", "json", **kw)
    if ok:
        assert r.returncode == 0, f"gregor {' '.join(args)} exited {r.returncode}\n{r.stderr}"
    return json.loads(r.stdout), r


@pytest.fixture(scope="module")
def broker(tmp_path_factory, gregor_bin):
    g = Gregor(tmp_path_factory.mktemp("cli"), binary=gregor_bin, broker=BROKER).start()
    yield g
    g.cleanup()


def topic_configs(bootstrap: str, topic: str) -> dict:
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    admin = ck_admin(bootstrap)  # kept alive until the future resolves
    entries = admin.describe_configs([res])[res].result(timeout=20)
    return {k: e.value for k, e in entries.items()}


# ------------------------------------------------------------------------- topics
def test_topic_lifecycle(broker, new_topic):
    b, t = broker.bootstrap, new_topic("cli")
    created, _ = cli_json(b, "topics", "create", t, "--partitions", "3", "--replication-factor", "1",
                          "--config", "retention.ms=3600000", "--config", "segment.ms=7200000")
    assert created["topics"][0]["name"] == t and created["topics"][0]["error"] is None
    assert created["topics"][0]["partitions"] == 3
    admin = ck_admin(b)
    md = wait_until(lambda: admin.list_topics(timeout=5).topics.get(t), what="topic in metadata")
    assert sorted(md.partitions) == [0, 1, 2]
    assert topic_configs(b, t)["retention.ms"] == "3600000"

    listed, _ = cli_json(b, "topics", "list")
    mine = [x for x in listed["topics"] if x["name"] == t]
    assert len(mine) == 1 and mine[0]["partitions"] == 3 and mine[0]["replication_factor"] == 1
    assert all(not x["internal"] for x in listed["topics"])
    table = cli_ok(b, "topics", "list").stdout
    assert table.splitlines()[0].split() == ["TOPIC", "PARTITIONS", "REPLICATION-FACTOR", "TOPIC-ID"]
    assert any(line.split()[:3] == [t, "3", "1"] for line in table.splitlines())

    described, _ = cli_json(b, "topics", "describe", t)
    d = described["topics"][0]
    ck_desc = admin.describe_topics(TopicCollection([t]))[t].result(timeout=20)
    # Kafka prints ids in URL-safe base64 (Uuid.toString); librdkafka in the standard alphabet
    u = ck_desc.topic_id
    ck_bytes = (((u.get_most_significant_bits() & (2**64 - 1)) << 64)
                | (u.get_least_significant_bits() & (2**64 - 1))).to_bytes(16, "big")
    assert base64.urlsafe_b64decode(d["topic_id"] + "==") == ck_bytes
    assert [p["partition"] for p in d["partitions"]] == [0, 1, 2]
    assert all(p["leader"] == broker.node_id and p["isr"] == [broker.node_id] for p in d["partitions"])
    assert {c["name"]: c["value"] for c in d["configs"]} == {"retention.ms": "3600000", "segment.ms": "7200000"}
    assert all(c["source"] == "DYNAMIC_TOPIC_CONFIG" for c in d["configs"])

    altered, _ = cli_json(b, "topics", "alter-config", t, "--set", "retention.ms=5000", "--delete", "segment.ms")
    assert altered["topics"][0] == {"name": t, "set": {"retention.ms": "5000"}, "deleted": ["segment.ms"], "error": None}
    configs = topic_configs(b, t)
    assert configs["retention.ms"] == "5000"
    assert configs["segment.ms"] == "604800000"  # back to the broker default
    text = cli_ok(b, "topics", "describe", t).stdout
    assert f"Topic: {t}" in text and "retention.ms" in text and "segment.ms" not in text

    deleted, _ = cli_json(b, "topics", "delete", t)
    assert deleted == {"topics": [{"name": t, "error": None}]}
    wait_until(lambda: t not in admin.list_topics(timeout=5).topics, what="topic gone")


def test_topic_errors_name_the_kafka_code(broker, new_topic):
    b, t, missing = broker.bootstrap, new_topic("dup"), new_topic("missing")
    cli_ok(b, "topics", "create", t, "--partitions", "1")
    dup = cli(b, "topics", "create", t, "--partitions", "1")
    assert dup.returncode == 1
    assert f'topic "{t}": TOPIC_ALREADY_EXISTS (36)' in dup.stderr

    # the topic that exists is still described; the missing one fails the command
    out, r = cli_json(b, "topics", "describe", t, missing, ok=False)
    assert r.returncode == 1
    assert f'topic "{missing}": UNKNOWN_TOPIC_OR_PARTITION (3)' in r.stderr
    by_name = {x["name"]: x for x in out["topics"]}
    assert by_name[t]["error"] is None and len(by_name[t]["partitions"]) == 1
    assert by_name[missing]["error"]["name"] == "UNKNOWN_TOPIC_OR_PARTITION"
    assert by_name[missing]["error"]["code"] == 3
    assert missing not in ck_admin(b).list_topics(timeout=5).topics  # describing did not create it

    bad = cli(b, "topics", "alter-config", t, "--set", "no.such.config=1")
    assert bad.returncode == 1 and "INVALID_CONFIG" in bad.stderr


def test_unreachable_bootstrap_is_one_clear_line():
    port = free_port()
    r = cli(f"127.0.0.1:{port}", "topics", "list", extra=("--timeout-ms", "5000"))
    assert r.returncode != 0 and r.stdout == ""
    assert r.stderr.strip() == f"gregor: cannot connect to 127.0.0.1:{port}: Connection refused"


def test_bootstrap_from_the_environment_and_a_list(broker):
    dead = f"127.0.0.1:{free_port()}"
    out, _ = cli_json(f"{dead},{broker.bootstrap}", "cluster", "describe")
    assert [x["port"] for x in out["brokers"]] == [broker.port]
    r = subprocess.run([str(find_binary()), "cluster", "describe"], capture_output=True, text=True,
                       timeout=CLI_TIMEOUT_S,
                       env={"PATH": os.environ.get("PATH", ""), "GREGOR_BOOTSTRAP_SERVER": broker.bootstrap})
    assert r.returncode == 0 and f"127.0.0.1  {broker.port}" in r.stdout


def test_cluster_describe(broker):
    out, _ = cli_json(broker.bootstrap, "cluster", "describe")
    admin = ck_admin(broker.bootstrap)
    cluster = admin.describe_cluster().result(timeout=20)
    assert out["cluster_id"] == cluster.cluster_id
    assert out["controller_id"] == cluster.controller.id == broker.node_id
    assert out["brokers"] == [{"node_id": broker.node_id, "host": "127.0.0.1", "port": broker.port, "rack": None}]


# ------------------------------------------------------------------------- groups
def produce(bootstrap: str, topic: str, per_partition: dict[int, int]):
    p = ck.Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for partition, n in per_partition.items():
        for i in range(n):
            p.produce(topic, value=f"{partition}-{i}".encode(), partition=partition)
    assert p.flush(20) == 0


def consumer(bootstrap: str, group: str) -> ck.Consumer:
    return ck.Consumer({"bootstrap.servers": bootstrap, "group.id": group, "client.id": "cli-test-consumer",
                        "auto.offset.reset": "earliest", "enable.auto.commit": False,
                        "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})


def consume(c: ck.Consumer, n: int, timeout: float = 30.0) -> list:
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is not None and not m.error():
            got.append(m)
    assert len(got) == n, f"consumed {len(got)} of {n}"
    return got


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    req = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0), TopicPartition(topic, 1)])]
    admin = ck_admin(bootstrap)
    res = admin.list_consumer_group_offsets(req)[group].result(timeout=20)
    return {tp.partition: tp.offset for tp in res.topic_partitions}


def group_json(bootstrap: str, group: str) -> dict:
    out, _ = cli_json(bootstrap, "groups", "describe", group)
    return out["groups"][0]


def test_group_describe_reset_and_delete(broker, new_topic):
    b, t, g = broker.bootstrap, new_topic("grp"), new_topic("group")
    cli_ok(b, "topics", "create", t, "--partitions", "2")
    produce(b, t, {0: 5, 1: 5})
    c = consumer(b, g)
    c.subscribe([t])
    consume(c, 10)
    c.commit(asynchronous=False)
    produce(b, t, {0: 2, 1: 3})

    d = group_json(b, g)
    assert d["state"] == "Stable" and d["protocol_type"] == "consumer" and d["error"] is None
    assert len(d["members"]) == 1
    member = d["members"][0]
    assert member["client_id"] == "cli-test-consumer"
    assert member["assignment"] == [{"topic": t, "partitions": [0, 1]}]
    offsets = {o["partition"]: o for o in d["offsets"] if o["topic"] == t}
    assert {p: o["committed_offset"] for p, o in offsets.items()} == {0: 5, 1: 5} == committed(b, g, t)
    assert {p: o["log_end_offset"] for p, o in offsets.items()} == {0: 7, 1: 8}
    assert {p: o["lag"] for p, o in offsets.items()} == {0: 2, 1: 3}
    assert all(o["member_id"] == member["member_id"] for o in offsets.values())
    listed, _ = cli_json(b, "groups", "list")
    assert {"group_id": g, "state": "Stable", "protocol_type": "consumer", "coordinator": broker.node_id} \
        in listed["groups"]

    # a live group's offsets would be overwritten by its members: refused
    refused = cli(b, "groups", "reset-offsets", g, "--all-topics", "--to-earliest", "--execute")
    assert refused.returncode != 0
    assert f'group "{g}" is Stable with 1 member(s)' in refused.stderr and "inactive" in refused.stderr
    assert committed(b, g, t) == {0: 5, 1: 5}

    c.close()
    wait_until(lambda: group_json(b, g)["state"] == "Empty", what="group Empty after the consumer left")

    plan, _ = cli_json(b, "groups", "reset-offsets", g, "--topic", t, "--to-earliest")
    assert plan["executed"] is False and plan["target"] == "earliest"
    assert [(p["partition"], p["current_offset"], p["new_offset"], p["error"]) for p in plan["partitions"]] == \
        [(0, 5, 0, None), (1, 5, 0, None)]
    dry, _ = cli_json(b, "groups", "reset-offsets", g, "--topic", f"{t}:1", "--shift-by", "-2", "--dry-run")
    assert [(p["partition"], p["new_offset"]) for p in dry["partitions"]] == [(1, 3)]
    far, _ = cli_json(b, "groups", "reset-offsets", g, "--all-topics", "--to-offset", "1000")
    assert [(p["partition"], p["new_offset"]) for p in far["partitions"]] == [(0, 7), (1, 8)]
    future, _ = cli_json(b, "groups", "reset-offsets", g, "--all-topics", "--to-datetime", "2999-01-01T00:00:00Z")
    assert [p["new_offset"] for p in future["partitions"]] == [7, 8]
    past, _ = cli_json(b, "groups", "reset-offsets", g, "--all-topics", "--to-datetime", "2000-01-01T00:00:00+01:00")
    assert [p["new_offset"] for p in past["partitions"]] == [0, 0]
    assert committed(b, g, t) == {0: 5, 1: 5}, "a dry run changed committed offsets"

    done, _ = cli_json(b, "groups", "reset-offsets", g, "--topic", t, "--to-earliest", "--execute")
    assert done["executed"] is True and all(p["error"] is None for p in done["partitions"])
    assert committed(b, g, t) == {0: 0, 1: 0}
    assert {o["partition"]: o["lag"] for o in group_json(b, g)["offsets"]} == {0: 7, 1: 8}

    c2 = consumer(b, g)
    c2.subscribe([t])
    again = consume(c2, 15)
    firsts = {}
    for m in again:
        firsts.setdefault(m.partition(), m.offset())
    assert firsts == {0: 0, 1: 0}, "the new consumer did not start from the reset offsets"
    c2.close()
    wait_until(lambda: group_json(b, g)["state"] == "Empty", what="group Empty again")

    deleted, _ = cli_json(b, "groups", "delete", g)
    assert deleted == {"groups": [{"group_id": g, "error": None}]}
    listed, _ = cli_json(b, "groups", "list")
    assert g not in [x["group_id"] for x in listed["groups"]]
    gone = cli(b, "groups", "delete", g)
    assert gone.returncode == 1 and f'group "{g}": GROUP_ID_NOT_FOUND (69)' in gone.stderr


def test_reset_of_an_unknown_topic_fails_clearly(broker, new_topic):
    missing = new_topic("nothere")
    r = cli(broker.bootstrap, "groups", "reset-offsets", new_topic("g"), "--topic", missing, "--to-latest")
    assert r.returncode != 0
    assert f'topic "{missing}": UNKNOWN_TOPIC_OR_PARTITION (3)' in r.stderr


# ------------------------------------------------------------------------ SASL_SSL
@pytest.fixture(scope="module")
def secure(tmp_path_factory, gregor_bin):
    d = tmp_path_factory.mktemp("cli-secure")
    pki = make_certs(d / "pki")
    (d / "admin.pw").write_text(ADMIN_PASSWORD + "\n")
    listeners = [{"name": "SASL_SSL", "security": "sasl_ssl",
                  "tls": {"cert": pki.server.cert, "key": pki.server.key},
                  "sasl": {"mechanisms": ["SCRAM-SHA-512", "PLAIN"]}}]
    users = f"users:\n  - name: admin\n    password_file: {json.dumps(str(d / 'admin.pw'))}\n"
    g = Gregor(d, binary=gregor_bin, broker=BROKER, listeners=listeners, extra_yaml=users).start()
    yield g, pki, d / "admin.pw"
    g.cleanup()


def test_sasl_ssl(secure, new_topic):
    g, pki, password_file = secure
    t = new_topic("secure")
    tls = ("--security-protocol", "SASL_SSL", "--ca-file", pki.ca)
    scram = tls + ("--sasl-mechanism", "SCRAM-SHA-512", "--username", "admin",
                   "--password-file", str(password_file))
    r = cli(g.bootstrap, "topics", "create", t, "--partitions", "2", extra=scram)
    assert r.returncode == 0, r.stderr
    conf = {"security.protocol": "SASL_SSL", "ssl.ca.location": pki.ca, "sasl.mechanism": "PLAIN",
            "sasl.username": "admin", "sasl.password": ADMIN_PASSWORD}
    admin = ck_admin(g.bootstrap, **conf)
    md = wait_until(lambda: admin.list_topics(timeout=5).topics.get(t), what="topic over SASL_SSL")
    assert len(md.partitions) == 2

    plain = tls + ("--sasl-mechanism", "PLAIN", "--username", "admin")
    r = cli(g.bootstrap, "cluster", "describe", "--output", "json", extra=plain,
            env={"GREGOR_CLI_PASSWORD": ADMIN_PASSWORD})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["brokers"][0]["port"] == g.port

    wrong = cli(g.bootstrap, "topics", "list", extra=plain, env={"GREGOR_CLI_PASSWORD": "wrong"})
    assert wrong.returncode != 0
    assert wrong.stderr.startswith(f"gregor: SASL authentication with {g.bootstrap} failed: SASL_AUTHENTICATION_FAILED")

    untrusted = cli(g.bootstrap, "topics", "list", extra=scram[:2] + ("--ca-file", pki.untrusted_client.cert)
                    + scram[4:])
    assert untrusted.returncode != 0 and "TLS handshake" in untrusted.stderr

    no_tls = cli(g.bootstrap, "topics", "list", extra=("--timeout-ms", "3000"))
    assert no_tls.returncode != 0 and no_tls.stderr.startswith(f"gregor: {g.bootstrap}")
